"""embedding: nn.Embedding, a table of learned vectors looked up by int64 indices.

A spec's input is a float tensor, so the indices come from an `int64` buffer (position ids:
`fill: arange`); passes/dtypes.py refuses an embedding that reads a float tensor, as torch
does at run time. Counts: `num_embeddings * embedding_dim` parameters and no MACs (a lookup
multiplies nothing). torch initialises the table from N(0, 1) and zeroes the `padding_idx`
row; compile and emitted code build the same `nn.Embedding`, so a seeded build draws the same.
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
    register,
)
from .emitting import emit_call


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

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.Embedding(a["num_embeddings"], a["embedding_dim"], padding_idx=a["padding_idx"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        pad = a["padding_idx"]
        keywords = {} if pad is None else {"padding_idx": (pad, None)}
        return emit_call("nn.Embedding", [a["num_embeddings"], a["embedding_dim"]], keywords, lit)
