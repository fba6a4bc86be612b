"""The items of an nn.ModuleList each returning several tensors that the loop unpacks
(WaveNet's residual layers, `x, skip = layer(x)`, the skips summed after the loop) import as
entries with `names:`, as a child called by its name does. The list was read entry by entry,
but each entry's call was added as one tensor, so the unpacking was E903 ("no layer kind
computes the operator `getitem`"); and with the entries' names known, a child registered
after the list (the head) but reading the summed skips came before the entries that make
them (E904: "`blocks_0_1` is declared later")."""

from __future__ import annotations

import torch
from torch import nn

import archspec


class Residual(nn.Module):
    def __init__(self, channels: int, skip: int, dilation: int) -> None:
        super().__init__()
        self.dilated = nn.Conv1d(channels, 2 * channels, 2, dilation=dilation, padding=dilation)
        self.res = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip, 1)
        self.dilation = dilation

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.dilated(x)[:, :, : -self.dilation]  # causal: drop the padding's tail
        a, b = out.chunk(2, dim=1)
        g = torch.tanh(a) * torch.sigmoid(b)
        return self.res(g) + x, self.skip(g)


class WaveNet(nn.Module):
    def __init__(self, summed: str = "sum") -> None:
        super().__init__()
        self.summed = summed
        self.start = nn.Conv1d(1, 8, 1)
        self.layers = nn.ModuleList([Residual(8, 6, 2**i) for i in range(4)])
        self.end = nn.Sequential(nn.ReLU(), nn.Conv1d(6, 6, 1), nn.ReLU(), nn.Conv1d(6, 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.start(x)
        skips = []
        for layer in self.layers:
            x, s = layer(x)
            skips.append(s)
        if self.summed == "sum":
            out = sum(skips)
        else:
            out = torch.stack(skips).sum(0)
        return self.end(out)


def _same(model: nn.Module, text: str, shape: tuple[int, ...]) -> None:
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    assert list(twin.state_dict()) == list(model.state_dict())
    x = torch.randn(*shape)
    with torch.no_grad():
        assert torch.allclose(twin(x), model(x), rtol=1e-5, atol=1e-6)


def test_list_items_returning_a_residual_and_a_skip_are_entries_with_names() -> None:
    for summed in ("sum", "stack"):
        model = WaveNet(summed).eval()
        text = archspec.from_module(model, torch.zeros(1, 1, 32))
        assert "{key: layers.0, type: Residual, names: [layers_0_0, layers_0_1]}" in text
        assert "from: layers_2_0" in text  # the next entry reads the residual, not the skip
        # the head, registered after the list, comes after the entries it reads
        assert text.index("key: layers.3") < text.index("name: end")
        _same(model, text, (2, 1, 57))
