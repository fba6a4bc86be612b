"""Calls in a forward (`torch.cat`, `F.relu`, `x.flatten(1)`, `out += identity`) as layer kinds.

Each reader takes the fx node's positional and keyword arguments (inputs already replaced by
`Ref`s) and returns the kind, its fields and the inputs it reads, or None when the call has
no exact equivalent (the importer then reports it, E903).
"""

from __future__ import annotations

import math
import operator
from typing import Any

from . import elementwise, sampling, unpools
from .calls import Call, Reader, Ref, attribute_read, listed
from .casts import made_tensor, tensor_meta, to_alike, type_as
from .inplace import in_place_name
from .layer_calls import METHOD_CALLS, RANK_CALLS, glu, joining, pad, unflatten
from .reductions import spread

#: What a call no reader takes can be written as instead.
UNKNOWN_CALL_HINT = (
    "archspec imports joins (add, sub, mul, div, torch.cat), a tensor times, over or plus a "
    "number (`x * 0.5 + 3`, `x / 6`), flatten, unflatten, F.pad with pads written as numbers "
    "(2, 4 or 6 of them, none negative, not circular), mean, sum, amax, std, var, p-norms "
    "over dims, squeeze and unsqueeze of a dim given, flip, x.repeat, addcmul, matmul (`@`), "
    "clamp to two bounds or at 0, x ** 2, -x, "
    "F.scaled_dot_product_attention, "
    "pooling, dropout and activations; write other steps as modules a kind reads"
)


def _refs(values: Any) -> tuple[Any, ...] | None:
    if isinstance(values, list | tuple) and values and all(isinstance(v, Ref) for v in values):
        return tuple(v.node for v in values)
    return None


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


#: The number a join leaves its other input unchanged by: `x + 0` (timm's MobileOne starts
#: a sum at 0 when a branch is absent), `x - 0`, `x * 1`; which sides it may stand on.
_NEUTRAL = {"add": (0, (0, 1)), "sub": (0, (1,)), "mul": (1, (0, 1)), "div": (1, (1,))}


def _join(kind: str) -> Reader:
    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        if kwargs or len(args) != 2:
            return None
        refs = _refs(args)
        if refs:
            return Call(kind, {}, refs)
        value, sides = _NEUTRAL[kind]
        for side in sides:
            other = args[1 - side]
            if type(args[side]) in (int, float) and args[side] == value and isinstance(other, Ref):
                return Call("identity_alias", {}, (other.node,))
        return _by_number(kind, args)

    return read


def _by_number(kind: str, args: tuple[Any, ...]) -> Call | None:
    """`x * 0.5`, `x + 3`, `1 - x`, `x / 4` (a hard-swish written out): a `scale`, the input
    times a constant plus a constant, where that computes the same floats; a division by a
    power of two, whose reciprocal is exact, as a factor, by another positive number
    (`scores / math.sqrt(d)`: `x / 6` is not `x * (1 / 6)`) as the scale's `divisor`."""
    a, b = args
    left = isinstance(b, Ref)  # the number stands on the left: `1 - x`
    x, c = (b, a) if left else (a, b)
    if not isinstance(x, Ref) or type(c) not in (int, float) or not math.isfinite(c):
        return None
    if kind == "add":
        fields: dict[str, Any] = {"offset": c}
    elif kind == "mul":
        fields = {"factor": c}
    elif kind == "sub":
        fields = {"factor": -1, "offset": c} if left else {"offset": -c}
    elif kind == "div" and not left and c != 0 and math.frexp(c)[0] in (0.5, -0.5):
        if not 2.0**-126 <= abs(c) <= 2.0**126:  # 1 / c a normal float32
            return None
        fields = {"factor": 1 / c}
    elif kind == "div" and not left and c > 0:
        fields = {"divisor": float(c)}
    else:
        return None
    return Call("scale", fields, (x.node,))


def _flatten(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    x = _arg(args, kwargs, 0, "input", None)
    start = _arg(args, kwargs, 1, "start_dim", 0)
    end = _arg(args, kwargs, 2, "end_dim", -1)
    if not isinstance(x, Ref) or not isinstance(start, int) or not isinstance(end, int):
        return None
    return Call("flatten", {"start_dim": start, "end_dim": end}, (x.node,))


def _activation(fn: str, **fixed: Any) -> Reader:
    """`F.relu(x)`, `torch.sigmoid(x)`, `x.relu()`; keyword arguments only at torch's defaults."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        if not args or not isinstance(args[0], Ref):
            return None
        rest = dict(zip(fixed, args[1:], strict=False)) | kwargs
        rest.pop("inplace", None)
        if set(rest) - set(fixed) or any(isinstance(v, Ref) for v in rest.values()):
            return None
        if any(rest.get(k, v) != v for k, v in fixed.items()):
            # `F.gelu(x, approximate="tanh")`, `F.leaky_relu(x, 0.2)`: the module kind of
            # that name states the value (it holds no tensors)
            return Call(fn, {k: rest.get(k, v) for k, v in fixed.items()}, (args[0].node,))
        return Call("activation", {"fn": fn}, (args[0].node,))

    return read


def _reduce(kind: str) -> Reader:
    """`x.mean(dims)`, `torch.sum(x, 1)`: a reduction over given dims (a dtype or a
    reduction over every dim is left to the refusal)."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        x = args[0] if args else None
        dim = _arg(args, kwargs, 1, "dim", None)
        keepdim = _arg(args, kwargs, 2, "keepdim", False)
        if not isinstance(x, Ref) or dim is None or not isinstance(keepdim, bool):
            return None
        if len(args) > 3 or set(kwargs) - {"input", "dim", "keepdim"}:
            return None
        dims = list(dim) if isinstance(dim, list | tuple) else [dim]
        if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            return None
        return Call(kind, {"dim": dims, "keepdim": keepdim}, (x.node,))

    return read


def _norm(first: str) -> Reader:
    """`x.norm(p=2, dim=(1, 2), keepdim=True)` (GRN), `torch.norm(...)` and
    `torch.linalg.vector_norm(x, ord, dim, keepdim)`: a `vector_norm` over the dims given
    (`first`: the name of the second positional argument, `p` or `ord`); a norm over every
    dim, a matrix norm or a dtype has no kind."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        kwargs = {k: v for k, v in kwargs.items() if not (k in ("out", "dtype") and v is None)}
        x = args[0] if args else None
        p = _arg(args, kwargs, 1, first, 2)
        p = 2 if p is None else p  # p=None means 2 (Frobenius of a vector)
        dim = _arg(args, kwargs, 2, "dim", None)
        keepdim = _arg(args, kwargs, 3, "keepdim", False)
        if not isinstance(x, Ref) or kwargs.keys() - {first, "dim", "keepdim"} or len(args) > 4:
            return None
        if type(p) not in (int, float) or not p > 0 or math.isinf(p) or dim is None:
            return None
        dims = list(dim) if isinstance(dim, list | tuple) else [dim]
        if not dims or not all(type(d) is int for d in dims) or not isinstance(keepdim, bool):
            return None
        return Call("vector_norm", {"dim": dims, "keepdim": keepdim, "ord": float(p)}, (x.node,))

    return read


def _addcmul(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`torch.addcmul(a, b, c, value=v)`: a + v * b * c, fused as torch computes it."""
    value = kwargs.get("value", 1)
    refs = _refs(args)
    if (
        refs is None
        or len(refs) != 3
        or kwargs.keys() - {"value"}
        or type(value) not in (int, float)
    ):
        return None
    return Call("addcmul", {"value": float(value)}, refs)


def _adaptive_pool(kind: str) -> Reader:
    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        x = args[0] if args else None
        size = _arg(args, kwargs, 1, "output_size", None)
        if not isinstance(x, Ref) or size is None:
            return None
        value = list(size) if isinstance(size, tuple | list) else size
        return Call(kind, {"output_size": value}, (x.node,))

    return read


def _pool(kind: str, names: tuple[str, ...]) -> Reader:
    """`F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)` and `F.max_pool2d(...)`."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        x = args[0] if args else None
        given = dict(zip(names, args[1:], strict=False)) | kwargs
        if given.pop("return_indices", False) is not False:
            return None
        if given.get("divisor_override") is None:
            given.pop("divisor_override", None)
        if not isinstance(x, Ref) or "kernel_size" not in given or set(given) - set(names):
            return None
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in given.items()}
        if fields.get("stride") in (None, []):
            fields.pop("stride", None)
        if any(isinstance(v, Ref) for v in fields.values()):
            return None
        return Call(kind, fields, (x.node,))

    return read


_AVG = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
_MAX = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")


def _dropout(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    x = args[0] if args else None
    p = _arg(args, kwargs, 1, "p", 0.5)
    training = _arg(args, kwargs, 2, "training", True)
    if not isinstance(x, Ref) or not isinstance(p, int | float) or not isinstance(training, bool):
        return None
    if not training:  # F.dropout(x, p, training=False) is the identity in both modes
        return Call("identity_alias", {}, (x.node,))
    return Call("dropout", {"p": float(p)}, (x.node,))


_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")


def _interpolate(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`F.interpolate(x, scale_factor=2, mode="nearest")` (a U-Net's decoder): the kind
    `interpolate` computes the same call; a per-dim scale, a recomputed scale or antialias
    it does not state."""
    names = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")
    x = args[0] if args else None
    given = dict(zip(names, args[1:], strict=False)) | kwargs
    if given.pop("recompute_scale_factor", None) or given.pop("antialias", False):
        return None
    if not isinstance(x, Ref) or set(given) - set(names):
        return None
    if given.get("mode", "nearest") not in _MODES:
        return None
    size, scale = given.get("size"), given.get("scale_factor")
    if isinstance(scale, tuple | list):  # one factor for every dim, as the kind states it
        scale = scale[0] if scale and all(s == scale[0] for s in scale) else None
        if scale is None:
            return None
    if (size is None) == (scale is None) or any(isinstance(v, Ref) for v in given.values()):
        return None
    sizes = size if isinstance(size, tuple | list) else [size]
    if size is not None and not all(type(s) is int for s in sizes):
        return None  # `size=(x.shape[-2], x.shape[-1])`: sizes read from a tensor, no data
    fields: dict[str, Any] = {"mode": given.get("mode", "nearest")}
    if size is not None:
        fields["size"] = list(size) if isinstance(size, tuple | list) else size
    else:
        fields["scale_factor"] = float(scale)
    if given.get("align_corners") is not None:
        fields["align_corners"] = bool(given["align_corners"])
    return Call("interpolate", fields, (x.node,))


def _alias(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.contiguous()`: the same values; the node is its input."""
    if len(args) == 1 and isinstance(args[0], Ref) and not kwargs:
        return Call("identity_alias", {}, (args[0].node,))
    return None


def _clone(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.clone()`, `torch.clone(x)` (VAN's `shortcut = x.clone()`): a copy of the same
    values, so the node is its input; a memory format changes only the layout."""
    if len(args) == 1 and isinstance(args[0], Ref) and set(kwargs) <= {"memory_format"}:
        return Call("identity_alias", {}, (args[0].node,))
    return None


def _chunk(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.chunk(2, dim=1)`: the pieces get names when the graph reader unpacks them."""
    x = args[0] if args else None
    chunks = _arg(args, kwargs, 1, "chunks", None)
    dim = _arg(args, kwargs, 2, "dim", 0)
    if not isinstance(x, Ref) or not isinstance(chunks, int) or not isinstance(dim, int):
        return None
    return Call("chunk", {"dim": dim, "chunks": chunks}, (x.node,))


def _split(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`torch.split(x, 4, dim=1)`, `x.split([4, 8], 1)`: the pieces get names when the graph
    reader unpacks them (how many a single size makes, from the indices read)."""
    x = args[0] if args else None
    size = (
        args[1] if len(args) > 1 else kwargs.get("split_size", kwargs.get("split_size_or_sections"))
    )
    dim = _arg(args, kwargs, 2, "dim", 0)
    if not isinstance(x, Ref) or not isinstance(dim, int) or isinstance(dim, bool):
        return None
    sizes = list(size) if isinstance(size, list | tuple) else [size]
    if not sizes or not all(type(s) is int and s > 0 for s in sizes):
        return None
    value = sizes if isinstance(size, list | tuple) else sizes[0]
    return Call("split", {"dim": dim, "split_size": value}, (x.node,))


def _channel_shuffle(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    x = args[0] if args else None
    groups = _arg(args, kwargs, 1, "groups", None)
    if not isinstance(x, Ref) or not isinstance(groups, int) or isinstance(groups, bool):
        return None
    return Call("channel_shuffle", {"groups": groups}, (x.node,))


def _pixel_shuffling(kind: str, field: str) -> Reader:
    """`F.pixel_shuffle(x, 2)`, `F.pixel_unshuffle(x, downscale_factor=2)`: the kinds of
    nn.PixelShuffle and nn.PixelUnshuffle (no tensors), with the factor given as a number."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        x = _arg(args, kwargs, 0, "input", None)
        r = _arg(args, kwargs, 1, field, None)
        if len(args) + len(kwargs) != 2 or not isinstance(x, Ref) or type(r) is not int:
            return None
        return Call(kind, {field: r}, (x.node,)) if r >= 1 else None

    return read


#: Functions of model libraries that a kind computes exactly, traced as one call (their
#: bodies read sizes as numbers): qualified name -> reader. Only modules already imported
#: (by the model's own code) are looked at; archspec imports nothing for them.
LIBRARY_FUNCTIONS: dict[str, Reader] = {
    "torchvision.models.shufflenetv2.channel_shuffle": _channel_shuffle,
    # an output only training returns, marked by evalsteps.py: a step passing it on
    "archspec.importer.evalsteps.returned_in_training": lambda a, _: Call(
        "scale", {}, (a[0].node,)
    ),
}


def library_functions() -> tuple[Any, ...]:
    """The functions of LIBRARY_FUNCTIONS whose modules are loaded, to trace as leaves."""
    return tuple(fn for _, fn in _loaded_library_functions())


def library_modules() -> tuple[Any, ...]:
    """The loaded modules that define them: torch.fx wraps a function where a forward's own
    module names it, so a forward elsewhere that reaches it through its module
    (`shufflenetv2.channel_shuffle(out, 2)`, torchvision's quantizable ShuffleNet) needs its
    defining module searched too."""
    return tuple(dict.fromkeys(module for module, _ in _loaded_library_functions()))


def _loaded_library_functions() -> list[tuple[Any, Any]]:
    import sys

    found = []
    for qualified in LIBRARY_FUNCTIONS:
        module_name, _, name = qualified.rpartition(".")
        module = sys.modules.get(module_name)
        fn = getattr(module, name, None) if module is not None else None
        if callable(fn):
            found.append((module, fn))
    return found


def _permute(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.permute(0, 2, 1)`, `x.permute([0, 2, 1])`, `torch.permute(x, (0, 2, 1))`."""
    x = args[0] if args else None
    dims = listed(args)
    dims = kwargs.get("dims", dims)
    if not isinstance(x, Ref) or not dims or not all(type(d) is int for d in dims):
        return None
    return Call("permute", {"dims": list(dims)}, (x.node,))


def _rank(node: Any) -> int | None:
    """The rank of a traced value where the step that made it states it: a flatten to the
    end (`x.flatten(2)` of any input has rank 3), or a view or reshape listing its sizes,
    literal or read from a shape (`x.reshape(b, c, -1)` has rank 3)."""
    import torch

    target, args = getattr(node, "target", None), getattr(node, "args", ())
    if target in ("flatten", torch.flatten):
        start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
        end = args[2] if len(args) > 2 else node.kwargs.get("end_dim", -1)
        return start + 1 if type(start) is int and start >= 0 and end == -1 else None
    if target in ("view", "reshape", torch.reshape) and len(args) >= 2:
        sizes = listed(args)
        # one traced value alone may be a whole shape (`x.view(y.shape)`): its length unknown
        whole = len(sizes) == 1 and type(sizes[0]) is not int
        return None if whole else len(sizes)
    return None


def _transpose(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.flatten(2).transpose(1, 2)` (a patch embedding's tokens): a `permute` swapping the
    two dims, when the step before states the rank."""
    x = args[0] if args else None
    a, b = _arg(args, kwargs, 1, "dim0", None), _arg(args, kwargs, 2, "dim1", None)
    rank = _rank(x.node) if isinstance(x, Ref) else None
    if rank is None or type(a) is not int or type(b) is not int or len(args) + len(kwargs) != 3:
        return None
    if not (-rank <= a < rank and -rank <= b < rank):
        return None
    dims = list(range(rank))
    dims[a % rank], dims[b % rank] = dims[b % rank], dims[a % rank]
    return Call("permute", {"dims": dims}, (x.node,))


def _softmax(kind: str) -> Reader:
    """`F.softmax(x, dim=1)`, `x.log_softmax(-1)`: the kinds of nn.Softmax and nn.LogSoftmax
    (no tensors), with the dim given; an implicit dim or a dtype has no equivalent."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        x = args[0] if args else None
        dim = _arg(args, kwargs, 1, "dim", None)
        rest = set(kwargs) - {"dim"}
        if kwargs.get("_stacklevel", 3) == 3 and kwargs.get("dtype") is None:
            rest -= {"_stacklevel", "dtype"}
        if len(args) > 2 or rest or not isinstance(x, Ref) or type(dim) is not int:
            return None
        return Call(kind, {"dim": dim}, (x.node,))

    return read


def _join_functions() -> dict[Any, Reader]:
    """`+`, `*`, `-` and `/`: the operators, their in-place forms and torch's functions."""
    import torch

    return {
        operator.add: _join("add"),
        operator.iadd: _join("add"),
        torch.add: _join("add"),
        operator.mul: _join("mul"),
        operator.imul: _join("mul"),
        torch.mul: _join("mul"),
        operator.sub: _join("sub"),
        operator.isub: _join("sub"),
        torch.sub: _join("sub"),
        operator.truediv: _join("div"),
        operator.itruediv: _join("div"),
        torch.div: _join("div"),
        torch.true_divide: _join("div"),
    }


def _torch_functions() -> dict[Any, Reader]:
    import torch
    import torch.nn.functional as F

    table: dict[Any, Reader] = {
        **_join_functions(),
        torch.cat: joining("concat"),
        torch.concat: joining("concat"),
        torch.stack: joining("stack"),
        torch.flatten: _flatten,
        torch.clone: _clone,
        torch.unflatten: unflatten,
        torch.mean: _reduce("mean"),
        torch.sum: _reduce("sum"),
        torch.amax: _reduce("amax"),
        torch.std: spread("std"),
        torch.var: spread("var"),
        torch.norm: _norm("p"),
        torch.linalg.vector_norm: _norm("ord"),
        torch.addcmul: _addcmul,
        torch.chunk: _chunk,
        torch.split: _split,
        F.softmax: _softmax("softmax"),
        F.log_softmax: _softmax("log_softmax"),
        torch.softmax: _softmax("softmax"),
        torch.log_softmax: _softmax("log_softmax"),
        torch.permute: _permute,
        torch.transpose: _transpose,
        **{getattr(torch, name): read for name, read in RANK_CALLS.items()},
        **elementwise.functions(),  # clamp, square, neg
        **sampling.functions(),  # F.grid_sample
        **unpools.functions(),  # F.max_pool2d(x, 2, return_indices=True), F.max_unpool2d
        torch.channel_shuffle: _channel_shuffle,  # F.channel_shuffle, as ShuffleNet's kind
        F.pixel_shuffle: _pixel_shuffling("pixel_shuffle", "upscale_factor"),
        F.pixel_unshuffle: _pixel_shuffling("pixel_unshuffle", "downscale_factor"),
        # the 1-d and 3-d forms of audio and video networks, as the 2-d ones
        **{
            getattr(F, f"adaptive_{op}_pool{n}d"): _adaptive_pool(f"adaptive_{op}pool{n}d")
            for op in ("avg", "max")
            for n in (1, 2, 3)
        },
        F.dropout: _dropout,
        F.interpolate: _interpolate,
        F.avg_pool1d: _pool("avgpool1d", _AVG),
        F.avg_pool2d: _pool("avgpool2d", (*_AVG, "divisor_override")),
        F.avg_pool3d: _pool("avgpool3d", (*_AVG, "divisor_override")),
        F.max_pool1d: _pool("maxpool1d", _MAX),
        F.max_pool2d: _pool("maxpool2d", _MAX),
        F.max_pool3d: _pool("maxpool3d", _MAX),
        torch.sigmoid: _activation("sigmoid"),
        torch.tanh: _activation("tanh"),
        torch.relu: _activation("relu"),
        F.relu: _activation("relu"),
        F.relu6: _activation("relu6"),
        F.gelu: _activation("gelu", approximate="none"),
        F.silu: _activation("silu"),
        F.sigmoid: _activation("sigmoid"),
        F.tanh: _activation("tanh"),
        F.hardswish: _activation("hardswish"),
        F.hardsigmoid: _activation("hardsigmoid"),
        F.mish: _activation("mish"),
        F.elu: _activation("elu", alpha=1.0),
        F.leaky_relu: _activation("leaky_relu", negative_slope=0.01),
        F.softplus: _activation("softplus", beta=1.0, threshold=20.0),
        F.selu: _activation("selu"),
        F.celu: _activation("celu", alpha=1.0),
        F.hardtanh: _activation("hardtanh", min_val=-1.0, max_val=1.0),
        F.logsigmoid: _activation("logsigmoid"),
        F.softsign: _activation("softsign"),
        F.tanhshrink: _activation("tanhshrink"),
        F.glu: glu,
        F.pad: pad,
        getattr: tensor_meta,
        **{getattr(torch, fill): made_tensor(fill) for fill in ("eye", "zeros", "ones")},
    }
    return table


_METHODS: dict[str, Reader] = {
    "add": _join("add"),
    "add_": _join("add"),
    "mul": _join("mul"),
    "mul_": _join("mul"),
    "sub": _join("sub"),
    "sub_": _join("sub"),
    "div": _join("div"),
    "div_": _join("div"),
    "flatten": _flatten,
    "unflatten": unflatten,
    "mean": _reduce("mean"),
    "sum": _reduce("sum"),
    "amax": _reduce("amax"),
    "std": spread("std"),
    "var": spread("var"),
    "norm": _norm("p"),
    "addcmul": _addcmul,
    "relu": _activation("relu"),
    "relu_": _activation("relu"),
    "sigmoid": _activation("sigmoid"),
    "tanh": _activation("tanh"),
    "contiguous": _alias,
    "clone": _clone,
    "to": to_alike,
    "type_as": type_as,
    "chunk": _chunk,
    "split": _split,
    "softmax": _softmax("softmax"),
    "log_softmax": _softmax("log_softmax"),
    "permute": _permute,
    "transpose": _transpose,
    **RANK_CALLS,
    **METHOD_CALLS,
    **elementwise.METHODS,
}

_FUNCTIONS: dict[Any, Reader] = {}


def read_call(op: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """The layer kind of one `call_function` or `call_method` node, or None."""
    if op == "call_method":
        reader = _METHODS.get(target)
    else:
        if not _FUNCTIONS:
            _FUNCTIONS.update(_torch_functions())
        try:
            reader = _FUNCTIONS.get(target)
        except TypeError:  # an unhashable target
            reader = None
        if reader is None:
            qualified = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
            reader = LIBRARY_FUNCTIONS.get(qualified)
    if reader is None and (twin := in_place_name(op, target)) is not None:  # `x.sigmoid_()`
        return read_call(op, twin[1] if op == "call_method" else getattr(*twin), args, kwargs)
    return reader(args, kwargs) if reader else None


def describe_target(op: str, target: Any, args: tuple[Any, ...] = ()) -> str:
    """How a message names what an fx node calls (`args`: the node's, for `y.mT`)."""
    if op == "call_method":
        return f"the tensor method `.{target}()`"
    name = attribute_read(target, args)
    if name is not None:
        return f"the tensor attribute `.{name}`"
    name = getattr(target, "__name__", repr(target))
    module = getattr(target, "__module__", None) or ""
    if module in ("_operator", "operator"):
        return f"the operator `{name}`"
    if module == "torch._C._nn":  # F.linear, F.gelu, ...: torch.nn.functional's, as called
        import torch.nn.functional as F

        module = "torch.nn.functional" if getattr(F, name, None) is target else module
    return f"`{module + '.' if module else ''}{name}`"
