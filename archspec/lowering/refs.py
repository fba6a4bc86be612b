"""`from:` references: resolving them, and saying why one fails (unknown, later, a cycle)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..expr import ExprError
from ..ir import INPUT, Output
from ..loader import PathKey
from ..ops.base import Final
from .context import NAMES_FAILED, Child, Item, Scope, Skip, channels_env
from .outputs import read_several
from .values import bind_value, parsed

if TYPE_CHECKING:  # pragma: no cover
    from .itemplan import ItemPlan
    from .walker import Lowerer

_BOOL = Final("bool")


def resolve_inputs(lw: Lowerer, item: Item, scope: Scope, prev: str) -> tuple[str, ...]:
    """The names an item reads: its `from:`, else the previous node."""
    raw = getattr(item.spec, "from_", None)
    if raw is None:
        return (prev,)
    names = [raw] if isinstance(raw, str) else list(raw)
    if scope.aliases:  # the first of a block's `inputs:` is its `input`
        names = [scope.aliases.get(n, n) for n in names]
    bad = False
    for j, n in enumerate(names):
        if n not in scope.shapes:  # a name another item defines is that item's output
            yp = item.ypath + ("from",) + ((j,) if not isinstance(raw, str) else ())
            if n in scope.removed:
                hint = _off_hint(item, j == 0)
                lw.error("E305", f"`{n}` is switched off by its `when` here", yp, hint)
            else:
                unknown_ref(lw, n, scope, yp, getattr(item.spec, "name", None) or item.name)
            bad = True
        elif scope.several and n in scope.several:  # a tuple: its outputs are read by name
            yp = item.ypath + ("from",) + ((j,) if not isinstance(raw, str) else ())
            bad = read_several(lw, scope, n, yp)
    if bad:
        raise Skip
    return tuple(names)


def _off_hint(item: Item, first: bool) -> str:
    """E305's hint for a read of a switched-off node: a `when` over the reader's own input
    width cannot follow the one it reads, the width being that of the reader's first input
    (missing, when that is the node switched off; another node's, `conv` of
    `from: [conv, bn]`, when not)."""
    when = getattr(item.spec, "when", None)
    try:
        names = parsed(when).names if isinstance(when, str) else frozenset()
    except ExprError:
        names = frozenset()
    own = sorted(names & {"in_channels", "in_features"})
    if not own:
        return "give this node the same `when`, or read another node"
    if first:
        what = "of its own input (not the block's), which is not known while a node it reads "
        what += "is not there"
    else:  # `from: [conv, bn]`: `in_channels` is conv's, where bn's `when` read the block's
        what = "of its first input, not the block's, so it holds here where the node it reads "
        what += "is switched off"
    return (
        f"this node's `when` reads `{own[0]}` {what}: bind the block's input width in its "
        f"`let` (`cin: {own[0]}`) and write both `when`s over `cin`"
    )


def off_with_its_input(
    lw: Lowerer, item: Item, scope: Scope, env: Mapping[str, Any], plan: ItemPlan
) -> bool:
    """True (and the switch recorded) when `item` reads a node that is not there (a `when`
    switched it off, or this instance made no node of that name: a repeat of `branches`
    copies made `0` only, where another instance makes `0` to `3`) and its own `when`,
    evaluated with the sizes of its first input if that is there, switches it off too: a
    reader with the same condition as what it reads is simply not there. E305 stays for a
    reader that is kept, one whose `when` needs the sizes of a first input that is not
    there (`in_channels`), and a name declared later in the list (an order that is wrong
    whatever the params)."""
    when = plan.when
    if when is None or not any(
        n not in scope.shapes and (n in scope.removed or not scope.is_later(n)) for n in plan.refs
    ):
        return False
    raw = getattr(item.spec, "from_", None)
    first = raw if isinstance(raw, str) else raw[0] if isinstance(raw, list) and raw else None
    return off_by_first_input(lw, item, scope, env, plan, first)


def off_by_first_input(
    lw: Lowerer, item: Item, scope: Scope, env: Mapping[str, Any], plan: ItemPlan, first: Any
) -> bool:
    """True (and the switch recorded) when the item's `when` is false, read with the sizes
    of `first` (`in_channels`, as the dispatch would read them) when `first` is a node that is
    there: the reader of a node another instance makes is left out by a `when` over its own
    width as by one over params."""
    local = env
    if isinstance(first, str) and scope.shapes.get(scope.aliases.get(first, first)) is not None:
        first = scope.aliases.get(first, first)
        local = channels_env(env, scope.shapes[first], scope.axes.get(first, 1))
    try:
        if bind_value(plan.when, _BOOL, local):
            return False
    except (ExprError, ValueError):
        return False
    switch_off(lw, item, scope, plan, local, first if isinstance(first, str) else None)
    return True


def switched_off_early(
    lw: Lowerer, item: Item, scope: Scope, env: Mapping[str, Any], plan: ItemPlan
) -> bool | None:
    """False (and the switch recorded) for an item without `from` whose `when` is false and
    reads no input size: what the walker's dispatch finds, without making the site first
    (of a block's alternatives, `act == 'relu'` ..., one is kept and the others are not);
    True when that `when` holds, which the dispatch then need not evaluate again; None
    when it is left to the dispatch (no `when`, or one that reads `from` or the input's
    sizes, or that fails: the dispatch reports it). `plan.early` holds the names it reads
    when it can be decided here."""
    names = plan.early
    if names is None or not names <= env.keys():
        return None
    try:
        # bind_value(plan.when, _BOOL, env), its expression run at once when it is true
        # or false (the ladder, for a literal, or for another value, which it refuses)
        held = None if plan.when_run is None else plan.when_run(env)
        if type(held) is not bool:
            held = bind_value(plan.when, _BOOL, env)
        if held:
            return True
    except (ExprError, ValueError, RecursionError):  # the dispatch reports it
        return None
    switch_off(lw, item, scope, plan, env)
    return False


def switch_off(
    lw: Lowerer,
    item: Item,
    scope: Scope,
    plan: ItemPlan,
    env: Mapping[str, Any] | None = None,
    reads: str | None = None,
) -> None:
    """Record that the item's `when` switched it off in `scope` (with the names its computed
    `names` would give in `env`, so that their readers hear it is switched off; `reads`: the
    node whose sizes the `when` read, for emitters to read them there too)."""
    own = plan.spec_name or item.name
    scope.removed.update(([own] if own else []) + plan.own_names)
    if plan.computed_names and env is not None:
        from .fromlist import quiet_piece_names  # fromlist imports this module

        scope.removed.update(quiet_piece_names(item.spec, plan.names_field, env))
    scope.switches.append((own or "", plan.when_text))
    if plan.key is not None:  # a keyed item's module path is its key
        scope.keys_off.append(plan.key)
    scope.switch_spans[len(scope.switches) - 1] = lw.span(item.ypath)
    if reads is not None:
        scope.switch_reads[len(scope.switches) - 1] = reads


def unknown_ref(
    lw: Lowerer, name: str, scope: Scope, ypath: PathKey, current: str | None = None
) -> None:
    """E305/E306 for a name this scope does not have (yet): later, a cycle (the reader reads
    `name` even where its `from` computes it, which no written ref says), or unknown."""
    if name == current and not scope.is_later(name):  # `{name: b, from: [a, b]}`: it exists
        lw.error(
            "E306",
            f"cycle in references: `{name}` reads itself",
            ypath,
            "a node cannot depend on itself: read the node before it (or `input`)",
        )
        return
    if scope.is_later(name):
        cycle = find_cycle(name, {**scope.refs, current: [name]} if current else scope.refs)
        if cycle and current in cycle:
            # Tell it from the node being lowered: "a -> b -> a".
            k = cycle.index(current)
            cycle = cycle[k:-1] + cycle[:k] + [current]
        if cycle:
            lw.error(
                "E306",
                f"cycle in references: {' -> '.join(cycle)}",
                ypath,
                "a node cannot depend on itself, directly or through others",
            )
        else:
            lw.error(
                "E305",
                f"`{name}` is declared later in this layer list",
                ypath,
                "nodes run in the order they are written: move it above, or read an earlier node",
            )
        return
    if NAMES_FAILED in scope.shapes:  # a chunk's computed names failed (reported there)
        return
    known = [n for n in scope.shapes if n != INPUT and not n.startswith("<")]  # <failed item 3>
    owner = name.split(".", 1)[0]
    if "." in name and owner in scope.shapes:
        # a state_dict-like path (`enc3.5`, `layer1.0.conv1`): the reader wants a node
        # inside another module, which `from` cannot reach
        lw.error(
            "E305",
            f"`{name}` reaches into `{owner}`: `from` and `outputs` name only the nodes of this "
            "layer list",
            ypath,
            f"read `{owner}` itself (what it returns), or move the reader into the block or "
            "list that makes the node; a block returns another of its nodes with `outputs:`",
        )
        return
    inner = _nested_path(name, scope)
    if inner is not None:
        # a U-Net reading an encoder's conv inside `enc` (a sequential or a block)
        lw.error(
            "E305",
            f"`{name}` is a node inside `{inner.split('.', 1)[0]}` (`{inner}`): `from` and "
            "`outputs` name only the nodes of this layer list",
            ypath,
            f"read `{inner.split('.', 1)[0]}` itself (what it returns), or write its layers "
            "in this list so the reader can name them; a block returns another of its nodes "
            "with `outputs:`",
        )
        return
    outer = _enclosing_path(lw, name, scope)
    if outer is not None:
        # Res2Net's split pieces read by convs written in a `sequential` below them
        lw.error(
            "E305",
            f"`{name}` is a node of an enclosing layer list (`{outer}`): a `sequential` or a "
            "block is a module of its own, and `from` reads only the nodes of its list",
            ypath,
            f"give the module itself `from: {name}` (a `parallel` branch: the parallel, "
            f"whose branches all read it), where its first layer reads it as `input`; or "
            f"write the reader in the list that makes `{name}`",
        )
        return
    unknown_name(lw, name, known, ypath)


def unknown_name(lw: Lowerer, name: str, known: list[str], ypath: PathKey) -> None:
    """E305 for a name that is nowhere: close names or the list's names in the hint; an entry
    that holds a space or a quote, which no name or key holds, is an expression written where
    a name goes (`from: "'x2' if stride == 1 else 'input'"`): the hint gives the name template
    it meant."""
    if any(c.isspace() or c in "'\"" for c in name):
        field = "outputs" if "outputs" in ypath else "from"
        lw.error(
            "E305",
            f"unknown reference `{name}`: `{field}` reads it as a node's name, not an expression",
            ypath,
            "to work a name out, write the expression in braces, as a name template: "
            f'`"{{{name}}}"` (docs/spec-language.md, Computed `from` lists)',
        )
        return
    close = lw.close_matches(name, known)
    hint = (
        f"did you mean `{close[0]}`?"
        if close
        else (f"names defined before this point: {', '.join(known[-8:]) or 'none'} (and `input`)")
    )
    lw.error("E305", f"unknown reference `{name}`", ypath, hint)


def _enclosing_path(lw: Lowerer, name: str, scope: Scope) -> str | None:
    """The path of a node called `name` in a layer list that encloses `scope` (the
    innermost first), or None."""
    for outer in reversed(lw.scopes):
        if outer is not scope and name != INPUT and name in outer.shapes:
            return outer.qual(name)
    return None


def _nested_path(name: str, scope: Scope) -> str | None:
    """The path (`enc.c1`) of a node called `name` inside a module this list made before the
    reader, or None: a name that exists, out of `from`'s reach. The index of the nested
    names is extended as the list grows, so a thousand bad references cost one walk of the
    modules, not one each."""
    for node in scope.nodes[scope.nested_done :]:
        if node.child is not None:
            _index_module(node.name, node.child, scope.nested)
    scope.nested_done = len(scope.nodes)
    return scope.nested.get(name)


def _index_module(path: str, module: Any, paths: dict[str, str]) -> None:
    """Every node name inside `module`, breadth first, with its path (the first kept)."""
    level = [(path, module)]
    while level:
        deeper = []
        for prefix, mod in level:
            for node in mod.nodes:
                paths.setdefault(node.name, f"{prefix}.{node.name}")
                if node.child is not None:
                    deeper.append((f"{prefix}.{node.name}", node.child))
        level = deeper


def find_cycle(start: str, refs: Mapping[str, list[str]]) -> list[str] | None:
    """A reference path from `start` back to itself through later nodes, if there is one."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        cur, path = stack.pop()
        for nxt in refs.get(cur, []):
            if nxt == start:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def scope_outputs(lw: Lowerer, scope: Scope, prev: str, child: Child) -> tuple[Output, ...]:
    """The scope's `outputs` (default: its last node); unknown names are E305."""
    if not child.outputs:
        return (Output(prev, scope.train.get(prev, False)),)
    outs = []
    failed = False
    reported: set[PathKey] = set()
    for j, oname in enumerate(child.outputs):
        yp = child.outputs_ypaths[j] if child.outputs_ypaths else child.outputs_ypath + (j,)
        oname = scope.aliases.get(oname, oname)
        if oname in scope.removed and oname not in scope.shapes:
            if child.block is not None and len(child.outputs) > 1:
                # a block of several returns each: its callers read them by position
                hint = "a block of several outputs returns each in every instance: list "
                hint += "nodes every instance keeps, or give two nodes one name under "
                hint += "complementary `when`s"
                lw.error("E305", f"output `{oname}` is switched off by its `when` here", yp, hint)
                failed = True
            continue
        if read_several(lw, scope, oname, yp):
            failed = True
            continue
        if oname not in scope.shapes:
            if yp not in reported:  # one error per entry, not per name a computed one gives
                reported.add(yp)
                unknown_ref(lw, oname, scope, yp)
            failed = True
            continue
        key = child.output_keys[j] if child.output_keys else None
        outs.append(Output(oname, scope.train.get(oname, False), key))
    if not outs and not failed:
        # a module returns a value: with every output switched off it would return nothing,
        # and its readers would fail far from the cause
        names = ", ".join(f"`{o}`" for o in child.outputs)
        lw.error(
            "E305",
            f"every output ({names}) is switched off by its `when` here",
            child.outputs_ypaths[0] if child.outputs_ypaths else child.outputs_ypath + (0,),
            "a module must return a node that is there: list one that every case keeps, or "
            "give two nodes one name under complementary `when`s",
        )
    if not outs:  # reported: the readers go on from the last node, not a second error
        return (Output(prev, scope.train.get(prev, False)),)
    return tuple(outs)
