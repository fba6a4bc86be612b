"""nanoGPT's forward as written: `assert t <= self.config.block_size` before its position
ids. The assertion was E903 ('a condition on sizes read in forward (`<=`) that no kind
states'), so nanoGPT's own model did not import; the spec's domain implies it (the ids cut
from a buffer of block_size positions give `L <= block_size`), and now it imports exactly.
An assertion the domain does not imply is still E903, at its line (importer/bounds.py)."""

from __future__ import annotations

import inspect

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError
from tests.import_bounds_models import AssertingGPT, BoundedMap
from tests.newuser36.facts import state_dict_facts
from tests.newuser40.cases import example
from tests.parity.weights import fill_deterministic


def _assert_line(cls: type) -> int:
    lines, first = inspect.getsourcelines(cls.forward)
    return first + next(i for i, line in enumerate(lines) if "assert t <=" in line)


@pytest.mark.parametrize("reverse", [False, True])
def test_nanogpt_with_its_assertion_imports_exactly(reverse: bool) -> None:
    reference = AssertingGPT(reverse=reverse).eval()
    reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
    text = archspec.from_module(reference, example((2, 11), "int64") % 500)
    assert "accepts (N, L) int64 with 1 <= L <= 16" in archspec.check(text).domain_text
    model = archspec.compile(text).eval()
    assert state_dict_facts(model.state_dict()) == state_dict_facts(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    for shape in [(2, 11), (1, 16), (1, 1)]:
        tokens = example(shape, "int64") % 500
        with torch.no_grad():
            assert torch.equal(model(tokens), reference(tokens))
    # past the bound, both refuse: the model by its assertion, the spec by its domain
    with pytest.raises(AssertionError):
        reference(torch.zeros(1, 17, dtype=torch.int64))
    assert not archspec.check(text, input=[1, 17]).ok


def test_a_bound_the_domain_does_not_imply_is_e903_at_the_assertion() -> None:
    # the ids allow 16 positions; the forward refuses more than 8: a spec cannot say so
    model = AssertingGPT(bound=8).eval()
    with pytest.raises(ArchSpecError) as caught:
        archspec.from_module(model, example((2, 5), "int64") % 500)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E903"
    assert "asserts dim 1 <= 8 of its input" in diagnostic.message
    assert "1 <= L <= 16" in diagnostic.message
    assert diagnostic.span.line == _assert_line(AssertingGPT)
    assert "remove the assertion" in (diagnostic.hint or "")


def test_a_bound_on_a_size_no_layer_bounds_is_refused() -> None:
    with pytest.raises(ArchSpecError) as caught:
        archspec.from_module(BoundedMap().eval(), torch.randn(1, 3, 16, 16))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E903"
    assert "asserts dim 2 <= 64 of its input" in diagnostic.message
