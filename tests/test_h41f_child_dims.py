"""A dim followed back through a call of the model's own block: PVT-v2's and Twins' stages
read `B, H, W, C = x.shape`, flatten the map into tokens, walk their blocks and fold the
tokens back with `x.reshape(B, H, W, -1)`. The tokens' dim was followed back through torch's
own layers only, so a residual block between (`x + self.fc(x)`) ended the proof: E903, 'the
tensor method `.reshape()` takes sizes read from tensor shapes that no spec step states for
every input'. The walk now goes on inside the block's traced forward, from its output back
to its input, and through a join of two tensors whose dims lead back to the same dim."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc = nn.Linear(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(x)


class Pooling(nn.Module):
    """Halves the tokens: what it returns is not its input's length."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc = nn.Linear(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)[:, ::2]


class Stage(nn.Module):
    def __init__(self, block: type[nn.Module], c: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, c, 1)
        self.blocks = nn.ModuleList([block(c), block(c)])
        self.norm = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x).permute(0, 2, 3, 1)
        B, H, W, C = x.shape
        x = x.reshape(B, -1, C)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return x.reshape(B, H, W, -1).permute(0, 3, 1, 2)


def test_tokens_fold_back_after_the_models_own_blocks() -> None:
    torch.manual_seed(0)
    model = Stage(Residual).eval()
    text = archspec.from_module(model, torch.randn(1, 3, 6, 5))
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    checked = 0
    for shape in ((1, 3, 6, 5), (2, 3, 9, 4)):  # any map, as the model takes
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.allclose(twin(x), model(x), atol=1e-6)
        checked += 1
    assert checked == 2


def test_a_block_that_changes_the_tokens_stays_refused() -> None:
    """The proof follows the block's own steps: a block returning half its tokens gives
    no dim of its input back, and the fold is still refused at its statement."""
    model = Stage(Pooling).eval()
    with pytest.raises(ArchSpecError) as info:
        archspec.from_module(model, torch.randn(1, 3, 4, 4))
    messages = [d.message for d in info.value.diagnostics]
    assert any("`.reshape()` takes sizes read from tensor shapes" in m for m in messages)


class LongChain(nn.Module):
    """Eighteen residual joins in one forward before the fold."""

    def __init__(self, n: int = 18) -> None:
        super().__init__()
        self.fcs = nn.ModuleList([nn.Linear(8, 8) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        x = x.reshape(B, -1, C)
        for fc in self.fcs:
            x = x + fc(x)
        return x.reshape(B, H, W, -1)


def test_a_long_chain_of_joins_is_walked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each join asks where both its operands' dims come from, and each operand is the join
    before: remembered, the walk takes a step per node and dim; it once took 2 ** joins
    (a forward of 22 joins did not finish in 5 minutes)."""
    from archspec.importer import provenance

    steps = 0
    original = provenance._source_dim

    def counted(*args: object) -> object:
        nonlocal steps
        steps += 1
        if steps > 3000:  # stop a walk that grows with 2 ** joins, rather than wait for it
            raise RuntimeError("too many steps")
        return original(*args)

    monkeypatch.setattr(provenance, "_source_dim", counted)
    model = LongChain().eval()
    text = archspec.from_module(model, torch.randn(1, 4, 5, 8))
    assert "type: unflatten" in text  # the fold proven
    assert 0 < steps <= 3000, steps
