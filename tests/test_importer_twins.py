"""torch.nn's transformer encoder through `archspec import` (importer/twins.py): each
`nn.TransformerEncoderLayer` a block of the layers torch builds it from, the encoder a
repeat of them and its final norm, the state_dict the module's own. torch computes the
layer in eval mode through its fused fast path, equal to its own slow path (the spec's)
within float rounding: outputs are compared at 1e-5."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.emit_helpers import _load


class Encoder(nn.Module):
    def __init__(self, norm_first: bool = False, activation: object = "relu", final: bool = False):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            32, 4, 64, dropout=0.0, activation=activation, batch_first=True, norm_first=norm_first
        )
        norm = nn.LayerNorm(32) if final else None
        self.enc = nn.TransformerEncoder(layer, 2, norm=norm, enable_nested_tensor=False)
        self.head = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x)[:, 0])


def _randomised(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for t in model.state_dict().values():
            t.copy_(torch.randn(t.shape, generator=g) * 0.3)
    return model.eval()


@pytest.mark.parametrize(
    ("norm_first", "activation", "final"),
    [(False, "relu", False), (True, "gelu", True), (False, nn.GELU(), True)],
)
def test_torch_transformer_encoder_imports_as_its_layers(
    norm_first: bool, activation: object, final: bool
) -> None:
    model = _randomised(Encoder(norm_first, activation, final))
    x = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(4))
    text = archspec.from_module(model, x)
    spec = yaml.safe_load(text)
    kinds = [v["type"] for v in spec["blocks"]["TransformerEncoderLayer"]["layers"]]
    assert kinds.count("multihead_attention") == 1 and kinds.count("layer_norm") == 2
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict(), strict=True)
    emitted = _load(archspec.emit(text), "twins").Encoder().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        want = model(x)
        for got in (twin(x), emitted(x)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    model.train(), twin.train()  # torch's slow path: the same steps
    torch.testing.assert_close(twin(x), model(x), rtol=1e-6, atol=1e-6)


class Masked(Encoder):
    """A mask given: the twin computes the layer without one."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x, mask=self.causal)[:, 0])


class Defaults(Encoder):
    """Masks given as None, as the call's defaults are: the layers alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x, mask=None, src_key_padding_mask=None)[:, 0])


def test_a_call_with_the_defaults_written_out_imports() -> None:
    model = _randomised(Defaults())
    x = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(4))
    twin = archspec.compile(archspec.from_module(model, x)).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-5)


class OwnLayer(nn.TransformerEncoderLayer):
    """A subclass: its forward is torch's (the fast path's checks), not known to be plain."""


class Subclassed(Encoder):
    def __init__(self) -> None:
        super().__init__()
        self.enc = OwnLayer(32, 4, 64, dropout=0.0, batch_first=True)


@pytest.mark.parametrize("model", [Masked(), Subclassed()])
def test_what_the_twin_does_not_compute_is_refused_at_a_line(model: nn.Module) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model.eval(), torch.randn(2, 7, 32))
    diag = err.value.diagnostics[0]
    assert diag.code in ("E902", "E903", "E904") and diag.span is not None and diag.span.line > 0
    if isinstance(model, Masked):  # at the model's own call, saying what the spec cannot take
        assert diag.code == "E904" and diag.span.file == __file__
        assert "calls `self.enc` with `mask`" in diag.message and "without masks" in diag.hint


class Projected(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(32, 16, batch_first=True, proj_size=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


def test_a_module_built_otherwise_than_its_kind_builds_it_hints_to_build_it_so() -> None:
    """The hint was only to write a plugin, though the message named the setting (a
    sequence-first nn.MultiheadAttention or nn.GRU, the examples once, now imports:
    test_seq_first)."""
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(Projected(), torch.randn(2, 7, 32))
    diag = err.value.diagnostics[0]
    assert "builds it with proj_size=0 where the model has 4" in diag.message
    assert "build this one as the kind does" in (diag.hint or "")
