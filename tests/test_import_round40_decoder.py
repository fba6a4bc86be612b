"""torch's own `nn.TransformerDecoderLayer`, `nn.TransformerDecoder` and `nn.Transformer`
import as the layers they hold, as the encoder already did (twins.py): learned queries
attending to an image's tokens through a decoder without masks (a DETR-style head), a
translation model's `nn.Transformer(src, tgt)`. They were E903 "no layer kind builds
torch.nn.modules.transformer.TransformerDecoder", a wall no spec could get past. A call
with a mask stays E904 at the call, saying which."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


class QueryHead(nn.Module):
    def __init__(self, norm_first: bool = False, batch_first: bool = True) -> None:
        super().__init__()
        layer = nn.TransformerDecoderLayer(
            16, 2, 32, dropout=0.1, batch_first=batch_first, norm_first=norm_first
        )
        self.decoder = nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(16))
        self.head = nn.Linear(16, 5)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(queries, memory))


class OneLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(16, 4, 24, dropout=0.0, activation="gelu")

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return self.layer(tgt, memory)


class Translator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Transformer(16, 2, 2, 1, 32, dropout=0.0, batch_first=True)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return self.model(src, tgt)


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 2, 32), 1)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        return self.decoder(tgt, memory, tgt_is_causal=True)


def _same(model: nn.Module, text: str, *shapes: tuple[int, ...]) -> None:
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    assert list(twin.state_dict()) == list(model.state_dict())
    xs = [torch.randn(*s) for s in shapes]
    with torch.no_grad():
        assert torch.allclose(twin(*xs), model(*xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_a_decoder_of_queries_over_memory_imports_as_its_layers(norm_first: bool) -> None:
    model = QueryHead(norm_first).eval()
    text = archspec.from_module(model, (torch.zeros(1, 4, 16), torch.zeros(1, 9, 16)))
    assert "inputs: [tgt, memory]" in text
    assert "{name: multihead_attn, type: multihead_attention, from: [" in text
    _same(model, text, (2, 4, 16), (2, 9, 16))


def test_a_decoder_layer_sequence_first_and_a_whole_transformer_import() -> None:
    layer = OneLayer().eval()
    text = archspec.from_module(layer, (torch.zeros(4, 1, 16), torch.zeros(6, 1, 16)))
    assert "batch_first: false" in text and "fn: gelu" in text
    _same(layer, text, (4, 2, 16), (6, 2, 16))
    model = Translator().eval()
    text = archspec.from_module(model, (torch.zeros(1, 7, 16), torch.zeros(1, 3, 16)))
    assert "{name: encoder, type: TransformerEncoder, from: src}" in text
    assert "type: TransformerDecoder, from: [tgt, encoder]" in text
    _same(model, text, (2, 7, 16), (2, 3, 16))


def test_a_decoder_called_with_a_mask_is_refused_at_the_call() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(Masked().eval(), (torch.zeros(3, 1, 16), torch.zeros(5, 1, 16)))
    text = str(info.value)
    assert info.value.diagnostics[0].code == "E904"
    assert "`tgt_is_causal`" in text and "without masks" in text
    assert "test_import_round40_decoder.py:" in text
