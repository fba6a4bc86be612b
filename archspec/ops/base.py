"""The layer registry: one `Op` per layer kind, holding everything about that kind.

An op knows its spec fields (a Pydantic model), its shape rule, its parameter and MAC counts,
its torch constructor and its emitted-code snippet. Built-ins and plugins register the same
way; a subclass that forgets a rule fails at registration (import) time, never silently later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field as dc_field
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
)

from ..dims import MAX_RANK, Dim, ExpressionTooLarge, Shape, check_numbers
from ..errors import unknown_kind
from ..expr import ExprError, parse_kept
from ..lazymethods import dataclass
from .axes import moved_axis
from .fromspec import FromList
from .lazyspec import LazySpec as LazySpec
from .lazyspec import Reuse, is_lazy
from .names import NAME_RE as NAME_RE
from .names import RESERVED_NAMES as RESERVED_NAMES
from .names import check_name as check_name
from .names import spec_key_problem
from .shapectx import Constraint as Constraint
from .shapectx import Message as Message
from .shapectx import ShapeContext as ShapeContext
from .shapectx import ShapeFailure as ShapeFailure
from .templates import MAX_TEMPLATE_LEN, template_parts

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from ..ir import Node

# --------------------------------------------------------------------------------------
# Field types. A numeric or boolean field holds a literal or an expression string; the
# `Final` marker says what the expression must evaluate to, checked after binding.


@dataclass(frozen=True)
class Final:
    """What a field's value must be once expressions are evaluated."""

    kind: Literal["int", "float", "bool", "str", "ints", "floats", "any", "word"]
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    choices: tuple[str, ...] | None = None
    #: an "ints" list may hold null entries (an adaptive pool's output_size: torch's None)
    nulls: bool = False
    #: what the field is, from its description, for the hint of a value past a bound
    #: (`slice`'s step: "keep every step-th position ..."); not part of the check
    why: str | None = dc_field(default=None, compare=False)


def _check_expr(text: str) -> str:
    problem = _expr_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


@lru_cache(maxsize=4096)
def _expr_problem(text: str) -> str | None:
    """Why `text` is no expression (None: it is one). Depends on the text alone, so it is
    kept: a family's variants and the library blocks every spec imports repeat the same
    expressions, each checked once per process."""
    try:
        parse_kept(text)
    except ExprError as exc:
        return exc.message
    return None


ExprStr = Annotated[
    str,
    AfterValidator(_check_expr),
    Field(description="an expression over params, e.g. `planes * 4`"),
]

_INT = Annotated[StrictInt | ExprStr, Reuse()]
_INTS = Annotated[StrictInt | ExprStr | list[StrictInt | ExprStr], Reuse()]
_FLOAT = Annotated[StrictFloat | StrictInt | ExprStr, Reuse()]
_FLOATS = Annotated[list[StrictFloat | StrictInt | ExprStr], Reuse()]


def Int(ge: int | None = None, le: int | None = None) -> Any:
    """An int field that may also be an expression."""
    return Annotated[_INT, Final("int", ge=ge, le=le)]


def Ints(ge: int | None = None, choices: tuple[str, ...] | None = None) -> Any:
    """An int, or a list of ints (one per spatial dim), each possibly an expression."""
    return Annotated[_INTS, Final("ints", ge=ge, choices=choices)]


def Float(ge: float | None = None, le: float | None = None, gt: float | None = None) -> Any:
    return Annotated[_FLOAT, Final("float", ge=ge, le=le, gt=gt)]


def Floats() -> Any:
    """A list of numbers (one per channel, say), each possibly an expression."""
    return Annotated[_FLOATS, Final("floats")]


Bool = Annotated[StrictBool | ExprStr, Reuse(), Final("bool")]


Name = Annotated[str, AfterValidator(check_name), Reuse()]


def check_key_template(text: str) -> str:
    """A `key:`: a module key, or a template of one with `{expression}` parts evaluated
    where the node is (`block{stage}-{i}`); a key without parts is checked whole here."""
    too_long = f"a key is at most {MAX_TEMPLATE_LEN} characters with its parts"
    parts = template_parts(text, "key", text[:60], too_long)
    problem = None if parts else spec_key_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


KeyText = Annotated[
    str,
    AfterValidator(check_key_template),
    Field(
        description="the module's state_dict key when it is not an identifier (`block1-0`), "
        "or its path in containers of the module (`convs.0`: an nn.ModuleList's entry; "
        "`fuse_layers.0.1`, `heads.cls`); `{expression}` parts are evaluated where the node is"
    ),
]


class NodeBase(BaseModel):
    """Fields every node of a layer list shares."""

    # Deferred: a layer model's validator is built the first time a spec uses its kind
    # (schema._ValidatedBy); most of the ~70 kinds are never used by a given check, and
    # building all of them was most of archspec's import time.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    # Reuse: every layer model repeats these fields, whose types are generated once.
    name: Annotated[Name | None, Reuse()] = Field(
        None, description="module/attribute name; unnamed items are named by index"
    )
    from_: Annotated[FromList | None, Reuse()] = Field(
        None,
        alias="from",
        description="input node name(s) in this scope; default: the previous node, "
        "`input` is the scope's input; entries may be templates (`layer{k - 1}`) or computed "
        '(`{each: "conv{j}", for: j, in: n}`)',
    )
    key: Annotated[KeyText | None, Reuse()] = None
    when: Annotated[Bool | None, Reuse()] = Field(
        None, description="include the node only when this is true"
    )
    train_only: StrictBool = Field(False, description="compute this node only in training mode")
    eval_only: StrictBool = Field(
        False,
        description="compute this node only in eval mode; in training it passes its input on",
    )
    pass_in_eval: StrictBool = Field(
        False,
        description="compute this node only in training mode; in eval it passes its first input on",
    )


#: Fields of NodeBase that are not layer attributes.
META_FIELDS = frozenset(
    {"name", "key", "from_", "when", "train_only", "eval_only", "pass_in_eval", "type"}
)


class LayerSpec(NodeBase):
    """Base of every primitive layer's spec model."""


# --------------------------------------------------------------------------------------
# The registry.


@dataclass(frozen=True)
class Inferred:
    """A shape rule's result: completed attributes and the output shape."""

    attrs: dict[str, Any]
    shape: Shape

    def __init__(self, attrs: dict[str, Any], shape: Shape) -> None:
        # the frozen dataclass's own __init__ sets each field through object.__setattr__:
        # every layer's rule makes one, in lowering and again in the shape pass
        fields = self.__dict__
        fields["attrs"] = attrs
        fields["shape"] = shape


#: How a picture (`archspec graph`) colours a layer: one category per kind, declared by its op.
Category = Literal["conv", "pool", "norm", "act", "linear", "dropout", "reshape", "merge"]
CATEGORIES: tuple[str, ...] = get_args(Category)


class Op:
    """A layer kind. Subclasses set `kind` and `spec` and implement the rules.

    Facts the passes and reports read (`category`, `window_dims`, `label_field`, `join_sign`)
    are declared here, once, with the defaults a plugin gets when it says nothing; the
    registry checks each declared value when the kind is registered. What the emitter must
    know of a layer's module (`init_tensors`, `optional_tensors`, `submodules`) is declared
    too, so emitting code never builds a built-in layer.

    Emitted source (`archspec emit`) comes from `emit` (one constructor or call expression)
    and, for layers whose torch modules are not in torch itself, `emit_support` (the class
    definitions that expression needs, written once per generated file).
    """

    kind: ClassVar[str]
    spec: ClassVar[type[LayerSpec]]
    #: "module" ops become nn.Module children; "function" ops are computed in forward;
    #: "tensor" ops are a learned tensor of the enclosing module (`build` returns an
    #: nn.Parameter registered under the node's name; `arity` 0: they read no input).
    style: ClassVar[Literal["module", "function", "tensor"]] = "module"
    #: how many inputs: 1; n >= 2 (exactly n, `from: [a, b]`, in order: the shape rule gets
    #: their shapes, the module or function their tensors as positional arguments); or
    #: "many" for joins of two or more (add, mul, concat: a function op gets them as a list,
    #: a module op as positional arguments).
    arity: ClassVar[int | Literal["many"]] = 1
    #: up to this many more inputs `from` may name after the `arity` ones, given to the shape
    #: rule and the module as those are (multihead_attention's key and value, an sdpa bias)
    optional_inputs: ClassVar[int] = 0
    #: attribute names filled by `infer` (users may state them; they are then checked).
    inferred: ClassVar[tuple[str, ...]] = ()
    #: torch class name printed in docs and summaries (e.g. "Conv2d").
    torch_name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    #: the picture's colour category; a kind that declares none is a plain layer ("act").
    category: ClassVar[Category] = "act"
    #: spatial dims of a sliding window (`kernel_size`, `dilation`, `padding`, `ceil_mode`
    #: fields) that W402 compares with the input size; 0: the layer has no such window.
    window_dims: ClassVar[int] = 0
    #: a field naming what the layer applies (activation's `fn`), shown instead of the kind
    #: in summaries and pictures; None shows the kind.
    label_field: ClassVar[str | None] = None
    #: the sign a join (`arity` "many") is drawn with ("+" for add); "" draws its kind.
    join_sign: ClassVar[str] = ""
    #: the init targets (`weight`, `bias`) the module keeps as attributes set to None when
    #: `init_tensors` leaves them out (torch's `bias=False`, `affine=False`); any other
    #: target `init_tensors` leaves out is not an attribute of the module at all.
    optional_tensors: ClassVar[tuple[str, ...]] = ()
    #: several outputs (chunk, split): the field naming them, one node each (see ops/split.py)
    names_field: ClassVar[str | None] = None
    #: which of those outputs the next item reads when it names no `from`: -1, the last
    #: (a chunk's last piece); 0, the first (a max pool's values, before its indices)
    flow_piece: ClassVar[int] = -1
    #: a parameter-free "module" op with a functional form, which torchvision writes as a call in
    #: forward where it is a named attribute (`x = torch.flatten(x, 1)`) and as a module where it
    #: holds a position in a numbered sequence (ConvNeXt's `classifier.1`): lowering makes a node of
    #: it that the spec names (`name:`, a repeat's `names`, a branch) a function node (`function`,
    #: `emit_call`), and keeps an unnamed or keyed one a module, so positions and keys stay what
    #: they were. Each node records which (`Node.is_module`; `node_style` answers for any node).
    functional: ClassVar[bool] = False
    #: the node stands for another node of its layer list (`reuse` calls that node's
    #: module again): lowering finds it there, so no shortcut that binds a kept block
    #: instance's layers again (lowering/rebind.py, reshape.py) takes a block holding one
    reads_nodes: ClassVar[bool] = False
    #: False for a kind lowering makes and a spec never writes (`block_output`, one output
    #: of a block call of several): its spec refuses every item written with it
    written: ClassVar[bool] = True
    #: the fields whose word (`ops.words.Word`, or the word of a number-or-word field such
    #: as `padding: same`) `emit` writes as it receives it, so that a block's class takes
    #: it as an argument (`nn.Upsample(scale_factor=2.0, mode=up)`); a word any other field
    #: reads from a param is written as the instance's, and the params it reads decide the
    #: class (the callee `activation`'s `fn` chooses, a `parameter`'s `init`)
    emits_words: ClassVar[frozenset[str]] = frozenset()
    #: import compares a reading by running both modules (importer/leaves.py), not by name
    read_by_running: ClassVar[bool] = False
    parameter_entries: ClassVar[bool] = False  #: `key: kernels.0` makes nn.ParameterList entries

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        raise NotImplementedError

    def params(self, attrs: Mapping[str, Any]) -> int:
        return 0

    def buffers(self, attrs: Mapping[str, Any]) -> int:
        """Elements of non-trainable state (running statistics), allocated like params."""
        return 0

    def macs(self, attrs: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return Dim.of(0)

    def connections(self, attrs: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        """Connections of one forward over the whole batch, as LeCun et al. (1998) count them:
        each multiply-accumulate plus a bias connection per output unit (0 without parameters);
        the summary divides by the batch (passes/costs). Ops wired otherwise override it."""
        if self.style != "module" or not self.params(attrs):
            return Dim.of(0)
        from ..dims import product

        total = self.macs(attrs, inputs, out)
        if attrs.get("bias"):
            total = total + product(out)
        return total

    def channel_axis(
        self, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
    ) -> int | None:
        """Which dim of the output holds the channels, given the dim of the first input that
        does (`axis`: 1 for NCHW; None: unknown), so `in_channels` stays the channel count
        after a layout change. A layer that keeps the rank keeps the axis; one that changes
        the rank (flatten, reshape, unflatten) follows it where its dim comes through whole
        (`moved_axis`), and keeps dim 1 where dim 1 merges with the dims after it
        (`in_channels` after a flatten is, as always, dim 1). `permute` moves it."""
        if axis is None or not inputs:
            return None
        if len(out) == len(inputs[0]):
            return axis
        return moved_axis(axis, inputs[0], out)

    def emit_support(self) -> str:
        """Module-level source (class definitions, torch-only) that `emit`'s code needs;
        the emitter writes it once per file (most built-in ops need none).

        Return top-level `class`/`def` statements only (no imports: the file imports
        `torch`, `from torch import nn` and, when used, `torch.nn.functional as F`),
        formatted as ruff formats them at 100 columns. Ops returning the same text share one
        copy; two texts defining the same name, or a name the file already uses, are an error."""
        return ""

    def emit_support_for(self, attrs: Mapping[str, Any]) -> str | tuple[str, ...]:
        """`emit_support` for one node of the kind, for a kind whose support code only some
        of its nodes need (a strided `padding: same` conv2d's Conv2dSame): by default the
        kind's own. A tuple of texts is several pieces, each shared as a whole with every
        op that gives the same text (the padding function the `*Same` classes call)."""
        return self.emit_support()

    def persistent(self, attrs: Mapping[str, Any]) -> bool | None:
        """For "tensor" ops: None registers the built tensor as a parameter; True or False as
        a buffer, in the state_dict or left out of it (`register_buffer(..., persistent=False)`,
        torchvision's computed tables that are not saved)."""
        return None

    def activation_numel(self, out: Shape) -> Dim:
        from ..dims import product

        return product(out)

    def scratch_numel(self, attrs: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        """Elements of the temporaries forward materialises besides its output (a padded copy
        of the input, ...): compile counts them with the activations (max_activations), so
        an argument that makes one huge is refused before the first forward runs out of
        memory. Most layers have none."""
        return Dim.of(0)

    def init_tensors(self, attrs: Mapping[str, Any]) -> Mapping[str, int] | None:
        """The tensors an init rule may set (`weight`, `bias`) and their dims, so lowering can
        refuse an initialiser that cannot apply (E313) before anything is built. None: only
        torch knows (a plugin's layer; `compile` then reports torch's refusal at the rule)."""
        return None

    def tensor_shapes(self, attrs: Mapping[str, Any]) -> Mapping[str, tuple[int, ...]] | None:
        """Each tensor's shape by attribute (`parameter`'s under ""), for `tied:`; None: unknown."""
        return None

    def submodules(self, attrs: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
        """The modules inside the layer's module, as `named_modules()` lists them: (path, its
        class as emitted code names it), e.g. `(("proj", "nn.Conv2d"),)`; `()` for a leaf layer.
        The emitter's `_init_weights` must know them (an `isinstance` test may reach inside a
        layer) without building the layer. None: only torch knows (a plugin's layer, which
        the emitter then builds on the meta device to look inside)."""
        return None

    def build(self, attrs: Mapping[str, Any]) -> nn.Module:
        """The torch module for a "module" op (the nn.Parameter for a "tensor" op)."""
        raise NotImplementedError

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        """For "function" ops: the callable and keyword arguments used in forward."""
        raise NotImplementedError

    def module_kind(self, attrs: Mapping[str, Any]) -> str | None:
        """For "function" ops: the layer kind whose module, with its default attributes,
        computes the same (`activation` with fn relu: `relu`), so emitted code may call a
        class's `self.relu` instead of `torch.relu`; None: no such kind."""
        return None

    def emit(self, attrs: Mapping[str, Any], lit: Callable[[Any], str]) -> str:
        """Python source constructing the module (module ops) or the call (function ops).

        One line, every value through `lit` (or `emitting.emit_call`): inside a block's
        class a value may be symbolic, passed as an opaque `Code` (`planes * 4`) that `lit`
        writes as is, so do no arithmetic on values. Function ops read their input
        variables from `attrs["_inputs"]`.
        """
        raise NotImplementedError

    def read_module(self, module: nn.Module) -> dict[str, Any] | None:
        """This kind's fields for a torch module of the kind (`archspec import` reads models
        through it), or None when `module` is not one. The default reads each spec field
        from the module's attribute of that name when its class is named `torch_name`; the
        importer builds the kind from the reading and compares, so a wrong reading is
        reported, never used."""
        from .reading import read_fields

        return read_fields(self, module)

    def emit_call(self, attrs: Mapping[str, Any], lit: Callable[[Any], str]) -> str:
        """The call a function node makes in forward (`attrs["_inputs"]`: its input
        variables): a function op's `emit`; a `functional` module op's own call."""
        return self.emit(attrs, lit)


REGISTRY: dict[str, Op] = {}
_listeners: list[Callable[[], None]] = []

#: kinds the construct registry holds (archspec.constructs keeps this set current): a
#: layer kind may not take one of their names.
CONSTRUCT_KINDS: set[str] = set()


def register(op_cls: type[Op], *, replace: bool = False) -> type[Op]:
    """Add a layer kind. Usable as a class decorator; fails loudly on anything incomplete."""
    if not (isinstance(op_cls, type) and issubclass(op_cls, Op)):
        what = f"an instance of {type(op_cls).__name__}" if not isinstance(op_cls, type) else ""
        raise TypeError(f"register takes a subclass of archspec.Op, got {what or op_cls.__name__}")
    kind = getattr(op_cls, "kind", None)
    if not isinstance(kind, str) or not NAME_RE.match(kind):
        raise TypeError(f"{op_cls.__name__}: `kind` must be an identifier string")
    from .facts import check_facts, checked_spec

    # a lazy built-in model is checked when it is made (lazyspec.LazySpec)
    spec = None if is_lazy(op_cls) else checked_spec(op_cls, kind)
    if op_cls.infer is Op.infer:
        raise TypeError(f"{op_cls.__name__} ({kind}): no shape rule (`infer`) defined")
    if op_cls.style in ("module", "tensor") and op_cls.build is Op.build:
        raise TypeError(f"{op_cls.__name__} ({kind}): a {op_cls.style} op needs `build`")
    if op_cls.style == "function" and op_cls.function is Op.function:
        raise TypeError(f"{op_cls.__name__} ({kind}): a function op needs `function`")
    own = op_cls.function is not Op.function and op_cls.emit_call is not Op.emit_call
    if op_cls.functional and (op_cls.style != "module" or not own):
        raise TypeError(
            f"{op_cls.__name__} ({kind}): a functional op is a module op with `function` and "
            "`emit_call`"
        )
    if op_cls.emit is Op.emit:
        raise TypeError(f"{op_cls.__name__} ({kind}): no emitted-code rule (`emit`) defined")
    check_facts(op_cls, kind, spec)
    if kind in CONSTRUCT_KINDS:
        raise ValueError(f"{kind!r} is a construct and cannot be a layer kind")
    if kind in REGISTRY and not replace:
        raise ValueError(f"layer kind {kind!r} is already registered")
    op = op_cls()
    from .guard import checked_inferred, guard, is_foreign

    foreign = is_foreign(op)
    op.infer = _bounded(op, checked_inferred if foreign else None)  # type: ignore[method-assign]
    if foreign:  # a plugin's exceptions and wrong results name the plugin (E701), not archspec
        guard(op)
    REGISTRY[kind] = op
    for listener in _listeners:
        listener()
    return op_cls


#: The hint of E411, which `_bounded` gives every shape rule.
TOO_LARGE_HINT = (
    "the sizes after this layer depend on the input through an expression too large to track: "
    "declare a concrete input size, or join fewer differently-sized branches"
)


def _bounded(
    op: Op, checked: Callable[[Op, Any], Inferred] | None = None
) -> Callable[[dict[str, Any], Sequence[Shape], ShapeContext], Inferred]:
    """The op's shape rule, failing with E411 when its dims grow past `dims.MAX_SIZE` (or
    hold a number past `dims.MAX_NUMBER`) and with E401 past MAX_RANK dims,
    whoever calls it (lowering, the symbolic check, the emitter): the bound holds for plugins
    too. The rule is looked up on the class at each call, so patching the class still works.
    `checked` checks what a plugin's rule returns (guard.checked_inferred) before it is read."""

    def infer(attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        try:
            out = type(op).infer(op, attrs, inputs, ctx)
            if checked is not None:
                out = checked(op, out)
            if len(out.shape) > MAX_RANK:
                dims = f"the output would have {len(out.shape)} dims, past torch's {MAX_RANK}"
                raise ShapeFailure("E401", dims, f"keep to {MAX_RANK} dims or fewer")
            check_numbers(out.shape)
            return out
        except ExpressionTooLarge as exc:
            raise ShapeFailure("E411", str(exc), TOO_LARGE_HINT) from None

    return infer


def unregister(kind: str) -> None:
    """Remove a layer kind (a plugin's, in tests or a notebook); built-ins stay removable too."""
    if not isinstance(kind, str) or kind not in REGISTRY:
        raise unknown_kind("layer kind", kind, list(REGISTRY), "archspec list --layers")
    del REGISTRY[kind]
    for listener in _listeners:
        listener()


def on_register(callback: Callable[[], None]) -> None:
    """Call `callback` whenever the registry changes (the schema cache listens)."""
    _listeners.append(callback)


def get_op(kind: str) -> Op:
    return REGISTRY[kind]


def node_style(node: Node) -> Literal["module", "function", "tensor"]:
    """How a layer node is computed: as a child module, a call in forward, or a learned
    tensor. A `functional` op's node is either of the first two, as lowering decided
    (`Node.is_module`), so code that emits or counts a node asks this, not its op's style."""
    if node.is_module:
        return "module"
    return "tensor" if REGISTRY[node.kind].style == "tensor" else "function"


# --------------------------------------------------------------------------------------
# Small helpers shared by the rules.


def ntuple(value: Any, n: int, what: str) -> tuple[int, ...]:
    """Expand an int to n ints, or check a list has n entries."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ShapeFailure(
                "E409",
                f"{what} has {len(value)} values but the layer has {n} spatial dims",
                None,
                what,
            )
        return tuple(value)
    return (value,) * n


#: The largest size PyTorch's pooling and normalisation kernels take (they use C int).
INT32_MAX = 2**31 - 1


def at_most(kind: str, what: str, values: Sequence[int], limit: int, why: str) -> None:
    """E409 on the field `what` when a value is past what PyTorch's kernel accepts."""
    for v in values:
        if v > limit:
            raise ShapeFailure(
                "E409",
                f"{kind} {what} {v:,} is larger than {limit:,}",
                why,
                what,
            )


def channels(shape: Shape, kind: str, min_rank: int = 2) -> int:
    """The channel count (dim 1) of an input, which must be a number."""
    if len(shape) < min_rank:
        raise ShapeFailure(
            "E401",
            f"{kind} needs an input of rank >= {min_rank}, got rank {len(shape)} {fmt(shape)}",
            "check the layers before it (a flatten too early?)",
        )
    c = shape[1]
    if not c.is_const:
        raise ShapeFailure(
            "E406",
            f"{kind} needs a known number of input channels, got {c}",
            "give the input's channel dimension as a number",
        )
    return c.value


def fmt(shape: Shape) -> str:
    from ..dims import format_shape

    return format_shape(shape)


def channels_at_dim_1(
    self: Op, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
) -> int:
    """`Op.channel_axis` of a convolution: its output's dim 1 is its `out_channels`, whatever
    layout its input came in (a space-to-depth's reshapes lose the axis; the conv after
    them makes it again)."""
    return 1
