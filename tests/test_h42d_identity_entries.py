"""An nn.ModuleList holding `nn.Identity` entries its forward passes by (timm's HRNet:
`[t(yl[-1]) if not isinstance(t, nn.Identity) else yl[i] for i, t in
enumerate(self.transition2)]`) calls its first entry holding layers before the identities
registered ahead of it. A spec's list holds an `nn.Identity` at each index no node takes
(docs/spec-language.md), so such a list imports keyed by its entries (`key: trans.2`), the
identities in place; it was E904 "calls item `2` of `self.trans` before item `0`". An
identity skipped so and called later is still refused, at that call.
"""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_h42d_sequential_entries import _exact


class _Transition(nn.Module):
    def __init__(self, late: bool = False) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.trans = nn.ModuleList(
            [nn.Identity(), nn.Identity(), nn.Conv2d(4, 6, 3, stride=2, padding=1)]
        )
        self.late = late

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.stem(x)
        xl = [
            t(y) if not isinstance(t, nn.Identity) else y * (i + 1)
            for i, t in enumerate(self.trans)
        ]
        if self.late:
            xl.append(self.trans[0](xl[2]))
        return OrderedDict((str(i), v) for i, v in enumerate(xl))


def test_identity_entries_passed_by_import_in_place() -> None:
    text = _exact(_Transition(), (1, 3, 16, 16), (2, 3, 20, 24))
    assert "key: trans.2" in text and "key: trans.0" not in text


def test_an_identity_passed_by_and_called_later_is_refused_at_the_call() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(_Transition(late=True), torch.zeros(1, 3, 16, 16))
    [diag] = info.value.diagnostics
    assert diag.code == "E904"
    assert "calls item `0` of `self.trans`" in diag.message
