"""A child called with tensors for arguments its forward has defaults for (DLA's
`self.tree1(x, shortcut)`, `shortcut=None`): a block of the inputs the call passes.

The reference is a DLA-like network in plain torch, written here: a Tree called with its
`residual` by keyword, positionally, and not at all, holding a Basic block called with and
without its `shortcut`. The import must compile back to the same keys, in the same order,
computing the same outputs, and emit the module compile builds.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import archspec
from archspec.importer import ImportFailure

from .emit_helpers import matches_compile
from .test_importer import roundtrip


class Basic(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor | None = None, scale: float = 1.0):
        if shortcut is None:
            shortcut = x
        return torch.relu(self.bn(self.conv(x)) * scale + shortcut)


class Tree(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(cin, cout, 1, bias=False)
        self.tree1 = Basic(cin, cout)
        self.tree2 = Basic(cout, cout)
        self.root = nn.Conv2d(2 * cout, cout, 1)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        x1 = self.tree1(x, self.project(x))
        out = self.root(torch.cat([self.tree2(x1, scale=1.0), x1], 1))
        if residual is not None:
            out = out + residual
        return out


class Dla(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.level1 = Tree(8, 8)
        self.level2 = Tree(8, 16)
        self.level3 = Tree(16, 16)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.level1(x, residual=x)
        x = self.level2(x)
        return self.pool(self.level3(x, x))


def _imported(model: nn.Module) -> str:
    return archspec.from_module(model.eval(), torch.randn(1, 3, 16, 16))


def test_a_tree_called_with_and_without_its_residual_round_trips() -> None:
    text = roundtrip(Dla(), (2, 3, 12, 20))  # keys in order, shapes, outputs, params, MACs
    # one block per set of tensors passed: Tree reads [x, residual], Tree_2 its input alone
    assert "  Tree:\n" in text and "  Tree_2:\n" in text
    assert "    inputs: [x, residual]\n" in text and "    inputs: [x, shortcut]\n" in text
    assert "{name: level1, type: Tree, from: [stem, stem]}" in text
    assert "{name: level2, type: Tree_2}" in text
    assert "{name: level3, type: Tree, from: [level2, level2], out_channels: 16}" in text
    assert "type: Basic, from: [input, project]" in text
    matches_compile(text, (2, 3, 12, 20))  # emit builds compile's module


class _Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor, *, gate: torch.Tensor | None = None, scale: int = 2):
        y = self.conv(x)
        return (y * gate if gate is not None else y) * scale


class _CallsGated(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.pre, self.child, self.how = nn.Conv2d(3, 3, 1), _Gated(), how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pre(x)
        if self.how == "keyword":
            return self.child(p, gate=x, scale=2)
        if self.how == "value":
            return self.child(p, gate=x, scale=3)
        return self.child(p, gate=[x, p])


def test_a_keyword_only_tensor_is_an_input_in_the_order_forward_takes_it() -> None:
    text = roundtrip(_CallsGated("keyword"), (1, 3, 5, 7))
    assert "    inputs: [x, gate]\n" in text
    assert "{name: child, type: Gated, from: [pre, input]}" in text


def test_another_value_for_a_defaulted_argument_stays_refused() -> None:
    lines, first = inspect.getsourcelines(_CallsGated.forward)
    line = first + next(i for i, text in enumerate(lines) if text.rstrip().endswith("scale=3)"))
    with pytest.raises(ImportFailure) as info:
        _imported(_CallsGated("value"))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904", info.value.render()
    assert "calls `self.child` with scale=3 (its default: 2) besides its tensor" in diag.message
    assert diag.span.line == line, info.value.render()


def test_a_list_for_an_argument_is_traced_as_its_items_and_refused_where_misused() -> None:
    """A list of tensors is an input per item (tests/test_importer_timm25.py); the child's
    forward then multiplies a tensor by the list, which is refused at that statement."""
    lines, first = inspect.getsourcelines(_Gated.forward)
    line = first + next(i for i, text in enumerate(lines) if "y * gate" in text)
    with pytest.raises(ImportFailure) as info:
        _imported(_CallsGated("list"))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903", info.value.render()
    assert diag.span.line == line, info.value.render()


class _TwoInputNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tree = Tree(3, 3)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.tree(x, residual)


def test_a_network_whose_own_forward_takes_several_tensors_takes_one_example_each() -> None:
    """With one example tensor it is refused (it was refused with any: a spec had no form
    for it); with one per input it imports to `inputs:`, its residual a block's input."""
    with pytest.raises(ImportFailure) as info:
        _imported(_TwoInputNet())
    assert info.value.error_code == "E904", info.value.render()
    said = "_TwoInputNet.forward takes 2 inputs (x, residual), and 1 example was given"
    assert said in str(info.value)
    model = _TwoInputNet().eval()
    text = archspec.from_module(model, (torch.randn(1, 3, 16, 16), torch.randn(1, 3, 16, 16)))
    assert "inputs:\n  x: [N, 3, 16, 16]\n  residual: [N, 3, 16, 16]\n" in text
    assert "from: [x, residual]" in text  # the first input by its name
