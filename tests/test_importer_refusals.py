"""A refusal of `archspec import` is one located error per problem, saying what the
statement computes and what to write instead: an assertion on sizes that no kind states
(timm's HaloAttn: `_assert(H % self.block_size == 0, '')`) is one E903 at the assertion,
not one per operator of its condition, and an attribute taken from a refused result
(`.values`) is not reported again."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


def refusals(model: nn.Module, shape: tuple[int, ...]) -> list:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.rand(shape))
    return info.value.diagnostics


def line_of(cls: type, text: str) -> int:
    lines, start = inspect.getsourcelines(cls.forward)
    return start + next(i for i, line in enumerate(lines) if text in line)


class Divisible(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.block = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        torch._assert(h % self.block == 0, "")
        torch._assert(w % self.block == 0, "")
        return self.conv(x)


def test_an_assertion_on_sizes_no_kind_states_is_one_error_at_it() -> None:
    """It was three E903s for each statement ('operator `mod`', 'operator `eq`',
    '`torch._assert`'), none saying what to do."""
    found = refusals(Divisible(), (1, 3, 8, 8))
    assert [(d.code, d.span.line) for d in found] == [
        ("E903", line_of(Divisible, "h % self.block")),
        ("E903", line_of(Divisible, "w % self.block")),
    ]
    assert "`torch._assert` of a condition on sizes" in found[0].message
    assert "`%`, `==`" in found[0].message
    assert "remove the assertion" in found[0].hint


class Chained(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).cummax(1).values
        z = torch.cumsum(x, 1)
        return y + z.sum(1, keepdim=True)


def test_an_attribute_of_a_refused_result_is_not_reported_again() -> None:
    """`.values` of a refused call was a second E903 ('the tensor attribute `.values`'), and
    at the wrong line: fx records an attribute read where its value is used (the return).
    An item taken from a refused result (`[0]`, `.values`) only follows from that refusal;
    a later statement's own refusal still shows."""
    found = refusals(Chained(), (1, 3, 8, 8))
    assert [(d.code, d.span.line) for d in found] == [
        ("E903", line_of(Chained, "cummax")),
        ("E903", line_of(Chained, "torch.cumsum")),
    ]
    assert "cummax" in found[0].message


class TimesASize(nn.Module):
    def __init__(self, form: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.form = form

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.shape[2]
        y = self.conv(x)
        if self.form == "mul":
            return y * h
        if self.form == "mod":
            return y % h
        return y + (h > 2)


@pytest.mark.parametrize(
    ("form", "says", "statement"),
    [
        ("mul", "the operator `mul` reads `getitem`, computed from sizes", "return y * h"),
        ("mod", "no layer kind computes the operator `mod`", "return y % h"),
        ("gt", "the operator `add` reads `gt`, computed from sizes", "return y + (h > 2)"),
    ],
)
def test_a_tensor_step_reading_a_size_is_refused_at_its_statement(form, says, statement) -> None:
    """`y * h` was E904 'forward returns a Node, not one tensor' at the return: the step
    was taken for size arithmetic and left out. Arithmetic and comparisons are sizes only
    when every value they read is one."""
    (found,) = refusals(TimesASize(form), (1, 3, 8, 8))
    assert found.code == "E903" and says in found.message
    assert found.span.line == line_of(TimesASize, statement)
