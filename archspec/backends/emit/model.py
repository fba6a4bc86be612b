"""The emitter's working data: a class body rendered for one instance, and an emitted class.

`classes.py` fills these in, `forward.py` and `files.py` read them; nothing here renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from functools import cached_property
from typing import Any

from ...ir import ABSENT_AS, DROPPED_WHEN_ABSENT, INPUT, Module, Node, Output
from ...lazymethods import dataclass
from ...ops import REGISTRY
from ..pycode import lit
from ..pylayout import Doc, flat
from ..pyvalues import IN, Env, Val


@dataclass
class Step:
    """One node of a class body as rendered for one instance."""

    node: Node
    attr: str | None  # module nodes: the attribute it is registered under
    ctor: Doc | None  # module nodes: the constructor expression
    call: dict[str, Any] | None  # function nodes: the attributes given to op.emit
    when: Val | None  # a symbolic `when` that switches the node (a residual shortcut)
    out: tuple[Val, ...]
    #: the copies of a loop written as one `for` statement (`loops.py`), this step their
    #: constructor in terms of the index; None for a plain node
    loop: Any = None
    #: a concat of every copy of a loop: its inputs, those copies one name (`loops.py`)
    reads: tuple[str, ...] | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The node's inputs as the class reads them (`reads`, else the node's)."""
        return self.reads if self.reads is not None else self.node.inputs

    def sig(self, rename: dict[str, str] | None = None) -> tuple[Any, ...]:
        """What two instances' steps must share to be one line of one class (`rename`: the
        last copies of loops, which instances name differently, by one name)."""
        if self.ctor is not None:
            code = flat(self.ctor)
        else:
            op = REGISTRY[self.node.kind]
            holes = [f"_{i}" for i in range(len(self.inputs))]
            code = op.emit_call({**(self.call or {}), "_inputs": holes}, lit)
        when = self.when.text if self.when is not None else None
        n = self.node
        inputs = tuple((rename or {}).get(i, i) for i in self.inputs)
        modes = (n.train_only, n.eval_only, n.pass_in_eval)
        return (n.name, n.kind, self.attr, code, when, inputs, modes, self.loop)


def switchable(node: Node, readers: set[str], nodes: Sequence[Node]) -> bool:
    """Whether one class can write a node its `when` switches as an `if`: a node others read
    whose absence passes its input on (a shortcut), or a join that stands for one of its
    inputs where it is absent (`ABSENT_AS`); never a `parallel` branch, which the join then
    leaves out (DROPPED_WHEN_ABSENT). `nodes` are those of its module, in order."""
    if node.attrs.get(DROPPED_WHEN_ABSENT):
        return False
    if node.name in readers and len(node.inputs) == 1:
        return True
    k = node.attrs.get(ABSENT_AS)
    return k is not None and _stands_in(node.inputs[k], nodes)


def _stands_in(name: str, nodes: Sequence[Node]) -> bool:
    """Whether the value a class writes for node `name` where its `when` leaves it out (its
    input) is what follows it reads there: the node written before it. A join standing for
    `proj = self.proj(x)` under the join's own `when`, after a conv, is the conv where both
    are left out, not `x`, so such a join is no `if` of a class."""
    index = next((k for k, n in enumerate(nodes) if n.name == name), None)
    if index is None or nodes[index].when_expr is None:
        return True
    prev = nodes[index - 1].name if index else INPUT
    return len(nodes[index].inputs) == 1 and nodes[index].inputs[0] == prev


def fallback_input(node: Node) -> int | None:
    """Which input stands for `node`'s output in the instances of a class where its `when`
    leaves it out: a one-input node's (an optional layer, a shortcut), a conditional
    residual add's body (`ABSENT_AS`); None for a node that cannot be an `if` of a class."""
    if len(node.inputs) == 1:
        return 0
    return node.attrs.get(ABSENT_AS)


@dataclass
class Body:
    """One instance of a class, rendered."""

    module: Module
    env: Env
    steps: list[Step]
    vals: dict[str, tuple[Val, ...]]
    #: a chain class's entries (an nn.Sequential subclass built from a list), else None
    chain: Doc | None = None
    #: the conditions of the nodes whose `when` picks this instance's case (`cases.py`),
    #: each true here, in node order
    conds: list[Val] = field(default_factory=list)
    #: the arguments and lets (pynames) its calls in `forward` read as stored attributes
    #: (a class with cases: `self.oup`)
    reads: frozenset[str] = frozenset()
    #: outputs that read a loop this instance made no copies of, named as the loop's last
    #: copy where an instance with copies names it (`loops.no_copies`): position -> name
    loop_outputs: dict[int, str] = field(default_factory=dict)
    #: the conditions of the items it left out, in the class's terms where they are written
    #: (by `guards.switch_key`): what a class that keeps none of them refuses (`guards.py`)
    absent: dict[Any, Val] = field(default_factory=dict)

    @property
    def outputs(self) -> tuple[Output, ...]:
        """The module's outputs as the class reads them (`loop_outputs` renamed)."""
        outs = self.module.outputs
        if not self.loop_outputs:
            return outs
        return tuple(
            Output(self.loop_outputs[k], o.train_only) if k in self.loop_outputs else o
            for k, o in enumerate(outs)
        )

    @cached_property
    def nodes(self) -> dict[str, Node]:
        """The instance's nodes by name."""
        return {n.name: n for n in self.module.nodes}

    def loop_names(self) -> dict[str, str]:
        """The last copy of each loop (and the list of its copies) by a name that instances
        of another count share (`<loop 0>`)."""
        rename = {s.loop.last: f"<loop {k}>" for k, s in enumerate(self.steps) if s.loop}
        return rename | {"*" + last: "*" + name for last, name in rename.items()}

    def sig(self) -> tuple[Any, ...]:
        """What two instances must share to be one class as rendered."""
        rename = self.loop_names()
        outs = tuple((rename.get(o.name, o.name), o.train_only) for o in self.outputs)
        lets = tuple(self.env.let_texts().items())
        chain = flat(self.chain) if self.chain is not None else None
        if chain is not None:
            outs = ()  # an nn.Sequential returns its last entry, whichever is there
        return (tuple(s.sig(rename) for s in self.steps), outs, lets, chain)


@dataclass(frozen=True)
class Param:
    """A constructor argument of an emitted class."""

    name: str
    pyname: str
    type: str
    default: Any
    required: bool
    doc: str = ""


@dataclass
class ClassInfo:
    """An emitted class: its instances, merged body and constructor signature."""

    name: str
    block: str | None
    bodies: list[Body]
    steps: list[Step]
    optional: set[str]
    params: list[Param]
    in_arg: bool
    pinned: frozenset[str]
    pynames: dict[str, str]
    escaped: frozenset[str]
    out: tuple[Val, ...]
    doc: str
    #: the dims of its input the class writes as numbers: the caller fixes what gives them
    fixed_inputs: frozenset[int] = frozenset()
    #: the same for a block's inputs after the first: (the input's name, the dim)
    fixed_more: frozenset[tuple[str, int]] = frozenset()
    #: where the class reads its channels in an instance whose input's channel dim lowering
    #: lost (the block's other instances' axis), None when none of them knows it
    fallback_axis: int | None = None
    note: str = ""
    #: the class's `_version` (written `_version = 2` when it is not torch's default 1)
    state_dict_version: int = 1
    #: the locals `__init__` binds first (the block's lets): pyname -> expression
    lets: dict[str, str] = field(default_factory=dict)
    #: an nn.Sequential subclass's entries (`Body.chain`), else None
    chain: Doc | None = None
    #: the channel counts of a block's inputs after the first that `__init__` takes, after
    #: `in_channels` (`pyvalues.more_in` names: `skip_channels`)
    more_args: tuple[str, ...] = ()
    #: conditions `__init__` refuses (items of the block no instance of this file keeps)
    guards: list[str] = field(default_factory=list)
    #: the block's forward runs under activation checkpointing in training (`checkpoint`)
    checkpoint: bool = False
    #: a block whose instances take different paths (`cases.py`): each case's condition
    #: (None: the last, `else`) and the class as its instances alone render it
    cases: list[Case] = field(default_factory=list)
    #: what `__init__` stores for `forward`'s tests of the cases and for its calls
    #: (`self.radix = radix`): attribute -> expression
    case_state: dict[str, str] = field(default_factory=dict)
    #: a block of several outputs (`outputs: [a, b]`): each output's dims, as `out` the first
    outs: tuple[tuple[Val, ...], ...] = ()


@dataclass(frozen=True)
class Case:
    """One case of a class whose instances take different paths (`cases.py`)."""

    #: the condition in the class's arguments (`stride > 1`); None for the last (`else`)
    cond: str | None
    #: the condition as `forward` tests it (`self.stride > 1`)
    test: str | None
    #: the class as this case's instances alone render it
    info: ClassInfo


@dataclass(frozen=True)
class RenderedClass:
    """An emitted class as finished text (`class X(nn.Module): ...`), under its name."""

    name: str
    text: str
    #: its methods alone (no docstrings): what decides the imports and helpers it needs
    code: str


@dataclass
class Parts:
    """One graph's module before it is put in a file: what a family file merges."""

    header: list[str]
    helpers: list[str]
    classes: list[RenderedClass]
    #: the `--plugins` files its layer kinds come from, as the header shows them
    plugins: list[str]
    #: names its classes may not take (helpers and support code define them, and more)
    taken: frozenset[str] = frozenset()


def _input_width(bodies: list[Body]) -> int | None:
    """The channel count every instance of a class is written for, when its class writes it
    as a number rather than as `in_channels`."""
    widths = set()
    for b in bodies:
        dims = b.vals.get(INPUT, ())
        if len(dims) < 2 or dims[1].symbolic or type(dims[1].value) is not int:
            return None
        if any(IN in d.names for d in dims):  # the width is an argument (tokens: at the end)
            return None
        widths.add(dims[1].value)
    return widths.pop() if len(widths) == 1 else None


def variant_note(
    block: str, index: int, count: int, pinned: frozenset[str], bodies: list[Body]
) -> str:
    """Docstring sentence for a class built for particular values of its block's params."""
    values = []
    for name in sorted(pinned):
        seen = {repr(b.module.args.get(name)) for b in bodies}
        if len(seen) == 1 and name in bodies[0].module.args:
            values.append(f"{name}={lit(bodies[0].module.args[name])}")
    fixed = ", ".join(values)
    if count > 1:
        which = f"Variant {index + 1} of {count} of block `{block}`"
        if fixed:
            return f"{which}, built for {fixed}."
        width = _input_width(bodies)
        if width is not None:  # a value worked out from the input's width (a let, a reshape)
            return f"{which}, built for an input of {width} channels."
        return f"{which} (its structure differs)."
    if fixed:
        return f"Built for {fixed}: params that decide the block's structure are not arguments."
    return ""
