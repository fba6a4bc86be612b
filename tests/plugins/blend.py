"""A two-input function layer plugin that imports no torch until a model is built:
`torch.lerp(a, b, weight)`. With only this file loaded, `archspec check` stays torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import archspec
from archspec.dims import Shape


class BlendSpec(archspec.LayerSpec):
    """blend: a + weight * (b - a), elementwise, for two inputs of one shape."""

    type: Literal["blend"]
    weight: archspec.Float(ge=0, le=1) = 0.5  # type: ignore[valid-type]


class BlendOp(archspec.Op):
    kind = "blend"
    spec = BlendSpec
    style = "function"
    arity = 2
    summary = "a + weight * (b - a) (test plugin, two inputs, no torch at import)"

    def infer(
        self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: archspec.ShapeContext
    ) -> archspec.Inferred:
        a, b = inputs
        if len(a) != len(b):
            raise archspec.ShapeFailure("E402", f"blend joins ranks {len(a)} and {len(b)}")
        for i, (da, db) in enumerate(zip(a, b)):
            ctx.require_equal(da, db, "E402", f"blend: dim {i} of its inputs, {{a}} and {{b}}")
        return archspec.Inferred(attrs, tuple(a))

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch  # only when a model is built: checking a spec needs no torch

        return torch.lerp, {"weight": a["weight"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        x, y = a["_inputs"]
        return f"torch.lerp({x}, {y}, weight={lit(a['weight'])})"
