"""Loops: the copies of a named, flat `repeat` (`ir.Loop`) written as one `for` statement.

torchvision's `_DenseBlock` builds its layers with
`for i in range(num_layers): self.add_module(f"denselayer{i + 1}", _DenseLayer(...))`.
A block class does the same when every copy renders alike with the index as a name: the
copy's input channels are then `c0 + d * i` (`in_channels + growth_rate * i`), where `d` is
what one copy adds (found by rendering the first copy on a placeholder input, and required
to read neither the placeholder nor the index), so the channels after the loop are the
exact `c0 + d * count`. Copies that each give a width of their own (VoVNet's OSA convs,
`mid`) are `in_channels if i == 0 else mid`, as timm's `next_in_chs`; the channels after
such a loop are `mid` only where one copy at least is made, so what reads the last copy reads
`in_channels if n == 0 else mid` (a chain of `n` convs), and a concat of the loop's every copy
in order reads `mid * n` (`torch.cat([x, *features], 1)`), both exact for any count. Copies
that all read one input (MixNet's convs, `kernel_size: ks[i]` of a list argument) are a loop
too where only such a concat reads them (`features = [... for i in range(self.num_layers)]`).
A class with a `forward` runs the loop there too (`forward.py`). An instance whose count
is 0 (a loop of no nodes) writes the loop as an instance with copies wrote it (`borrow`),
so it is an instance of the same class: the `for` builds nothing there. Anything else (a
copy whose width does not grow by a constant step, a copy read from outside the loop in
another way, a count the class cannot write) keeps the copies unrolled, one line each.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from ...errors import EmitError
from ...ir import AttrExpr, Loop, Module, Node
from ...lazymethods import dataclass
from ..pycode import collect_terms, expr_tree, fold, is_free_name, unparse
from ..pylayout import flat
from ..pyvalues import MAX_TEXT, Env, Val, inexact, parse, render_expr, truth
from .model import Step

if TYPE_CHECKING:  # pragma: no cover
    from .scope import Scope

#: The input channels a loop's first copy is rendered on, to find what one copy adds.
_PLACEHOLDER = "_loop_in"
_PLACEHOLDER_NAME = "<loop-in>"


@dataclass(frozen=True)
class LoopCode:
    """A loop as `__init__` writes it: `for <index> in range(<count>):` around
    `self.add_module(<name>, <the step's constructor>)`."""

    index: str
    count: str
    name: str
    #: the last copy's node name (what the nodes after the loop read; instances differ)
    last: str = field(compare=False)
    #: whether a concat after the loop reads every copy in order (VoVNet's OSA module): a
    #: class with a `forward` then collects them in a list, `torch.cat([x, *features], 1)`
    gathered: bool = False
    #: every copy gives the same shape (a copy's own width, or none added): `forward`'s
    #: line in the loop may say it
    same_width: bool = field(default=False, compare=False)
    #: every copy reads the loop's input (MixNet's kernels, timm's MixedConv2d), and only a
    #: concat of them all reads them: `forward` calls each on it in a list comprehension
    parallel: bool = False


#: The name a reader's inputs give the list of a loop's copies (`*features` in forward).
def gather_name(last: str) -> str:
    """The input name that stands for every copy of the loop whose last copy is `last`."""
    return "*" + last


class NoLoop(Exception):
    """A loop the class cannot write: its instances are rendered with the copies unrolled."""


def writable(instances: Sequence[Module]) -> bool:
    """True when every instance holds loops alike (the class may write them)."""
    first = instances[0].loops
    return bool(first) and all(
        len(inst.loops) == len(first)
        and all(
            (a.index, a.count.text, a.template) == (b.index, b.count.text, b.template)
            for a, b in zip(inst.loops, first)
        )
        for inst in instances
    )


def loop_switches(instances: Sequence[Module]) -> list[str]:
    """The switch texts (a count, a template's parts) that written loops account for."""
    texts = []
    for loop in instances[0].loops:
        texts.append(loop.count.text)
        texts += [p.text for p in loop.template if isinstance(p, AttrExpr)]
    return texts


def gathered_reads(node: Node, loop: Loop) -> tuple[str, ...] | None:
    """A concat's inputs with every copy of `loop`, read in order, as one name
    (`gather_name`); None when it does not read them so."""
    run, ins = len(loop.nodes), node.inputs
    rank = len(node.shape or ())
    if node.kind != "concat" or node.when_expr is not None or rank < 2:
        return None
    if node.attrs.get("dim") not in (1, 1 - rank):  # the copies' widths add up: dim 1
        return None
    for at in range(len(ins) - run + 1):
        if ins[at : at + run] == loop.nodes:
            rest = (*ins[:at], *ins[at + run :])
            if set(rest) & set(loop.nodes):
                return None
            return (*ins[:at], gather_name(loop.nodes[-1]), *ins[at + run :])
    return None


def render_loop(
    scope: Scope,
    module: Module,
    loop: Loop,
    env: Env,
    vals: dict[str, tuple[Val, ...]],
) -> tuple[Step, dict[str, tuple[str, ...]]]:
    """The loop's one step (its constructor in terms of the index), and the concats that
    read every copy (node name -> its inputs, `gathered_reads`); NoLoop when the copies
    cannot be written as one."""
    copies = [module.node(n) for n in loop.nodes]
    inner = set(loop.nodes[:-1])
    outside = [n for n in module.nodes if n.name not in loop.nodes]
    gathers = {}
    for n in outside:
        reads = gathered_reads(n, loop) if not module.is_chain else None
        if reads is not None:
            gathers[n.name] = reads
        elif set(n.inputs) & inner:
            raise NoLoop
    if any(o.name in inner for o in module.outputs):
        raise NoLoop
    if any(
        n.when_expr or not n.is_module or n.train_only or n.eval_only or n.pass_in_eval
        for n in copies
    ):
        raise NoLoop
    index = loop.index
    if index in env.pynames.values() or index in env.pynames or not is_free_name(index):
        raise NoLoop
    for node in copies:  # a copy keeps all dims but the channels
        ins, out = node.in_shapes[0] if node.in_shapes else (), node.shape or ()
        if len(ins) != len(out) or len(ins) < 2 or not ins[1].is_const:
            raise NoLoop
        if any(a != b for d, (a, b) in enumerate(zip(ins, out)) if d != 1):
            raise NoLoop
    in0 = vals[copies[0].inputs[0]]
    if len(in0) < 2 or not in0[1].exact:
        raise NoLoop
    c0 = in0[1]
    saved = (env.symbolic, env.values, env.pynames, set(env.used), set(env.lost))
    env.symbolic = env.symbolic | {index}
    env.values = dict(env.values)  # new dicts: a class's instances share the pynames
    env.pynames = {**env.pynames, index: index}
    try:
        step, packed, gathers = _render(scope, module, loop, copies, env, in0, c0, gathers)
    finally:
        env.symbolic, env.values, env.pynames = saved[0], saved[1], saved[2]
        env.used = saved[3] | (env.used - {index, _PLACEHOLDER_NAME})
        env.lost = saved[4] | (env.lost - {index, _PLACEHOLDER_NAME})
    if packed is not None:
        vals[gather_name(loop.nodes[-1])] = packed
    rec = loop_record(module, loop, step, in0[1])
    if rec is not None:  # for an instance of the class that makes no copies (`no_copies`)
        scope.loop_records[loop.span] = rec
    return step, gathers


def _render(
    scope: Scope,
    module: Module,
    loop: Loop,
    copies: list,
    env: Env,
    in0: tuple[Val, ...],
    c0: Val,
    gathers: dict[str, tuple[str, ...]],
) -> tuple[Step, tuple[Val, ...] | None, dict[str, tuple[str, ...]]]:
    index = loop.index
    out = _probe(scope, copies[0], env, in0, c0, index)
    step_tree = _step(out[1], index)
    # a copy whose width is its own (VoVNet's `mid`): copy 0 reads the loop's input, the
    # others the copy before, `in_channels if i == 0 else mid`; the channels after the loop
    # are `in_channels if n == 0 else mid`, and a concat of every copy reads `mid * n`
    const = None if step_tree is not None else _own_width(out[1], index)
    if step_tree is None and const is None:
        raise NoLoop
    parallel = len(copies) > 1 and all(n.inputs == copies[0].inputs for n in copies)
    if parallel and (const is None or not gathers):
        raise NoLoop  # copies of one input that anything but a concat of them all reads
    if _adds(step_tree) and len(copies) == 1:
        gathers = {}  # one copy that adds channels: a concat of it reads the last copy
    last_read = any(
        loop.nodes[-1] in n.inputs for n in module.nodes if n.name not in gathers
    ) or any(o.name == loop.nodes[-1] for o in module.outputs)
    if (const is not None and last_read and gathers) or (gathers and _adds(step_tree)):
        raise NoLoop
    step_names = out[1].names - {_PLACEHOLDER_NAME}
    width = None if parallel else const  # each copy of one input reads its channels
    last = _each_copy(scope, loop, copies, env, in0, c0, step_tree, width, step_names)
    env.values[index] = 0
    count = render_expr(loop.count, len(copies), env, c0)
    if not count.exact or index in count.names:
        raise NoLoop
    env.use(count)
    if const is None:
        total = _closed_form(c0, step_tree, expr_tree(count.text), copies[-1].shape[1].value)
        total = Val(total.text, total.value, c0.names | step_names | count.names, total.exact)
    elif last_read:  # the loop's input where no copy is made: `in_channels if n == 0 else mid`
        total = _if_made(c0, const, count)
    else:
        total = const
    if not total.exact:
        total = inexact(total.value, total.names)
    env.use(total)
    packed = None
    if gathers:  # what a concat of every copy reads: one copy's width times the count
        width = const if const is not None else c0
        value = sum(n.shape[1].value for n in copies)
        packed_ch = _times(width, count, value)
        env.use(packed_ch)
        packed = (last.out[0], packed_ch, *last.out[2:])
    fstring = _fstring(loop, env, c0)
    # (a loop read after it, `in_channels if n == 0 else mid`, says nothing of each copy)
    same = total.text == const.text if const is not None else not _adds(step_tree)
    code = LoopCode(index, count.text, fstring, loop.nodes[-1], bool(gathers), same, parallel)
    step = Step(copies[0], None, last.ctor, None, None, (last.out[0], total, *last.out[2:]), code)
    return step, packed, gathers


def _probe(
    scope: Scope, first: Node, env: Env, in0: tuple[Val, ...], c0: Val, index: str
) -> tuple[Val, ...]:
    """What one copy adds: the first copy's output dims on a placeholder input."""
    env.values[index] = 0
    probe = Val(_PLACEHOLDER, c0.value, frozenset({_PLACEHOLDER_NAME}))
    used, lost = set(env.used), set(env.lost)
    try:
        out = scope.chain_step(first, env, (in0[0], probe, *in0[2:])).out
    except EmitError:  # a value the probe cannot stand in for (a field that reads the
        raise NoLoop from None  # input channels): the copies are written one by one
    env.used, env.lost = used, lost
    return out


def _each_copy(
    scope: Scope,
    loop: Loop,
    copies: list,
    env: Env,
    in0: tuple[Val, ...],
    c0: Val,
    step_tree: ast.expr | None,
    const: Val | None,
    step_names: frozenset[str],
) -> Step:
    """The last copy's step, every copy rendered alike in terms of the index (its input's
    channels as the loop writes them) and named as the template names it; else NoLoop."""
    index = loop.index
    texts = set()
    last = None
    for k, node in enumerate(copies):
        env.values[index] = k
        actual = node.in_shapes[0][1].value
        if const is None and step_tree is None:
            ch = c0  # copies of one input (`parallel`)
        elif const is None:
            assert step_tree is not None
            ch = _closed_form(c0, step_tree, ast.Name(index), actual)
            ch = Val(ch.text, ch.value, c0.names | step_names | {index})
        else:
            ch = _first_or(c0, const, index, c0.value if k == 0 else const.value)
        if ch.value != actual:
            raise NoLoop
        last = scope.chain_step(node, env, (in0[0], ch, *in0[2:]))
        texts.add(flat(last.ctor) if last.ctor is not None else "")
        if len(texts) > 1 or not last.ctor:
            raise NoLoop
        if _copy_name(loop, env, k) != node.name:
            raise NoLoop
    assert last is not None
    return last


def _adds(tree: ast.expr | None) -> bool:
    """Whether a copy adds channels (a `_step` other than 0)."""
    return tree is not None and not (isinstance(tree, ast.Constant) and tree.value == 0)


def _own_width(out: Val, index: str) -> Val | None:
    """A copy's output channels when they read neither its input nor the index (`mid`)."""
    if not out.exact or out.names & {_PLACEHOLDER_NAME, index}:
        return None
    read = {n.id for n in ast.walk(expr_tree(out.text)) if isinstance(n, ast.Name)}
    return None if read & {_PLACEHOLDER, index} else out


def _first_or(c0: Val, width: Val, index: str, value: int) -> Val:
    """`c0 if index == 0 else width` (just `c0` where both are the same text)."""
    if c0.text == width.text:
        return Val(c0.text, value, c0.names)
    test = ast.Compare(left=ast.Name(index), ops=[ast.Eq()], comparators=[ast.Constant(0)])
    tree = ast.IfExp(test=test, body=expr_tree(c0.text), orelse=expr_tree(width.text))
    return Val(unparse(tree), value, c0.names | width.names | {index})


def _if_made(c0: Val, width: Val, count: Val) -> Val:
    """`c0 if count == 0 else width`: the channels after a loop of copies of their own
    width, for any count (just `c0` where both are the same text)."""
    if c0.text == width.text:
        return width
    zero = ast.Compare(left=expr_tree(count.text), ops=[ast.Eq()], comparators=[ast.Constant(0)])
    tree = ast.IfExp(test=zero, body=expr_tree(c0.text), orelse=expr_tree(width.text))
    text = unparse(tree)
    if len(text) > MAX_TEXT:
        raise NoLoop
    return Val(text, width.value, c0.names | width.names | count.names)


def _times(width: Val, count: Val, value: int) -> Val:
    """`width * count` as emitted code writes it, the concat of every copy's channels."""
    tree = ast.BinOp(left=expr_tree(width.text), op=ast.Mult(), right=expr_tree(count.text))
    try:
        text = unparse(collect_terms(fold(tree)))
    except EmitError:
        raise NoLoop from None
    if len(text) > MAX_TEXT or width.value * count.value != value:
        raise NoLoop
    return Val(text, value, width.names | count.names)


def _step(out: Val, index: str) -> ast.expr | None:
    """`d` when the copy's output channels are `placeholder + d` (d free of both)."""
    if not out.exact:
        return None
    tree = expr_tree(out.text)
    if isinstance(tree, ast.Name) and tree.id == _PLACEHOLDER:
        return ast.Constant(0)
    if not (isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Add)):
        return None
    for mine, other in ((tree.left, tree.right), (tree.right, tree.left)):
        if isinstance(mine, ast.Name) and mine.id == _PLACEHOLDER:
            read = {n.id for n in ast.walk(other) if isinstance(n, ast.Name)}
            return None if read & {_PLACEHOLDER, index} else other
    return None


def _closed_form(c0: Val, step: ast.expr, times: ast.expr, value: int) -> Val:
    """`c0 + step * times` as emitted code writes it (terms collected, constants folded)."""
    if isinstance(step, ast.Constant) and step.value == 0:
        return c0
    tree = ast.BinOp(
        left=expr_tree(c0.text),
        op=ast.Add(),
        right=ast.BinOp(left=step, op=ast.Mult(), right=times),
    )
    try:
        text = unparse(collect_terms(fold(tree)))
    except EmitError:
        raise NoLoop from None
    if len(text) > MAX_TEXT:
        return Val(str(value), value, exact=False)
    return Val(text, value)


def _copy_name(loop: Loop, env: Env, k: int) -> str | None:
    """The name the template gives copy `k` (None when a part cannot be evaluated)."""
    values = {n: env.values[n] for n in env.values if n in env.pynames}
    values[loop.index] = k
    out = []
    for piece in loop.template:
        if isinstance(piece, str):
            out.append(piece)
            continue
        try:
            out.append(str(parse(piece.text).evaluate(values)))
        except Exception:
            return None
    return "".join(out)


def _fstring(loop: Loop, env: Env, c0: Val) -> str:
    """The template as an f-string in the class's terms (`f"denselayer{i + 1}"`), for the
    index at 0 in `env`."""
    out = ['f"']
    values = {n: env.values[n] for n in env.values if n in env.pynames}
    for piece in loop.template:
        if isinstance(piece, str):
            out.append(piece)  # a part of an identifier (the names were checked)
            continue
        val = render_expr(piece, parse(piece.text).evaluate(values), env, c0)
        if not val.symbolic or any(ch in val.text for ch in "\"'{}\\"):
            raise NoLoop
        env.use(val)
        out.append("{" + val.text + "}")
    return "".join(out) + '"'


@dataclass(frozen=True)
class LoopRecord:
    """A loop as an instance that made copies wrote it, for an instance of the same class
    that made none (`count: n` at 0): lowering records its loop with no nodes, and the
    class's one `for` builds nothing there, so it borrows this step (`borrow`)."""

    step: Step
    #: the name the loop reads (its first copy's input) and that name's channels as text
    source: str
    c0: str
    #: the nodes after the loop that read its last copy, with the position they read it at,
    #: and the positions of the module's outputs that are that copy
    readers: frozenset[tuple[str, int]]
    outputs: frozenset[int]


def loop_record(module: Module, loop: Loop, step: Step, c0: Val) -> LoopRecord | None:
    """What an instance of no copies borrows from this instance's loop `step`; None for a
    loop whose copies a concat gathers or that all read one input (a concat of no copies
    reads nothing of them, so its inputs would differ anyway)."""
    code = step.loop
    if code is None or code.gathered or code.parallel or not c0.exact:
        return None
    last = loop.nodes[-1]
    readers = frozenset(
        (n.name, k)
        for n in module.nodes
        if n.name not in loop.nodes
        for k, i in enumerate(n.inputs)
        if i == last
    )
    outputs = frozenset(k for k, o in enumerate(module.outputs) if o.name == last)
    return LoopRecord(step, step.node.inputs[0], c0.text, readers, outputs)


def borrow(
    rec: LoopRecord, module: Module, loop: Loop, env: Env, vals: dict[str, tuple[Val, ...]]
) -> Step | None:
    """The loop step of an instance that made no copies (`loop.nodes` empty), as `rec`'s
    instance wrote it: its count renders as the same text and is 0 here, so the `for`
    builds nothing, and what reads the loop reads its input's channels, the loop's channels
    after it (`in_channels if n == 0 else mid`) at a count of 0. `vals` gets the loop's
    output under the name `rec`'s instance gives its last copy; None where the two differ."""
    flow = vals.get(rec.source)
    code = rec.step.loop
    if loop.nodes or code is None or flow is None or len(flow) < 2 or flow[1].text != rec.c0:
        return None
    count = render_expr(loop.count, 0, env, flow[1])
    total = rec.step.out[1]
    if not (count.exact and count.text == code.count and count.value == 0 and total.exact):
        return None
    if total.symbolic and truth(Val(f"({total.text}) == ({flow[1].text})", True), env) is not True:
        return None  # (the channels after no copy are the input's, as the formula says)
    env.use(count)
    env.use(total)
    vals[code.last] = (flow[0], Val(total.text, flow[1].value, total.names), *flow[2:])
    return rec.step


def no_copies(
    scope: Scope,
    module: Module,
    loop: Loop,
    env: Env,
    vals: dict[str, tuple[Val, ...]],
    borrowed: dict[tuple[str, int], tuple[str, str]],
) -> list[Step]:
    """The step of a loop that made no copies in this instance, as an instance that made
    some wrote it (`borrow`; none before one did: `Classes.attempt` renders again); what read
    its last copy there reads its output here (`borrowed`: (reader, position) -> (the loop's
    input, the last copy's name there))."""
    rec = scope.loop_records.get(loop.span)
    step = borrow(rec, module, loop, env, vals) if rec is not None else None
    if rec is None:
        scope.loop_wanted.add(loop.span)
    if rec is None or step is None:
        return []
    assert step.loop is not None
    for name, k in rec.readers:
        borrowed[(name, k)] = (rec.source, step.loop.last)
    outs = scope.loop_outputs.setdefault(id(module), {})
    outs.update((k, step.loop.last) for k in rec.outputs if module.outputs[k].name == rec.source)
    return [step]
