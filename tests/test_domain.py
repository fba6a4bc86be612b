"""The input-domain solver: exact integer sets, one-symbol solving, products, and the words
every built-in spec gets. Each solver result is compared with brute force over a range."""

from __future__ import annotations

import textwrap
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archspec
from archspec.dims import Dim
from archspec.ops import Constraint
from archspec.ops.conv import conv_extent
from archspec.passes.domain import (
    EMPTY,
    IntSet,
    period_and_step,
    solve_domain,
    solve_one,
)
from tests.cpu import GUARD

from .conftest import spec_names, spec_source

H, W = Dim.of("H"), Dim.of("W")

#: `archspec check` words for every built-in spec, derived (never written in the specs).
DOMAINS = {
    "alexnet": "alexnet accepts (N, 3, H, W) with 227 <= H <= 258 and 227 <= W <= 258, "
    "or 67 <= H <= 98 and 1187 <= W <= 1218, or 99 <= H <= 130 and 611 <= W <= 642, "
    "or 131 <= H <= 162 and 419 <= W <= 450, or 163 <= H <= 194 and 323 <= W <= 354, "
    "or 323 <= H <= 354 and 163 <= W <= 194, or 419 <= H <= 450 and 131 <= W <= 162, "
    "or 611 <= H <= 642 and 99 <= W <= 130, or 1187 <= H <= 1218 and 67 <= W <= 98",
    "alexnet_torchvision": "alexnet_torchvision accepts (N, 3, H, W) with H, W >= 63",
    **{
        f"convnext_{v}": f"convnext_{v} accepts (N, 3, H, W) with H, W >= 32"
        for v in ("tiny", "small", "base", "large")
    },
    **{
        f"densenet{d}": f"densenet{d} accepts (N, 3, H, W) with H, W >= 29"
        for d in (121, 161, 169, 201)
    },
    "googlenet": "googlenet accepts (N, 3, H, W) with H, W >= 15",
    **{
        f"regnet_{v}": f"regnet_{v} accepts (N, 3, H, W) with H, W >= 1"
        for v in ("y_400mf", "y_800mf", "y_1_6gf", "y_3_2gf", "y_8gf", "y_16gf", "y_32gf")
        + ("y_128gf", "x_400mf", "x_800mf", "x_1_6gf", "x_3_2gf", "x_8gf", "x_16gf", "x_32gf")
    },
    # the auxiliary classifier (training only) pools and convolves Mixed_6e's 17x17 map
    "inception_v3": "inception_v3 accepts (N, 3, H, W) with H, W >= 75 "
    "(in training mode, H, W >= 299)",
    "lenet5": "lenet5 accepts (N, 1, H, W) with 32 <= H <= 35 and 32 <= W <= 35, "
    "or 16 <= H <= 19 and 112 <= W <= 115, or 112 <= H <= 115 and 16 <= W <= 19",
    # C5 is a 5x5 conv whose 120 maps must be 1x1 for F6: one box only
    "lenet5_1998": "lenet5_1998 accepts (N, 1, H, W) with 32 <= H <= 35 and 32 <= W <= 35",
    **{
        f"resnet{d}": f"resnet{d} accepts (N, 3, H, W) with H, W >= 1"
        for d in (18, 34, 50, 101, 152)
    },
    **{
        f"{n}": f"{n} accepts (N, 3, H, W) with H, W >= 1"
        for n in ("resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d")
        + ("wide_resnet50_2", "wide_resnet101_2")
    },
    "squeezenet1_0": "squeezenet1_0 accepts (N, 3, H, W) with H, W >= 21",
    "squeezenet1_1": "squeezenet1_1 accepts (N, 3, H, W) with H, W >= 17",
    **{
        f"vgg{d}{bn}": f"vgg{d}{bn} accepts (N, 3, H, W) with H, W >= 32"
        for d in (11, 13, 16, 19)
        for bn in ("", "_bn")
    },
    "vgg_custom": "vgg_custom accepts (N, 3, H, W) with H, W >= 8",
    **{
        f"shufflenet_v2_{w}": f"shufflenet_v2_{w} accepts (N, 3, H, W) with H, W >= 1"
        for w in ("x0_5", "x1_0", "x1_5", "x2_0")
    },
    **{
        name: f"{name} accepts (N, 3, H, W) with H, W >= 1"
        for name in (
            "mobilenet_v2",
            "mobilenet_v3_small",
            "mobilenet_v3_large",
            *(f"mnasnet{a}" for a in ("0_5", "0_75", "1_0", "1_3")),
            *(f"efficientnet_b{b}" for b in range(8)),
            *(f"efficientnet_v2_{s}" for s in "sml"),
        )
    },
}


# ViT asserts its configured image size (a learned position embedding per patch)
DOMAINS.update(
    {
        f"vit_{v}": f"vit_{v} accepts (N, 3, H, W) with H = 224 and W = 224"
        for v in ("b_16", "b_32", "l_16", "l_32", "h_14")
    }
)

# Swin pads to its windows and patch merging to even sizes: only the 4x4 patch conv bounds it
DOMAINS.update(
    {
        f"swin_{v}": f"swin_{v} accepts (N, 3, H, W) with H, W >= 4"
        for v in ("t", "s", "b", "v2_t", "v2_s", "v2_b")
    }
)

#: Domains whose words are a box plus relations the solver states but does not reduce to
#: boxes (`exact` is False): MaxViT's partitions need H and W in 224k-3 .. 224k for one k
#: (7x7 windows and grids on maps of (side + 3) // 4, // 8, // 16, // 32, all square).
RELATED = {
    "maxvit_t": "maxvit_t accepts (N, 3, H, W) with H % 224 in {0, 221, 222, 223} and "
    "W % 224 in {0, 221, 222, 223}, where also (W + 3)//4 == (H + 3)//4 and "
    "(W + 7)//8 == (H + 7)//8 and (W + 15)//16 == (H + 15)//16 and "
    "(W + 31)//32 == (H + 31)//32",
}


@pytest.mark.parametrize("name", sorted(DOMAINS) + sorted(RELATED))
def test_domain_words_of_every_spec(name: str) -> None:
    result = archspec.check(spec_source(name))
    assert result.ok, result.render()
    assert result.domain is not None and result.domain.exact == (name in DOMAINS)
    assert result.domain_text == {**DOMAINS, **RELATED}[name]


def test_every_spec_has_its_domain_listed() -> None:
    assert set(DOMAINS) | set(RELATED) == set(spec_names())


def _walk_ok(graph: archspec.ir.Graph, h: int, w: int) -> bool:
    from archspec.passes.shapes import infer_shapes

    return infer_shapes(graph, (1, graph.input_shape[1].value, h, w)).failure is None


@pytest.mark.parametrize(
    ("name", "hs", "ws"),
    [
        ("lenet5", range(1, 121), range(28, 38)),
        ("lenet5", range(10, 22), range(105, 120)),
        ("alexnet", range(60, 270, 3), range(224, 262, 3)),
        ("vgg16", range(1, 70), range(30, 34)),
        ("googlenet", range(1, 34), range(13, 17)),
    ],
)
def test_domain_is_exactly_where_the_shape_rules_pass(name: str, hs: range, ws: range) -> None:
    graph = archspec.build_graph(spec_source(name))
    domain = archspec.check(graph.file, variant=graph.variant).domain
    assert domain is not None
    for h in hs:
        for w in ws:
            assert domain.contains({"N": 1, "H": h, "W": w}) == _walk_ok(graph, h, w), (h, w)


# --------------------------------------------------------------------------------------
# IntSet


def test_intset_canonical_forms_and_words() -> None:
    assert IntSet.at_least(32).describe("H") == "H >= 32"
    assert IntSet.interval(32, 35).describe("H") == "32 <= H <= 35"
    assert IntSet.interval(7, 7).describe("H") == "H = 7"
    odd = IntSet.from_classes(2, {1: 3}, [])
    assert odd.describe("H") == "odd H >= 3"
    assert IntSet.from_classes(2, {0: 2}, []).describe("H") == "even H"
    mod3 = IntSet.from_classes(3, {1: 1, 2: 5}, [])
    assert mod3.describe("L") == "L = 1 or L >= 4 with L % 3 in {1, 2}"
    # the same set built two ways is the same object
    assert IntSet.interval(1, 9) | IntSet.at_least(10) == IntSet.at_least(1)
    assert IntSet.at_least(5) & IntSet.interval(1, 4) == EMPTY
    assert (IntSet.at_least(3) & odd).min() == 3
    assert list(mod3.members(5)) == [1, 4, 5, 7, 8]


def _progressions() -> st.SearchStrategy[IntSet]:
    period = st.integers(1, 6)
    return st.one_of(
        st.builds(IntSet.at_least, st.integers(-2, 30)),
        st.builds(IntSet.interval, st.integers(-2, 30), st.integers(0, 40)),
        period.flatmap(
            lambda p: st.builds(
                lambda tails, pts: IntSet.from_classes(p, {x % p: x for x in tails}, pts),
                st.lists(st.integers(1, 25), max_size=3),
                st.lists(st.integers(1, 40), max_size=5),
            )
        ),
    )


@given(_progressions(), _progressions())
def test_intset_algebra_matches_brute_force(a: IntSet, b: IntSet) -> None:
    both, either = a & b, a | b
    for x in range(-1, 120):
        assert (x in both) == (x in a and x in b)
        assert (x in either) == (x in a or x in b)
    assert list(both.members(40)) == [x for x in range(1, 400) if x in a and x in b][:40]


def test_intset_algebra_with_astronomical_bounds_is_exact_and_instant() -> None:
    """Found by the fuzzer: sizes up to 10^10 must not be enumerated one block at a time."""
    odd = IntSet.from_classes(2, {1: 1}, [])
    start = time.process_time()
    for k in (10**7, 10**10, 10**15):
        both = odd & IntSet.at_least(k)
        assert both == IntSet.at_least(k) & odd
        assert both.describe("H") == f"odd H >= {k + 1}"
        assert IntSet.at_least(1) & IntSet.interval(k, 2 * k) == IntSet.interval(k, 2 * k)
    assert time.process_time() - start < GUARD


def test_check_with_a_giant_stride_is_fast() -> None:
    """A pool of stride 10^9 before a linear: the accepted sizes run to 1.6 * 10^10."""
    spec = textwrap.dedent(
        """\
        archspec: 1
        name: far
        input: [N, 3, 227, 227]
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 11, stride: 4}
          - {type: maxpool2d, kernel_size: 3, stride: 2}
          - {type: conv2d, out_channels: 8, kernel_size: 5, padding: 2}
          - {type: maxpool2d, kernel_size: 3, stride: 2}
          - {type: maxpool2d, kernel_size: 3, stride: 1000000000}
          - {type: flatten}
          - {type: linear, out_features: 10}
        """
    )
    start = time.process_time()
    result = archspec.check(spec)
    assert time.process_time() - start < GUARD
    assert result.domain_text == (
        "far accepts (N, 3, H, W) with 67 <= H <= 16000000066 and 67 <= W <= 16000000066"
    )


# --------------------------------------------------------------------------------------
# One-symbol constraints


def _stack() -> st.SearchStrategy[Dim]:
    """The extent of a random chain of convs and pools, as archspec computes it."""
    step = st.tuples(
        st.integers(1, 5),  # kernel
        st.integers(1, 3),  # stride
        st.integers(0, 2),  # padding
        st.integers(1, 2),  # dilation
        st.booleans(),  # ceil_mode
    )

    def build(steps: list[tuple[int, int, int, int, bool]]) -> Dim:
        x = Dim.of("H")
        for k, s, p, d, ceil in steps:
            x = conv_extent(x, k, s, p, d, ceil)
        return x

    return st.lists(step, min_size=1, max_size=4).map(build)


@given(_stack(), st.integers(-3, 12))
def test_solve_one_matches_brute_force(e: Dim, v: int) -> None:
    ge, eq = solve_one(e, v, "ge"), solve_one(e, v, "eq")
    for x in range(1, 150):
        value = e.evaluate({"H": x})
        assert (x in ge) == (value >= v), (str(e), v, x)
        assert (x in eq) == (value == v), (str(e), v, x)


@given(_stack(), _stack(), st.integers(-2, 2))
def test_residue_analysis_of_differences(a: Dim, b: Dim, v: int) -> None:
    """e1(H) - e2(H) is not monotone: it is solved per residue class, still exactly."""
    e = a - b
    if not e.symbols:
        return
    period, step = period_and_step(e, "H")
    for x in range(1, 60):
        assert e.evaluate({"H": x + period}) == e.evaluate({"H": x}) + step
    got = solve_one(e, v, "eq")
    for x in range(1, 200):
        assert (x in got) == (e.evaluate({"H": x}) == v), (str(e), v, x)


def test_nested_floors_are_affine_per_residue() -> None:
    e = (H - 12).floordiv(4) * 2 - H.floordiv(3)
    assert period_and_step(e, "H") == (12, 2)


# --------------------------------------------------------------------------------------
# Products and whole domains


def _c(kind: str, lhs: Dim, rhs: Dim | int | None = None) -> Constraint:
    return Constraint(kind, lhs, None if rhs is None else Dim.of(rhs), "E404", "m", None, "n")  # type: ignore[arg-type]


def test_flatten_product_is_split_over_every_factorisation() -> None:
    from archspec.dims import product

    h, w = (H - 12).floordiv(4), (W - 12).floordiv(4)
    flat = product([Dim.of(16), h, w])
    dom = solve_domain([_c("ge1", h), _c("ge1", w), _c("eq", flat, 400)], ["H", "W"], ["H", "W"])
    assert dom.exact
    assert dom.box_texts() == [
        "16 <= H <= 19 and 112 <= W <= 115",
        "32 <= H <= 35 and 32 <= W <= 35",
        "112 <= H <= 115 and 16 <= W <= 19",
    ]
    for x in range(1, 130):
        for y in (16, 20, 33, 113):
            ok = (
                h.evaluate({"H": x}) >= 1
                and 16 * h.evaluate({"H": x}) * w.evaluate({"W": y}) == 400
            )
            assert dom.contains({"H": x, "W": y}) == (ok and w.evaluate({"W": y}) >= 1)
    # 401 is not a multiple of the 16 channels: nothing fits
    assert solve_domain([_c("eq", flat, 401)], ["H", "W"]).is_empty


def test_a_product_plus_a_number_is_solved_as_the_product() -> None:
    """A ViT without its size check: its patches and class token, `(H//8)*(W//8) + 1`, must
    be the position embedding's 17. Before, the sum was left unsolved ("where also ...")."""
    tokens = H.floordiv(8) * W.floordiv(8) + 1
    dom = solve_domain([_c("ge1", H.floordiv(8)), _c("ge1", W.floordiv(8)), _c("eq", tokens, 17)],
                       ["H", "W"], ["H", "W"])  # fmt: skip
    assert dom.exact, dom.describe()
    assert "32 <= H <= 39 and 32 <= W <= 39" in dom.box_texts()
    for x in range(1, 140, 3):
        for y in (8, 16, 33, 64, 131):
            ok = x >= 8 and y >= 8 and (x // 8) * (y // 8) + 1 == 17
            assert dom.contains({"H": x, "W": y}) == ok, (x, y)
    reversed_sides = solve_domain([_c("eq", Dim.of(17), tokens)], ["H", "W"])
    assert reversed_sides.exact and not reversed_sides.is_empty


def test_unsolvable_shapes_are_kept_and_still_decide_membership() -> None:
    dom = solve_domain([_c("ge1", H - 3), _c("eq", H.floordiv(2), W.floordiv(3))], ["H", "W"])
    assert not dom.exact
    assert "where also H//2 == W//3" in dom.describe()
    assert dom.contains({"H": 6, "W": 9}) and not dom.contains({"H": 6, "W": 12})
    assert not dom.contains({"H": 2, "W": 3})


def test_a_number_on_both_sides_of_a_stated_requirement_is_cancelled() -> None:
    """A grid partition of a map padded by 2 rows and 4 columns needs W + 2 == H + 4: said
    `W == H + 2` (it said `W + 2 == H + 4`); a product keeps its factored words."""
    padded = solve_domain([_c("eq", W + 2, H + 4)], ["H", "W"], ["H", "W"])
    assert padded.describe().endswith("where also W == H + 2"), padded.describe()
    assert padded.contains({"H": 3, "W": 5}) and not padded.contains({"H": 5, "W": 5})
    same = solve_domain([_c("eq", W + 6, H + 6)], ["H", "W"], ["H", "W"])
    assert same.describe().endswith("where also W == H"), same.describe()
    n = Dim.of("N")  # group_norm's more than one value per group: N*H*W - 1 >= 1
    per_group = solve_domain([_c("ge1", n * H * W - 1)], ["N", "H", "W"], ["H", "W"])
    assert per_group.describe().endswith("where also H*N*W >= 2"), per_group.describe()
    assert not per_group.contains({"N": 1, "H": 1, "W": 1})


def spec(body: str, header: str) -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


def test_symbolic_input_keeps_its_names_and_solves_joins() -> None:
    text = spec(
        """
        layers:
          - type: parallel
            join: concat
            branches:
              a: [{type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}]
              b: [{type: maxpool2d, kernel_size: 2}]
          - {type: adaptive_avgpool2d, output_size: 1}
        """,
        "input: [B, 3, Rows, Cols]",
    )
    result = archspec.check(text)
    assert result.ok, result.render()
    assert result.domain_text == "t accepts (B, 3, Rows, Cols) with odd Rows >= 3 and odd Cols >= 3"


def test_no_input_size_at_all_is_an_error_at_the_layer_that_rules_it_out() -> None:
    text = spec(
        """
        layers:
          - {type: conv2d, out_channels: 16, kernel_size: 5}
          - {type: flatten}
          - {name: fc, type: linear, in_features: 40, out_features: 10}
        """,
        "input: [N, 1, H, W]",
    )
    result = archspec.check(text)
    assert not result.ok
    (err,) = result.errors
    assert err.code == "E410" and err.span is not None
    assert (err.span.line, err.span.col) == (8, 5)
    assert err.message.startswith("no input size works for t: fc: linear expects 40")
    assert result.domain is not None and result.domain.is_empty


PATCHES = """\
archspec: 1
name: patches
input: [N, 16, H, W]
layers:
  - {name: p, type: maxpool2d, kernel_size: 8, stride: 8, ceil_mode: true}
  - {name: r, type: reshape, shape: [-1, 16, 4, 4]}
  - {name: s, type: concat, from: [p, r]}
"""


def test_a_requirement_true_at_every_size_of_a_small_box_is_not_listed() -> None:
    """MobileViT's patch reshapes: once 25 <= H, W <= 32, `(16*N*h*w)//256 == N` holds for
    every batch, so the domain is the box alone (it listed both requirements after
    `where also`), and it is what torch runs, at the edges and for other batches."""
    import torch

    result = archspec.check(PATCHES)
    assert result.ok, result.render()
    assert result.domain is not None and result.domain.exact
    assert result.domain_text.endswith("with 25 <= H <= 32 and 25 <= W <= 32"), result.domain_text
    model = archspec.compile(PATCHES).eval()
    for n in (1, 3):
        for h, w in ((25, 25), (32, 25), (24, 30), (30, 33)):
            accepted = result.domain.contains({"N": n, "H": h, "W": w})
            try:
                with torch.no_grad():
                    model(torch.zeros(n, 16, h, w))
                ran = True
            except RuntimeError:
                ran = False
            assert accepted == ran == (25 <= h <= 32 and 25 <= w <= 32), (n, h, w)


GROUP_NORM_AFTER_CONV = """\
archspec: 1
name: gn
input: [N, 3, H, W]
layers:
  - {name: conv, type: conv2d, out_channels: CH, kernel_size: 3, stride: 2}
  - {name: gn, type: group_norm, num_groups: 2}
"""


@pytest.mark.parametrize(("channels", "words"), [
    (4, "gn accepts (N, 3, H, W) with H, W >= 3"),
    (2, "gn accepts (N, 3, H, W) with H, W >= 3, where also "),
])  # fmt: skip
def test_a_growing_requirement_with_negative_terms_is_left_out_where_it_always_holds(
    channels: int, words: str
) -> None:
    """group_norm after an unpadded conv needs `2*N*h*w >= 2` with h = (H + 1)//2 - 1: expanded,
    the product has negative terms, and the words listed it (`where also 2*N*((H + 1)//2)*...
    - 1 >= 1`) although every H, W >= 3 meets it. With one channel per group (N*h*w >= 2) it
    does not always hold (N = 1 at H = W = 3), so it is still stated, and decides membership."""
    import torch

    text = GROUP_NORM_AFTER_CONV.replace("CH", str(channels))
    result = archspec.check(text)
    assert result.ok and result.domain is not None, result.render()
    assert result.domain_text.startswith(words), result.domain_text
    assert result.domain.exact == (channels == 4)
    model = archspec.compile(text).eval()
    for n, h, w in ((1, 3, 3), (2, 3, 3), (1, 3, 5), (1, 2, 9), (1, 4, 4)):
        try:
            with torch.no_grad():
                model(torch.zeros(n, 3, h, w))
            ran = True
        except (RuntimeError, ValueError):
            ran = False
        assert result.domain.contains({"N": n, "H": h, "W": w}) == ran, (n, h, w)


def test_growth_from_a_point_is_tested_through_each_atoms_coefficient() -> None:
    from archspec.passes.multiples import _grows_from

    h, w = H.floordiv(2) - 1, W.floordiv(2) - 1
    assert _grows_from(h * w - 1, {"H": 2, "W": 2}, {})  # (H//2 - 1)*(W//2 - 1): factors >= 0
    assert not _grows_from(h * w - 1, {"H": 1, "W": 4}, {})  # a negative factor: it falls
    assert not _grows_from(H * H - H * 3, {"H": 1}, {})  # a square: beyond the test
    assert not _grows_from(Dim.of(5) - H, {"H": 1}, {})


PIXELS_AS_A_SEQUENCE = """\
archspec: 1
name: pixels
input: [N, 4, 28, 21]
layers:
  - {name: rows, type: flatten, start_dim: 2}
  - {name: mix, type: conv1d, out_channels: 16, kernel_size: 1}
  - {name: flat, type: flatten}
  - {name: fc, type: linear, out_features: 5}
"""


def test_a_product_whose_factor_is_a_product_of_two_symbols_is_solved() -> None:
    """The map flattened to (N, 4, H*W), then again for a linear layer: 16 * (H*W) == 9408.
    The remembered factors are 16 and H*W, and H*W is split into H and W, so the words are
    the 18 factorisations of 588 (they were `where also 16*(H*W) == 9408`), which torch runs."""
    import torch

    result = archspec.check(PIXELS_AS_A_SEQUENCE)
    assert result.ok and result.domain is not None, result.render()
    assert result.domain.exact, result.domain_text
    assert len(result.domain.boxes) == 18
    assert "or H = 1 and W = 588" in result.domain_text
    model = archspec.compile(PIXELS_AS_A_SEQUENCE).eval()
    for h, w in ((28, 21), (21, 28), (588, 1), (27, 21), (28, 22)):
        try:
            with torch.no_grad():
                model(torch.zeros(2, 4, h, w))
            ran = True
        except RuntimeError:
            ran = False
        assert result.domain.contains({"N": 2, "H": h, "W": w}) == ran == (h * w == 588), (h, w)


NEVER = """\
archspec: 1
name: never
input: [N, 1, H, W]
layers:
  - {name: pad, type: zero_pad2d, padding: [3, 3, 2, 2]}
  - {name: seq, type: flatten, start_dim: 2}
  - {name: down, type: upsample, mode: linear, scale_factor: 0.25}
  - {name: joined, type: add, from: [down, seq]}
"""


def test_a_stated_requirement_no_input_meets_leaves_no_input() -> None:
    """L // 4 == L for the flattened padded map, L = (H + 4)*(W + 6): no H, W meets it, yet
    the solver kept it as stated and check said ok (`where also (H*W + 2*H)//4 + W + H + 6
    == (H + 4)*(W + 6)`). L - L // 4 >= 1 from H = W = 1 on (the floor taken at L / 4), so
    no input is left: E410 at the join. Relations that do hold somewhere stay stated."""
    result = archspec.check(NEVER)
    assert not result.ok
    (err,) = result.errors
    assert err.code == "E410" and err.span is not None and err.span.line == 8, err
    assert result.domain is not None and result.domain.is_empty
    from archspec.passes.intset import EVERYTHING
    from archspec.passes.multiples import never_holds

    box = {"H": EVERYTHING, "W": EVERYTHING}
    assert not never_holds(_c("eq", H.floordiv(2), W.floordiv(3)), [box])
    assert not never_holds(_c("eq", (H * W).floordiv(4) + 1, H * W), [box])  # H*W = 1
    assert never_holds(_c("eq", (H * W).floordiv(4) + 1, H * W + 1), [box])
    assert never_holds(_c("ge1", Dim.of(0) - H * W), [box])


TOKENS = """\
archspec: 1
name: tokens
input: [N, L, 32]
layers:
  - {name: ln, type: layer_norm}
  - {name: attn, type: multihead_attention, num_heads: 4}
  - {name: fc, type: linear, out_features: 8}
"""


@pytest.mark.parametrize(
    ("declared", "domain"),
    [
        ("[N, L, 32]", "tokens accepts (N, L, 32) with L >= 1"),
        ("[N, H, W, 32]", "tokens accepts (N, H, W, 32) with H, W >= 1"),
    ],
)
def test_a_channels_last_input_varies_the_sizes_it_names(declared: str, domain: str) -> None:
    """Tokens (N, L, D) and NHWC maps keep their features, the last dim, as written: the
    sizes are the dims the spec names as symbols (with a number last). Generalising the
    features instead left a multihead_attention with no known D (W403, no domain)."""
    text = TOKENS.replace("[N, L, 32]", declared)
    if declared.startswith("[N, H"):
        text = text.replace("{name: attn, type: multihead_attention, num_heads: 4}", "{type: gelu}")
    result = archspec.check(text)
    assert result.ok and not result.warnings, result
    assert result.domain_text == domain


@pytest.mark.parametrize(
    ("layer", "words", "accepted"),
    [
        ("{type: pixel_shuffle, upscale_factor: 2}", "C % 4 == 0", lambda c: c % 4 == 0),
        ("{type: channel_shuffle, groups: 2}", "even C", lambda c: c % 2 == 0),
    ],
)
def test_a_channel_count_named_by_a_symbol_is_part_of_the_domain(layer, words, accepted) -> None:
    """`input: [N, C, H, W]` under layers that keep any width: their requirements on C are
    solved and stated like those on H and W. The domain said `H, W >= 1` alone while
    `--input 1,3,4,4` was E409."""
    text = f"archspec: 1\nname: t\ninput: [N, C, H, W]\nlayers:\n  - {layer}\n"
    report = archspec.check(text)
    assert report.ok and words in report.domain_text, report.domain_text
    for c in range(1, 13):
        at = archspec.check(text, input=(1, c, 4, 4)).ok
        assert at == accepted(c) == report.domain.contains({"N": 1, "C": c, "H": 4, "W": 4})
