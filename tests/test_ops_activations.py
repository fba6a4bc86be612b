"""The activation kinds of issue 14 and stochastic depth, checked against torch itself: shape,
parameters, state_dict keys, outputs, emitted source, errors; and the new `activation` fns."""

from __future__ import annotations

import typing
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.ops import ACTIVATION_FNS, REGISTRY

from .ops_cases import assert_located, param_count, same_as_emitted, spec, symbolic_out

#: kind, its fields, the torch module it must equal
CASES: list[tuple[str, dict[str, Any], nn.Module]] = [
    ("hardswish", {}, nn.Hardswish()),
    ("hardsigmoid", {}, nn.Hardsigmoid()),
    ("relu6", {}, nn.ReLU6()),
    ("leaky_relu", {"negative_slope": 0.2}, nn.LeakyReLU(0.2)),
    ("elu", {"alpha": 0.5}, nn.ELU(alpha=0.5)),
    ("mish", {}, nn.Mish()),
    ("prelu", {}, nn.PReLU()),
    ("prelu", {"num_parameters": 4, "init": 0.1}, nn.PReLU(4, init=0.1)),
]
SIZES = [(1, 1, 1), (2, 7, 5), (3, 13, 32)]


def _x(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 4, h, w, generator=torch.Generator().manual_seed(seed)) * 4


@pytest.mark.parametrize(("kind", "fields", "reference"), CASES)
def test_activation_kinds_equal_torch(
    kind: str, fields: dict[str, Any], reference: nn.Module
) -> None:
    text = spec([{"type": kind, "name": "act", **fields}])
    model = archspec.compile(text)
    assert list(model.state_dict()) == [f"act.{k}" for k in reference.state_dict()]
    model.load_state_dict({f"act.{k}": v for k, v in reference.state_dict().items()})
    for n, h, w in SIZES:
        x = _x(n, h, w)
        out = model(x)
        assert tuple(out.shape) == symbolic_out(text, {"N": n, "H": h, "W": w}) == x.shape
        torch.testing.assert_close(out, reference(x), rtol=0, atol=0)
    counted, numel = param_count(text)
    assert counted == numel == sum(p.numel() for p in reference.parameters())
    same_as_emitted(text, _x(2, 5, 3))


@pytest.mark.parametrize("kind", ["hardswish", "hardsigmoid", "elu", "mish"])
def test_inplace_is_torchs_switch(kind: str) -> None:
    model = archspec.compile(spec([{"type": kind, "name": "act", "inplace": True}]))
    assert model.act.inplace is True
    assert "inplace=True" in archspec.emit(spec([{"type": kind, "inplace": True}]))


def test_prelu_per_channel_needs_the_channel_count() -> None:
    text = spec([{"type": "prelu", "num_parameters": 3}])
    exc = assert_located(text, "E402")
    assert "num_parameters=3" in exc.diagnostics[0].message
    assert "4 channels" in exc.diagnostics[0].message
    # a symbolic channel dim becomes a requirement on the input
    result = archspec.check(spec([{"type": "prelu", "num_parameters": 3}], ("N", "C", 8, 8)))
    assert result.ok
    assert not archspec.check(
        spec([{"type": "prelu", "num_parameters": 3}], ("N", "C", 8, 8)), input=(1, 4, 8, 8)
    ).ok


def test_prelu_counts_one_slope_per_channel() -> None:
    text = spec(
        [
            {"type": "conv2d", "out_channels": 6, "kernel_size": 1},
            {"type": "prelu", "num_parameters": 6},
        ]
    )
    counted, numel = param_count(text)
    assert counted == numel == 4 * 6 + 6 + 6


NEW_FNS = {
    "relu6": F.relu6,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "mish": F.mish,
}


def test_activation_fns_extend_the_one_list() -> None:
    assert set(NEW_FNS) <= set(ACTIVATION_FNS)
    assert {"relu", "gelu", "silu", "tanh", "sigmoid"} <= set(ACTIVATION_FNS)
    from archspec.constructs.residual import ResidualNode

    def words(ann: object) -> set[str]:  # the Literal words of a field, at any depth
        if typing.get_origin(ann) is typing.Literal:
            return set(typing.get_args(ann))
        return (
            set().union(*(words(a) for a in typing.get_args(ann)))
            if typing.get_args(ann)
            else set()
        )

    layer = REGISTRY["activation"].spec.model_fields["fn"].annotation
    assert words(ResidualNode.model_fields["activation"].annotation) == words(layer)
    assert words(layer) == set(ACTIVATION_FNS)


@pytest.mark.parametrize("fn", sorted(NEW_FNS))
def test_activation_fn_computes_torchs_function(fn: str) -> None:
    text = spec([{"type": "activation", "fn": fn}])
    x = _x(2, 5, 3)
    torch.testing.assert_close(archspec.compile(text)(x), NEW_FNS[fn](x), rtol=0, atol=0)
    same_as_emitted(text, x)


@pytest.mark.parametrize("fn", sorted(NEW_FNS))
def test_residual_activation_takes_the_new_fns(fn: str) -> None:
    text = spec(
        [
            {
                "type": "residual",
                "body": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}],
                "activation": fn,
            }
        ]
    )
    model = archspec.compile(text)
    x = _x(2, 6, 6)
    conv = (
        model.get_submodule("0")
        if hasattr(model, "0")
        else next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    )
    torch.testing.assert_close(model(x), NEW_FNS[fn](conv(x) + x))
    same_as_emitted(text, x)


def _torchvision_stochastic_depth(
    x: torch.Tensor, p: float, mode: str, training: bool
) -> torch.Tensor:
    """torchvision.ops.stochastic_depth (0.29), copied: the reference archspec must equal."""
    if not training or p == 0.0:
        return x
    survival_rate = 1.0 - p
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(size, dtype=x.dtype, device=x.device)
    noise = noise.bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return x * noise


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_stochastic_depth_is_torchvisions(mode: str, p: float) -> None:
    text = spec([{"type": "stochastic_depth", "name": "sd", "p": p, "mode": mode}])
    model = archspec.compile(text)
    assert list(model.state_dict()) == []
    x = _x(16, 3, 5)
    model.eval()
    assert torch.equal(model(x), x)
    model.train()
    for seed in range(3):
        torch.manual_seed(seed)
        got = model(x)
        torch.manual_seed(seed)
        want = _torchvision_stochastic_depth(x, p, mode, True)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        assert tuple(got.shape) == symbolic_out(text, {"N": 16, "H": 3, "W": 5})
    same_as_emitted(text, x, train=True)
    same_as_emitted(text, x, train=False)


def test_stochastic_depth_drops_whole_rows() -> None:
    model = archspec.compile(spec([{"type": "stochastic_depth", "p": 0.5, "mode": "row"}]))
    model.train()
    torch.manual_seed(1)
    out = model(torch.ones(64, 4, 3, 3))
    per_row = {round(v, 4) for v in out.flatten(1).unique(dim=0).flatten().tolist()}
    assert per_row == {0.0, 2.0}  # each sample dropped or scaled by 1 / (1 - p)


def test_stochastic_depth_emits_its_own_class() -> None:
    source = archspec.emit(spec([{"type": "stochastic_depth", "p": 0.1, "mode": "batch"}]))
    assert "class StochasticDepth(nn.Module):" in source
    assert "torchvision" not in source.replace("torchvision.ops.StochasticDepth", "")
    assert 'StochasticDepth(0.1, "batch")' in source


@pytest.mark.parametrize(
    ("fields", "code", "at"),
    [({"p": 1.5, "mode": "row"}, "E309", "1.5"), ({"p": 0.1, "mode": "col"}, "E204", "col")],
)
def test_stochastic_depth_bad_values_are_located(
    fields: dict[str, Any], code: str, at: str
) -> None:
    assert_located(spec([{"type": "stochastic_depth", **fields}]), code, at)
