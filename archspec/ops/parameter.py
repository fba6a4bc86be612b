"""`parameter` and `buffer`: tensors owned by the enclosing module, not by a layer inside it.

ConvNeXt's CNBlock holds `self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) *
layer_scale)` beside its children, so its state_dict key is `features.1.0.layer_scale`, one
level up from any layer's; a ViT holds its class token and position embedding the same way.
A parameter node reads no input: its value is the tensor itself, of the shape it declares
(no batch dim), which merges (`mul`, `add`) broadcast against activations.

A `buffer` is the same without learning: `register_buffer(name, tensor)`, in the state_dict
(`persistent: true`, a relative position index) or not (`persistent: false`, a table that is
computed again at construction), filled with a constant, `arange` (position ids), `eye` (the
identity PointNet's T-Net adds to its learned transform), `tril` (ones on and below the
diagonal: minGPT's causal mask) or `relative_position_index`, the offset table of window
attention (Swin's and MaxViT's).
"""

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..dims import Dim, Shape
from .base import (
    Bool,
    Float,
    Inferred,
    Int,
    Ints,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    register,
)
from .words import Word

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: The largest number of elements one parameter may have (the model's own bound is E501).
MAX_NUMEL = 10**10


def _parameter_spec() -> type[LayerSpec]:
    class ParameterSpec(LayerSpec):
        """parameter: a learned tensor of `shape`, registered on the enclosing module under the
        node's name (or `key`), initialised to `value` (`init: constant`) or drawn from a
        normal or truncated normal distribution."""

        type: Literal["parameter"]
        shape: Ints(ge=1) = Field(  # type: ignore[valid-type]
            ..., description="the tensor's shape, e.g. `[in_channels, 1, 1]`; `[]` for one number"
        )
        init: Word(("constant", "normal", "trunc_normal")) = Field(  # type: ignore[valid-type]
            "constant", description="how the tensor starts: every element `value`, or random"
        )
        value: Float() = Field(0.0, description="the constant (`init: constant`)")  # type: ignore[valid-type]
        mean: Float() = 0.0  # type: ignore[valid-type]
        std: Float(ge=0) = Field(1.0, description="of `normal` and `trunc_normal`")  # type: ignore[valid-type]

    return ParameterSpec


def _dims(attrs: Mapping[str, Any]) -> list[Any]:
    shape = attrs["shape"]
    return list(shape) if isinstance(shape, (list, tuple)) else [shape]


def _bounded_shape(attrs: Mapping[str, Any], what: str, scalar: bool = False) -> Shape:
    """The tensor's declared shape, at most MAX_NUMEL elements: `[]` (a 0-d tensor, as
    `nn.Parameter(torch.tensor(0.))`) only where `scalar`, else at least one size."""
    dims = _dims(attrs)
    if not dims and not scalar:
        raise ShapeFailure(
            "E409",
            f"a {what} needs at least one size in its shape, got []",
            "give its shape as a list of sizes, e.g. `shape: [1]` for a single number",
            "shape",
        )
    numel = math.prod(dims)
    if numel > MAX_NUMEL:
        raise ShapeFailure(
            "E409",
            f"{what} of shape {tuple(dims)} has {numel:,} elements, over {MAX_NUMEL:,}",
            "a tensor this large is a mistake in its shape",
            "shape",
        )
    return tuple(Dim.of(d) for d in dims)


@register
class ParameterOp(Op):
    kind = "parameter"
    spec = LazySpec(_parameter_spec)
    style = "tensor"
    arity = 0
    torch_name = "nn.Parameter"
    summary = "a learned tensor held by the enclosing module (layer scale, class token)"
    parameter_entries = True
    category = "linear"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        shape = _bounded_shape(attrs, "parameter", scalar=True)
        if attrs["init"] == "trunc_normal" and not attrs["std"] > 0:
            raise ShapeFailure("E204", "trunc_normal needs a std above 0", "give `std` > 0", "std")
        return Inferred(attrs, shape)

    def params(self, attrs: Mapping[str, Any]) -> int:
        numel = 1
        for d in _dims(attrs):
            numel *= d
        return numel

    def activation_numel(self, out: Shape) -> Dim:
        return Dim.of(0)  # it is state, counted in params, not an activation

    def init_tensors(self, attrs: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def tensor_shapes(self, attrs: Mapping[str, Any]) -> Mapping[str, tuple[int, ...]]:
        return {"": tuple(_dims(attrs))}

    def submodules(self, attrs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, attrs: Mapping[str, Any]) -> "torch.nn.Parameter":
        import torch

        dims = tuple(_dims(attrs))  # () is a 0-d tensor
        if attrs["init"] == "normal":
            data = torch.empty(dims).normal_(mean=attrs["mean"], std=attrs["std"])
        elif attrs["init"] == "trunc_normal":
            data = torch.nn.init.trunc_normal_(
                torch.empty(dims), mean=attrs["mean"], std=attrs["std"]
            )
        else:
            data = torch.ones(dims) * attrs["value"]
        return torch.nn.Parameter(data)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        dims = ", ".join(lit(d) for d in _dims(a)) or "()"  # torch.zeros(()): 0-d
        init, value = a["init"], a["value"]
        if init == "constant":
            literal = isinstance(value, (int, float)) and not isinstance(value, bool)
            if literal and value == 0:
                data = f"torch.zeros({dims})"
            elif literal and value == 1:
                data = f"torch.ones({dims})"
            else:  # torchvision's layer scale: torch.ones(dim, 1, 1) * layer_scale
                data = f"torch.ones({dims}) * {lit(value)}"
        else:
            args = ", ".join(
                f"{k}={lit(a[k])}" for k, d in (("mean", 0.0), ("std", 1.0)) if a[k] != d
            )
            data = (
                f"torch.empty({dims}).normal_({args})"
                if init == "normal"
                else f"nn.init.trunc_normal_(torch.empty({dims}){', ' + args if args else ''})"
            )
        return f"nn.Parameter({data})"


#: a buffer's fills
FILLS = (
    "constant",
    "arange",
    "eye",
    "tril",
    "relative_position_index",
    "distance_index",
    "sinusoid",
    "sinusoid_halves",
)
#: the fills of a fixed position table: name -> the torch_support function that builds it
SINUSOIDS = {"sinusoid": "sinusoid_table", "sinusoid_halves": "sinusoid_halves_table"}


def _buffer_spec() -> type[LayerSpec]:
    class BufferSpec(LayerSpec):
        """buffer: a non-learned tensor of `shape`, registered on the enclosing module under the
        node's name (or `key`), in the state_dict unless `persistent: false`."""

        type: Literal["buffer"]
        shape: Ints(ge=1) | None = Field(  # type: ignore[valid-type]
            None,
            description="the tensor's shape; required but for a relative_position_index, whose "
            "shape is [h * w, h * w] for its window",
        )
        fill: Word(FILLS) = Field(  # type: ignore[valid-type]
            "constant",
            description="every element `value`; 0, 1, ... in order; ones on the diagonal of the "
            "last two dims (torch.eye), or on and below it (tril: a causal mask); for shape "
            "[h * w, h * w], the row of each pair's offset in an h x w window's bias table "
            "(`window`); or each query's (`stride` apart) distance to each key of an h x w "
            "map, |dy| * w + |dx| (distance_index); the Transformer's fixed position table "
            "over the last dim (sinusoid: sines at even features, cosines at odd ones; "
            "sinusoid_halves: sines then cosines, as Whisper), positions along the one other "
            "dim above 1",
        )
        value: Float() = Field(0.0, description="the constant (`fill: constant`)")  # type: ignore[valid-type]
        window: Ints(ge=1) | None = Field(  # type: ignore[valid-type]
            None,
            description="[h, w] of the window or map (relative_position_index, distance_index)",
        )
        stride: Int(ge=1) = Field(  # type: ignore[valid-type]
            1, description="the queries' step on the map (`fill: distance_index`)"
        )
        dtype: Word(("float32", "int64")) = "float32"  # type: ignore[valid-type]
        persistent: Bool = True

    return BufferSpec


def _window(attrs: Mapping[str, Any]) -> tuple[int, int]:
    """The (h, w) of a relative_position_index: `window`, or a square one whose h * w is the
    shape's side."""
    window = attrs.get("window")
    if window is None:
        side = _dims(attrs)[0] if attrs.get("shape") is not None else 0
        root = math.isqrt(side)
        if side == 0 or root * root != side:
            raise ShapeFailure(
                "E204",
                "fill relative_position_index needs `window: [h, w]` (or the shape of a "
                "square one)",
                None,
                "fill",
            )
        return root, root
    hw = list(window) if isinstance(window, (list, tuple)) else [window, window]
    if len(hw) != 2:
        raise ShapeFailure("E409", f"window {hw} needs two sizes, [h, w]", None, "window")
    return hw[0], hw[1]


def _distance_shape(attrs: dict[str, Any]) -> dict[str, Any]:
    """A distance_index's attrs with its shape, [queries, h * w]: given, it is checked."""
    if attrs.get("window") is None:
        raise ShapeFailure(
            "E204", "fill distance_index needs `window: [h, w]`, the map's size", None, "fill"
        )
    h, w = _window(attrs)
    s = attrs["stride"]
    shape = [((h + s - 1) // s) * ((w + s - 1) // s), h * w]
    if attrs.get("shape") is None:
        return dict(attrs, shape=shape)
    if _dims(attrs) != shape:
        raise ShapeFailure(
            "E409",
            f"a distance_index of a map of {h} x {w}, queries {s} apart, has shape {shape}, "
            f"not {_dims(attrs)}",
            f"give `shape: {shape}`, or leave it out",
            "shape",
        )
    return attrs


def _check_value(attrs: Mapping[str, Any]) -> None:
    value = attrs["value"]
    if attrs["dtype"] == "int64" and not (float(value).is_integer() and abs(value) < 2**63):
        raise ShapeFailure(
            "E409",
            f"an int64 buffer cannot hold the value {value!r}",
            "give a whole number, or dtype float32",
            "value",
        )


def check_sinusoid(attrs: Mapping[str, Any]) -> None:
    """A position table is float32, its features (the last dim) even (four at least for
    sinusoid_halves, whose frequencies step by 1 / (channels / 2 - 1)), its positions along
    one dim: the others are 1 ([L, D], [1, L, D], the tutorial's [L, 1, D])."""
    fill, dims = attrs["fill"], _dims(attrs)
    least = 4 if fill == "sinusoid_halves" else 2
    if attrs["dtype"] != "float32":
        raise ShapeFailure("E409", f"fill {fill} makes float32 values", "drop `dtype`", "dtype")
    if dims[-1] % 2 or dims[-1] < least:
        raise ShapeFailure(
            "E409",
            f"fill {fill} pairs a sine with a cosine over the last dim: it needs an even "
            f"number of features, {least} at least, not {dims[-1]}",
            "give the last dim of `shape` the model's width (d_model), an even number",
            "shape",
        )
    if sum(d > 1 for d in dims[:-1]) > 1:
        raise ShapeFailure(
            "E409",
            f"fill {fill} runs its positions along one dim, the others 1: not {dims}",
            "give `shape: [positions, features]` (or [1, positions, features], or the "
            "tutorial's [positions, 1, features])",
            "shape",
        )


@register
class BufferOp(Op):
    kind = "buffer"
    spec = LazySpec(_buffer_spec)
    style = "tensor"
    arity = 0
    inferred = ("shape",)
    torch_name = "buffer"
    summary = "a non-learned tensor held by the enclosing module (in the state_dict or not)"
    category = "linear"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        if attrs["stride"] != 1 and attrs["fill"] != "distance_index":
            raise ShapeFailure(
                "E409", "only `fill: distance_index` takes a stride", "drop it", "stride"
            )
        if attrs["fill"] == "distance_index":
            attrs = _distance_shape(attrs)
        elif attrs["fill"] == "relative_position_index":
            h, w = _window(attrs)
            if attrs.get("shape") is None:
                attrs = dict(attrs, shape=[h * w, h * w])
        elif attrs.get("shape") is None:
            raise ShapeFailure("E204", "a buffer needs a `shape`", None, "fill")
        shape = _bounded_shape(attrs, "buffer")
        if attrs["fill"] == "constant":
            _check_value(attrs)
        if attrs["fill"] in ("eye", "tril") and len(_dims(attrs)) < 2:
            raise ShapeFailure(
                "E409",
                f"fill {attrs['fill']} needs a shape of two dims or more (rows, columns), not "
                f"{_dims(attrs)}",
                "give `shape: [n, n]` (torch.eye(n)), then `reshape` it if a flat identity is "
                "wanted, as PointNet's `eye(3).flatten()`",
                "shape",
            )
        if attrs["fill"] in SINUSOIDS:
            check_sinusoid(attrs)
        if attrs["fill"] == "relative_position_index" and _dims(attrs) != [h * w, h * w]:
            raise ShapeFailure(
                "E409",
                f"a relative_position_index of an {h} x {w} window has shape "
                f"[{h * w}, {h * w}], not {_dims(attrs)}",
                "give `shape: [h * w, h * w]`",
                "shape",
            )
        return Inferred(attrs, shape)

    def buffers(self, attrs: Mapping[str, Any]) -> int:
        return math.prod(_dims(attrs))

    def persistent(self, attrs: Mapping[str, Any]) -> bool:
        return bool(attrs["persistent"])

    def activation_numel(self, out: Shape) -> Dim:
        return Dim.of(0)

    def init_tensors(self, attrs: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, attrs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, attrs: Mapping[str, Any]) -> "torch.Tensor":
        import torch

        dims, dtype = _dims(attrs), getattr(torch, attrs["dtype"])
        if attrs["fill"] == "arange":
            return torch.arange(math.prod(dims), dtype=dtype).reshape(dims)
        if attrs["fill"] == "eye":
            return torch.eye(dims[-2], dims[-1], dtype=dtype).expand(dims).contiguous()
        if attrs["fill"] == "tril":
            ones = torch.ones(dims[-2], dims[-1], dtype=dtype)
            return torch.tril(ones).expand(dims).contiguous()
        if attrs["fill"] == "relative_position_index":
            from .partition_modules import maxvit_relative_position_index

            return maxvit_relative_position_index(*_window(attrs)).to(dtype)
        if attrs["fill"] == "distance_index":
            from .torch_support import attention_distance_index

            return attention_distance_index(*_window(attrs), attrs["stride"]).to(dtype)
        if attrs["fill"] in SINUSOIDS:
            from . import torch_support

            table = getattr(torch_support, SINUSOIDS[attrs["fill"]])
            return table(math.prod(dims[:-1]), dims[-1]).reshape(dims)
        return torch.full(dims, attrs["value"], dtype=dtype)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        dims = ", ".join(lit(d) for d in _dims(a))
        dtype = f"dtype=torch.{a['dtype']}"
        if a["fill"] == "arange":
            return f"torch.arange({' * '.join(lit(d) for d in _dims(a))}, {dtype}).reshape({dims})"
        if a["fill"] == "eye":
            rows, cols = (lit(d) for d in _dims(a)[-2:])
            eye = f"torch.eye({rows}, {cols}, {dtype})"
            return eye if len(_dims(a)) == 2 else f"{eye}.expand({dims}).contiguous()"
        if a["fill"] == "tril":
            rows, cols = (lit(d) for d in _dims(a)[-2:])
            tril = f"torch.tril(torch.ones({rows}, {cols}, {dtype}))"
            return tril if len(_dims(a)) == 2 else f"{tril}.expand({dims}).contiguous()"
        if a["fill"] == "relative_position_index":
            h, w = _window(a)
            return f"maxvit_relative_position_index({lit(h)}, {lit(w)}).to(torch.{a['dtype']})"
        if a["fill"] == "distance_index":
            h, w = _window(a)
            stride = f", {lit(a['stride'])}" if a["stride"] != 1 else ""
            index = f"attention_distance_index({lit(h)}, {lit(w)}{stride})"
            return f"{index}.to(torch.{a['dtype']})"
        if a["fill"] in SINUSOIDS:
            positions = " * ".join(lit(d) for d in _dims(a)[:-1])
            table = f"{SINUSOIDS[a['fill']]}({positions}, {lit(_dims(a)[-1])})"
            return table if len(_dims(a)) == 2 else f"{table}.reshape({dims})"
        return f"torch.full(({dims},), {lit(a['value'])}, {dtype})"

    def emit_support(self) -> str:
        from .support import definitions

        return definitions("partition_modules.py", "maxvit_relative_position_index")

    def emit_support_for(self, attrs: Mapping[str, Any]) -> str | tuple[str, ...]:
        """A distance_index and a relative_position_index call a function of their own; the
        other fills call torch alone (a position table's `torch.full` wrote MaxViT's helper
        into every emitted file holding a buffer)."""
        from .support import definitions

        if attrs.get("fill") == "distance_index":
            return definitions("torch_support.py", "attention_distance_index")
        if attrs.get("fill") in SINUSOIDS:
            return definitions("torch_support.py", SINUSOIDS[attrs["fill"]])
        return self.emit_support() if attrs.get("fill") == "relative_position_index" else ""
