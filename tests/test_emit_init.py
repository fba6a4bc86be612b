"""Source emission, initialisation: `_init_weights` gives compile's weights seed for seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module

from .conftest import spec_source
from .emit_helpers import PROBE, _emitted_class, _load, _same_weights


@pytest.mark.parametrize("zero_last", [True, False])
def test_probe_init_matches_compile_seed_for_seed(zero_last: bool) -> None:
    graph = build_graph(PROBE, {"zero_last": zero_last})
    source = render_module(graph)
    cls = getattr(_load(source, "probe"), graph.class_name)
    torch.manual_seed(7)
    ref = archspec.compile(PROBE, zero_last=zero_last)
    torch.manual_seed(7)
    ours = cls()
    assert _same_weights(ours, ref)
    # zero_last is an argument (its rule is an `if`); width decides the structure: fixed
    torch.manual_seed(7)
    flipped = cls(zero_last=not zero_last)
    torch.manual_seed(7)
    assert _same_weights(flipped, archspec.compile(PROBE, zero_last=not zero_last))
    assert "zero_last" in source and "width: int" not in source
    assert "if self.downsample is not None:" in source
    assert "m.weight is not None" in source  # bn2 is affine in some units only


@pytest.mark.parametrize(
    ("name", "params"),
    [("lenet5", {}), ("resnet18", {}), ("resnet18", {"zero_init_residual": True})],
)
def test_zoo_init_matches_compile_seed_for_seed(name: str, params: dict[str, Any]) -> None:
    torch.manual_seed(3)
    ref = archspec.compile(spec_source(name), **params)
    torch.manual_seed(3)
    ours = _emitted_class(name)(**params)
    assert _same_weights(ours, ref)
    if params:  # the rule did something: the last BN of each block is zero
        assert all(
            not m.bn2.weight.any() for m in ours.modules() if type(m).__name__ == "BasicBlock"
        )


@pytest.mark.parametrize("zero", [True, False])
def test_a_block_param_choice_is_folded_not_an_argument(root: Path, zero: bool) -> None:
    """A family's `block` param has one allowed value once chosen: the emitted class takes no
    such argument, and an init rule on the other block choice is dropped, not left as an
    `if` that can never be true."""
    family = root / "specs" / "resnet.yaml"
    graph = build_graph(family, variant="resnet50")
    assert [p.fixed for p in graph.param_info if p.name == "block"] == [True]
    source = render_module(graph)
    assert "block: str" not in source and "BasicBlock" not in source
    assert "if zero_init_residual:" in source
    cls = getattr(_load(source, "family50"), graph.class_name)
    torch.manual_seed(5)
    ours = cls(zero_init_residual=zero)
    torch.manual_seed(5)
    assert _same_weights(
        ours, archspec.compile(family, variant="resnet50", zero_init_residual=zero)
    )


CLASS_RULE = """\
archspec: 1
name: classrule
input: [N, 3, 8, 8]
blocks:
  Unit:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {name: bn, type: batchnorm2d}
layers:
  - {name: a, type: Unit, c: 4}
  - {name: b, type: Unit, c: 4}
  - {name: bn, type: batchnorm2d}
init:
  - {layers: [conv2d], weight: {normal: {std: 0.5}}}
  - {paths: ["%s"], weight: {constant: 0.5}, bias: zeros}
%s"""


@pytest.mark.parametrize(
    ("glob", "after", "by_class"),
    [
        ("*.bn", "", True),  # every Unit's bn, nothing random after: a loop over Units
        ("a.bn", "", False),  # one Unit's bn only: a path test
        ("*bn", "", False),  # the network's own bn too: a path test
        ("*.bn", "  - {layers: [conv2d], bias: {uniform: {}}}\n", False),  # a draw after it
    ],
)
def test_path_rule_over_a_block_layer_is_a_class_loop_only_when_exact(
    glob: str, after: str, by_class: bool
) -> None:
    """A path rule becomes `if isinstance(m, Unit): ...m.bn...` only where that selects the
    same modules and keeps compile's order of random draws; the weights agree seed for seed."""
    text = CLASS_RULE % (glob, after)
    graph = build_graph(text)
    source = render_module(graph)
    assert ("if isinstance(m, Unit):" in source) is by_class
    assert ("fnmatch" in source) is not by_class
    torch.manual_seed(11)
    ref = archspec.compile(text)
    torch.manual_seed(11)
    ours = getattr(_load(source, "classrule"), graph.class_name)()
    assert _same_weights(ours, ref)


FAN_UNIFORM = """archspec: 1
name: fan_uniform_long
input: [N, 16]
layers:
  - {name: fc, type: linear, out_features: 8}
init:
  - layers: [linear]
    weight:
      uniform:
        a: "-1 / sqrt(out_features * in_features)"
        b: "1 / sqrt(out_features * in_features)"
    bias: zeros
"""


def test_a_long_init_call_is_broken_as_ruff_breaks_it() -> None:
    """EfficientNet's `uniform_(m.weight, -1 / sqrt(out_features), ...)` sits four levels
    deep: the call is broken at its commas, and still gives compile's weights."""
    graph = build_graph(FAN_UNIFORM)
    source = render_module(graph)
    assert max(len(line) for line in source.splitlines()) <= 100
    assert "                nn.init.uniform_(\n                    m.weight,\n" in source
    cls = getattr(_load(source, "fan_uniform_long"), graph.class_name)
    torch.manual_seed(3)
    ref = archspec.compile(FAN_UNIFORM)
    torch.manual_seed(3)
    assert _same_weights(cls(), ref)
