"""Tokens folded back into the map they came from, for any map size (docs/spec-language.md,
"Tokens back into a map"): a `departition` of one-token groups against the map is
`x.transpose(1, 2).reshape(B, C, H, W)` with H and W read from the map, as PiT, PVT and
EfficientViT write it in `forward`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec

SPEC = {
    "archspec": 1,
    "name": "fold_back",
    "input": ["N", 8, "H", "W"],
    "layers": [
        {"name": "patches", "type": "flatten", "start_dim": 2},
        {"name": "tokens", "type": "permute", "dims": [0, 2, 1]},
        {"name": "mlp", "type": "linear", "out_features": 12},
        {"name": "one_per_group", "type": "unsqueeze", "dim": 2},
        {"name": "as_map", "type": "departition", "size": 1, "from": ["one_per_group", "input"]},
    ],
}


class FoldBack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Linear(8, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        tokens = self.mlp(x.flatten(2).transpose(1, 2))
        return tokens.transpose(1, 2).reshape(b, -1, h, w)


def test_the_domain_is_every_size() -> None:
    assert archspec.check(SPEC).domain_text.endswith("with H, W >= 1")


@pytest.mark.parametrize("size", [(1, 1), (5, 3), (7, 16), (14, 14)])
def test_a_departition_of_single_tokens_is_the_reshape_to_the_map(size: tuple[int, int]) -> None:
    ref = FoldBack().eval()
    model = archspec.compile(SPEC).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 8, *size)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    assert archspec.check(SPEC, input=[2, 8, *size]).ok
