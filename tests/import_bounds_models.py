"""Models whose forward asserts a bound on a size of its input (tests/test_import_bounds.py).
They live outside the test module: pytest rewrites a test module's `assert` statements into
branches, which torch.fx cannot trace, and the importer must see them as Python writes them."""

from __future__ import annotations

import torch

from tests.newuser40.references import GPT


class AssertingGPT(GPT):
    """nanoGPT's GPT.forward with its own assertion on the tokens' length; `bound` is what
    it asserts against (nanoGPT's `config.block_size`, 16 here), `reverse` writes it the
    other way round."""

    def __init__(self, bound: int = 16, reverse: bool = False) -> None:
        super().__init__()
        self.bound, self.reverse = bound, reverse

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        device = idx.device
        _b, t = idx.size()  # nanoGPT: `b, t = idx.size()`
        if self.reverse:
            assert self.bound >= t, "Cannot forward a sequence longer than the block size"
        else:
            assert t <= self.bound, f"Cannot forward sequence of length {t}"
        pos = torch.arange(0, t, dtype=torch.long, device=device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


class BoundedMap(torch.nn.Module):
    """An assertion on a map's height, which no layer bounds (a conv takes any height)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[2] <= 64, "too tall"
        return self.conv(x)
