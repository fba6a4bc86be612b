"""Items a `when` switches, written as `if`s in one class rather than a class per case.

torchvision's `InvertedResidual` builds its layers in a list, the expansion under
`if expand_ratio != 1:`, and carries the channel count on as one expression. An emitted
chain does the same: an item whose `when` the class can write becomes a conditional entry
(`Layers`), and an instance that switched the item off renders the same entry from the
instance that kept it (`Optional`, recorded by where the item is written). The channels
after the item are `phi`: the item's output if the condition holds, its input otherwise,
written as one expression where the condition makes them equal (`in_channels * t` is
`in_channels` when `t == 1`), as `a if cond else b` otherwise; exact either way.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from dataclasses import field
from typing import Any

from ...ir import INPUT, Node
from ...lazymethods import dataclass
from ..pycode import expr_tree, fold, int_by_construction, substitute, unparse
from ..pylayout import Doc, Group, Prefixed
from ..pyvalues import Env, Val, inexact, literal, names_of, same


@dataclass(frozen=True)
class Optional:
    """A switched item as an instance that kept it renders it: its constructor and output,
    the input it read there (`ins`) and the values of the instance's params it read that the
    class writes as literals (`fixed`). Another instance may write the item only where
    those agree (`fits`): Xception's first block (64 channels in, no leading ReLU) took the
    entry of a block with 728 channels and wrote `SeparableConv2d(728 if start_with_relu
    else 64, ...)`, right for no value of `start_with_relu`."""

    ctor: Doc
    out: tuple[Val, ...]
    ins: tuple[Val, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def fits(self, flow: tuple[Val, ...], env: Env) -> bool:
        """Whether an instance whose values arriving at the item are `flow` may write it."""
        if len(flow) != len(self.ins):
            return False
        for a, b in zip(self.ins, flow):
            # a number the keeper wrote for its input is right here only if it is this one's
            # (texts in terms of arguments are right wherever the class is used)
            if a.exact and b.exact and not (a.names and b.names) and a.text != b.text:
                return False
        mine = literal_values(env, self.fixed)
        return mine.keys() == self.fixed.keys() and all(
            same(mine[n], v) for n, v in self.fixed.items()
        )


def record(node: Node, ctor: Doc, out: tuple[Val, ...], ins: tuple[Val, ...], env: Env) -> Optional:
    """The `Optional` of an item `node` that this instance keeps."""
    return Optional(ctor, out, ins, literal_values(env, reads(node)))


def literal_values(env: Env, names: Collection[str]) -> dict[str, Any]:
    """The values `env` writes as numbers for `names`: its lets that are not symbolic, and
    its params that are no arguments."""
    out: dict[str, Any] = {}
    for n in names:
        if n in env.lets:
            if not env.lets[n].symbolic:
                out[n] = env.lets[n].value
        elif n in env.values and n not in env.symbolic:
            out[n] = env.values[n]
    return out


def reads(node: Node) -> set[str]:
    """The names an item's expressions read, with those of the modules inside it that the
    class writes inline or in a class of their own (a block call reads its arguments)."""
    names = set().union(*(names_of(e) for e in node.exprs.values()))
    if node.when_expr is not None:
        names |= names_of(node.when_expr)
    child = node.child
    if child is not None and child.block is None:
        for n in child.nodes:
            names |= reads(n)
        for sw in child.switch_exprs:
            names |= names_of(sw.expr)
    return names


@dataclass(frozen=True)
class Layers(Group):
    """An `nn.Sequential` whose entries are built in a list, some under an `if`.

    `conds[i]` is the condition of entry i (None: always), `names[i]` its name when the
    chain names its entries (an OrderedDict), else None. The inherited `items` show each
    condition in front of its entry, so two renderings compare equal only if both agree."""

    conds: tuple[str | None, ...] = ()
    docs: tuple[Doc, ...] = ()
    names: tuple[str, ...] | None = None


def layers_doc(conds: list[str | None], docs: list[Doc], names: list[str] | None) -> Layers:
    """The `Layers` of a chain's entries."""
    items = tuple(
        Prefixed(_mark(c, names[i] if names else None), d)
        for i, (c, d) in enumerate(zip(conds, docs))
    )
    return Layers(
        "nn.Sequential(",
        items,
        ")",
        conds=tuple(conds),
        docs=tuple(docs),
        names=tuple(names) if names is not None else None,
    )


def _mark(cond: str | None, name: str | None) -> str:
    mark = f"<if {cond}> " if cond is not None else ""
    return mark + (f"{name}=" if name is not None else "")


def phis(
    cond: Val, kept: tuple[Val, ...], skipped: tuple[Val, ...], env: Env | None = None
) -> tuple[Val, ...]:
    """The dims after a switched item: `kept` where `cond` holds, else `skipped`."""
    took = bool(cond.value)
    return tuple(phi(cond, a, b, took, env) for a, b in zip(kept, skipped))


def phi(cond: Val, a: Val, b: Val, took_a: bool, env: Env | None = None) -> Val:
    """`a` if `cond` else `b`, as one expression (the instance took `a` if `took_a`);
    `env` gives the class's let locals and which names hold ints (`round(c)` is `c`)."""
    value = a.value if took_a else b.value
    if not (a.exact and b.exact and cond.exact):
        return inexact(value, a.names | b.names | cond.names)
    if a.text == b.text:
        return Val(a.text, value, a.names | b.names, items=a.items if took_a else b.items)
    if not a.names and not b.names and same(a.value, b.value):
        return literal(value)
    lets = env.let_texts() if env is not None else {}
    ints = {n for n, v in env.py_values().items() if type(v) is int} if env else set()
    one = _implied(cond.text, a.text, b.text, lets, ints)
    if one is not None:
        return Val(one, value, a.names if one == a.text else b.names)
    tree = ast.IfExp(test=expr_tree(cond.text), body=expr_tree(a.text), orelse=expr_tree(b.text))
    return Val(unparse(tree), value, a.names | b.names | cond.names)


def _implied(
    cond: str, a: str, b: str, lets: Mapping[str, str], ints: Collection[str]
) -> str | None:
    """`a` when it equals `b` wherever `cond` is false, or `b` when it equals `a` wherever
    `cond` holds, for a condition `name != k` or `name == k`; else None. `lets` are the
    locals' expressions (`hidden_dim` is `in_channels` where `expand_ratio == 1`)."""
    tree = _negation_pushed(expr_tree(cond))
    if not (isinstance(tree, ast.Compare) and len(tree.ops) == 1):
        return None
    left, right = tree.left, tree.comparators[0]
    sides = {unparse(left), unparse(right)}
    if {a, b} == sides and isinstance(tree.ops[0], (ast.NotEq, ast.Eq)):
        # `a if a != b else b` is `a`; `a if a == b else b` is `b`
        return a if isinstance(tree.ops[0], ast.NotEq) else b
    if isinstance(left, ast.Constant) and isinstance(right, ast.Name):
        left, right = right, left
    if not (isinstance(left, ast.Name) and isinstance(right, ast.Constant)):
        return None
    if isinstance(tree.ops[0], ast.NotEq) and _at(a, left.id, right, lets, ints) == b:
        return a
    if isinstance(tree.ops[0], ast.Eq) and _at(b, left.id, right, lets, ints) == a:
        return b
    return None


def _negation_pushed(tree: ast.expr) -> ast.expr:
    """`not a == b` as `a != b` and `not a != b` as `a == b` (a case's condition of a let
    `equal: in_channels == out` tested as `not equal`); any other tree as it is."""
    if not (isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not)):
        return tree
    inner = tree.operand
    if isinstance(inner, ast.Compare) and len(inner.ops) == 1:
        flipped = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}.get(type(inner.ops[0]))
        if flipped is not None:
            return ast.Compare(left=inner.left, ops=[flipped()], comparators=inner.comparators)
    return tree


def _at(
    text: str, name: str, value: ast.Constant, lets: Mapping[str, str], ints: Collection[str]
) -> str:
    """`text` with `name` given `value`, folded and simplified (`x * 1` is `x`)."""

    class _Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in lets:
                return self.visit(expr_tree(lets[node.id]))
            return ast.Constant(value.value) if node.id == name else node

    tree = _Sub().visit(expr_tree(text))
    return unparse(_simplify(fold(tree), ints))


def _simplify(node: ast.expr, ints: Collection[str] = ()) -> ast.expr:
    """Drop operands that change nothing: `x * 1`, `1 * x`, `x + 0`, `0 + x`, `x - 0`,
    `x // 1`, and `round(x)` of an int."""
    for fname, child in ast.iter_fields(node):
        if isinstance(child, ast.expr):
            setattr(node, fname, _simplify(child, ints))
        elif isinstance(child, list):
            setattr(
                node, fname, [_simplify(c, ints) if isinstance(c, ast.expr) else c for c in child]
            )
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "round"
        and len(node.args) == 1
        and int_by_construction(node.args[0], ints)
    ):
        return node.args[0]
    if not isinstance(node, ast.BinOp):
        return node

    def const(n: ast.expr, v: int) -> bool:
        return isinstance(n, ast.Constant) and type(n.value) is int and n.value == v

    op, left, right = node.op, node.left, node.right
    if isinstance(op, ast.Mult):
        return right if const(left, 1) else left if const(right, 1) else node
    if isinstance(op, ast.Add):
        return right if const(left, 0) else left if const(right, 0) else node
    if isinstance(op, (ast.Sub,)) and const(right, 0):
        return left
    if isinstance(op, ast.FloorDiv) and const(right, 1):
        return left
    return node


#: The most expression nodes `inline_lets` writes out: lets that each read the one before
#: several times (`a2: a1 - a1 + a1`) grow it exponentially (12 such lets took 20 s to emit,
#: 59 ran for ever), and a value that large is written as its number anyway (MAX_TEXT).
MAX_INLINE_NODES = 1000


def inline_lets(val: Val, env: Env) -> Val:
    """`val` with the class's let locals written out (`hidden_dim` is
    `round(in_channels * expand_ratio)`): a caller reads it in terms of arguments only; the
    instance's number when that would pass MAX_INLINE_NODES."""
    texts = env.let_texts()
    if not val.symbolic or not texts:
        return val
    tree = expr_tree(val.text)
    for name in reversed(list(texts)):  # a let reads only the ones before it
        nodes = list(ast.walk(tree))
        uses = sum(isinstance(n, ast.Name) and n.id == name for n in nodes)
        if not uses:
            continue
        let_tree = expr_tree(texts[name])
        if len(nodes) + uses * sum(1 for _ in ast.walk(let_tree)) > MAX_INLINE_NODES:
            return inexact(val.value, val.names)
        tree = substitute(tree, {name: let_tree})
    return Val(unparse(fold(tree)), val.value, val.names, val.exact, val.items)


def output_dims(body: Any) -> dict[str, Any]:
    """A class's output dims (`out`) in its terms, and each output's of a block of several
    (`outs`, read by the caller's `block_output` nodes)."""

    def dims(name: str) -> tuple[Val, ...]:
        return tuple(inline_lets(v, body.env) for v in body.vals[name])

    several = tuple(dims(o.name) for o in body.outputs) if len(body.outputs) > 1 else ()
    return {"out": dims(body.outputs[0].name if body.outputs else INPUT), "outs": several}
