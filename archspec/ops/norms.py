"""Normalisations beyond batch norm: group, instance, layer (last dims) and layer over NCHW
channels (ConvNeXt's LayerNorm2d).

Counts: an affine norm holds a weight and a bias per normalised element (per channel for
group, instance and layer_norm2d; prod(normalized_shape) for layer_norm), or a weight alone
with `bias: false`; MACs are 0, as for batch norm (only convolutions and linear layers count
multiply-accumulates).
"""

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape, product
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
    channels,
    fmt,
    register,
)
from .emitting import emit_call
from .shapectx import check_declared, unknown_features
from .support import support_class, support_source


class _Norm(Op):
    category = "norm"
    optional_tensors = ("weight", "bias")

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def connections(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return Dim.of(0)  # as batch norm: no multiply-accumulate, no bias connection


def _group_norm_spec() -> type[LayerSpec]:
    class GroupNormSpec(LayerSpec):
        """group_norm: normalises groups of channels; num_channels is inferred."""

        type: Literal["group_norm"]
        num_groups: Int(ge=1)  # type: ignore[valid-type]
        eps: Float(gt=0) = 1e-5  # type: ignore[valid-type]
        affine: Bool = True
        bias: Bool = Field(True, description="with affine, a learned bias besides the weight")
        num_channels: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked if given"
        )

    return GroupNormSpec


def _group_message(x: Shape, g: int, per_group: Dim) -> str:
    return (
        f"group_norm with {g} groups normalises {per_group} value(s) at a time over the "
        f"input {fmt(x)}: PyTorch needs more than one"
    )


@register
class GroupNorm(_Norm):
    kind = "group_norm"
    spec = LazySpec(_group_norm_spec)
    inferred = ("num_channels",)
    torch_name = "GroupNorm"
    summary = "group normalisation over channels (dim 1)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        c = channels(x, self.kind)
        check_declared(self.kind, "num_channels", attrs.get("num_channels"), c)
        g = attrs["num_groups"]
        if c % g:
            raise ShapeFailure(
                "E409",
                f"group_norm num_groups={g} does not divide the {c} input channels",
                "use a number of groups that divides the channel count",
                "num_groups",
            )
        # torch refuses a group of one value: (N * C / G) * H * W must be above 1
        per_group = product([x[0], Dim.of(c // g), *x[2:]])
        ctx.require_positive(
            per_group - 1,
            "E405",
            partial(_group_message, x, g, per_group),
            "use a larger batch or input, or fewer groups",
        )
        return Inferred(dict(attrs, num_channels=c), x)

    def params(self, a: Mapping[str, Any]) -> int:
        return (2 if a["bias"] else 1) * a["num_channels"] if a["affine"] else 0

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        if not a.get("affine", True):
            return {}
        return {"weight": 1, **({"bias": 1} if a.get("bias", True) else {})}

    def tensor_shapes(self, a: Mapping[str, Any]) -> Mapping[str, tuple[int, ...]]:
        if not a["affine"]:
            return {}
        n = (a["num_channels"],)
        return {"weight": n, **({"bias": n} if a["bias"] else {})}

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        g, c = a["num_groups"], a["num_channels"]
        return nn.GroupNorm(g, c, eps=a["eps"], affine=a["affine"], bias=a["bias"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "nn.GroupNorm",
            [a["num_groups"], a["num_channels"]],
            {"eps": (a["eps"], 1e-5), "affine": (a["affine"], True), "bias": (a["bias"], True)},
            lit,
        )


def _instance_norm2d_spec() -> type[LayerSpec]:
    class InstanceNorm2dSpec(LayerSpec):
        """instance_norm2d: normalises each channel of each sample; num_features is inferred."""

        type: Literal["instance_norm2d"]
        eps: Float(gt=0) = 1e-5  # type: ignore[valid-type]
        momentum: Float(ge=0, le=1) | None = 0.1  # type: ignore[valid-type]
        affine: Bool = False
        track_running_stats: Bool = False
        num_features: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked if given"
        )

    return InstanceNorm2dSpec


def _spatial_message(x: Shape, spatial: Dim) -> str:
    return f"instance_norm2d needs more than one spatial element, the input {fmt(x)} has {spatial}"


@register
class InstanceNorm2d(_Norm):
    kind = "instance_norm2d"
    spec = LazySpec(_instance_norm2d_spec)
    inferred = ("num_features",)
    torch_name = "InstanceNorm2d"
    summary = "instance normalisation of each channel of each sample"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 4:
            raise ShapeFailure(
                "E401", f"instance_norm2d needs an (N, C, H, W) input, got {fmt(x)}", None
            )
        c = channels(x, self.kind)
        check_declared(self.kind, "num_features", attrs.get("num_features"), c)
        if not attrs["track_running_stats"]:
            # the sample's own statistics, even in eval mode: torch refuses a single spatial
            # element (as batch norm without running statistics, training mode is left out)
            ctx.require_positive(
                x[2] * x[3] - 1,
                "E405",
                partial(_spatial_message, x, x[2] * x[3]),
                "use a larger input, less downsampling before this layer, or "
                "track_running_stats: true",
            )
        return Inferred(dict(attrs, num_features=c), x)

    def params(self, a: Mapping[str, Any]) -> int:
        return 2 * a["num_features"] if a["affine"] else 0

    def buffers(self, a: Mapping[str, Any]) -> int:
        return 2 * a["num_features"] + 1 if a["track_running_stats"] else 0

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": 1, "bias": 1} if a.get("affine", False) else {}

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.InstanceNorm2d(
            a["num_features"],
            eps=a["eps"],
            momentum=a["momentum"],
            affine=a["affine"],
            track_running_stats=a["track_running_stats"],
        )

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "nn.InstanceNorm2d",
            [a["num_features"]],
            {
                "eps": (a["eps"], 1e-5),
                "momentum": (a["momentum"], 0.1),
                "affine": (a["affine"], False),
                "track_running_stats": (a["track_running_stats"], False),
            },
            lit,
        )


def _layer_norm_spec() -> type[LayerSpec]:
    class LayerNormSpec(LayerSpec):
        """layer_norm: normalises over the input's last `dims` dims (or `normalized_shape`)."""

        type: Literal["layer_norm"]
        dims: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="how many trailing dims to normalise over (default 1)"
        )
        normalized_shape: Ints(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; the trailing dims, checked against the input if given"
        )
        eps: Float(gt=0) = 1e-5  # type: ignore[valid-type]
        elementwise_affine: Bool = True
        bias: Bool = True

    return LayerNormSpec


def _last_dims_message(x: Shape, shape: tuple[int, ...]) -> str:
    return f"layer_norm normalises over {list(shape)}, but the input {fmt(x)} ends in {{a}}"


@register
class LayerNorm(_Norm):
    kind = "layer_norm"
    spec = LazySpec(_layer_norm_spec)
    inferred = ("normalized_shape",)
    torch_name = "LayerNorm"
    summary = "layer normalisation over the last dims"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        given = attrs.get("normalized_shape")
        k = attrs.get("dims")
        if given is not None:
            shape = tuple(given) if isinstance(given, (list, tuple)) else (given,)
            if not shape:
                raise ShapeFailure(
                    "E409",
                    "layer_norm normalized_shape is empty",
                    "give the sizes of the last dims, or drop it (archspec infers it)",
                    "normalized_shape",
                )
            if k is not None and k != len(shape):
                raise ShapeFailure(
                    "E409",
                    f"layer_norm dims={k} but normalized_shape has {len(shape)} dims",
                    "give one of dims and normalized_shape",
                    "dims",
                )
        else:
            shape = ()
        n = len(shape) if given is not None else (k if k is not None else 1)
        if len(x) < n:
            raise ShapeFailure(
                "E401",
                f"layer_norm normalises the last {n} dims, but the input is {fmt(x)}",
                None,
                "dims" if given is None else "normalized_shape",
            )
        tail = x[len(x) - n :]
        if given is None:
            unknown = [d for d in tail if not d.is_const]
            if unknown:  # over one dim, that of a conv's (N, C, L) wants a permute first
                raise unknown_features(
                    self.kind,
                    x,
                    "known sizes of the dims it normalises",
                    "declare a concrete input size, or state normalized_shape",
                    permute=n == 1,
                )
            shape = tuple(d.value for d in tail)
        else:
            for d, want in zip(tail, shape):
                ctx.require_equal(
                    d,
                    want,
                    "E402",
                    partial(_last_dims_message, x, shape),
                    "drop normalized_shape (archspec infers it from the input), or fix it",
                    "normalized_shape",
                )
        return Inferred(dict(attrs, normalized_shape=list(shape)), x)

    def read_module(self, module: Any) -> dict[str, Any] | None:
        fields = super().read_module(module)
        shape = (fields or {}).get("normalized_shape") or []
        if fields is not None and len(shape) > 1:
            fields["dims"] = len(shape)  # the inferred shape is dropped; dims keeps its rank
        return fields

    def params(self, a: Mapping[str, Any]) -> int:
        if not a["elementwise_affine"]:
            return 0
        return math.prod(a["normalized_shape"]) * (2 if a["bias"] else 1)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        if not a.get("elementwise_affine", True):
            return {}
        n = len(a["normalized_shape"])
        return {"weight": n, **({"bias": n} if a.get("bias", True) else {})}

    def tensor_shapes(self, a: Mapping[str, Any]) -> Mapping[str, tuple[int, ...]]:
        if not a["elementwise_affine"]:
            return {}
        shape = tuple(a["normalized_shape"])
        return {"weight": shape, **({"bias": shape} if a["bias"] else {})}

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.LayerNorm(
            list(a["normalized_shape"]),
            eps=a["eps"],
            elementwise_affine=a["elementwise_affine"],
            bias=a["bias"],
        )

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        shape = a["normalized_shape"]
        first = shape[0] if isinstance(shape, (list, tuple)) and len(shape) == 1 else shape
        return emit_call(
            "nn.LayerNorm",
            [first],
            {
                "eps": (a["eps"], 1e-5),
                "elementwise_affine": (a["elementwise_affine"], True),
                "bias": (a["bias"], True),
            },
            lit,
        )


def _layer_norm2d_spec() -> type[LayerSpec]:
    class LayerNorm2dSpec(LayerSpec):
        """layer_norm2d: LayerNorm over the channels of an (N, C, H, W) tensor."""

        type: Literal["layer_norm2d"]
        eps: Float(gt=0) = 1e-5  # type: ignore[valid-type]
        elementwise_affine: Bool = True
        bias: Bool = True
        num_channels: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked if given"
        )

    return LayerNorm2dSpec


@register
class LayerNorm2d(_Norm):
    kind = "layer_norm2d"
    spec = LazySpec(_layer_norm2d_spec)
    inferred = ("num_channels",)
    torch_name = "LayerNorm2d"
    summary = "layer normalisation over NCHW channels (ConvNeXt's LayerNorm2d)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 4:
            raise ShapeFailure(
                "E401",
                f"layer_norm2d needs an (N, C, H, W) input, got {fmt(x)}",
                "use layer_norm to normalise the last dims of other inputs",
            )
        c = channels(x, self.kind)
        check_declared(self.kind, "num_channels", attrs.get("num_channels"), c)
        return Inferred(dict(attrs, num_channels=c), x)

    def params(self, a: Mapping[str, Any]) -> int:
        if not a["elementwise_affine"]:
            return 0
        return a["num_channels"] * (2 if a["bias"] else 1)

    def read_module(self, module: Any) -> dict[str, Any] | None:
        fields = super().read_module(module)
        shape = getattr(module, "normalized_shape", None)
        if fields is not None and isinstance(shape, tuple) and len(shape) == 1:
            fields["num_channels"] = shape[0]  # torchvision's LayerNorm2d keeps (C,)
        return fields

    def scratch_numel(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        # the permuted input is normalised into a new tensor, then permuted back (a view)
        return product(inputs[0])

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        if not a.get("elementwise_affine", True):
            return {}
        return {"weight": 1, **({"bias": 1} if a.get("bias", True) else {})}

    def emit_support(self) -> str:
        return support_source("LayerNorm2d")

    def build(self, a: Mapping[str, Any]) -> Any:
        return support_class("LayerNorm2d")(
            a["num_channels"],
            eps=a["eps"],
            elementwise_affine=a["elementwise_affine"],
            bias=a["bias"],
        )

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "LayerNorm2d",
            [a["num_channels"]],
            {
                "eps": (a["eps"], 1e-5),
                "elementwise_affine": (a["elementwise_affine"], True),
                "bias": (a["bias"], True),
            },
            lit,
        )


def _frozen_batch_norm2d_spec() -> type[LayerSpec]:
    class FrozenBatchNorm2dSpec(LayerSpec):
        """frozen_batch_norm2d: a fixed per-channel affine from batch-norm buffers (no
        parameters); num_features is inferred."""

        type: Literal["frozen_batch_norm2d"]
        eps: Float(gt=0) = 1e-5  # type: ignore[valid-type]
        num_features: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked if given"
        )

    return FrozenBatchNorm2dSpec


@register
class FrozenBatchNorm2d(_Norm):
    """torchvision's FrozenBatchNorm2d: weight, bias, running_mean and running_var are
    buffers (in the state_dict, never trained; no num_batches_tracked), so it counts no
    parameters and 4 * C buffer elements, as torch's `parameters()` and `buffers()` do."""

    kind = "frozen_batch_norm2d"
    spec = LazySpec(_frozen_batch_norm2d_spec)
    inferred = ("num_features",)
    torch_name = "FrozenBatchNorm2d"
    summary = (
        "batch norm with fixed statistics and affine, all buffers (torchvision's detection norm)"
    )
    optional_tensors = ()

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 4:
            # its buffers are reshaped to (1, C, 1, 1): another rank broadcasts them wrongly
            raise ShapeFailure(
                "E401",
                f"frozen_batch_norm2d needs an (N, C, H, W) input, got {fmt(x)}",
                _bn_rank_hint_frozen(len(x)),
            )
        c = channels(x, self.kind)
        check_declared(self.kind, "num_features", attrs.get("num_features"), c)
        return Inferred(dict(attrs, num_features=c), x)

    def read_module(self, module: Any) -> dict[str, Any] | None:
        fields = super().read_module(module)  # its eps, from a class of the name
        weight = getattr(module, "weight", None)
        if fields is None or getattr(weight, "ndim", None) != 1:
            return None
        return dict(fields, num_features=int(weight.shape[0]))  # its size: no attribute

    def params(self, a: Mapping[str, Any]) -> int:
        return 0

    def buffers(self, a: Mapping[str, Any]) -> int:
        return 4 * a["num_features"]  # weight, bias, running_mean, running_var

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        # buffers, ones and zeros until a checkpoint loads them, which an init rule may set
        return {"weight": 1, "bias": 1}

    def emit_support(self) -> str:
        return support_source("FrozenBatchNorm2d")

    def build(self, a: Mapping[str, Any]) -> Any:
        return support_class("FrozenBatchNorm2d")(a["num_features"], eps=a["eps"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call("FrozenBatchNorm2d", [a["num_features"]], {"eps": (a["eps"], 1e-5)}, lit)


def _bn_rank_hint_frozen(rank: int) -> str:
    """E401's hint for a frozen batch norm given an input of another rank than 4."""
    return (
        f"frozen_batch_norm2d normalises (N, C, H, W) maps; for an input of rank {rank}, "
        "a batchnorm1d/batchnorm3d in eval mode computes the same fixed affine"
    )
