"""Hooks and per-instance forwards: code that changes what a module computes without being
its class's `forward` (`module.register_forward_hook(lambda m, i, o: o * 2)`, a
`module.forward = ...` assignment other than of a method of its own class, which is traced
as the forward (twins.own_method_forward), torch's global module hooks, the old
`torch.nn.utils.weight_norm`'s pre-hook). torch.fx traces past them and a spec states none,
so a model holding one is refused (E904) at the hook's own source, never imported as the
model without it. So is a parametrized module (`torch.nn.utils.parametrizations.weight_norm`,
`spectral_norm`): its weight is computed from other tensors, which a spec does not state."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, SourceSpan
from .twins import own_method_forward
from .where import describe, diagnostic, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

_KINDS = (
    ("_forward_pre_hooks", "forward pre-hook"),
    ("_forward_hooks", "forward hook"),
    ("_backward_pre_hooks", "backward pre-hook"),
    ("_backward_hooks", "backward hook"),
)
_HINT = (
    "a spec states what the module classes' forwards compute, and no hooks; remove the "
    "hook (or the per-instance forward) before importing, or write its step in a forward"
)


#: torch's hooks that compute a weight, and the call that folds each into a plain weight
_FOLDS = {
    "WeightNorm": "torch.nn.utils.remove_weight_norm(module)",
    "SpectralNorm": "torch.nn.utils.remove_spectral_norm(module)",
}
_PARAMETRIZED_HINT = (
    "a spec states a layer's tensors as they are stored, not computed from others: import "
    "the model with a plain layer of the same settings in its place, its weight copied from "
    "the parametrized layer's `weight` (the value it computes); `remove_parametrizations` "
    "registers the weight after the bias, an order no layer kind builds"
)


def parametrized_problem(name: str, module: nn.Module, where: Any) -> Diagnostic | None:
    """E904 for a module whose tensors a parametrization computes (weight_norm's and
    spectral_norm's `parametrizations.weight.original0`), at `where`; None for any other."""
    from torch.nn.utils import parametrize

    if not parametrize.is_parametrized(module):
        return None
    held = getattr(module, "parametrizations", {})
    what = ", ".join(
        f"`{tensor}` by {'/'.join(type(p).__name__ for p in held[tensor])}" for tensor in held
    )
    message = f"{_label(name, module)} is parametrized ({what})"
    return diagnostic("E904", message, where or span_of_class(type(module)), _PARAMETRIZED_HINT)


def _what(hook: Any) -> str:
    """A hook as a message names it: torch's weight norm, a function's name, a class's."""
    name = getattr(hook, "__qualname__", None) or type(hook).__qualname__
    return f" ({getattr(hook, '__module__', None) or type(hook).__module__}.{name})"


def _span_of(fn: Any) -> SourceSpan | None:
    target = inspect.unwrap(getattr(fn, "__func__", fn))
    try:
        path = inspect.getsourcefile(target)
        line = target.__code__.co_firstlineno
    except (TypeError, AttributeError, OSError):
        return None
    return SourceSpan(path, line, 1) if path else None


def _label(name: str, module: nn.Module) -> str:
    return f"`{name}` ({describe(type(module))})" if name else describe(type(module))


def _holder_span(model: nn.Module, name: str) -> SourceSpan | None:
    """The class statement of the innermost module holding `name` whose class is not
    torch's: where a hook object of torch's own (weight norm's) was put on a torch layer
    (`self.conv1 = weight_norm(nn.Conv1d(...))` in the user's block), not torch's source."""
    parts = name.split(".")
    for k in range(len(parts), -1, -1):
        holder = model.get_submodule(".".join(parts[:k]))
        if not type(holder).__module__.startswith("torch."):
            return span_of_class(type(holder))
    return None


def hook_problems(model: nn.Module) -> list[Diagnostic]:
    """An E904 for every hook and per-instance forward in `model`."""
    from torch.nn.modules import module as torch_module

    diags: list[Diagnostic] = []
    for name, module in model.named_modules():
        for attr, what in _KINDS:
            for hook in (getattr(module, attr, None) or {}).values():
                span = _span_of(hook) or _holder_span(model, name) or span_of_class(type(module))
                message = f"{_label(name, module)} has a {what}{_what(hook)}"
                fold = _FOLDS.get(type(hook).__name__, "")
                hint = _HINT + (f" (this one folds into the weight: `{fold}`)" if fold else "")
                diags.append(diagnostic("E904", message, span, hint))
        if "forward" in vars(module) and own_method_forward(module) is None:
            span = _span_of(vars(module)["forward"]) or span_of_class(type(module))
            message = f"{_label(name, module)} has a forward of its own instance"
            diags.append(diagnostic("E904", message, span, _HINT))
    for attr, what in (
        ("_global_forward_pre_hooks", "forward pre-hook"),
        ("_global_forward_hooks", "forward hook"),
    ):
        for hook in (getattr(torch_module, attr, None) or {}).values():
            message = f"torch has a global module {what} (every module's output changes)"
            diags.append(diagnostic("E904", message, _span_of(hook), _HINT))
    return diags
