"""Linear, normalisation, activations, dropout, flatten and unflatten, identity."""

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

from pydantic import Field, create_model

from ..dims import Dim, Shape, product
from .base import (
    INT32_MAX,
    Bool,
    Category,
    Float,
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    at_most,
    channels,
    fmt,
    register,
)
from .emitting import emit_call
from .shapectx import check_declared, unknown_features
from .words import Word


def _linear_spec() -> type[LayerSpec]:
    class LinearSpec(LayerSpec):
        """linear: fully connected; in_features is inferred from the last input dim."""

        type: Literal["linear"]
        out_features: Int(ge=1)  # type: ignore[valid-type]
        bias: Bool = True
        in_features: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked against the input if given"
        )

    return LinearSpec


@register
class Linear(Op):
    kind = "linear"
    spec = LazySpec(_linear_spec)
    inferred = ("in_features",)
    torch_name = "Linear"
    category = "linear"
    optional_tensors = ("bias",)
    summary = "fully connected layer"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) < 1:
            raise ShapeFailure("E401", "linear needs an input of rank >= 1", None)
        last = x[-1]
        given = attrs.get("in_features")
        if given is not None:
            ctx.require_equal(
                last,
                given,
                "E404",
                # a function: the message names the whole input, worth writing only if read
                lambda: f"linear expects {given} input features, the input gives {{a}} {fmt(x)}",
                "change the input size, or put an adaptive pool before the flatten",
                "in_features",
            )
            n_in = given
        elif last.is_const:
            n_in = last.value
        else:
            raise unknown_features(
                "linear",
                x,
                "a known number of input features",
                "declare a concrete input size, put an adaptive pool before the flatten, "
                "or state in_features",
                "; for one vector per sample, a global pool and a `flatten` (or a `mean` "
                "over dim 2)",
            )
        if len(x) < 2:
            raise ShapeFailure(
                "E401", f"linear needs a batch dimension, got {fmt(x)}", "add a flatten"
            )
        return Inferred(dict(attrs, in_features=n_in), (*x[:-1], Dim.of(attrs["out_features"])))

    def params(self, a: Mapping[str, Any]) -> int:
        return a["in_features"] * a["out_features"] + (a["out_features"] if a["bias"] else 0)

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out) * a["in_features"]

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": 2, **({"bias": 1} if a.get("bias", True) else {})}

    def tensor_shapes(self, a: Mapping[str, Any]) -> Mapping[str, tuple[int, ...]]:
        out = a["out_features"]
        return {"weight": (out, a["in_features"]), **({"bias": (out,)} if a["bias"] else {})}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.Linear(a["in_features"], a["out_features"], bias=a["bias"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "nn.Linear", [a["in_features"], a["out_features"]], {"bias": (a["bias"], True)}, lit
        )


def _bn_spec(kind: str) -> type[LayerSpec]:
    return create_model(
        f"{kind.capitalize()}Spec",
        __base__=LayerSpec,
        __doc__=f"{kind}: batch normalisation; num_features is inferred.",
        type=(Literal[kind], ...),
        eps=(Float(gt=0), 1e-5),
        momentum=(Float(ge=0, le=1) | None, 0.1),
        affine=(Bool, True),
        track_running_stats=(Bool, True),
        num_features=(Int(ge=1) | None, Field(None, description="optional; checked if given")),
    )


#: The batch norm for each input rank (E401's hint: a video's (N, C, D, H, W) takes batchnorm3d).
_BN_FOR_RANK = {2: "batchnorm1d", 3: "batchnorm1d", 4: "batchnorm2d", 5: "batchnorm3d"}


def _bn_rank_hint(rank: int) -> str:
    """E401's hint for a batch norm given an input of a rank it does not take."""
    kinds = (
        "batchnorm1d after linear layers or on (N, C, L), batchnorm2d on (N, C, H, W), "
        "batchnorm3d on (N, C, D, H, W)"
    )
    fit = _BN_FOR_RANK.get(rank)
    return f"use `{fit}` for an input of rank {rank} ({kinds})" if fit else f"use {kinds}"


class _BatchNorm(Op):
    ranks: tuple[int, ...] = (4,)
    inferred = ("num_features",)
    category = "norm"
    optional_tensors = ("weight", "bias")

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) not in self.ranks:
            raise ShapeFailure(
                "E401",
                f"{self.kind} needs an input of rank {' or '.join(map(str, self.ranks))}, "
                f"got {fmt(x)}",
                _bn_rank_hint(len(x)),
            )
        c = channels(x, self.kind)
        check_declared(self.kind, "num_features", attrs.get("num_features"), c)
        if not attrs["track_running_stats"]:
            # no running statistics: even eval mode normalises with the batch's own
            values = product([x[0], *x[2:]])
            ctx.require_positive(
                values - 1,
                "E405",
                f"{self.kind} without running statistics needs more than one value per "
                f"channel, but the input {fmt(x)} has {values}",
                "use a larger batch or input, or track_running_stats: true",
            )
        elif ctx.follows_training and all(d.is_const and d.value == 1 for d in x[2:]):
            # one value per channel and sample (after a global pool, or on (N, C)): training
            # mode's batch statistics need two samples at least (eval's are the running ones)
            ctx.require_in_training(
                x[0] - 1,
                f"{self.kind} normalises with the batch's own statistics, which need more "
                f"than one value per channel, but the input {fmt(x)} has one per sample",
                "train with a batch of 2 or more",
            )
        return Inferred(dict(attrs, num_features=c), x)

    def params(self, a: Mapping[str, Any]) -> int:
        return 2 * a["num_features"] if a["affine"] else 0

    def buffers(self, a: Mapping[str, Any]) -> int:
        # running_mean, running_var (and a scalar num_batches_tracked)
        return 2 * a["num_features"] + 1 if a["track_running_stats"] else 0

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": 1, "bias": 1} if a.get("affine", True) else {}

    def tensor_shapes(self, a: Mapping[str, Any]) -> Mapping[str, tuple[int, ...]]:
        n = (a["num_features"],)
        return {"weight": n, "bias": n} if a["affine"] else {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        cls = getattr(nn, self.torch_name)
        return cls(
            a["num_features"],
            eps=a["eps"],
            momentum=a["momentum"],
            affine=a["affine"],
            track_running_stats=a["track_running_stats"],
        )

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            f"nn.{self.torch_name}",
            [a["num_features"]],
            {
                "eps": (a["eps"], 1e-5),
                "momentum": (a["momentum"], 0.1),
                "affine": (a["affine"], True),
                "track_running_stats": (a["track_running_stats"], True),
            },
            lit,
        )


for _nd, _ranks in ((1, (2, 3)), (2, (4,)), (3, (5,))):
    register(
        type(
            f"BatchNorm{_nd}d",
            (_BatchNorm,),
            {
                "kind": f"batchnorm{_nd}d",
                "spec": LazySpec(partial(_bn_spec, f"batchnorm{_nd}d")),
                "ranks": _ranks,
                "torch_name": f"BatchNorm{_nd}d",
                "summary": f"batch normalisation over {'features' if _nd == 1 else 'channels'}",
            },
        )
    )


def _lrn_spec() -> type[LayerSpec]:
    class LrnSpec(LayerSpec):
        """local_response_norm: AlexNet's normalisation across nearby channels."""

        type: Literal["local_response_norm"]
        size: Int(ge=1)  # type: ignore[valid-type]
        alpha: Float(ge=0) = 1e-4  # type: ignore[valid-type]
        beta: Float(ge=0) = 0.75  # type: ignore[valid-type]
        k: Float() = 1.0  # type: ignore[valid-type]

    return LrnSpec


@register
class LocalResponseNorm(Op):
    kind = "local_response_norm"
    spec = LazySpec(_lrn_spec)
    torch_name = "LocalResponseNorm"
    category = "norm"
    summary = "local response normalisation (AlexNet)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) < 3:
            raise ShapeFailure("E401", f"local_response_norm needs rank >= 3, got {fmt(x)}", None)
        at_most(
            self.kind,
            "size",
            [attrs["size"]],
            INT32_MAX,
            "PyTorch averages over `size` channels with a C-int pooling kernel",
        )
        return Inferred(attrs, x)

    def scratch_numel(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        # torch pads the squared input with size - 1 channels, then averages it: the padded
        # copy and two more of the input's size live at once
        (x,) = inputs
        rest = product(x[2:]) if len(x) > 2 else Dim.of(1)
        return x[0] * (x[1] + (a["size"] - 1)) * rest + 2 * product(x)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.LocalResponseNorm(a["size"], alpha=a["alpha"], beta=a["beta"], k=a["k"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "nn.LocalResponseNorm",
            [a["size"]],
            {"alpha": (a["alpha"], 1e-4), "beta": (a["beta"], 0.75), "k": (a["k"], 1.0)},
            lit,
        )


class _Elementwise(Op):
    """Shape-preserving module ops with keyword arguments passed straight to torch."""

    #: spec field -> default, in torch's keyword order
    defaults: dict[str, Any] = {}
    positional: tuple[str, ...] = ()

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        dim = attrs.get("dim")
        if isinstance(dim, int) and not -len(x) <= dim < len(x):
            raise ShapeFailure(
                "E401", f"{self.kind} dim={dim} is out of range for {fmt(x)}", None, "dim"
            )
        return Inferred(attrs, x)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return getattr(nn, self.torch_name)(**{k: a[k] for k in self.defaults})

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        args = [a[k] for k in self.positional]
        kw = {k: (a[k], d) for k, d in self.defaults.items() if k not in self.positional}
        return emit_call(f"nn.{self.torch_name}", args, kw, lit)

    @property
    def emits_words(self) -> frozenset[str]:  # type: ignore[override]
        """Every field is a keyword of the torch module's call (gelu's `approximate`)."""
        return frozenset(self.defaults)


def simple_spec(
    kind: str, torch_name: str, summary: str, fields: dict[str, tuple[Any, Any]]
) -> LazySpec:
    """The spec model, made on first use, of a kind whose fields are torch's keyword
    arguments (`_simple` here and in activations.py)."""
    return LazySpec(
        partial(
            create_model,
            f"{torch_name}Spec",
            __base__=LayerSpec,
            __doc__=f"{kind}: {summary}.",
            type=(Literal[kind], ...),
            **fields,
        )
    )


def _simple(
    kind: str,
    torch_name: str,
    summary: str,
    fields: dict[str, tuple[Any, Any]],
    positional: tuple[str, ...] = (),
    *,
    category: Category,
) -> None:
    spec = simple_spec(kind, torch_name, summary, fields)
    defaults = {k: (None if v[1] is ... else v[1]) for k, v in fields.items()}
    register(
        type(
            torch_name,
            (_Elementwise,),
            {
                "kind": kind,
                "spec": spec,
                "torch_name": torch_name,
                "summary": summary,
                "defaults": defaults,
                "positional": positional,
                "category": category,
            },
        )
    )


_simple("relu", "ReLU", "rectified linear unit", {"inplace": (Bool, False)}, category="act")
_simple("relu6", "ReLU6", "ReLU capped at 6", {"inplace": (Bool, False)}, category="act")
_simple(
    "leaky_relu",
    "LeakyReLU",
    "leaky ReLU",
    {"negative_slope": (Float(), 0.01), "inplace": (Bool, False)},
    category="act",
)
_simple("tanh", "Tanh", "hyperbolic tangent", {}, category="act")
_simple("sigmoid", "Sigmoid", "logistic sigmoid", {}, category="act")
_simple(
    "gelu",
    "GELU",
    "Gaussian error linear unit",
    {"approximate": (Word(("none", "tanh")), "none")},
    category="act",
)
_simple(
    "silu",
    "SiLU",
    "sigmoid-weighted linear unit (swish)",
    {"inplace": (Bool, False)},
    category="act",
)
_simple("softmax", "Softmax", "softmax along a dim", {"dim": (Int(), 1)}, ("dim",), category="act")
_simple(
    "log_softmax",
    "LogSoftmax",
    "log-softmax along a dim",
    {"dim": (Int(), 1)},
    ("dim",),
    category="act",
)
_simple(
    "dropout",
    "Dropout",
    "dropout (active in training only)",
    {"p": (Float(ge=0, le=1), 0.5), "inplace": (Bool, False)},
    category="dropout",
)
_simple(
    "dropout2d",
    "Dropout2d",
    "channel dropout",
    {"p": (Float(ge=0, le=1), 0.5), "inplace": (Bool, False)},
    category="dropout",
)
_simple("identity", "Identity", "passes its input through", {}, category="reshape")


def _flatten_spec() -> type[LayerSpec]:
    class FlattenSpec(LayerSpec):
        """flatten: merges dims start_dim..end_dim (default: all but the batch)."""

        type: Literal["flatten"]
        start_dim: Int() = 1  # type: ignore[valid-type]
        end_dim: Int() = -1  # type: ignore[valid-type]

    return FlattenSpec


@register
class Flatten(Op):
    kind = "flatten"
    spec = LazySpec(_flatten_spec)
    torch_name = "Flatten"
    category = "reshape"
    summary = "flattens dims into one (named: `torch.flatten` in forward)"
    functional = True

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        r = len(x)
        s, e = attrs["start_dim"], attrs["end_dim"]
        s2, e2 = s % r if -r <= s < r else None, e % r if -r <= e < r else None
        if s2 is None or e2 is None or s2 > e2:
            raise ShapeFailure(
                "E401", f"flatten dims {s}..{e} do not fit the input {fmt(x)}", None, "start_dim"
            )
        merged = product(x[s2 : e2 + 1])
        return Inferred(attrs, (*x[:s2], merged, *x[e2 + 1 :]))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.Flatten(a["start_dim"], a["end_dim"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "nn.Flatten", [], {"start_dim": (a["start_dim"], 1), "end_dim": (a["end_dim"], -1)}, lit
        )

    def function(self, a: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch

        return torch.flatten, {"start_dim": a["start_dim"], "end_dim": a["end_dim"]}

    def emit_call(self, a: Mapping[str, Any], lit: Any) -> str:
        """`torch.flatten(x, 1)`, as torchvision's forwards write it (start_dim always: the
        function's default is 0, the module's 1)."""
        end = a["end_dim"]
        tail = "" if end == -1 and type(end) is int else f", {lit(end)}"
        return f"torch.flatten({a['_inputs'][0]}, {lit(a['start_dim'])}{tail})"


def _unflatten_spec() -> type[LayerSpec]:
    from .tensor import IntList

    class UnflattenSpec(LayerSpec):
        """unflatten: splits one dim into several, keeping every other dim (`dim: 1`,
        `unflattened_size: [2, -1]` turns (N, 2C, H, W) into (N, 2, C, H, W))."""

        type: Literal["unflatten"]
        dim: Int()  # type: ignore[valid-type]
        unflattened_size: IntList = Field(
            description="the sizes dim becomes; one -1 takes what the others leave"
        )

    return UnflattenSpec


@register
class Unflatten(Op):
    kind = "unflatten"
    spec = LazySpec(_unflatten_spec)
    torch_name = "Unflatten"
    category = "reshape"
    summary = "splits a dim into several (named: `x.unflatten` in forward)"
    functional = True

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        r, dim, sizes = len(x), attrs["dim"], attrs["unflattened_size"]
        if not -r <= dim < r:
            raise ShapeFailure(
                "E401", f"unflatten dim {dim} is out of range for {fmt(x)}", None, "dim"
            )
        d = dim % r
        if not isinstance(sizes, list) or not sizes:
            raise ShapeFailure("E401", "unflatten needs a list of sizes", None, "unflattened_size")
        if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
            raise ShapeFailure(
                "E409",
                f"unflatten sizes {sizes} must be positive, with at most one -1",
                "give every size but one; -1 takes what the others leave",
                "unflattened_size",
            )
        given = math.prod(s for s in sizes if s != -1)
        whole = x[d]
        inferred = whole.floordiv(given) if -1 in sizes else Dim.of(given)
        ctx.require_equal(
            inferred * given if -1 in sizes else whole,
            whole if -1 in sizes else Dim.of(given),
            "E404",
            partial(_unflatten_message, sizes, d, x, given),
            "give sizes whose product is that dim's size, or one -1 for the size left",
            "unflattened_size",
        )
        out = [inferred if s == -1 else Dim.of(s) for s in sizes]
        return Inferred(attrs, (*x[:d], *out, *x[d + 1 :]))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.Unflatten(a["dim"], tuple(a["unflattened_size"]))

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call("nn.Unflatten", [a["dim"], tuple(a["unflattened_size"])], {}, lit)

    def function(self, a: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch

        return torch.unflatten, {"dim": a["dim"], "sizes": tuple(a["unflattened_size"])}

    def emit_call(self, a: Mapping[str, Any], lit: Any) -> str:
        """`x.unflatten(1, (2, -1))`, as a forward writes it."""
        sizes = lit(tuple(a["unflattened_size"]))
        return f"{a['_inputs'][0]}.unflatten({lit(a['dim'])}, {sizes})"


def _unflatten_message(sizes: list[int], d: int, x: Shape, given: int) -> str:
    if -1 in sizes:
        return (
            f"unflatten to {sizes} needs dim {d} of {fmt(x)} ({{b}}) to be a multiple of "
            f"{given}, the other sizes' product"
        )
    return f"unflatten to {sizes} does not fit dim {d} of {fmt(x)}: {{a}} vs {{b}} elements"
