"""The domain is what eval mode accepts: a branch that runs only in training (an auxiliary
classifier) does not narrow it. Its own needs give the training-mode domain, shown beside
it, and an input only eval mode takes is a warning (W404), not an error. Both domains are
compared with forward passes on the meta device, in eval and in training mode."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.dims import format_shape

#: An eval head that takes any size after the stem, and an aux head on the stem's output
#: that needs a 5x5 map for its pool and then a 3x3 one for its conv (training only).
AUX = """archspec: 1
name: aux_net
input: [N, 3, 32, 32]
params:
  aux: true
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2}
  - {name: head, type: conv2d, out_channels: 8, kernel_size: 1}
  - {name: aux_head, type: sequential, from: stem, when: aux, train_only: true, layers: [
      {type: avgpool2d, kernel_size: 5, stride: 3},
      {type: conv2d, out_channels: 4, kernel_size: 3},
      {type: adaptive_avgpool2d, output_size: 1},
      {type: flatten}]}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1, from: head}
  - {name: flatten, type: flatten}
outputs: [flatten, aux_head]
"""


def _runs(model: torch.nn.Module, side: int, training: bool) -> bool:
    model.train(training)
    try:
        model(torch.empty(1, 3, side, side, device="meta"))
    except RuntimeError:
        return False
    return True


def test_the_domain_is_eval_modes_and_training_mode_is_shown_beside_it() -> None:
    result = archspec.check(AUX)
    assert result.ok and not result.warnings
    assert result.domain_text == (
        "aux_net accepts (N, 3, H, W) with H, W >= 3 (in training mode, H, W >= 23)"
    )
    assert result.train_domain is not None
    model = archspec.compile(AUX, device="meta")
    checked = 0
    for side in range(1, 40):
        point = {"N": 1, "H": side, "W": side}
        assert result.domain.contains(point) == _runs(model, side, training=False), side
        assert result.train_domain.contains(point) == _runs(model, side, training=True), side
        checked += 1
    assert checked == 39


def test_an_input_only_eval_mode_takes_is_a_warning_at_the_training_only_layer() -> None:
    result = archspec.check(AUX, input=(1, 3, 8, 8))
    assert result.ok
    (warning,) = result.warnings
    assert warning.code == "W404"
    assert warning.message.startswith("in training mode, aux_head.0: avgpool2d makes the H extent")
    assert warning.span is not None and warning.span.line == 10
    assert "training mode needs H, W >= 23" in (warning.hint or "")
    assert [format_shape(s) for s in result.outputs] == ["(1, 8)"]
    assert "aux_head" not in result.shapes and "aux_head.0" not in result.shapes
    assert archspec.check(AUX, input=(1, 3, 23, 23)).warnings == []


@pytest.mark.parametrize("side", [1, 2])
def test_an_input_eval_mode_refuses_is_still_an_error(side: int) -> None:
    result = archspec.check(AUX, input=(1, 3, side, side))
    assert [d.code for d in result.errors] == ["E405"]
    assert result.errors[0].message.startswith("stem: conv2d makes the H extent 0")


def test_without_the_training_only_branch_there_is_one_domain() -> None:
    result = archspec.check(AUX, aux=False)
    assert result.train_domain is None
    assert result.domain_text == "aux_net accepts (N, 3, H, W) with H, W >= 3"
