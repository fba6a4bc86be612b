"""What one step of the lowering walk sees: the item, its scope, and its site.

Constructs (archspec/constructs/) receive a `Site` and return the name of the node that
stands for them; they reach the walker only through its small public surface
(`lower_item`, `lower_child`, `eval_value`, `charge`, `error`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..dims import Shape, format_shape
from ..ir import AttrExpr, Node
from ..lazymethods import dataclass
from ..limits import MAX_NODES as MAX_NODES
from ..loader import PathKey
from ..ops import REGISTRY
from ..ops.base import LayerSpec
from ..ops.fromspec import is_template, static_refs
from ..ops.shapectx import RecordOnce

#: A key of a Scope's `shapes` no spec can write: a chunk's or split's computed `names`
#: failed here, so a name its readers give is no unknown reference (refs.unknown_ref).
NAMES_FAILED = "<names failed>"
#: Expansion limits: a spec may not grow past these however its params are set (MAX_NODES,
#: the default of `max_layers=`, lives in archspec/limits.py).
#: How an E310 for expansion ends: the setting a user with a network that large needs.
RAISE_LIMIT = "if the network really is this large, raise the limit: --max-layers N (max_layers=N)"
MAX_BLOCK_DEPTH = 32
#: Items nested in items (each level costs a few Python frames here and in every backend).
MAX_NESTING = 100


class RequireOnce(RecordOnce):
    """Lowering's shape context: each requirement the input does not settle recorded once
    (same kind, lhs and rhs). With a symbolic input (`input: [N, 3, H, W]`) only the first of
    equal ones adds anything to what `graph.constraints` says (api reads only whether there
    is one; the shape pass makes its own)."""


class Skip(Exception):
    """A node could not be lowered; its diagnostic is already recorded."""


class SwitchedOff(Exception):
    """A node's `when`, read with the sizes of the first node it reads, left it out while
    another node it reads is not there (recorded as any switch, no diagnostic)."""


class Abort(Exception):
    """Expansion limit hit: stop lowering altogether."""


class BadValue(Exception):
    """A field's value was refused (recorded); the other fields are still bound."""


@dataclass
class Item:
    """A node spec to lower, with where it came from and extra names in scope."""

    spec: BaseModel
    ypath: PathKey
    env: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None  # forced name (branches, repeat copies)


class Scope:
    """One layer list being lowered: the nodes made so far and what is known of them (a
    plain class with slots: one is made per module lowered, and the walk reads its fields
    at every item)."""

    __slots__ = (
        "aliases",
        "auto",
        "axes",
        "declared_at",
        "index",
        "keys_off",
        "lists",
        "loops",
        "nested",
        "nested_done",
        "nodes",
        "path",
        "position",
        "refs",
        "removed",
        "several",
        "shapes",
        "switch_reads",
        "switch_spans",
        "switches",
        "tensor_lists",
        "train",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.nodes: list[Node] = []
        self.shapes: dict[str, Shape | None] = {}
        self.train: dict[str, bool] = {}
        self.removed: set[str] = set()
        #: where each name of the layer list is declared (its last index) and what it reads
        self.declared_at: dict[str, int] = {}
        self.refs: dict[str, list[str]] = {}
        self.index = 0
        self.position = 0
        self.auto: dict[str, int] = {}
        self.switches: list[tuple[str, str]] = []
        self.keys_off: list[str] = []  #: the `key:`s of items switched off (ir.Module's)
        #: the dim holding the channels in each name's output (None: unknown after a layout
        #: change); a name not listed has them at dim 1
        self.axes: dict[str, int | None] = {}
        #: index in `switches` -> where the item it switched off is written
        self.switch_spans: dict[int, Any] = {}
        #: index in `switches` -> the node whose sizes its `when` read (`ir.Switch.reads`)
        self.switch_reads: dict[int, str] = {}
        #: the containers of module entries keyed `convs.0`, `fuse_layers.0.1`: each path ->
        #: the keys of its entries, in the order they were made (lowering/keys.py)
        self.lists: dict[str, list[str]] = {}
        #: those of them whose entries are parameters (`kernels.0`: an nn.ParameterList)
        self.tensor_lists: set[str] = set()
        #: the flat, named repeats spliced into this list (`ir.Loop`)
        self.loops: list[Any] = []
        #: names of nodes inside the modules of this list -> their paths, and how many of
        #: `nodes` are indexed (refs.py builds it on a reference's failure only)
        self.nested: dict[str, str] = {}
        self.nested_done = 0
        #: a block's `inputs:`, each the name of what `from` reads by it (the first: `input`)
        self.aliases: dict[str, str] = {}
        #: the block instances of several outputs (a call's `name`) -> the names of their
        #: outputs (the call's `names`), which `from` reads instead (lowering/outputs.py)
        self.several: dict[str, tuple[str, ...]] = {}

    def qual(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def is_later(self, name: str) -> bool:
        """True when `name` is declared after the item being lowered."""
        return self.declared_at.get(name, -1) > self.index

    def next_name(self, item: Item, kind: str, is_module: bool) -> str:
        """The item's name: its own, else its position (modules) or `kind_k` (functions),
        as nn.Sequential indexes children and torch.fx names calls."""
        explicit = getattr(item.spec, "name", None) or item.name  # its plan's own name
        if explicit:
            return explicit
        if is_module:
            return str(self.position)
        k = self.auto.get(kind, 0)
        self.auto[kind] = k + 1
        return kind if k == 0 else f"{kind}_{k}"


@dataclass
class Site:
    """An item at its place in a scope: what it reads and the names it may use.

    `env` holds the params (and repeat indices) in scope; `local` adds `in_channels`, the
    channel count of the first input, and `in_features`, its last dim, when they are known.
    """

    item: Item
    scope: Scope
    env: Mapping[str, Any]
    inputs: tuple[str, ...]
    in_shapes: list[Shape | None]
    train: bool
    #: the dim of the first input holding its channels (None: unknown)
    axis: int | None = 1
    #: `local`, once made (see there)
    made_local: dict[str, Any] | None = None

    @property
    def local(self) -> dict[str, Any]:
        """`env` and the input's sizes (channels_env), made when first read: most layers
        read no size of their input by name."""
        if self.made_local is None:
            shapes = self.in_shapes
            first = shapes[0] if shapes else None
            self.made_local = channels_env(self.env, first, self.axis, None in shapes)
        return self.made_local

    @property
    def spec(self) -> Any:
        return self.item.spec

    @property
    def ypath(self) -> PathKey:
        return self.item.ypath


@dataclass
class Child:
    """A child module to make from a list of items (a Sequential, a block instance)."""

    items: list[Item]
    class_name: str
    #: names in scope inside the child (default: the site's env)
    env: Mapping[str, Any] | None = None
    block: str | None = None
    args: Mapping[str, Any] | None = None
    outputs: Sequence[str] | None = None
    outputs_ypath: PathKey = ()
    #: where each of `outputs` was given, when computed entries gave them (the network's)
    outputs_ypaths: Sequence[PathKey] = ()
    #: the key of each of `outputs` when the network's `outputs:` is a mapping (forward
    #: returns an OrderedDict of them), else none
    output_keys: Sequence[str] = ()
    src: Mapping[str, Any] | None = None
    #: the expressions among `src` (a block call's arguments), for the child's node
    exprs: Mapping[str, AttrExpr] | None = None
    #: structure-deciding expressions bound before the items
    switches: Sequence[tuple[str, str]] = ()
    #: a block's `let:`s as (name, what the spec wrote, value), in order
    lets: Sequence[tuple[str, Any, Any]] = ()
    #: the module's `_version` (a block's or the spec's `state_dict_version:`)
    state_dict_version: int = 1
    #: a block instance to run under activation checkpointing in training
    checkpoint: bool = False
    #: a block instance's call (block name, bound arguments) as a key of the instance memo
    #: (lowering/memo.py); None: lowered every time
    call: tuple[Any, ...] | None = None
    #: a block's `register_order:` (children registered in this order first), and its ypath
    register_order: Sequence[str] = ()
    register_order_ypath: PathKey = ()
    #: a block of several inputs (`inputs: [x, skip]`): their names, and for each input after
    #: the first its (shape, channel axis) at the call (inside, as the first, none is
    #: training-only: the call's node is, when one of them is)
    input_names: Sequence[str] = ()
    more_inputs: Sequence[tuple[Shape | None, int | None]] = ()
    #: a call of a block of several outputs: the names its `names:` gives them, in order
    output_names: Sequence[str] = ()


def items_of(lw: Any, specs: list[Any], ypath: PathKey) -> list[Item]:
    """The items of a written layer list at `ypath`, one list for all its instances (Items
    are never changed), so what is kept by list (the walker's `declarations`, the memo's
    items keys) serves every instance; `lw` is the Lowerer."""
    kept = lw.item_lists.get(id(specs))
    if kept is not None and kept[0] is specs and kept[1] == ypath:
        return kept[2]  # type: ignore[no-any-return]
    items = [Item(s, ypath + (i,)) for i, s in enumerate(specs)]
    lw.item_lists[id(specs)] = (specs, ypath, items)
    return items


class Named(BaseModel):
    """A stand-in spec for constructs that create a named child module (built on its first
    use: only parallel branches and residual shortcuts make one, and a command that never
    lowers one need not pay for the model's validator)."""

    model_config = ConfigDict(defer_build=True)

    name: str
    type: str = "sequential"
    from_: None = None
    when: Any = None  # carried to the node for emitters; lower_child does not evaluate it
    train_only: bool = False


def synth(model: type[LayerSpec], **fields: Any) -> LayerSpec:
    """A layer spec made by lowering itself (cfg expansion, residual joins): already valid,
    so it skips validation, which also keeps the layer models' validators unbuilt."""
    return model.model_construct(**fields)


def when_text(when: Any) -> str:
    """A `when` as expression text (a literal true/false becomes `True`/`False`)."""
    return repr(when) if isinstance(when, bool) else str(when)


def piece_names(spec: Any) -> list[str]:
    """The names a spec gives its pieces besides its own (a chunk's `names`, a block call's
    outputs' `names`), as written:
    those a computed entry or a template gives are known only where the node is
    (lowering/fromlist.py, `piece_names_here`)."""
    op = REGISTRY.get(getattr(spec, "type", ""))
    field = op.names_field if op is not None else getattr(type(spec), "names_field", None)
    written = getattr(spec, field, None) if field else None
    if not isinstance(written, list):
        return []
    return [n for n in written if isinstance(n, str) and not is_template(n)]


def refs_of(spec: Any) -> list[str]:
    """The names a node spec reads with `from:` as written (a template or a computed entry
    gives its names where the node is: lowering/fromlist.py)."""
    return static_refs(getattr(spec, "from_", None))


#: A key of `channels_env` no expression can name: the dim holding the channels of an input
#: whose dim 1 is not its channel dim, for the E302 of an `in_channels` read there.
MOVED_CHANNELS = "_ moved channels"
#: A key of `channels_env` no expression can name: the input's shape, where its channel count
#: or its last dim is a size the input leaves open (a symbol, or a formula of H and W), for the
#: E302 of an `in_channels` or `in_features` read there.
OPEN_SIZES = "_ open sizes"


def moved_channels_hint(exc: Any, env: Mapping[str, Any]) -> str | None:
    """An E302's hint, saying why `in_channels` or `in_features` is not defined here: a
    layout change moved the channels off dim 1, or the size is not a number (the expression
    error's own hint otherwise, which lists the names in scope as if the name were a typo)."""
    if exc.code != "E302":
        return exc.hint
    if "'in_channels'" in exc.message and MOVED_CHANNELS in env:
        axis = env[MOVED_CHANNELS]
        moved = (
            f"the channels are at dim {axis} here (the features of tokens or of a "
            "channels-last map: an `input:` declared so, `[N, L, 32]`, or a permute or a "
            "reshape before this node)"
            if axis is not None
            else "a permute and a change of rank before this node left no dim known to hold "
            "the channels"
        )
        return (
            f"{moved}, so `in_channels` (the channel count, read at dim 1) is not defined here: "
            "read the last dim as `in_features`, or permute back to channels-first first"
        )
    shape = env.get(OPEN_SIZES)
    for name, dim, what in (
        ("in_channels", 1, "channel count (dim 1)"),
        ("in_features", -1, "last dim"),
    ):
        if f"'{name}'" in exc.message and shape is not None and not shape[dim].is_const:
            return (
                f"`{name}` is the {what} of the input here, `{shape[dim]}` (input "
                f"{format_shape(shape)}): a size the spec's `input:` leaves open, so not a "
                "number. Write that size as a number in `input:` (`archspec check` still "
                "states every size that works), or pass the width as a param"
            )
    return exc.hint


#: A key of `channels_env` no expression can name: the node's input failed (its error is
#: reported), so what reads `in_channels` or `in_features` fails quietly, not in cascade.
FAILED_INPUT = "_ failed input"


def quiet_names(failed: set[str], env: Mapping[str, Any]) -> set[str]:
    """The names an expression may fail on without an error of its own: params (and lets)
    whose binding failed, and the input's sizes where the input itself failed."""
    return failed | {"in_channels", "in_features"} if FAILED_INPUT in env else failed


def channels_env(
    env: Mapping[str, Any], shape: Shape | None, axis: int | None = 1, failed: bool = False
) -> dict[str, Any]:
    """`env` plus `in_channels` when `shape` has a known channel count at dim 1 (`axis`, where
    the channels are, is 1), and `in_features` when its last dim is known; `failed` says the
    input's node failed (FAILED_INPUT)."""
    local = dict(env)
    if failed:
        local[FAILED_INPUT] = True
    if shape is None or len(shape) < 2:
        return local
    local.pop(OPEN_SIZES, None)  # an outer input's, where a block's env was made from it
    if axis != 1:
        local[MOVED_CHANNELS] = axis
    elif shape[1].is_const:
        local["in_channels"] = shape[1].value
    if shape[-1].is_const:
        local["in_features"] = shape[-1].value
    if (axis == 1 and not shape[1].is_const) or not shape[-1].is_const:
        local[OPEN_SIZES] = shape
    return local
