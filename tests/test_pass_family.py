"""The passes keep what they find in a subtree for the other variants of a family checked
together (passes/family.py): each variant's report, footprint and W402 warnings are what
checking it alone gives, and a walk kept in one variant is replayed in another only when it
adds there what walking it would."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from archspec import api
from archspec.passes import costs, shapes, walkmemo
from archspec.passes.family import family_memo, shared_findings

SPECS = Path(__file__).resolve().parent.parent / "specs"

#: `side` makes the requirement `H - 4 >= 1` before Unit's conv makes it again; the instance
#: of Unit is one lowering for both variants (at the declared sizes it records no requirement)
SIDE = textwrap.dedent(
    """\
    archspec: 1
    name: side_fam
    input: [N, 3, 32, 32]
    params:
      side: {type: bool, default: false}
    variants:
      with_side: {params: {side: true}}
      without: {params: {side: false}}
    blocks:
      Unit:
        layers:
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3}
          - {type: relu}
    layers:
      - {name: side, type: conv2d, out_channels: 8, kernel_size: 5, when: side}
      - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, from: input}
      - {name: unit, type: Unit}
    """
)

#: the same instance of Unit, the heaviest layer, named unit1 in one variant, unit2 in the other
RENAMED = textwrap.dedent(
    """\
    archspec: 1
    name: renamed
    input: [N, 3, 32, 32]
    params:
      first: {type: int, default: 1}
    variants:
      one: {params: {first: 1}}
      two: {params: {first: 2}}
    blocks:
      Unit:
        layers:
          - {name: conv, type: conv2d, out_channels: 64, kernel_size: 3, padding: 1}
          - {type: relu}
    layers:
      - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {type: repeat, count: 1, flat: true, names: "unit{i + first}", layer: {type: Unit}}
    """
)


def _report(path: Path, variant: str, given: tuple[int, ...] | None) -> Any:
    result = api.check(path, variant=variant, input=given)
    graph = api.build_graph(path, variant=variant)
    fp = costs.footprint(graph)
    largest = fp.largest and (fp.largest[0], fp.largest[1].span, fp.largest[2])
    lint = shapes.window_warnings(shapes.declared_shapes(graph))
    return (
        result.to_dict(),
        result.render(),
        (fp.params, fp.buffers, fp.activations, largest),
        [d.render({}) for d in lint],
    )


def _cross_replays(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each kept walk tried came from another walk, for those that fit."""
    tried: list[bool] = []
    real = walkmemo.Kept.fits

    def fits(self: walkmemo.Kept, ctx: Any) -> bool:
        ok = real(self, ctx)
        if ok:
            tried.append(self.walk is not ctx.walk)
        return ok

    monkeypatch.setattr(walkmemo.Kept, "fits", fits)
    return tried


@pytest.mark.parametrize(
    ("name", "given"), [("resnet", None), ("resnet", (1, 3, 64, 64)), ("vgg", None)]
)
def test_a_family_checked_together_reports_what_each_variant_alone_does(
    name: str, given: tuple[int, ...] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = SPECS / f"{name}.yaml"
    variants = api.family_variants(path)
    assert variants
    alone = [_report(path, v, given) for v in variants]
    replays = _cross_replays(monkeypatch)
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        together = [_report(path, v, given) for v in variants]
    assert together == alone
    assert any(replays)  # a walk kept in one variant was replayed in another


def test_a_requirement_made_before_the_kept_walk_is_made_in_the_next_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In `with_side` Unit's conv makes nothing new (`side` made `H - 4 >= 1`), so replaying
    that walk in `without` would leave its domain at H, W >= 3."""
    path = tmp_path / "side_fam.yaml"
    path.write_text(SIDE)
    refused = []
    real = walkmemo.Kept.fits
    monkeypatch.setattr(
        walkmemo.Kept,
        "fits",
        lambda self, ctx: real(self, ctx) or refused.append(self.module.block) or False,
    )
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        texts = [api.check(path, variant=v).domain_text for v in ("with_side", "without")]
    assert texts == [
        "with_side accepts (N, 3, H, W) with H, W >= 5",
        "without accepts (N, 3, H, W) with H, W >= 5",
    ]
    assert "Unit" in refused


def test_a_walk_that_read_the_requirements_in_force_stays_in_its_walk() -> None:
    """A join asks whether an earlier requirement pinned a size: another walk holds others."""
    seen: set[Any] = set()
    here, there = object(), object()
    kept = walkmemo.Kept(None, "a", 1, (), (), (), (), here, True)  # type: ignore[arg-type]
    assert kept.fits(type("Ctx", (), {"walk": here, "seen": seen})())
    assert not kept.fits(type("Ctx", (), {"walk": there, "seen": seen})())
    shared = walkmemo.Kept(None, "a", 1, (), (), (), (), here, False)  # type: ignore[arg-type]
    assert shared.fits(type("Ctx", (), {"walk": there, "seen": seen})())


def test_the_heaviest_layer_of_a_counted_copy_is_named_at_its_own_path(tmp_path: Path) -> None:
    path = tmp_path / "renamed.yaml"
    path.write_text(RENAMED)
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        graphs = [api.build_graph(path, variant=v) for v in ("one", "two")]
        assert graphs[1].root.nodes[1].child.copy_of is graphs[0].root.nodes[1].child
        inside = [costs.footprint(g) for g in graphs]
    assert [fp.largest[0] for fp in inside if fp.largest] == ["unit1.conv", "unit2.conv"]
    assert [(fp.params, fp.activations) for fp in inside] == [
        (fp.params, fp.activations) for fp in map(costs.footprint, graphs)
    ]


def test_the_store_lives_inside_the_scope_only() -> None:
    assert family_memo("walks") is None
    with shared_findings():
        store = family_memo("walks")
        assert store is not None and family_memo("walks") is store
        with shared_findings():  # a family inside another keeps its own
            assert family_memo("walks") is not store
        assert family_memo("walks") is store
    assert family_memo("walks") is None


def test_a_subtree_counted_after_a_symbol_is_counted_again_for_the_family() -> None:
    """Once a layer leaves a symbol (no activation total), a subtree's activations are not
    counted: that subtree is not kept for the other variants, whose totals are known."""
    graph = api.build_graph("lenet5")
    body = next(n.child for n in graph.root.nodes if n.child is not None)
    assert body is not None
    with shared_findings():
        blind = costs._FootprintWalk({"N": 1})
        blind.activations = None  # as after a layer that left a symbol
        blind.module(body, "body")
        counted = costs._FootprintWalk({"N": 1})
        counted.module(body, "body")
    alone = costs._FootprintWalk({"N": 1})
    alone.module(body, "body")
    assert counted.activations == alone.activations is not None
    assert (counted.params, counted.largest) == (alone.params, alone.largest)


def test_the_lint_checks_a_module_another_variant_found_clean_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from archspec.passes import verify

    path = SPECS / "resnet.yaml"
    variants = api.family_variants(path)
    checked: list[object] = []
    real = verify._check_module

    def counting(module: Any, *args: Any) -> bool:
        checked.append(module.copy_of or module)
        return real(module, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(verify, "_check_module", counting)
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        graphs = [api.build_graph(path, variant=v) for v in variants]
    together = len(checked)
    assert len({id(m) for m in checked}) == together  # no original checked twice
    checked.clear()
    for graph in graphs:
        verify.verify(graph)
    assert together < len(checked)
