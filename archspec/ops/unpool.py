"""Max pooling that keeps where each maximum came from, and its inverse (SegNet, ENet):
`maxpool2d_with_indices` names two outputs, the pooled map and the int64 indices
(`F.max_pool2d(x, 2, return_indices=True)`), as a `chunk` names its pieces (ops/split.py);
`maxunpool2d` reads `from: [x, indices]` and writes each value back at its index in a
zeroed map (nn.MaxUnpool2d), in 1, 2 and 3 spatial dimensions.

The pool's shape rule is maxpool's (pools.py), for both outputs. The unpool's is torch's
default output size, `(in - 1) * stride - 2 * padding + kernel_size` per spatial dim, with
the indices the shape of the values. Torch also refuses, at run time, an index past the
output's plane: an unpool whose output is smaller than the pool's input (an odd extent
pooled by 2) can meet one, which no rule of shapes alone sees (docs/spec-language.md).
`maxunpool2d_as` reads a third input, the pool's input, and gives its size back (torch's
`output_size`, which it takes strictly within a stride of the default size).
"""

from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from typing import Any, Literal

from pydantic import Field, create_model, field_validator

from ..dims import SPATIAL_NAMES, Shape
from ..errors import VALIDATOR_HINT
from .base import (
    Bool,
    Inferred,
    Ints,
    LayerSpec,
    LazySpec,
    ShapeContext,
    ShapeFailure,
    fmt,
    ntuple,
    register,
)
from .emitting import emit_call
from .pools import _PoolBase, _tup
from .split import _NAMES, Names, values_and_indices
from .tensor import StatelessOp


@cache
def _with_indices_spec(kind: str) -> type[LayerSpec]:
    def no_same(cls: Any, padding: Any) -> Any:
        if padding == "same":
            raise ValueError(
                f"{kind} takes no padding 'same': TensorFlow's SAME pads the input in forward, "
                f"and the indices would point into the padded map{VALIDATOR_HINT}give the "
                "padding as numbers (`padding: 1` with `kernel_size: 3`), as torch's max pools "
                "take it"
            )
        return padding

    return create_model(
        f"{kind.title().replace('_', '')}Spec",
        __base__=LayerSpec,
        __doc__=f"{kind}: max pooling that also returns the index of each maximum, as "
        "`out, indices = F.max_pool2d(x, 2, return_indices=True)`; `names: [out, indices]`.",
        __validators__={
            **values_and_indices(kind, "the pooled values", "out"),
            "no_same": field_validator("padding")(no_same),
        },
        type=(Literal[kind], ...),
        names=(Names, _NAMES),
        kernel_size=(Ints(ge=1), ...),
        stride=(Ints(ge=1) | None, Field(None, description="default: kernel_size")),
        padding=(Ints(ge=0), 0),
        dilation=(Ints(ge=1), 1),
        ceil_mode=(Bool, False),
    )


class _WithIndicesBase(_PoolBase):
    """maxpool's rule for both outputs; computed in forward, its two outputs unpacked."""

    style = "function"
    names_field = "names"
    flow_piece = 0  # the values: the indices are read by name, by an unpool

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        names = attrs["names"]
        if len(names) != 2:  # a computed `names` is counted only where the node is
            raise ShapeFailure(
                "E409",
                f"{self.kind} has two outputs, the values and their indices, and `names` "
                f"gives {len(names)} names ({', '.join(map(str, names[:4]))})",
                "name the two outputs: `names: [out, indices]`",
                "names",
            )
        return super().infer(attrs, inputs, ctx)

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch.nn.functional as F

        fn = getattr(F, f"max_pool{self.nd}d")
        keywords = {k: _tup(a[k]) for k in ("kernel_size", "stride", "padding")}
        keywords.update(dilation=_tup(a["dilation"]), ceil_mode=a["ceil_mode"])
        return fn, {**keywords, "return_indices": True}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        kw: dict[str, tuple[Any, Any]] = {
            "stride": (_tup(a["stride"]), _tup(a["kernel_size"])),
            "padding": (_tup(a["padding"]), 0),
            "dilation": (_tup(a["dilation"]), 1),
            "ceil_mode": (a["ceil_mode"], False),
            "return_indices": (True, None),
        }
        call = emit_call(f"F.max_pool{self.nd}d", [_tup(a["kernel_size"])], kw, lit)
        head = f"F.max_pool{self.nd}d("
        return f"{head}{a['_inputs'][0]}, {call[len(head) :]}"


def _window_fields() -> dict[str, Any]:
    """An unpool's window, as the pool's it undoes (fresh fields for each model)."""
    return {
        "kernel_size": (Ints(ge=1), ...),
        "stride": (Ints(ge=1) | None, Field(None, description="default: kernel_size")),
        "padding": (Ints(ge=0), 0),
    }


@cache
def _unpool_spec(kind: str) -> type[LayerSpec]:
    return create_model(
        f"{kind.title()}Spec",
        __base__=LayerSpec,
        __doc__=f"{kind}: puts each value of `from: [x, indices]` back at its index in a "
        "zeroed map (nn.MaxUnpool); the indices are a max pool's `with_indices` output.",
        type=(Literal[kind], ...),
        **_window_fields(),
    )


def _unpool_message(kind: str, x: Shape, axis: str) -> str:
    return f"{kind} makes an empty {axis} extent {{d}} from {fmt(x)}"


class _UnpoolBase(StatelessOp):
    """nn.MaxUnpool{nd}d called as `self.unpool(x, indices)`: torch's default output size.
    It holds no tensors and no modules, as StatelessOp says, but is a pool."""

    nd: int = 2
    arity = 2
    category = "pool"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        x, idx = inputs
        nd, kind = self.nd, self.kind
        if len(x) not in (nd + 1, nd + 2) or len(idx) != len(x):
            raise ShapeFailure(
                "E401",
                f"{kind} needs values and indices of one rank-{nd + 2} shape, got "
                f"{fmt(x)} and {fmt(idx)}",
                f"read `from: [values, indices]`, both outputs of a maxpool{nd}d_with_indices "
                "(or of the layers after it that keep its shape)",
            )
        for i, (a, b) in enumerate(zip(x, idx)):
            ctx.require_equal(
                a,
                b,
                "E402",
                f"{kind}'s indices {fmt(idx)} differ from its values {fmt(x)} in dim {i}",
                "torch needs the indices of the same shape as the values they place",
            )
        stride = attrs["stride"] if attrs["stride"] is not None else attrs["kernel_size"]
        k = ntuple(attrs["kernel_size"], nd, "kernel_size")
        s = ntuple(stride, nd, "stride")
        p = ntuple(attrs["padding"], nd, "padding")
        lead = len(x) - nd
        out = [(x[lead + i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(nd)]
        for i, axis in enumerate(SPATIAL_NAMES[nd]):
            ctx.require_positive(
                out[i],
                "E405",
                partial(_unpool_message, kind, x, axis),
                "use a larger kernel or stride, or less padding",
            )
        return Inferred(dict(attrs, stride=stride), (*x[:lead], *out))

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        cls = getattr(nn, f"MaxUnpool{self.nd}d")
        return cls(_tup(a["kernel_size"]), stride=_tup(a["stride"]), padding=_tup(a["padding"]))

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """nn.MaxUnpool's fields; its stride, which it holds as the kernel size when none
        was given, left out then."""
        from .reading import read_fields

        fields = read_fields(self, module)
        if fields is not None and fields.get("stride") == fields.get("kernel_size"):
            fields["stride"] = None
        return fields

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        kw = {
            "stride": (_tup(a["stride"]), _tup(a["kernel_size"])),
            "padding": (_tup(a["padding"]), 0),
        }
        return emit_call(f"nn.MaxUnpool{self.nd}d", [_tup(a["kernel_size"])], kw, lit)


def _unpool_as_spec(kind: str) -> type[LayerSpec]:
    return create_model(
        f"{kind.title().replace('_', '')}Spec",
        __base__=LayerSpec,
        __doc__=f"{kind}: unpools `from: [x, indices, like]` to the spatial size of `like` "
        "(the pool's input), as `F.max_unpool2d(x, indices, 2, output_size=like.shape[-2:])`.",
        type=(Literal[kind], ...),
        **_window_fields(),
    )


def _size_message(
    kind: str, axis: str, like: Shape, x: Shape, want: Any, default: Any, s: int
) -> str:
    return (
        f"{kind} unpools {fmt(x)} to the {axis} extent {want} of {fmt(like)}, which torch "
        f"takes only strictly between {default - s} and {default + s} (its default size "
        f"{default}, give or take the stride)"
    )


class _UnpoolAsBase(_UnpoolBase):
    """`F.max_unpool2d(x, indices, k, output_size=like.shape[-2:])` (SegNet's ports, ENet):
    computed in forward, its output the last spatial sizes of the third input."""

    arity = 3
    style = "function"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        x, idx, like = inputs
        nd = self.nd
        res = super().infer(attrs, (x, idx), ctx)
        if len(like) < nd:
            raise ShapeFailure(
                "E401",
                f"{self.kind} takes its {nd} output sizes from {fmt(like)}, which has "
                f"{len(like)} dims",
                "read the pool's input third: `from: [values, indices, pooled_input]`",
            )
        lead = len(x) - nd
        stride = ntuple(res.attrs["stride"], nd, "stride")
        for i, axis in enumerate(SPATIAL_NAMES[nd]):
            default, want = res.shape[lead + i], like[len(like) - nd + i]
            message = partial(_size_message, self.kind, axis, like, x, want, default, stride[i])
            hint = "read the pool's input third: the unpool gives back its size"
            ctx.require_positive(want - (default - stride[i]), "E404", message, hint)
            ctx.require_positive(default + stride[i] - want, "E404", message, hint)
        return Inferred(res.attrs, (*x[:lead], *like[len(like) - nd :]))

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        keywords = {k: _tup(a[k]) for k in ("kernel_size", "stride", "padding")}
        return max_unpool_as, {"nd": self.nd, **keywords}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        x, idx, like = a["_inputs"]
        kw = {
            "stride": (_tup(a["stride"]), _tup(a["kernel_size"])),
            "padding": (_tup(a["padding"]), 0),
        }
        call = emit_call("f", [_tup(a["kernel_size"])], kw, lit)[2:-1]
        nd = self.nd
        return f"F.max_unpool{nd}d({x}, {idx}, {call}, output_size={like}.shape[-{nd}:])"


def max_unpool_as(
    x: Any, indices: Any, like: Any, nd: int, kernel_size: Any, stride: Any, padding: Any
) -> Any:
    """`F.max_unpool2d(x, indices, ..., output_size=like.shape[-2:])`, as emitted files write."""
    import torch.nn.functional as F

    unpool = getattr(F, f"max_unpool{nd}d")
    return unpool(x, indices, kernel_size, stride, padding, output_size=like.shape[-nd:])


def _register() -> None:
    for nd in (1, 2, 3):
        kind = f"maxpool{nd}d_with_indices"
        attrs = {
            "kind": kind,
            "spec": LazySpec(partial(_with_indices_spec, kind)),
            "nd": nd,
            "window_dims": nd,
            "summary": f"{nd}-d max pooling that also returns the indices (SegNet)",
        }
        register(type(f"MaxPool{nd}dWithIndices", (_WithIndicesBase,), attrs))
    for nd in (1, 2, 3):
        kind = f"maxunpool{nd}d"
        attrs = {
            "kind": kind,
            "spec": LazySpec(partial(_unpool_spec, kind)),
            "nd": nd,
            "torch_name": f"MaxUnpool{nd}d",
            "summary": f"{nd}-d max unpooling: values back at a max pool's indices",
        }
        register(type(f"MaxUnpool{nd}d", (_UnpoolBase,), attrs))
    for nd in (1, 2, 3):
        kind = f"maxunpool{nd}d_as"
        attrs = {
            "kind": kind,
            "spec": LazySpec(partial(_unpool_as_spec, kind)),
            "nd": nd,
            "summary": f"{nd}-d max unpooling to the size of a third input (output_size)",
        }
        register(type(f"MaxUnpool{nd}dAs", (_UnpoolAsBase,), attrs))


_register()
