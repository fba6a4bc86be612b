"""pixel_shuffle and pixel_unshuffle against torch's nn.PixelShuffle and nn.PixelUnshuffle: the
shape rule is torch's output shape (batch dims before C, H, W included), the sizes a symbolic
input is accepted at are those torch runs, what torch refuses is a located error, compile and
emitted source compute what torch does to the last bit, and `archspec import` reads both
modules and their functional calls (a super-resolution net's tail, ESPCN's)."""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.dims import Dim, format_shape, shape_of
from archspec.ir import iter_nodes
from archspec.ops import REGISTRY, ShapeContext, ShapeFailure

from .ops_cases import assert_located, emitted, param_count, same_as_emitted, spec

FIELD = {"pixel_shuffle": "upscale_factor", "pixel_unshuffle": "downscale_factor"}
TORCH = {"pixel_shuffle": F.pixel_shuffle, "pixel_unshuffle": F.pixel_unshuffle}


def _infer(kind: str, r: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = REGISTRY[kind].infer({FIELD[kind]: r}, [shape_of(shape)], ShapeContext()).shape
    return tuple(d.value for d in out)


def _torch_runs(kind: str, r: int, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(TORCH[kind](torch.zeros(shape), r).shape)
    except RuntimeError:
        return None


SHAPES = [
    (1, 4, 3, 5),
    (2, 9, 6, 3),
    (2, 18, 1, 1),
    (8, 2, 2),  # (C, H, W): no batch dim
    (2, 3, 16, 4, 6),  # two batch dims
    (1, 1, 7, 7),
    (3, 12, 4, 8),
]


@pytest.mark.parametrize("kind", sorted(FIELD))
def test_shape_rule_is_torchs_where_torch_runs_and_refuses_where_it_does_not(kind: str) -> None:
    ran = refused = 0
    for shape in SHAPES:
        for r in (1, 2, 3, 4):
            expected = _torch_runs(kind, r, shape)
            if expected is None:
                with pytest.raises(ShapeFailure) as exc:
                    _infer(kind, r, shape)
                assert exc.value.code == ("E409" if kind == "pixel_shuffle" else "E412")
                refused += 1
                continue
            assert _infer(kind, r, shape) == expected, (shape, r)
            module = REGISTRY[kind].build({FIELD[kind]: r})
            assert type(module) is getattr(nn, REGISTRY[kind].torch_name)
            x = torch.randn(shape)
            assert torch.equal(module(x), TORCH[kind](x, r))
            assert module.state_dict() == {}
            ran += 1
    assert ran >= 10 and refused >= 5


@pytest.mark.parametrize("kind", sorted(FIELD))
def test_rank_below_three_is_e401(kind: str) -> None:
    with pytest.raises(RuntimeError):
        TORCH[kind](torch.zeros(4, 4), 2)
    with pytest.raises(ShapeFailure) as exc:
        _infer(kind, 2, (4, 4))
    assert exc.value.code == "E401" and "rank >= 3" in exc.value.message


def test_a_symbolic_channel_count_is_required_a_multiple_of_r_squared() -> None:
    """The channel requirement is a constraint over the input symbols (the domain pass's),
    not a failure, when the channels are a symbol; a number that r^2 divides makes none."""
    ctx = ShapeContext()
    x = (Dim.of("N"), Dim.of("C"), Dim.of("H"), Dim.of("W"))
    out = REGISTRY["pixel_shuffle"].infer({"upscale_factor": 3}, [x], ctx).shape
    assert format_shape(out) == "(N, C//9, 3*H, 3*W)"
    (req,) = ctx.constraints
    assert req.code == "E409" and req.kind == "eq"
    assert {req.lhs.evaluate({"C": c}) == req.rhs.evaluate({"C": c}) for c in (18, 27)} == {True}
    assert req.lhs.evaluate({"C": 10}) != req.rhs.evaluate({"C": 10})
    ctx = ShapeContext()
    REGISTRY["pixel_shuffle"].infer({"upscale_factor": 3}, [(x[0], Dim.of(18), *x[2:])], ctx)
    assert ctx.constraints == []


@pytest.mark.parametrize("r", [2, 3])
def test_unshuffle_domain_is_the_sizes_torch_runs(r: int) -> None:
    """With a symbolic input the multiples of r are the domain; at each size near its edges
    the check says what torch's forward does, and the output is the one torch gives."""
    text = spec(
        [
            {"name": "down", "type": "pixel_unshuffle", "downscale_factor": r},
            {"name": "conv", "type": "conv2d", "out_channels": 4, "kernel_size": 1},
        ],
        ("N", 2, "H", "W"),
    )
    result = archspec.check(text)
    assert result.ok
    assert format_shape(result.symbolic_outputs[0]) == f"(N, 4, H//{r}, W//{r})"
    model = archspec.compile(text).eval()
    for h in range(1, 3 * r + 2):
        for w in (r, r + 1):
            expected = _torch_runs("pixel_unshuffle", r, (1, 2, h, w))
            verdict = archspec.check(text, input=(1, 2, h, w))
            assert verdict.ok == (expected is not None), (h, w)
            if expected is None:
                (err,) = verdict.errors
                assert err.code == "E412"
                continue
            with torch.no_grad():
                assert model(torch.randn(1, 2, h, w)).shape == (1, 4, h // r, w // r)
    words = "even H and even W" if r == 2 else "H % 3 == 0 and W % 3 == 0"
    assert words in result.domain_text, result.domain_text


def test_shuffle_of_a_symbolic_map_at_every_size_is_torchs() -> None:
    text = spec([{"name": "ps", "type": "pixel_shuffle", "upscale_factor": 2}], ("N", 8, "H", "W"))
    result = archspec.check(text)
    assert result.ok and format_shape(result.symbolic_outputs[0]) == "(N, 2, 2*H, 2*W)"
    assert result.domain_text.endswith("with H, W >= 1")
    model = archspec.compile(text)
    for h, w in [(1, 1), (1, 2), (3, 1), (5, 4)]:
        assert archspec.check(text, input=(2, 8, h, w)).ok
        assert tuple(model(torch.zeros(2, 8, h, w)).shape) == _torch_runs(
            "pixel_shuffle", 2, (2, 8, h, w)
        )


def test_a_channel_count_r_squared_does_not_divide_is_a_located_e409() -> None:
    text = spec([{"name": "ps", "type": "pixel_shuffle", "upscale_factor": 2}], ("N", 6, 4, 4))
    with pytest.raises(RuntimeError):
        F.pixel_shuffle(torch.zeros(1, 6, 4, 4), 2)
    exc = assert_located(text, "E409")
    assert "multiple of 4 (r^2) channels, the input has 6" in exc.diagnostics[0].message
    (err,) = archspec.check(text).errors
    assert err.code == "E409" and err.hint and "out_channels" in err.hint


def test_a_side_r_does_not_divide_is_a_located_e412() -> None:
    layer = {"name": "down", "type": "pixel_unshuffle", "downscale_factor": 2}
    text = spec([layer], ("N", 3, 6, 7))
    exc = assert_located(text, "E412")
    assert "does not divide the map's width (7)" in exc.diagnostics[0].message


@pytest.mark.parametrize("kind", sorted(FIELD))
def test_a_factor_below_one_is_refused_at_the_field(kind: str) -> None:
    text = spec([{"name": "p", "type": kind, FIELD[kind]: 0}], ("N", 4, 4, 4))
    (err,) = archspec.check(text).errors
    assert err.code == "E309" and "below the minimum 1" in err.message
    assert err.span is not None and err.span.line == len(text.splitlines())


ESPCN = textwrap.dedent(
    """\
    archspec: 1
    name: espcn
    input: [N, 1, H, W]
    params: {r: 3}
    layers:
      - {name: conv1, type: conv2d, out_channels: 64, kernel_size: 5, padding: 2}
      - {name: act1, type: tanh}
      - {name: conv2, type: conv2d, out_channels: 32, kernel_size: 3, padding: 1}
      - {name: act2, type: tanh}
      - {name: conv3, type: conv2d, out_channels: r * r, kernel_size: 3, padding: 1}
      - {name: pixel_shuffle, type: pixel_shuffle, upscale_factor: r}
      - {name: down, type: pixel_unshuffle, downscale_factor: r}
      - {name: up, type: pixel_shuffle, upscale_factor: r}
    """
)


class Espcn(nn.Module):
    """Shi et al.'s ESPCN as PyTorch's super-resolution example writes it, plus an unshuffle
    and a shuffle back (so both kinds are compared)."""

    def __init__(self, r: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 5, padding=2)
        self.conv2 = nn.Conv2d(64, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, r * r, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(r)
        self.down = nn.PixelUnshuffle(r)
        self.up = nn.PixelShuffle(r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        return self.up(self.down(self.pixel_shuffle(self.conv3(x))))


class FunctionalShuffles(nn.Module):
    """The same steps as calls in forward, keyword and positional."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.pixel_unshuffle(x, downscale_factor=2)
        y = torch.pixel_shuffle(y, 2)
        return F.pixel_shuffle(self.conv(y), upscale_factor=2)


def test_compile_is_torchs_espcn_to_the_last_bit() -> None:
    model = archspec.compile(ESPCN).eval()
    ref = Espcn().eval()
    ref.load_state_dict(model.state_dict(), strict=True)
    assert list(model.state_dict()) == list(ref.state_dict())
    assert type(model.pixel_shuffle) is nn.PixelShuffle and model.pixel_shuffle.upscale_factor == 3
    assert type(model.down) is nn.PixelUnshuffle and model.down.downscale_factor == 3
    x = torch.randn(2, 1, 7, 5)
    with torch.no_grad():
        got, want = model(x), ref(x)
    assert got.shape == (2, 1, 21, 15)
    assert (got - want).abs().max().item() == 0


def test_emitted_source_is_what_compile_builds() -> None:
    source = archspec.emit(ESPCN)
    assert "self.pixel_shuffle = nn.PixelShuffle(r)" in source
    assert "self.down = nn.PixelUnshuffle(r)" in source
    assert type(emitted(ESPCN).up) is nn.PixelShuffle
    same_as_emitted(ESPCN, torch.randn(2, 1, 6, 9))
    concrete = spec([{"name": "ps", "type": "pixel_shuffle", "upscale_factor": 2}], ("N", 8, 3, 3))
    assert "self.ps = nn.PixelShuffle(2)" in archspec.emit(concrete)
    same_as_emitted(concrete, torch.randn(1, 8, 3, 3))


def test_no_parameters_and_no_macs() -> None:
    assert param_count(ESPCN) == (22_729, 22_729)
    nodes = {path: node for path, node in iter_nodes(build_graph(ESPCN).root)}
    for name in ("pixel_shuffle", "down", "up"):
        node = nodes[name]
        op = REGISTRY[node.kind]
        assert op.params(node.attrs) == 0 and op.buffers(node.attrs) == 0
        assert op.macs(node.attrs, [], node.shape) == Dim.of(0)
    at = archspec.summary(ESPCN, input=(1, 1, 8, 8))
    conv_only = archspec.summary(ESPCN.split("      - {name: pixel_shuffle")[0], input=(1, 1, 8, 8))
    assert (at.params, at.macs) == (conv_only.params, conv_only.macs)


def _import_exact(model: nn.Module, shape: tuple[int, ...]) -> str:
    model.eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    text = archspec.from_module(model, x)
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert (twin(x) - model(x)).abs().max().item() == 0
    return text


def test_import_reads_the_modules() -> None:
    text = _import_exact(Espcn(), (1, 1, 10, 8))
    assert "- {name: pixel_shuffle, type: pixel_shuffle, upscale_factor: 3}" in text
    assert "- {name: down, type: pixel_unshuffle, downscale_factor: 3}" in text
    assert "- {name: up, type: pixel_shuffle, upscale_factor: 3}" in text


def test_import_reads_the_functional_calls() -> None:
    text = _import_exact(FunctionalShuffles(), (2, 3, 8, 6))
    assert "type: pixel_unshuffle, downscale_factor: 2}" in text
    assert text.count("type: pixel_shuffle, upscale_factor: 2}") == 2
    assert "even H and even W" in archspec.check(text.replace("8, 6]", "H, W]")).domain_text


@pytest.mark.parametrize("kind", sorted(FIELD))
@pytest.mark.parametrize("shape", [("N", 3, "H", "W"), ("N", 3, 2**32, 2**32)])
def test_a_factor_of_2_to_the_31_or_more_is_e409_for_every_input(kind: str, shape) -> None:
    """r >= 2**31 needs r^2 >= 2**62 input elements (channels or pixels): no tensor holds
    them. check said ok with a domain of H, W >= 2**31 and output channels past int64."""
    text = spec([{"name": "p", "type": kind, FIELD[kind]: 2**31}], shape)
    (err,) = archspec.check(text).errors
    assert err.code == "E409" and "more than any tensor holds" in err.message
    assert err.hint == "use a factor below 2**31"
    below = spec([{"name": "p", "type": kind, FIELD[kind]: 2**31 - 1}], ("N", 3, "H", "W"))
    assert all("more than any tensor holds" not in d.message for d in archspec.check(below).errors)
