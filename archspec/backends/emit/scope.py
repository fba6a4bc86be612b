"""Constructor expressions: each node of a class body written in its class's terms.

A module node becomes the expression `__init__` assigns (`nn.Conv2d(in_channels, planes,
...)`), a function node the attributes its op's `emit()` receives in `forward`, a chain
an `nn.Sequential`, a block instance a call of its class (`Bottleneck(256, 64)`). Values
the spec wrote come from the expressions lowering kept (`Node.exprs`, `pyvalues.render_expr`);
values a shape rule fills in come from running the rule on traced numbers (`rules.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from ...errors import EmitError
from ...ir import INPUT, Module, Node
from ...ops import REGISTRY
from ..pycode import expr_tree, fold, lit, substitute, unparse
from ..pylayout import Comp, Doc, Group, Prefixed, Text, call, flat, parse_doc
from ..pyvalues import IN, Env, Val, as_int, inexact, literal, plain_value, render_expr, same
from .context import EmitContext
from .model import ClassInfo, Step
from .rules import rule_values


class Scope(EmitContext):
    """Renders the nodes of one module as steps (a class body, or a chain inline)."""

    def render_scope(
        self, module: Module, env: Env, in_vals: tuple[Val, ...]
    ) -> tuple[list[Step], dict[str, tuple[Val, ...]]]:
        """Steps for the nodes of one module (a class body, or a chain rendered inline)."""
        vals: dict[str, tuple[Val, ...]] = {INPUT: in_vals}
        readers = {i for n in module.nodes for i in n.inputs}
        steps = []
        for node in module.nodes:
            self.at = node.span or self.at
            ins = [vals[i] for i in node.inputs]
            in_ch = ins[0][1] if ins and len(ins[0]) >= 2 else None
            when = None
            if node.when_expr is not None and node.name in readers and len(node.inputs) == 1:
                when = render_expr(node.when_expr, True, env, in_ch)
                env.use(when)
                if not when.symbolic:
                    when = None
            attr = node.name if node.is_module else None
            if node.child is not None:
                ctor, out = self.render_child(node, env, ins[0])
                step = Step(node, attr, ctor, None, when, out)
            else:
                op = REGISTRY[node.kind]
                attrs, out = self.render_op(node, env, ins)
                code = self.attr_codes(node, attrs, env)
                if op.style == "module":
                    step = Step(node, attr, self.emit_op(op, node, attrs, env), None, when, out)
                else:
                    step = Step(node, None, None, code, when, out)
            vals[node.name] = step.out
            steps.append(step)
        return steps, vals

    def render_op(
        self, node: Node, env: Env, ins: Sequence[tuple[Val, ...]]
    ) -> tuple[dict[str, Val], tuple[Val, ...]]:
        """A layer's attributes and output dims as Vals in the class's terms."""
        in_ch = ins[0][1] if ins and len(ins[0]) >= 2 else None
        in_last = ins[0][-1] if ins and len(ins[0]) >= 2 else None
        inferred = REGISTRY[node.kind].inferred
        given = {
            f: render_expr(node.exprs.get(f), v, env, in_ch, in_last)
            for f, v in node.attrs.items()
            if not f.startswith("_") and (f in node.exprs or f not in inferred)
        }
        derived, out = rule_values(node, given, ins)
        attrs = {
            f: given[f] if f in given else derived[f] for f in node.attrs if not f.startswith("_")
        }
        for v in attrs.values():
            env.use(v)
        symbolic = [f for f, v in attrs.items() if v.symbolic]
        if symbolic:
            self.symbolic_attrs[id(node)] = symbolic
        return attrs, out

    def emit_op(self, op: Any, node: Node, attrs: Mapping[str, Val], env: Env) -> Doc:
        """The op's constructor; values it cannot take symbolically are written literally."""
        code = self.attr_codes(node, attrs, env)
        try:
            return parse_doc(op.emit(code, lit))
        except EmitError:
            raise
        except Exception:
            for v in attrs.values():
                env.lost |= v.names
            try:
                return parse_doc(op.emit({k: v.value for k, v in attrs.items()}, lit))
            except EmitError:
                raise
            except Exception as exc:
                raise EmitError(
                    f"layer kind `{node.kind}` failed to emit code: {type(exc).__name__}: {exc}",
                    span=node.span,
                ) from None

    def attr_codes(self, node: Node, attrs: Mapping[str, Val], env: Env) -> dict[str, Any]:
        """What the op's `emit()` receives; an int field's text that may give a whole float
        is wrapped in `int(...)`, as lowering turns the float into an int."""
        kinds = _int_fields(node.kind)
        return {k: (as_int(v, env) if k in kinds else v).code() for k, v in attrs.items()}

    def render_child(
        self, node: Node, env: Env, in_val: tuple[Val, ...]
    ) -> tuple[Doc, tuple[Val, ...]]:
        """A compound child: a chain inline, anything else a call of its class."""
        child = node.child
        assert child is not None
        if child.block is None and child.is_chain:
            return self.render_chain(child, env, in_val)
        return self.render_call(self.class_of[id(child)], child, node, env, in_val)

    def render_chain(
        self, child: Module, env: Env, in_val: tuple[Val, ...]
    ) -> tuple[Doc, tuple[Val, ...]]:
        """A chain as `nn.Sequential(...)`, named entries through an OrderedDict."""
        steps, vals = self.render_scope(child, env, in_val)
        docs = [s.ctor for s in steps if s.ctor is not None]
        names = [s.node.name for s in steps]
        out = vals[child.outputs[0].name] if child.outputs else in_val
        if names == [str(i) for i in range(len(names))]:
            return call("nn.Sequential", _compress(docs)), out
        pairs = [Group("(", (Text(lit(n)), d), ")") for n, d in zip(names, docs)]
        return call("nn.Sequential", [call("OrderedDict", [Group("[", tuple(pairs), "]")])]), out

    def render_call(
        self, cls: ClassInfo, child: Module, node: Node, env: Env, in_val: tuple[Val, ...]
    ) -> tuple[Doc, tuple[Val, ...]]:
        """`Block(in_channels, first, key=value, ...)` in the caller's terms, and its output."""
        in_ch = in_val[1] if len(in_val) >= 2 else None
        mapping: dict[str, Val] = {f"#in{d}": v for d, v in enumerate(in_val)}
        if in_ch is not None:
            mapping[IN] = in_ch
        positional: list[Doc] = []
        keywords: list[tuple[str, Doc]] = []
        if cls.in_arg:
            assert in_ch is not None
            env.use(in_ch)
            positional.append(Text(as_int(in_ch, env).text))
        for i, p in enumerate(cls.params):
            v = render_expr(node.exprs.get(p.name), child.args[p.name], env, in_ch)
            env.use(v)
            mapping[p.name] = v
            text = as_int(v, env).text if p.type == "int" else v.text
            if i == 0 and p.required:
                positional.append(Text(text))
            elif p.required or v.symbolic or not same(v.value, p.default):
                keywords.append((p.pyname, Text(text)))
        for name in sorted(cls.pinned):
            if name in node.exprs:
                v = render_expr(node.exprs[name], child.args[name], env, in_ch)
                env.lost |= v.names
        env.lost |= cls.escaped
        shape = node.shape or ()
        out = tuple(_subst(cv, mapping, cls, d) for cv, d in zip(cls.out, shape))
        return call(cls.name, positional, keywords), out


def _subst(cv: Val, mapping: Mapping[str, Val], cls: ClassInfo, value: Any) -> Val:
    """A class's output Val in the caller's terms (its arguments substituted)."""
    spec_of = {py: name for name, py in cls.pynames.items()}
    if cv.symbolic:
        parts = {n: mapping.get(n) for n in cv.names}
        if all(v is not None and v.exact for v in parts.values()):
            subst = {cls.pynames[n]: expr_tree(v.text) for n, v in parts.items() if v}
            tree = fold(substitute(expr_tree(cv.text), subst))
            names = frozenset().union(*(v.names for v in parts.values() if v))
            return Val(unparse(tree), plain_value(value), names)
    deps: set[str] = set()
    for n in cv.names:
        n = spec_of.get(n, n)
        m = mapping.get(n)
        deps |= m.names if m is not None else {n}
    return inexact(value, deps) if deps else literal(value)


def _compress(docs: list[Doc]) -> list[Doc]:
    """Runs of three or more equal constructors as `*[Block(...) for _ in range(k)]`."""
    out: list[Doc] = []
    i = 0
    while i < len(docs):
        j = i
        while j < len(docs) and flat(docs[j]) == flat(docs[i]):
            j += 1
        if j - i >= 3:
            out.append(Prefixed("*", Comp(docs[i], f"for _ in range({j - i})")))
        else:
            out += docs[i:j]
        i = j
    return out


def _int_fields(kind: str) -> frozenset[str]:
    """The fields of a layer kind that lowering binds as ints (`Int`/`Ints`)."""
    spec = getattr(REGISTRY.get(kind), "spec", None)
    return _int_fields_of(spec) if spec is not None else frozenset()


@lru_cache(maxsize=256)
def _int_fields_of(spec: type) -> frozenset[str]:
    """`_int_fields` by the op's spec model (ops can be replaced; their models differ)."""
    from ...lower import _field_plan

    plan = _field_plan(spec)
    return frozenset(f for f, _, final in plan if final and final.kind in ("int", "ints"))
