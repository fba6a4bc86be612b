"""The tracer of a forward, which answers the ranks it reads for control flow.

Every child module stays one call (trace.py reads the graph). A forward may branch on a
tensor's rank (`if x.dim() == 4:`, `x.ndim == 3`, `len(x.shape) == 4`), which torch.fx
cannot decide. A spec's input has a fixed rank, and so has every node after it, so the rank
of the tensor the module received when the model ran on the example input (slices.py
records it) decides the branch: the graph so far runs on a tensor of that shape (zeros, in
eval mode, without gradients; on the meta device for a model there) to give the rank, and
the condition is worked out from ranks and numbers alone. A condition that reads anything
else (a size, a value) stays torch.fx's refusal (E902); so does one in a module the example
input does not reach. Each decision is a note the spec's header states.
"""

from __future__ import annotations

import contextlib
import linecache
import operator
import os
import sys
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import SourceSpan
from .asserts import asserted, record_assert
from .devices import answer, device_read
from .where import _ours, span_from_stack

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from .trace import Problems

#: What a condition may compute from ranks: comparisons, arithmetic and logic on numbers.
_PURE = frozenset(
    {
        *(operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge),
        *(operator.add, operator.sub, operator.mul, operator.floordiv, operator.mod),
        *(operator.and_, operator.or_, operator.not_, operator.truth, operator.neg),
    }
)


def computed_in_caller(child: nn.Module, args: Any, kwargs: Any) -> bool:
    """Whether a child is traced as part of its caller's forward rather than kept as a call:
    one holding no tensors and no children, which no layer kind reads, given text for an
    argument (torchvision's `LastLevelMaxPool`, `self.extra_blocks(results, x, names)`,
    appends a max-pooled map to one list and its key to the other): what it computes is
    the caller's steps, and the text it returns its keys."""
    from .leaves import read_leaf

    def text(value: Any) -> bool:
        if isinstance(value, list | tuple):
            return any(text(v) for v in value)
        return isinstance(value, str)

    if not any(text(v) for v in [*args, *kwargs.values()]):
        return False
    if next(child.children(), None) is not None or next(child.parameters(), None) is not None:
        return False
    return next(child.buffers(), None) is None and read_leaf(child) is None


def opened(child: nn.Module, out: Any, problems: Problems | None) -> Any:
    """A child's result as the container of tensors the model's run found it returns, a
    dict by its keys or a tuple (list) by its length, each item a read of the call's result
    (`out["low"]`, `out[0]`), so that its caller's trace can walk it: RetinaNet's
    `list(features.values())`, `for f in feats`, `zip(names, results)`; the call itself for
    a tensor, for torch's own modules and when the run tells nothing."""
    from .slices import given_input

    if problems is None or type(child).__module__.startswith("torch."):
        return out
    try:
        with _untraced():
            given_input(problems, child)  # the model's run records what each child returned
    except _Unknown:
        return out
    found = problems.__dict__.get("held", {}).get(id(child))
    if found is None:
        return out
    kind, keys = found
    if kind == "a dict":
        return {k: out[k] for k in keys}
    return (list if kind == "a list" else tuple)(out[i] for i in range(keys))


def keep_children_tracer(module: nn.Module | None = None, problems: Problems | None = None) -> Any:
    """An fx tracer keeping every child as one call; with `module` and `problems` (whose
    example input gives the module's input), one that decides branches on ranks too."""
    import torch.fx as fx

    from .appends import mark_changed_lists
    from .functions import library_functions, library_modules

    class ShapeAttribute(fx.proxy.Attribute):
        """`x.shape`, whose `len` is the rank."""

        def __len__(self) -> int:
            rank = self.tracer.rank_of(self.root.node, True)  # type: ignore[attr-defined]
            return super().__len__() if rank is None else rank

    class RankProxy(fx.Proxy):
        def __getattr__(self, k: str) -> Any:
            return ShapeAttribute(self, k) if k == "shape" else super().__getattr__(k)

        def __len__(self) -> int:  # `len(x.size())`, `*x.shape[:2]`
            length = _sizes_length(self.tracer, self.node)
            return super().__len__() if length is None else length

    # torch.fx's name in what a forward raises on it (`int() argument must be ..., not 'Proxy'`)
    RankProxy.__name__ = RankProxy.__qualname__ = "Proxy"

    class KeepChildren(fx.Tracer):
        """Every child module stays one call in the parent's graph."""

        def is_leaf_module(self, m: Any, module_qualified_name: str) -> bool:
            return True

        def call_module(self, m: Any, forward: Any, args: Any, kwargs: Any) -> Any:
            if computed_in_caller(m, args, kwargs):  # FPN's `self.extra_blocks(.., names)`
                return forward(*args, **kwargs)
            out = super().call_module(m, forward, args, kwargs)
            mark_changed_lists(self, m, args, kwargs, out, problems)  # appends.py
            return opened(m, out, problems)

        def proxy(self, node: Any) -> Any:
            return RankProxy(node, self) if module is not None else super().proxy(node)

        def to_bool(self, obj: Any) -> bool:
            if device_read(obj.node):  # `if x.is_cuda`: devices.py
                return answer(self, obj.node)
            value = _decided(self, obj.node)
            if value is None and asserted(sys._getframe(2)):  # `assert h == 1`: asserts.py
                return record_assert(self, obj)
            if value is None:
                self.refused_condition = obj.node  # what the refusal's hint reads (where.py)
                return super().to_bool(obj)
            _note(problems, span_from_stack(obj.node.stack_trace), bool(value))
            return bool(value)

        def rank_of(self, node: Any, read: bool = False) -> int | None:
            return _rank_of(self, node, problems if read else None)

        def iter(self, obj: Any) -> Any:
            """`for s in x.size()[1:]:` (the PyTorch tutorial's `num_flat_features`): a
            shape, or a slice of one, has as many sizes as the tensor's rank gives it."""
            length = _sizes_length(self, obj.node)
            return super().iter(obj) if length is None else iter([obj[i] for i in range(length)])

    tracer = KeepChildren(autowrap_functions=library_functions())
    search = getattr(tracer, "_autowrap_search", None)  # torch.fx's modules to wrap in
    if isinstance(search, list):
        search.extend(library_modules())
    tracer.record_stack_traces = True
    tracer.proxy_buffer_attributes = True
    tracer.decided = set()  # type: ignore[attr-defined]
    tracer.on_cuda, tracer.device_reads = False, []  # type: ignore[attr-defined]
    tracer.rank_module = module  # type: ignore[attr-defined]
    tracer.rank_problems = problems  # type: ignore[attr-defined]
    return tracer


def _rank_of(tracer: Any, node: Any, problems: Problems | None) -> int | None:
    """The rank of the tensor `node` stands for (None: unknown); with `problems`, the model
    reads it as a number (`len(x.shape)`), which is noted there."""
    try:
        with _untraced():
            value = _value_of(tracer, node)
    except _Unknown:
        value = None
    rank = value.dim() if hasattr(value, "dim") else None
    if rank is not None and problems is not None:
        _note(problems, _here(), None, rank)
    return rank


@contextlib.contextmanager
def _untraced() -> Iterator[None]:
    """Modules called as themselves while a trace is under way: torch.fx patches
    `nn.Module.__call__` (and torch's functions) to record calls while it traces, so a run
    of the graph so far would record into the graph; its patches are taken off meanwhile."""
    from torch.fx import _symbolic_trace as st

    revert = getattr(st, "_maybe_revert_all_patches", None)
    flag = getattr(st, "_is_fx_tracing_flag", False)
    if revert is None:  # another torch: the ranks stay unknown
        raise _Unknown
    from .gradmode import paused

    st._is_fx_tracing_flag = False
    try:
        with revert(), paused():
            yield
    finally:
        st._is_fx_tracing_flag = flag


class _Unknown(Exception):
    """This torch offers no way to run modules during a trace."""


def _is_rank_read(node: Any) -> bool:
    """`x.dim()`, `x.ndimension()` or `x.ndim`."""
    if node.op == "call_method" and node.target in ("dim", "ndimension"):
        return len(node.args) == 1 and not node.kwargs
    return node.op == "call_function" and node.target is getattr and node.args[1:] == ("ndim",)


def _decided(tracer: Any, node: Any) -> Any:
    """The value of a condition computed from ranks and numbers alone, else None."""
    import torch.fx as fx

    if tracer.rank_module is None or not isinstance(node, fx.Node):
        return None
    if _is_rank_read(node):
        rank = tracer.rank_of(node.args[0])
        if rank is not None:
            tracer.decided.add(node)
        return rank
    if node.op != "call_function" or node.target not in _PURE or node.kwargs:
        return None
    values = []
    for arg in node.args:
        value = _decided(tracer, arg) if isinstance(arg, fx.Node) else arg
        if value is None or not isinstance(value, int | float | bool):
            return None
        values.append(value)
    tracer.decided.add(node)
    return node.target(*values)


def _sizes_length(tracer: Any, node: Any) -> int | None:
    """How many sizes `node` holds when it is a tensor's shape (`x.size()`, `x.shape`) or a
    slice of one (`x.shape[1:]`) whose rank is known, or how many pieces a chunk, split or
    unbind gives on the example input (`[t.reshape(...) for t in qkv]` of lucidrains' ViT's
    `qkv = self.to_qkv(x).chunk(3, dim=-1)`, as `q, k, v = qkv` unpacks it); None otherwise."""
    if _cut_call(node):
        try:
            with _untraced():
                pieces = _value_of(tracer, node)
        except _Unknown:
            pieces = None
        return len(pieces) if type(pieces) in (tuple, list) else None
    if node.op == "call_method" and node.target == "size" and len(node.args) == 1:
        return tracer.rank_of(node.args[0], True)
    if node.op == "call_function" and node.target is getattr and node.args[1:] == ("shape",):
        return tracer.rank_of(node.args[0], True)
    if node.op == "call_function" and node.target is operator.getitem:
        whole, index = node.args
        length = _sizes_length(tracer, whole) if hasattr(whole, "op") else None
        bounds = (index.start, index.stop, index.step) if isinstance(index, slice) else (0.5,)
        if length is not None and all(b is None or type(b) is int for b in bounds):
            return len(range(length)[index])
    return None


def _cut_call(node: Any) -> bool:
    """Whether `node` cuts a tensor into pieces: `chunk`, `split` or `unbind`, method or
    torch's function."""
    import torch

    cuts = ("chunk", "split", "unbind")
    if node.op == "call_method":
        return node.target in cuts
    return node.op == "call_function" and any(node.target is getattr(torch, c) for c in cuts)


def drop_decided(tracer: Any, graph: Any) -> None:
    """The nodes of conditions the ranks decided, when nothing else reads them: the branch
    taken is the graph, the test itself is no step of it."""
    for node in reversed(list(graph.nodes)):
        if node in tracer.decided and not node.users:
            graph.erase_node(node)


def _value_of(tracer: Any, node: Any) -> Any:
    """The value of `node` when the graph traced so far runs on a tensor of the shape the
    module received from the example input; None when unknown."""
    import torch
    import torch.fx as fx

    from .modes import kept_buffers, kept_modes
    from .slices import given_input

    module, problems = tracer.rank_module, tracer.rank_problems
    given = given_input(problems, module) if module is not None else None
    env = tracer.__dict__.setdefault("rank_values", {})
    if given is None or env.get("broken"):
        return None
    if node in env:
        return env[node]
    first = next((n for n in tracer.graph.nodes if n.op == "placeholder"), None)
    shape, dtype, device = given[:3]
    if node is first:
        return torch.empty(shape, dtype=dtype, device="meta")  # its rank: no run needed
    runner = fx.Interpreter(module, graph=tracer.graph)
    runner.env = env
    try:
        with torch.no_grad(), kept_modes(module), kept_buffers(module):
            module.eval()  # a norm in training would update its running statistics
            for n in tracer.graph.nodes:
                if n in env or n.op == "output":
                    continue
                if n is first:
                    env[n] = torch.zeros(shape, dtype=dtype, device=device)
                else:
                    env[n] = _default(n) if n.op == "placeholder" else runner.run_node(n)
                if n is node:
                    break
    except Exception:  # a graph that does not run as traced: its ranks stay unknown
        env["broken"] = True
        return None
    return env.get(node)


def _default(node: Any) -> Any:
    """An argument after the input: its default (the module is imported called without it)."""
    if not node.args:
        raise ValueError(f"no value for {node.target}")
    return node.args[0]


def _here() -> SourceSpan | None:
    """The innermost frame of the model's code on the stack."""
    user = [f for f in traceback.extract_stack() if _ours(f.filename)]
    return SourceSpan(user[-1].filename, user[-1].lineno or 1, 1) if user else None


def _note(problems: Any, span: SourceSpan | None, taken: bool | None, rank: int = 0) -> None:
    """The spec's note of a branch the example input's rank decided (or a rank it read)."""
    if problems is None or span is None:
        return
    where = f"{os.path.basename(span.file)}:{span.line}"
    text = " ".join(linecache.getline(span.file, span.line).split())[:100]
    if taken is None:
        note = f"{where} reads a rank, {rank} for the example input: `{text}`"
    else:
        note = f"{where} branches on a rank, {taken} for the example input: `{text}`"
    if note not in problems.notes:
        problems.notes.append(note)
