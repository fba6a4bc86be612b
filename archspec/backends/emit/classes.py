"""Class selection: which modules become classes, and what each class's constructor takes.

Each instance of a block is rendered on its own (`Scope.render_scope`), every value in terms
of the block's params. Instances whose renderings agree share a class: a chain item that its
`when` switches renders alike in every instance, kept or not (`optional.py`: an `if` in the
class), and a residual shortcut switched on for some instances and off for others becomes
an `if` too (`combine`). A size a call in `forward` takes from a param (an `unflatten` into
`radix` paths) reads what `__init__` stores (`self.radix`). A value that cannot be written
in terms of params makes those params fixed: the class is then specialised per value
(`Inception_2`) rather than written wrong, and a network param that decides structure is
fixed at its bound value and named in the docstring (`root.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from ...errors import EmitError
from ...ir import Module, ParamInfo
from ...lazymethods import dataclass
from ..pycode import camel, is_free_name
from ..pyvalues import IN, Env, Val, inexact, literal, more_in, names_of, render_expr, truth
from .cases import (
    Part,
    case_guards,
    case_names,
    case_order,
    case_params,
    cased_info,
    pinned_apart,
    reads_stored,
    stored_reads_of,
)
from .guards import class_guards, never_kept
from .inputs import channel_axis, fixed_more, known_axis, more_pynames, more_vals
from .loops import NoLoop, loop_switches, writable
from .model import Body, ClassInfo, Param, Step, fallback_input, switchable, variant_note
from .optional import layers_doc, output_dims
from .scope import Scope, foreign_names, unkept_conditions
from .scope import unkept as scope_unkept

PARAM_TYPES = ("int", "float", "bool", "str")
#: what a class's `in_channels` can be, for the guards that test it (`guards.py`)
CHANNELS = ParamInfo(IN, "int", None, ge=1)


class Classes(Scope):
    """Finds the emitted classes (innermost first) and the network class."""

    def collect(self) -> None:
        """Find every module that becomes a class, and make the classes, innermost first."""
        instances: dict[Any, list[Module]] = {}
        order: list[Any] = []
        deps: dict[Any, set[Any]] = {}

        def visit(module: Module, owner: Any) -> None:
            for node in module.nodes:
                child = node.child
                if child is None:
                    continue
                if child.block is not None or not child.is_chain:
                    key = ("block", child.block) if child.block else ("anon", owner, node.name)
                    if key not in instances:
                        instances[key] = []
                        order.append(key)
                    instances[key].append(child)
                    deps.setdefault(owner, set()).add(key)
                    visit(child, key)
                else:
                    visit(child, owner)

        visit(self.graph.root, "root")
        done: set[Any] = set()

        def make(key: Any) -> None:
            if key in done:
                return
            done.add(key)
            for dep in sorted(deps.get(key, ()), key=order.index):
                make(dep)
            self.fallback_axis = known_axis(instances[key])
            self.classify(key, instances[key])

        root_name = self.graph.class_name
        if not is_free_name(root_name):
            raise EmitError(
                f"class name `{root_name}` would shadow a Python builtin or a name the emitted "
                "code uses",
                code="E602",
                span=self.graph.class_name_span or self.graph.root.span,
                hint="set `class_name:` in the spec to another name",
            )
        self.class_names.reserve(root_name)
        for key in order:
            make(key)

    def _class_name(self, candidate: str) -> str:
        """A fresh class name (as a family file renames it, if it does)."""
        name = self.class_names.create(candidate)
        self.classes_named.add(name := self.renames.get(name, name))
        return name

    def classify(self, key: Any, instances: list[Module]) -> None:
        """The class (or variants) for one block's instances, params fixed where needed."""
        block = key[1] if key[0] == "block" else None
        decls = list(self.graph.blocks.get(block, ())) if block else []
        ns = self.argument_names()
        pynames = {p.name: ns.create(p.name) for p in decls}
        pynames[IN] = ns.create("in_channels")
        pynames |= more_pynames(ns, instances[0])
        for let in instances[0].lets:
            pynames.setdefault(let.name, ns.create(let.name))
        chain = block is not None and _switched_chain(instances)
        # a block class's calls in `forward` read its arguments as `self.radix`, unless a
        # submodule or flag takes such a name: then as the instance's numbers, as before
        self.store_reads = block is not None and not chain
        try:
            att = self.choose(instances, decls, pynames, chain, block)
            if self.store_reads and not reads_stored(att.parts):
                self.store_reads = False
                att = self.choose(instances, decls, pynames, chain, block)
        finally:
            self.store_reads = False
        params = {p.name for p in decls}
        escaped = {
            n
            for n in att.lost | att.pre_lost
            if n not in params and not n.startswith(("#", "<")) and n != "in_channels"
        }
        self.escaped |= escaped
        pinned = frozenset(params - att.symbolic)
        base = block or camel(key[2])
        base = base if is_free_name(base) else base + "Block"
        count = 1 if att.conds else len(att.parts)
        guards = _guards(att, instances, decls, pynames)
        infos: list[ClassInfo] = []
        for k, (part_bodies, steps, optional) in enumerate(att.parts):
            seen = att.bodies if att.conds else part_bodies
            used = set().union(*(b.env.used for b in seen))
            # read only by the `when` of an item no instance here keeps: written nowhere
            unwritten = frozenset(params & set().union(*(b.env.switched for b in seen)) - used)
            sig = [
                Param(p.name, pynames[p.name], p.type, coerce(p.default, p.type), p.required, p.doc)
                for p in decls
                if p.name in att.symbolic and p.name in used
            ]
            sig.sort(key=lambda p: not p.required)
            first = part_bodies[0]
            name = infos[0].name if att.conds and infos else base if k == 0 else f"{base}_{k + 1}"
            info = ClassInfo(
                name=self._class_name(name) if not infos or not att.conds else name,
                block=block,
                bodies=part_bodies,
                steps=steps,
                optional=optional,
                params=sig,
                in_arg=IN in used,
                more_args=tuple(k for k in map(more_in, first.module.extra_inputs) if k in used),
                pinned=pinned | unwritten,
                pynames=pynames,
                escaped=frozenset(escaped),
                fixed_inputs=_fixed_inputs(att, seen, self.fallback_axis),
                fixed_more=fixed_more(att.bodies if att.conds else part_bodies),
                fallback_axis=self.fallback_axis,
                **output_dims(first),
                doc=(self.graph.block_docs.get(block, "") if block else "")
                or (f"The `{block}` block." if block else f"The `{key[2]}` module."),
                note=variant_note(base, k, count, pinned | unwritten, part_bodies),
                state_dict_version=first.module.state_dict_version,
                lets=first.env.let_texts(),
                chain=first.chain,
                guards=guards[k],
                checkpoint=first.module.checkpoint,
                case_state={n: n for n in sorted(stored_reads_of(part_bodies))},
            )
            infos.append(info)
        if att.conds:  # one class, a case per group
            infos = [cased_info(infos, att.conds)]
        for info in infos:
            self.classes.append(info)
            for b in info.bodies:
                self.class_of[id(b.module)] = info

    def choose(
        self,
        instances: list[Module],
        decls: list[Any],
        pynames: dict[str, str],
        chain: bool,
        block: str | None,
    ) -> Attempt:
        """The fewest classes found for a block's instances: loops written as `for`s, a
        chain's unkept items refused, a case per group of renderings."""
        loops = block is not None and not chain
        att = self.attempt_loops(instances, decls, pynames, chain, loops)
        if block is not None and not chain and len(att.parts) > 1:
            att = self.attempt_cases(instances, decls, pynames) or att
        if (
            len(att.parts) > 1
            and not att.conds
            and (att.unkept if chain else never_kept(instances))
        ):
            # items no instance keeps split the class per value of what chooses them
            # (`act`): one class refusing those values instead (`raise ValueError`)
            guarded = self.attempt_loops(instances, decls, pynames, chain, loops, guard=True)
            if len(guarded.parts) < len(att.parts):
                att = guarded
        return att

    def attempt_loops(
        self,
        instances: list[Module],
        decls: list[Any],
        pynames: dict[str, str],
        chain: bool,
        loops: bool,
        guard: bool = False,
    ) -> Attempt:
        """`attempt`, a block's loops written as `for`s where its instances allow it."""
        self.loops_on = loops and writable(instances)
        try:
            return self.attempt(instances, decls, pynames, chain, guard)
        except NoLoop:  # the copies are written one by one
            self.loops_on = False
            return self.attempt(instances, decls, pynames, chain, guard)
        finally:
            self.loops_on = False

    def attempt_cases(
        self, instances: list[Module], decls: list[Any], pynames: dict[str, str]
    ) -> Attempt | None:
        """The instances as one class with a case per group of renderings (`cases.py`; one
        group: refusing the others' values), the params the cases' `when`s read kept as
        arguments; None where no condition tells the groups apart."""
        names = case_names(instances)
        if not names:
            return None
        self.case_names, stores = names, self.store_reads
        self.store_reads = True  # the cases' calls read what `__init__` stores (`self.oup`)
        try:
            att = self.attempt_loops(instances, decls, pynames, False, True)
        finally:
            self.case_names, self.store_reads = frozenset(), stores
        order = case_order(att.parts) if case_params(names, instances) <= att.symbolic else None
        guards = case_guards(att.bodies, names) if order and len(order) < 2 else []
        if order is None or guards is None or not reads_stored(att.parts):
            return None
        if len(order) > 1 and pinned_apart(att.bodies, att.symbolic, decls):
            return None
        att.parts, att.conds, att.guards = [p for _, p in order], [c for c, _ in order], guards
        return att

    def attempt(
        self,
        instances: list[Module],
        decls: list[Any],
        pynames: dict[str, str],
        chain: bool,
        guard: bool,
    ) -> Attempt:
        """The instances rendered with as many params symbolic as their values allow, and
        grouped into classes; with `guard`, items no instance keeps are left out of the
        class (which refuses their conditions) rather than fixing the params they read."""
        params = {p.name for p in decls}
        symbolic = _symbols(decls, instances[0])
        skip = loop_switches(instances) if self.loops_on else []
        ignore = never_kept(instances) if guard and not chain else frozenset()
        pre_lost = structural_names(instances, guard and chain, skip, self.case_names, ignore)
        symbolic -= pre_lost
        self.optional, self.loop_records, self.kept_calls = {}, {}, set()
        fixed_by_unkept: set[str] = set()
        while True:
            frozen = frozenset(symbolic)
            self.missing, self.foreign, self.loop_wanted = {}, {}, set()
            bodies = [self.render_body(inst, frozen, pynames, params, chain) for inst in instances]
            unkept = scope_unkept(self)
            fixed_by_unkept |= unkept & symbolic
            lost = set().union(*(b.env.lost for b in bodies)) | (set() if guard else unkept)
            lost |= foreign_names(self)
            if lost & symbolic:
                symbolic -= lost
                # recorded in terms of arguments that are no longer
                self.optional, self.loop_records, self.kept_calls = {}, {}, set()
            elif not (
                self.missing.keys() & self.optional.keys()
                or self.loop_wanted & self.loop_records.keys()
            ):
                break  # else: an instance rendered before the one that records its item
        guards = unkept_conditions(self) if guard else []
        if guard:
            for b in bodies:
                b.env.used |= unkept
        parts = partition(bodies, combined=not chain)
        unkept = unkept if guard else fixed_by_unkept
        return Attempt(bodies, frozenset(symbolic), lost, pre_lost, parts, unkept, guards)

    def render_body(
        self,
        inst: Module,
        symbolic: frozenset[str],
        pynames: dict[str, str],
        params: set[str],
        chain: bool = False,
    ) -> Body:
        """One instance rendered with the params in `symbolic` as arguments."""
        values = {n: v for n, v in inst.args.items() if n in params}
        self.case_conds, self.forward_reads, self.loop_outputs = [], set(), {}
        self.absent_conds = {}
        shape = inst.in_shape or ()
        axis = channel_axis(inst, self.fallback_axis)
        in_vals: list[Val] = []
        for d, dim in enumerate(shape):
            if d == axis and dim.is_const:
                values[IN] = dim.value
                in_vals.append(
                    Val(pynames[IN], dim.value, frozenset({IN})) if IN in symbolic else literal(dim)
                )
            else:
                in_vals.append(inexact(dim, {f"#in{d}"}))
        more = more_vals(inst, symbolic, pynames, values)
        env = Env(symbolic & (set(values) | {IN}), values, pynames)
        env.fixed = frozenset(_spec_constants(self.graph.params, params, env.values))
        if IN not in values:
            env.symbolic = env.symbolic - {IN}
        in_ch = in_vals[axis] if axis is not None else None
        for let in inst.lets:  # a let the class cannot write fixes the params it reads
            val = render_expr(let.expr, let.value, env, in_ch, in_vals[-1] if in_vals else None)
            env.lets[let.name] = val if val.exact else inexact(let.value, val.names)
            env.lost |= set() if val.exact else set(val.names)
        if chain:  # the class is an nn.Sequential built from a list, switched items in `if`s
            entries, vals = self.chain_entries(inst, env, tuple(in_vals), False)
            names = [n or "" for _, n, _ in entries]
            doc = layers_doc(
                [c for c, _, _ in entries],
                [d for _, _, d in entries],
                None if all(not n or n.isdigit() for n in names) else names,
            )
            return Body(inst, env, [], vals, doc)
        steps, vals = self.render_scope(inst, env, tuple(in_vals), more)
        reads = frozenset(self.forward_reads)
        outs = self.loop_outputs.get(id(inst), {})
        return Body(inst, env, steps, vals, None, self.case_conds, reads, outs, self.absent_conds)


def _spec_constants(spec: Mapping[str, Any], params: set[str], values: dict[str, Any]) -> set[str]:
    """Add to a block's `values` the spec's scalar params it does not hide; their names.

    A spec param a block reads is a constant of the emitted file (the network fixes it):
    written as its value (`planes * 8`), it leaves the block's own params arguments."""
    added = {n: v for n, v in spec.items() if n not in params and type(v) in _SCALARS}
    values.update(added)
    return set(added)


_SCALARS = (int, float, bool, str)


def partition(bodies: list[Body], combined: bool = True) -> list[Part]:
    """Group instances into classes: equal renderings, then (if `combined`)
    shortcut-only differences."""
    groups: dict[Any, list[Body]] = {}
    for b in bodies:
        groups.setdefault(b.sig(), []).append(b)
    parts: list[Part] = []
    if not combined:
        return [(list(g), list(g[0].steps), set()) for g in groups.values()]
    for group in groups.values():
        for idx, (pb, ps, po) in enumerate(parts):
            merged = combine(pb, ps, po, group)
            if merged is not None:
                parts[idx] = merged
                break
        else:
            parts.append((list(group), list(group[0].steps), set()))
    return parts


def combine(
    a_bodies: list[Body], a_steps: list[Step], optional: set[str], group: list[Body]
) -> Part | None:
    """One class for two groups that differ only in shortcuts and conditional joins their
    `when`s switch (the outputs of one named through the fallbacks of the other), or None."""
    if a_bodies[0].env.let_texts() != group[0].env.let_texts():
        return None  # the class binds its first instance's lets: a pinned value differs
    b_steps = group[0].steps
    a = {s.node.name: s for s in a_steps}
    b = {s.node.name: s for s in b_steps}
    only_a = [n for n in a if n not in b]
    only_b = [n for n in b if n not in a]
    fallback = {}
    for step in [a[n] for n in only_a] + [b[n] for n in only_b]:
        k = fallback_input(step.node)
        if step.when is None or k is None:
            return None
        fallback[step.node.name] = step.node.inputs[k]

    def norm(inputs: tuple[str, ...], absent: set[str]) -> tuple[str, ...]:
        out = []
        for name in inputs:
            seen = set()
            while name in absent and name not in seen:  # a switched node reading another
                seen.add(name)
                name = fallback[name]
            out.append(name)
        return tuple(out)

    # two switched nodes reading one value, each kept by one group alone: in the spec one
    # reads the other where both are kept (no instance here says in which order)
    starts = [
        {norm(s.node.inputs[:1], set(only)) for s in steps}
        for only, steps in ((only_a, [a[n] for n in only_a]), (only_b, [b[n] for n in only_b]))
    ]
    if starts[0] & starts[1]:
        return None
    a_outs, b_outs = a_bodies[0].outputs, group[0].outputs
    a_loops, b_loops = a_bodies[0].loop_names(), group[0].loop_names()
    outs = [
        (
            norm(tuple(loops.get(o.name, o.name) for o in x), set(only)),
            tuple(o.train_only for o in x),
        )
        for x, only, loops in ((a_outs, only_a, a_loops), (b_outs, only_b, b_loops))
    ]
    if outs[0] != outs[1]:
        return None

    merged_common: dict[str, Step] = {}
    for name in a:
        if name not in b:
            continue
        sa, sb = a[name], b[name]
        if sa.sig()[:5] != sb.sig()[:5] or sa.sig()[6] != sb.sig()[6]:
            return None
        a_ins = tuple(a_loops.get(i, i) for i in sa.inputs)
        b_ins = tuple(b_loops.get(i, i) for i in sb.inputs)
        if norm(a_ins, set(only_a)) != norm(b_ins, set(only_b)):
            return None
        merged_common[name] = sb if any(i in only_b for i in sb.inputs) else sa
    for name in only_a:
        if any(truth(a[name].when, body.env) is not False for body in group):
            return None
    for name in only_b:
        if any(truth(b[name].when, body.env) is not False for body in a_bodies):
            return None
    result = [merged_common.get(s.node.name, s) for s in a_steps]
    for name in only_b:
        pos = [s.node.name for s in b_steps].index(name)
        before = [s.node.name for s in b_steps[:pos]]
        at = 0
        for i, s in enumerate(result):
            if s.node.name in before:
                at = i + 1
        result.insert(at, b[name])
    # the class returns what its first instance returns: one that keeps a switched output
    first_b = any(o.name in only_b for o in b_outs)
    bodies = group + a_bodies if first_b else a_bodies + group
    return bodies, result, optional | set(only_a) | set(only_b)


def coerce(value: Any, kind: str) -> Any:
    """A param's default as its declared type gives it (`1` for a float param is `1.0`)."""
    if kind == "float" and type(value) is int:
        return float(value)
    if kind == "int" and type(value) is float and value.is_integer():
        return int(value)
    return value


@dataclass
class Attempt:
    """One way of rendering a block's instances: which params stayed arguments, what was
    lost, the classes the renderings make, and the conditions the class refuses."""

    bodies: list[Body]
    symbolic: frozenset[str]
    lost: set[str]
    pre_lost: set[str]
    parts: list[Part]
    unkept: set[str]
    guards: list[str]
    #: a class with cases (`cases.py`): each part's condition (None: the last), else []
    conds: list[Val | None] = field(default_factory=list)


def _guards(
    att: Attempt, instances: list[Module], decls: list[Any], pynames: dict[str, str]
) -> list[list[str]]:
    """What each class of `att` refuses (`guards.class_guards`)."""
    return class_guards(
        [bodies for bodies, _, _ in att.parts],
        att.bodies,
        att.conds,
        att.guards,
        case_names(instances) if att.conds else frozenset(),
        {pynames[p.name]: p for p in decls} | {pynames[IN]: CHANNELS},
    )


def _switched_chain(instances: Sequence[Module]) -> bool:
    """True for a block that is a plain chain of unnamed items (children 0, 1, ...), some of
    which a `when` switches (ConvBNAct's activation): its class is an nn.Sequential built
    from a list, as torchvision's Conv2dNormActivation. (Named children stay attributes of
    an nn.Module, each switched one under an `if`.)"""
    indexed = all(n.name.isdigit() for inst in instances for n in inst.nodes)
    chains = all(inst.is_chain and inst.nodes for inst in instances)
    return (
        indexed
        and chains
        and any(
            any(sw.span is not None for sw in inst.switch_exprs)
            or any(n.when_expr is not None for n in inst.nodes)
            for inst in instances
        )
    )


def structural_names(
    instances: Sequence[Module],
    guard: bool = False,
    skip: Sequence[str] = (),
    cases: frozenset[str] = frozenset(),
    ignore: frozenset[Any] = frozenset(),
) -> set[str]:
    """Names in `when`s that code will not show as an `if`, so they decide structure.

    Only a residual shortcut (a switched node that others read) becomes an `if`, and only
    when some instance has it: a switch whose node no instance keeps is structure too
    (unless `guard`: a chain's class then refuses it). In a chain (`guard` or not) a
    switched item is an `if` of the list the class is built from. The switches in `skip`
    (a written loop's count and name template, `loops.py`) are arguments, not structure,
    and so are the `when`s that read `cases` (a class with cases tests them: `cases.py`)
    and those of the items written at `ignore` (no instance keeps them: the class refuses
    them, `guards.never_kept`).
    """
    if guard or _switched_chain(instances):  # only what decides no item: repeat counts
        return {
            n
            for inst in instances
            for sw in inst.switch_exprs
            if sw.span is None
            for n in names_of(sw.expr)
        }
    shortcuts: set[tuple[str, str]] = set()
    out: set[str] = set()
    for inst in instances:
        readers = {i for n in inst.nodes for i in n.inputs}
        for n in inst.nodes:
            if n.when_expr is None or names_of(n.when_expr) & cases:
                continue
            if switchable(n, readers, inst.nodes):
                shortcuts.add((n.name, n.when_expr.text))
            else:
                out |= names_of(n.when_expr)
    for inst in instances:
        left = Counter(skip)
        for sw in inst.switch_exprs:
            if not sw.name and sw.span is None and left[sw.expr.text] > 0:
                left[sw.expr.text] -= 1
            elif sw.span is not None and (names_of(sw.expr) & cases or sw.span in ignore):
                continue
            elif not sw.name or (sw.name, sw.expr.text) not in shortcuts:
                out |= names_of(sw.expr)
    return out


def _fixed_inputs(
    att: Attempt, bodies: Sequence[Body], fallback: int | None = None
) -> frozenset[int]:
    """The dims of a class's input whose numbers it writes as they are (a linear's
    in_features read after the channels left dim 1; `in_channels` where the block's class
    cannot take it): a caller that computes such a dim from its own arguments fixes them."""
    lost = set().union(*(b.env.lost for b in bodies))
    dims = {int(n[3:]) for n in lost if n.startswith("#in")}
    axis = channel_axis(bodies[0].module, fallback)
    if IN not in att.symbolic and axis is not None:
        dims.add(axis)
    return frozenset(dims)


def _symbols(decls: list[Any], inst: Module) -> set[str]:
    """What a block's class may take as arguments: its params of the types a signature
    writes (a `list` too: Swin's window_size, passed on whole; one the block indexes cannot
    be written, `_foreign`, and is fixed as any such value) and its inputs' channel counts."""
    params = {p.name for p in decls if p.type in (*PARAM_TYPES, "list")}
    return params | {IN} | {more_in(n) for n in inst.extra_inputs}
