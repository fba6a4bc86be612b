"""Constructor expressions: each node of a class body written in its class's terms.

A module node becomes the expression `__init__` assigns (`nn.Conv2d(in_channels, planes,
...)`), a function node the attributes its op's `emit()` receives in `forward`, a chain
an `nn.Sequential`, a block instance a call of its class (`Bottleneck(256, 64)`). Values
the spec wrote come from the expressions lowering kept (`Node.exprs`, `pyvalues.render_expr`);
values a shape rule fills in come from running the rule on traced numbers (`rules.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from ...dims import Shape
from ...errors import EmitError
from ...ir import ABSENT_AS, INPUT, Module, Node, Switch, replaced
from ...ops import REGISTRY, node_style
from ...ops.base import ShapeContext
from ...ops.outputs import BLOCK_OUTPUT
from ...ops.reuse import ReuseCall, replay
from ..pycode import collect_terms, expr_tree, fold, lit, substitute, unparse
from ..pylayout import Doc, Text, call, flat, parse_doc
from ..pyvalues import (
    IN,
    MAX_TEXT,
    Env,
    Val,
    as_int,
    inexact,
    literal,
    names_of,
    plain_value,
    render_expr,
    same,
)
from .cases import stored
from .context import EmitContext
from .inputs import channel_args, held_sizes
from .loops import no_copies, render_loop
from .model import ClassInfo, Step, switchable
from .optional import layers_doc, phis, record
from .rules import rule_values
from .runs import compress, compress_named, ordered_dict

#: Vals by node name: a block's inputs after the first (`Module.extra_inputs`)
Vals = Mapping[str, tuple[Val, ...]]
#: one tensor's dims as Vals; several tensors' sizes
Dims = tuple[Val, ...]
Shapes = Sequence[Shape]


class Scope(EmitContext):
    """Renders the nodes of one module as steps (a class body, or a chain inline)."""

    def render_scope(
        self, module: Module, env: Env, in_vals: tuple[Val, ...], more: Vals | None = None
    ) -> tuple[list[Step], dict[str, tuple[Val, ...]]]:
        """Steps for one module's nodes (a class body or an inline chain; `more`: Vals)."""
        vals: dict[str, tuple[Val, ...]] = {INPUT: in_vals, **(more or {})}
        readers = {i for n in module.nodes for i in n.inputs}
        steps = []
        absent = _absent(module, False)
        prev = INPUT
        loops = {lp.nodes[0]: lp for lp in module.loops if lp.nodes} if self.loops_on else {}
        empty = [lp for lp in module.loops if not lp.nodes] if self.loops_on else []
        borrowed: dict[tuple[str, int], tuple[str, str]] = {}  # `loops.no_copies`
        inside: set[str] = set()
        gathers: dict[str, tuple[str, ...]] = {}  # a concat of a loop's every copy: its reads
        for node in module.nodes:
            if node.name in inside:  # a copy the loop's one step writes
                prev = node.name
                continue
            self.skipped(absent, node, env, vals, prev, cases=True)
            while empty and _pos(empty[0].span) < _pos(node.span):
                steps += no_copies(self, module, empty.pop(0), env, vals, borrowed)
            before, prev = prev, node.name
            if node.name in loops:
                loop = loops[node.name]
                step, found = render_loop(self, module, loop, env, vals)
                gathers.update(found)
                inside |= set(loop.nodes[1:])
                vals[loop.nodes[-1]] = step.out
                steps.append(step)
                continue
            self.at = node.span or self.at
            reads = gathers.get(node.name) or _reading(node, borrowed)
            ins = [vals[i] for i in reads or node.inputs]
            in_ch = ins[0][1] if ins and len(ins[0]) >= 2 else None
            when = None
            join = node.attrs.get(ABSENT_AS) is not None  # its `when` reads the last input
            if node.when_expr is not None and names_of(node.when_expr) & self.case_names:
                case = render_expr(node.when_expr, True, env, in_ch)
                env.use(case)
                self.case_conds.append(case)
            elif node.when_expr is not None and switchable(node, readers, module.nodes):
                cond_in = ins[-1][1] if join and len(ins[-1]) >= 2 else in_ch
                when = render_expr(node.when_expr, True, env, cond_in)
                env.use(when)
                if not when.symbolic:
                    when = None
            tensor = node.child is None and REGISTRY[node.kind].style == "tensor"
            attr = node.name if node.is_module or tensor else None
            if node.child is not None:
                ctor, out = self.render_child(node, env, ins)
                step = Step(node, attr, ctor, None, when, out)
            elif node.kind in _READS_ANOTHER:  # a reuse, a block instance's output
                step = read_step(self, module, node, vals, ins, when)
            else:
                op = REGISTRY[node.kind]
                # a tensor reads no input; its `in_channels` is what arrives where it is
                attrs, out = self.render_op(node, env, ins, [vals[before]] if tensor else None)
                code = self.attr_codes(node, attrs, env)
                if node_style(node) != "function":
                    step = Step(node, attr, self.emit_op(op, node, attrs, env), None, when, out)
                elif self.store_reads and not self.chain_depth:  # `self.radix` (cases.py)
                    step = Step(node, None, None, stored(code, env, self.forward_reads), when, out)
                else:  # forward sees no argument: a value its call reads is the instance's
                    env.lost |= _read_names(attrs.values())  # `x.split([reg_tokens, 16], 1)`
                    step = Step(node, None, None, code, when, out)
            step.reads = reads
            vals[node.name] = step.out
            if when is not None and step.ctor is not None:
                self.optional.setdefault(node.span, []).append(
                    record(node, step.ctor, step.out, ins[0], env)
                )
                vals[node.name] = phis(when, step.out, ins[0], env)
            elif when is not None:
                self.kept_calls.add(node.span)
            steps.append(step)
        for loop in empty:
            steps += no_copies(self, module, loop, env, vals, borrowed)
        self.skipped(absent, None, env, vals, prev, cases=True)
        return steps, vals

    def skipped(
        self,
        absent: list[Switch],
        node: Node | None,
        env: Env,
        vals: dict[str, tuple[Val, ...]],
        prev: str,
        cases: bool = False,
    ) -> list[tuple[str, str, Doc]]:
        """The items switched off before `node` (None: at the end) whose condition the class
        can write and that another instance kept: as (condition, name, constructor), the
        values read after them (`vals[prev]`) becoming the `phi` of the item. With `cases`
        (a class body), items another case keeps (`cases.py`) are passed over."""
        out = []
        while absent and (node is None or _pos(absent[0].span) < _pos(node.span)):
            sw = absent.pop(0)
            flow, seen = vals[prev], vals.get(sw.reads or prev) or vals[prev]  # seen: its `from`
            cond = render_expr(sw.expr, False, env, seen[1] if len(seen) > 1 else None)
            if cases and cond.symbolic:
                self.absent_conds[sw.span] = cond  # what the class refuses (`guards.py`)
            if cases and names_of(sw.expr) & self.case_names:
                continue  # the other cases' node: not this instance's code
            if not cond.symbolic:
                continue
            if sw.span in self.kept_calls and sw.span not in self.optional:
                env.switched |= cond.names  # the keeper's `if` (`classes.combine`)
                continue
            if sw.span not in self.optional:
                self.missing[sw.span] = cond
                continue
            rec = next((r for r in reversed(self.optional[sw.span]) if r.fits(flow, env)), None)
            if rec is None:
                # kept only by instances whose literals are not this one's: their entry would
                # be wrong here, so the names the condition reads decide structure
                self.foreign[sw.span] = cond
                continue
            if cases:  # a class body: the `if` is the keeping instance's step (`combine`)
                env.switched |= cond.names
            else:
                env.use(cond)
            out.append((cond.text, sw.name, rec.ctor))
            vals[prev] = phis(cond, rec.out, flow, env)
        return out

    def render_op(
        self,
        node: Node,
        env: Env,
        ins: Sequence[tuple[Val, ...]],
        around: Sequence[tuple[Val, ...]] | None = None,
    ) -> tuple[dict[str, Val], tuple[Val, ...]]:
        """A layer's attributes and output dims as Vals in the class's terms (`in_channels`
        and `in_features` read from `around`, default the inputs)."""
        seen = ins if around is None else around
        in_ch = seen[0][1] if seen and len(seen[0]) >= 2 else None
        in_last = seen[0][-1] if seen and len(seen[0]) >= 2 else None
        given = {
            f: written_word(node, f, render_expr(node.exprs.get(f), v, env, in_ch, in_last), env)
            for f, v in node.attrs.items()
            if not f.startswith("_") and (f in node.exprs or f in node.stated)
        }
        derived, out = rule_values(node, given, ins)
        attrs = {
            f: given[f] if f in given else derived[f] for f in node.attrs if not f.startswith("_")
        }
        for v in attrs.values():
            env.use(v)
        self.rendered[id(node)] = attrs
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
        self, node: Node, env: Env, ins: Sequence[tuple[Val, ...]]
    ) -> tuple[Doc, tuple[Val, ...]]:
        """A compound child (`ins`: each input's Vals): a chain inline, else a class's call."""
        child = node.child
        assert child is not None
        if child.block is None and child.is_chain:
            return self.render_chain(child, env, ins[0])
        return self.render_call(self.class_of[id(child)], child, node, env, ins)

    def render_chain(
        self, child: Module, env: Env, in_val: tuple[Val, ...]
    ) -> tuple[Doc, tuple[Val, ...]]:
        """A chain as `nn.Sequential(...)`, named entries through an OrderedDict; with
        switched entries (`optional.py`) as a list built under `if`s (`Layers`)."""
        nested = self.chain_depth > 0
        self.chain_depth += 1
        try:
            entries, vals = self.chain_entries(child, env, in_val, nested)
        finally:
            self.chain_depth -= 1
        docs = [d for _, _, d in entries]
        names = [n for _, n, _ in entries]
        out = vals[child.outputs[0].name] if child.outputs else in_val
        indexed = all(n is None or n.isdigit() for n in names)
        if any(c is not None for c, _, _ in entries):
            return layers_doc([c for c, _, _ in entries], docs, None if indexed else names), out
        if indexed:
            return call("nn.Sequential", compress(docs)), out
        pairs = compress_named([n or "" for n in names], docs)
        return call("nn.Sequential", [ordered_dict(pairs)]), out

    def chain_entries(
        self, child: Module, env: Env, in_val: tuple[Val, ...], nested: bool
    ) -> tuple[list[tuple[str | None, str | None, Doc]], dict[str, tuple[Val, ...]]]:
        """A chain's entries as (condition, name, constructor), and the nodes' Vals.

        An item kept under a `when` the class can write is recorded (`self.optional`) and
        its output becomes a `phi`; an item an instance switched off is rendered from that
        record where it was written, so every instance renders the same entries."""
        vals: dict[str, tuple[Val, ...]] = {INPUT: in_val}
        prev = INPUT
        entries: list[tuple[str | None, str | None, Doc]] = []
        absent = _absent(child, nested)
        for node in [*child.nodes, None]:
            entries += [
                (c, n or None, d) for c, n, d in self.skipped(absent, node, env, vals, prev)
            ]
            if node is None:
                break
            self.at = node.span or self.at
            ins = vals[node.inputs[0]]
            step = self.chain_step(node, env, ins)
            when = None
            if node.when_expr is not None and not nested:
                when = render_expr(node.when_expr, True, env, ins[1] if len(ins) > 1 else None)
            if when is not None and when.symbolic and step.ctor is not None:
                env.use(when)
                self.optional.setdefault(node.span, []).append(
                    record(node, step.ctor, step.out, ins, env)
                )
                vals[node.name] = phis(when, step.out, ins, env)
                entries.append((when.text, node.name, step.ctor))
            else:
                vals[node.name] = step.out
                entries.append((None, node.name, step.ctor or Text("")))
            prev = node.name
        return entries, vals

    def chain_step(self, node: Node, env: Env, ins: tuple[Val, ...]) -> Step:
        """One entry of a chain (a module node) rendered like a class body's step."""
        if node.child is not None:
            ctor, out = self.render_child(node, env, [ins])
            return Step(node, node.name, ctor, None, None, out)
        op = REGISTRY[node.kind]
        attrs, out = self.render_op(node, env, [ins])
        return Step(node, node.name, self.emit_op(op, node, attrs, env), None, None, out)

    def render_call(
        self, cls: ClassInfo, child: Module, node: Node, env: Env, ins: Sequence[tuple[Val, ...]]
    ) -> tuple[Doc, tuple[Val, ...]]:
        """`Block(in_channels, first, key=value, ...)` in the caller's terms, and its output
        (`ins`: each input's Vals; the channels of those after the first follow the first's)."""
        in_val = ins[0]
        axis = child.in_axis
        if axis is None and cls.in_arg:
            # a layout change left no dim known to hold this instance's channels (TResNet's
            # space-to-depth reshape): the class reads them where its other instances do
            axis = next((b.module.in_axis for b in cls.bodies if b.module.in_axis), None)
            axis = cls.fallback_axis if axis is None else axis
        in_ch = in_val[axis] if axis is not None and 0 < axis < len(in_val) else None
        mapping: dict[str, Val] = {f"#in{d}": v for d, v in enumerate(in_val)}
        if in_ch is not None:
            mapping[IN] = in_ch
        positional: list[Doc] = []
        keywords: list[tuple[str, Doc]] = []
        positional += channel_args(cls, child, ins, in_ch, env, mapping)
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
        env.lost |= held_sizes(cls, child, ins)
        shape = node.shape or ()
        out = tuple(_subst(cv, mapping, cls, d) for cv, d in zip(cls.out, shape))
        self.rendered[id(node)] = (cls, mapping)
        if cls.outs:  # a block of several outputs: each's, for its `block_output` nodes
            self.outs_of[node.name] = _each_output(cls, mapping, child)
        return block_call(cls, positional, keywords), out


#: The longest block call written with keywords for its required arguments: a longer one
#: would break over several lines, so they go by position (`MBConv(16, 6.0, 3, 2, 24, ...)`),
#: in the order of the class's signature, as torchvision's model builders call blocks.
CALL_WIDTH = 72


def block_call(cls: ClassInfo, positional: list[Doc], keywords: list[tuple[str, Doc]]) -> Doc:
    """`Block(in_channels, first, key=value, ...)`; too long for a line (CALL_WIDTH), its
    required arguments by position."""
    doc = call(cls.name, positional, keywords)
    if len(flat(doc)) > CALL_WIDTH:
        required = {p.pyname for p in cls.params if p.required}
        lead = [t for k, t in keywords if k in required]
        keywords = [(k, t) for k, t in keywords if k not in required]
        doc = call(cls.name, positional + lead, keywords)
    return doc


def _absent(module: Module, nested: bool) -> list[Switch]:
    """The items of `module` a `when` switched off, in the order they are written."""
    if nested:
        return []
    absent = [sw for sw in module.switch_exprs if sw.span is not None]
    return sorted(absent, key=lambda sw: _pos(sw.span))


def unkept(scope: Scope) -> set[str]:
    """The names in the conditions of switched-off items that no instance kept: the class
    cannot write such an item, so those names decide its structure."""
    kept = scope.optional.keys() | scope.kept_calls
    return set().union(*(c.names for s, c in scope.missing.items() if s not in kept))


def foreign_names(scope: Scope) -> set[str]:
    """The names in the conditions of switched-off items that only instances with other
    literals kept: they decide structure (a class never writes such an item)."""
    return set().union(*(c.names for c in scope.foreign.values()))


def unkept_conditions(scope: Scope) -> list[str]:
    """The conditions of the items no instance kept, in the order they are written (a
    scope's `missing` items that no instance recorded in its `optional`)."""
    out: list[str] = []
    for span, cond in scope.missing.items():
        if span not in scope.optional and span not in scope.kept_calls and cond.text not in out:
            out.append(cond.text)
    return out


def _reading(
    node: Node, borrowed: Mapping[tuple[str, int], tuple[str, str]]
) -> tuple[str, ...] | None:
    """`node`'s inputs with its reads of a loop of no copies (its input, where an instance
    with copies reads the last one) named as that last copy (`loops.no_copies`); None when
    it reads none."""
    if not borrowed:
        return None
    ins = tuple(
        borrowed[(node.name, k)][1]
        if (node.name, k) in borrowed and borrowed[(node.name, k)][0] == i
        else i
        for k, i in enumerate(node.inputs)
    )
    return ins if ins != node.inputs else None


def _pos(span: Any) -> tuple[int, int]:
    """Where an item is written, to order a chain's kept and switched-off items."""
    return (span.line, span.col) if span is not None else (0, 0)


def _subst(cv: Val, mapping: Mapping[str, Val], cls: ClassInfo, value: Any) -> Val:
    """A class's output Val in the caller's terms (its arguments substituted)."""
    spec_of = {py: name for name, py in cls.pynames.items()}
    if cv.symbolic:
        parts = {n: mapping.get(n) for n in cv.names}
        if all(v is not None and v.exact for v in parts.values()):
            subst = {cls.pynames[n]: expr_tree(v.text) for n, v in parts.items() if v}
            tree = fold(substitute(expr_tree(cv.text), subst))
            if type(plain_value(value)) is int:  # channels: `c + g + g` is `c + g * 2`
                tree = collect_terms(tree)
            names = frozenset().union(*(v.names for v in parts.values() if v))
            text = unparse(tree)
            if len(text) > MAX_TEXT:
                return inexact(value, names)
            return Val(text, plain_value(value), names)
    deps: set[str] = set()
    for n in cv.names:
        n = spec_of.get(n, n)
        m = mapping.get(n)
        deps |= m.names if m is not None else {n}
    return inexact(value, deps) if deps else literal(value)


def written_word(node: Node, field: str, val: Val, env: Env) -> Val:
    """`val`, or where it is a word a param gives to a field whose word its op's `emit` does
    not write as given (`Op.emits_words`: the callee an `activation`'s `fn` chooses) the
    instance's word, whose names then decide the class (a class per value)."""
    if not val.symbolic or type(val.value) is not str:
        return val
    if field in REGISTRY[node.kind].emits_words:
        return val
    env.lost |= val.names
    return literal(val.value)


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


def _read_names(vals: Iterable[Val]) -> set[str]:
    """The names the values' code reads (a list's items' too)."""
    out: set[str] = set()
    for v in vals:
        out |= set(v.names) if v.symbolic else set()
        out |= _read_names(v.items or ())
    return out


REUSE = ReuseCall.kind
#: the kinds of node `read_step` writes
_READS_ANOTHER = frozenset({REUSE, BLOCK_OUTPUT})


def _each_output(cls: ClassInfo, mapping: Mapping[str, Val], child: Module) -> list[Any]:
    """The dims of each output of a block instance of several, in the caller's terms."""
    return [
        tuple(_subst(cv, mapping, cls, d) for cv, d in zip(dims, shape or ()))
        for dims, shape in zip(cls.outs, child.out_shapes)
    ]


def read_step(
    scope: Scope,
    module: Module,
    node: Node,
    vals: Mapping[str, tuple[Val, ...]],
    ins: Sequence[tuple[Val, ...]],
    when: Val | None,
) -> Step:
    """The step of a node that reads another node's module: a reuse (`reused_step`), or one
    output of a block instance of several, which its instance's line writes (`p, q =
    self.stage(x)`), its dims the instance's output's."""
    if node.kind == REUSE:
        return reused_step(scope, module, node, vals, ins, when)
    index = node.attrs["_index"]
    out = scope.outs_of[node.inputs[0]][index]
    return Step(node, None, None, {"_index": index}, None, out)


def reused_step(
    scope: Scope,
    module: Module,
    node: Node,
    vals: Mapping[str, tuple[Val, ...]],
    ins: Sequence[tuple[Val, ...]],
    when: Val | None,
) -> Step:
    """A reuse's step, a call of the reused node's attribute. Its output dims are the reused
    node's where it reads what that node read (CBAM's two pooled maps), else the reused
    module's output worked out again on this input in the class's terms (a layer's rule on
    its rendered attributes, a block's class output: its arguments are those of the first
    call, so one class serves inputs of other sizes); a dim that is neither is the
    reused node's where no input reaches it, else this instance's number, which then
    decides the class's structure."""
    target = module.node(node.attrs["node"])
    out = vals.get(target.name)
    before = [vals.get(i) for i in target.inputs]
    if out is None or before != list(ins):
        again = output_again(scope.rendered, target, ins, node.in_shapes, node.shape or ())
        names = frozenset().union(*(v.names for dims in ins for v in dims))
        read = frozenset().union(*(v.names for dims in before if dims for v in dims))
        dims = []
        for d, dim in enumerate(node.shape or ()):
            value = dim.value if dim.is_const else dim
            first = out[d] if out is not None and d < len(out) else None
            if d < len(again) and again[d].exact and same(again[d].value, value):
                dims.append(again[d])
            elif first is not None and first.exact and not first.names & read:
                if same(first.value, value):
                    dims.append(first)
                else:
                    dims.append(inexact(dim, names) if dim.is_const else literal(dim))
            else:
                dims.append(inexact(dim, names) if dim.is_const else literal(dim))
        out = tuple(dims)
    return Step(node, None, None, {"node": node.attrs["node"]}, when, out)


def output_again(
    rendered: Mapping[int, Any], target: Node, ins: Sequence[Dims], shapes: Shapes, shape: Shape
) -> Dims:
    """The output of `target`'s module called again on `ins` (of sizes `shapes`, giving
    `shape`) in the class's terms: a layer's rule on its attributes as first rendered, a
    block's class output with the first call's arguments (the dims but the channels the new
    input's), a sequential's items in turn; () where a part was never rendered."""
    child, seen = target.child, rendered.get(id(target))
    if child is not None and child.input_names:  # a class's output of several inputs' dims
        return ()  # is the reuse's own (reused_step), not the first input's alone
    if child is not None and child.block is None and child.is_chain:
        vals: dict[str, Dims] = {INPUT: ins[0]}
        sizes: dict[str, Shape] = {INPUT: shapes[0]}
        for n in child.nodes:
            given = [sizes[i] for i in n.inputs]
            sizes[n.name] = replay(n, given, ShapeContext(), None)
            out = output_again(rendered, n, [vals[i] for i in n.inputs], given, sizes[n.name])
            if not out:
                return ()
            vals[n.name] = out
        return vals[child.outputs[0].name] if child.outputs else ins[0]
    if seen is None:
        return ()
    if child is None:
        return rule_values(replaced(target, in_shapes=tuple(shapes), shape=shape), seen, ins)[1]
    cls, mapping = seen
    again = mapping | {f"#in{d}": v for d, v in enumerate(ins[0])}
    return tuple(_subst(cv, again, cls, d) for cv, d in zip(cls.out, shape))
