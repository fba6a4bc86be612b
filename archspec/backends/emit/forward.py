"""`def forward`: one statement per node, variables named like torchvision's, shape comments.

Reads a finished `ClassInfo` and writes lines; it decides nothing about the class itself.
Variables follow torchvision's habits: the spine of a chain reuses `x`/`out`, a value read
by a join of a residual is `identity`, anything read twice or off the spine keeps its node's
name. A switched shortcut is `identity = x` then `if self.downsample is not None:`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from ...dims import Shape
from ...ir import ABSENT_AS, INPUT, Output
from ...ops import REGISTRY, Op
from ...ops.base import META_FIELDS, RESERVED_NAMES
from ...ops.names import is_index, key_path
from ...ops.outputs import BLOCK_OUTPUT
from ...ops.reuse import TARGET
from ..pycode import INDENT, Namespace, comment_line, lit
from ..pylayout import Comp, Doc, Group, Text, call, flat, format_doc, parse_doc
from ..pyvalues import IN, MATH_NAMES, more_in
from .guarded import Target, guarded, statement_lines
from .loops import gather_name
from .model import ClassInfo, Step, fallback_input
from .runs import ordered_dict
from .shapes import more_symbols

_GENERIC_VARS = ("x", "out")


def module_forms(kind: str, attrs: Mapping[str, Any]) -> tuple[str, ...]:
    """The constructors of the modules that compute what a function node computes: the
    kind its op names (`Op.module_kind`: relu for `activation` relu) at its defaults,
    `nn.ReLU()`, and in place where the kind has the switch, `nn.ReLU(inplace=True)`. An
    in-place module stands in for the function only where overwriting the input cannot be
    seen (`_Forward.overwritable`)."""
    op = REGISTRY.get(kind)
    target = op.module_kind(attrs) if op is not None else None
    module_op = REGISTRY.get(target) if target is not None else None
    if module_op is None or module_op.style != "module":
        return ()
    return _default_forms(module_op)


@lru_cache(maxsize=64)
def _default_forms(op: Op) -> tuple[str, ...]:
    fields = {n: f for n, f in op.spec.model_fields.items() if n not in META_FIELDS}
    if any(f.is_required() for f in fields.values()):
        return ()
    defaults = {n: f.default for n, f in fields.items()}
    forms = [flat(parse_doc(op.emit(defaults, lit)))]
    if defaults.get("inplace") is False:
        forms.append(flat(parse_doc(op.emit({**defaults, "inplace": True}, lit))))
    return tuple(forms)


_SPATIAL = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


#: Module-level names of every emitted file, which no local variable may shadow.
FILE_NAMES = frozenset({"torch", "nn", "F", "OrderedDict", "fnmatch", *MATH_NAMES})


def forward_lines(
    cls: ClassInfo,
    comments: Mapping[str, str],
    sym_in: Shape,
    globals_: frozenset[str],
    body: list[str] | None = None,
) -> list[str]:
    """`def forward`: one line per node, variables named like torchvision's; `comments` are
    the nodes' shape comments (`shapes.class_shapes`), about the input `sym_in`; no variable
    takes a name in `globals_` (the file's classes and support functions). `body`, when
    given, stands for the statements (a class with cases: `cases.py`)."""
    cases = [c.info for c in cls.cases] or [cls]
    outputs = [c.bodies[0].outputs for c in cases]
    multi = any(len(o) > 1 or sum(not x.train_only for x in o) != 1 for o in outputs)
    ret_type = "torch.Tensor | tuple[torch.Tensor, ...]" if multi else "torch.Tensor"
    if outputs[0] and outputs[0][0].key is not None:  # the network's `outputs:` mapping
        ret_type = "OrderedDict[str, torch.Tensor]"
    if several_outputs(cls):  # a block of several returns each, in both modes
        ret_type = "tuple[" + ", ".join(["torch.Tensor"] * len(outputs[0])) + "]"
    if body is None:
        body = [ln for s in forward_statements(cls, comments, globals_) for ln in s]
    first, *more = forward_args(cls, globals_)
    args = "".join(f", {var}: torch.Tensor" for var in more)
    head = [INDENT + f"def forward(self, {first}: torch.Tensor{args}) -> {ret_type}:"]
    if any(comments.values()) and any(not d.is_const for d in sym_in[1:]):
        # what the comments' symbols stand for
        head += input_comment(cls, sym_in, [first, *more])
    return head + body


def several_outputs(cls: ClassInfo) -> bool:
    """Whether `cls` is a block class of several outputs (`outputs: [a, b]`), which its
    `forward` returns as one tuple of its nodes' own names (`return out_hi, out_lo`)."""
    return cls.block is not None and len(cls.bodies[0].outputs) > 1


def forward_statements(
    cls: ClassInfo, comments: Mapping[str, str], globals_: frozenset[str], depth: int = 2
) -> list[list[str]]:
    """The statements of `forward` at `depth` (2: the method's body), each its lines: a
    node's, a run of training-only nodes' under one `if self.training:`, the return."""
    writer = _Forward(cls, comments, globals_ | FILE_NAMES, 4 * depth)
    pad = INDENT * depth
    stmts: list[list[str]] = []
    prev_depth = 0
    for i, st in enumerate(cls.steps):
        lines = writer.statement(i, st)
        if st.node.train_only and prev_depth:
            stmts[-1] += lines  # one statement: the run under its `if self.training:`
        elif st.node.train_only:
            stmts.append([pad + "if self.training:", *lines])
        elif lines:
            stmts.append(lines)
        prev_depth = int(st.node.train_only)
    outputs = cls.bodies[0].outputs
    eval_outs = [o for o in outputs if not o.train_only]
    ret: list[str] = []
    if len(outputs) != len(eval_outs):
        ret += [pad + "if self.training:", *_returned(writer, outputs, len(pad) + 4)]
    stmts.append([*ret, *_returned(writer, eval_outs, len(pad))])
    return stmts


def _returned(writer: _Forward, outputs: Sequence[Output], indent: int) -> list[str]:
    """`return x, aux` of `outputs`; `return OrderedDict([("out", x), ("aux", aux)])` when
    they have keys (the network's `outputs:` mapping, torchvision's segmentation models)."""
    variables = [writer.var_of[o.name] for o in outputs]
    if not outputs or outputs[0].key is None:
        # every output training-only: eval gives the empty tuple, as the compiled module does
        return [" " * indent + "return " + (", ".join(variables) or "()")]
    pairs = [Group("(", (Text(lit(o.key)), Text(v)), ")") for o, v in zip(outputs, variables)]
    return format_doc(ordered_dict(list(pairs)), indent, "return ")


def input_vars(cls: ClassInfo, ns: Namespace) -> dict[str, str]:
    """The variable of each input, by node name (the first is INPUT): `x` for a block of one
    input, else each input's name as `inputs:` gives it (U-Net's `forward(self, x1, x2)`),
    made unique in `ns` first, so `forward`'s signature and body agree. An input named as a
    generic variable (`x`, `out`: NASNet's `forward(self, x_prev, x)`) keeps its name, which
    the body reuses only once nothing reads the input any more."""
    names = cls.bodies[0].module.input_names or ("x",)
    made = [name if name in _GENERIC_VARS else ns.create(name) for name in names]
    return dict(zip((INPUT, *names[1:]), made, strict=True))


def forward_args(cls: ClassInfo, globals_: frozenset[str]) -> list[str]:
    """`forward`'s arguments after `self` (`input_vars` as the method's body names them)."""
    return list(input_vars(cls, Namespace((*_GENERIC_VARS, *globals_, *FILE_NAMES))).values())


#: The method a checkpointed block's body moves to, as torchvision's ResNet names its own.
IMPL = "_forward_impl"


def checkpointed(forward: list[str] | None, inputs: Sequence[str] = ("x",)) -> list[list[str]]:
    """The methods of a block whose instances run under activation checkpointing: a
    `forward` that calls the body through `torch.utils.checkpoint.checkpoint` in training
    with grad enabled (its activations are recomputed in backward instead of kept), and the
    body itself as `_forward_impl`; for an nn.Sequential subclass (`forward` None), the
    Sequential's own forward stands for the body. `inputs`: the variables of the block's
    inputs (`forward_args`)."""
    args = "x"
    if forward is None:
        head = INDENT + "def forward(self, x: torch.Tensor) -> torch.Tensor:"
        body, impl = "super().forward", []
    else:
        head = forward[0]
        body, impl = f"self.{IMPL}", [forward[0].replace("def forward(", f"def {IMPL}(", 1)]
        impl += forward[1:]
        args = ", ".join(inputs)  # a block of several inputs passes them all
    wrapper = [
        head,
        INDENT * 2 + "if self.training and torch.is_grad_enabled():",
        INDENT * 3
        + f"return torch.utils.checkpoint.checkpoint({body}, {args}, use_reentrant=False)",
        INDENT * 2 + f"return {body}({args})",
    ]
    return [wrapper, impl] if impl else [wrapper]


class _Forward:
    """The variables of one `forward` as its statements are written in order."""

    def __init__(
        self, cls: ClassInfo, comments: Mapping[str, str], taken: frozenset[str], indent: int = 8
    ) -> None:
        self.cls = cls
        self.indent = indent
        self.comments = comments
        self.steps = steps = cls.steps
        n_steps = len(steps)
        readers: dict[str, list[tuple[int, int]]] = {INPUT: []}
        for i, st in enumerate(steps):
            readers.setdefault(st.node.name, [])
            for slot, name in enumerate(st.inputs):
                readers.setdefault(name, []).append((i, slot))
        for o in cls.bodies[0].outputs:
            readers.setdefault(o.name, []).append((n_steps, 0))
        #: readers a conditional join passes to its fallback (the body it adds to): they read
        #: the same value as the join, so the body stays on the spine (`out = out + x`)
        self.passed: dict[str, set[int]] = {}
        for st in steps:
            if st.when is not None:  # where it is left out, its fallback input is read
                kept = st.node.inputs[fallback_input(st.node) or 0]
                readers[kept] += readers[st.node.name]
                if len(st.node.inputs) > 1:
                    self.passed.setdefault(kept, set()).update(r for r, _ in readers[st.node.name])
        self.readers = readers
        self.last = {name: max((i for i, _ in r), default=-1) for name, r in readers.items()}
        #: a block's outputs that keep their nodes' names (`return out_hi, out_lo`)
        self.named = {o.name for o in cls.bodies[0].outputs} if several_outputs(cls) else set()
        #: the running variables: `out` is not one where an output keeps that name (WaveNet's
        #: `return out, skip` read `out_2 = x + res`, `out` holding the chain before it)
        self.generic = ("x",) if "out" in self.named else _GENERIC_VARS
        self.ns = Namespace((*self.generic, *taken))
        self.var_of: dict[str, str] = {}
        self.holds: dict[str, str] = {}
        for name, var in input_vars(cls, self.ns).items():
            self.var_of[name], self.holds[var] = var, name
            readers.setdefault(name, [])

    def _spine(self, i: int, slot: int) -> bool:
        if i >= len(self.steps):
            return True
        node = self.steps[i].node
        return len(node.inputs) == 1 or (node.kind == "add" and slot == 0)

    def _free(self, var: str, i: int) -> bool:
        held = self.holds.get(var)
        return held is None or self.last.get(held, -1) <= i

    def _joins_only(self, rs: list[tuple[int, int]]) -> bool:
        n_steps = len(self.steps)
        return bool(rs) and all(
            r < n_steps and self.steps[r].node.kind == "add" and s > 0 for r, s in rs
        )

    def _is_skip(self, i: int, join: int) -> bool:
        """Whether node `i`, read only by the join at step `join`, is the skip of a residual,
        as torchvision's `identity = self.downsample(x)`: its chain of first inputs goes back
        to a value another reader forks from (the block's input), and the join's other
        operands come from that value by longer paths. An FPN's upsampled `up` (from an
        input nothing else reads) or a residual's body (added to the value it forked from,
        `partition + dropout`) keeps its node's name."""
        at = {st.node.name: k for k, st in enumerate(self.steps)}
        length, name = 0, self.steps[i].node.name
        while True:
            k = at.get(name)
            if k is None or not self.steps[k].inputs:
                break  # an input of the block, or a node that reads none
            length += 1
            name = self.steps[k].inputs[0]
            if len({r for r, _ in self.readers.get(name, [])}) > 1:
                break
        dist = {name: 0}
        for st in self.steps[:join]:
            near = [dist[x] for x in st.inputs if x in dist]
            out = st.loop.last if st.loop is not None else st.node.name
            if near and out not in dist:
                dist[out] = min(near) + 1
        here = self.steps[i].node.name
        others = [x for x in self.steps[join].inputs if x != here]
        return bool(others) and all(dist.get(x, 0) > length for x in others)

    def variable(self, i: int, st: Step) -> str:
        """The variable node `i` writes: `identity` for a join's side, `x`/`out` on the spine."""
        node = st.node
        rs = self.readers[node.name]
        if node.name in self.named and st.when is None:
            return self.ns.create(node.name)
        if st.when is not None or node.eval_only:  # `if not self.training: x = ...`
            if self._joins_only(rs):
                return self.ns.create("identity")
            src = node.inputs[0]
            first = self.var_of[src]
            others = [r for r in self.readers[src] if r != (i, 0) and r not in rs]
            spine = all(self._spine(r, s) for r, s in rs)
            if first in self.generic and self.holds.get(first) == src and not others and spine:
                return first  # `if self.expand is not None: x = self.expand(x)`
            return self.ns.create(node.name)
        if (
            node.train_only
            or len({r for r, _ in rs} - self.passed.get(node.name, set())) > 1
            or not all(self._spine(r, s) for r, s in rs)
        ):
            solo_join = len(rs) == 1 and rs[0][0] < len(self.steps)
            skip = solo_join and self._joins_only(rs) and self._is_skip(i, rs[0][0])
            return self.ns.create("identity" if skip else node.name)
        src = st.inputs[0] if st.inputs else None
        first = self.var_of[src] if src is not None else None
        if first in self.generic and self.holds.get(first) == src and self.last.get(src, -1) <= i:
            return first
        if first is not None and first not in self.generic and self._generic_sibling(i, src):
            return self.ns.create(node.name)  # `x = norm[:, 0]`, then `x_dist = norm[:, 1]`
        free = next((g for g in self.generic if self._free(g, i)), None)
        return free or self.ns.create(node.name)

    def _generic_sibling(self, i: int, src: str) -> bool:
        """Whether a step before `i` reading `src` (a value several steps read) holds a
        running variable (`x`) still read after `i`: a second reader of that fork keeps its
        node's name (`x_dist = norm[:, 1]`), not the other running variable (`out`)."""
        for st in self.steps[:i]:
            var = self.var_of.get(st.node.name)
            if src in st.inputs and var in self.generic and not self._free(var, i):
                return True
        return False

    def module_form(self, i: int, st: Step, expr: Doc) -> Doc | None:
        """`self.relu(out)` for `torch.relu(out)` where the class holds such a module, so a
        block does not mix the two for one activation (torchvision reuses `self.relu`)."""
        if not isinstance(expr, Group) or len(expr.items) != 1 or st.node.train_only:
            return None
        forms = module_forms(st.node.kind, st.node.attrs)
        for other in self.steps:
            if other.ctor is None or other.attr is None or other.when is not None:
                continue
            text = flat(other.ctor)
            if other.node.train_only or text not in forms:
                continue
            if "inplace=True" in text and not self.overwritable(i, st.node.inputs[0]):
                continue
            return call(attr_ref(other.attr), list(expr.items))
        return None

    def overwritable(self, i: int, name: str) -> bool:
        """True when step `i` may overwrite node `name`'s output in place, as torchvision's
        `self.relu(out)` does: only step `i` reads it, and it is a fresh tensor that autograd
        does not keep (the sum of an `add`, or the output of a torch layer with parameters:
        conv, linear, norm)."""
        if self.readers.get(name) != [(i, 0)]:
            return False
        producer = next((s for s in self.steps if s.node.name == name), None)
        if producer is None or producer.node.train_only:
            return False
        node = producer.node
        if producer.ctor is None:
            return node.kind == "add"
        if is_tensor(producer):
            return False
        op = REGISTRY.get(node.kind)
        fresh = node.child is None and op is not None and flat(producer.ctor).startswith("nn.")
        return fresh and op is not None and op.params(node.attrs) > 0

    def loop_statement(self, i: int, st: Step) -> list[str]:
        """A loop's copies run in turn, as timm's OSA module runs its convs: `for i in
        range(self.n): out = getattr(self, f"conv{i}")(out)`, each output appended to a
        list where a concat reads them all (`features.append(out)`)."""
        loop, node = st.loop, st.node
        src = node.inputs[0]
        first = self.var_of[src]
        if loop.parallel:
            return self.parallel_statement(st, first)
        if first in self.generic and self.holds.get(first) == src and self.last[src] <= i:
            var = first  # nothing after the loop reads its input: the spine goes on
        else:
            var = next((g for g in self.generic if self._free(g, i)), None)
            var = var or self.ns.create(loop.last)
        pad = " " * self.indent
        lines = [f"{pad}{var} = {first}"] if var != first else []
        index = self.ns.create(loop.index)
        name = loop.name if index == loop.index else _renamed(loop.name, loop.index, index)
        if loop.gathered:
            found = self.ns.create("features")
            lines.append(f"{pad}{found} = []")
            self.var_of[gather_name(loop.last)] = "*" + found
        lines.append(f"{pad}for {index} in range(self.{count_attr(self.cls, st)}):")
        comment = self.comments.get(node.name, "") if loop.same_width else ""
        expr = call(f"getattr(self, {name})", [var])
        lines += statement_lines(f"{var} = ", expr, comment, self.indent + 4)
        if loop.gathered:
            lines.append(f"{pad}{INDENT}{found}.append({var})")
        self.holds[var] = loop.last
        self.var_of[loop.last] = var
        return lines

    def parallel_statement(self, st: Step, source: str) -> list[str]:
        """A loop whose copies each read `source`, only a concat of them all reading them
        (timm's MixedConv2d): `features = [getattr(self, f"conv{i}")(x) for i in
        range(self.n)]`."""
        loop = st.loop
        index = self.ns.create(loop.index)
        name = loop.name if index == loop.index else _renamed(loop.name, loop.index, index)
        found = self.ns.create("features")
        self.var_of[gather_name(loop.last)] = "*" + found
        self.var_of[loop.last] = found
        count = count_attr(self.cls, st)
        comp = Comp(call(f"getattr(self, {name})", [source]), f"for {index} in range(self.{count})")
        return statement_lines(f"{found} = ", comp, "", self.indent)

    def pieces(self, i: int, st: Step) -> list[Step]:
        """The steps of a multi-output item (`Op.names_field`, a block instance's outputs)
        that step `i` begins, all written by one statement; [] for any other step."""
        child = st.node.child
        if child is not None and len(child.outputs) > 1:  # `p, q = self.stage(x)`
            after = self.steps[i + 1 : i + 1 + len(child.outputs)]
            return [s for s in after if s.node.kind == BLOCK_OUTPUT]
        op = REGISTRY.get(st.node.kind)
        if op is None or op.names_field is None or st.node.attrs.get("_index") != 0:
            return []
        return self.steps[i : i + len(st.node.attrs[op.names_field])]

    def statement(self, i: int, st: Step) -> list[str]:
        """The lines of node `i`: its assignment (under an `if` for a shortcut), commented."""
        node = st.node
        if is_tensor(st):  # read where it is used: `self.layer_scale * x`
            self.var_of[node.name] = attr_ref(st.attr or "")
            return []
        if st.loop is not None:
            return self.loop_statement(i, st)
        if node.kind == BLOCK_OUTPUT:
            return []  # its instance's statement assigned it (`p, q = self.stage(x)`)
        ins = [self.var_of[x] for x in st.inputs]
        pieces = self.pieces(i, st)
        if node.attrs.get("_index") and not pieces:
            return []  # a later piece: the first one's statement assigned it
        var = self.variable(i, st) if not pieces else ""
        for p in pieces or [st]:
            var = self.ns.create(p.node.name) if pieces else var
            self.holds[var] = p.node.name
            self.var_of[p.node.name] = var
        comment = self.comments.get(node.name, "")
        if pieces:  # `x1, x2 = x.chunk(2, dim=1)`, each piece's shape once
            notes = [self.comments.get(p.node.name, "") for p in pieces]
            comment = notes[0] if len(set(notes)) == 1 else "; ".join(notes)
            var = ", ".join(self.var_of[p.node.name] for p in pieces)
        if st.ctor is not None:
            expr: Doc = call(attr_ref(st.attr or ""), ins)
        elif node.attrs.get(TARGET) is not None:  # a reuse: the call its target's line makes
            expr = call(attr_ref(node.attrs["node"]), ins)
        else:
            op = REGISTRY[node.kind]
            expr = parse_doc(op.emit_call({**(st.call or {}), "_inputs": ins}, lit))
            expr = self.module_form(i, st, expr) or expr
        indent = self.indent + 4 * int(node.train_only)
        read = bool(self.readers[node.name] or pieces)  # unread: still run, as compiled
        guard = None
        if st.when is not None:
            guard = (
                f"{attr_ref(st.attr)} is not None" if st.attr else f"self.{when_flag(self.cls, st)}"
            )
        return guarded(node, guard, Target(var, read), ins, expr, comment, indent)


# -- shape comments ---------------------------------------------------------------------------


def input_comment(cls: ClassInfo, sym_in: Shape, args: Sequence[str] = ("x",)) -> list[str]:
    """`# x: (N, in_channels, H, W)`: the input the shape comments below speak of, and a
    block's other inputs (`args`: the variables of all), `# skip: (N, skip_channels, ...)`."""
    if not sym_in:
        return []
    module = cls.bodies[0].module
    first, *more = args
    out = [_input_line(cls, first, sym_in, None)]
    for k, (var, shape) in enumerate(zip(more, more_symbols(module))):
        out.append(_input_line(cls, var, shape, k))
    return [ln for ln in out if ln]


def _input_line(cls: ClassInfo, var: str, sym: Shape, k: int | None) -> str:
    """One input's `# var: (...)` line (`k`: which of a block's later inputs, None for the
    first), its channels the class's argument when it takes one, `C` when its instances
    differ, else their number."""
    if not sym:
        return ""
    module = cls.bodies[0].module
    dims = [str(d) for d in sym]
    axis = module.in_axis if k is None else module.extra_in_axes[k]
    axis = axis if axis is not None and 0 < axis < len(dims) else 1
    shapes = [b.module.in_shape if k is None else b.module.extra_in_shapes[k] for b in cls.bodies]
    channels = {str((shape or ())[axis : axis + 1]) for shape in shapes}
    key = IN if k is None else more_in(module.extra_inputs[k])
    taken = cls.in_arg if k is None else key in cls.more_args
    if len(dims) >= 2 and (taken or len(channels) > 1):
        dims[axis] = cls.pynames[key] if taken else "C"
    return INDENT * 2 + comment_line(f"{var}: (" + ", ".join(dims) + ")")


# -- small helpers ----------------------------------------------------------------------------


def when_flag(cls: ClassInfo, st: Step) -> str:
    """The attribute `__init__` stores a function node's `when` in, for `forward` to test:
    the condition's own name when it is one param (`self.transform_input`, as torchvision
    writes it), else `use_<node>`; never a name a submodule of the class holds."""
    assert st.when is not None
    key = (st.when.text, _flag_default(st))
    flags = _flags(cls)
    return flags[key] if key in flags else _own_attr(*key, {s.attr for s in cls.steps if s.attr})


def _flags(cls: ClassInfo) -> dict[tuple[str, str], str]:
    """The flags of a class's function nodes by (condition, default name), in step order: a
    condition another already stores under a name gets a name of its own (two conditional
    residuals, `in_channels == out` and `in_channels == out and not flag`, were both
    `self.use_res_connect`, the second add tested with the first's condition)."""
    taken = {s.attr for s in cls.steps if s.attr}
    out: dict[tuple[str, str], str] = {}
    holds: dict[str, str] = {}  # flag -> the condition it stores
    for s in cls.steps:
        if s.ctor is not None or s.when is None:
            continue
        key = (s.when.text, _flag_default(s))
        if key in out:
            continue
        name = _own_attr(*key, taken)
        while holds.get(name, s.when.text) != s.when.text:
            taken.add(name)
            name = _own_attr(*key, taken)
        out[key] = name
        holds[name] = s.when.text
    return out


def _flag_default(st: Step) -> str:
    """A flag's name where its condition is no argument's name."""
    if st.node.attrs.get(ABSENT_AS) is not None:
        return "use_res_connect"  # a conditional residual, as torchvision names its flag
    return "use_" + re.sub(r"\W", "_", st.node.name)


def count_attr(cls: ClassInfo, st: Step) -> str:
    """The attribute `__init__` stores a loop's count in, for `forward`'s `range`: the count's
    own name when it is one argument (`self.n`), else `num_layers`; never a name a submodule
    or a flag of the class holds."""
    assert st.loop is not None
    taken = {s.attr for s in cls.steps if s.attr} | {
        when_flag(cls, s) for s in cls.steps if s.ctor is None and s.when is not None
    }
    return _own_attr(st.loop.count, "num_layers", taken)


def _own_attr(text: str, default: str, taken: set[str]) -> str:
    """The attribute a value `forward` reads is stored in: `text` itself when it is one
    argument's name, else `default`; `_` added until no name in `taken` (a submodule's, a
    flag's), no nn.Module member and nothing private has it."""
    own = is_free_attr(text) and text not in RESERVED_NAMES and not text.startswith("_")
    name = text if own else default
    while name in taken or name in RESERVED_NAMES or not is_free_attr(name):
        name += "_"
    return name


def is_tensor(st: Step) -> bool:
    """True for a learned tensor of the class (`self.layer_scale`), read, never called."""
    return st.node.child is None and REGISTRY[st.node.kind].style == "tensor"


def attr_ref(attr: str) -> str:
    """`self.conv1`, `getattr(self, "0")` for a name that is not an identifier, or an entry
    of a container of the module by its path: `self.convs[0]` (`convs.0`),
    `self.fuse_layers[0][1]` (`fuse_layers.0.1`), `self.heads["cls"]` (`heads.cls`)."""
    head, *rest = key_path(attr)
    out = f"self.{head}" if is_free_attr(head) else f"getattr(self, {lit(head)})"
    return out + "".join(f"[{p}]" if is_index(p) else f"[{lit(p)}]" for p in rest)


def is_free_attr(name: str) -> bool:
    """True when `self.<name>` is valid Python (names like `0` need getattr)."""
    import keyword

    return bool(re.match(r"^[A-Za-z_][A-Za-z0-9_]*\Z", name)) and not keyword.iskeyword(name)


def _renamed(fstring: str, old: str, new: str) -> str:
    """A loop's name f-string reading its index under another name."""

    class _Rename(ast.NodeTransformer):
        def visit_Name(self, n: ast.Name) -> ast.AST:
            return ast.Name(new, ast.Load()) if n.id == old else n

    return ast.unparse(_Rename().visit(ast.parse(fstring, mode="eval")))
