"""Layer kinds of the 1998 LeNet-5, registered through the public extension API.

An `archspec.layers` plugin like any other (this package's pyproject names this module as an
entry point); the torch modules live in `lenet1998_modules.py`, which depends on torch alone
and is copied verbatim into emitted source. Connection counts follow the paper: a unit's
connections are its inputs plus one for the bias.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, StrictInt

from archspec.dims import Dim, Shape, product
from archspec.ops import Float, Inferred, Int, LayerSpec, Op, ShapeContext, ShapeFailure, register
from archspec.ops.base import channels, fmt
from archspec.ops.conv import conv_extent
from archspec.ops.emitting import emit_call
from archspec.ops.support import definitions

_MODULES = Path(__file__).with_name("lenet1998_modules.py")


class _LeNetOp(Op):
    """Shared plumbing: the emitted file needs the torch module classes."""

    def emit_support(self) -> str:
        return definitions(_MODULES)

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()  # each module holds tensors and buffers, no modules

    def _module(self, name: str) -> Any:
        from archspec.contrib import lenet1998_modules

        return getattr(lenet1998_modules, name)


class ScaledTanhSpec(LayerSpec):
    """scaled_tanh: f(a) = A tanh(S a) (LeCun et al. 1998, A = 1.7159, S = 2/3)."""

    type: Literal["scaled_tanh"]
    amplitude: Float() = 1.7159  # type: ignore[valid-type]
    slope: Float() = 2.0 / 3.0  # type: ignore[valid-type]


@register
class ScaledTanh(_LeNetOp):
    kind = "scaled_tanh"
    spec = ScaledTanhSpec
    torch_name = "ScaledTanh"
    summary = "LeNet-5's squashing function A tanh(S a)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        return Inferred(attrs, inputs[0])

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def build(self, a: Mapping[str, Any]) -> Any:
        return self._module("ScaledTanh")(a["amplitude"], a["slope"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call("ScaledTanh", [a["amplitude"], a["slope"]], {}, lit)


class SubsamplingSpec(LayerSpec):
    """subsampling: sum of each k x k block, times a trainable coefficient, plus a bias, per map."""

    type: Literal["subsampling"]
    kernel_size: Int(ge=1) = 2  # type: ignore[valid-type]
    channels: Int(ge=1) | None = Field(None, description="optional; inferred")  # type: ignore[valid-type]


@register
class Subsampling(_LeNetOp):
    kind = "subsampling"
    spec = SubsamplingSpec
    inferred = ("channels",)
    torch_name = "TrainableSubsampling"
    summary = "LeNet-5's trainable subsampling (S2, S4)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 4:
            raise ShapeFailure("E401", f"subsampling needs (N, C, H, W), got {fmt(x)}", None)
        c = channels(x, self.kind)
        k = attrs["kernel_size"]
        out = [conv_extent(d, k, k, 0, 1) for d in x[2:]]
        for d in out:
            ctx.require_positive(d, "E405", f"subsampling makes an extent {{d}} from {fmt(x)}")
        return Inferred(dict(attrs, channels=c), (x[0], x[1], *out))

    def params(self, a: Mapping[str, Any]) -> int:
        return 2 * a["channels"]

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out) * (a["kernel_size"] ** 2)

    def connections(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out) * (a["kernel_size"] ** 2 + 1)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": 1, "bias": 1}  # one coefficient and one bias per map

    def build(self, a: Mapping[str, Any]) -> Any:
        return self._module("TrainableSubsampling")(a["channels"], a["kernel_size"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "TrainableSubsampling", [a["channels"]], {"kernel_size": (a["kernel_size"], 2)}, lit
        )


class TableConvSpec(LayerSpec):
    """connection_table_conv2d: output map j sees only the input maps listed in table[j]."""

    type: Literal["connection_table_conv2d"]
    out_channels: Int(ge=1)  # type: ignore[valid-type]
    kernel_size: Int(ge=1)  # type: ignore[valid-type]
    table: list[list[StrictInt]] = Field(..., description="for each output map, its input maps")
    in_channels: Int(ge=1) | None = Field(None, description="optional; inferred")  # type: ignore[valid-type]


@register
class ConnectionTableConv(_LeNetOp):
    kind = "connection_table_conv2d"
    spec = TableConvSpec
    inferred = ("in_channels",)
    torch_name = "ConnectionTableConv2d"
    category = "conv"
    summary = "convolution with a partial connection table (LeNet-5's C3)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 4:
            raise ShapeFailure("E401", f"{self.kind} needs (N, C, H, W), got {fmt(x)}", None)
        c_in = channels(x, self.kind)
        table = attrs["table"]
        if len(table) != attrs["out_channels"]:
            raise ShapeFailure(
                "E409",
                f"the table has {len(table)} rows for {attrs['out_channels']} output maps",
                "give one row (a list of input maps) per output map",
                "table",
            )
        for row in table:
            if not row or len(set(row)) != len(row) or any(not 0 <= i < c_in for i in row):
                raise ShapeFailure(
                    "E409",
                    f"table row {row} must list distinct input maps in 0..{c_in - 1}",
                    None,
                    "table",
                )
        k = attrs["kernel_size"]
        out = [conv_extent(d, k, 1, 0, 1) for d in x[2:]]
        for d in out:
            ctx.require_positive(d, "E405", f"{self.kind} makes an extent {{d}} from {fmt(x)}")
        return Inferred(dict(attrs, in_channels=c_in), (x[0], Dim.of(attrs["out_channels"]), *out))

    def params(self, a: Mapping[str, Any]) -> int:
        return sum(len(r) for r in a["table"]) * a["kernel_size"] ** 2 + a["out_channels"]

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        # each output position computes every connected kernel once
        return product((out[0], *out[2:])) * (
            sum(len(r) for r in a["table"]) * a["kernel_size"] ** 2
        )

    def connections(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        n = product((out[0], *out[2:]))
        return n * self.params(a)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": 3, "bias": 1}  # the connected kernels, stacked; a bias per map

    def build(self, a: Mapping[str, Any]) -> Any:
        return self._module("ConnectionTableConv2d")(
            a["in_channels"], a["out_channels"], a["kernel_size"], a["table"]
        )

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "ConnectionTableConv2d",
            [a["in_channels"], a["out_channels"], a["kernel_size"], a["table"]],
            {},
            lit,
        )


class RbfSpec(LayerSpec):
    """euclidean_rbf: y_i = sum_j (x_j - w_ij)^2 with fixed +1/-1 prototypes w (not trained)."""

    type: Literal["euclidean_rbf"]
    out_features: Int(ge=1)  # type: ignore[valid-type]
    in_features: Int(ge=1) | None = Field(None, description="optional; inferred")  # type: ignore[valid-type]


@register
class EuclideanRbf(_LeNetOp):
    kind = "euclidean_rbf"
    spec = RbfSpec
    inferred = ("in_features",)
    torch_name = "EuclideanRBF"
    summary = "LeNet-5's output layer of Euclidean RBF units with fixed prototypes"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 2 or not x[1].is_const:
            raise ShapeFailure("E401", f"euclidean_rbf needs (N, features), got {fmt(x)}", None)
        if attrs.get("in_features") not in (None, x[1].value):
            raise ShapeFailure(
                "E404", f"euclidean_rbf expects {attrs['in_features']} features", None
            )
        return Inferred(dict(attrs, in_features=x[1].value), (x[0], Dim.of(attrs["out_features"])))

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out) * a["in_features"]

    def connections(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out) * a["in_features"]

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}  # the prototypes are a fixed buffer

    def build(self, a: Mapping[str, Any]) -> Any:
        return self._module("EuclideanRBF")(a["in_features"], a["out_features"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call("EuclideanRBF", [a["in_features"], a["out_features"]], {}, lit)
