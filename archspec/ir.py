"""The IR between a validated spec and the backends: modules of named nodes, params bound.

Frozen dataclasses only; no YAML, no Pydantic, no torch. A `Module` is one nn.Module to be:
its nodes in declaration order (the order submodules are registered, so the order of the
state_dict and of `print(model)`), each reading earlier nodes of the same module by name.
Every node keeps the span of the YAML that made it, so any later pass can point at a line.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from .dims import Shape
from .errors import Diagnostic, SourceSpan
from .lazymethods import dataclass

if TYPE_CHECKING:  # pragma: no cover
    from .ops.base import Constraint

_T = TypeVar("_T")

INPUT = "input"
#: A join's private attribute: the index of the input its output equals in the instances
#: where its `when` leaves it out (a residual's `add_when`: the body's), so one emitted class
#: can write the join under an `if` (`if self.use_res_connect:`).
ABSENT_AS = "_absent_as"
#: A node's private attribute: where its `when` leaves it out, the node that reads it reads
#: nothing in its place (a `parallel` branch: the join takes the other branches), so no
#: emitted class can write it as an item that passes its input on (`if ...:` around it).
DROPPED_WHEN_ABSENT = "_dropped_when_absent"


@dataclass(frozen=True)
class AttrExpr:
    """The expression a spec states for one attribute, as lowering evaluated it.

    `text` is its canonical Python form (`planes * 4`); `names` says where each name it
    reads comes from: "block" (a param of the enclosing block), "spec" (a param of the
    spec), "let" (a `let:` of the spec or the block), "index" (a repeat's copy index or a
    table row's field) or "input" (`in_channels`, the channel count of the node's input).
    An emitter writes a block's attribute from these, in block-param terms, without reading
    the spec text again.
    """

    text: str
    names: tuple[tuple[str, str], ...] = ()

    @property
    def free(self) -> frozenset[str]:
        """The names it reads."""
        return frozenset(name for name, _ in self.names)


@dataclass(frozen=True)
class Node:
    """One step of a module: a layer (op `kind`) or a child module (`kind == "module"`)."""

    name: str
    kind: str
    attrs: Mapping[str, Any]
    inputs: tuple[str, ...]
    shape: Shape | None
    in_shapes: tuple[Shape, ...]
    span: SourceSpan | None
    train_only: bool = False
    child: Module | None = None
    #: the spec's own text for each attribute (a literal or an expression), for emission
    src: Mapping[str, Any] = field(default_factory=dict)
    #: the `when` condition (spec text) that kept this node, for emitted `if` statements
    when: str | None = None
    #: True when the node becomes an nn.Module child (vs. a computation in forward): set by
    #: lowering from the op's style (a child module always is one), so the IR needs no
    #: registry to answer
    is_module: bool = False
    #: for each attribute the spec gives as an expression (for a block instance: each
    #: argument of the call), that expression and where its names come from
    exprs: Mapping[str, AttrExpr] = field(default_factory=dict)
    #: `when` as an expression with where its names come from (what emitters read)
    when_expr: AttrExpr | None = None
    #: the attributes the spec states (the others are defaults or the shape rule's)
    stated: frozenset[str] = frozenset()
    #: computed only in eval mode; in training the node is its one input (`eval_only`)
    eval_only: bool = False
    #: computed only in training mode; in eval the node is its first input (`pass_in_eval`)
    pass_in_eval: bool = False


def replaced(obj: _T, **changes: Any) -> _T:
    """`dataclasses.replace(obj, **changes)` for a frozen dataclass, without running its
    __init__ again (which sets each field through object.__setattr__): the lowering memo and
    the shape walk's memo copy thousands of modules, nodes, rows and requirements per spec."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__, **changes)
    return new


def node_of(
    name: str,
    kind: str,
    attrs: Mapping[str, Any],
    inputs: tuple[str, ...],
    shape: Shape | None,
    in_shapes: tuple[Shape, ...],
    span: SourceSpan | None,
    train_only: bool,
    child: Module | None,
    src: Mapping[str, Any],
    when: str | None,
    is_module: bool,
    exprs: Mapping[str, AttrExpr],
    when_expr: AttrExpr | None,
    stated: frozenset[str],
    eval_only: bool = False,
    pass_in_eval: bool = False,
) -> Node:
    """Node(...) of every field, made without the frozen __init__, which sets each field
    through object.__setattr__ (a third of the cost of a node): lowering makes one per layer
    of every instance. Same object, same field order (tests/test_lowering_plans.py)."""
    node = object.__new__(Node)
    node.__dict__.update(
        name=name,
        kind=kind,
        attrs=attrs,
        inputs=inputs,
        shape=shape,
        in_shapes=in_shapes,
        span=span,
        train_only=train_only,
        child=child,
        src=src,
        when=when,
        is_module=is_module,
        exprs=exprs,
        when_expr=when_expr,
        stated=stated,
        eval_only=eval_only,
        pass_in_eval=pass_in_eval,
    )
    return node


@dataclass(frozen=True)
class Switch:
    """An expression of a scope that decides its structure: a `when` that switched an item
    off (`name`: its declared name or ""; `span`: where the item is written, as the node of
    an instance that kept it has), a residual shortcut's `when`, a repeat count."""

    name: str
    expr: AttrExpr
    span: SourceSpan | None = None
    #: the node whose sizes the `when` read as `in_channels` where that is not the item
    #: before it (a parallel's branch reads the parallel's input, `from: input`), else None
    reads: str | None = None


@dataclass(frozen=True)
class Let:
    """A block's `let:` as one instance bound it: its name, its expression (names tagged
    with where they come from) and its value. Emitters write it as a local of `__init__`
    (`hidden_dim = round(in_channels * expand_ratio)`), or fix the params it reads where
    they cannot write it."""

    name: str
    expr: AttrExpr
    value: Any


@dataclass(frozen=True)
class Loop:
    """Copies of one layer that a flat `repeat` with a name template spliced into a module
    (DenseNet's `denselayer{i + 1}`): the nodes it made, one per copy and each reading the one
    before, and what made them, so an emitter can write one `for` loop of `add_module` calls
    (as torchvision's `_DenseBlock`) instead of one line per copy."""

    #: the copies' node names, in order
    nodes: tuple[str, ...]
    #: the copy index's name (`i`)
    index: str
    #: the count as the spec wrote it (its names tagged)
    count: AttrExpr
    #: the name template: literal text and, for each `{expression}` part, that expression
    template: tuple[str | AttrExpr, ...]
    span: SourceSpan | None = None


@dataclass(frozen=True)
class Output:
    """A name the spec's forward returns, whether only training returns it, and its key when
    the network's `outputs:` is a mapping (forward returns an OrderedDict of the keys)."""

    name: str
    train_only: bool = False
    key: str | None = None


@dataclass(frozen=True)
class Module:
    """One nn.Module: a Sequential chain, a block instance, or the root network."""

    class_name: str
    path: str
    nodes: tuple[Node, ...]
    outputs: tuple[Output, ...]
    in_shape: Shape | None
    span: SourceSpan | None = None
    block: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    #: Expressions of this scope that decide its structure without being any node's
    #: attribute, as (node name or "", spec text): `when`s that switched an item off, or
    #: kept a residual/parallel (name ""), and repeat counts / vgg_cfg lists (name "").
    #: Emitters must not treat the params they read as free arguments.
    switches: tuple[tuple[str, str], ...] = ()
    #: `switches` as expressions with where their names come from (what emitters read)
    switch_exprs: tuple[Switch, ...] = ()
    #: the `key:`s of items a `when` switched off (their switches have no name): the module
    #: paths a family's `frozen:` may name in a variant that lacks them
    keys_off: tuple[str, ...] = ()
    #: a block's `let:`s, in the order written (they decide no structure by themselves)
    lets: tuple[Let, ...] = ()
    #: the class's `_version`: torch records it per module in `state_dict()._metadata` and
    #: hands it to `_load_from_state_dict` (1, torch's default, unless the spec declares one)
    state_dict_version: int = 1
    #: a block instance whose forward runs under activation checkpointing in training (the
    #: block's `checkpoint: true`, or its name in the spec's `checkpoint:`)
    checkpoint: bool = False
    #: the flat, named repeats whose copies are nodes of this module (`Loop`)
    loops: tuple[Loop, ...] = ()
    #: the dim of the input holding its channels (features): 1 for NCHW, the last dim for
    #: tokens (N, L, D) or a channels-last map; None when lowering lost track of it
    in_axis: int | None = 1
    #: names of children and tensors registered before the others, in this order (a block's
    #: `register_order:`: torchvision's SwinTransformerBlockV2 registers norm1 before attn
    #: but calls attn first); the rest follow in node order
    register_order: tuple[str, ...] = ()
    #: the module this one is a re-rooted copy of (lowering/memo.py): the same nodes, each
    #: with the same fields but its child, which is a copy of the original's child, at
    #: another path. A pass keys what it found in a subtree on it, so it looks at the
    #: copies of one block instance once. Not compared: a copy equals what it would be
    #: lowered to. Whoever makes a module with other nodes from this one clears it.
    copy_of: Module | None = field(default=None, compare=False, repr=False)
    #: a block declared with several inputs (`inputs: [x, skip]`): their names in order.
    #: Nodes read the first as `input`, each other by its name; empty for one input
    input_names: tuple[str, ...] = ()
    #: the shapes of the inputs after the first (`input_names[1:]`), in order, and the dim
    #: of each holding its channels (as `in_axis`)
    extra_in_shapes: tuple[Shape | None, ...] = ()
    extra_in_axes: tuple[int | None, ...] = ()

    @property
    def extra_inputs(self) -> tuple[str, ...]:
        """The names of the inputs after the first, which its nodes read by name."""
        return self.input_names[1:]

    @property
    def is_chain(self) -> bool:
        """A plain chain of module nodes: it compiles to nn.Sequential (never a module of
        several inputs, which nn.Sequential cannot take, nor one that registers its
        children in another order than it calls them: lowering keeps `register_order` only
        where it is another)."""
        if self.input_names or self.register_order:
            return False
        prev = INPUT
        for node in self.nodes:
            one_mode = node.train_only or node.eval_only or node.pass_in_eval
            if not node.is_module or node.inputs != (prev,) or one_mode:
                return False
            if "." in node.name:  # a list's entry: the list is registered, never called
                return False
            prev = node.name
        return (
            len(self.outputs) == 1
            and self.outputs[0].name == prev
            and not self.outputs[0].train_only
            and self.outputs[0].key is None  # a mapping of one is no Sequential's tensor
        )

    def registered(self, names: Sequence[str]) -> list[str]:
        """`names` (of this module's nodes) in the order the module registers them (a
        list's entries, `convs.0`, with their list, `convs`, in their own order)."""
        first = {n: i for i, n in enumerate(self.register_order)}
        return sorted(names, key=lambda n: first.get(n.partition(".")[0], len(first)))

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def out_shapes(self) -> tuple[Shape | None, ...]:
        by_name = {n.name: n.shape for n in self.nodes}
        by_name |= zip(self.extra_inputs, self.extra_in_shapes)  # a block returning one
        return tuple(self.in_shape if o.name == INPUT else by_name[o.name] for o in self.outputs)


def module_of(**fields: Any) -> Module:
    """Module(**fields) without the frozen __init__ (see node_of): lowering makes one per
    scope of every instance. The caller gives every field without a default (and `args`);
    the others take their defaults. Same object, same field order."""
    module = object.__new__(Module)
    module.__dict__.update(_MODULE_FIELDS, **fields)
    return module


#: Module's fields in order, with their defaults (None for the fields module_of's caller gives)
_MODULE_FIELDS: dict[str, Any] = {
    f.name: None if f.default is dataclasses.MISSING else f.default
    for f in dataclasses.fields(Module)
}


@dataclass(frozen=True)
class ParamInfo:
    """A declared param: its type, default and doc (for `list`, docs and emitted signatures)."""

    name: str
    type: str
    default: Any
    doc: str = ""
    required: bool = False
    #: only one value is allowed (`choices` of one, as a block param's choice is), so the
    #: param cannot vary: emitted code folds it instead of taking it as an argument
    fixed: bool = False
    #: the values it may take (`ge`, `le`, `choices`): an emitted class refuses no value
    #: outside them, which the spec refuses itself
    ge: float | None = None
    le: float | None = None
    choices: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class InitStep:
    """A resolved init rule: which modules (kinds and/or path globs) get which initialiser."""

    kinds: tuple[str, ...]
    globs: tuple[str, ...]
    weight: tuple[str, Mapping[str, Any]] | None
    bias: tuple[str, Mapping[str, Any]] | None
    span: SourceSpan | None = None
    #: the rule's `when` (spec text) and its value under the bound params
    when: str | None = None
    active: bool = True
    #: for a rule whose arguments are expressions (`1 / sqrt(out_features)`, held in
    #: `weight`/`bias` as text over the layer's sizes): each module path's evaluated
    #: (weight, bias) initialisers
    per_module: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    #: `when` as an expression over the spec's params (what emitters read)
    when_expr: AttrExpr | None = None

    def path_matches(self, path: str) -> bool:
        """Whether a module path matches one of `globs`: one regex for all of them, as
        matching each glob in turn costs modules x globs calls (a minute for thousands)."""
        return glob_matcher(self.globs)(path) is not None


@lru_cache(maxsize=256)
def glob_matcher(globs: tuple[str, ...]) -> Callable[[str], Any]:
    """`re.match` of a regex that matches what any of `globs` matches (fnmatchcase)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)).match


@dataclass(frozen=True)
class LegacyFormat:
    """An older state_dict format of the network class (the spec's `legacy_versions:`), its
    `when` evaluated for this graph's params: a state_dict whose root `_version` is `version`
    is loaded into the model built with `params` added, when `applies`."""

    version: int
    applies: bool
    params: Mapping[str, Any]
    warning: str


@dataclass(frozen=True)
class NetInput:
    """One input of a network of several (the spec's `inputs:`), as forward takes them."""

    name: str
    shape: Shape
    #: "float32", or "int64" for indices
    dtype: str = "float32"
    #: where its shape is written
    span: SourceSpan | None = None


@dataclass(frozen=True)
class Tie:
    """One entry of the spec's `tied:`: the tensor at state_dict key `target` is the one at
    `source` (set after the modules are built, before the init rules run)."""

    target: str
    source: str
    #: its elements, which the network's parameters count once
    numel: int
    #: the module path (or a learned tensor's path) whose summary row leaves them out: the
    #: one of the two torch's `parameters()` meets second, as it yields the tensor once
    uncounted: str
    #: the other one's, whose row counts them
    counted: str = ""


@dataclass(frozen=True)
class Graph:
    """A whole compiled spec."""

    name: str
    class_name: str
    description: str
    file: str
    input_shape: Shape
    params: Mapping[str, Any]
    param_info: tuple[ParamInfo, ...]
    root: Module
    init: tuple[InitStep, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    blocks: Mapping[str, tuple[ParamInfo, ...]] = field(default_factory=dict)
    block_docs: Mapping[str, str] = field(default_factory=dict)
    #: every init rule in spec order, switched off ones (`active` False) too, for emitters
    init_rules: tuple[InitStep, ...] = ()
    #: where `input:` is written, for errors about the input itself
    input_span: SourceSpan | None = None
    #: where the class name comes from (`class_name:`, else the `name:` or variant it is
    #: made from), for errors about the name itself
    class_name_span: SourceSpan | None = None
    #: the variant of a family file this graph was built from (None for a plain spec)
    variant: str | None = None
    #: the blocks whose instances are FSDP units (the spec's `shard:`); None: the outermost
    #: block instances (`shard_unit_paths`)
    shard: tuple[str, ...] | None = None
    #: the module paths whose parameters do not train (the spec's `frozen:`)
    frozen: tuple[str, ...] = ()
    #: tensors held under two names (the spec's `tied:`), in the spec's order
    tied: tuple[Tie, ...] = ()
    #: older state_dict formats a load reads (the spec's `legacy_versions:`)
    legacy_formats: tuple[LegacyFormat, ...] = ()
    #: the input's dtype (`input_dtype:`): "float32", or "int64" for indices
    input_dtype: str = "float32"
    #: a network of several inputs (`inputs:`): each, in forward's order (the first is
    #: `input_shape` and `input_dtype`; the root module names them, `input_names`); empty
    #: for a network of one
    inputs: tuple[NetInput, ...] = ()

    @property
    def input_shapes(self) -> tuple[Shape, ...]:
        """Every input's declared shape, in order (one for a network of one input)."""
        return tuple(i.shape for i in self.inputs) if self.inputs else (self.input_shape,)

    @property
    def input_dtypes(self) -> tuple[str, ...]:
        """Every input's dtype, in order."""
        return tuple(i.dtype for i in self.inputs) if self.inputs else (self.input_dtype,)

    @property
    def output_shapes(self) -> tuple[Shape | None, ...]:
        return self.root.out_shapes

    def legacy_format(self, version: int | None) -> LegacyFormat | None:
        """The older layout a checkpoint saved by `version` of the network class is loaded
        into (a `legacy_versions:` entry whose `when` holds for these params), or None."""
        for entry in self.legacy_formats:
            if entry.version == version and entry.applies:
                return entry
        return None


def iter_modules(module: Module) -> Iterator[Module]:
    """Every module in registration order (the order of nn.Module.modules())."""
    yield module
    for node in module.nodes:
        if node.child is not None:
            yield from iter_modules(node.child)


def iter_nodes(module: Module, prefix: str = "") -> Iterator[tuple[str, Node]]:
    """(dotted path, node) for every node, depth first in registration order.

    One generator with a stack of levels: nested `yield from`s would hand each node up
    through every enclosing level (the passes walk tens of thousands of nodes per check)."""
    stack = [(prefix, iter(module.nodes))]
    while stack:
        outer, nodes = stack[-1]
        node = next(nodes, None)
        if node is None:
            stack.pop()
            continue
        path = f"{outer}.{node.name}" if outer else node.name
        yield path, node
        if node.child is not None:
            stack.append((path, iter(node.child.nodes)))


def shard_unit_paths(
    graph: Graph, params_of: Callable[[Module], int] | None = None
) -> tuple[str, ...]:
    """The module paths of the block instances that are FSDP units, each after the units
    inside it (the order `fully_shard` is applied in: children before parents).

    With no `shard:` the units are the outermost block instances (ResNet-50's Bottlenecks,
    not their convs); `shard: [A, B]` makes every instance of A and B one, nested or not.
    Given `params_of` (a module's parameter count), a block with an instance holding more
    than half of the model's parameters and blocks of its own is no default unit, its inner
    blocks are: a unit is gathered whole, so one that is nearly the model (ViT's Encoder,
    around its 12 EncoderBlocks) would save nothing; and a block none of whose instances
    holds a parameter (a pooling head) is no default unit: FSDP would shard nothing.
    """
    named = None if graph.shard is None else frozenset(graph.shard)
    passed: set[str] = set()  # blocks too large to be units: their inner blocks are
    while True:
        units: list[tuple[str, Module]] = []
        _visit_units(graph.root, "", False, named, passed, units)
        if named is not None or params_of is None:
            return tuple(path for path, _ in units)
        half = params_of(graph.root) / 2
        large = {m.block for _, m in units if params_of(m) > half and _holds_blocks(m)}
        if not large:
            weighty = {m.block for _, m in units if params_of(m)}
            return tuple(path for path, m in units if m.block in weighty)
        passed.update(b for b in large if b is not None)


def _visit_units(
    module: Module,
    prefix: str,
    inside: bool,
    named: frozenset[str] | None,
    passed: set[str],
    out: list[tuple[str, Module]],
) -> None:
    """Append (path, module) of the units under `module` to `out`, children first (a
    function of its own, not a closure in `shard_unit_paths`: a recursive closure is a
    reference cycle, garbage only the collector frees)."""
    for node in module.nodes:
        child = node.child
        if child is None:
            continue
        path = f"{prefix}.{node.name}" if prefix else node.name
        block = child.block
        opaque = block is not None and block not in passed
        unit = opaque and (block in named if named is not None else not inside)
        _visit_units(child, path, inside or opaque, named, passed, out)
        if unit:
            out.append((path, child))


def _block_instances(module: Module, prefix: str) -> Iterator[tuple[str, Module]]:
    for path, node in iter_nodes(module, prefix):
        if node.child is not None and node.child.block is not None:
            yield path, node.child


def _holds_blocks(module: Module) -> bool:
    return any(True for _ in _block_instances(module, ""))
