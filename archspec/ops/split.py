"""Ops with several outputs: `chunk` and `split` cut their input along a dim into pieces that
`names` names, so a later `from:` can read each (ShuffleNetV2's `x1, x2 = x.chunk(2, dim=1)`).

Lowering makes one node per name (`Op.names_field`), each reading the same inputs with its
position as `attrs["_index"]`: `infer` gives that piece's shape, `function` the call whose
result holds them all (compile's forward indexes it), `emit` that call, which emitted code
writes once (`x1, x2 = x.chunk(2, dim=1)`). Each piece is a view of the input, so they hold
no parameters, count no MACs and no activation memory of their own. The shape
rules are torch's, exactly: `chunk(n)` makes pieces of `ceil(size / n)` with a smaller last
one, and refuses sizes where torch would return fewer than `n` pieces; `split` with a list
of sizes needs them to add up to the dim, with one size `s` it makes pieces of `s` and a
last one of `1..s`. A size that depends on the input is a constraint of the derived domain.
"""

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator, model_validator

from ..dims import Dim, Shape
from ..errors import VALIDATOR_HINT
from .base import (
    Inferred,
    Int,
    Ints,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    check_name,
    fmt,
    register,
)
from .fromspec import ComputedEntry, entry_form, is_template
from .templates import MAX_TEMPLATE_LEN, template_parts

#: At most this many pieces: each is a node of the scope and a variable of emitted code.
MAX_PIECES = 256

_NAMES = Field(
    description="the pieces' names, in order: each is a node `from` can read; entries may be "
    'computed as `from`\'s are (`{each: "sp{j}", for: j, in: scale}`, a template `"x{i}"`)',
)


def _piece_entry(text: str) -> str:
    """A written entry of `names`: a name, or a template of one (`"sp{i}"`)."""
    if not is_template(text):
        return check_name(text)
    too_long = f"a `names` template is at most {MAX_TEMPLATE_LEN} characters"
    template_parts(text, "`names` template", text[:60], too_long)
    return text


_PIECE_WHAT = (
    'a `names` entry is a name, a name template (`head{i}`) or a computed entry (`{each: "sp{j}", '
    "for: j, in: scale}`)"
)
_Piece = Annotated[
    Annotated[str, AfterValidator(_piece_entry), Tag("name")] | ComputedEntry,
    Discriminator(entry_form, custom_error_type="names_entry", custom_error_message=_PIECE_WHAT),
]
#: a chunk's or split's `names` (and a block call's, of its outputs): a list of names (or
#: entries computing them), or one entry
Names = Annotated[
    ComputedEntry | Annotated[list[_Piece], Tag("list")],
    Discriminator(
        entry_form,
        custom_error_type="names_list",
        custom_error_message="`names` is a list of names, or a computed entry giving them",
    ),
]


def is_computed_names(names: Any) -> bool:
    """Whether `names` gives its names where the node is (a computed entry or a template)."""
    if not isinstance(names, list):
        return names is not None
    return any(not isinstance(n, str) or is_template(n) for n in names)


def values_and_indices(kind: str, values: str, first: str) -> dict[str, Any]:
    """The validators of a kind whose two outputs are values and their indices (a max pool's
    `return_indices`, topk): `names` lists two, and no `name` stands beside them. `values`
    says what the first output holds, `first` is its name in the example."""

    def two_names(cls: Any, names: Any) -> Any:
        if isinstance(names, list) and not is_computed_names(names) and len(names) != 2:
            raise ValueError(
                f"{kind} names its two outputs, {values} and their indices: "
                f"[{first}, indices], not {len(names)} names"
            )
        return names

    def no_name(self: Any) -> Any:
        if self.name is not None:
            raise ValueError(
                f"{kind} makes one node per output, named by `names`{VALIDATOR_HINT}drop "
                f"`name: {self.name}`; give `names: [{self.name}, {self.name}_indices]`"
            )
        return self

    return {
        "two_names": field_validator("names")(two_names),
        "no_name": model_validator(mode="after")(no_name),
    }


@cache
def _pieces_spec() -> type[LayerSpec]:
    class _PiecesSpec(LayerSpec):
        """What chunk and split share: the pieces are named by `names`, not `name`."""

        names: Names = _NAMES
        dim: Int() = 1  # type: ignore[valid-type]

        @field_validator("names")
        @classmethod
        def _piece_count(cls, names: Any) -> Any:
            if isinstance(names, list) and not is_computed_names(names) and len(names) < 2:
                raise ValueError(f"List should have at least 2 items, not {len(names)}")
            if isinstance(names, list) and len(names) > MAX_PIECES:
                raise ValueError(f"List should have at most {MAX_PIECES} items")
            return names

        @model_validator(mode="after")
        def _named_by_names(self) -> "_PiecesSpec":
            if self.name is not None:
                raise ValueError(
                    f"{self.type} makes one node per piece, named by `names`, and no node of "
                    f"its own{VALIDATOR_HINT}drop `name: {self.name}`; its readers read the "
                    "pieces by their names"
                )
            written = self.names if isinstance(self.names, list) else [self.names]
            plain = [n for n in written if isinstance(n, str)]
            if len(set(plain)) != len(plain):
                raise ValueError(f"{self.type} names {plain} repeat a name")
            return self

    return _PiecesSpec


class _Pieces(Op):
    """An op whose outputs are views of its input: no tensors, no modules, no MACs."""

    style = "function"
    category = "reshape"
    names_field = "names"

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def activation_numel(self, out: Shape) -> Dim:
        return Dim.of(0)  # a view of its input

    def axis(self, attrs: Mapping[str, Any], x: Shape) -> int:
        """The dim the pieces are cut along, checked against the input's rank."""
        dim, rank = attrs["dim"], len(x)
        if not -rank <= dim < rank:
            raise ShapeFailure(
                "E401",
                f"{self.kind} dim={dim} is out of range for the input {fmt(x)}",
                f"give a dim from {-rank} to {rank - 1} (1: channels)",
                "dim",
            )
        return dim % rank


def _with(x: Shape, d: int, size: Dim) -> Shape:
    return tuple(size if i == d else s for i, s in enumerate(x))


def _chunk_spec() -> type[LayerSpec]:
    class ChunkSpec(_pieces_spec()):
        """chunk: cuts its input along `dim` (default 1, the channels) into as many pieces as
        `names` names, as `x1, x2 = x.chunk(2, dim=1)`; `chunks`, if given, must be that count."""

        type: Literal["chunk"]
        chunks: Int(ge=1) | None = Field(None, description="optional; the number of names")  # type: ignore[valid-type]

    return ChunkSpec


@register
class Chunk(_Pieces):
    kind = "chunk"
    spec = LazySpec(_chunk_spec)
    inferred = ("chunks",)
    summary = "cuts a dim into named pieces (torch.chunk; ShuffleNetV2's split)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        names = attrs["names"]
        n = attrs.get("chunks")
        if n is None:
            n = len(names)
        elif n != len(names):
            raise ShapeFailure(
                "E409",
                f"chunk chunks={n} but `names` names {len(names)} pieces",
                "give one name per piece (or drop `chunks`: it is the number of names)",
                "chunks",
            )
        d = self.axis(attrs, x)
        size = x[d]
        piece = (size + (n - 1)).floordiv(n)  # torch.chunk: ceil(size / n) each
        # the last piece is what is left; for two pieces that is size // 2, exactly
        last = size.floordiv(2) if n == 2 and type(n) is int else size - piece * (n - 1)
        if attrs.get("_index", 0) == 0:
            ctx.require_positive(
                last,
                "E404",
                f"chunk cuts dim {d} of {fmt(x)} into {n} pieces of ceil(size / {n}), which "
                "leaves {d} for the last one: torch.chunk would return fewer pieces",
                "chunk a larger dim or into fewer pieces (6 into 4 gives 3 pieces of 2)",
            )
        index = attrs.get("_index", n - 1)
        out = _with(x, d, last if index == n - 1 else piece)
        return Inferred({**attrs, "chunks": n}, out)

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.chunk, {"chunks": attrs["chunks"], "dim": attrs["dim"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{a['_inputs'][0]}.chunk({lit(a['chunks'])}, dim={lit(a['dim'])})"


def _split_spec() -> type[LayerSpec]:
    class SplitSpec(_pieces_spec()):
        """split: cuts its input along `dim` (default 1) into pieces of the sizes `split_size`
        lists (they add up to the dim), or of one size with a smaller last piece, as
        `a, b = x.split([16, 48], dim=1)`; `names` names the pieces."""

        type: Literal["split"]
        split_size: Ints(ge=1) = Field(  # type: ignore[valid-type]
            description="one size (pieces of it, the last smaller) or the size of each piece"
        )

    return SplitSpec


@register
class Split(_Pieces):
    kind = "split"
    spec = LazySpec(_split_spec)
    summary = "cuts a dim into named pieces of given sizes (torch.split)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        names, sizes = attrs["names"], attrs["split_size"]
        k, d = len(names), self.axis(attrs, x)
        first = attrs.get("_index", 0) == 0
        index = attrs.get("_index", k - 1)
        if isinstance(sizes, list):
            if len(sizes) != k:
                raise ShapeFailure(
                    "E409",
                    f"split split_size lists {len(sizes)} sizes but `names` names {k} pieces",
                    "give one size per name",
                    "split_size",
                )
            if first:
                ctx.require_equal(
                    x[d],
                    sum(sizes),
                    "E404",
                    f"split sizes {sizes} add up to {{b}}, dim {d} of {fmt(x)} has {{a}}",
                    "the sizes must add up to the size of the dim",
                    "split_size",
                )
            return Inferred(attrs, _with(x, d, Dim.of(sizes[index])))
        last = x[d] - sizes * (k - 1)
        if first:
            cut = f"split cuts dim {d} of {fmt(x)} into pieces of {sizes}"
            ctx.require_positive(last, "E404", f"{cut}: fewer than {k}", _SPLIT_HINT)
            ctx.require_positive(sizes - last + 1, "E404", f"{cut}: more than {k}", _SPLIT_HINT)
        return Inferred(attrs, _with(x, d, last if index == k - 1 else Dim.of(sizes)))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        from .torch_support import split_exactly  # the emitted unpacking's count, enforced

        sizes = attrs["split_size"]
        sizes = list(sizes) if isinstance(sizes, (list, tuple)) else sizes
        keywords = {"split_size_or_sections": sizes, "dim": attrs["dim"]}
        return split_exactly, {**keywords, "pieces": len(attrs["names"])}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{a['_inputs'][0]}.split({lit(a['split_size'])}, dim={lit(a['dim'])})"


_SPLIT_HINT = (
    "name as many pieces as torch.split makes (pieces of split_size, the last one of 1 to "
    "split_size), or list each piece's size"
)
