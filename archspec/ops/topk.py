"""`topk`: the `k` largest (or smallest) values along a dim and where they are, two outputs
that `names` names as a chunk's pieces are named (ops/split.py): `values, indices =
x.topk(k, dim)`, as a mixture-of-experts router picks its experts (`torch.topk(logits, k)`)
or a classifier its top-5. Computed in `forward`, no parameters, no MACs (a selection, as
torch's flop counters count it).

The shape rule is torch's, exactly: both outputs are the input with `dim` of size `k`, which
must lie within 1 and that dim's size (torch refuses a larger `k`); with a symbolic input
that is a requirement of the derived domain. The values keep the input's dtype and the
indices are int64 (passes/dtypes.py follows them: an `index` or `embedding` may read them).
"""

from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from typing import Any, Literal

from pydantic import Field, create_model

from ..dims import Dim, Shape
from .base import (
    Bool,
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .emitting import emit_call
from .split import _NAMES, Names, values_and_indices
from .tensor import StatelessOp


@cache
def _topk_spec() -> type[LayerSpec]:
    return create_model(
        "TopkSpec",
        __base__=LayerSpec,
        __doc__="topk: the k largest values along `dim` and their indices, as "
        "`values, indices = x.topk(k, dim)`; `names: [values, indices]`.",
        __validators__=values_and_indices("topk", "the values", "values"),
        type=(Literal["topk"], ...),
        names=(Names, _NAMES),
        k=(Int(ge=1), Field(..., description="how many values to keep, at most the dim's size")),
        dim=(Int(), Field(-1, description="the dim to pick along; negative counts from the end")),
        largest=(Bool, Field(True, description="false: the k smallest")),
        sorted=(Bool, Field(True, description="the values in order, largest (smallest) first")),
    )


def _too_few(k: int, d: int, x: Shape) -> str:
    return f"topk takes k={k} values along dim {d} of {fmt(x)}, which holds {{d}} fewer"


@register
class TopK(StatelessOp):
    kind = "topk"
    spec = LazySpec(_topk_spec)
    style = "function"
    category = "pool"
    names_field = "names"
    flow_piece = 0  # the values: the indices are read by name
    summary = "the k largest values along a dim and their indices (`x.topk(k)`, two outputs)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        names, k, dim = attrs["names"], attrs["k"], attrs["dim"]
        if len(names) != 2:  # a computed `names` is counted only where the node is
            raise ShapeFailure(
                "E409",
                f"topk has two outputs, the values and their indices, and `names` gives "
                f"{len(names)} names ({', '.join(map(str, names[:4]))})",
                "name the two outputs: `names: [values, indices]`",
                "names",
            )
        if not -len(x) <= dim < len(x) or not x:
            raise ShapeFailure(
                "E401",
                f"topk dim {dim} is out of range for {fmt(x)}",
                f"give a dim from {-len(x)} to {len(x) - 1} (-1: the last)",
                "dim",
            )
        d = dim % len(x)
        ctx.require_positive(
            x[d] - k + 1,
            "E405",
            partial(_too_few, k, d, x),
            "give a k no larger than the dim's size, or pick along a longer dim",
            "k",
        )
        return Inferred(attrs, (*x[:d], Dim.of(k), *x[d + 1 :]))

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.topk, {
            "k": a["k"],
            "dim": a["dim"],
            "largest": a["largest"],
            "sorted": a["sorted"],
        }

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        kw = {"largest": (a["largest"], True), "sorted": (a["sorted"], True)}
        args = [a["k"]] if a["dim"] == -1 else [a["k"], a["dim"]]
        call = emit_call("x.topk", args, kw, lit)
        return f"{a['_inputs'][0]}.topk{call[len('x.topk') :]}"
