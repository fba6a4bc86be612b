"""`for_each`: copies of one layer per row of a config table, the row's values named.

MobileNetV2's `[t, c, n, s]` rows, EfficientNet's stage table and MobileNetV3's bneck table
are written as data and expanded here: each row binds its `fields`, gives `count` copies
(default 1; an expression over the fields, such as `n`), and each copy sees its index in
the row, and on request the row's index, its index over all copies and their total (for a
stochastic depth rate that grows block by block).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictBool

from ..loader import PathKey
from ..lowering.context import RAISE_LIMIT, Site, Skip
from ..ops.base import ExprStr, Final, Int, Name, NodeBase
from .copies import LAYERS_DOC, RowCopies, copy_name, lower_copies, lower_row
from .registry import Construct, NameWalk
from .repeat import Template, free_name, walk_copy_items

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer

#: The optional names a for_each binds besides the row's fields and `index`.
_EXTRA = ("row_index", "global_index", "global_count")


class ForEachNode(NodeBase):
    """Copies of `layer` for each row of `rows`, the row's values bound to `fields`."""

    type: Literal["for_each"]
    rows: list[list[Any]] | ExprStr = Field(
        ..., description="the table: a list of rows, or an expression such as a list param"
    )
    fields: list[Name] = Field(..., min_length=1, description="names of a row's values")
    count: Int(ge=0) = Field(1, description="copies per row, e.g. a field `n`")  # type: ignore[valid-type]
    index: Name = Field("i", description="name of a copy's index within its row")
    row_index: Name | None = Field(None, description="name of the row's index")
    global_index: Name | None = Field(None, description="name of a copy's index over all rows")
    global_count: Name | None = Field(None, description="name of the number of copies in all")
    flat: StrictBool = Field(
        False, description="splice the copies into the enclosing list (no Sequential of their own)"
    )
    group_rows: StrictBool = Field(False, description="one nn.Sequential per row")
    group_names: Template | None = Field(
        None,
        description="with `group_rows`, a name template of each row's Sequential, over the "
        "row's fields and `row_index` (`layer{r + 1}`)",
    )
    names: Template | list[Template | None] | None = Field(
        None,
        description="a name template of the copies, or one per item of `layers` (null: the "
        "item's own `key`, or its position)",
    )
    layer: Node | list[Node] | None = Field(  # noqa: F821
        None,
        description="the layer each copy is, or a list of alternatives chosen by their `when`",
    )
    layers: list[Node] | None = Field(  # noqa: F821
        None, min_length=1, description=LAYERS_DOC
    )


def lower(lw: Lowerer, site: Site) -> str | None:
    """Rows checked, counts evaluated and bounded, then the copies (repeat's machinery)."""
    if isinstance(site.spec, RowCopies):
        return lower_row(lw, site)
    spec, yp = site.spec, site.ypath
    _check_names(lw, spec, yp)
    table = _table(lw, site)
    counts: list[int] = []
    for r, row in enumerate(table):
        env = {**site.local, **dict(zip(spec.fields, row))}
        counts.append(lw.eval_value(spec.count, Final("int", ge=0), env, yp + ("count",)))
        if sum(counts) > lw.max_layers:
            lw.error(
                "E310",
                f"for_each makes more than {lw.max_layers:,} copies (row {r} reached "
                f"{sum(counts):,})",
                yp + ("count",),
                f"lower the counts; {RAISE_LIMIT}",
            )
            raise Skip
    total = sum(counts)
    lw.charge(total, yp + ("count",), reserve=True)
    rows: list[list[dict[str, Any]]] = []
    serial = 0
    for r, (row, n) in enumerate(zip(table, counts)):
        fields = dict(zip(spec.fields, row))
        copies = []
        for k in range(n):
            env = {**fields, spec.index: k}
            for key, value in (("row_index", r), ("global_index", serial), ("global_count", total)):
                if getattr(spec, key) is not None:
                    env[getattr(spec, key)] = value
            copies.append(env)
            serial += 1
        rows.append(copies)
    named = _group_names(lw, site, table)
    return lower_copies(lw, site, rows, [spec.rows, spec.count], named)


def _group_names(lw: Lowerer, site: Site, table: list[list[Any]]) -> list[str] | None:
    """Each row's name by `group_names` (None without it): E204 without `group_rows`, E304
    for a name two rows get (Skip for both)."""
    spec, yp = site.spec, site.ypath + ("group_names",)
    if spec.group_names is None:
        return None
    if not spec.group_rows:
        lw.error(
            "E204",
            "`group_names` names the rows' Sequentials, which only `group_rows: true` makes",
            yp,
            "add `group_rows: true`, or name the copies with `names`",
        )
        raise Skip
    out: list[str] = []
    for r, row in enumerate(table):
        env = {**site.local, **dict(zip(spec.fields, row))}
        if spec.row_index is not None:
            env[spec.row_index] = r
        name = copy_name(lw, spec.group_names, env, yp)
        if name in out:
            lw.error(
                "E304",
                f"group_names {spec.group_names!r} gives `{name}` to two rows",
                yp,
                "make the template read `row_index` (`layer{r + 1}` with `row_index: r`) or "
                "a field that differs from row to row",
            )
            raise Skip
        out.append(name)
    return out


def _check_names(lw: Lowerer, spec: Any, yp: PathKey) -> None:
    """The names a row binds: distinct (E304), hiding no param or let (E304)."""
    bound: list[tuple[str, PathKey, str]] = [
        (f, yp + ("fields", j), "for_each field") for j, f in enumerate(spec.fields)
    ]
    bound.append((spec.index, yp + ("index",) if "index" in spec.model_fields_set else yp, "index"))
    bound += [(getattr(spec, k), yp + (k,), k) for k in _EXTRA if getattr(spec, k) is not None]
    seen: set[str] = set()
    ok = True
    for name, where, what in bound:
        if name in seen:
            lw.error(
                "E304",
                f"for_each binds `{name}` twice (a field, `index` or another name)",
                where,
                "give each field and index its own name",
            )
            ok = False
        seen.add(name)
        ok = free_name(lw, name, where, what) and ok
    if not ok:
        raise Skip


def _table(lw: Lowerer, site: Site) -> list[list[Any]]:
    """The rows, each a list of as many values as `fields` names (E309 otherwise)."""
    spec, yp = site.spec, site.ypath + ("rows",)
    table = spec.rows
    if isinstance(table, str):
        table = lw.eval_value(table, Final("any"), site.local, yp)
    if not isinstance(table, list):
        lw.error("E309", f"rows must be a list of rows, got {table!r}"[:120], yp, _ROWS_HINT)
        raise Skip
    width = len(spec.fields)
    for r, row in enumerate(table):
        if not isinstance(row, list) or len(row) != width:
            names = f"`fields` names {width} ({', '.join(spec.fields)})"
            if isinstance(row, list):
                message, hint = f"row {r} of the table has {len(row)} values; {names}", _ROWS_HINT
            else:  # a flat list of values, not of rows
                message = f"row {r} of the table is {repr(row)[:40]}, not a list; {names}"
                hint = "each row is a list, even of one value: [[16], [32]], not [16, 32]"
            lw.error("E309", message, yp + ((r,) if not isinstance(spec.rows, str) else ()), hint)
            raise Skip
    return table


_ROWS_HINT = "each row is a list with one value per name of `fields`, e.g. [6, 24, 2, 2]"


def walk_names(item: Mapping[str, Any], path: PathKey, walk: NameWalk) -> None:
    fields = item.get("fields")
    for j, f in enumerate(fields if isinstance(fields, list) else []):
        walk.expression_name(f, path + ("fields", j), "for_each field")
    for key in ("index", *_EXTRA):
        walk.expression_name(item.get(key), path + (key,), f"for_each {key}")
    walk_copy_items(item, path, walk)


CONSTRUCT = Construct(
    kind="for_each",
    schema=ForEachNode,
    lower=lower,
    summary="copies of a layer for each row of a config table",
    description=(
        "For each row of `rows` (a table: a list param or a list written in place), "
        "`count` copies of `layer` (default 1; an expression over the row's `fields`), "
        "with the row's values, the copy's index in its row (`index`, default `i`) and, "
        "when named, `row_index`, `global_index` and `global_count` in scope. The copies "
        "form one nn.Sequential, one per row (`group_rows`), or join the enclosing list "
        "(`flat`); `names` is a name template for them. `layers` makes several items per "
        "copy, in order, and `names` then lists one template per item."
    ),
    makes_module=True,
    walk_names=walk_names,
)
