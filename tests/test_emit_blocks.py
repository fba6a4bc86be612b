"""Source emission, one class per block: a block whose structure depends on its arguments
is one class with `if` branches (torchvision's InvertedResidual), its channel counts
expressions of its constructor arguments, and it builds what `archspec.compile` builds."""

from __future__ import annotations

import ast
import inspect
import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.api import build_graph
from archspec.backends.emit.optional import phi
from archspec.backends.pysource import render_module
from archspec.backends.pyvalues import Val

from .emit_helpers import _layout, _load, matches_compile

BLOCKS = """archspec: 1
name: mbtest
input: [N, 3, 32, 32]
blocks:
  ConvBN:
    params:
      out: int
      k: {type: int, default: 3}
      stride: {type: int, default: 1}
      groups: {type: int, default: 1}
    layers:
      - {type: conv2d, out_channels: out, kernel_size: k, stride: stride,
         padding: "(k - 1) // 2", groups: groups, bias: false}
      - {type: batchnorm2d}
      - {type: relu, inplace: true}
  InvertedResidual:
    params: {out: int, stride: int, t: int}
    layers:
      - name: conv
        type: sequential
        layers:
          - {type: ConvBN, out: in_channels * t, k: 1, when: t != 1}
          - {type: ConvBN, out: in_channels, stride: stride, groups: in_channels}
          - {type: conv2d, out_channels: out, kernel_size: 1, bias: false}
          - {type: batchnorm2d}
"""

#: The MobileNetV2-like spec of issue 13: t = 1 and t = 6 instances, three input widths.
MOBILE = (
    BLOCKS
    + """layers:
  - {name: stem, type: ConvBN, out: 32, stride: 2}
  - {name: b1, type: InvertedResidual, out: 16, stride: 1, t: 1}
  - {name: b2, type: InvertedResidual, out: 24, stride: 2, t: 6}
  - {name: b3, type: InvertedResidual, out: 24, stride: 1, t: 6}
  - {name: b4, type: InvertedResidual, out: 32, stride: 2, t: 6}
"""
)


def _spec(blocks: list[tuple[int, int, int]]) -> str:
    lines = ["layers:", "  - {name: stem, type: ConvBN, out: 16, stride: 2}"]
    for i, (out, stride, t) in enumerate(blocks):
        lines.append(
            f"  - {{name: b{i}, type: InvertedResidual, out: {out}, stride: {stride}, t: {t}}}"
        )
    return BLOCKS + "\n".join(lines) + "\n"


def _classes(source: str) -> list[str]:
    return re.findall(r"^class (\w+)\(", source, re.M)


def _matches_compile(text: str) -> str:
    return matches_compile(text, (2, 3, 32, 32))


def test_mobile_blocks_are_one_class_each_with_an_if() -> None:
    source = _matches_compile(MOBILE)
    assert _classes(source) == ["ConvBN", "InvertedResidual", "Mbtest"]
    assert (
        "def __init__(\n        self, in_channels: int, out: int, k: int = 3, stride: int = 1, "
        "groups: int = 1\n    ) -> None:" in source
    )
    assert "def __init__(self, in_channels: int, out: int, stride: int, t: int) -> None:" in source
    assert (
        "        if t != 1:\n            layers.append(ConvBN(in_channels, in_channels * t, k=1))"
        in (source)
    )
    assert "self.conv = nn.Sequential(*layers)" in source
    assert "self.b1 = InvertedResidual(32, 16, stride=1, t=1)" in source
    assert "Variant" not in source and "Built for" not in source


def test_the_class_builds_instances_the_spec_never_made() -> None:
    module = _load(render_module(build_graph(MOBILE)), "mobile")
    for c, out, stride, t in [(8, 8, 1, 1), (8, 12, 2, 3), (5, 7, 1, 2)]:
        text = _spec([])
        text = text.replace("out: 16, stride: 2}", f"out: {c}, stride: 1}}")
        text += f"  - {{name: b, type: InvertedResidual, out: {out}, stride: {stride}, t: {t}}}\n"
        ref = archspec.compile(text).b
        ours = module.InvertedResidual(c, out, stride, t)
        assert _layout(ours) == _layout(ref), (c, out, stride, t)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([8, 12, 16]), st.sampled_from([1, 2]), st.sampled_from([1, 2, 6])
        ),
        min_size=2,
        max_size=4,
    )
)
def test_random_block_arguments_give_one_class_that_matches_compile(
    blocks: list[tuple[int, int, int]],
) -> None:
    source = _matches_compile(_spec(blocks))
    assert _classes(source) == ["ConvBN", "InvertedResidual", "Mbtest"]
    assert ("if t != 1:" in source) == any(t != 1 for _, _, t in blocks)
    _CHECKED.append(blocks)


_CHECKED: list[list[tuple[int, int, int]]] = []


def test_random_block_arguments_were_checked() -> None:
    if not _CHECKED:
        test_random_block_arguments_give_one_class_that_matches_compile()
    assert len(_CHECKED) >= 6


@pytest.mark.parametrize(
    ("cond", "a", "b", "text"),
    [
        ("t != 1", "c * t", "c", "c * t"),  # at t == 1, c * t is c
        ("1 != t", "c * t + 0", "c", "c * t + 0"),
        ("t == 1", "c", "c * t", "c * t"),
        ("t != 2", "c * t", "c", "c * t if t != 2 else c"),  # no closed form: both written
        ("t > 1", "c * t", "c", "c * t if t > 1 else c"),
    ],
)
def test_phi_is_one_expression_only_where_the_condition_makes_it_so(
    cond: str, a: str, b: str, text: str
) -> None:
    names = frozenset({"t", "c"})
    got = phi(
        Val(cond, True, frozenset({"t"})), Val(a, 6, names), Val(b, 3, frozenset({"c"})), True
    )
    assert got.text == text and got.value == 6 and got.exact


NAMED = """archspec: 1
name: named
input: [N, 3, 32, 32]
blocks:
  IR:
    params: {out: int, stride: int, t: int}
    layers:
      - {name: expand, type: conv2d, out_channels: in_channels * t, kernel_size: 1,
         when: t != 1}
      - {name: dw, type: conv2d, out_channels: in_channels, kernel_size: 3, padding: 1,
         stride: stride, groups: in_channels}
      - {name: act, type: relu}
      - {name: project, type: conv2d, out_channels: out, kernel_size: 1}
layers:
  - {name: b1, type: IR, out: 16, stride: 1, t: 1}
  - {name: b2, type: IR, out: 24, stride: 2, t: 6}
  - {name: b3, type: IR, out: 24, stride: 1, t: 6}
"""


def test_a_named_child_a_when_switches_is_an_if_and_the_chain_skips_it() -> None:
    """IR is a chain of modules, so it is an nn.Sequential subclass (no forward of its own):
    an expansion switched off is a plain None attribute, which Sequential never calls
    (_matches_compile runs the t == 1 and t == 6 instances)."""
    source = _matches_compile(NAMED)
    assert _classes(source) == ["IR", "Named"]
    assert (
        "        if t != 1:\n            self.expand = nn.Conv2d(in_channels, in_channels * t"
        in (source)
    )
    assert "        else:\n            self.expand = None" in source
    assert "class IR(nn.Sequential):" in source
    assert "def forward" not in source[source.index("class IR") : source.index("class Named")]
    assert "self.project = nn.Conv2d(in_channels * t, out, kernel_size=1)" in source


#: Items a `when` switches off in every instance, under a param that other layers read too:
#: no instance renders the item, so the class cannot write it under an `if`; the param must
#: then be fixed (not an argument), or `Net(version=...)` would build a wrong network.
NEVER_KEPT = """archspec: 1
name: never_kept
input: [N, 3, 32, 32]
params:
  version: {type: str, default: "a", choices: [a, b]}
blocks:
  Stage:
    params: {wide: false}
    layers:
      - name: body
        type: sequential
        layers:
          - {type: conv2d, out_channels: "16 if wide else 8", kernel_size: 3, padding: 1}
          - {type: relu, when: wide}
          - {type: sigmoid, when: not wide}
layers:
  - name: features
    type: sequential
    layers:
      - {type: conv2d, out_channels: "8 if version == 'a' else 4", kernel_size: 3}
      - {type: maxpool2d, kernel_size: 2, when: "version == 'b'"}
      - {type: relu}
  - {name: s1, type: Stage}
  - {name: s2, type: Stage}
"""


def test_an_item_no_instance_keeps_fixes_the_params_of_its_when() -> None:
    source = _matches_compile(NEVER_KEPT)
    assert "def __init__(self) -> None:" in source  # the network: version is fixed
    assert 'Emitted with version="a"' in source
    assert "def __init__(self, in_channels: int) -> None:" in source  # Stage: wide is fixed
    assert "Built for wide=False" in source
    assert "MaxPool2d" not in source
    assert "nn.Conv2d(in_channels, 8, kernel_size=3, padding=1), nn.Sigmoid())" in source


#: DenseNet's shape: each block adds `g` channels to what it reads, and halvings between
#: them nest the channel count deeper.
GROWING = """archspec: 1
name: growing
input: [N, 3, 16, 16]
params: {g: 4, w: 8}
blocks:
  Grow:
    params: {g: int}
    layers:
      - {name: conv, type: conv2d, out_channels: g, kernel_size: 1}
      - {name: cat, type: concat, from: [input, conv]}
layers:
  - {name: stem, type: conv2d, out_channels: w, kernel_size: 1}
  - {name: stage, type: repeat, count: 3, layer: {type: Grow, g: g}}
  - {name: halve, type: conv2d, out_channels: in_channels // 2, kernel_size: 1}
"""


def test_repeated_terms_of_a_channel_count_are_written_with_a_count() -> None:
    source = _matches_compile(GROWING)
    assert "Grow(w + g * 2, g)" in source
    assert "nn.Conv2d(w + g * 3, (w + g * 3) // 2, kernel_size=1)" in source
    assert "def __init__(self, g: int = 4, w: int = 8) -> None:" in source


def test_a_channel_count_too_long_for_a_line_is_its_number_and_fixes_its_params() -> None:
    halving = "  - {type: conv2d, out_channels: in_channels // 2 + w, kernel_size: 1}\n"
    grow = "  - {type: Grow, g: g}\n"
    text = GROWING + (grow + halving) * 4
    source = _matches_compile(text)
    assert "def __init__(self) -> None:" in source  # g and w are fixed
    assert "Emitted with g=4, w=8." in source
    assert max(len(line) for line in source.splitlines()) <= 100


#: ShuffleNetV2's unit in small: at stride 1 the input is split and half of it goes through
#: `b2`; at stride 2 `b1` and `b2` both read the whole input. The `when`s pick nodes that
#: are neither shortcuts nor joins, so each stride is a case of one class.
SHUFFLE = """archspec: 1
name: shuffle
input: [N, 3, 32, 32]
blocks:
  Unit:
    params: {out: int, stride: {type: int, default: 1}}
    layers:
      - {name: b1, type: conv2d, out_channels: out // 2, kernel_size: 3, padding: 1,
         stride: stride, when: stride > 1}
      - {name: b2, type: conv2d, out_channels: out // 2, kernel_size: 3, padding: 1,
         stride: stride, from: input, when: stride > 1}
      - {type: concat, from: [b1, b2], when: stride > 1}
      - {type: chunk, chunks: 2, names: [x1, x2], from: input, when: stride == 1}
      - {name: b2, type: conv2d, out_channels: out // 2, kernel_size: 1, from: x2,
         when: stride == 1}
      - {type: concat, from: [x1, b2], when: stride == 1}
      - {type: channel_shuffle, groups: 2}
      - {name: act, type: relu}
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 1}
  - {name: u1, type: Unit, out: 16, stride: 2}
  - {name: u2, type: Unit, out: 16}
  - {name: u3, type: Unit, out: 32, stride: 2}
  - {name: u4, type: Unit, out: 32}
"""


def test_instances_taking_different_paths_are_one_class_with_an_if() -> None:
    source = _matches_compile(SHUFFLE)
    assert _classes(source) == ["Unit", "Shuffle"]
    unit = source[source.index("class Unit") : source.index("class Shuffle")]
    assert "def __init__(self, in_channels: int, out: int, stride: int = 1) -> None:" in unit
    assert "        self.stride = stride\n        if stride > 1:\n            self.b1 = " in unit
    assert "        else:\n            self.b1 = None\n            self.b2 = nn.Conv2d(" in unit
    assert "        if self.stride > 1:\n            b1 = self.b1(x)" in unit
    # each piece's own size: the first of an odd count of channels has the extra one
    assert (
        "        else:\n"
        "            # (N, (in_channels + 1) // 2, H, W); (N, in_channels // 2, H, W)\n"
        "            x1, x2 = x.chunk(2, dim=1)"
    ) in unit
    # what both cases do after the `if` is written once, after it
    assert unit.count("F.channel_shuffle") == 1 and unit.count("return") == 1
    assert "self.u2 = Unit(16, 16)" in source and "self.u3 = Unit(16, 32, stride=2)" in source


def test_a_class_with_cases_builds_instances_the_spec_never_made() -> None:
    module = _load(render_module(build_graph(SHUFFLE)), "shuffle_new")
    for c, out, stride in [(4, 8, 2), (12, 12, 1), (6, 10, 3)]:
        text = SHUFFLE.replace("input: [N, 3, 32, 32]", f"input: [N, {c}, 16, 16]")
        text = text[: text.index("layers:\n  - {name: stem")]
        text += f"layers:\n  - {{name: u, type: Unit, out: {out}, stride: {stride}}}\n"
        ref = archspec.compile(text).eval()
        ours = module.Unit(c, out, stride).eval()
        assert _layout(ours) == _layout(ref.u), (c, out, stride)
        ours.load_state_dict(ref.u.state_dict(), strict=True)
        x = torch.randn(2, c, 16, 16, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            torch.testing.assert_close(ours(x), ref(x))


#: Three cases of one str param, the first and last statements shared by all of them, two
#: of them building the same modules.
MODES = """archspec: 1
name: modes
input: [N, 3, 32, 32]
blocks:
  Mixer:
    params: {mode: {type: str, choices: [sum, cat, gate]}}
    layers:
      - {name: pre, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: a, type: conv2d, out_channels: 8, kernel_size: 1, when: "mode != 'sum'"}
      - {type: add, from: [pre, pre], when: "mode == 'sum'"}
      - {type: concat, from: [pre, a], when: "mode == 'cat'"}
      - {type: mul, from: [pre, a], when: "mode == 'gate'"}
      - {name: post, type: relu}
layers:
  - {name: m1, type: Mixer, mode: sum}
  - {name: m2, type: Mixer, mode: cat}
  - {name: m3, type: Mixer, mode: gate}
"""


def test_three_cases_are_an_if_elif_else_between_what_they_share() -> None:
    source = _matches_compile(MODES)
    assert _classes(source) == ["Mixer", "Modes"]
    mixer = source[source.index("class Mixer") : source.index("class Modes")]
    assert "self.mode = mode" in mixer
    init = mixer[: mixer.index("def forward")]
    assert init.index("self.pre = ") < init.index("if mode == ")  # shared: before the if
    # two cases that build the same modules are one branch: the `else`
    assert '        if mode == "sum":\n            self.a = None\n        else:\n' in init
    assert "elif" not in init
    forward = mixer[mixer.index("def forward") :]
    assert "if self.mode == " in forward and "elif self.mode == " in forward
    assert forward.count("self.pre(x)") == 1 and forward.count("return") == 1


#: A block fed tokens whose features the emitter cannot name as the block's `in_channels`
#: (channels moved last, then a mean over the tokens): its class holds the width as a
#: number, so the network must not take the width (`dim`) as an argument it cannot honour.
POOLED_TOKENS = """archspec: 1
name: pooled_tokens
input: [N, 3, 8, 8]
params: {dim: 32, hidden: 16}
blocks:
  Head:
    params: {out: int}
    layers:
      - {name: fc, type: linear, out_features: out}
  Tokens:
    params: {hidden: int}
    layers:
      - {name: fc, type: linear, out_features: hidden}
layers:
  - {name: stem, type: conv2d, out_channels: dim, kernel_size: 1}
  - {name: flat, type: flatten, start_dim: 2}
  - {name: tok, type: permute, dims: [0, 2, 1]}
  - {name: mix, type: Tokens, hidden: hidden}
  - {name: pooled, type: mean, dim: [1]}
  - {name: head, type: Head, out: 10}
"""


@pytest.mark.parametrize("variant", ["dim", "channels"])
def test_a_class_that_fixes_a_size_of_its_input_fixes_the_callers_params(variant: str) -> None:
    text = POOLED_TOKENS
    if variant == "channels":  # a width the class cannot write in terms of `in_channels`
        text = text.replace(
            "out_features: hidden}", "out_features: 'make_divisible(in_features * 2, 8)'}"
        )
    graph = build_graph(text)
    module = _load(render_module(graph), graph.name)
    cls = getattr(module, graph.class_name)
    args = inspect.signature(cls.__init__).parameters
    for name, value in (("dim", 48), ("hidden", 24)):
        if name not in args:
            continue
        ours = cls(**{name: value})
        ref = archspec.compile(text, **{name: value})
        assert _layout(ours) == _layout(ref), name
        ours(torch.randn(1, 3, 8, 8))
    _matches_compile(text)


#: RepVGG's block: an identity branch (a batch norm) joins the sum only where the stride is
#: 1 and the width is kept. Where its `when` is false the branch is not in the sum at all,
#: so the class cannot write it as an item that passes its input on where it is left out.
REPVGG = """archspec: 1
name: repvgg_like
input: [N, 8, 4, 4]
blocks:
  Rep:
    params: {out: int, stride: 1}
    layers:
      - name: branches
        type: parallel
        join: add
        branches:
          rbr_identity: {type: batchnorm2d, when: "stride == 1 and in_channels == out"}
          rbr_dense: {type: conv2d, out_channels: out, kernel_size: 3, stride: stride, padding: 1}
          rbr_1x1: {type: conv2d, out_channels: out, kernel_size: 1, stride: stride}
layers:
  - {name: a, type: Rep, out: 8}
  - {name: b, type: Rep, out: 8}
"""


def test_an_optional_branch_of_a_join_is_no_item_that_passes_its_input_on() -> None:
    graph = build_graph(REPVGG)
    module = _load(render_module(graph), graph.name)
    other = REPVGG.replace(
        "{name: b, type: Rep, out: 8}", "{name: b, type: Rep, out: 8, stride: 2}"
    )
    ref = archspec.compile(other).eval()
    for name in re.findall(r"^class (Rep\w*)\(", render_module(graph), re.M):
        cls = getattr(module, name)
        if "stride" not in inspect.signature(cls.__init__).parameters:
            continue  # the class is built for stride 1 only: nothing to build wrongly
        ours = cls(8, 8, stride=2).eval()
        assert _layout(ours) == _layout(ref.b)
        ours.load_state_dict(ref.b.state_dict())
        x = torch.randn(2, 8, 1, 1)  # stride 2 keeps a 1x1 map: adding x would broadcast
        with torch.no_grad():
            torch.testing.assert_close(ours(x), ref.b(x))
    _matches_compile(REPVGG.replace("[N, 8, 4, 4]", "[N, 3, 32, 32]"))


#: Xception's `Block` shape: a leading ReLU under `when: pre`, a projection that reads
#: `in_channels` (so each class holds its instances' input width as a number), and the only
#: instance without the ReLU (`a`, 4 channels in) alone in its class.
KEPT_ELSEWHERE = """archspec: 1
name: kept_elsewhere
input: [N, 4, 8, 8]
blocks:
  B:
    params: {out: int, pre: true}
    let:
      project: out != in_channels
    layers:
      - {name: skip, type: conv2d, out_channels: out, kernel_size: 1, when: project}
      - name: rep
        type: sequential
        from: input
        layers:
          - {type: relu, when: pre}
          - {type: conv2d, out_channels: out, kernel_size: 1}
      - {name: y, type: add, from: [rep, skip], when: project}
      - {name: y, type: add, from: [rep, input], when: not project}
layers:
  - {name: a, type: B, out: 8, pre: false}
  - {name: b, type: B, out: 16}
  - {name: c, type: B, out: 16}
"""


def test_an_item_kept_only_by_instances_of_other_widths_is_not_borrowed() -> None:
    """`a`'s class wrote the ReLU entry as `c` renders it, 16 channels in, so
    `B(pre=True)` built `Conv2d(16, 8)` for a 4-channel input: every argument a class
    takes must build a module that runs where the class is used."""
    graph = build_graph(KEPT_ELSEWHERE)
    source = render_module(graph)
    module = _load(source, graph.name)
    net = getattr(module, graph.class_name)()
    x = torch.randn(1, 4, 8, 8)
    for name in ("a", "b", "c"):
        child = getattr(net, name)
        pos, given = _ctor_args(source, name)
        for args in _flag_choices(type(child)):
            with torch.no_grad():
                y = type(child)(*pos, **{**given, **args})(x)
            assert y.shape[1] == child(x).shape[1], (name, args)
            x_next = child(x)
        x = x_next
    _matches_compile(KEPT_ELSEWHERE.replace("[N, 4, 8, 8]", "[N, 3, 32, 32]"))


def test_an_item_reading_a_let_of_other_values_is_not_borrowed() -> None:
    """The kept item reads a let (`width: out * 2`) that the class writes as a number: `a`
    (out=4) took `b`'s entry (out=8) and `B(pre=True)` built Conv2d(4, 16) and Conv2d(16, 4),
    which run but are not the spec's out=4 block (Conv2d(4, 8), Conv2d(8, 4))."""
    text = KEPT_ELSEWHERE.replace(
        "project: out != in_channels", "project: out != in_channels\n      width: out * 2"
    ).replace(
        "{type: relu, when: pre}", "{type: conv2d, out_channels: width, kernel_size: 1, when: pre}"
    )
    text = text.replace(
        "{name: a, type: B, out: 8, pre: false}", "{name: a, type: B, out: 4, pre: false}"
    )
    graph = build_graph(text)
    source = render_module(graph)
    module = _load(source, graph.name)
    cls = type(getattr(module, graph.class_name)().a)
    pos, given = _ctor_args(source, "a")
    for args in _flag_choices(cls):
        flipped = text.replace("pre: false}", f"pre: {str(args.get('pre', False)).lower()}}}")
        want = _layout(archspec.compile(flipped, device="meta").a)
        assert _layout(cls(*pos, **{**given, **args})) == want, args


def _ctor_args(source: str, name: str) -> tuple[list[object], dict[str, object]]:
    """The literal arguments the network's `__init__` passes to its child `name`."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Attribute)
            and node.targets[0].attr == name
            and isinstance(node.value, ast.Call)
        ):
            call = node.value
            pos = [ast.literal_eval(a) for a in call.args]
            return pos, {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    raise AssertionError(f"no call for {name}")


def _flag_choices(cls: type) -> list[dict[str, bool]]:
    """Every combination of a class's bool arguments."""
    flags = [
        n for n, p in inspect.signature(cls).parameters.items() if p.annotation in (bool, "bool")
    ]
    out: list[dict[str, bool]] = [{}]
    for flag in flags:
        out = [{**o, flag: v} for o in out for v in (True, False)]
    return out
