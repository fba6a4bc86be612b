"""Computed `from` lists: the names a node reads when its `from` has name templates
(`"layer{k - 1}"`) or computed entries (`{each: "conv{j}", for: j, in: n, when: ...}`),
worked out where the node is, with the copy's index, a row's fields and the block's params
in scope (ops/fromspec.py holds their schema).

Each name is checked as a written one is (E305: not a node of this list made before the
reader, or switched off), and every error points at the entry that gave the name. The
names are the node's inputs like any others: emitted code and the passes see a node that
reads `conv0, conv1, conv2`, never the template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import shown_value
from ..expr import ExprError
from ..ir import INPUT
from ..loader import PathKey
from ..ops.base import Final
from ..ops.fromspec import entries_of, is_template
from ..ops.names import MAX_NAME_LEN
from ..ops.templates import filled
from .context import NAMES_FAILED, Item, Scope, Skip, SwitchedOff, quiet_names
from .itemplan import item_plan
from .outputs import read_several
from .refs import _off_hint, find_cycle, off_by_first_input, unknown_ref
from .values import INPUT_SIZES, bind_value, reads_failed

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

_BOOL = Final("bool")
_ANY = Final("any")
_IN_HINT = "`in` is a count n (the index runs 0 .. n-1) or a list of ints, e.g. `in: n`"
#: What one value of an entry's `in` weighs, in characters of expression text, besides its
#: `when` and `each`; one layer item is charged per TEXT_PER_ITEM of them (the rate of a
#: block call's arguments), so that a value costs what evaluating it does: each was charged
#: 1/100 of an item alone, and 900,000 values under a 490-character `when` took 52 s.
VALUE_TEXT = 10
TEXT_PER_ITEM = 1_000
_LIST_WHY = (
    f"a computed `from` counts one more per {TEXT_PER_ITEM:,} characters its values "
    f"evaluate: each value {VALUE_TEXT}, and its entry's `when` and `each` again, in every "
    "reader"
)


def computed_inputs(
    lw: Lowerer, item: Item, scope: Scope, env: Mapping[str, Any]
) -> tuple[str, ...]:
    """The names a computed `from` gives in `env`, each one a node of `scope` made before
    the reader; E305/E309/E304 at the entry (and Skip) otherwise."""
    raw = item.spec.from_
    base = item.ypath + ("from",)
    listed = isinstance(raw, list)
    entries = entries_of(raw)
    #: each name, where it was given, and the template and index that gave it (None, None
    #: for a name as written)
    given: list[tuple[str, PathKey, str | None, str | None]] = []
    tally = _Tally()
    for j, entry in enumerate(entries):
        yp = base + (j,) if listed else base
        if isinstance(entry, str):
            name = _fill(lw, entry, env, yp) if is_template(entry) else entry
            given.append((name, yp, entry if is_template(entry) else None, None))
        else:
            given += _each(lw, entry, env, yp, tally=tally)
    if not given:
        lw.error(
            "E305",
            "`from` gives no input here: every computed entry is left out",
            base,
            "a node reads at least one input: add an entry every instance keeps (`input`), or "
            "give the node a `when` that leaves it out where its entries give none",
        )
        raise Skip
    if scope.aliases:  # a block's `inputs:`, the first of which is its `input`
        given = [(scope.aliases.get(n, n), yp, t, i) for n, yp, t, i in given]
    missing = [g for g in given if g[0] not in scope.shapes]
    if scope.several and any([read_several(lw, scope, n, yp) for n, yp, _, _ in given]):
        raise Skip  # a block instance of several outputs, read whole (lowering/outputs.py)
    if not missing:
        return tuple(name for name, _, _, _ in given)
    plan = item_plan(lw, item.spec)
    # a name declared later is wrong whatever the params: never left out for it
    later = any(scope.is_later(g[0]) and g[0] not in scope.removed for g in missing)
    if (
        plan.when is not None
        and not later
        and off_by_first_input(lw, item, scope, env, plan, given[0][0])
    ):
        raise SwitchedOff
    #: the entries already reported: one E305 per entry, not one per name it gives (an
    #: entry over a large `in` naming no node cost a located error, and its close matches,
    #: per name: half a minute under the layer limit)
    reported: set[PathKey] = set()
    for name, yp, template, index in missing:
        if yp not in reported:
            reported.add(yp)
            _missing(lw, item, scope, name, yp, template, index, name == given[0][0])
    raise Skip


def piece_names_here(
    lw: Lowerer, item: Item, scope: Scope, env: Mapping[str, Any], field: str
) -> list[str]:
    """The names a chunk's or split's `names` gives in `env` when its entries are computed
    (`{each: "sp{j}", for: j, in: scale}`) or templates: each a legal name, none twice, two
    at least; E204/E304/E309 at the entry (and Skip) otherwise."""
    from ..ops.names import check_name  # ops.split holds the bound, ops.names the rule
    from ..ops.split import MAX_PIECES

    given = _named(lw, getattr(item.spec, field), env, item.ypath + (field,), field)
    base = item.ypath + (field,)
    seen: set[str] = set()
    failure: tuple[str, str, PathKey, str] | None = None
    if len(given) > MAX_PIECES:
        what = f"`{field}` gives {len(given):,} pieces, over the limit of {MAX_PIECES}"
        failure = ("E309", what, base, "cut the dim into fewer pieces")
    for name, yp in given:
        try:
            check_name(name)
        except ValueError as exc:
            failure = failure or ("E204", f"`{field}` gives {name!r} here: {exc}", yp, _HINT)
            continue
        if name in seen:
            failure = failure or ("E304", f"`{field}` gives `{name}` twice here", yp, _HINT)
        seen.add(name)
    if failure is None and len(given) < 2:
        n = len(given)
        what = f"{n} name{'' if n == 1 else 's'} here: {item.spec.type} makes two pieces at least"
        failure = ("E309", f"`{field}` gives {what}", base, _HINT)
    if failure is not None:
        for name, _ in given:  # their readers, of a bad name too, are not checked (E305)
            scope.shapes[name], scope.train[name] = None, False
        lw.error(*failure)
        raise Skip
    return [name for name, _ in given]


def quiet_piece_names(spec: Any, field: str, env: Mapping[str, Any]) -> list[str]:
    """The names a switched-off chunk's or split's computed `names` would give in `env`
    (`piece_names_here` without its errors: the node is not there to be wrong), so that a
    reader hears they are switched off, not unknown; as many as can be worked out."""
    from ..ops.split import MAX_PIECES

    raw = getattr(spec, field, None)
    out: list[str] = []
    try:
        for entry in raw if isinstance(raw, list) else [raw]:
            if isinstance(entry, str):
                out.append(_text(entry, env))
                continue
            values: Sequence[Any] | None = [None]
            if entry.for_ is not None:
                values = _as_values(bind_value(entry.in_, _ANY, env))
                if values is None or len(values) > MAX_PIECES:
                    break
            for value in values:
                local = env if entry.for_ is None else {**env, entry.for_: value}
                if entry.when is None or bind_value(entry.when, _BOOL, local):
                    out.append(_text(entry.each, local))
    except (ExprError, ValueError, TypeError, AttributeError, RecursionError):
        pass  # the names before it are known
    return out


_HINT = 'each piece takes a name of its own, e.g. `{each: "sp{j}", for: j, in: scale}`'


def computed_outputs(
    lw: Lowerer,
    raw: Sequence[Any] | Mapping[str, str],
    env: Mapping[str, Any],
    base: PathKey = ("outputs",),
) -> tuple[list[str], list[PathKey], list[str]] | None:
    """The names the network's `outputs:` (a block's, at `base`) gives in `env` (its
    templates filled, its computed entries expanded: a feature extractor returning each of
    its `n` stages), where each was given and, for a mapping (`{out: head, aux: aux_head}`,
    the network's only), the key of each (else no keys); None after an error (E309 and the
    expression's, at the entry; E305 where every entry is left out)."""
    if isinstance(raw, Mapping) and not raw:
        lw.error(
            "E305",
            "`outputs` is an empty mapping: forward would return an empty dict",
            base,
            "map each key forward's dict holds to a node (`outputs: {out: head, aux: "
            "aux_head}`), or leave `outputs` out to return the last node",
        )
        return None
    try:
        if isinstance(raw, Mapping):  # one name per key, each entry a name or a template
            keyed = [(k, _named(lw, v, env, (*base, k), "outputs")[0]) for k, v in raw.items()]
            return [n for _, (n, _) in keyed], [at for _, (_, at) in keyed], list(raw)
        given = _named(lw, raw, env, base, "outputs")
    except Skip:
        return None
    if raw and not given:
        what = ("a network", "variant") if base == ("outputs",) else ("a block", "instance")
        lw.error(
            "E305",
            "`outputs` gives no node here: every computed entry is left out",
            base,
            f"{what[0]} returns at least one node: add an entry every {what[1]} keeps, or "
            "leave `outputs` out to return the last node",
        )
        return None
    return [name for name, _ in given], [at for _, at in given], []


def _named(
    lw: Lowerer,
    raw: Any,
    env: Mapping[str, Any],
    base: PathKey,
    field: str,
    tally: _Tally | None = None,
) -> list[tuple[str, PathKey]]:
    """The names a list of name entries (`names:` of a chunk, the network's `outputs:`, or
    one entry alone) gives in `env`, each with where it was given: a name as written, a
    template filled, a computed entry expanded; the expression's error (and Skip) at the
    entry otherwise."""
    listed = isinstance(raw, list)
    given: list[tuple[str, PathKey]] = []
    tally = _Tally() if tally is None else tally
    for j, entry in enumerate(raw if listed else [raw]):
        yp = base + (j,) if listed else base
        if isinstance(entry, str):
            given.append((_fill(lw, entry, env, yp, field) if is_template(entry) else entry, yp))
        else:
            given += [(n, y) for n, y, _, _ in _each(lw, entry, env, yp, field, tally)]
    return given


class _Tally:
    """The values of `in` that the entries of one list read so far: they count together
    against the layer limit. Each entry held alone to it, 100 entries of `in: 9999`, a 3 KB
    file, made an `add` of a million inputs that `archspec compile` wrote for minutes."""

    __slots__ = ("text", "values")

    def __init__(self) -> None:
        self.values = 0
        self.text = 0  # the expression text the values evaluate (VALUE_TEXT each, and more)


def _each(
    lw: Lowerer,
    entry: Any,
    env: Mapping[str, Any],
    yp: PathKey,
    field: str = "from",
    tally: _Tally | None = None,
) -> list[tuple[str, PathKey, str | None, str | None]]:
    """The names of one computed entry: one per value of its index whose `when` holds
    (`tally`: the values the list's entries before it read)."""
    values: Any = [None]
    if entry.for_ is not None:
        from ..constructs.repeat import free_name  # constructs import lowering

        if not free_name(lw, entry.for_, yp + ("for",), f"`{field}` entry index", key="for"):
            raise Skip
        values = _index_values(lw, entry, env, yp + ("in",), field, tally or _Tally())
    out = []
    for value in values:
        local = env if entry.for_ is None else {**env, entry.for_: value}
        if entry.when is not None and not lw.eval_value(entry.when, _BOOL, local, yp + ("when",)):
            continue
        name = _fill(lw, entry.each, local, yp + ("each",), field)
        out.append((name, yp + ("each",), entry.each, entry.for_))
    return out


def _index_values(
    lw: Lowerer, entry: Any, env: Mapping[str, Any], yp: PathKey, field: str, tally: _Tally
) -> Sequence[int]:
    """The values of an entry's index: `range(n)` for a count, the items of a list;
    E309 (and Skip) for anything else, E310 when they and those of the list's entries
    before it (`tally`, which they join) pass the layer limit."""
    value = lw.eval_value(entry.in_, _ANY, env, yp)
    values = _as_values(value)
    if values is None:
        lw.error(
            "E309",
            f"`in` gives {shown_value(value, 60)}, not a count or a list of ints",
            yp,
            _IN_HINT,
        )
        raise Skip
    before, total = tally.values, tally.values + len(values)
    if total > lw.max_layers:
        lw.error(
            "E310",
            f"`in` gives {len(values):,} values"
            + (f", {total:,} values with the entries before it" if before else "")
            + f", over the limit of {lw.max_layers:,} layer items: a computed `{field}` "
            "counts against them",
            yp,
            "lower the count" + (" or the entries of this list" if before else ""),
        )
        raise Skip
    tally.values = total
    read = VALUE_TEXT + len(entry.each) + (len(str(entry.when)) if entry.when is not None else 0)
    spent, tally.text = tally.text, tally.text + len(values) * read
    if units := tally.text // TEXT_PER_ITEM - spent // TEXT_PER_ITEM:
        lw.charge(units, yp, why=_LIST_WHY)
    return values


def _as_values(value: Any) -> Sequence[int] | None:
    """A count's range or a list of ints; None for anything else."""
    if type(value) is int:
        return range(value) if value >= 0 else None
    if type(value) is list and all(type(v) is int for v in value):
        return list(value)
    return None


def _text(template: str, env: Mapping[str, Any]) -> str:
    """The name a template gives in `env` (a plain name as is); ExprError/ValueError."""
    if not is_template(template):
        return template

    name = filled(template, env, _name_sized)
    if len(name) > MAX_NAME_LEN:
        raise ValueError(
            f"the name it gives has {len(name):,} characters, more than a node's name "
            f"(at most {MAX_NAME_LEN})"
        )
    return name


def _name_sized(part: str, value: Any) -> None:
    """A part's text fits a node's name: each name is kept, and a text param of 10^6
    characters read by an entry over `in: 9000` held gigabytes of names (a MemoryError)."""
    text = str(value)
    if len(text) > MAX_NAME_LEN:
        raise ValueError(
            f"`{{{part}}}` gives a text of {len(text):,} characters, longer than "
            f"a node's name (at most {MAX_NAME_LEN})"
        )


def _fill(
    lw: Lowerer, template: str, env: Mapping[str, Any], yp: PathKey, field: str = "from"
) -> str:
    """The name a template gives here; E309 (or the expression's error) and Skip."""
    try:
        return _text(template, env)
    except ExprError as exc:
        if not reads_failed(template, quiet_names(lw.failed, env)):
            hint = exc.hint
            if exc.code == "E302" and any(f"'{n}'" in exc.message for n in INPUT_SIZES):
                hint = (
                    f"a `{field}` is worked out before its node's input is chosen, so the input's "
                )
                hint += (
                    "sizes are not in scope there: read params, lets and indices; a block's "
                    "`let` reads its input's sizes (`let: {need_skip: in_channels != out_dim}`,"
                    " then `{'skip' if need_skip else 'input'}`)"
                )
            lw.error(exc.code, f"`{field}` template {template!r}: {exc.message}", yp, hint)
    except ValueError as exc:
        lw.error(
            "E309",
            f"`{field}` template {template!r}: {exc}",
            yp,
            "each `{...}` part of a name template gives a number or text",
        )
    raise Skip


def _missing(
    lw: Lowerer,
    item: Item,
    scope: Scope,
    name: str,
    yp: PathKey,
    template: str | None,
    index: str | None,
    first: bool,
) -> None:
    """E305 for a name that is no node of this list made before the reader; E306 (as for a
    written name) when it is the reader itself, or a later node that reads the reader."""
    current = getattr(item.spec, "name", None) or item.name
    if template is not None and name not in scope.removed and _cycle(name, scope, current):
        template = None
    if template is None:  # a name as written, beside computed ones: as refs.py says it
        if name in scope.removed:
            hint = _off_hint(item, first)
            lw.error("E305", f"`{name}` is switched off by its `when` here", yp, hint)
        else:
            unknown_ref(lw, name, scope, yp, current)
        return
    if name in scope.removed:
        what = "a node its `when` switches off here"
    elif NAMES_FAILED in scope.shapes and not scope.is_later(name):
        return  # an item above failed before its names were known (reported there)
    elif scope.is_later(name):
        what = "a node declared later in this layer list"
    else:
        what = "no node made before this one in this layer list"
    if index is not None:
        hint = f"give the entry a `when` over `{index}` that leaves it out where it names no node"
    else:
        hint = (
            f"write it as an entry with a `when` that leaves it out here "
            f"(`{{each: {template!r}, when: ...}}`), or give the node a `when`"
        )
    close = lw.close_matches(name, [n for n in scope.shapes if n != INPUT])
    lw.error(
        "E305",
        f"`from` template {template!r} gives `{name}` here, {what}",
        yp,
        "an entry names nodes made above its reader: "
        + hint
        + (f" (did you mean `{close[0]}`?)" if close else ""),
    )


def _cycle(name: str, scope: Scope, current: str | None) -> bool:
    """Whether the reader `current`, reading `name`, closes a cycle: `name` is the reader,
    or a later node whose written `from` leads back to it."""
    if not current:
        return False
    if name == current:
        return not scope.is_later(name)
    return scope.is_later(name) and find_cycle(name, {**scope.refs, current: [name]}) is not None
