"""Where torchvision calls a function in `forward`, so do we: a named flatten is
`torch.flatten(x, 1)` (a positional one stays an `nn.Flatten` child that holds its index),
`mean` is `x.mean([2, 3])`, and a block that is a chain of modules is an nn.Sequential
subclass. The state_dict and the output do not change; the module calls do."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.dims import shape_of
from archspec.ops import REGISTRY, ShapeContext, ShapeFailure, node_style

from .emit_helpers import _load
from .parity.calls import module_calls, python_calls

NAMED_AND_INDEXED = """\
archspec: 1
name: heads
input: [N, 3, 8, 8]
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3}
  - {name: flatten, type: flatten}
  - name: classifier
    type: sequential
    layers:
      - {type: linear, out_features: 6}
      - {type: flatten, start_dim: 1}
      - {type: linear, out_features: 2}
"""


def _emitted(text: str, tag: str) -> torch.nn.Module:
    graph = build_graph(text)
    return getattr(_load(render_module(graph), tag), graph.class_name)()


def test_a_named_flatten_is_a_call_and_an_indexed_one_a_module() -> None:
    graph = build_graph(NAMED_AND_INDEXED)
    named = graph.root.node("flatten")
    indexed = graph.root.node("classifier").child.node("1")  # type: ignore[union-attr]
    assert (node_style(named), node_style(indexed)) == ("function", "module")
    model = archspec.compile(NAMED_AND_INDEXED)
    assert [k for k, _ in model.named_children()] == ["conv", "classifier"]
    assert isinstance(model.classifier[1], torch.nn.Flatten)
    assert list(model.state_dict()) == [
        "conv.weight",
        "conv.bias",
        "classifier.0.weight",
        "classifier.0.bias",
        "classifier.2.weight",
        "classifier.2.bias",
    ]
    source = render_module(graph)
    assert "        x = torch.flatten(x, 1)" in source and "self.flatten" not in source
    assert "nn.Flatten()" in source  # the indexed one, inside the classifier's nn.Sequential
    emitted = _emitted(NAMED_AND_INDEXED, "heads")
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(emitted.eval()(x), model.eval()(x))


@pytest.mark.parametrize(("start", "end", "call"), [(1, -1, "1"), (0, -1, "0"), (1, 2, "1, 2")])
def test_flatten_calls_write_start_dim_always(start: int, end: int, call: str) -> None:
    """torch.flatten's start_dim defaults to 0, nn.Flatten's to 1: the call always says it."""
    text = f"""archspec: 1
name: flat
input: [N, 3, 4, 5]
layers:
  - {{name: conv, type: conv2d, out_channels: 2, kernel_size: 1}}
  - {{name: flat, type: flatten, start_dim: {start}, end_dim: {end}}}
"""
    assert f"torch.flatten(x, {call})" in render_module(build_graph(text))
    model, x = archspec.compile(text), torch.randn(2, 3, 4, 5)
    expected = torch.flatten(model.conv(x), start, end)
    assert torch.equal(model(x), expected)
    emitted = _emitted(text, f"flat{start}{end}")
    emitted.load_state_dict(model.state_dict())
    assert torch.equal(emitted(x), expected)


def test_a_named_flatten_costs_no_module_call() -> None:
    x = torch.randn(1, 3, 8, 8)
    indexed = NAMED_AND_INDEXED.replace("{name: flatten, type: flatten}", "{type: flatten}")
    ours, before = archspec.compile(NAMED_AND_INDEXED), archspec.compile(indexed)
    # modules called, counted exactly: the Python calls differed by 2 only, and a CI run in a
    # long suite once counted the two equal (30 and 30)
    assert module_calls(ours, x) == module_calls(before, x) - 1 == 6
    assert list(ours.state_dict()) == [
        k.replace("classifier", "classifier") for k in before.state_dict()
    ]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dims", [[2, 3], [-1], [1, 3], [0]])
def test_mean_is_torch_mean(dims: list[int], keepdim: bool) -> None:
    checked = 0
    for shape in [(2, 3, 5, 7), (1, 4, 1, 2), (3, 2, 6, 1)]:
        out = REGISTRY["mean"].infer(
            {"dim": dims, "keepdim": keepdim}, [shape_of(shape)], ShapeContext()
        )
        x = torch.randn(shape)
        expected = x.mean(dims, keepdim=keepdim)
        assert tuple(d.value for d in out.shape) == tuple(expected.shape)
        fn, kwargs = REGISTRY["mean"].function({"dim": dims, "keepdim": keepdim})
        assert torch.equal(fn(x, **kwargs), expected)
        checked += 1
    assert checked == 3


def test_mean_in_a_spec_and_its_emitted_source() -> None:
    text = """archspec: 1
name: gap
input: [N, 3, H, W]
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: mean, type: mean, dim: [2, 3]}
  - {name: fc, type: linear, out_features: 2}
"""
    model = archspec.compile(text)
    assert list(dict(model.named_children())) == ["conv", "fc"]
    source = render_module(build_graph(text))
    assert "x = x.mean([2, 3])" in source
    emitted = _emitted(text, "gap")
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 5, 7)
    with torch.no_grad():
        expected = model.fc(model.conv(x).mean([2, 3]))
        assert torch.allclose(model(x), expected) and torch.allclose(emitted(x), expected)


@pytest.mark.parametrize(
    ("dims", "code"), [([4], "E401"), ([], "E401"), ([3, -1], "E409"), ([1, 1], "E409")]
)
def test_mean_refusals(dims: list[int], code: str) -> None:
    with pytest.raises(ShapeFailure) as info:
        REGISTRY["mean"].infer(
            {"dim": dims, "keepdim": False}, [shape_of((2, 3, 4, 5))], ShapeContext()
        )
    assert info.value.code == code and info.value.field == "dim"
    text = (
        f"archspec: 1\nname: bad\ninput: [N, 3, 4, 5]\nlayers:\n  - {{type: mean, dim: {dims}}}\n"
    )
    (err,) = archspec.check(text).errors
    assert err.code == code and err.span is not None and err.span.line == 5


def test_a_chain_block_is_an_nn_sequential_subclass() -> None:
    """A block whose instances are chains of two or more modules, as torchvision's
    Conv2dNormActivation: no forward of its own, so no attribute read per child."""
    text = """archspec: 1
name: stem
input: [N, 3, 8, 8]
blocks:
  ConvBN:
    params: {out: int}
    layers:
      - {type: conv2d, out_channels: out, kernel_size: 3, padding: 1, bias: false}
      - {type: batchnorm2d}
  Single:
    layers:
      - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
layers:
  - {name: a, type: ConvBN, out: 4}
  - {name: b, type: Single}
"""
    source = render_module(build_graph(text))
    assert "class ConvBN(nn.Sequential):" in source and "class Single(nn.Module):" in source
    block = source.split("class ConvBN(nn.Sequential):")[1].split("\nclass ")[0]
    assert "def forward" not in block
    model = archspec.compile(text)
    emitted = _emitted(text, "stem")
    assert list(emitted.state_dict()) == list(model.state_dict())
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(emitted.eval()(x), model.eval()(x))
    assert python_calls(emitted.a, x) == python_calls(model.a, x)  # both nn.Sequential
