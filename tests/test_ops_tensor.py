"""permute, reshape, channel_shuffle against torch: the shape rule is torch's output shape at
many sizes (odd ones too), no parameters, emitted source computes what compile computes, and
what torch refuses is a located error."""

from __future__ import annotations

import itertools
import textwrap

import pytest
import torch
import torch.nn.functional as F

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.dims import format_shape, shape_of
from archspec.ops import REGISTRY, ShapeContext, ShapeFailure

from .emit_helpers import _load


def spec(body: str, header: str = "input: [N, 12, H, W]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body).lstrip("\n")


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def _infer(kind: str, attrs: dict, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = REGISTRY[kind].infer(dict(attrs), [shape_of(shape)], ShapeContext()).shape
    return tuple(d.value for d in out)


SHAPES = [(2, 3), (1, 4, 5), (2, 3, 5, 7), (3, 1, 2, 9), (2, 6, 1, 1, 3)]


def test_permute_is_torch_permute_for_every_permutation() -> None:
    checked = 0
    for shape in SHAPES:
        for dims in itertools.permutations(range(len(shape))):
            for signed in (list(dims), [d - len(shape) for d in dims]):
                expected = tuple(torch.empty(shape).permute(signed).shape)
                assert _infer("permute", {"dims": signed}, shape) == expected
                module = REGISTRY["permute"].build({"dims": signed})
                assert tuple(module(torch.empty(shape)).shape) == expected
                assert module.state_dict() == {}
                checked += 1
    assert checked > 300


@pytest.mark.parametrize(
    ("dims", "code"),
    [([0, 1, 2], "E401"), ([0, 2, 3, 4], "E401"), ([0, 1, 1, 2], "E409"), ([0, -4, 1, 2], "E409")],
)
def test_permute_refuses_what_torch_refuses(dims: list[int], code: str) -> None:
    with pytest.raises((RuntimeError, IndexError)):
        torch.empty(2, 3, 4, 5).permute(dims)
    with pytest.raises(ShapeFailure) as exc:
        _infer("permute", {"dims": dims}, (2, 3, 4, 5))
    assert exc.value.code == code and exc.value.field == "dims"


RESHAPES = [
    ((2, 3, 5, 7), [0, -1]),
    ((2, 3, 5, 7), [0, 3, -1]),
    ((2, 3, 5, 7), [-1]),
    ((2, 3, 5, 7), [0, 0, 35]),
    ((2, 3, 5, 7), [6, 35]),
    ((2, 3, 5, 7), [0, 5, 3, 7]),
    ((2, 3, 5, 7), [-1, 7, 1]),
    ((4, 6), [0, 2, 3]),
    ((4, 6), [2, -1, 3]),
    ((1, 9, 1, 1), [0, 0]),
    ((3, 10), [0, 0, 1, 1]),
]


def _torch_sizes(shape: tuple[int, ...], sizes: list[int]) -> list[int]:
    return [shape[i] if s == 0 else s for i, s in enumerate(sizes)]


@pytest.mark.parametrize(("shape", "sizes"), RESHAPES)
def test_reshape_is_torch_reshape(shape: tuple[int, ...], sizes: list[int]) -> None:
    x = torch.randn(shape)
    expected = x.reshape(_torch_sizes(shape, sizes))
    assert _infer("reshape", {"shape": sizes}, shape) == tuple(expected.shape)
    fn, kwargs = REGISTRY["reshape"].function({"shape": sizes})
    assert torch.equal(fn(x, **kwargs), expected)


@pytest.mark.parametrize(
    ("shape", "sizes", "code"),
    [
        ((2, 3, 5, 7), [0, 4, -1], "E404"),
        ((2, 3, 5, 7), [0, 100], "E404"),
        ((2, 3, 5, 7), [0, -1, -1], "E409"),
        ((2, 3), [0, 0, 0], "E401"),
        ((2, 3), [], "E401"),
    ],
)
def test_reshape_refusals(shape: tuple[int, ...], sizes: list[int], code: str) -> None:
    with pytest.raises(ShapeFailure) as exc:
        _infer("reshape", {"shape": sizes}, shape)
    assert exc.value.code == code
    if code == "E404":  # torch refuses the same sizes
        with pytest.raises(RuntimeError):
            torch.empty(shape).reshape(_torch_sizes(shape, sizes))


def test_reshape_with_a_symbolic_input_is_exact() -> None:
    """[0, -1] of (N, 12, H, W) is (N, 12*H*W) with no condition; [0, 5, -1] needs 12*H*W to
    be a multiple of 5, which becomes part of the domain; sizes that never fit are E410."""
    ok = archspec.check(spec("layers:\n  - {name: r, type: reshape, shape: [0, -1]}\n"))
    assert ok.ok and format_shape(ok.symbolic_outputs[0]) == "(N, 12*H*W)"
    assert ok.domain_text.endswith("with H, W >= 1")
    five = spec("layers:\n  - {name: r, type: reshape, shape: [0, 5, -1]}\n")
    res = archspec.check(five)
    assert res.ok
    for h, w in [(5, 1), (1, 5), (5, 3), (10, 10)]:
        assert archspec.check(five, input=(2, 12, h, w)).ok
    for h, w in [(1, 1), (2, 3), (7, 7)]:
        (err,) = archspec.check(five, input=(2, 12, h, w)).errors
        assert err.code == "E404"
    text = spec("layers:\n  - {name: r, type: reshape, shape: [0, 5, 3]}\n")
    (err,) = archspec.check(text).errors
    assert err.code == "E410" and err.span is not None
    assert err.span.line == _line(text, "name: r")
    assert "the sizes do not multiply out (12*H*W vs 15)" in err.message


@pytest.mark.parametrize(
    ("shape", "groups"), [((2, 12, 5, 7), 3), ((2, 12, 5, 7), 4), ((3, 6, 9), 2), ((1, 5, 2), 5)]
)
def test_channel_shuffle_is_torchvisions(shape: tuple[int, ...], groups: int) -> None:
    """torchvision's shufflenetv2.channel_shuffle (view, transpose, contiguous, view) and
    torch's nn.ChannelShuffle compute the same as the op."""
    x = torch.randn(shape)
    b, c = shape[:2]
    ref = x.view(b, groups, c // groups, *shape[2:]).transpose(1, 2).contiguous().view(shape)
    fn, kwargs = REGISTRY["channel_shuffle"].function({"groups": groups})
    assert torch.equal(fn(x, **kwargs), ref)
    assert torch.equal(torch.nn.ChannelShuffle(groups)(x), ref)
    assert _infer("channel_shuffle", {"groups": groups}, shape) == shape


def test_channel_shuffle_refusals_are_located() -> None:
    text = spec("layers:\n  - {name: s, type: channel_shuffle, groups: 5}\n")
    with pytest.raises(RuntimeError):
        F.channel_shuffle(torch.empty(2, 12, 3, 3), 5)
    (err,) = archspec.check(text).errors
    assert err.code == "E409" and err.span is not None
    assert err.span.line == _line(text, "name: s")
    assert err.hint and "divides" in err.hint
    flat = spec("layers:\n  - {type: flatten}\n  - {name: s, type: channel_shuffle, groups: 2}\n")
    (err,) = archspec.check(flat).errors
    assert err.code == "E401"


LAYOUT = spec(
    """
    layers:
      - {name: conv, type: conv2d, out_channels: 12, kernel_size: 3, padding: 1}
      - {name: shuffle, type: channel_shuffle, groups: 3}
      - {name: nhwc, type: permute, dims: [0, 2, 3, 1]}
      - {name: fc, type: linear, out_features: 6}
      - {name: nchw, type: permute, dims: [0, 3, 1, 2]}
      - {name: split, type: reshape, shape: [0, 3, -1]}
      - {name: flat, type: reshape, shape: [0, -1]}
    """,
    header="input: [N, 8, H, W]",
)


def test_emitted_source_computes_what_compile_computes() -> None:
    torch.manual_seed(3)
    model = archspec.compile(LAYOUT).eval()
    source = render_module(build_graph(LAYOUT))
    assert "x = x.permute(0, 2, 3, 1)" in source  # named: computed in forward
    assert "x = F.channel_shuffle(x, 3)" in source
    assert "x = x.reshape(x.size(0), 3, -1)" in source
    emitted = _load(source, "layout").T().eval()
    emitted.load_state_dict(model.state_dict())
    assert list(model.state_dict()) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    for h, w in [(5, 7), (1, 1), (4, 3), (9, 2)]:
        x = torch.randn(2, 8, h, w)
        expected_shape = archspec.check(LAYOUT, input=(2, 8, h, w)).outputs[0]
        with torch.no_grad():
            out = model(x)
            assert tuple(out.shape) == tuple(d.value for d in expected_shape)
            torch.testing.assert_close(emitted(x), out, rtol=0, atol=0)
            y = F.channel_shuffle(model.conv(x), 3).permute(0, 2, 3, 1)
            y = model.fc(y).permute(0, 3, 1, 2).reshape(2, -1)
            torch.testing.assert_close(out, y)


def test_layout_ops_hold_nothing_and_count_nothing() -> None:
    s = archspec.summary(LAYOUT)
    rows = {r.name: r for r in s.rows}
    for name in ("shuffle", "nhwc", "nchw", "split", "flat"):
        assert rows[name].params == 0, name
        assert rows[name].macs is not None and rows[name].macs.value == 0, name
    assert s.params == (8 * 9 * 12 + 12) + (12 * 6 + 6)
