"""Networks archspec does not ship, written from the docs alone by a new user (session 43,
helper h43d: tests/h43d/*.yaml), each against the same network written by hand in plain
PyTorch as its public repo writes it (tests/h43d/references.py): ElementAI's N-BEATS (generic
blocks of two outputs, the series read newest first by `flip`), NeuMF (two int64 inputs,
GMF and MLP paths), DCN-V2 (per-field embeddings keyed `embeddings.{i}`, DeepCTR-Torch's
CrossNet of one kernels tensor), pygcn's GCN (a node feature and an adjacency input,
parameters multiplied by `matmul`), the Set Transformer (heads cut onto the batch dim and
back, inducing points and seeds repeated over the batch) and a stacked hourglass (its levels
as blocks, every Residual holding its skip_layer, the stacks' heatmaps stacked). Each spec is
checked, compiled and emitted and compared with its reference: parameter count, state_dict
keys, shapes and dtypes in order, strict loads both ways, float64 outputs equal to the bit
at each call (the edge of the stated domain among them) and the record of reference.json
(make_fixture.py); a call outside the domain is refused by check and by torch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.h43d import references
from tests.h43d.cases import CASES, FIXTURE, HERE, make_input
from tests.reference_nets import ReferenceFolder

FOLDER = ReferenceFolder(references, CASES, FIXTURE, HERE, make_input, seeded=False)

#: The cases whose test costs more than ~3 s of CPU here (the hourglass's many blocks).
HEAVY = {"hourglass"}


def _params(case: str) -> Any:
    marks = [pytest.mark.heavy] if case in HEAVY else []
    return pytest.param(case, marks=marks, id=case)


def test_every_spec_of_the_folder_has_a_case() -> None:
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(CASES)
    assert sorted(json.loads(FIXTURE.read_text(encoding="utf-8"))) == sorted(CASES)


@pytest.mark.parametrize("name", [_params(n) for n in sorted(CASES)])
def test_the_spec_is_the_hand_written_network(name: str) -> None:
    FOLDER.assert_is_reference(name)


@pytest.mark.parametrize("name", [_params(n) for n in sorted(CASES)])
def test_check_input_agrees_with_torch_at_the_edges(name: str) -> None:
    """Each call's shapes (the smallest accepted among them) are accepted by `check
    --input`, and the call outside is refused by check with an error and by torch."""
    case = FOLDER.cases[name]
    expected = len(case["calls"]) + (case["outside"] is not None)
    assert FOLDER.assert_edges(name, (RuntimeError,)) == expected
