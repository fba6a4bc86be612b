"""channel_affine: a fixed per-channel `x * scale + shift` computed in forward.

torchvision's GoogLeNet and Inception v3 re-normalise their input this way when built for
pretrained weights (`transform_input=True`): each channel is scaled and shifted on its own
and the channels concatenated again. The op computes it the same way, one channel at a
time, so the result is bit for bit torchvision's.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ..dims import Shape
from .base import Floats, Inferred, LayerSpec, LazySpec, ShapeContext, ShapeFailure, fmt, register
from .merge import _FunctionOp


def _channel_affine_spec() -> type[LayerSpec]:
    class ChannelAffineSpec(LayerSpec):
        """channel_affine: `x[:, c] * scale[c] + shift[c]` for every channel c (no parameters)."""

        type: Literal["channel_affine"]
        scale: Floats()  # type: ignore[valid-type]
        shift: Floats()  # type: ignore[valid-type]

    return ChannelAffineSpec


def channel_affine(x: Any, scale: Sequence[float], shift: Sequence[float]) -> Any:
    """Each channel of `x` times its scale plus its shift, channels concatenated again."""
    import torch

    return torch.cat([x[:, i : i + 1] * s + b for i, (s, b) in enumerate(zip(scale, shift))], 1)


_SUPPORT = '''
def channel_affine(
    x: torch.Tensor, scale: tuple[float, ...], shift: tuple[float, ...]
) -> torch.Tensor:
    """Each channel of x times its scale plus its shift (torchvision's transform_input)."""
    return torch.cat([x[:, i : i + 1] * s + b for i, (s, b) in enumerate(zip(scale, shift))], 1)
'''


@register
class ChannelAffine(_FunctionOp):
    kind = "channel_affine"
    spec = LazySpec(_channel_affine_spec)
    summary = "fixed per-channel scale and shift (torchvision's transform_input)"
    category = "norm"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) < 2:
            raise ShapeFailure(
                "E401", f"channel_affine needs an input with channels, got {fmt(x)}", None
            )
        n = len(attrs["scale"])
        if len(attrs["shift"]) != n:
            raise ShapeFailure(
                "E404",
                f"channel_affine has {n} scales but {len(attrs['shift'])} shifts",
                "give one scale and one shift per channel",
            )
        ctx.require_equal(
            x[1],
            n,
            "E404",
            f"channel_affine has {n} scales, the input has {{a}} channels {fmt(x)}",
            "give one scale and one shift per input channel",
            "scale",
        )
        return Inferred(attrs, x)

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return channel_affine, {"scale": tuple(attrs["scale"]), "shift": tuple(attrs["shift"])}

    def emit_support(self) -> str:
        return _SUPPORT

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        (x,) = a["_inputs"]
        return f"channel_affine({x}, {lit(tuple(a['scale']))}, {lit(tuple(a['shift']))})"
