"""A block whose layers a str param chooses (ConvBNAct's `act`) is one emitted class: an
nn.Sequential built from a list, each choice appended under its `if`, as torchvision's
Conv2dNormActivation; choices no instance of the file makes are refused, not guessed."""

from __future__ import annotations

import ast

import pytest
import torch

import archspec
from tests.emit_helpers import _load

CHOICES = """archspec: 1
name: t
input: [N, 4, 10, 10]
blocks:
  ConvAct:
    params:
      out_channels: int
      act: {type: str, default: relu, choices: [relu, relu6, hardswish, none]}
    layers:
      - {type: conv2d, out_channels: out_channels, kernel_size: 3, padding: 1}
      - {type: relu, when: "act == 'relu'"}
      - {type: relu6, when: "act == 'relu6'"}
      - {type: hardswish, when: "act == 'hardswish'"}
  Pair:
    params:
      width: int
      act: {type: str, choices: [relu, relu6, hardswish, none]}
    layers:
      - {type: ConvAct, out_channels: width, act: act}
      - {type: ConvAct, out_channels: width, act: none}
layers:
  - {type: ConvAct, out_channels: 8}
  - {type: ConvAct, out_channels: 8, act: hardswish}
  - {type: Pair, width: 6, act: relu}
  - {type: Pair, width: 6, act: hardswish}
"""


def _classes(source: str) -> dict[str, list[str]]:
    """Each class's name and base-class texts."""
    return {
        n.name: [ast.unparse(b) for b in n.bases]
        for n in ast.parse(source).body
        if isinstance(n, ast.ClassDef)
    }


def test_a_choice_of_layers_is_one_sequential_class() -> None:
    source = archspec.emit(CHOICES)
    assert _classes(source) == {
        "ConvAct": ["nn.Sequential"],
        "Pair": ["nn.Sequential"],  # a chain of two modules (named children)
        "T": ["nn.Module"],
    }
    assert 'if act == "relu":\n            layers.append(nn.ReLU(' in source
    assert 'if act == "hardswish":\n            layers.append(nn.Hardswish(' in source
    assert "super().__init__(*layers)" in source
    # the parent passes its own param on: one Pair class for both choices
    assert "ConvAct(in_channels, width, act=act)" in source
    module = _load(source, "choices")
    emitted = module.T()
    torch.manual_seed(0)
    compiled = archspec.compile(CHOICES)
    assert list(emitted.state_dict()) == list(compiled.state_dict())
    emitted.load_state_dict(compiled.state_dict(), strict=True)
    x = torch.randn(2, 4, 10, 10)
    torch.testing.assert_close(emitted.eval()(x), compiled.eval()(x))


def test_a_choice_no_instance_makes_is_refused() -> None:
    module = _load(archspec.emit(CHOICES), "refused")
    assert len(module.ConvAct(4, 8, act="none")) == 1
    assert isinstance(module.ConvAct(4, 8)[1], torch.nn.ReLU)
    with pytest.raises(ValueError, match="emitted without the layers"):
        module.ConvAct(4, 8, act="relu6")


def test_one_choice_in_the_file_is_fixed_rather_than_refused() -> None:
    """With a single value used, the class is built for it: no argument, no refusal."""
    text = CHOICES.replace("act: hardswish}", "act: relu}").replace("act: none}", "act: relu}")
    text = text.replace("  - {type: ConvAct, out_channels: 8}\n", "")
    source = archspec.emit(text)
    assert "raise ValueError" not in source
    assert "act ==" not in source
