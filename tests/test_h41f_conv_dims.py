"""A dim followed back through torch's own convolutions, norms and plain nn.Sequentials,
and a size divided by 1. MobileNet-v4's multi-query attention (timm's MultiQueryAttention2d,
written here in torch alone) projects q with `nn.Sequential(nn.Conv2d(dim, heads * k, 1))`,
folds its H * W tokens back with `t.reshape(B, H // 1, W // 1, heads * k)`, `1` its query
stride, and the proof that the tokens are H * W stopped at the Sequential (only shape-keeping
layers and Linear were followed) and at `H // 1`: E903 'the tensor method `.reshape()` takes
sizes read from tensor shapes that no spec step states for every input'. A convolution keeps
the batch and each spatial dim its stride of 1 and padding keep, a Sequential of such layers
each of them, and `H // 1` is H."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec


class MultiQueryAttention(nn.Module):
    def __init__(self, dim: int = 16, heads: int = 4, key_dim: int = 8, pad: int = 0) -> None:
        super().__init__()
        self.heads, self.key_dim, self.strides = heads, key_dim, (1, 1)
        self.query = nn.Sequential(nn.Conv2d(dim, heads * key_dim, 1 + 2 * pad, padding=pad))
        self.key = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 2, 1, groups=dim, bias=False),
            nn.BatchNorm2d(dim),
            nn.Conv2d(dim, key_dim, 1, bias=False),
        )
        self.value = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 2, 1, groups=dim), nn.Conv2d(dim, key_dim, 1)
        )
        self.output = nn.Sequential(nn.Conv2d(heads * key_dim, dim, 1))

    def _tokens(self, t: torch.Tensor) -> torch.Tensor:
        s = t.shape
        return t.reshape(s[0], s[1], -1).transpose(1, 2).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[2:]
        q = self.query(x)
        q = q.reshape(q.shape[0], self.heads, self.key_dim, -1).transpose(-1, -2)
        o = F.scaled_dot_product_attention(
            q, self._tokens(self.key(x)), self._tokens(self.value(x))
        )
        s = o.shape
        o = o.transpose(1, 2)
        o = o.reshape(s[0], H // self.strides[0], W // self.strides[1], s[-1] * self.heads)
        return self.output(o.permute(0, 3, 1, 2))


@pytest.mark.parametrize("pad", [0, 1])
def test_multi_query_attention_folds_its_tokens_back(pad: int) -> None:
    torch.manual_seed(0)
    model = MultiQueryAttention(pad=pad).eval()
    text = archspec.from_module(model, torch.randn(1, 16, 6, 5))
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    checked = 0
    for shape in ((1, 16, 6, 5), (2, 16, 9, 12)):
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.allclose(twin(x), model(x), atol=1e-5)
        checked += 1
    assert checked == 2


@pytest.mark.parametrize(
    ("layer", "kept"),
    [
        (nn.Conv2d(3, 3, 1), [0, 2, 3]),
        (nn.Conv2d(3, 3, 3, padding=1), [0, 2, 3]),
        (nn.Conv2d(3, 3, 3, padding=2, dilation=2), [0, 2, 3]),
        (nn.Conv2d(3, 3, 3, padding="same"), [0, 2, 3]),
        (nn.Conv2d(3, 3, (1, 3), padding=(0, 1)), [0, 2, 3]),
        (nn.Conv2d(3, 3, 1, padding=1), [0]),  # grows H and W by 2
        (nn.Conv2d(3, 3, 3, stride=(1, 2), padding=1), [0, 2]),  # halves W
        (nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3), nn.ReLU()), [0, 2, 3]),
        (nn.Sequential(nn.Conv2d(3, 3, 1), nn.MaxPool2d(2)), []),  # no rule for the pool
        (nn.GroupNorm(1, 3), [0, 1, 2, 3]),
    ],
)
def test_which_dims_a_torch_layer_keeps(layer: nn.Module, kept: list[int]) -> None:
    from archspec.importer.childdims import torch_module_dim

    assert [i for i in range(4) if torch_module_dim(layer, i, 4) == i] == kept
