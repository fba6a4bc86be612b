"""Random values computed in forward: `randn_like`, a VAE's reparameterisation noise.

`mu + torch.randn_like(std) * std` draws a standard normal sample of `std`'s shape at every
forward, in training and in eval alike, as torch's function does (a VAE's `forward` samples
in eval too; one that returns `mu` in eval computes another graph there). Compiled and
emitted modules draw from torch's global generator in the same order, so under one
`torch.manual_seed` they give the same numbers.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ..dims import Shape
from .base import Inferred, LayerSpec, LazySpec, Op, ShapeContext, register


def _randn_like_spec() -> type[LayerSpec]:
    class RandnLikeSpec(LayerSpec):
        """randn_like: a standard normal sample of its input's shape (`torch.randn_like(x)`),
        drawn at every forward, in eval too; the input's values are not read."""

        type: Literal["randn_like"]

    return RandnLikeSpec


@register
class RandnLike(Op):
    kind = "randn_like"
    spec = LazySpec(_randn_like_spec)
    style = "function"
    category = "dropout"  # drawn as the other random step
    summary = "a standard normal sample of the input's shape (`torch.randn_like(x)`), each forward"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        return Inferred(attrs, tuple(x))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.randn_like, {}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"torch.randn_like({a['_inputs'][0]})"
