"""One class for a block whose instances take different paths: an `if` per case.

torchvision's ShuffleNetV2 `InvertedResidual` is one class although its two kinds of unit
share almost nothing: at stride 1 the input is split with `chunk` and only `branch2` runs,
at stride 2 `branch1` and `branch2` both read the whole input. Its `__init__` builds the
modules the stride selects and its `forward` branches on `self.stride`. A block whose
nodes a `when` keeps (nodes that are neither a shortcut nor a conditional join, which
`optional.py` and `classes.combine` write as `if`s of their own) is written the same way:
its instances are rendered with the params those `when`s read as arguments (`case_names`),
grouped by rendering as usual, and each group becomes a case under the condition that
holds for its instances and for no later case's (`case_order`; the last case is the
`else`). Each case's `__init__` and `forward` are the class's as its instances alone
render them, so state_dict keys and order are per case exactly the compiled module's;
statements all cases share at the start and end are written once, around the `if`
(`merge_cases`), and a submodule one case lacks is `None` there. What a case's calls in
`forward` read (GhostNet's `cat.split([self.oup, 1], 1)`) is stored by `__init__` under its
own name (`stored_reads`). Instances that all take one path are one class of that case
alone, which refuses the values that would choose another (`case_guards`).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from ...ir import Graph, Module
from ...lazymethods import dataclass
from ...ops.base import RESERVED_NAMES
from ..pycode import INDENT, Code, Namespace, expr_tree, unparse
from ..pylayout import Text, condition_lines, format_doc
from ..pyvalues import IN, Env, Val, names_of, render_expr, truth
from .ctor import init_statements, init_targets
from .forward import forward_lines, forward_statements, is_free_attr
from .model import Body, Case, ClassInfo, Step, switchable
from .optional import inline_lets, phi
from .shapes import class_shapes

#: One class being built: its instances, its merged steps, the shortcut steps it switches.
Part = tuple[list[Body], list[Step], set[str]]


def case_names(instances: Sequence[Module]) -> frozenset[str]:
    """The params and lets the `when`s of case nodes read: nodes kept under a `when` that
    are not a shortcut (one input, read by others) nor a conditional join, and the items
    instances switched off likewise; less what decides structure anyway (repeat counts).
    A let stays a name here (the class tests `self.project`, as torchvision's
    `self.use_res_connect`); `case_params` says which params it reads."""
    shortcuts: set[tuple[str, str]] = set()
    names: set[str] = set()
    alternatives = _alternatives(instances)
    for inst in instances:
        readers = {i for n in inst.nodes for i in n.inputs}
        for n in inst.nodes:
            if n.when_expr is None:
                continue
            if switchable(n, readers, inst.nodes) and n.name not in alternatives:
                shortcuts.add((n.name, n.when_expr.text))
            else:
                names |= names_of(n.when_expr)
    fixed: set[str] = set()
    for inst in instances:
        for sw in inst.switch_exprs:
            if sw.span is None:
                fixed |= names_of(sw.expr)
            elif not sw.name or (sw.name, sw.expr.text) not in shortcuts:
                names |= names_of(sw.expr)
    return frozenset(names - fixed)


def case_params(names: frozenset[str], instances: Sequence[Module]) -> frozenset[str]:
    """`names` with each let written as the params it reads (a let reads only the lets
    before it): what the class must take as arguments to tell its cases apart."""
    out = set(names)
    for let in reversed(instances[0].lets):
        if let.name in out:
            out.discard(let.name)
            out |= names_of(let.expr)
    return frozenset(out)


def pinned_apart(bodies: Sequence[Body], symbolic: frozenset[str], decls: Sequence[Any]) -> bool:
    """Whether the instances of a class with cases give a param that is no argument (nor
    their input width, when the class does not take it) other values: each case would be
    built for its own (`out=8` in one, 16 in the other), and the class, which takes none of
    them, would compute for one the other's network."""
    fixed = [p.name for p in decls if p.name not in symbolic]
    if IN not in symbolic:
        fixed.append(IN)
    return any(len({repr(b.env.values.get(n)) for b in bodies}) > 1 for n in fixed)


def _alternatives(instances: Sequence[Module]) -> set[str]:
    """The names that items under different `when`s share (a pre-activation block's `out`,
    the sum with a projection or with the input): alternatives, each a case, never an item
    that one case has and another lacks."""
    conds: dict[str, set[str]] = {}
    for inst in instances:
        for n in inst.nodes:
            if n.when_expr is not None:
                conds.setdefault(n.name, set()).add(n.when_expr.text)
        for sw in inst.switch_exprs:
            if sw.name:
                conds.setdefault(sw.name, set()).add(sw.expr.text)
    return {name for name, texts in conds.items() if len(texts) > 1}


def case_order(parts: Sequence[Part]) -> list[tuple[Val | None, Part]] | None:
    """The groups as cases, each with the condition that holds for its instances and for
    none of the groups after it (None for the last); None when no such order exists."""
    left = list(parts)
    out: list[tuple[Val | None, Part]] = []
    while len(left) > 1:
        for part in left:
            others = [b for p in left if p is not part for b in p[0]]
            cond = _deciding(part[0], others)
            if cond is not None:
                break
        else:
            return None
        out.append((cond, part))
        left.remove(part)
    out.append((None, left[0]))
    return out


def case_guards(bodies: Sequence[Body], names: frozenset[str]) -> list[str] | None:
    """What a class of one case refuses: its case nodes' conditions false, or another
    case node's true (`oup % 2 != 0`, `oup % 2 == 1`), the names they read made
    arguments; None when a condition cannot be written in the class's arguments."""
    guards: list[str] = []
    for b in bodies:
        absent = [
            render_expr(sw.expr, False, b.env, None)
            for sw in b.module.switch_exprs
            if sw.span is not None and names_of(sw.expr) & names
        ]
        for cond, text in [(c, negated(c.text)) for c in b.conds] + [(c, c.text) for c in absent]:
            if not cond.symbolic:
                return None
            if text not in guards:
                guards.append(text)
            b.env.used |= cond.names  # a param only a guard reads is an argument still
    return guards


#: a comparison's operator (the expression language has these six) and the one that holds
#: exactly when it does not
_FLIPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
}


def negated(text: str) -> str:
    """A condition's negation as one would write it: a single comparison with its operator
    flipped (`oup % 2 != 0`), `not x`'s operand, a name after `not`, else `not (...)`."""
    tree = expr_tree(text)
    if isinstance(tree, ast.Compare) and len(tree.ops) == 1 and type(tree.ops[0]) in _FLIPPED:
        return unparse(ast.Compare(tree.left, [_FLIPPED[type(tree.ops[0])]()], tree.comparators))
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not):
        return unparse(tree.operand)
    return f"not {text}" if isinstance(tree, ast.Name) else f"not ({text})"


def stored(code: dict[str, Any], env: Env, reads: set[str]) -> dict[str, Any]:
    """A call's attribute codes (`Step.call`) in a class with cases, each argument or let
    they read as the attribute `__init__` stores it under (`oup` is `self.oup`), added to
    `reads`."""
    local = {env.pynames[n] for n in env.symbolic if n in env.pynames}
    local |= {env.pynames[n] for n, v in env.lets.items() if v.symbolic}

    def one(value: Any) -> Any:
        if isinstance(value, Code):
            tree = expr_tree(value.text)
            read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & local
            reads.update(read)
            return Code(unparse(_SelfNames(read).visit(tree))) if read else value
        if isinstance(value, (list, tuple)):
            return type(value)(one(v) for v in value)
        return value

    return {k: one(v) for k, v in code.items()}


def _deciding(bodies: Sequence[Body], others: Sequence[Body]) -> Val | None:
    """A condition of the first body's case nodes that holds for all `bodies` and for
    none of `others`."""
    seen: set[str] = set()
    for cond in bodies[0].conds:
        if not cond.symbolic or cond.text in seen:
            continue
        seen.add(cond.text)
        if all(truth(cond, b.env) is True for b in bodies) and all(
            truth(cond, b.env) is False for b in others
        ):
            return cond
    return None


def cased_info(infos: Sequence[ClassInfo], conds: Sequence[Val | None]) -> ClassInfo:
    """The one class of the cases `infos` (each rendered as a class of its own), tested in
    `forward` through attributes `__init__` stores (`self.stride`, as torchvision)."""
    first = infos[0]
    attrs = {s.attr for info in infos for s in info.steps if s.attr}
    names: set[str] = set()
    for c in conds:
        if c is not None:
            names |= {n.id for n in ast.walk(expr_tree(c.text)) if isinstance(n, ast.Name)}
    own = all(
        is_free_attr(n) and n not in attrs and n not in RESERVED_NAMES and not n.startswith("_")
        for n in names
    )
    state: dict[str, str] = {}
    cases: list[Case] = []
    reads = stored_reads(infos)
    flags = Namespace(attrs | set(RESERVED_NAMES) | reads)
    for cond, info in zip(conds, infos):
        test = None
        if cond is not None and own:
            tree = _SelfNames(names).visit(expr_tree(cond.text))
            test = unparse(tree)
            state.update((n, n) for n in sorted(names))
        elif cond is not None:
            flag = flags.create(f"case{len(cases) + 1}")
            state[flag] = cond.text
            test = f"self.{flag}"
        cases.append(Case(cond.text if cond else None, test, info))
    state.update((n, n) for n in sorted(reads))
    out = infos[-1].out  # the last case is the else of the chain of phis below
    for cond, info in reversed(list(zip(conds[:-1], infos[:-1]))):
        assert cond is not None
        env = info.bodies[0].env
        cond = inline_lets(cond, env)  # `out` is read by callers, where lets are unknown
        out = tuple(phi(cond, a, b, True, env) for a, b in zip(info.out, out))
    return dataclasses.replace(
        first,
        bodies=[b for info in infos for b in info.bodies],
        steps=[s for info in infos for s in info.steps],
        optional=set().union(*(info.optional for info in infos)),
        out=out,
        cases=cases,
        case_state=state,
    )


def stored_reads(infos: Sequence[ClassInfo]) -> set[str]:
    """The arguments and lets the cases' calls in `forward` read (`self.oup`), which
    `__init__` stores under their own names."""
    return {n for info in infos for n in stored_reads_of(info.bodies)}


def stored_reads_of(bodies: Sequence[Body]) -> set[str]:
    """The arguments and lets one class's calls in `forward` read (`self.radix`)."""
    return {n for b in bodies for n in b.reads}


def reads_stored(parts: Sequence[Part]) -> bool:
    """Whether every argument or let the calls in `forward` read can be stored under its
    own name: an attribute name no submodule, flag or nn.Module member takes."""
    reads = {n for part in parts for b in part[0] for n in b.reads}
    attrs = {s.attr for part in parts for s in part[1] if s.attr}
    for s in (s for part in parts for s in part[1]):  # flags and counts `forward` reads
        if s.ctor is None and s.when is not None and s.when.text not in reads:
            attrs |= {"use_" + re.sub(r"\W", "_", s.node.name), "use_res_connect"}
        if s.loop is not None and s.loop.count not in reads:
            attrs.add("num_layers")
    return all(
        is_free_attr(n) and n not in attrs and n not in RESERVED_NAMES and not n.startswith("_")
        for n in reads
    )


class _SelfNames(ast.NodeTransformer):
    """`stride > 1` as forward tests it: `self.stride > 1`."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id not in self.names:
            return node
        return ast.Name(f"self.{node.id}", ast.Load())  # printed as written


# -- text -------------------------------------------------------------------------------------


@dataclass
class CaseText:
    """One case's statements: as written outside the `if` (`outer`) and inside (`inner`),
    and what decides that two cases share one (`keys`: its text without comments)."""

    outer: list[list[str]]
    inner: list[list[str]]
    keys: list[tuple[str, ...]]


def cased_init(cls: ClassInfo) -> list[str]:
    """`__init__`'s statements: what `forward` tests, then the cases' submodules, a
    submodule a case lacks set to None where the cases that have it build it."""
    lines: list[str] = []
    for attr, text in cls.case_state.items():
        lines += format_doc(Text(text), 8, f"self.{attr} = ")
    orders = [init_targets(c.info) for c in cls.cases]
    owns = [{s.attr for s in c.info.steps if s.attr and s.loop is None} for c in cls.cases]
    for order in orders:
        for other, own in zip(orders, owns):
            for i, attr in enumerate(other):
                if attr is None or attr not in own or attr in order:
                    continue
                # after the nearest attribute before it that this case has (a loop's
                # statement assigns none); written as None there (`init_statements`)
                prior = [a for a in other[:i] if a is not None and a in order]
                order.insert(order.index(prior[-1]) + 1 if prior else 0, attr)
    outers = [init_statements(c.info, 2, order) for c, order in zip(cls.cases, orders)]
    inners = [init_statements(c.info, 3, order) for c, order in zip(cls.cases, orders)]
    texts = [CaseText(o, i, [tuple(s) for s in o]) for o, i in zip(outers, inners)]
    return lines + merge_cases([c.cond for c in cls.cases], texts, 2)


def cased_forward(cls: ClassInfo, graph: Graph, taken: frozenset[str]) -> list[str]:
    """`def forward` of a class with cases: each case's statements under its test."""
    texts = []
    sym_in: Any = None
    said: dict[str, str] = {}
    for case in cls.cases:
        sym, comments = class_shapes(case.info, graph)
        sym_in = sym if sym_in is None else sym_in
        said.update((k, v) for k, v in comments.items() if v)
        outer = forward_statements(case.info, comments, taken, 2)
        inner = forward_statements(case.info, comments, taken, 3)
        bare = forward_statements(case.info, {}, taken, 2)
        texts.append(CaseText(outer, inner, [tuple(s) for s in bare]))
    body = merge_cases([c.test for c in cls.cases], texts, 2)
    return forward_lines(cls, said, sym_in, taken, body)


def merge_cases(tests: Sequence[str | None], texts: Sequence[CaseText], depth: int) -> list[str]:
    """The statements of all cases as one `if`/`elif`/`else` at `depth`, the statements
    every case starts or ends with written once, before or after it."""
    n = min(len(t.keys) for t in texts)
    pre = 0
    while pre < n and len({t.keys[pre] for t in texts}) == 1:
        pre += 1
    post = 0
    while post < n - pre and len({t.keys[len(t.keys) - 1 - post] for t in texts}) == 1:
        post += 1

    def shared(index: int) -> list[str]:
        outs = {tuple(t.outer[index if index >= 0 else len(t.outer) + index]) for t in texts}
        if len(outs) == 1:
            return list(outs.pop())
        return list(texts[0].keys[index if index >= 0 else len(texts[0].keys) + index])

    pad = INDENT * depth
    lines = [ln for i in range(pre) for ln in shared(i)]
    middles = [[ln for s in t.inner[pre : len(t.inner) - post] for ln in s] for t in texts]
    cases = list(zip(tests, middles)) if any(middles) else []  # no `if` that does nothing
    while len(cases) > 2 and cases[-1][0] is None and cases[-2][1] == cases[-1][1]:
        del cases[-2]  # a case that does what the `else` does is the `else`'s
    for k, (test, middle) in enumerate(cases):
        if test is None:
            if middle:
                lines += [pad + "else:", *middle]
            continue
        keyword = "if" if k == 0 else "elif"
        lines += [pad + ln for ln in condition_lines(test, 4 * depth, keyword)]
        lines += middle or [pad + INDENT + "pass"]
    lines += [ln for i in range(post, 0, -1) for ln in shared(-i)]
    return lines
