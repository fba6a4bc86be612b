"""Merge ops that join several inputs: elementwise add (residuals), subtract (PoolFormer's
token mixer), multiply (gates, layer scale) and concatenation.

MACs: the joins count 0, as torchvision's published `_ops` figures count only the
multiply-accumulates of convolutions and linear layers; a `mul` gate is one multiply per
output element, which those figures leave out too, so totals stay comparable with them.
"""

import operator
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal, get_args

from ..dims import Shape, total
from .base import (
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .broadcasting import _Join, broadcast_all
from .words import Word


class _FunctionOp(Op):
    """An op computed in forward: it makes no module, so nothing inside one to initialise."""

    style = "function"

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()


_ADD = _Join(
    "add",
    "+",
    "add a projection shortcut (1x1 conv, and stride if the size differs) so both sides match",
)


_SUB = _Join(
    "sub",
    "-",
    "make both sides the same shape, or one of them 1 where it should broadcast",
)

_MUL = _Join(
    "mul",
    "*",
    "each dim of the two sides must be equal or 1 (a gate is (N, C, 1, 1) against "
    "(N, C, H, W)): check the gate's channel count and its pooling; in a block, "
    "`in_channels` is each layer's own input, so give the gate's last conv the block's "
    "width through a let (`let: {channels: in_channels}`)",
)


#: Past this many inputs a join is written as a fold over a list: Python's parser takes one
#: nesting level per operator of `a + b + ...`, and ~3,000 pass its depth (the emitted
#: module did not parse: E601, 'a bug in archspec's source emitter').
FOLD_AT = 100


class _Elementwise(_FunctionOp):
    """A join of inputs broadcast against each other (`from: [a, b]`), computed in forward
    by one Python operator: its shape rule is `broadcast_all`, its code `a + b`."""

    arity = "many"
    category = "merge"
    join: ClassVar[_Join]
    #: the operator forward applies (operator.add, ...)
    apply: ClassVar[Callable[[Any, Any], Any]]

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        return Inferred(attrs, broadcast_all(self.join, inputs, ctx))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return type(self).apply, {}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        inputs = a["_inputs"]
        if len(inputs) > FOLD_AT:  # the same left-to-right order as the operators'
            return f"functools.reduce(operator.{self.apply.__name__}, [{', '.join(inputs)}])"
        return f" {self.join_sign} ".join(inputs)


def _add_spec() -> type[LayerSpec]:
    class AddSpec(LayerSpec):
        """add: elementwise sum of two or more inputs (`from: [a, b]`), with broadcasting."""

        type: Literal["add"]

    return AddSpec


@register
class Add(_Elementwise):
    kind = "add"
    spec = LazySpec(_add_spec)
    summary = "elementwise sum (residual join)"
    join_sign = "+"
    join = _ADD
    apply = operator.add

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        if len(inputs) < 2:
            raise ShapeFailure("E401", "add needs at least two inputs (`from: [a, b]`)", None)
        return super().infer(attrs, inputs, ctx)


def _mul_spec() -> type[LayerSpec]:
    class MulSpec(LayerSpec):
        """mul: elementwise product of two or more inputs (`from: [a, b]`), with broadcasting:
        a squeeze-excitation gate `x * scale` with scale (N, C, 1, 1), a layer scale."""

        type: Literal["mul"]

    return MulSpec


@register
class Mul(_Elementwise):
    kind = "mul"
    spec = LazySpec(_mul_spec)
    summary = "elementwise product with broadcasting (gate, layer scale)"
    join_sign = "*"
    join = _MUL
    apply = operator.mul


def _sub_spec() -> type[LayerSpec]:
    class SubSpec(LayerSpec):
        """sub: the elementwise difference of two inputs, `from: [a, b]` giving `a - b`, with
        broadcasting: PoolFormer's token mixer `pool(x) - x`."""

        type: Literal["sub"]

    return SubSpec


@register
class Sub(_Elementwise):
    kind = "sub"
    spec = LazySpec(_sub_spec)
    arity = 2
    summary = "elementwise difference `a - b` with broadcasting (PoolFormer's pool(x) - x)"
    join_sign = "-"
    join = _SUB
    apply = operator.sub


_DIV = _Join(
    "div",
    "/",
    "make both sides the same shape, or one of them 1 where it should broadcast (a norm "
    "with keepdim: true keeps its dims as 1)",
)


def _div_spec() -> type[LayerSpec]:
    class DivSpec(LayerSpec):
        """div: the elementwise quotient of two inputs, `from: [a, b]` giving `a / b`, with
        broadcasting: ConvNeXt V2's GRN divides each channel's norm by their mean."""

        type: Literal["div"]

    return DivSpec


@register
class Div(_Elementwise):
    kind = "div"
    spec = LazySpec(_div_spec)
    arity = 2
    summary = "elementwise quotient `a / b` with broadcasting (GRN's x_g / mean)"
    join_sign = "/"
    join = _DIV
    apply = operator.truediv


def _extremum_spec(kind: str) -> type[LayerSpec]:
    words = "larger" if kind == "maximum" else "smaller"

    class ExtremumSpec(LayerSpec):
        __doc__ = (
            f"{kind}: the {words} of two inputs elementwise, `from: [a, b]` giving "
            f"`torch.{kind}(a, b)`, with broadcasting (a NaN on either side gives NaN)."
        )

        type: Literal[kind]  # type: ignore[valid-type]

    ExtremumSpec.__name__ = f"{kind.capitalize()}Spec"
    return ExtremumSpec


class _Extremum(_Elementwise):
    """`torch.maximum(a, b)` and `torch.minimum(a, b)`: a join of two broadcast inputs."""

    arity = 2

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return getattr(torch, self.kind), {}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        first, second = a["_inputs"]
        return f"torch.{self.kind}({first}, {second})"


def _register_extrema() -> None:
    hint = "make both sides the same shape, or one of them 1 where it should broadcast"
    for kind, words in (("maximum", "larger"), ("minimum", "smaller")):
        attrs = {
            "kind": kind,
            "spec": LazySpec(partial(_extremum_spec, kind)),
            "summary": f"the {words} of two inputs elementwise, with broadcasting (torch.{kind})",
            "join": _Join(kind, ",", hint),
        }
        register(type(kind.capitalize(), (_Extremum,), attrs))


_register_extrema()


def _concat_message(i: int, inputs: tuple[Shape, ...]) -> str:
    # require_equal's `a` is the later input's size, `b` the first's: in the inputs' order
    return (
        f"concat joins inputs whose dim {i} differ: {{b}} vs {{a}} ({', '.join(map(fmt, inputs))})"
    )


def _concat_hint(i: int, d: int, rank: int) -> str:
    """What to check when dim `i` of a concat along `d` differs: the spatial sizes of maps
    joined on their channels, else each input's layout and sizes."""
    if rank >= 4 and i >= 2:
        return (
            "every branch must keep the same spatial size: check strides, padding and "
            "ceil_mode in each branch"
        )
    return (
        f"a concat along dim {d} needs its inputs equal in every other dim: check that each "
        "input has the same layout (a `permute` puts the dims in the same places) and the "
        "same sizes there"
    )


def _concat_spec() -> type[LayerSpec]:
    class ConcatSpec(LayerSpec):
        """concat: joins inputs along `dim` (default 1, channels); `from: [a, b, ...]`."""

        type: Literal["concat"]
        dim: Int() = 1  # type: ignore[valid-type]

    return ConcatSpec


@register
class Concat(_FunctionOp):
    kind = "concat"
    spec = LazySpec(_concat_spec)
    style = "function"
    arity = "many"
    summary = "concatenation along a dim (Inception join)"
    category = "merge"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        if len(inputs) < 1:
            raise ShapeFailure("E401", "concat needs inputs", None)
        rank = len(inputs[0])
        dim = attrs["dim"]
        if not -rank <= dim < rank:
            raise ShapeFailure("E401", f"concat dim={dim} is out of range for rank {rank}", None)
        d = dim % rank
        first = inputs[0]
        for s in inputs:
            if len(s) != rank:
                raise ShapeFailure(
                    "E403",
                    f"concat joins inputs of different rank: {', '.join(fmt(x) for x in inputs)}",
                    None,
                )
            for i in range(rank):
                # The message names every input: only a pair that may differ gets one, and
                # it is built only if read, or a wide concat costs branches^2 shape texts.
                if i != d and s[i] != first[i]:
                    ctx.require_equal(
                        s[i],
                        first[i],
                        "E403",
                        partial(_concat_message, i, tuple(inputs)),
                        _concat_hint(i, d, rank),
                    )
        out = list(first)
        out[d] = total(s[d] for s in inputs)
        return Inferred(dict(attrs, dim=dim), tuple(out))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.cat, {"dim": attrs["dim"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"torch.cat([{', '.join(a['_inputs'])}], {lit(a['dim'])})"


#: The functions an `activation` layer (and a residual's `activation:`) may apply, each at
#: torch's defaults (leaky_relu's slope 0.01, elu's alpha 1, softplus's beta 1 and threshold
#: 20, hardtanh's [-1, 1]); prelu, which holds a weight, glu, which halves a dim, and
#: threshold, which has no defaults, are layer kinds only.
ActivationFn = Literal[
    "relu",
    "gelu",
    "silu",
    "tanh",
    "sigmoid",
    "relu6",
    "leaky_relu",
    "elu",
    "hardswish",
    "hardsigmoid",
    "mish",
    "softplus",
    "selu",
    "celu",
    "hardtanh",
    "logsigmoid",
    "softsign",
    "tanhshrink",
]
ACTIVATION_FNS: tuple[str, ...] = get_args(ActivationFn)

#: fn -> (module, name) of the torch function `compile` calls.
_ACTIVATIONS = {
    "relu": ("torch", "relu"),
    "gelu": ("torch.nn.functional", "gelu"),
    "silu": ("torch.nn.functional", "silu"),
    "tanh": ("torch", "tanh"),
    "sigmoid": ("torch", "sigmoid"),
    "relu6": ("torch.nn.functional", "relu6"),
    "leaky_relu": ("torch.nn.functional", "leaky_relu"),
    "elu": ("torch.nn.functional", "elu"),
    "hardswish": ("torch.nn.functional", "hardswish"),
    "hardsigmoid": ("torch.nn.functional", "hardsigmoid"),
    "mish": ("torch.nn.functional", "mish"),
    "softplus": ("torch.nn.functional", "softplus"),
    "selu": ("torch.nn.functional", "selu"),
    "celu": ("torch.nn.functional", "celu"),
    "hardtanh": ("torch.nn.functional", "hardtanh"),
    "logsigmoid": ("torch.nn.functional", "logsigmoid"),
    "softsign": ("torch.nn.functional", "softsign"),
    "tanhshrink": ("torch.nn.functional", "tanhshrink"),
}
#: fn -> the call emitted source writes.
_EMITTED_ACT = {
    "relu": "torch.relu",
    "gelu": "F.gelu",
    "silu": "F.silu",
    "tanh": "torch.tanh",
    "sigmoid": "torch.sigmoid",
    "relu6": "F.relu6",
    "leaky_relu": "F.leaky_relu",
    "elu": "F.elu",
    "hardswish": "F.hardswish",
    "hardsigmoid": "F.hardsigmoid",
    "mish": "F.mish",
    "softplus": "F.softplus",
    "selu": "F.selu",
    "celu": "F.celu",
    "hardtanh": "F.hardtanh",
    "logsigmoid": "F.logsigmoid",
    "softsign": "F.softsign",
    "tanhshrink": "F.tanhshrink",
}
#: fn -> the layer kind whose module, at its defaults, computes the same: emitted code
#: calls a block's `self.relu` for `relu` rather than mix it with `torch.relu`.
_MODULE_KINDS = {
    "relu": "relu",
    "gelu": "gelu",
    "silu": "silu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "relu6": "relu6",
    "leaky_relu": "leaky_relu",
    "elu": "elu",
    "hardswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
    "mish": "mish",
    "softplus": "softplus",
    "selu": "selu",
    "celu": "celu",
    "hardtanh": "hardtanh",
    "logsigmoid": "logsigmoid",
    "softsign": "softsign",
    "tanhshrink": "tanhshrink",
}
if not set(ACTIVATION_FNS) == set(_ACTIVATIONS) == set(_EMITTED_ACT) == set(_MODULE_KINDS):
    raise TypeError("activation: every fn needs a torch function, an emitted call, a module kind")


def _activation_spec() -> type[LayerSpec]:
    class ActivationSpec(LayerSpec):
        """activation: a parameter-free function applied in forward (no submodule is created)."""

        type: Literal["activation"]
        fn: Word(ACTIVATION_FNS)  # type: ignore[valid-type]

    return ActivationSpec


@register
class Activation(_FunctionOp):
    kind = "activation"
    spec = LazySpec(_activation_spec)
    style = "function"
    summary = "activation function computed in forward (e.g. after a residual add)"
    category = "act"
    label_field = "fn"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        return Inferred(attrs, inputs[0])

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import importlib

        mod, name = _ACTIVATIONS[attrs["fn"]]
        return getattr(importlib.import_module(mod), name), {}

    def module_kind(self, attrs: Mapping[str, Any]) -> str | None:
        return _MODULE_KINDS[attrs["fn"]]

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{_EMITTED_ACT[a['fn']]}({a['_inputs'][0]})"
