"""Tensors of another dtype than torch's default: a spec states no dtype (its module is
built in the default one, float32), so a float64 or float16 model would be imported as a
float32 twin, silently less (or more) precise. The import refuses it and says how to go on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Diagnostic
from .where import describe, diagnostic, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


def _user_owner(model: nn.Module, key: str) -> nn.Module:
    """The innermost module on the way to `key` whose class is not torch's own, so the
    error points at the user's source (a torch Conv2d's class is not where a cast is)."""
    parts = key.split(".")[:-1]
    for end in range(len(parts), 0, -1):
        module = model.get_submodule(".".join(parts[:end]))
        if not type(module).__module__.startswith("torch."):
            return module
    return model


def dtype_problems(model: nn.Module) -> list[Diagnostic]:
    """An E904 naming, once per dtype, a floating or complex tensor whose dtype is not
    torch's default (integer buffers such as BatchNorm's counter are the spec's too)."""
    import torch

    default = torch.get_default_dtype()
    first: dict[torch.dtype, tuple[str, nn.Module]] = {}
    for owner_name, holder in model.named_modules():
        tensors = [*holder.named_parameters(recurse=False), *holder.named_buffers(recurse=False)]
        for name, tensor in tensors:
            if tensor is None or not (tensor.is_floating_point() or tensor.is_complex()):
                continue
            if tensor.dtype != default and tensor.dtype not in first:
                key = f"{owner_name}.{name}" if owner_name else name
                first[tensor.dtype] = (key, _user_owner(model, key))
    return [
        diagnostic(
            "E904",
            f"`{key}` is {str(dtype).removeprefix('torch.')} (in {describe(type(owner))}); a "
            f"spec states no dtype and compiles to torch's default, "
            f"{str(default).removeprefix('torch.')}",
            span_of_class(type(owner)),
            "import a copy in the default dtype (`copy.deepcopy(model).float()`), then convert "
            "the compiled module (`.double()`, `.half()`, `.to(dtype)`)",
        )
        for dtype, (key, owner) in first.items()
    ]
