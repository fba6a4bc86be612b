"""Handing a compiled model to the rest of the ecosystem: ONNX with a symbolic batch.

A compiled spec is a plain nn.Module, so `torch.export.export`, TorchScript and
DistributedDataParallel take it as they are; only ONNX needs extra packages, which live in
the `onnx` extra (`pip install 'archspec[onnx]'`). This module checks for them first, so
a missing package is a clear error rather than an ImportError from deep inside torch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ToolError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    import torch.nn as nn

#: What torch's ONNX exporter imports (the dynamo-based exporter needs onnxscript).
ONNX_PACKAGES = ("onnx", "onnxscript")


def require_onnx() -> None:
    """Raise ToolError naming the missing packages and the extra that installs them."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ToolError(
            f"ONNX export needs the {' and '.join(missing)} package"
            f"{'s' if len(missing) > 1 else ''}, which {'are' if len(missing) > 1 else 'is'} "
            "not installed",
            hint="pip install 'archspec[onnx]'",
        )


def export_onnx(
    model: nn.Module,
    example: torch.Tensor | Sequence[torch.Tensor],
    path: str | Path,
    *,
    dynamic_batch: bool = True,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    force: bool = False,
) -> Path:
    """Export `model` in eval mode to an ONNX file; the batch stays symbolic.

    A model left in training mode (`.eval()` forgotten) is exported as eval, as torch's
    TorchScript exporter did by default (`training=TrainingMode.EVAL`): a training graph
    (active dropout, batch statistics) is never what an ONNX runtime should serve, and a
    training forward would move BatchNorm's running statistics. Every module gets its own
    mode back afterwards, and the model's tensors are left as they were.

    `example` is one tensor, or for a network of several inputs (`inputs:`) a tuple of one
    per input, in forward's order; `input_names` defaults to `input` for one, and to the
    names forward takes for several (`z`, `label`), every input's batch one dim: dim 0, or
    where the spec's input names it (dim 1 of `[L, N, 32]`, recorded by compile and emit);
    `output_names` to the keys of a dict forward returns (`out`, `aux`), else torch's.
    The file is written as every archspec output is (archspec.files.write_atomic): whole or
    not at all, and an existing file is replaced only with `force` (E603 otherwise); so is
    the file of tensors torch keeps beside a model over 2 GB (`<path>.data`).

    >>> export_onnx(archspec.load("resnet18").eval(), torch.randn(1, 3, 224, 224),
    ...             "resnet18.onnx")  # doctest: +SKIP
    """
    require_onnx()
    import tempfile

    from .files import ONNX, check_target, write_atomic

    examples = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    with _in_eval_mode(model):
        program = _export(model, examples, input_names, output_names, dynamic_batch)
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        # named as the target: a model over 2 GB keeps its tensors in `<name>.data` beside
        # it, which the .onnx names by that name; every file saved is written, its tensors
        # first (the model never names a file not there yet), each by the one rule
        scratch = Path(tmp) / path.name
        program.save(scratch)
        beside = sorted(p for p in Path(tmp).iterdir() if p != scratch)
        for file in (*beside, scratch):  # refused before any is replaced
            check_target(path.parent / file.name, kind=ONNX, force=force)
        for file in (*beside, scratch):
            write_atomic(path.parent / file.name, file.read_bytes(), kind=ONNX, force=force)
    return path


@contextmanager
def _in_eval_mode(model: nn.Module) -> Iterator[None]:
    """`model` in eval mode, each module's own mode given back after (a frozen backbone kept
    in eval inside a model in training mode stays so)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def _export(
    model: nn.Module,
    examples: tuple[torch.Tensor, ...],
    input_names: Sequence[str] | None,
    output_names: Sequence[str] | None,
    dynamic_batch: bool,
) -> Any:
    """torch's ONNXProgram of `model` (in eval mode) on `examples`, its batch symbolic."""
    import inspect

    import torch

    if input_names is None:
        names = list(inspect.signature(model.forward).parameters)
        input_names = names if len(examples) > 1 and len(names) == len(examples) else ["input"]
    if output_names is None:  # a forward returning a dict (`outputs:` mapping): its keys
        output_names = _keys_of(model, examples)
    shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch")
        at = getattr(model, "_archspec_batch_dims", None)
        if not isinstance(at, tuple) or len(at) != len(examples):
            at = (0,) * len(examples)
        shapes = tuple({d: batch} for d in at)
    program = torch.onnx.export(
        model,
        examples,
        None,
        input_names=list(input_names),
        output_names=list(output_names) if output_names else None,
        dynamic_shapes=shapes,
        dynamo=True,
        verbose=False,
    )
    return program


def _keys_of(model: nn.Module, examples: tuple[torch.Tensor, ...]) -> list[str] | None:
    """The keys of the dict `model` returns on `examples` (torchvision's segmentation models,
    a spec whose `outputs:` is a mapping), which name the ONNX outputs; None otherwise."""
    from collections.abc import Mapping

    import torch

    with torch.no_grad():
        out = model(*examples)
    return [str(k) for k in out] if isinstance(out, Mapping) else None


__all__ = ["ONNX_PACKAGES", "export_onnx", "require_onnx"]
