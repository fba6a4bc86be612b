"""The instance memo shared by the variants of one family read once (lowering/memo.py,
compose.family_store): a block instance one variant lowered is a copy in the next when all
its body can see is the same, and each variant's graph is the one it has lowered alone."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest

from archspec import api
from archspec.ir import Graph
from archspec.lowering.layer import Binding
from archspec.lowering.walker import Lowerer

#: `scale` is read inside the block, `width` only outside it
FAMILY = textwrap.dedent(
    """\
    archspec: 1
    name: fam
    input: [N, 3, H, W]
    params:
      width: {type: int, default: 8}
      scale: {type: int, default: 1}
      depth: {type: int, default: 2}
    variants:
      small: {params: {depth: 2}}
      large: {params: {depth: 5}}
      wide: {params: {depth: 5, width: 16}}
      scaled: {params: {depth: 5, scale: 2}}
    blocks:
      Unit:
        params: {c: int}
        layers:
          - {name: conv, type: conv2d, out_channels: c * scale, kernel_size: 3, padding: 1}
          - {type: relu}
    layers:
      - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3}
      - {name: stage, type: repeat, count: depth, layer: {type: Unit, c: 8}}
      - {name: head, type: conv2d, out_channels: width, kernel_size: 1}
    """
)
VARIANTS = ["small", "large", "wide", "scaled"]


def _comparable(graph: Graph) -> Any:
    constraints = [
        (c.kind, c.lhs, c.rhs, c.code, c.template, c.hint, c.node) for c in graph.constraints
    ]
    return constraints, dataclasses.replace(graph, constraints=())


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The variant of each real lowering of a `Unit` instance."""
    lowered: list[str] = []
    real = Lowerer.lower_scope

    def counting(self: Lowerer, child: Any, *args: Any, **kw: Any) -> Any:
        if child.block == "Unit":  # the block of every family here
            lowered.append(self.doc.variant)
        return real(self, child, *args, **kw)

    monkeypatch.setattr(Lowerer, "lower_scope", counting)
    return lowered


@pytest.fixture
def family(tmp_path: Path) -> Path:
    path = tmp_path / "fam.yaml"
    path.write_text(FAMILY, encoding="utf-8")
    return path


def test_variants_read_once_share_their_block_instances(
    family: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = [api.build_graph(family, variant=v) for v in VARIANTS]
    lowered = _counting(monkeypatch)
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        shared = [api.build_graph(family, variant=v) for v in VARIANTS]
    assert [_comparable(g) for g in shared] == [_comparable(g) for g in alone]
    # small lowers one Unit (its copy has the same input); large and wide copy it (`width`
    # is read outside the block); scaled reads `scale` = 2 inside the block, so its instances
    # are its own (the second takes 16 channels)
    assert lowered == ["small", "scaled", "scaled"]


def test_variants_that_share_the_memo_share_their_layer_plans(
    family: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How each layer binds (layer.Binding, and the ItemPlan holding it) is worked out by
    the first variant of those that share a memo; scaled has a memo (and plans) of its
    own, and a reading of each variant alone shares nothing."""
    made: list[str | None] = []
    real = Binding.__init__

    def counting(self: Binding, lw: Lowerer, spec: Any) -> None:
        made.append(lw.doc.variant)
        real(self, lw, spec)

    monkeypatch.setattr(Binding, "__init__", counting)
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        for v in VARIANTS:
            api.build_graph(family, variant=v)
    # stem, the Unit's conv and relu, head: once in small, once more in scaled
    assert sorted(made) == ["scaled"] * 4 + ["small"] * 4
    made.clear()
    for v in ("small", "large"):
        api.build_graph(family, variant=v)
    assert made == ["small"] * 4 + ["large"] * 4


def test_a_reading_of_each_variant_alone_shares_nothing(
    family: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lowered = _counting(monkeypatch)
    for v in VARIANTS:
        api.build_graph(family, variant=v)
    assert lowered == ["small", "large", "wide", "scaled", "scaled"]


def test_a_param_set_for_the_reading_reaches_the_key(
    family: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--set scale=3` for one variant and not the next: no copy of the other's instances;
    the same params again: a copy."""
    lowered = _counting(monkeypatch)
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        three = api.build_graph(family, {"scale": 3}, variant="small")
        one = api.build_graph(family, variant="large")
        three_again = api.build_graph(family, {"scale": 3}, variant="large")
    assert lowered == ["small", "small", "large"]
    assert _comparable(three_again) == _comparable(
        api.build_graph(family, {"scale": 3}, variant="large")
    )
    assert _comparable(one) == _comparable(api.build_graph(family, variant="large"))
    assert _comparable(three) == _comparable(api.build_graph(family, {"scale": 3}, variant="small"))


def test_block_param_choices_are_part_of_what_a_block_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block that calls the family's chosen block (`type: block`) differs per variant."""
    text = textwrap.dedent(
        """\
        archspec: 1
        name: pick
        input: [N, 3, 8, 8]
        params:
          block: {type: block, default: A}
        variants:
          a: {params: {block: A}}
          b: {params: {block: B}}
        blocks:
          A:
            layers: [{name: conv, type: conv2d, out_channels: 4, kernel_size: 1}]
          B:
            layers: [{name: conv, type: conv2d, out_channels: 6, kernel_size: 1}]
          Outer:
            layers: [{name: inner, type: block}]
        layers:
          - {name: x, type: Outer}
        """
    )
    path = tmp_path / "pick.yaml"
    path.write_text(text, encoding="utf-8")
    alone = [api.build_graph(path, variant=v) for v in ("a", "b")]
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        shared = [api.build_graph(path, variant=v) for v in ("a", "b")]
    assert [_comparable(g) for g in shared] == [_comparable(g) for g in alone]
    assert shared[1].root.nodes[0].shape[1].value == 6


@pytest.mark.parametrize("name", ["resnet", "densenet", "regnet"])
def test_shipped_families_lower_as_each_variant_alone(name: str) -> None:
    path = api.builtin_dir() / f"{name}.yaml"
    variants = api.family_variants(path)
    alone = [api.build_graph(path, variant=v) for v in variants]
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        shared = [api.build_graph(path, variant=v) for v in variants]
    assert [_comparable(g) for g in shared] == [_comparable(g) for g in alone]


#: with `probe`, the requirement Unit's conv makes (H - 2 >= 1) is recorded before it
PROBED = textwrap.dedent(
    """\
    archspec: 1
    name: probed
    input: [N, 3, H, W]
    params:
      probe: {type: bool, default: true}
    variants:
      with_probe: {params: {probe: true}}
      without: {params: {probe: false}}
    blocks:
      Unit:
        layers: [{name: conv, type: conv2d, out_channels: 4, kernel_size: 3}]
    layers:
      - {name: stem, type: conv2d, out_channels: 4, kernel_size: 1}
      - {name: probe, type: conv2d, out_channels: 4, kernel_size: 3, when: probe}
      - {name: unit, type: Unit, from: stem}
    """
)


def test_a_requirement_met_before_the_instance_is_not_taken_for_granted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """with_probe's Unit found its requirement recorded already (by `probe`), so it records
    none; without the probe, the same instance is lowered again and records it."""
    path = tmp_path / "probed.yaml"
    path.write_text(PROBED, encoding="utf-8")
    alone = [api.build_graph(path, variant=v) for v in ("with_probe", "without")]
    lowered = _counting(monkeypatch)
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        shared = [api.build_graph(path, variant=v) for v in ("with_probe", "without")]
    assert [_comparable(g) for g in shared] == [_comparable(g) for g in alone]
    assert [c.node for c in shared[0].constraints] == ["stem", "stem", "probe", "probe"]
    assert [c.node for c in shared[1].constraints] == ["stem", "stem", "unit.conv", "unit.conv"]
    assert lowered == ["with_probe", "without"]


def test_a_spec_param_a_block_param_hides_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ConvNeXt's CNBlock takes its own `stochastic_depth_prob`: the family's is not what its
    body reads, so variants that differ only there share its instances."""
    text = FAMILY.replace("params: {c: int}", "params: {c: int, scale: {type: int, default: 1}}")
    path = tmp_path / "hidden.yaml"
    path.write_text(text, encoding="utf-8")
    alone = [api.build_graph(path, variant=v) for v in VARIANTS]
    lowered = _counting(monkeypatch)
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        shared = [api.build_graph(path, variant=v) for v in VARIANTS]
    assert [_comparable(g) for g in shared] == [_comparable(g) for g in alone]
    assert lowered == ["small"]


#: E411 is reported once per place: with `first`, `main` grows past the bound where `pre`
#: did, quietly; without it, `main` is where it is reported
GROWING = textwrap.dedent(
    """\
    archspec: 1
    name: grow
    input: [N, 3, H, W]
    params:
      first: {type: bool, default: true}
    variants:
      a: {params: {first: true}}
      b: {params: {first: false}}
    blocks:
      Grow:
        layers:
          - {name: c, type: concat, dim: 2, from: [input, input, input]}
          - {type: maxpool2d, kernel_size: 1, stride: 2}
    layers:
      - {name: pre, type: repeat, count: 20, layer: {type: Grow}, when: first}
      - {name: main, type: repeat, count: 20, layer: {type: Grow}, from: input}
    """
)


def test_an_instance_lowered_after_an_error_reported_once_is_not_shared(
    tmp_path: Path,
) -> None:
    path = tmp_path / "grow.yaml"
    path.write_text(GROWING, encoding="utf-8")
    alone = [api.check(path, variant=v) for v in ("a", "b")]
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        shared = [api.check(path, variant=v) for v in ("a", "b")]
    assert [r.diagnostics for r in shared] == [r.diagnostics for r in alone]
    assert [d.code for r in shared for d in r.diagnostics] == ["E411", "E411"]
