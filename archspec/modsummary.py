"""Summaries of any `nn.Module`, written by hand or compiled: the same table as a spec's.

The forward runs once on meta tensors (shapes only: no memory for weights or activations).
A model whose weights are real is run through `torch.func.functional_call` with meta
stand-ins for its parameters and buffers, so nothing of it is copied or changed. Three
things are watched during that forward:

* forward pre-hooks and hooks on every submodule keep a stack of the module running, and
  record each module's output shape;
* a TorchDispatchMode counts the MACs of every matrix product and convolution (aten mm,
  addmm, bmm, baddbmm, convolution, attention kernels: torch.utils.flop_counter's formulas,
  halved), charged to the innermost module running. On conv and linear layers this is the
  spec summary's convention exactly (conv `C_out*H_out*W_out*C_in/groups*k_h*k_w`, linear
  `in*out` per row, bias adds not counted), so a hand-written twin of a spec has the spec's
  MACs; a matrix product in a module's own forward (attention scores) is counted too. Its
  operands must share one dtype, as on a real device (meta kernels do not check it), so a
  float16 model given float32 inputs is refused rather than summarised;
* `saved_tensors_hooks` see every tensor autograd keeps for the backward pass: their
  storages, counted once each, less parameters and buffers, are the activation memory of a
  training step at the given batch.

This module imports torch; `archspec.summary` (archspec/summarising.py) imports it only when
given a module. Most of torch's meta kernels are Python reference code: their `torch._check`
imports sympy (0.5 s of CPU, 35 MiB) and batch norm alone runs dozens of prims. The dispatch
mode answers the commonest ops (convolution, batch norm, addmm, activations, residual adds,
pooling) by their exact shape rules instead (meta_kernels.py), so a CNN's summary never reaches
those kernels; any other op, or a case a rule does not cover, runs torch's. Those kernels are
wrapped in torch's `_disable_dynamo`, whose first call imports torch._dynamo only to mark the
function as never compiled (about 1.2 s of CPU and 70 MiB on torch 2.13): `_without_dynamo`
spares a summary that cost when dynamo is not loaded yet (see there).
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

import torch
import torch.nn as nn
from torch.nn.parameter import is_lazy

from .dims import Dim, Shape
from .errors import exception_text
from .lazymethods import dataclass
from .meta_kernels import MetaShortcuts, macs
from .modfailures import DtypeMismatch, ModuleSummaryError, failure_hint, too_deep
from .modinputs import meta_call, tensors_in
from .summaries import MemoryEstimate, ModuleFacts, Row, Summary

#: aten.mm, bmm, addmm, baddbmm and convolution: their first three arguments (the operands,
#: a bias or the added matrix) must share one dtype on every device but meta.
_ONE_DTYPE = frozenset(
    getattr(torch.ops.aten, name) for name in ("mm", "bmm", "addmm", "baddbmm", "convolution")
)


def _check_one_dtype(func: Any, args: tuple[Any, ...]) -> None:
    """Raise DtypeMismatch where a real device's kernel would refuse `func`'s operands."""
    if func._overloadpacket not in _ONE_DTYPE:
        return
    dtypes = {a.dtype for a in args[:3] if isinstance(a, torch.Tensor)}
    if len(dtypes) > 1:
        names = " and ".join(sorted(str(d).removeprefix("torch.") for d in dtypes))
        raise DtypeMismatch(
            f"{func._overloadpacket.__name__} of {names} tensors, which a real device refuses "
            "(meta tensors do not check dtypes)"
        )


class _Counter(MetaShortcuts):
    """MACs of each matrix product and convolution, charged to the module on top of `stack`."""

    def __init__(self, stack: list[str], macs: dict[str, int], autocast: list[bool]) -> None:
        super().__init__()
        self.stack = stack
        self.macs = macs
        self.autocast = autocast

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        # before torch's meta kernel, which checks some cases; not in a module run under
        # autocast, which casts the operands on a real device (not on meta, and unseen here)
        if not (self.autocast and self.autocast[-1]):
            _check_one_dtype(func, args)
        return super().__torch_dispatch__(func, types, args, kwargs)

    def seen(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        n = macs(func, args, kwargs, out)
        if n:
            where = self.stack[-1] if self.stack else ""  # outside every module: the root's
            self.macs[where] = self.macs.get(where, 0) + n


class _Trace:
    """What one meta forward saw: per module path, output shape, calls and MACs."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.autocast: list[bool] = []  # per module on `stack`: entered under autocast
        self.macs: dict[str, int] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.calls: dict[str, int] = {}
        self.saved: dict[int, tuple[torch.dtype, int]] = {}
        self.keep: list[torch.Tensor] = []  # saved tensors stay alive: storage ids stay unique
        self.outputs: tuple[tuple[int, ...], ...] = ()  # the model's, every tensor of them

    def hooks(self, model: nn.Module) -> list[Any]:
        handles = []
        for path, module in model.named_modules():  # a module under two names: hooked once
            handles.append(module.register_forward_pre_hook(self._enter(path)))
            handles.append(module.register_forward_hook(self._leave(path), always_call=True))
        return handles

    def _enter(self, path: str) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            self.stack.append(path)
            self.autocast.append(torch._C._is_any_autocast_enabled())
            self.calls[path] = self.calls.get(path, 0) + 1

        return hook

    def _leave(self, path: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if self.stack and self.stack[-1] == path:
                self.stack.pop()
                self.autocast.pop()
            shapes = [tuple(int(d) for d in t.shape) for t in tensors_in(output)]
            if shapes:  # a module run several times: its first output, as the order is
                self.shapes.setdefault(path, shapes[0])
            if path == "":
                self.outputs = tuple(shapes)

        return hook

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        self.saved[storage._cdata] = (t.dtype, storage.nbytes())
        self.keep.append(t)
        return t


def _meta_stand_ins(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """Meta tensors for a model's real parameters and buffers; None when all are meta."""
    named = [*model.named_parameters(), *model.named_buffers()]
    lazy = [name for name, t in named if is_lazy(t)]
    if lazy:  # no shape yet: its first forward would create (and so change) the model
        raise ModuleSummaryError(
            f"{type(model).__name__} has parameters whose shapes are not known yet "
            f"({', '.join(lazy[:3])}{', ...' if len(lazy) > 3 else ''}: a lazy module's, "
            "such as nn.LazyLinear's); run the model once on a real input "
            "(model(torch.zeros(...))) so that they exist, then summarise it"
        )
    if all(t.device.type == "meta" for _, t in named):
        return None
    return {
        name: torch.empty_like(t, device="meta").requires_grad_(t.requires_grad)
        if t.is_floating_point() or t.is_complex()
        else torch.empty_like(t, device="meta")
        for name, t in named
    }


@contextmanager
def _without_dynamo() -> Iterator[None]:
    """Run torch's `_disable_dynamo`-wrapped meta kernels without importing torch._dynamo.

    Such a wrapper imports torch._dynamo on its first call, asks it for a never-compiled
    version of its function and caches that on the function (`__dynamo_disable`). Nothing
    in a meta forward is compiled, so while no real torch._dynamo is loaded, a stand-in
    answers with the function itself; afterwards the stand-in leaves `sys.modules` and every
    cache it caused is removed, so a later torch.compile meets torch exactly as before.
    With torch._dynamo loaded, a compiled module (`torch.compile`, `module.compile()`) runs
    eagerly: compiling its graph for meta tensors would fail, and costs seconds if not.
    """
    if "torch._dynamo" in sys.modules:
        with torch.compiler.set_stance("force_eager"):
            yield
        return
    touched: list[Any] = []

    def disable(fn: Any, recursive: bool = True, **_: Any) -> Any:
        touched.append(fn)
        return fn

    stand_in = types.ModuleType("torch._dynamo", "archspec's stand-in during a meta forward")
    stand_in.disable = disable  # type: ignore[attr-defined]
    sys.modules["torch._dynamo"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("torch._dynamo") is stand_in:
            del sys.modules["torch._dynamo"]
        if vars(torch).get("_dynamo") is stand_in:
            delattr(torch, "_dynamo")
        for fn in touched:
            if getattr(fn, "__dynamo_disable", None) is fn:
                delattr(fn, "__dynamo_disable")


@contextmanager
def _mode(model: nn.Module, train: bool) -> Iterator[None]:
    """Train mode for the forward (dropout, batch statistics, training-only branches such as
    auxiliary heads, which a spec's summary counts), or eval; each module's flag restored."""
    flags = [(m, m.training) for m in model.modules()]
    with suppress(NotImplementedError):  # torch.export's module: its mode fixed at export
        model.train(train)
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _check_wrappers(model: nn.Module) -> None:
    """Modules whose forward hooks and meta stand-ins cannot watch, named with the way out."""
    for path, module in model.named_modules():
        where = f" (at {path})" if path else ""
        if isinstance(module, torch.jit.ScriptModule):
            raise ModuleSummaryError(
                f"{type(module).__name__}{where} is TorchScript: its compiled graph takes no "
                "hooks and no meta stand-ins; summarise the nn.Module you scripted or traced"
            )
        if isinstance(module, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            raise ModuleSummaryError(
                f"{type(module).__name__}{where} wraps the network to run it on devices; "
                "summarise the network it wraps, its `.module`"
            )


def _signature_misfit(model: nn.Module, call: tuple[tuple[Any, ...], dict[str, Any]]) -> str | None:
    """Why forward cannot take these arguments (a TypeError of its signature), or None."""
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):  # a forward without a signature Python can read
        return None
    try:
        signature.bind(*call[0], **call[1])
    except TypeError as misfit:
        return f"{type(model).__name__}.forward{signature} cannot take them: {misfit}"
    return None


def trace(
    model: nn.Module,
    shapes: Sequence[tuple[int, ...]],
    dtypes: Sequence[torch.dtype],
    train: bool = True,
    call: tuple[tuple[Any, ...], dict[str, Any]] | None = None,
) -> tuple[_Trace, dict[str, torch.Tensor] | None]:
    """Run the forward once on meta tensors of `shapes` (or on `call`'s arguments, from
    `meta_call`), watching it (see the module doc)."""
    seen = _Trace()
    if call is None:
        made = [torch.empty(s, dtype=d, device="meta") for s, d in zip(shapes, dtypes, strict=True)]
        call = (tuple(made), {})
    _check_wrappers(model)
    stand_ins = _meta_stand_ins(model)
    handles = seen.hooks(model)
    try:
        with ExitStack() as stack:
            stack.enter_context(_mode(model, train))
            stack.enter_context(warnings.catch_warnings())
            # the forward's own error is the one reported; torch's word that our hook's
            # follow-on error was silenced (a forward that recursed without end) is noise
            warnings.filterwarnings("ignore", "module forward hook with ``always_call=True``")
            stack.enter_context(_without_dynamo())
            stack.enter_context(torch.enable_grad())
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(seen.pack, lambda t: t))
            stack.enter_context(_Counter(seen.stack, seen.macs, seen.autocast))
            if stand_ins is None:
                model(*call[0], **call[1])
            else:
                torch.func.functional_call(model, stand_ins, call[0], call[1])
    except (Exception, SystemExit) as exc:  # the user's forward: all it raises but Ctrl-C
        if isinstance(exc, RecursionError) and (deep := too_deep(model)) is not None:
            raise deep from None
        what = ", ".join(str(tuple(s)) for s in shapes[:8])
        what += f" and {len(shapes) - 8} more" if len(shapes) > 8 else ""
        misfit = _signature_misfit(model, call) if isinstance(exc, TypeError) else None
        hint = failure_hint(exc, misfit)
        raise ModuleSummaryError(
            f"the forward of {type(model).__name__} ({'train' if train else 'eval'} mode) "
            f"fails on meta tensors of shape {what}: {type(exc).__name__}: "
            f"{_clipped(exception_text(exc))} ({hint})"
        ) from exc
    finally:
        for h in handles:
            h.remove()
    return seen, stand_ins


def _clipped(text: str, limit: int = 300) -> str:
    """torch's message, cut at a word's end past `limit` characters (its long advice on
    settings of its own is not the cause)."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


def _trainable(params: Sequence[nn.Parameter]) -> str | None:
    """torchinfo's Trainable column: True, False or Partial; None without parameters."""
    if not params:
        return None
    flags = {p.requires_grad for p in params}
    return "Partial" if len(flags) == 2 else str(flags.pop())


def _bytes_by_dtype(items: Iterable[tuple[torch.dtype, int]]) -> tuple[tuple[str, int], ...]:
    out: dict[str, int] = {}
    for dtype, n in items:
        name = str(dtype).removeprefix("torch.")
        out[name] = out.get(name, 0) + n
    return tuple(sorted(out.items()))


#: torch's modules that read (L, N, E) unless built with batch_first=True (a transformer
#: layer holds an nn.MultiheadAttention, which says it)
_SEQUENCE_FIRST = (nn.RNNBase, nn.MultiheadAttention, nn.Transformer)


def _batch(model: nn.Module, shapes: Sequence[tuple[int, ...]]) -> int | None:
    """The batch the inputs give: their first size, when every input has the same one and
    no torch layer in the model reads its input sequence first (an nn.LSTM, nn.Transformer
    or nn.MultiheadAttention with batch_first=False, whose batch is the second size); for a
    network compiled or emitted from a spec, the size where its input holds the batch
    (`_archspec_batch_dims`, dim 1 of `[L, N, 32]`)."""
    at = getattr(model, "_archspec_batch_dims", None)
    if isinstance(at, tuple) and len(at) == len(shapes):
        sizes = {s[d] for s, d in zip(shapes, at) if isinstance(d, int) and 0 <= d < len(s)}
        return sizes.pop() if len(sizes) == 1 else None
    firsts = {s[0] if s else 1 for s in shapes}
    if len(firsts) != 1:
        return None
    for m in model.modules():
        if isinstance(m, _SEQUENCE_FIRST) and not getattr(m, "batch_first", True):
            return None
    return firsts.pop()


def _memory(
    model: nn.Module, seen: _Trace, stand_ins: dict[str, torch.Tensor] | None, batch: int | None
) -> MemoryEstimate:
    params = list(model.parameters())
    buffers = list(model.buffers())
    ran_with = stand_ins.values() if stand_ins is not None else [*params, *buffers]
    state = {t.untyped_storage()._cdata for t in ran_with}
    return MemoryEstimate(
        batch=batch,
        parameters=_bytes_by_dtype((p.dtype, p.numel() * p.element_size()) for p in params),
        gradients=_bytes_by_dtype(
            (p.dtype, p.numel() * p.element_size()) for p in params if p.requires_grad
        ),
        buffers=_bytes_by_dtype((b.dtype, b.numel() * b.element_size()) for b in buffers),
        activations=_bytes_by_dtype(
            (dtype, n) for key, (dtype, n) in seen.saved.items() if key not in state
        ),
    )


def _holder(module: nn.Module) -> bool:
    """A module without a forward of its own whose children are such modules too (a
    ParameterList; an exported program's submodules): its parameters are its use."""
    return type(module).forward is nn.Module.forward and all(map(_holder, module.children()))


@dataclass
class _Leaf:
    """A row with numbers: a module without children, a container's own parameter, or the
    matrix products of a container's own forward (`(self)`)."""

    row: Row
    macs: int
    params: list[nn.Parameter]


def _rows_in_order(model: nn.Module, seen: _Trace) -> tuple[list[Row | _Leaf], list[_Leaf]]:
    """Every module's row in `named_modules` order: headings (Rows) and leaves."""
    counted: set[int] = set()  # a parameter shared by two modules counts once, in the first
    order: list[Row | _Leaf] = []
    leaves: list[_Leaf] = []

    def add(
        path: str, kind: str, level: int, shape: Shape | None, ps: list[Any], macs: int
    ) -> None:
        row = Row(
            path=path,
            name=path.rsplit(".", 1)[-1],
            type=kind,
            depth=level,
            shape=shape or (),
            params=sum(p.numel() for p in ps),
            macs=Dim.of(macs),
            trainable=_trainable(ps),
            no_output=shape is None,
        )
        leaves.append(_Leaf(row, macs, ps))
        order.append(leaves[-1])

    ran = {path.rsplit(".", k)[0] for path in seen.calls for k in range(path.count(".") + 1)}
    for path, module in model.named_modules():
        level = path.count(".") + 1 if path else 0
        # a ModuleList is never called, but its layers are: only a module none of whose
        # layers ran is "(not run)"; a holder of parameters without a forward (ParameterList,
        # ParameterDict) cannot be called, its parameters are read by the forward above it
        idle = path and path not in ran and not _holder(module)
        kind = type(module).__name__ + (" (not run)" if idle else "")
        runs = seen.calls.get(path, 0)
        if runs > 1:  # its MACs are those of every run, its output shape the first run's
            kind += f" ({runs} runs)"
        got = seen.shapes.get(path)
        shape = None if got is None else tuple(Dim.of(d) for d in got)
        ps = [p for p in module.parameters(recurse=False) if id(p) not in counted]
        counted.update(id(p) for p in ps)
        if path and next(iter(module.children()), None) is None:
            add(path, kind, level - 1, shape, ps, seen.macs.get(path, 0))
            continue
        if path:
            order.append(_heading(path, kind, level - 1, shape))
        mine = {id(p) for p in ps}
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in mine:
                sub = f"{path}.{pname}" if path else pname
                add(sub, "Parameter", level, tuple(Dim.of(d) for d in p.shape), [p], 0)
        if seen.macs.get(path, 0):  # products in the module's own forward, outside children
            sub = f"{path}.(self)" if path else "(self)"
            add(sub, f"{type(module).__name__} ops", level, None, [], seen.macs[path])
    return order, leaves


def _fold(order: list[Row | _Leaf], leaves: list[_Leaf], depth: int | None) -> list[Row]:
    """Rows nested deeper than `depth` folded into their ancestor's, as a spec's are."""
    inside: dict[str, list[_Leaf]] = {}
    if depth is not None:  # each leaf to its ancestor at the folding depth, in one pass
        for leaf in leaves:
            parts = leaf.row.path.split(".")
            if len(parts) > depth:
                inside.setdefault(".".join(parts[:depth]), []).append(leaf)
    rows: list[Row] = []
    for item in order:
        row = item.row if isinstance(item, _Leaf) else item
        if depth is not None and row.depth >= depth:
            continue
        if isinstance(item, _Leaf) or depth is None or row.depth + 1 < depth:
            rows.append(row)
            continue
        folded = inside.get(row.path, [])
        ps = [p for leaf in folded for p in leaf.params]
        rows.append(
            dataclasses.replace(
                row,
                params=sum(p.numel() for p in ps),
                macs=Dim.of(sum(leaf.macs for leaf in folded)),
                folded=True,
                trainable=_trainable(ps),
            )
        )
    return rows


def summarise_module(
    model: nn.Module,
    shapes: Sequence[tuple[int, ...]],
    dtypes: Sequence[torch.dtype],
    depth: int | None = None,
    mode: str = "train",
    data: Any = None,
) -> Summary:
    """The summary of `model` at inputs of `shapes` (see the module doc for how it is taken),
    its forward run in train mode (as a training step runs it) or, `mode="eval"`, eval.
    With `data` (torchinfo's `input_data`, see `meta_call`) the forward takes those
    arguments, and `shapes` and `dtypes` are read from its tensors."""
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    try:
        return _summarise(model, shapes, dtypes, depth, mode, data)
    except RecursionError:  # torch's own walks of the modules recurse too (named_modules)
        deep = too_deep(model)
        if deep is None:
            raise
        raise deep from None


def _summarise(
    model: nn.Module,
    shapes: Sequence[tuple[int, ...]],
    dtypes: Sequence[torch.dtype],
    depth: int | None,
    mode: str,
    data: Any,
) -> Summary:
    dynamo = sys.modules.get("torch._dynamo.eval_frame")
    if dynamo is not None and isinstance(model, dynamo.OptimizedModule):
        model = model._orig_mod  # torch.compile's wrapper: the module it compiled, run eagerly
    call = None
    if data is not None:
        call = meta_call(data)
        tensors = tensors_in(call)
        if not tensors:
            raise TypeError("input_data holds no tensor: give forward's tensors (or input_size=)")
        shapes = [tuple(t.shape) for t in tensors]
        dtypes = [t.dtype for t in tensors]
    seen, stand_ins = trace(model, shapes, dtypes, train=mode == "train", call=call)
    order, leaves = _rows_in_order(model, seen)
    params = [p for leaf in leaves for p in leaf.params]
    trainable = sum(p.numel() for p in params if p.requires_grad)
    total = sum(p.numel() for p in params)
    return Summary(
        name=type(model).__name__,
        input_shape=tuple(Dim.of(d) for d in shapes[0]),
        rows=tuple(_fold(order, leaves, depth)),
        params=total,
        macs=Dim.of(sum(seen.macs.values())),
        depth=depth,
        module=ModuleFacts(
            inputs=tuple(tuple(Dim.of(d) for d in s) for s in shapes),
            dtypes=tuple(str(d).removeprefix("torch.") for d in dtypes),
            trainable=trainable,
            frozen=total - trainable,
            memory=_memory(model, seen, stand_ins, _batch(model, shapes)),
            mode=mode,
            outputs=tuple(tuple(Dim.of(d) for d in o) for o in seen.outputs),
        ),
    )


def _heading(path: str, kind: str, level: int, shape: Shape | None) -> Row:
    return Row(
        path=path,
        name=path.rsplit(".", 1)[-1],
        type=kind,
        depth=level,
        shape=shape or (),
        params=None,
        macs=None,
        no_output=shape is None,
    )


def is_module(value: object) -> bool:
    return isinstance(value, nn.Module)


__all__ = ["DtypeMismatch", "ModuleSummaryError", "is_module", "summarise_module"]
