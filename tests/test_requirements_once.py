"""The shape pass records each requirement once (passes/shapes.py `_Collect.once_key`): the
domain, the training-mode domain and the requirement that empties the domain come out as
they do when every layer's copy is recorded."""

from __future__ import annotations

import pytest

import archspec
from archspec.passes import shapes
from archspec.passes.pipeline import analyse

#: A training-only pool on the stem, then the same pool in eval mode: the same requirement
#: made first by a layer that eval mode does not run. A key without the mode would drop
#: the eval one, and eval mode would seem to take any size the stem takes.
TRAIN_FIRST = """archspec: 1
name: train_first
input: [N, 3, 32, 32]
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2}
  - {name: aux, type: avgpool2d, kernel_size: 5, stride: 3, train_only: true}
  - {name: pool, type: avgpool2d, kernel_size: 5, stride: 3, from: stem}
outputs: [pool, aux]
"""

#: No input works: `e` wants W - 4 == 9 after `c` wanted 7 (E410 names `e`), and `d`
#: repeats a requirement of `b` in between.
EMPTY = """archspec: 1
name: empty
input: [N, 3, H, W]
layers:
  - {name: a, type: conv2d, out_channels: 8, kernel_size: 3}
  - {name: b, type: conv2d, out_channels: 8, kernel_size: 3}
  - {name: c, type: linear, out_features: 4, in_features: 7}
  - {name: d, type: conv2d, out_channels: 8, kernel_size: 1, from: b}
  - {name: e, type: linear, out_features: 4, in_features: 9, from: b}
outputs: [c, d, e]
"""


def _every_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes._Collect, "wants", lambda self, kind, lhs, rhs: True)


def test_a_requirement_is_recorded_once_where_it_is_first_made() -> None:
    graph = archspec.build_graph("resnet50")
    table = analyse(graph).general
    assert table is not None
    keys = [(c.constraint.kind, c.constraint.lhs, c.constraint.rhs) for c in table.constraints]
    assert len(keys) == len(set(keys)) > 0
    # layer1's extent is required positive by the stem's pool first, by none of its convs
    assert table.constraints[0].path.startswith(("conv1", "maxpool"))


@pytest.mark.parametrize("spec", ["resnet50", "inception_v3", "googlenet", TRAIN_FIRST, EMPTY])
def test_the_results_are_those_of_every_copy(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    once = archspec.check(spec)
    _every_copy(monkeypatch)
    every = archspec.check(spec)
    assert once.domain_text == every.domain_text
    assert [d.render({}) for d in once.diagnostics] == [d.render({}) for d in every.diagnostics]


def test_the_mode_is_part_of_a_requirement() -> None:
    result = archspec.check(TRAIN_FIRST)
    assert result.domain_text == "train_first accepts (N, 3, H, W) with H, W >= 11"
    assert result.train_domain is None  # training mode needs no more than eval mode


def test_the_emptying_requirement_is_named() -> None:
    (error,) = archspec.check(EMPTY).errors
    assert error.code == "E410" and "e:" in error.message
