"""torch's other activations (softplus, selu, celu, hardtanh, logsigmoid, softsign, tanhshrink,
threshold) and glu against torch's modules: values at many sizes, counts, emitted source; the
arguments torch refuses (located E409, never torch's assertion); glu's even dim as a domain
requirement that matches where torch's forward fails; the new `activation` fns; the import
round trip of the modules and of their functional calls."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.ops import ACTIVATION_FNS

from .ops_cases import assert_located, param_count, same_as_emitted, spec, symbolic_out
from .test_importer import roundtrip

#: kind, its fields, the torch module it must equal
CASES: list[tuple[str, dict[str, Any], nn.Module]] = [
    ("softplus", {}, nn.Softplus()),
    ("softplus", {"beta": 2.0, "threshold": 1.5}, nn.Softplus(2.0, 1.5)),
    ("softplus", {"beta": -0.5}, nn.Softplus(-0.5)),
    ("selu", {}, nn.SELU()),
    ("celu", {"alpha": 0.3}, nn.CELU(0.3)),
    ("hardtanh", {}, nn.Hardtanh()),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, nn.Hardtanh(-0.5, 2.0)),
    ("logsigmoid", {}, nn.LogSigmoid()),
    ("softsign", {}, nn.Softsign()),
    ("tanhshrink", {}, nn.Tanhshrink()),
    ("threshold", {"threshold": 0.1, "value": -2.0}, nn.Threshold(0.1, -2.0)),
    ("glu", {}, nn.GLU()),
    ("glu", {"dim": 1}, nn.GLU(1)),
    ("glu", {"dim": -2}, nn.GLU(-2)),
]
SIZES = [(1, 2, 2), (2, 6, 4), (3, 4, 10)]


def _x(n: int, h: int, w: int) -> torch.Tensor:
    return torch.randn(n, 4, h, w, generator=torch.Generator().manual_seed(n * h * w)) * 4


@pytest.mark.parametrize(("kind", "fields", "reference"), CASES)
def test_kinds_equal_torch(kind: str, fields: dict[str, Any], reference: nn.Module) -> None:
    text = spec([{"type": kind, "name": "act", **fields}])
    model = archspec.compile(text)
    assert type(model.act) is type(reference) and repr(model.act) == repr(reference)
    for n, h, w in SIZES:
        x = _x(n, h, w)
        out = model(x)
        want = reference(x)
        assert tuple(out.shape) == symbolic_out(text, {"N": n, "H": h, "W": w}) == want.shape
        torch.testing.assert_close(out, want, rtol=0, atol=0)
    assert param_count(text) == (0, 0)
    assert archspec.summary(text, input=(2, 4, 6, 6)).macs == 0
    same_as_emitted(text, _x(2, 6, 4))


@pytest.mark.parametrize("kind", ["selu", "celu", "hardtanh", "threshold"])
def test_inplace_is_torchs_switch(kind: str) -> None:
    extra = {"threshold": 0.0, "value": 0.0} if kind == "threshold" else {}
    model = archspec.compile(spec([{"type": kind, "name": "act", "inplace": True, **extra}]))
    assert model.act.inplace is True
    assert "inplace=True" in archspec.emit(spec([{"type": kind, "inplace": True, **extra}]))


@pytest.mark.parametrize(
    ("layer", "at"),
    [
        ({"type": "softplus", "beta": 0}, "0"),
        ({"type": "celu", "alpha": 0.0}, "0.0"),
        ({"type": "celu", "alpha": 2.9e-39}, "2.9e-39"),
        ({"type": "hardtanh", "min_val": 1.0, "max_val": 1.0}, "1.0}"),
        ({"type": "hardtanh", "min_val": 2.0}, None),
    ],
)
def test_arguments_torch_refuses_are_located(layer: dict[str, Any], at: str | None) -> None:
    exc = assert_located(spec([layer]), "E409")
    assert layer["type"] in exc.diagnostics[0].message
    if at is not None:
        line = spec([layer]).splitlines()[-1]
        assert line[exc.diagnostics[0].span.col - 1 :].startswith(at.rstrip("}"))


def test_celu_takes_the_smallest_alpha_torch_takes() -> None:
    """torch converts 1 / alpha to a float32: 3e-39 runs, 2.9e-39 overflows."""
    nn.CELU(3e-39)(torch.randn(3))
    with pytest.raises(RuntimeError, match="overflow"):
        nn.CELU(2.9e-39)(torch.randn(3))
    assert archspec.check(spec([{"type": "celu", "alpha": 3e-39}])).ok
    assert archspec.check(spec([{"type": "celu", "alpha": -3e-39}])).ok


def test_threshold_needs_its_two_values() -> None:
    assert_located(spec([{"type": "threshold", "threshold": 0.5}]), "E203")


def test_glu_halves_an_even_dim_and_the_domain_says_so() -> None:
    text = spec([{"type": "glu", "dim": -1}])
    assert archspec.check(text).domain_text.endswith("with H >= 1 and even W")
    for w in range(1, 7):
        report = archspec.check(text, input=(1, 4, 3, w))
        try:
            F.glu(torch.randn(1, 4, 3, w), -1)
            runs = True
        except RuntimeError:
            runs = False
        assert report.ok == runs, w
    exc = assert_located(spec([{"type": "glu", "dim": 1}], ("N", 5, 4)), "E404")
    assert "must be even" in exc.diagnostics[0].message
    assert_located(spec([{"type": "glu", "dim": 4}]), "E401")


NEW_FNS = {
    "softplus": F.softplus,
    "selu": F.selu,
    "celu": F.celu,
    "hardtanh": F.hardtanh,
    "logsigmoid": F.logsigmoid,
    "softsign": F.softsign,
    "tanhshrink": F.tanhshrink,
}


@pytest.mark.parametrize("fn", sorted(NEW_FNS))
def test_activation_fn_computes_torchs_function(fn: str) -> None:
    assert fn in ACTIVATION_FNS
    text = spec([{"type": "activation", "fn": fn}])
    x = _x(2, 5, 3)
    torch.testing.assert_close(archspec.compile(text)(x), NEW_FNS[fn](x), rtol=0, atol=0)
    assert f"F.{fn}(x)" in archspec.emit(text)
    same_as_emitted(text, x)
    residual = spec(
        [
            {
                "type": "residual",
                "body": [{"name": "conv", "type": "conv2d", "out_channels": 4, "kernel_size": 1}],
                "activation": fn,
            }
        ]
    )
    model = archspec.compile(residual)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    torch.testing.assert_close(model(x), NEW_FNS[fn](conv(x) + x))


class _Activations(nn.Module):
    """Each module with settings of its own, then the same functions called in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.softplus = nn.Softplus(2.0, 10.0)
        self.selu = nn.SELU()
        self.celu = nn.CELU(0.5)
        self.hardtanh = nn.Hardtanh(-2.0, 3.0)
        self.logsigmoid = nn.LogSigmoid()
        self.softsign = nn.Softsign()
        self.tanhshrink = nn.Tanhshrink()
        self.threshold = nn.Threshold(0.2, -1.0)
        self.glu = nn.GLU(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        for name in ("softplus", "selu", "celu", "hardtanh", "logsigmoid", "softsign"):
            y = getattr(self, name)(y)
        y = self.glu(self.threshold(self.tanhshrink(y)))
        y = F.hardtanh(F.softplus(y), -0.5, 2.0)
        y = F.celu(F.selu(F.logsigmoid(y)))
        return F.glu(F.tanhshrink(F.softsign(y)), -1)


def test_modules_and_calls_import_and_round_trip() -> None:
    text = roundtrip(_Activations(), (2, 3, 4, 6))
    for line in (
        "{name: softplus, type: softplus, beta: 2.0, threshold: 10.0}",
        "{name: celu, type: celu, alpha: 0.5}",
        "{name: hardtanh, type: hardtanh, min_val: -2.0, max_val: 3.0}",
        "{name: threshold, type: threshold, threshold: 0.2, value: -1.0}",
        "{name: glu, type: glu, dim: 1}",
        "type: hardtanh, min_val: -0.5, max_val: 2.0}",
        "type: activation, fn: softplus}",
        "type: glu}",
    ):
        assert line in text, text
