"""embedding: nn.Embedding, a table of learned vectors looked up by int64 indices.

A spec's input is a float tensor, so the indices come from an `int64` buffer (position ids:
`fill: arange`); passes/dtypes.py refuses an embedding that reads a float tensor, as torch
does at run time. Counts: `num_embeddings * embedding_dim` parameters and no MACs (a lookup
multiplies nothing). torch initialises the table from N(0, 1) and zeroes the `padding_idx`
row; compile and emitted code build the same `nn.Embedding`, so a seeded build draws the same.
`index` picks a tensor's entries along a dim at int64 positions, as timm's attention biases
are looked up (`attention_biases[:, attention_bias_idxs]`), computed in forward.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape
from .base import (
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .emitting import emit_call
from .merge import _FunctionOp


def _embedding_spec() -> type[LayerSpec]:
    class EmbeddingSpec(LayerSpec):
        """embedding: looks up one learned vector of `embedding_dim` per int64 index
        (nn.Embedding); indices of any shape (..., ) give (..., embedding_dim)."""

        type: Literal["embedding"]
        num_embeddings: Int(ge=1)  # type: ignore[valid-type]
        embedding_dim: Int(ge=1)  # type: ignore[valid-type]
        padding_idx: Int() | None = Field(  # type: ignore[valid-type]
            None, description="the index whose vector stays zero; negative counts from the end"
        )

    return EmbeddingSpec


@register
class Embedding(Op):
    kind = "embedding"
    spec = LazySpec(_embedding_spec)
    torch_name = "Embedding"
    category = "linear"
    summary = "learned vectors looked up by int64 indices"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        n, pad = attrs["num_embeddings"], attrs["padding_idx"]
        if pad is not None and not -n <= pad < n:
            raise ShapeFailure(
                "E409",
                f"embedding padding_idx {pad} is outside the table's {n} rows",
                f"give an index from {-n} to {n - 1}, or leave padding_idx out",
                "padding_idx",
            )
        return Inferred(attrs, (*x, Dim.of(attrs["embedding_dim"])))

    def params(self, a: Mapping[str, Any]) -> int:
        return a["num_embeddings"] * a["embedding_dim"]

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": 2}

    def tensor_shapes(self, a: Mapping[str, Any]) -> Mapping[str, tuple[int, ...]]:
        return {"weight": (a["num_embeddings"], a["embedding_dim"])}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.Embedding(a["num_embeddings"], a["embedding_dim"], padding_idx=a["padding_idx"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        pad = a["padding_idx"]
        keywords = {} if pad is None else {"padding_idx": (pad, None)}
        return emit_call("nn.Embedding", [a["num_embeddings"], a["embedding_dim"]], keywords, lit)


def _index_spec() -> type[LayerSpec]:
    class IndexSpec(LayerSpec):
        """index: the first input's entries along `dim` at the int64 positions of the second,
        `from: [table, positions]` (`table[:, positions]` for dim 1): the positions' shape
        takes that dim's place (timm's `attention_biases[:, attention_bias_idxs]`)."""

        type: Literal["index"]
        dim: Int(ge=0) = Field(0, description="the dim of the table the positions pick from")  # type: ignore[valid-type]

    return IndexSpec


@register
class Index(_FunctionOp):
    kind = "index"
    spec = LazySpec(_index_spec)
    arity = 2
    category = "reshape"
    summary = "entries of a tensor at int64 positions (`table[:, idx]`: attention biases)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        table, positions = inputs
        dim = attrs["dim"]
        if dim >= len(table):
            raise ShapeFailure(
                "E401",
                f"index picks along dim {dim}, and {fmt(table)} has {len(table)} dims",
                f"name a dim from 0 to {len(table) - 1}",
                "dim",
            )
        return Inferred(attrs, (*table[:dim], *positions, *table[dim + 1 :]))

    def function(self, a: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        return index_along, {"dim": a["dim"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        table, positions = a["_inputs"]
        return f"{table}[{':, ' * a['dim']}{positions}]"


def index_along(table: Any, positions: Any, dim: int) -> Any:
    """`table[:, positions]` with `dim` colons before the positions (what `emit` writes)."""
    return table[(slice(None),) * dim + (positions,)]
