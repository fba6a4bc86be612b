"""What a class refuses: the argument values that would keep an item none of its instances
keeps.

A class is written from its instances' renderings. An item a `when` switched off in every
instance of the class (the end of a block, a residual's shortcut or `add_when` add that only
instances of another class keep) is no code of the class, so values of its arguments that
make the `when` hold would build another network than the spec's, silently. Such a class
refuses those values (`if stride != 1 or in_channels != out: raise ValueError(...)`), as a
chain class refuses the items no instance keeps (`classes.Classes.choose`).
"""

from __future__ import annotations

import ast
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from ...errors import EmitError
from ...ir import ABSENT_AS, Module, Node, ParamInfo, Switch
from ..pycode import expr_tree, fold, lit, substitute, unparse
from ..pyvalues import Env, Val, names_of, render_expr
from .cases import negated
from .model import Body
from .satisfy import satisfiable


def switch_key(sw: Switch) -> Hashable:
    """What tells an item switched off apart from the others: where it is written, or for a
    shortcut or `add_when` add (no span) its name and condition."""
    return sw.span if sw.span is not None else (sw.name, sw.expr.text)


def _kept(bodies: Sequence[Body]) -> dict[Hashable, Node]:
    """The items `bodies` keep under a `when`, by both keys an absent switch may have."""
    out: dict[Hashable, Node] = {}
    for b in bodies:
        for n in b.module.nodes:
            if n.when_expr is not None:
                out.setdefault(n.span, n)
                out.setdefault((n.name, n.when_expr.text), n)
    return out


def unkept_guards(
    part: Sequence[Body], every: Sequence[Body], cases: frozenset[str] = frozenset()
) -> list[Val]:
    """The conditions of the items each instance of the class `part` leaves out and no
    instance of it keeps, in the class's arguments, where they can hold (symbolic); the
    block's other instances (`every`) say what a shortcut's `when` reads as `in_channels`.
    Items chosen by a class's cases (`cases`) are the cases' to refuse."""
    here, anywhere = _kept(part), _kept(every)
    out: list[Val] = []
    for b in part:
        for sw in b.module.switch_exprs:
            key = switch_key(sw)
            if sw.span is None and not sw.name:
                continue  # a repeat's count: structure (`classes.structural_names`)
            if key in here or (sw.span is not None and names_of(sw.expr) & cases):
                continue  # kept here, or a case's item (`cased_guards`)
            cond = b.absent.get(key) if sw.span is not None else None
            if cond is None:
                cond = render_expr(sw.expr, False, b.env, _entry(anywhere.get(key), b))
            if cond.symbolic and cond.text not in {c.text for c in out}:
                out.append(cond)
    return out


def class_guards(
    parts: Sequence[Sequence[Body]],
    every: Sequence[Body],
    conds: Sequence[Val | None],
    given: Sequence[str],
    names: frozenset[str],
    domains: Mapping[str, ParamInfo],
) -> list[list[str]]:
    """What each class of a block refuses (one list per class, `parts` its instances;
    `every`: the block's instances): the guards `given`, and the conditions of the items
    its instances leave out and none keeps (`unkept_guards`). The cases of a class with
    cases (`conds`: their conditions, `names`: what they test) are one class: each case's
    conditions hold under its test there (`cased_guards`). A guard no value the params are
    declared to take (`domains`) meets is left out."""
    per_part = []
    whole = set().union(*(b.env.used for bodies in parts for b in bodies))  # cases: one class
    for bodies in parts:
        found = [] if bodies[0].chain is not None else unkept_guards(bodies, every, names)
        used = whole if conds else set().union(*(b.env.used for b in bodies))
        found = [g for c in found if (g := in_signature(c, used, bodies[0].env)) is not None]
        for b in bodies:
            b.env.used |= set().union(*(c.names for c in found))
        per_part.append(found)
    if not conds:
        fits = [[c.text for c in found if satisfiable(c.text, domains)] for found in per_part]
        return [[*given, *(t for t in texts if t not in given)] for texts in fits]
    tests = [c.text if c is not None else None for c in conds]
    out = list(given)
    if len(tests) > 1:  # one case: `cases.case_guards` gave what it refuses
        out += cased_guards(parts, tests, names, domains)
    everywhere = set.intersection(*({c.text for c in found} for found in per_part))
    for k, found in enumerate(per_part):
        for c in found:
            # a condition every case refuses is refused whatever the case; a case's test
            # the condition implies (`t > 4` implies `t != 1`) is not written
            region = [] if c.text in everywhere else case_region(tests, k)
            text = conjunction([*implied_out(region, c.text, domains), c.text])
            if text not in out and satisfiable(text, domains):
                out.append(text)
    return [out] * len(parts)


def never_kept(instances: Sequence[Module]) -> frozenset[Any]:
    """Where the items are written that a `when` switched off in every instance of a block:
    no class of it writes them, so it refuses their conditions rather than being built
    for the values that decide them (a class per value)."""
    kept = {n.span for inst in instances for n in inst.nodes}
    return frozenset(
        sw.span
        for inst in instances
        for sw in inst.switch_exprs
        if sw.span is not None and sw.span not in kept
    )


def _entry(keeper: Node | None, body: Body) -> Val | None:
    """The channels a switch's `when` reads as `in_channels` in `body`: those of what its
    keeper reads there (a shortcut its input, a conditional add its last input)."""
    if keeper is None or not keeper.inputs:
        return None
    k = len(keeper.inputs) - 1 if keeper.attrs.get(ABSENT_AS) is not None else 0
    vals = body.vals.get(keeper.inputs[k])
    return vals[1] if vals is not None and len(vals) > 1 else None


def in_signature(cond: Val, used: set[str], env: Env) -> Val | None:
    """`cond` as a class whose signature takes only `used` writes it: a param no code of
    the class reads is no argument (the class is built for its value, `classes.classify`),
    so it is written as this instance's value; None where the condition then never holds.
    A let that reads such a param keeps `cond` as it is (its params stay arguments)."""
    unused = cond.names - used
    if not unused:
        return cond
    lets = {env.pynames[n] for n, v in env.lets.items() if v.symbolic}
    tree = expr_tree(cond.text)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if read & lets:
        return cond
    values = {env.pynames.get(n, n): env.values[n] for n in unused if n in env.values}
    try:
        subst = {py: expr_tree(lit(v)) for py, v in values.items() if py in read}
        tree = fold(substitute(tree, subst))
    except EmitError:
        return cond
    if isinstance(tree, ast.Constant):
        return None if not tree.value else cond
    return Val(unparse(tree), cond.value, cond.names - unused)


def case_region(tests: Sequence[str | None], k: int) -> list[str]:
    """Where case `k` of a class with cases runs, as conjuncts: its test, the earlier ones'
    negations (`if`/`elif`/`else` take the first that holds)."""
    own = [t for t in tests[k : k + 1] if t is not None]
    return own + [negated(t) for t in tests[:k] if t is not None]


def conjunction(texts: Sequence[str]) -> str:
    """`a and b and ...` as one would write it (parentheses only where needed)."""
    if len(texts) == 1:
        return texts[0]
    return unparse(ast.BoolOp(ast.And(), [expr_tree(t) for t in texts]))


def least(guards: Sequence[str], domains: Mapping[str, ParamInfo]) -> list[str]:
    """`guards` without those another one implies holding (as far as `satisfiable` tells)."""
    out: list[str] = []
    for k, g in enumerate(guards):
        others = [*out, *guards[k + 1 :]]  # the ones kept, and those still to come
        if not any(not satisfiable(conjunction([g, negated(o)]), domains) for o in others):
            out.append(g)
    return out


def cased_guards(
    parts: Sequence[Sequence[Body]],
    tests: Sequence[str | None],
    names: frozenset[str],
    domains: Mapping[str, ParamInfo],
) -> list[str]:
    """What a class with several cases refuses: the values that run a case whose
    instances kept an item under a `when` that then fails (every instance of a case keeps
    what its `when` chose there), or left out an item whose `when` then holds. A value no
    instance takes (`act: gelu` beside instances of relu and silu) ran the `else` case;
    such a guard holds nowhere unless its region is `satisfiable`."""
    found: dict[str, list[int]] = {}  # what a case must not meet -> the cases
    reads: set[str] = set()
    for k, bodies in enumerate(parts):
        for b in bodies:
            absent = [
                b.absent[sw.span]
                for sw in b.module.switch_exprs
                if sw.span in b.absent and names_of(sw.expr) & names
            ]
            wrong = [(negated(c.text), c) for c in b.conds if c.symbolic]
            wrong += [(c.text, c) for c in absent]
            for w, c in wrong:
                if satisfiable(conjunction([*case_region(tests, k), w]), domains):
                    found.setdefault(w, []).append(k)
                    reads |= c.names
    for b in (b for bodies in parts for b in bodies):
        b.env.used |= reads  # a param only a guard reads is an argument still
    out: list[str] = []
    for w, cases in found.items():
        if set(cases) == set(range(len(parts))):
            text = w  # refused whatever the case
            out += [text] if text not in out else []
            continue
        for k in cases:
            text = conjunction([*implied_out(case_region(tests, k), w, domains), w])
            out += [text] if text not in out else []
    return least(out, domains)


def implied_out(region: Sequence[str], cond: str, domains: Mapping[str, ParamInfo]) -> list[str]:
    """A case's test without the conjuncts `cond` implies (`t > 4` implies `t != 1`)."""
    return [r for r in region if satisfiable(conjunction([cond, negated(r)]), domains)]
