"""Copies of one layer, as `repeat` and `for_each` make them: in a Sequential of their own,
spliced flat into the enclosing list, or one Sequential per table row; named by position or
by a name template (`denselayer{i + 1}`).

Each copy is an Item of the same layer spec with its own names in scope (`i`, a row's
fields, ...), so lowering, shapes and emitted code treat it like any written node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..errors import VALIDATOR_HINT
from ..expr import ExprError, parse_kept
from ..ir import AttrExpr, Loop, Node
from ..loader import PathKey
from ..lowering.context import Child, Item, Site, Skip, when_text
from ..lowering.exprs import text_expr
from ..ops.base import NodeBase
from ..ops.names import MAX_NAME_LEN, check_name
from ..ops.templates import MAX_TEMPLATE_LEN, TEMPLATE_PART, filled, template_parts

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer

#: how to name the rows' Sequentials, which `names` under `group_rows` does not
_GROUP_NAMES = (
    'to name those (`layer1`, `layer2`, RegNet\'s `block1`), give `group_names: "layer{r + 1}"` '
    "with `row_index: r`, or loop over the rows with a `repeat` whose `names` names them"
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
            f"name template {text!r} has no `{{expression}}` part: every name it gives (each "
            "copy's, or each row's with `group_names`) would be the same"
        )
    problem = never_a_name(text)
    if problem is not None:
        raise ValueError(
            f"name template {text[:80]!r} gives no legal name, whatever its parts give: "
            f"{problem}{VALIDATOR_HINT}copies' names become attributes and state_dict keys: "
            "write the text around the parts in ASCII letters, digits and _, starting with a "
            "letter (`block{i}`, `denselayer{i + 1}`)"
        )
    return text


def never_a_name(template: str) -> str | None:
    """Why no copy's name from `template` can be legal, read off its text outside the parts
    (each part may give any int or text), so that a template is refused whether or not any
    copy exists (a count of 0); None when some value of its parts may give a legal name."""
    pieces = TEMPLATE_PART.split(template)[::2]  # the text between the parts
    for piece in pieces:
        bad = next((c for c in piece if not (c.isascii() and (c.isalnum() or c == "_"))), None)
        if bad is not None:
            return f"its text holds `{bad}`, which no name may hold"
    if pieces[0][:1].isdigit():
        return "it starts with a digit, and a name may not"
    if pieces[0].startswith("_"):
        return "it starts with `_`, which nn.Module keeps for its own attributes"
    if sum(map(len, pieces)) > MAX_NAME_LEN:
        return f"its text alone is longer than a name's {MAX_NAME_LEN} characters"
    return None


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
    group_names: Sequence[str] | None = None,
) -> str | None:
    """Lower the copies of `site.spec.layer`, one env per copy, grouped by row.

    `structure` are the spec texts that decided how many copies there are (recorded as
    switches, so emitted code does not take the params they read as arguments);
    `group_names`, the rows' names under `group_rows` (None: by position).
    """
    spec, item = site.spec, site.item
    per_copy = copy_parts(lw, site)
    if isinstance(spec.names, str) and getattr(spec.layer, "key", None) is not None:
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
    templates = [t for _, _, t, _ in per_copy if t is not None]
    parts = [p for t in dict.fromkeys(templates) for p in TEMPLATE_PART.findall(t)]
    site.scope.switches += [("", raw) for raw in [*structure, *parts] if isinstance(raw, str)]
    grouped = bool(getattr(spec, "group_rows", False))
    # Copies of one `layer` in a Sequential of their own are named 0, 1, ... (whatever
    # `when` leaves out); flat ones, and the items of `layers`, take their place in the
    # list they join, as written layers do.
    numbered = (not spec.flat or grouped) and spec.layers is None

    def copy_items(row: Sequence[Mapping[str, Any]], first: int, given: set[str]) -> list[Item]:
        out = []
        for k, env in enumerate(row):
            made: dict[PathKey, str] = {}  # alternatives share their copy's one name
            for node, yp, template, where in per_copy:
                name = str(first + k) if numbered else None
                if template is not None:
                    if where not in made:
                        made[where] = copy_name(lw, template, {**site.env, **env}, where)
                        if made[where] in given:
                            _same_name(lw, template, made[where], where, spec)
                        given.add(made[where])
                    name = made[where]
                out.append(Item(node, yp, env, name))
        return out

    if grouped:
        groups = [copy_items(row, 0, set()) for row in rows]
        names = group_names or [None] * len(groups)
        items = [
            Item(RowCopies.model_construct(type=spec.type, copies=g), item.ypath, {}, name)
            for g, name in zip(groups, names, strict=True)
        ]
    else:
        items, first, given = [], 0, set()
        for row in rows:
            items += copy_items(row, first, given)
            first += len(row)
    if not spec.flat:
        return lw.lower_child(site, Child(items, "Sequential"))
    return splice(lw, site, items)


#: what `layers` is, in the schema of `repeat` and `for_each`
LAYERS_DOC = (
    "several items each copy makes, in order (HarDNet's concat, then conv); `names` then "
    "lists one name template per item"
)


def copy_parts(lw: Lowerer, site: Site) -> list[tuple[Any, PathKey, str | None, PathKey]]:
    """What one copy is made of: (node spec, its path, its name template, the template's
    path) for `layer` (each alternative, under the copy's one template) or for each item of
    `layers` (under its own); E203/E204/E304 (and Skip) for a `layer`, `layers` and `names`
    that do not fit together."""
    spec, yp = site.spec, site.ypath
    names = spec.names
    if spec.layers is None:
        if spec.layer is None:
            lw.error(
                "E203",
                f"missing required field `layer` in this {spec.type}",
                yp,
                "give `layer` (what each copy is) or `layers` (several items each copy "
                "makes, in order)",
            )
            raise Skip
        if isinstance(names, list):
            lw.error(
                "E204",
                "a list of name templates names the items of `layers`, and this "
                f"{spec.type} has one `layer`",
                yp + ("names",),
                'give one template (`names: "block{i}"`), or write the items as `layers:`',
            )
            raise Skip
        # `layer` may be a list of alternatives, each switched by its `when`: every copy
        # tries them all under the copy's name (EfficientNetV2's FusedMBConv or MBConv rows)
        if isinstance(spec.layer, list):
            alternatives = [(alt, yp + ("layer", j)) for j, alt in enumerate(spec.layer)]
        else:
            alternatives = [(spec.layer, yp + ("layer",))]
        return [(alt, p, names, yp + ("names",)) for alt, p in alternatives]
    if spec.layer is not None:
        lw.error(
            "E204",
            f"a {spec.type} takes `layer` or `layers`, not both",
            yp + ("layers",),
            "`layer` is what each copy is; `layers` the several items each copy makes: keep one",
        )
        raise Skip
    items = [(node, yp + ("layers", j)) for j, node in enumerate(spec.layers)]
    if names is None:
        return [(node, p, None, p) for node, p in items]
    _check_item_names(lw, site, names)
    return [(node, p, t, yp + ("names", j)) for j, ((node, p), t) in enumerate(zip(items, names))]


def _check_item_names(lw: Lowerer, site: Site, names: Any) -> None:
    """`names` beside `layers`: one template per item, each its own and each reading a
    name that changes from copy to copy (so no two copies' items share a name)."""
    spec, yp = site.spec, site.ypath
    layers = spec.layers
    if isinstance(names, str):
        lw.error(
            "E204",
            f"each copy makes {len(layers)} items (`layers`), and `names` is one template",
            yp + ("names",),
            'list one template per item, in order: `names: ["cat{i}", "conv{i}"]`',
        )
        raise Skip
    if len(names) != len(layers):
        lw.error(
            "E204",
            f"`names` lists {_count(len(names), 'template')} and `layers` "
            f"{_count(len(layers), 'item')}",
            yp + ("names",),
            "give one name template per item of `layers`, in the same order",
        )
        raise Skip
    for j, node in enumerate(layers):
        if getattr(node, "key", None) is not None and names[j] is not None:
            lw.error(
                "E204",
                f"item {j} of `layers` is named by `names` and by its `key`",
                yp + ("layers", j, "key"),
                "keep one: `key` when the names are not identifiers (its template in "
                "`names` null), else `names`",
            )
            raise Skip
    varying = {spec.index, *getattr(spec, "fields", ())}
    varying |= {getattr(spec, k, None) for k in ("row_index", "global_index")} - {None}
    for j, template in enumerate(names):
        if template is None:  # the item's own key, or its position
            continue
        if template in names[:j]:
            lw.error(
                "E304",
                f"name template {template!r} is listed twice in `names`",
                yp + ("names", j),
                "each item of a copy needs a name of its own: `cat{i}`, `conv{i}`",
            )
            raise Skip
        read = _reads(template)
        if not read & varying:
            hint = (
                f"read the copy's index in it: `{TEMPLATE_PART.sub('', template)}{{{spec.index}}}`"
            )
            unset = sorted(k for k in ("row_index", "global_index") if k in read)
            if unset and spec.type == "for_each":  # the field's name read as if it were the value
                hint = (
                    f"`{unset[0]}` names the variable, it is none itself: set `{unset[0]}: r` on "
                    "the for_each and read `{r}`"
                )
            lw.error(
                "E304",
                f"name template {template!r} reads nothing that changes from copy to copy, "
                "so every copy's item would get one name",
                yp + ("names", j),
                hint,
            )
            raise Skip


def _reads(template: str) -> set[str]:
    """The names the `{...}` parts of a name template read."""
    return set().union(*(parse_kept(p).names for p in TEMPLATE_PART.findall(template)))


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _same_name(lw: Lowerer, template: str, name: str, ypath: PathKey, spec: Any) -> None:
    """E304 (and Skip) for a `names` template that gives two copies one name; under
    `group_rows` it was likely meant for the rows' Sequentials, which it does not name."""
    index = spec.index
    hint = f"make the template read the copy's index (`block{{{index} + 1}}`)"
    if spec.type == "for_each" and index in _reads(template):  # restarts at 0 in each row
        hint = (
            f"`{index}` counts the copies within a row and starts again at 0 in the next: read "
            "the row's index too (`row_index: r`, then `{r}`) or the index over all rows "
            "(`global_index: g`, then `{g}`)"
        )
    if getattr(spec, "group_rows", False):
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
    if spec.type != "repeat" or not isinstance(spec.names, str) or spec.layer is None:
        return
    if isinstance(spec.layer, list):
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


def least_copies(spec: Any, inner: Any) -> int:
    """The fewest items one copy makes (lowering/bound.py): alternatives may all be switched
    off, and an item of `layers` under a `when` may be."""
    if spec.layers is not None:
        return sum(inner(node) for node in spec.layers if getattr(node, "when", None) is None)
    if spec.layer is None or isinstance(spec.layer, list):
        return 0
    return inner(spec.layer)
