"""Symbolic shapes: the generalised input, per-node expressions, located constraints, the
first layer that breaks for a concrete input, warnings, and agreement with PyTorch.

The PyTorch side runs on the meta device (shape logic without compute), which raises for a
too-small input exactly as real tensors do, so every spec is cheap to run at many sizes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st

import archspec
from archspec.dims import Dim, format_shape, shape_of
from archspec.passes.inputdomain import generalise_input
from archspec.passes.shapes import CheckResult, check_graph, infer_shapes

from .conftest import ROOT, SPECS, spec_names, spec_source, zoo_params


def spec(body: str, header: str = "input: [N, 3, 32, 32]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body).lstrip("\n")


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing `needle` (specs may gain lines over time)."""
    for i, text in enumerate(path.read_text().splitlines(), 1):
        if needle in text:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


# --------------------------------------------------------------------------------------
# The symbolic input


@pytest.mark.parametrize(
    ("declared", "expected", "spatial"),
    [
        ([Dim.of("N"), 3, 224, 224], "(N, 3, H, W)", ("H", "W")),
        ([1, 3, 224, 224], "(N, 3, H, W)", ("H", "W")),
        (["N", 2, 100], "(N, 2, L)", ("L",)),
        (["N", 1, 8, 32, 32], "(N, 1, D, H, W)", ("D", "H", "W")),
        (["B", 3, "Rows", 224], "(B, 3, Rows, W)", ("Rows", "W")),
        (["N", 3, "W", 64], "(N, 3, W, W2)", ("W", "W2")),
        (["N", 784], "(N, 784)", ()),
    ],
)
def test_generalise_input(declared: list[Any], expected: str, spatial: tuple[str, ...]) -> None:
    sym = generalise_input(shape_of(declared))
    assert format_shape(sym.shape) == expected
    assert sym.spatial == spatial


def test_resnet50_shapes_are_exact_expressions() -> None:
    result = archspec.check("resnet50")
    table = infer_shapes(archspec.build_graph("resnet50"), result.symbolic_input or ())
    assert format_shape(table.shape_of("conv1")) == "(N, 64, (H + 1)//2, (W + 1)//2)"
    assert format_shape(table.shape_of("maxpool")) == "(N, 64, (H + 3)//4, (W + 3)//4)"
    assert format_shape(table.shape_of("layer4")) == "(N, 2048, (H + 31)//32, (W + 31)//32)"
    # the residual join needs no constraint: both sides are the same expression
    assert table.shape_of("layer2.0.downsample") == table.shape_of("layer2.0.bn3")
    assert format_shape(table.shape_of("layer2.0.conv3")) == "(N, 512, (H + 7)//8, (W + 7)//8)"
    assert not any(lc.constraint.kind == "eq" for lc in table.constraints)
    assert [format_shape(s) for s in result.symbolic_outputs] == ["(N, 1000)"]


def test_lenet5_flatten_stays_factored_and_constraints_know_their_layer() -> None:
    path = SPECS / "lenet5.yaml"
    result = archspec.check(path)
    assert result.to_dict()["shapes"]["flatten"] == "(N, 400)"
    graph = archspec.build_graph(path)
    table = infer_shapes(graph, result.symbolic_input or ())
    from archspec.dims import format_shape as shape_text

    assert shape_text(table.shape_of("flatten")) == "(N, 16*(H//4 - 3)*(W//4 - 3))"
    located = {lc.path: lc for lc in table.constraints}
    c5 = located["classifier.c5"]
    assert c5.constraint.code == "E404" and c5.span is not None
    assert (c5.span.line, c5.span.col) == (line_of(path, "name: c5"), 9)
    assert c5.describe().startswith("linear expects 400 input features, the input gives 16*(")
    assert [lc.path for lc in table.constraints][:2] == ["features.c1", "features.c1"]


# --------------------------------------------------------------------------------------
# Concrete inputs


def test_first_layer_that_breaks_is_named_at_its_line_with_the_domain() -> None:
    path = SPECS / "alexnet.yaml"
    result = archspec.check(path, input=(1, 3, 260, 260))
    assert not result.ok
    (err,) = result.errors
    assert err.code == "E404" and err.span is not None
    assert (err.span.line, err.span.col) == (line_of(path, "name: fc6"), 9)
    assert err.message.startswith("classifier.fc6: linear expects 9216 input features")
    assert "the input gives 12544" in err.message
    assert err.hint is not None
    assert err.hint.startswith("alexnet accepts (N, 3, H, W) with 227 <= H <= 258")
    assert err.hint.endswith("put an adaptive pool before the flatten")
    # the shapes up to the break are reported
    assert format_shape(result.shapes["features.pool5"]) == "(1, 256, 7, 7)"
    assert "classifier.fc6" not in result.shapes and result.outputs == ()


def test_too_small_input_breaks_at_the_first_pool_that_empties() -> None:
    path = "vgg16"
    result = archspec.check(path, input=(1, 3, 31, 64))
    (err,) = result.errors
    assert err.code == "E405"
    assert err.message.startswith("features.30: maxpool2d makes the H extent 0")
    assert "vgg16 accepts (N, 3, H, W) with H, W >= 32" in (err.hint or "")
    assert archspec.check(path, input=(1, 3, 32, 64)).ok


def test_input_rank_and_channels_are_checked_against_the_declaration() -> None:
    path = SPECS / "lenet5.yaml"
    bad_rank = archspec.check(path, input=(1, 32, 32))
    bad_channels = archspec.check(path, input=(1, 3, 32, 32))
    for result in (bad_rank, bad_channels):
        (err,) = result.errors
        assert err.code == "E407" and err.span is not None
        assert (err.span.line, err.span.col) == (line_of(path, "input:"), 8)
    assert "has rank 3" in bad_rank.errors[0].message
    assert "has 3 channels" in bad_channels.errors[0].message


def test_concrete_input_gives_concrete_shapes() -> None:
    result = archspec.check(SPECS / "lenet5.yaml", input=(4, 1, 34, 33))
    assert result.ok
    assert format_shape(result.shapes["features.c3"]) == "(4, 16, 11, 10)"
    assert [format_shape(s) for s in result.outputs] == ["(4, 10)"]


def test_window_larger_than_input_warns_and_unused_output_still_warns() -> None:
    text = spec(
        """
        layers:
          - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}
          - {name: pool, type: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
          - {name: side, type: relu, from: conv}
          - {name: out, type: conv2d, out_channels: 2, kernel_size: 1, from: pool}
        """,
        "input: [N, 3, 5, 5]",
    )
    result = archspec.check(text)
    assert result.ok
    codes = {(d.code, d.span.line if d.span else 0) for d in result.warnings}
    assert codes == {("W402", 6), ("W401", 7)}
    w402 = next(d for d in result.warnings if d.code == "W402")
    assert w402.message == (
        "pool: its 3x3 window is larger than its 2x2 input; it reduces it to 1x1 only "
        "thanks to ceil_mode"
    )


def test_a_rule_that_needs_numbers_leaves_the_declared_input_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """W403: a layer whose rule cannot work on symbols (a plugin, say) stops generalisation,
    not the check: the declared input is still checked, and summary still works."""
    from archspec.ops import REGISTRY, ShapeFailure

    op = type(REGISTRY["local_response_norm"])
    original = op.infer

    def numbers_only(self: Any, attrs: Any, inputs: Any, ctx: Any) -> Any:
        if not all(d.is_const for d in inputs[0][1:]):
            raise ShapeFailure("E406", "local_response_norm needs a concrete size here")
        return original(self, attrs, inputs, ctx)

    monkeypatch.setattr(op, "infer", numbers_only)
    result = archspec.check("alexnet")
    assert result.ok and result.domain is None
    (warning,) = result.warnings
    assert warning.code == "W403"
    assert warning.message == (
        "archspec cannot check other input sizes: features.norm1: "
        "local_response_norm needs a concrete size here"
    )
    assert result.domain_text == "alexnet: the accepted inputs are unknown"
    assert archspec.check("alexnet", input=(1, 3, 227, 240)).ok
    assert not archspec.summary("alexnet").macs.is_const  # symbolic in N only
    assert archspec.summary("alexnet").input_shape == shape_of(["N", 3, 227, 227])


def test_check_never_raises_on_bad_specs() -> None:
    missing = archspec.check("no_such_spec_anywhere")
    assert not missing.ok and missing.errors[0].code == "E100"
    broken = archspec.check(ROOT / "tests" / "broken" / "unknown_type.yaml")
    assert [d.code for d in broken.errors] == ["E205"] and broken.domain is None


def test_check_runs_with_torch_unimportable(tmp_path: Path) -> None:
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('torch is shadowed in this test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    code = textwrap.dedent(
        """
        import sys, archspec
        r = archspec.check("resnet50", input=(1, 3, 224, 224))
        assert r.ok, r.render()
        print(r.domain_text)
        s = archspec.summary("resnet50", input=(1, 3, 224, 224))
        print(s.macs)
        assert "torch" not in sys.modules or sys.modules["torch"] is None
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == [
        "resnet50 accepts (N, 3, H, W) with H, W >= 1",
        "4089184256",
    ]
    cli = subprocess.run(
        [sys.executable, "-m", "archspec", "check", "specs/lenet5.yaml", "vgg16"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    assert "vgg16 accepts (N, 3, H, W) with H, W >= 32" in cli.stdout


# --------------------------------------------------------------------------------------
# Agreement with PyTorch


def torch_shapes(model: torch.nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Output shape of every submodule for one forward pass (raises what torch raises)."""
    seen: dict[str, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_hook(lambda _m, _i, out, p=path: seen.__setitem__(p, tuple(out.shape)))
        for path, m in model.named_modules()
        if path
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _inside_and_outside(result: CheckResult) -> tuple[list, list]:
    """A few sizes inside the domain, and a few just outside its boxes."""
    domain = result.domain
    assert domain is not None
    inside = [(e["H"], e["W"]) for e in domain.examples(per_box=2)][:2]
    outside: list[tuple[int, int]] = []
    for box in domain.boxes[:2]:
        h0, w0 = box["H"].min(), box["W"].min()
        assert h0 is not None and w0 is not None
        for cand in ((h0 - 1, w0), (h0, w0 - 1), (h0 + 200, w0)):
            if min(cand) >= 1 and not domain.contains({"N": 2, "H": cand[0], "W": cand[1]}):
                outside.append(cand)
    return inside, outside[:2]


@pytest.mark.parametrize("name", zoo_params(spec_names(), share=(0, 2)))
def test_symbolic_shapes_agree_with_pytorch(name: str) -> None:
    path = spec_source(name)
    graph = archspec.build_graph(path)
    declared = check_graph(graph)
    inside, outside = _inside_and_outside(declared)
    channels = graph.input_shape[1].value
    declared_hw = (graph.input_shape[2].value, graph.input_shape[3].value)
    symbolic = infer_shapes(graph, declared.symbolic_input or ())
    model, device = _model(path)
    train_heads = any(row.node.train_only for row in symbolic.rows)
    for h, w in [declared_hw, *inside]:
        result = check_graph(graph, (2, channels, h, w))
        assert result.ok, result.render()
        env = {"N": 2, "H": h, "W": w}
        # train-only heads (GoogLeNet's aux) run and are checked too where training mode
        # takes the input (Inception v3's aux needs more than eval mode does)
        train = declared.train_domain
        model.train(train_heads and (train is None or train.contains(env)))
        got = torch_shapes(model, torch.empty(2, channels, h, w, device=device))
        assert len(got) > 10, name
        for row in symbolic.rows:
            if row.path not in got:
                continue  # a function (add, concat): no module to hook
            concrete = tuple(d.value for d in result.shapes[row.path])
            substituted = tuple(d.evaluate(env) for d in row.shape)
            assert concrete == substituted == got[row.path], (name, (h, w), row.path)
    for h, w in outside:
        assert not check_graph(graph, (2, channels, h, w)).ok, (name, h, w)
        # torch refuses (RuntimeError), or the model's own size check does (ViT's
        # torch._assert, an AssertionError as torchvision's)
        with pytest.raises((RuntimeError, AssertionError)):
            torch_shapes(model, torch.empty(2, channels, h, w, device=device))


def _model(path: Path) -> tuple[torch.nn.Module, str]:
    """The compiled spec on the meta device, or on the CPU when a plugin layer has no meta
    kernel (then the inputs it is run on are small anyway)."""
    graph = archspec.build_graph(path)
    probe = torch.empty(1, *(d.value for d in graph.input_shape[1:]), device="meta")
    try:
        model = archspec.compile(path, device="meta").eval()
        with torch.no_grad():
            model(probe)
    except NotImplementedError:
        return archspec.compile(path).eval(), "cpu"
    return model, "meta"


# --------------------------------------------------------------------------------------
# Property: random conv/pool stacks


def _layers(nd: int) -> st.SearchStrategy[dict[str, Any]]:
    def kernel(k: int, k2: int) -> int | list[int]:
        return k if nd == 1 or k == k2 else [k, k2]

    conv = st.builds(
        lambda k, k2, s, p, d: {
            "type": f"conv{nd}d",
            "out_channels": 2,
            "kernel_size": kernel(k, k2),
            "stride": s,
            "padding": p,
            "dilation": d,
        },
        st.integers(1, 5),
        st.integers(1, 5),
        st.integers(1, 3),
        st.integers(0, 2),
        st.integers(1, 2),
    )

    @st.composite
    def pool(draw: st.DrawFn) -> dict[str, Any]:
        avg = draw(st.booleans())
        k = draw(st.integers(1, 4))
        d = 1 if avg else draw(st.integers(1, 2))
        layer: dict[str, Any] = {
            "type": f"{'avg' if avg else 'max'}pool{nd}d",
            "kernel_size": k,
            "stride": draw(st.integers(1, 3)),
            "padding": draw(st.integers(0, k // 2)),  # what PyTorch allows, dilated or not
            "ceil_mode": draw(st.booleans()),
        }
        if not avg:
            layer["dilation"] = d
        return layer

    return st.one_of(conv, pool())


@st.composite
def networks(draw: st.DrawFn, nd: int) -> list[dict[str, Any]]:
    layers = draw(st.lists(_layers(nd), min_size=1, max_size=4))
    if draw(st.booleans()):  # two branches joined by concat: equal extents required
        layers.append(
            {
                "type": "parallel",
                "join": "concat",
                "branches": {
                    "a": draw(st.lists(_layers(nd), min_size=1, max_size=2)),
                    "b": draw(st.lists(_layers(nd), min_size=1, max_size=2)),
                },
            }
        )
    return layers


def _spec(layers: list[dict[str, Any]], inp: list[Any]) -> dict[str, Any]:
    return {"archspec": 1, "name": "prop", "input": inp, "layers": layers}


def _agree(
    spec_map: dict[str, Any], sizes: list[tuple[int, ...]], symbols: tuple[str, ...]
) -> None:
    graph = archspec.build_graph(spec_map)
    result = archspec.check(spec_map)
    assert result.domain is not None and result.domain.exact
    if result.domain.is_empty:
        # compile refuses a network no input can run; PyTorch must then fail on every size
        with pytest.raises(archspec.ArchSpecError) as info:
            archspec.compile(spec_map, device="meta")
        assert info.value.error_code == "E410"
        from archspec.backends.torch_module import build_module

        model = build_module(graph, "meta")
    else:
        model = archspec.compile(spec_map, device="meta")
    for size in sizes:
        env = dict(zip(symbols, size), N=2)
        table = infer_shapes(graph, (2, 2, *size))
        try:
            got = torch_shapes(model, torch.empty(2, 2, *size, device="meta"))
        except RuntimeError:
            got = None
        assert result.domain.contains(env) == (got is not None), (size, result.domain_text)
        assert (table.failure is None) == (got is not None), size
        if got is not None:
            for row in table.rows:
                if row.path in got:
                    assert tuple(d.value for d in row.shape) == got[row.path], (size, row.path)


#: Property cases each random-network test must get through to its comparison with PyTorch
#: (networks that fail to build are rejected with `assume`, not passed over with a `return`).
MIN_CHECKED = 10


def test_random_1d_stacks_domain_is_where_pytorch_succeeds() -> None:
    checked: list[int] = []

    @settings(max_examples=25)
    @given(networks(1), st.booleans())
    def prop(layers: list[dict[str, Any]], head: bool) -> None:
        base = _spec(layers, ["N", 2, "L"])
        if head:  # flatten + linear fixes the features: a product constraint over L
            try:
                probe = archspec.check(base)
            except archspec.ArchSpecError:
                reject()
            assume(probe.ok and probe.domain is not None and not probe.domain.is_empty)
            first = probe.domain.boxes[0]["L"].min()
            out = infer_shapes(archspec.build_graph(base), (1, 2, first)).outputs[0]
            features = out[1].value * out[2].value
            base = _spec(
                [
                    *layers,
                    {"type": "flatten"},
                    {"type": "linear", "in_features": features, "out_features": 3},
                ],
                ["N", 2, "L"],
            )
        try:
            archspec.build_graph(base)
        except archspec.ArchSpecError:
            reject()  # e.g. channels that do not divide; not a shape question
        _agree(base, [(n,) for n in range(1, 33)], ("L",))
        checked.append(1)

    prop()
    assert len(checked) >= MIN_CHECKED, len(checked)


def test_random_2d_stacks_domain_is_where_pytorch_succeeds() -> None:
    checked: list[int] = []

    @settings(max_examples=12)
    @given(networks(2))
    def prop(layers: list[dict[str, Any]]) -> None:
        base = _spec(layers, ["N", 2, "H", "W"])
        try:
            archspec.build_graph(base)
        except archspec.ArchSpecError:
            reject()
        sizes = [(h, w) for h in (1, 2, 3, 5, 8, 13) for w in (1, 4, 7, 12)]
        _agree(base, sizes, ("H", "W"))
        checked.append(1)

    prop()
    assert len(checked) >= MIN_CHECKED, len(checked)


def test_a_product_of_products_is_written_once_without_nested_parentheses() -> None:
    """A flatten of a flattened map joined with a padded one printed `((H + 4)*(W + 6))` and
    `16*(H*W)`: a remembered factor that is itself a product is written out in place, a plain
    product of symbols needs no parentheses, a floor or a sum still does."""
    from archspec.dims import Dim, product

    h, w = Dim.of("H"), Dim.of("W")
    assert str(product([Dim.of(1), product([h + 4, w + 6])])) == "(H + 4)*(W + 6)"
    assert str(product([Dim.of(16), product([h, w])])) == "16*H*W"
    assert str(product([Dim.of(2), h.floordiv(2), w - 1])) == "2*(H//2)*(W - 1)"
    assert str(product([Dim.of(8), product([h * 3, w * 3])])) == "8*(3*H)*(3*W)"


def test_the_window_lint_reads_a_symbolic_output_as_dims() -> None:
    """W402 reads the output's extents as ints when each is a number, and as dims when one
    is a symbol: an extent of 1 beside a symbolic one is still found."""
    from archspec.passes.windows import window_warning

    graph = archspec.build_graph(
        "archspec: 1\nname: w\ninput: [1, 1, 3, 3]\nlayers:\n"
        "  - {name: p, type: maxpool2d, kernel_size: 5, stride: 5, padding: 2}\n"
    )
    (node,) = graph.root.nodes
    assert node.shape is not None and [d.value for d in node.shape] == [1, 1, 1, 1]
    found = window_warning("p", node, node.in_shapes, node.shape, 2)
    assert found is not None and "5x5 window is larger than its 3x3 input" in found.message
    half = (*node.shape[:2], Dim.of("H"), node.shape[3])  # one extent a symbol
    found = window_warning("p", node, node.in_shapes, half, 2)
    assert found is not None and "reduces it to 0x1" in found.message
    assert window_warning("p", node, node.in_shapes, (*half[:3], Dim.of("W")), 2) is None
