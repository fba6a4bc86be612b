"""Spread over dims computed in forward: `std` and `var`, as a norm written by hand takes
them (the Annotated Transformer's LayerNorm, `x.std(-1, keepdim=True)`; an instance norm's
`x.var((2, 3), unbiased=False, keepdim=True)`). No parameters, no module; their dims are
`mean`'s, and so are their refusals.
"""

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import Field

from .base import Bool, Float, LayerSpec, LazySpec, register
from .tensor import DimList, Mean

_CORRECTION = (
    "subtracted from the count of values before dividing: 1 is torch's default (the "
    "unbiased estimate, `unbiased=True`), 0 the population's (`unbiased=False`)"
)


def _std_spec() -> type[LayerSpec]:
    class StdSpec(LayerSpec):
        """std: the standard deviation over `dim` (`x.std(-1, keepdim=True)`: the Annotated
        Transformer's hand-written LayerNorm)."""

        type: Literal["std"]
        dim: DimList = Field(description="the dims the deviation runs over, e.g. [-1]")
        keepdim: Bool = False
        correction: Float(ge=0) = Field(1, description=_CORRECTION)  # type: ignore[valid-type]

    return StdSpec


@register
class Std(Mean):
    kind = "std"
    spec = LazySpec(_std_spec)
    summary = "standard deviation over dims (`x.std(-1, keepdim=True)`: a LayerNorm by hand)"

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return getattr(torch, self.kind), {
            "dim": list(attrs["dim"]),
            "correction": attrs["correction"],
            "keepdim": attrs["keepdim"],
        }

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        keep = ", keepdim=True" if a["keepdim"] is True else ""
        fix = "" if a["correction"] == 1 else f", correction={lit(a['correction'])}"
        return f"{a['_inputs'][0]}.{self.kind}({lit(a['dim'])}{fix}{keep})"


def _var_spec() -> type[LayerSpec]:
    class VarSpec(LayerSpec):
        """var: the variance over `dim` (`x.var((2, 3), unbiased=False, keepdim=True)`: an
        instance norm by hand)."""

        type: Literal["var"]
        dim: DimList = Field(description="the dims the variance runs over, e.g. [2, 3]")
        keepdim: Bool = False
        correction: Float(ge=0) = Field(1, description=_CORRECTION)  # type: ignore[valid-type]

    return VarSpec


@register
class Var(Std):
    kind = "var"
    spec = LazySpec(_var_spec)
    summary = "variance over dims (`x.var([2, 3], unbiased=False)`: an instance norm by hand)"
