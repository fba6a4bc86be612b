"""Sampling a map at computed places: `affine_grid` and `grid_sample`, the spatial transformer
(Jaderberg et al. 2015; PyTorch's STN tutorial): a small network predicts an affine `theta`
per sample, `F.affine_grid(theta, x.size())` turns it into a grid of sampling points over x,
and `F.grid_sample(x, grid)` reads x there. Both are computed in forward, hold no tensors and
count no MACs (as interpolate counts none). `sine_position_encoding` makes coordinates of a
map's size too: DETR's and XCiT's fixed sine features of each pixel's place.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape
from .base import (
    Bool,
    Float,
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .merge import _FunctionOp
from .support import support_source
from .words import Word


def _affine_grid_spec() -> type[LayerSpec]:
    class AffineGridSpec(LayerSpec):
        """affine_grid: the sampling grid of an affine `theta` over the size of a map,
        `from: [theta, x]` (`F.affine_grid(theta, x.size())`): theta is (N, 2, 3) for an
        (N, C, H, W) map, giving (N, H, W, 2); (N, 3, 4) for (N, C, D, H, W), giving
        (N, D, H, W, 3)."""

        type: Literal["affine_grid"]
        align_corners: Bool = Field(False, description="as F.affine_grid's (torch's default)")

    return AffineGridSpec


@register
class AffineGrid(_FunctionOp):
    kind = "affine_grid"
    spec = LazySpec(_affine_grid_spec)
    arity = 2
    category = "pool"
    summary = "the sampling grid of an affine theta over a map's size (F.affine_grid: STN)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        theta, x = inputs
        nd = len(x) - 2
        if nd not in (2, 3) or tuple(theta[1:]) != (nd, nd + 1) or len(theta) != 3:
            raise ShapeFailure(
                "E401",
                f"affine_grid takes theta (N, 2, 3) with an (N, C, H, W) map, or (N, 3, 4) with "
                f"an (N, C, D, H, W) one, not {fmt(theta)} with {fmt(x)}",
                "reshape the predicted parameters to (N, 2, 3): `reshape` with shape [-1, 2, 3]",
            )
        ctx.require_equal(
            theta[0],
            x[0],
            "E403",
            "affine_grid takes one theta per sample: {a} thetas for {b} maps",
            "predict theta from the map it samples",
        )
        return Inferred(attrs, (x[0], *x[2:], theta[1]))

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return affine_grid_as, {"align_corners": a["align_corners"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        theta, x = a["_inputs"]
        return f"F.affine_grid({theta}, {x}.size(), align_corners={lit(a['align_corners'])})"


def affine_grid_as(theta: Any, x: Any, align_corners: bool) -> Any:
    """`F.affine_grid(theta, x.size(), align_corners=...)`, as emitted files write it."""
    from torch.nn.functional import affine_grid

    return affine_grid(theta, x.size(), align_corners=align_corners)


#: grid_sample's modes and padding modes, torch's
GRID_MODES = ("bilinear", "nearest", "bicubic")
GRID_PADDING = ("zeros", "border", "reflection")


def _grid_sample_spec() -> type[LayerSpec]:
    class GridSampleSpec(LayerSpec):
        """grid_sample: the first input read at the points of the second, `from: [x, grid]`
        (`F.grid_sample(x, grid)`): (N, C, H, W) at (N, Ho, Wo, 2) gives (N, C, Ho, Wo)."""

        type: Literal["grid_sample"]
        mode: Word(GRID_MODES) = "bilinear"  # type: ignore[valid-type]
        padding_mode: Word(GRID_PADDING) = "zeros"  # type: ignore[valid-type]
        align_corners: Bool = Field(False, description="as F.grid_sample's (torch's default)")

    return GridSampleSpec


@register
class GridSample(_FunctionOp):
    kind = "grid_sample"
    spec = LazySpec(_grid_sample_spec)
    arity = 2
    category = "pool"
    emits_words = frozenset({"mode", "padding_mode"})
    summary = "a map read at the points of a grid (F.grid_sample: STN)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        x, grid = inputs
        nd = len(x) - 2
        if nd not in (2, 3) or len(grid) != len(x) or grid[-1] != nd:
            raise ShapeFailure(
                "E401",
                f"grid_sample reads an (N, C, H, W) map at an (N, Ho, Wo, 2) grid (or 5-d at "
                f"(N, Do, Ho, Wo, 3)), not {fmt(x)} at {fmt(grid)}",
                "make the grid with affine_grid from the map it samples",
            )
        if attrs["mode"] == "bicubic" and nd != 2:
            raise ShapeFailure(
                "E409",
                f"grid_sample's bicubic mode reads 4-d maps only, not {fmt(x)}",
                "use bilinear or nearest",
                "mode",
            )
        ctx.require_equal(
            grid[0],
            x[0],
            "E403",
            "grid_sample reads each map at its own grid: {a} grids for {b} maps",
            "make the grid from the map it samples",
        )
        return Inferred(attrs, (x[0], x[1], *grid[1:-1]))

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        from torch.nn.functional import grid_sample

        return grid_sample, {
            "mode": a["mode"],
            "padding_mode": a["padding_mode"],
            "align_corners": a["align_corners"],
        }

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        x, grid = a["_inputs"]
        more = "".join(
            f", {k}={lit(a[k])}"
            for k, default in (("mode", "bilinear"), ("padding_mode", "zeros"))
            if a[k] != default
        )
        return f"F.grid_sample({x}, {grid}{more}, align_corners={lit(a['align_corners'])})"


def _sine_position_spec() -> type[LayerSpec]:
    class SinePositionEncodingSpec(LayerSpec):
        """sine_position_encoding: fixed sine and cosine features of each pixel's row and
        column, (N, 2 * hidden_dim, H, W) for an (N, C, H, W) map whose values it never reads
        (DETR's `PositionEmbeddingSine`, timm's `PositionalEncodingFourier` in XCiT and
        EdgeNeXt, before their 1x1 `token_projection`)."""

        type: Literal["sine_position_encoding"]
        hidden_dim: Int(ge=2) = Field(  # type: ignore[valid-type]
            32, description="features per axis (even): the rows' first, then the columns'"
        )
        temperature: Float(gt=0) = Field(  # type: ignore[valid-type]
            10000.0, description="the base of the wavelengths, as in a transformer's encoding"
        )
        normalize: Bool = Field(
            True, description="positions scaled to (0, 2 pi], as DETR's normalize=True and timm's"
        )

    return SinePositionEncodingSpec


@register
class SinePositionEncoding(_FunctionOp):
    kind = "sine_position_encoding"
    spec = LazySpec(_sine_position_spec)
    category = "pool"
    summary = "sine features of each pixel's position (DETR's, XCiT's and EdgeNeXt's encoding)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 4:
            raise ShapeFailure(
                "E401",
                f"sine_position_encoding encodes the places of an (N, C, H, W) map, not {fmt(x)}",
                "read the map, not its tokens: tokens have lost their rows and columns",
            )
        hidden = attrs["hidden_dim"]
        if hidden % 2:
            raise ShapeFailure(
                "E409",
                f"sine_position_encoding's hidden_dim {hidden} is odd: each position gets a "
                "sine and a cosine of every other wavelength",
                f"use an even hidden_dim ({hidden + 1} or {hidden - 1})",
                "hidden_dim",
            )
        return Inferred(attrs, (x[0], Dim.of(2 * hidden), x[2], x[3]))

    def channel_axis(
        self, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
    ) -> int | None:
        return 1

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        from .torch_support import sine_position_encoding

        return sine_position_encoding, self._arguments(a)

    def _arguments(self, a: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "hidden_dim": a["hidden_dim"],
            "temperature": float(a["temperature"]),
            "normalize": a["normalize"],
        }

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        args = ", ".join(f"{k}={lit(v)}" for k, v in self._arguments(a).items())
        return f"sine_position_encoding({a['_inputs'][0]}, {args})"

    def emit_support(self) -> str:
        return support_source("sine_position_encoding")
