"""group_norm, instance_norm2d, layer_norm and layer_norm2d against torch's own modules:
shapes, parameters, state_dict keys, outputs, emitted source, located errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.ops import REGISTRY

from .ops_cases import assert_located, param_count, same_as_emitted, spec, symbolic_out

#: (layer fields, input channels, the torch module it must equal)
CASES: list[tuple[dict[str, Any], nn.Module]] = [
    ({"type": "group_norm", "num_groups": 2}, nn.GroupNorm(2, 4)),
    (
        {"type": "group_norm", "num_groups": 4, "eps": 1e-3, "affine": False},
        nn.GroupNorm(4, 4, eps=1e-3, affine=False),
    ),
    # timm's PoolFormerV2 norm (GroupNorm1NoBias): a weight, no bias
    ({"type": "group_norm", "num_groups": 1, "bias": False}, nn.GroupNorm(1, 4, bias=False)),
    ({"type": "instance_norm2d"}, nn.InstanceNorm2d(4)),
    (
        {"type": "instance_norm2d", "affine": True, "track_running_stats": True},
        nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
    ),
    ({"type": "layer_norm2d", "eps": 1e-6}, None),
    ({"type": "layer_norm2d", "bias": False}, None),
]
SIZES = [(1, 2, 3), (2, 7, 5), (3, 13, 32)]


def _x(n: int, h: int, w: int, c: int = 4) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(n * h * w)) * 3 + 1


def _layer_norm2d_reference(fields: dict[str, Any]) -> nn.Module:
    """torchvision's LayerNorm2d, written out: permute to NHWC, layer_norm, permute back."""

    class Reference(nn.LayerNorm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)

    return Reference(4, eps=fields.get("eps", 1e-5), bias=fields.get("bias", True))


def _randomised(module: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return module


@pytest.mark.parametrize(("fields", "reference"), CASES)
def test_norms_equal_torch(fields: dict[str, Any], reference: nn.Module | None) -> None:
    reference = _randomised(reference or _layer_norm2d_reference(fields))
    text = spec([{"name": "norm", **fields}])
    model = archspec.compile(text)
    assert list(model.state_dict()) == [f"norm.{k}" for k in reference.state_dict()]
    model.load_state_dict({f"norm.{k}": v for k, v in reference.state_dict().items()})
    for train in (True, False):
        model.train(train)
        reference.train(train)
        for n, h, w in SIZES:
            x = _x(n, h, w)
            out = model(x)
            assert tuple(out.shape) == symbolic_out(text, {"N": n, "H": h, "W": w}) == x.shape
            torch.testing.assert_close(out, reference(x))
    counted, numel = param_count(text)
    assert counted == numel == sum(p.numel() for p in reference.parameters())
    if "track_running_stats" in fields:
        node_buffers = REGISTRY["instance_norm2d"].buffers({"num_features": 4, **fields})
        assert node_buffers == sum(b.numel() for b in model.buffers())
    same_as_emitted(text, _x(2, 5, 3), train=False)
    same_as_emitted(text, _x(2, 5, 3), train=True)


def test_layer_norm2d_keys_are_layer_norms_and_emitted_class_is_self_contained() -> None:
    text = spec([{"type": "layer_norm2d", "name": "norm", "eps": 1e-6}])
    assert list(archspec.compile(text).state_dict()) == ["norm.weight", "norm.bias"]
    source = archspec.emit(text)
    assert "class LayerNorm2d(nn.LayerNorm):" in source
    assert "LayerNorm2d(4, eps=1e-06)" in source
    assert "import torchvision" not in source


@pytest.mark.parametrize(
    ("fields", "in_shape", "normalized"),
    [
        ({}, (2, 4, 5, 6), [6]),
        ({"dims": 3}, (2, 4, 5, 6), [4, 5, 6]),
        ({"normalized_shape": [5, 6]}, (2, 4, 5, 6), [5, 6]),
        ({"normalized_shape": 6, "bias": False}, (2, 4, 5, 6), [6]),
        ({"dims": 2, "elementwise_affine": False, "eps": 1e-6}, (3, 7, 9), [7, 9]),
    ],
)
def test_layer_norm_over_the_last_dims(
    fields: dict[str, Any], in_shape: tuple[int, ...], normalized: list[int]
) -> None:
    text = spec([{"type": "layer_norm", "name": "norm", **fields}], in_shape)
    reference = _randomised(
        nn.LayerNorm(
            normalized,
            eps=fields.get("eps", 1e-5),
            elementwise_affine=fields.get("elementwise_affine", True),
            bias=fields.get("bias", True),
        )
    )
    model = archspec.compile(text)
    assert list(model.state_dict()) == [f"norm.{k}" for k in reference.state_dict()]
    assert list(model.norm.normalized_shape) == normalized
    model.load_state_dict({f"norm.{k}": v for k, v in reference.state_dict().items()})
    x = torch.randn(in_shape)
    torch.testing.assert_close(model(x), reference(x))
    counted, numel = param_count(text)
    assert counted == numel == sum(p.numel() for p in reference.parameters())
    same_as_emitted(text, x)


def test_layer_norm_on_symbolic_dims() -> None:
    """Normalising a symbolic dim needs normalized_shape stated; it then constrains the input."""
    exc = assert_located(spec([{"type": "layer_norm"}], ("N", 4, "H", "W")), "E406")
    assert "state normalized_shape" in (exc.diagnostics[0].hint or "")
    text = spec([{"type": "layer_norm", "normalized_shape": 8}], ("N", 4, 8, "W"))
    assert archspec.check(text).ok
    assert archspec.check(text, input=(1, 4, 8, 8)).ok
    assert not archspec.check(text, input=(1, 4, 8, 9)).ok
    assert symbolic_out(text, {"N": 2, "W": 8}) == (2, 4, 8, 8)


def test_group_norm_groups_must_divide_channels() -> None:
    exc = assert_located(spec([{"type": "group_norm", "num_groups": 3}]), "E409", "3")
    assert "does not divide the 4 input channels" in exc.diagnostics[0].message
    with pytest.raises(ValueError):  # torch agrees
        nn.GroupNorm(3, 4)


@pytest.mark.parametrize(
    ("fields", "code", "at"),
    [
        ({"type": "group_norm", "num_groups": 2, "num_channels": 8}, "E402", "8"),
        ({"type": "layer_norm", "dims": 2, "normalized_shape": [3]}, "E409", "2"),
        ({"type": "layer_norm", "normalized_shape": [7]}, "E402", None),
        ({"type": "layer_norm", "dims": 5}, "E401", "5"),
        ({"type": "layer_norm2d", "num_channels": 3}, "E402", "3"),
        ({"type": "group_norm", "num_groups": 0}, "E309", "0"),
    ],
)
def test_bad_norm_values_are_located(fields: dict[str, Any], code: str, at: str | None) -> None:
    assert_located(spec([fields], ("N", 4, 6, 6)), code, at)


def test_instance_norm_needs_more_than_one_spatial_element() -> None:
    text = spec([{"type": "instance_norm2d"}], ("N", 4, "H", "W"))
    result = archspec.check(text, input=(2, 4, 1, 1))
    assert not result.ok and result.diagnostics[0].code == "E405"
    with pytest.raises(ValueError):  # torch agrees
        nn.InstanceNorm2d(4)(torch.randn(2, 4, 1, 1))
    assert archspec.check(text, input=(2, 4, 1, 2)).ok
    nn.InstanceNorm2d(4)(torch.randn(2, 4, 1, 2))


@pytest.mark.parametrize("kind", ["layer_norm2d", "instance_norm2d"])
def test_nchw_norms_need_rank_4(kind: str) -> None:
    assert_located(spec([{"type": kind}], ("N", 4, 6)), "E401")
