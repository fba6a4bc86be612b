"""Why a module's summary failed, in words: the errors `archspec.modsummary` raises and
the hint each gives from what the forward raised (split from modsummary.py, which imports
torch; this module does not).

A forward that raises SystemExit (`sys.exit()` in it, an argument parser run by accident) is
one more failure of the forward, reported as such; KeyboardInterrupt is not: Ctrl-C during a
summary stops it as it stops anything else. A model nested deeper than Python's recursion
limit lets torch walk (named_modules, train(), the forward's nested calls all recurse) is
said in those terms, with the depth and the module found iteratively, not as a RecursionError
or a forward "calling itself without end".
"""

from __future__ import annotations

import re
import sys
from typing import Any

from .errors import exception_text


class ModuleSummaryError(RuntimeError):
    """The module's forward cannot run on meta tensors (data-dependent code, a wrong input)."""


class DtypeMismatch(RuntimeError):
    """A matrix product or convolution of tensors of two dtypes, which torch's CPU and CUDA
    kernels refuse and its meta kernels let pass (a float16 model given float32 inputs)."""


#: torch's own words for a float tensor where indices go (nn.Embedding, gather, index_select).
_INDEX_TEXT = re.compile(r"scalar types?: Long|expected .*index.* to have .*(Long|Int)", re.I)
#: torch's words for reading a meta tensor's values or copying them off the device.
_VALUES_TEXT = re.compile(
    r"Cannot copy out of meta tensor|cannot be called on meta tensors"
    r"|meta device type tensor to numpy"
)
#: torch's own words for operands of two dtypes, where its meta kernels check them.
_DTYPE_TEXT = re.compile(r"type .* should be the same|the same dtype|expected scalar type", re.I)


def failure_hint(exc: BaseException, misfit: str | None = None) -> str:
    """What most likely stopped a forward on meta tensors, from torch's exception."""
    if misfit is not None:
        return (
            f"{misfit}; input_size= gives one positional tensor per shape (a list of shapes "
            "for several), input_data= a list of the positional arguments (`[batch]` for one "
            "dict argument) or a dict of the keyword ones"
        )
    if isinstance(exc, DtypeMismatch) or _DTYPE_TEXT.search(exception_text(exc)):
        return (
            "give inputs of the dtype of the model's weights: dtypes=[torch.float16] for a "
            "half-precision model (float32 by default), or convert the model with .float()"
        )
    text = exception_text(exc)
    if _INDEX_TEXT.search(text):
        return (
            "this input is read as indices (an nn.Embedding's, a gather's): give it an integer "
            "dtype, dtypes=[torch.long] (float32 by default), or input_data= a LongTensor"
        )
    if "more than 1 value per channel" in text:
        return (
            "a batch of 2, or mode='eval': batch norm in train mode needs more than one value "
            "per channel"
        )
    if isinstance(exc, SystemExit):
        return (
            "the forward ends the program (sys.exit(), exit(), a library's argument parser): "
            "a forward that cannot go on should raise an exception instead"
        )
    if isinstance(exc, RecursionError):
        return (
            "the forward calls itself without end, or a module holds itself among its "
            "submodules (a cycle, which model.train() and .eval() cannot walk either)"
        )
    if _VALUES_TEXT.search(text):
        return (
            "the forward reads tensor values (.item(), .tolist(), .numpy(), print(x), "
            "a branch on a tensor) or copies them off the device (.cpu(), .to('cpu')): meta "
            "tensors hold none, so such a forward cannot be summarised without data"
        )
    if "device meta" in text or "meta device" in text:
        return (
            "the forward makes a tensor on a device of its own (torch.zeros(...) without "
            "device=x.device, .cpu(), .cuda()), which cannot meet meta tensors"
        )
    if isinstance(exc, NotImplementedError):
        return (
            "an operator whose output shape depends on tensor values (nonzero, masking: "
            "detection models' box selection) or that has no meta implementation (quantized "
            "or custom operators) cannot run without data; summarise the parts before it "
            "(a detection model's .backbone)"
        )
    return (
        "the error is the forward's own, on inputs of these shapes and dtypes: check them "
        "against what the forward expects; a forward that reads tensor values (.item(), "
        ".tolist()) cannot be summarised without data"
    )


#: A model nesting its modules at least this deep whose summary meets a RecursionError met it
#: by its depth (torchvision's and timm's models nest fewer than 10 levels).
DEEP_MODEL = 100


def too_deep(model: Any) -> ModuleSummaryError | None:
    """The error for a RecursionError met summarising `model`, when `model` nests its modules
    at least DEEP_MODEL levels deep (found without recursing); None otherwise."""
    depth, path = deepest_module(model)
    if depth < DEEP_MODEL:
        return None
    shown = path if len(path) <= 120 else f"{path[:50]}...{path[-50:]}"
    return ModuleSummaryError(
        f"{type(model).__name__} nests its modules {depth:,} levels deep (at `{shown}`): "
        "torch walks a model's modules and runs its forward by recursion, a Python call or "
        f"more per level, past Python's recursion limit ({sys.getrecursionlimit():,}); "
        "summarise a part of the model nested less deep, or hold repeated modules side by "
        "side (an nn.Sequential or nn.ModuleList) rather than each inside the one before"
    )


def deepest_module(model: Any) -> tuple[int, str]:
    """How deep `model`'s deepest module nests below it, and its dotted path; walked with a
    stack of its own (each distinct module once, so a cycle ends the walk too)."""
    best = (0, "")
    seen = {id(model)}
    stack = [(model, "", 0)]
    while stack:
        module, path, depth = stack.pop()
        if depth > best[0]:
            best = (depth, path)
        for key, child in module._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
    return best
