"""Outputs of the commonest aten ops on meta tensors, without torch's Python meta kernels.

On the meta device torch computes most outputs with Python reference code (torch._refs,
torch._decomp, torch._meta_registrations). Each `torch._check` in it imports torch's
symbolic-shapes module and with it sympy (about 0.5 s of CPU and 35 MiB on torch 2.13), and
its batch norm runs some forty prims per call (most of a ResNet's meta forward). A module
summary (modsummary.py) needs only its outputs' metadata, so for the ops below, in the
plain cases each rule names (contiguous tensors of one float dtype, shapes that agree), the
output is an empty meta tensor of the shape the op's exact rule gives, laid out as torch's
kernel lays it out. Any other case gives None and the op runs through torch's own kernel,
which also raises torch's own error on a wrong input. Autograd and the flop formulas sit
above the dispatch mode that asks these rules, so what autograd saves for the backward pass
and the MACs counted are those of torch's kernels. tests/test_meta_kernels.py compares every
rule with torch's kernel. `macs` counts an op's multiply-accumulates by the formulas of
torch.utils.flop_counter, whose import it spares the common ops.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
_FLOATS = (torch.float32, torch.float64)
_TENSORS = (torch.Tensor, torch.nn.Parameter)  # a subclass may lay out its output otherwise
Out = torch.Tensor | tuple[torch.Tensor, ...] | None


def _plain(*tensors: Any) -> bool:
    """Meta tensors, contiguous, of one float dtype: the cases every rule below covers."""
    first = tensors[0]
    return all(
        type(t) in _TENSORS
        and t.device.type == "meta"
        and t.dtype == first.dtype
        and t.layout == torch.strided
        and t.is_contiguous()
        for t in tensors
    ) and (first.dtype in _FLOATS)


def _empty(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(tuple(shape), dtype=like.dtype, device="meta")


def _ints(value: Any, count: int) -> list[int] | None:
    """An int list of `count` entries (a single entry repeats, as aten expands it), or None."""
    if not isinstance(value, (list, tuple)) or not all(type(v) is int for v in value):
        return None
    if len(value) == 1:
        return [value[0]] * count
    return list(value) if len(value) == count else None


def _window(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """A convolution's or pooling window's output length (floor mode)."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _unary(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """An elementwise op of one tensor and scalar options: the input's shape and dtype."""
    x = args[0]
    if not _plain(x) or any(isinstance(a, torch.Tensor) for a in (*args[1:], *kwargs.values())):
        return None
    return _empty(x.shape, x)


def _unary_(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """The in-place form: its input, unchanged in shape."""
    return args[0] if _unary(args, kwargs) is not None else None


def _broadcast(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    if any(x != y and x != 1 and y != 1 for x, y in zip(a, b, strict=True)):
        return None
    return tuple(y if x == 1 else x for x, y in zip(a, b, strict=True))


def _binary(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """add/mul of two tensors: the broadcast shape (contiguous inputs give a contiguous out)."""
    if len(args) != 2 or set(kwargs) - {"alpha"} or not _plain(*args):
        return None
    shape = _broadcast(args[0].shape, args[1].shape)
    return None if shape is None else _empty(shape, args[0])


def _binary_(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """In place: the second operand broadcasts to the first, which is returned."""
    if len(args) != 2 or set(kwargs) - {"alpha"} or not _plain(*args):
        return None
    shape = _broadcast(args[0].shape, args[1].shape)
    return args[0] if shape == tuple(args[0].shape) else None


def _convolution(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """aten.convolution, not transposed: (N, C_out, *windows)."""
    if kwargs or len(args) != 9:
        return None
    x, w, bias, stride, padding, dilation, transposed, _, groups = args
    tensors = (x, w) if bias is None else (x, w, bias)
    if transposed is not False or type(groups) is not int or groups < 1 or not _plain(*tensors):
        return None
    spatial = x.dim() - 2
    if spatial not in (1, 2, 3) or w.dim() != x.dim():
        return None
    s, p, d = _ints(stride, spatial), _ints(padding, spatial), _ints(dilation, spatial)
    if s is None or p is None or d is None or min(s + d) < 1 or min(p) < 0:
        return None
    c_out = w.shape[0]
    if x.shape[1] != w.shape[1] * groups or c_out % groups or x.shape[0] == 0:
        return None
    if bias is not None and tuple(bias.shape) != (c_out,):
        return None
    sizes = [_window(x.shape[2 + i], w.shape[2 + i], s[i], p[i], d[i]) for i in range(spatial)]
    if min(sizes) < 1:
        return None
    return _empty((x.shape[0], c_out, *sizes), x)


def _native_batch_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """(output like the input, save_mean (C,), save_invstd (C,)) as torch's meta kernel."""
    if kwargs or len(args) != 8:
        return None
    x, weight, bias, mean, var, training, _, _ = args
    if type(training) is not bool or not _plain(x) or x.dim() < 2:
        return None
    c = x.shape[1]
    given = [t for t in (weight, bias, mean, var) if t is not None]
    if not _plain(x, *given) or any(tuple(t.shape) != (c,) for t in given):
        return None
    if not training and (mean is None or var is None):
        return None
    return _empty(x.shape, x), _empty((c,), x), _empty((c,), x)


def _addmm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """bias + mat1 @ mat2: (rows of mat1, columns of mat2); mat2 may be a transposed view."""
    if len(args) != 3 or set(kwargs) - {"beta", "alpha"}:
        return None
    bias, m1, m2 = args
    if not _plain(bias, m1) or type(m2) not in _TENSORS or m2.layout != torch.strided:
        return None
    if m2.device.type != "meta" or m2.dtype != m1.dtype or m1.dim() != 2 or m2.dim() != 2:
        return None
    if m1.shape[1] != m2.shape[0] or m1.shape[0] == 0:
        return None
    out = (m1.shape[0], m2.shape[1])
    return _empty(out, m1) if _broadcast(bias.shape, out) == out else None


def _mean_dim(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """mean over the listed dims, kept as 1 (keepdim) or removed."""
    x, dims = args[0], args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if (
        len(args) > 3
        or kwargs.get("dtype") is not None
        or set(kwargs) - {"dim", "keepdim", "dtype"}
    ):
        return None
    if not _plain(x) or type(keepdim) is not bool or not isinstance(dims, (list, tuple)):
        return None
    n = x.dim()
    if not dims or not all(type(d) is int and -n <= d < n for d in dims):
        return None
    axes = {d % n for d in dims}
    if len(axes) != len(dims):
        return None
    shape = [1 if i in axes else s for i, s in enumerate(x.shape) if keepdim or i not in axes]
    return _empty(shape, x)


def _max_pool2d_with_indices(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """(output, int64 indices) of a floor-mode 2-D max pool over a batched input."""
    if kwargs or not 2 <= len(args) <= 6:
        return None
    x, kernel, stride, padding, dilation, ceil = (
        *args,
        *(None, None, [], [0], [1], False)[len(args) :],
    )
    if ceil is not False or not _plain(x) or x.dim() != 4:
        return None
    k = _ints(kernel, 2)
    s = _ints(stride, 2) if stride else k
    p, d = _ints(padding, 2), _ints(dilation, 2)
    if k is None or s is None or p is None or d is None or min(k + s + d) < 1:
        return None
    if any(pad < 0 or pad > kk // 2 for pad, kk in zip(p, k, strict=True)):
        return None
    sizes = [_window(x.shape[2 + i], k[i], s[i], p[i], d[i]) for i in range(2)]
    if min(sizes) < 1:
        return None
    shape = (*x.shape[:2], *sizes)
    return _empty(shape, x), torch.empty(shape, dtype=torch.int64, device="meta")


Rule = Callable[[tuple[Any, ...], dict[str, Any]], Out]

#: aten overload -> its rule. Activations, residual adds and a CNN's layers: enough that a
#: ResNet or VGG summary never reaches a Python meta kernel.
RULES: dict[Any, Rule] = {
    **{
        op: _unary
        for op in (
            aten.relu.default,
            aten.hardtanh.default,
            aten.silu.default,
            aten.sigmoid.default,
            aten.tanh.default,
            aten.gelu.default,
            aten.hardswish.default,
            aten.hardsigmoid.default,
        )
    },
    **{
        op: _unary_
        for op in (
            aten.relu_.default,
            aten.hardtanh_.default,
            aten.silu_.default,
            aten.hardswish_.default,
        )
    },
    aten.add.Tensor: _binary,
    aten.mul.Tensor: _binary,
    aten.add_.Tensor: _binary_,
    aten.mul_.Tensor: _binary_,
    aten.convolution.default: _convolution,
    aten.native_batch_norm.default: _native_batch_norm,
    aten.addmm.default: _addmm,
    aten.mean.dim: _mean_dim,
    aten.max_pool2d_with_indices.default: _max_pool2d_with_indices,
}


def meta_output(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Out:
    """`func`'s output on these meta arguments by its rule, or None: run torch's kernel."""
    rule = RULES.get(func)
    return None if rule is None else rule(args, kwargs)


def _mm(a: torch.Tensor, b: torch.Tensor) -> int:
    return a.shape[-2] * a.shape[-1] * b.shape[-1] * (a.shape[0] if a.dim() == 3 else 1)


def _conv(x: torch.Tensor, w: torch.Tensor, transposed: bool, out: torch.Tensor) -> int:
    # each output point (each input point, transposed) times the whole filter: C_in/groups*k
    return (x if transposed else out).shape[2:].numel() * x.shape[0] * w.numel()


#: packet -> MACs from (args, output): torch.utils.flop_counter's formulas, halved.
_MACS: dict[Any, Callable[[tuple[Any, ...], Any], int]] = {
    aten.mm: lambda a, out: _mm(a[0], a[1]),
    aten.bmm: lambda a, out: _mm(a[0], a[1]),
    aten.addmm: lambda a, out: _mm(a[1], a[2]),
    aten.baddbmm: lambda a, out: _mm(a[1], a[2]),
    aten.convolution: lambda a, out: _conv(a[0], a[1], a[6], out),
}
#: Every op torch's flop_counter has a formula for is named so (tests/test_meta_kernels.py
#: checks its registry): only such an op makes `macs` import flop_counter, which on CUDA
#: builds of torch imports triton (about 80 MiB).
_COUNTED_NAMES = re.compile(r"conv|mm|att")


def macs(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> int:
    """Multiply-accumulates of one aten op: matrix products, convolutions, attention."""
    packet = func._overloadpacket
    own = _MACS.get(packet)
    if own is not None:
        return own(args, out)
    if not _COUNTED_NAMES.search(str(packet)):
        return 0
    from torch.utils.flop_counter import flop_registry

    formula = flop_registry.get(packet)
    return 0 if formula is None else int(formula(*args, **kwargs, out_val=out)) // 2


__all__ = ["RULES", "macs", "meta_output"]


class MetaShortcuts(TorchDispatchMode):
    """A dispatch mode answering the ops above by their rules (`meta_output`) and any other
    op or case by torch's own kernel; `seen` is called with each op's output (the module
    summary counts MACs there). Used by the summary and by compile's self-check."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # else torch wraps __torch_dispatch__ in dynamo's `disable`, whose first call imports
        # torch._dynamo (seconds of CPU); nothing here is ever compiled
        return False

    def seen(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        """Called with each op's output; nothing by default."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = meta_output(func, args, kwargs)
        if out is None:
            out = func(*args, **kwargs)
        self.seen(func, args, kwargs, out)
        return out
