"""What torch.fx runs through without recording it: a change of grad mode in forward
(`with torch.no_grad():`, `torch.set_grad_enabled(False)`, `torch.inference_mode()`), a
custom `torch.autograd.Function`, whose `apply` fx follows into its `forward`, and an
enabled `torch.autocast`, under which the model computes in another dtype.

The graph fx gives keeps the values and drops the gradients: a layer run under `no_grad`
would train in the spec, and a straight-through estimator's own `backward` would become
torch's. A spec states neither (its gradients are torch's own, everywhere), so the import
watches for both while it traces and refuses them (E904) at the statement.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Iterator
from typing import Any

from ..errors import SourceSpan
from .where import _ours, describe, diagnostic

_HINT = (
    "a spec's gradients are torch's own everywhere: import the model without the custom "
    "gradient (its plain forward), and stop gradients (`.requires_grad_(False)`, a "
    "frozen copy) on the compiled module instead"
)

#: A forward that computes in another dtype under autocast: a spec computes in its module's.
_AUTOCAST_HINT = (
    "a spec computes in the dtype of its module, and fx's graph drops the autocast: import "
    "the model's forward without it, and run the compiled module under `torch.autocast`"
)


def _forward_span() -> SourceSpan | None:
    """The innermost frame of the model's code inside the forward fx is tracing; None when
    the call comes from elsewhere (archspec's or torch's own machinery)."""
    stack = traceback.extract_stack()
    fx = [i for i, f in enumerate(stack) if f.filename.endswith(f"fx{os.sep}_symbolic_trace.py")]
    user = [f for f in stack[fx[-1] + 1 :] if _ours(f.filename)] if fx else []
    return SourceSpan(user[-1].filename, user[-1].lineno or 1, 1) if user else None


#: Set while the importer itself runs modules in the middle of a trace.
_PAUSED: list[bool] = []


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """What runs under this is the importer's, not the traced forward's: not watched."""
    _PAUSED.append(True)
    try:
        yield
    finally:
        _PAUSED.pop()


@contextlib.contextmanager
def watching_autograd(module: Any, problems: Any) -> Iterator[None]:
    """Trace under this: each grad-mode change or autograd.Function call that the forward
    of `module` makes is an E904 in `problems`, at its statement."""
    import torch

    C, Function = torch._C, torch.autograd.function.Function
    set_grad, inference, apply = C._set_grad_enabled, C._InferenceMode, Function.__dict__["apply"]
    cls = describe(type(module))

    def found(what: str, hint: str = _HINT) -> None:
        if _PAUSED:  # the importer runs the graph so far (ranks.py), not the forward
            return
        span = _forward_span()
        if span is not None:
            problems.add(diagnostic("E904", f"{cls}.forward {what}", span, hint))

    def watched_set_grad(mode: bool) -> Any:
        found("changes the grad mode (`torch.no_grad`, `torch.set_grad_enabled`)")
        return set_grad(mode)

    def watched_inference(*args: Any) -> Any:
        found("enters `torch.inference_mode`")
        return inference(*args)

    def watched_apply(fn: type, *args: Any, **kwargs: Any) -> Any:
        found(f"calls the autograd.Function `{fn.__qualname__}`, whose backward is its own")
        return apply.__func__(fn, *args, **kwargs)

    autocast = torch.amp.autocast_mode.autocast
    enter, init = autocast.__enter__, autocast.__init__

    def traced_autocast(self: Any, device_type: Any, *args: Any, **kwargs: Any) -> None:
        """`torch.autocast(device_type=x.device.type, enabled=False)` (timm's EfficientViT):
        fx gives the device type as a traced value, which autocast refuses; a disabled
        region computes the same on any device, and an enabled one is refused on entry."""
        self._archspec_read = not isinstance(device_type, str)
        init(self, "cpu" if self._archspec_read else device_type, *args, **kwargs)

    def watched_autocast(self: Any) -> Any:
        if getattr(self, "_enabled", False):  # `enabled=False` keeps float32, as a spec does
            dtype = str(self.fast_dtype).removeprefix("torch.")
            on = "the device of a tensor" if getattr(self, "_archspec_read", False) else self.device
            where = f"({on})" if self._archspec_read else f"({on}, {dtype})"
            what = f"enters `torch.autocast` {where}, which fx does not record"
            found(what, _AUTOCAST_HINT)
        return enter(self)

    C._set_grad_enabled, C._InferenceMode = watched_set_grad, watched_inference
    Function.apply = classmethod(watched_apply)  # type: ignore[assignment,method-assign]
    autocast.__enter__ = watched_autocast  # type: ignore[method-assign]
    autocast.__init__ = traced_autocast  # type: ignore[method-assign]
    try:
        yield
    finally:
        C._set_grad_enabled, C._InferenceMode = set_grad, inference
        Function.apply = apply  # type: ignore[method-assign]
        autocast.__enter__, autocast.__init__ = enter, init  # type: ignore[method-assign]
