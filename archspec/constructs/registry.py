"""The construct registry: one `Construct` per compound `type:` of the language.

A construct is what lowering expands rather than a layer kind: `sequential`, `repeat`,
`vgg_cfg`, `residual`, `parallel`, and block calls (any `type:` that names neither a layer
kind nor a construct). Each lives in one module of this package holding its Pydantic schema,
its lowering and its description; the lowerer only walks and dispatches on `type`, and a
construct missing a schema or a lowering fails here, when it is registered (import time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, get_args

from ..errors import Diagnostic, unknown_kind
from ..lazymethods import dataclass
from ..loader import LoadedDoc, PathKey
from ..ops.base import CONSTRUCT_KINDS, META_FIELDS, NAME_RE, REGISTRY, NodeBase

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.context import Site
    from ..lowering.walker import Lowerer


class NameWalk:
    """What a construct's `walk_names` may call while validate.py checks the names of raw
    YAML data (before the schema runs): nested items, module names, expression names."""

    def nodes(self, items: Any, path: PathKey) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def node(self, item: Any, path: PathKey) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def module_name(self, name: Any, path: PathKey, key: bool = False) -> None:  # pragma: no cover
        raise NotImplementedError

    def expression_name(self, name: Any, path: PathKey, what: str) -> None:  # pragma: no cover
        raise NotImplementedError


#: lower(walker, site) -> the name of the node that stands for the construct (None: nothing)
Lowering = Callable[["Lowerer", "Site"], "str | None"]
#: walk_names(item data, its path, walk): report the names a construct gives or nests
NameWalker = Callable[[Mapping[str, Any], PathKey, NameWalk], None]
#: least(spec, inner) -> how many layer items lowering it makes at the least, besides itself;
#: `inner(items)` bounds nested items (one item or a list) the same way
Least = Callable[[Any, Callable[[Any], int]], int]


@dataclass(frozen=True)
class Construct:
    """A compound construct: its `type:`, schema, lowering and description."""

    kind: str
    #: the Pydantic model of its spec (a NodeBase with `type: Literal[kind]`)
    schema: type[NodeBase]
    lower: Lowering
    #: one line for `archspec list --layers`
    summary: str
    #: one paragraph for docs/spec-language.md and `archspec list`
    description: str
    #: True when it becomes one child module (a node of kind "module"); False when its
    #: nodes join the enclosing scope (a residual's body and join, a parallel's branches)
    makes_module: bool
    #: the names it gives or the items it nests, for validate.py's name checks (default:
    #: see `names`)
    walk_names: NameWalker | None = None
    #: a lower bound of what it expands to, so the expansion limit (E310) is known before a
    #: block is expanded (lowering/bound.py); None counts nothing beyond the item itself
    least: Least | None = None

    def names(self, item: Mapping[str, Any], path: PathKey, walk: NameWalk) -> None:
        """Report what the construct names or nests: its `walk_names`, or by default every
        field holding a list of items or one item (a `layers:`, `body:` or `layer:`)."""
        if self.walk_names is not None:
            self.walk_names(item, path, walk)
            return
        for key in self.fields:
            value = item.get(key)
            if isinstance(value, list):
                walk.nodes(value, path + (key,))
            elif isinstance(value, dict) and "type" in value:
                walk.node(value, path + (key,))

    @property
    def fields(self) -> tuple[str, ...]:
        """The YAML keys it takes besides the ones every node has."""
        return tuple(
            finfo.alias or fname
            for fname, finfo in self.schema.model_fields.items()
            if fname not in META_FIELDS
        )


CONSTRUCTS: dict[str, Construct] = {}
_listeners: list[Callable[[], None]] = []


def _check(c: Construct, *, fallback: bool = False) -> None:
    """Refuse an incomplete construct, loudly and now."""
    if not isinstance(c.kind, str) or not NAME_RE.match(c.kind):
        raise TypeError(f"construct {c.kind!r}: `kind` must be an identifier string")
    if not (isinstance(c.schema, type) and issubclass(c.schema, NodeBase)):
        raise TypeError(f"construct {c.kind!r}: `schema` must subclass archspec.ops.NodeBase")
    if not fallback:
        type_field = c.schema.model_fields.get("type")
        if type_field is None or get_args(type_field.annotation) != (c.kind,):
            raise TypeError(f"construct {c.kind!r}: schema needs `type: Literal[{c.kind!r}]`")
    if not callable(c.lower):
        raise TypeError(f"construct {c.kind!r}: no lowering (`lower`) given")
    if not c.summary or not c.description:
        raise TypeError(f"construct {c.kind!r}: give a `summary` and a `description`")


def register(construct: Construct, *, replace: bool = False) -> Construct:
    """Add a construct (built-ins, plugins and tests alike); the schema follows it."""
    _check(construct)
    kind = construct.kind
    if kind in REGISTRY:
        raise ValueError(f"{kind!r} is a layer kind; a construct cannot take its name")
    if kind in CONSTRUCTS and not replace:
        raise ValueError(f"construct {kind!r} is already registered")
    CONSTRUCTS[kind] = construct
    CONSTRUCT_KINDS.add(kind)
    _changed()
    return construct


def unregister(kind: str) -> None:
    """Remove a construct (a plugin's or a test's)."""
    if not isinstance(kind, str) or kind not in CONSTRUCTS:
        raise unknown_kind("construct", kind, list(CONSTRUCTS))
    del CONSTRUCTS[kind]
    CONSTRUCT_KINDS.discard(kind)
    _changed()


def on_change(callback: Callable[[], None]) -> None:
    """Call `callback` whenever the table changes (the schema cache listens)."""
    _listeners.append(callback)


def _changed() -> None:
    for listener in _listeners:
        listener()


def fallback(construct: Construct) -> Construct:
    """Check the construct used for any `type:` that names nothing registered (block calls)."""
    _check(construct, fallback=True)
    return construct


__all__ = [
    "CONSTRUCTS",
    "Construct",
    "NameWalk",
    "fallback",
    "on_change",
    "register",
    "unregister",
]


def kind_named(name: str) -> str:
    """What `type: name` calls other than a block: "layer kind", "construct", or ""."""
    return "layer kind" if name in REGISTRY else "construct" if name in CONSTRUCTS else ""


def shadowed_block(bname: str) -> tuple[str, str] | None:
    """(message, hint) of E304 for a block named like a layer kind or construct, else None:
    `type: squeeze` always means the kind, so the block is never called, and a spec that
    calls it gets the kind (whose missing fields were all its error said)."""
    what = kind_named(bname)
    if not what:
        return None
    return (
        f"block `{bname}` has the name of a {what}: `type: {bname}` calls the {what}, never "
        "this block",
        "rename the block; an imported one is named where `use:` lists it "
        "(`{Bottleneck: MyBottleneck}`)",
    )


def shadowed_blocks(doc: LoadedDoc) -> list[Diagnostic]:
    """E304 at each of a spec's own blocks named like a kind, from its YAML data: reported
    with the schema's errors, since a call of such a block fails validation as the kind
    before lowering (which reports the block otherwise) is reached."""
    blocks = doc.data.get("blocks") if isinstance(doc.data, dict) else None
    out = []
    for bname in blocks if isinstance(blocks, dict) else ():
        found = shadowed_block(bname) if isinstance(bname, str) else None
        if found is not None:
            span = doc.span_of(("blocks", bname), key=True)
            out.append(Diagnostic("E304", found[0], span, found[1]))
    return out
