"""Copies of one layer, as `repeat` and `for_each` make them: in a Sequential of their own,
spliced flat into the enclosing list, or one Sequential per table row; named by position or
by a name template (`denselayer{i + 1}`).

Each copy is an Item of the same layer spec with its own names in scope (`i`, a row's
fields, ...), so lowering, shapes and emitted code treat it like any written node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..expr import ExprError
from ..ir import AttrExpr, Loop, Node
from ..loader import PathKey
from ..lowering.context import Child, Item, Site, Skip, when_text
from ..lowering.exprs import text_expr
from ..ops.base import NodeBase
from ..ops.names import check_name
from ..ops.templates import MAX_TEMPLATE_LEN, TEMPLATE_PART, filled, template_parts

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer

#: how to name the rows' Sequentials, which `names` under `group_rows` does not
_GROUP_NAMES = (
    "to name those (`layer1`, `layer2`, RegNet's `block1`), loop over the rows with a `repeat` "
    "whose `names` names them"
)


class RowCopies(NodeBase):
    """One table row's copies grouped in a Sequential (`group_rows: true`); made by lowering,
    never written in a spec, and lowered by the construct of its `type`."""

    type: Literal["repeat", "for_each"]
    copies: list[Any]


def check_template(text: str) -> str:
    """A name template's syntax: text with `{expression}` parts (schema validator)."""
    too_long = f"a name template is at most {MAX_TEMPLATE_LEN} characters"
    if not template_parts(text, "name template", text, too_long):
        raise ValueError(
            f"name template {text!r} has no `{{expression}}` part: every copy would get the "
            "same name"
        )
    return text


def copy_name(lw: Lowerer, template: str, env: Mapping[str, Any], ypath: PathKey) -> str:
    """The name a template gives one copy; E309/E204 (and Skip) for a bad one."""

    try:
        name = filled(template, env)
    except ExprError as exc:
        lw.error(exc.code, f"name template: {exc.message}", ypath, exc.hint)
        raise Skip from None
    except ValueError as exc:
        lw.error("E309", f"name template: {exc}", ypath, "a template part gives a number or text")
        raise Skip from None
    from ..schema import module_name_problem  # schema.py imports the constructs

    try:
        check_name(name)
        problem = module_name_problem(name)
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:
        lw.error(
            "E204",
            f"name template {template!r} gives {name[:80]!r} here: {problem}",
            ypath,
            "copies' names become attributes and state_dict keys: make the template give "
            "identifiers (`block{i}`, not `{i}block`)",
        )
        raise Skip
    return name


def lower_copies(
    lw: Lowerer,
    site: Site,
    rows: Sequence[Sequence[Mapping[str, Any]]],
    structure: Sequence[Any],
) -> str | None:
    """Lower the copies of `site.spec.layer`, one env per copy, grouped by row.

    `structure` are the spec texts that decided how many copies there are (recorded as
    switches, so emitted code does not take the params they read as arguments).
    """
    spec, item = site.spec, site.item
    if spec.names is not None and getattr(spec.layer, "key", None) is not None:
        hint = "keep one: `key` when the names are not identifiers (`block{i}-0`), else `names`"
        if getattr(spec, "group_rows", False):
            # RegNet's trunk_output.block1 holding block1-0, ...: `names` meant for the groups
            hint = (
                "with `group_rows`, `names` names the copies too, not the rows' Sequentials; "
                + _GROUP_NAMES
                + " and an inner `repeat` whose layer has the `key` "
                "(docs/spec-language.md, 'Stages with names of their own')"
            )
        lw.error(
            "E204",
            "the copies are named by `names` and by their layer's `key`",
            item.ypath + ("layer", "key"),
            hint,
        )
        raise Skip
    # a template's parts decide names, which emitted code writes as they are: structure too
    parts = TEMPLATE_PART.findall(spec.names) if spec.names is not None else []
    site.scope.switches += [("", raw) for raw in [*structure, *parts] if isinstance(raw, str)]
    grouped = bool(getattr(spec, "group_rows", False))
    # for_each's `layer` may be a list of alternatives, each switched by its `when`: every
    # copy tries them all under the copy's name (EfficientNetV2's FusedMBConv or MBConv rows)
    alternatives = (
        [(alt, item.ypath + ("layer", j)) for j, alt in enumerate(spec.layer)]
        if isinstance(spec.layer, list)
        else [(spec.layer, item.ypath + ("layer",))]
    )

    # Copies in a Sequential of their own are named 0, 1, ... (whatever `when` leaves
    # out); flat ones take their place in the enclosing list, as written layers do.
    numbered = not spec.flat or grouped

    def copy_items(row: Sequence[Mapping[str, Any]], first: int, given: set[str]) -> list[Item]:
        out = []
        for k, env in enumerate(row):
            name = str(first + k) if numbered else None
            if spec.names is not None:
                name = copy_name(lw, spec.names, {**site.env, **env}, item.ypath + ("names",))
                if name in given:
                    _same_name(lw, spec.names, name, item.ypath + ("names",), grouped)
                given.add(name)
            out += [Item(alt, yp, env, name) for alt, yp in alternatives]
        return out

    if grouped:
        groups = [copy_items(row, 0, set()) for row in rows]
        items = [
            Item(RowCopies.model_construct(type=spec.type, copies=g), item.ypath) for g in groups
        ]
    else:
        items, first, given = [], 0, set()
        for row in rows:
            items += copy_items(row, first, given)
            first += len(row)
    if not spec.flat:
        return lw.lower_child(site, Child(items, "Sequential"))
    return splice(lw, site, items)


def _same_name(lw: Lowerer, template: str, name: str, ypath: PathKey, grouped: bool) -> None:
    """E304 (and Skip) for a `names` template that gives two copies one name; under
    `group_rows` it was likely meant for the rows' Sequentials, which it does not name."""
    hint = "make the template read the copy's index (`block{i + 1}`)"
    if grouped:
        hint += (
            "; with `group_rows` it names each row's copies, not the rows' Sequentials: "
            f"{_GROUP_NAMES} (docs/spec-language.md, 'Stages with names of their own')"
        )
    lw.error("E304", f"name template {template!r} gives `{name}` to two copies", ypath, hint)
    raise Skip


def splice(lw: Lowerer, site: Site, items: list[Item]) -> str:
    """Flat copies: each an item of the enclosing list, reading the one before it."""
    if site.spec.name is not None:
        lw.error(
            "E204",
            "a flat repeat makes no module of its own, so it takes no `name`",
            site.ypath + ("name",),
            "name the copies with `names:` (a template such as `block{i + 1}`), or drop "
            "`flat: true` to get one Sequential of that name",
        )
        raise Skip
    lw.one_input(site, "a flat repeat reads one input")
    if site.spec.when is not None:
        site.scope.switches.append(("", when_text(site.spec.when)))
    prev = site.inputs[0]
    first = len(site.scope.nodes)
    for it in items:
        prev = lw.lower_item(it, site.scope, site.env, prev) or prev
    record_loop(lw, site, site.scope.nodes[first:], len(items))
    return prev


def record_loop(lw: Lowerer, site: Site, made: Sequence[Node], copies: int) -> None:
    """Record a named `repeat`'s copies as an `ir.Loop` of the module they were spliced
    into, when each copy is one node reading the one before, or all of them one input
    (MixNet's kernels): what a `for` loop of `add_module` calls in emitted code builds. A
    count of 0 is a loop of no nodes, so that instance's class is its siblings'."""
    spec = site.spec
    if spec.type != "repeat" or spec.names is None or isinstance(spec.layer, list):
        return
    if getattr(spec.layer, "when", None) is not None or len(made) != copies:
        return
    chain = [site.inputs[0], *(m.name for m in made)]
    if any(n.inputs != (p,) for n, p in zip(made, chain)) and any(
        n.inputs != made[0].inputs or len(n.inputs) != 1 for n in made
    ):
        return
    pieces: list[str | AttrExpr] = []
    for k, text in enumerate(TEMPLATE_PART.split(spec.names)):
        if text:
            pieces.append(text_expr(lw, text) if k % 2 else text)
    site.scope.loops.append(
        Loop(
            tuple(n.name for n in made),
            spec.index,
            text_expr(lw, spec.count),
            tuple(pieces),
            lw.span(site.ypath),
        )
    )


def lower_row(lw: Lowerer, site: Site) -> str:
    """One grouped row: a Sequential of its copies."""
    return lw.lower_child(site, Child(list(site.spec.copies), "Sequential"))
