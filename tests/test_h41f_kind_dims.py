"""A dim followed back through a module the importer reads as a layer kind, by that kind's
shape rule: DaViT's downsample reads `B, C, H, W = x.shape`, normalises with timm's
LayerNorm2d (a class of its own, read as `layer_norm2d`) and pads the normalised map to a
multiple of its conv's kernel from H and W. The dims were followed through torch's own
classes only, so the pad was E903 'no layer kind computes `torch.nn.functional.pad` as
called here' (timm's davit.py:139). A leaf read as a kind of one input keeps dim i where the
kind's shape rule, run on the input the example gave with dim i a symbol, returns it there;
torch's own leaves outside the rules childdims.py knows (a max pool) too."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.importer.childdims import kind_dim


class LayerNorm2d(nn.LayerNorm):
    """timm's: a LayerNorm over the channels of an NCHW map (read as `layer_norm2d`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Downsample(nn.Module):
    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm
        self.conv = nn.Conv2d(8, 16, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[2:]
        x = self.norm(x)
        return self.conv(F.pad(x, (0, (2 - W % 2) % 2, 0, (2 - H % 2) % 2)))


@pytest.mark.parametrize("norm", [LayerNorm2d(8), nn.MaxPool2d(3, 1, 1)])
def test_a_pad_after_a_layer_read_as_a_kind(norm: nn.Module) -> None:
    torch.manual_seed(0)
    model = Downsample(norm).eval()
    text = archspec.from_module(model, torch.randn(1, 8, 7, 6))
    assert "type: pad_to_multiple" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    checked = 0
    for shape in ((1, 8, 7, 6), (2, 8, 4, 9)):
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.allclose(twin(x), model(x), atol=1e-5)
        checked += 1
    assert checked == 2


def test_which_dims_a_kind_keeps() -> None:
    given = (2, 8, 6, 5)
    assert [kind_dim(LayerNorm2d(8), i, given) for i in range(4)] == [0, None, 2, 3]
    assert [kind_dim(nn.MaxPool2d(2), i, given) for i in range(4)] == [0, 1, None, None]
    # a kind that changes the rank is left to the rules that follow it (a flatten's)
    assert [kind_dim(nn.Flatten(), i, given) for i in range(4)] == [None] * 4
