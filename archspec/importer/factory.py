"""`MODULE_PATH:FACTORY`: the model a user names, built on the meta device.

Importing a factory runs Python code the user names, as `--plugins` does: it is the user's
explicit choice on the command line or in a call, never something a spec can ask for.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import re
import reprlib
import stat
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ImportFailure, LoadError, exception_said, exception_text
from ..limits import MAX_TENSOR_ELEMENTS
from ..loader import load_yaml
from ..specbytes import note_imported, note_read

#: `module.path:factory` or `file.py:factory`: Python's identifiers, Unicode ones included
#: (`nets:Réseau`, which the ASCII-only pattern called "not MODULE_PATH:FACTORY").
_PATH = re.compile(r"^(?:[^\W\d][\w.]*|.+\.py):[^\W\d][\w.]*$")
_HINT = (
    "name a factory as MODULE_PATH:FACTORY (torchvision.models:resnet50) or FILE.py:FACTORY "
    "(nets/mynet.py:Net)"
)


def spec_name(path: str, name: str | None) -> str:
    """The name an import of `path` gives its spec: `name`, checked before any model is
    built (E901: it is written into the spec and names the output file), or the factory's."""
    if name is None:
        return path.rpartition(":")[2].rpartition(".")[2]
    from ..ops.names import check_name

    try:
        check_name(name)
    except ValueError as exc:
        raise ImportFailure(
            str(exc), hint="--name is the spec's name: an identifier", code="E901"
        ) from None
    return name


def _fail(message: str, hint: str = _HINT) -> ImportFailure:
    return ImportFailure(message, hint=hint, code="E901")


def parse_args(args: Sequence[str]) -> dict[str, Any]:
    """`key=value` texts as keyword arguments; values read as YAML (`10`, `true`, `[1, 2]`)
    by the spec loader, so within its limits (no tags, no alias bombs or cycles, no integer
    of thousands of digits). A value that is not YAML stays text (`a: b: c`), unless it
    opens a YAML list, mapping, quote, anchor, alias or tag: `[1, *a]` or `[1, 2` meant a
    value, and passing its text instead is as wrong as the refused `&a [*a]`. A key given
    twice with two values is refused, not the last one taken silently."""
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise TypeError(f"args takes a list of `key=value` texts, got {type(args).__name__}")
    out: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for text in args:
        if not isinstance(text, str):
            raise TypeError(f"args takes `key=value` texts, got {type(text).__name__} {text!r}")
        key, sep, value = text.partition("=")
        if not sep or not key.isidentifier():
            raise _fail(f"argument {text!r} is not key=value", "pass --args num_classes=10")
        if key in seen and seen[key] != value:  # which one was meant is a guess: ask
            raise _fail(
                f"--args {key} is given twice ({seen[key]!r} and {value!r})", "give it once"
            )
        seen[key] = value
        if not value:
            out[key] = ""
            continue
        try:
            out[key] = load_yaml(value, f"--args {key}").data
        except LoadError as exc:
            first = exc.diagnostics[0]
            if not first.message.startswith("invalid YAML"):
                raise _fail(
                    f"--args {key}: {first.message[:200]}",
                    "pass a number, a boolean, text or a short list",
                ) from None
            if value.lstrip()[:1] in _OPENS_YAML:
                raise _fail(
                    f"--args {key}: {value[:60]!r} is not valid YAML "
                    f"({first.message.removeprefix('invalid YAML: ')[:120]})",
                    f"write a YAML value ([1, 2], {{a: 1}}), or quote it for text: --args "
                    f"\"{key}='...'\"",
                ) from None
            out[key] = value
    return out


#: The characters that open YAML syntax (a flow list or mapping, a quote, an anchor, an
#: alias, a tag, a block scalar, a directive): a value starting with one is meant as YAML.
_OPENS_YAML = frozenset("[{\"'&*!|>%")


def build_factory(path: str, kwargs: dict[str, Any], cpu: bool = False) -> Any:
    """Import `module:factory`, call it with `kwargs` on the meta device (`cpu`: on the CPU,
    for a forward that makes CPU tensors: `forward_needs_cpu`), return the module."""
    import torch.nn as nn

    if not isinstance(path, str) or not _PATH.match(path):
        raise _fail(f"{path!r} is not MODULE_PATH:FACTORY")
    module_name, _, attr = path.rpartition(":")
    before = set(sys.modules)
    try:
        target: Any = _import(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # exit(), GeneratorExit...: the user's code says so, located
        raise _fail(
            f"cannot import {module_name!r}: {exception_said(exc)}",
            "check the module path, and that it is importable from here (the current "
            "directory or PYTHONPATH), or name its file (nets/mynet.py:Net)",
        ) from None
    _note_source(target)
    for part in unicodedata.normalize("NFKC", attr).split("."):  # as Python's parser reads
        # a name (a class written with a black-letter H defines `H`)
        if not hasattr(target, part):
            raise _fail(f"{module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise _fail(f"{path} is not callable")
    _note_source(target)
    try:
        model = target(**kwargs) if cpu else _built(target, kwargs)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        texts = [k for k, v in kwargs.items() if isinstance(v, str) and v == "None"]
        python = (
            f"; --args values are YAML, where `None` is text: write {texts[0]}=null for "
            "Python's None"
            if texts
            else ""
        )
        raise _fail(
            f"{path}({', '.join(f'{k}={reprlib.repr(v)}' for k, v in kwargs.items())}) raised "
            f"{exception_said(exc)[:300]}",
            "check the factory's arguments (--args key=value)" + python,
        ) from None
    if not isinstance(model, nn.Module):
        raise _fail(f"{path} returned {type(model).__name__}, not an nn.Module")
    note_imported(before)  # the modules its file imports (helper.py beside it) are inputs
    return model


def _built(target: Any, kwargs: dict[str, Any]) -> Any:
    """`target(**kwargs)` on the meta device; a constructor that meta tensors cannot serve
    runs on the CPU, its parameters on meta as they are registered; one that writes CPU
    tensors into its parameters (EDSR's `MeanShift`: `self.weight.data = torch.eye(3)...`
    after `torch.Tensor(rgb_std)`, which is a CPU tensor under any device) runs on the CPU.
    Every module it returns ends on the meta device."""
    import torch
    import torch.nn as nn

    try:
        with torch.device("meta"):
            return target(**kwargs)
    except (NotImplementedError, RuntimeError) as exc:
        if not _READS_VALUES.search(exception_text(exc)):
            raise
    try:
        # the constructor computes with tensors' values (torchvision's RegNets derive
        # their widths from a torch.arange): it runs on the CPU, its parameters on meta
        with _parameters_on_meta():
            model = target(**kwargs)
    except RuntimeError as exc:
        if not _SETS_DATA.search(exception_text(exc)):
            raise
        model = target(**kwargs)  # `param.data = cpu_tensor` needs a CPU parameter
    if isinstance(model, nn.Module):  # its buffers too
        model.to("meta")
    return model


def _note_source(obj: Any) -> None:
    """The Python file `obj` (a module, a factory) comes from is an input of the command:
    `-o` never replaces it (specbytes.recording_reads)."""
    import inspect

    with contextlib.suppress(TypeError, OSError):
        source = inspect.getsourcefile(obj)
        if source is not None:
            note_read(source)


def _import(name: str) -> Any:
    """The module `name` names: a `.py` file by its path, else a module importable from the
    current directory, as `python -m` finds one (the directory appended to sys.path, so it
    shadows nothing installed, while the module is imported). A file runs as the module of
    its stem (`nets/mynet.py` as `mynet`, unless another module holds that name), its folder
    on sys.path while it is imported, so it may import the modules beside it."""
    if not name.endswith(".py"):
        with _on_path(os.getcwd()):
            return importlib.import_module(name)
    real = os.path.realpath(name)
    if not stat.S_ISREG(os.stat(real).st_mode):  # a FIFO or a device is never opened
        raise OSError(f"{name} is not a regular file")
    stem = Path(real).stem
    known = sys.modules.get(stem)
    if known is not None and os.path.realpath(getattr(known, "__file__", "") or "") == real:
        return known
    module_name = stem if stem.isidentifier() and known is None else _file_module(real)
    spec = importlib.util.spec_from_file_location(module_name, real)
    if spec is None or spec.loader is None:  # pragma: no cover  (a .py path always has one)
        raise ImportError(f"{name} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # torch.fx and inspect look classes up there
    try:
        with _on_path(os.path.dirname(real)):
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _file_module(real: str) -> str:
    """A module name of its own for a file whose stem is taken or no identifier."""
    import hashlib

    stem = re.sub(r"\W", "_", Path(real).stem, flags=re.ASCII)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"archspec_factory_{stem}_{digest}"


@contextmanager
def _on_path(folder: str) -> Iterator[None]:
    """`folder` at the end of sys.path while the block runs, when it is not there already."""
    added = folder not in sys.path
    if added:
        sys.path.append(folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


#: torch's words for reading the values of a meta tensor (`.item()`, `.tolist()`, `int(t)`).
#: and for a CPU tensor met on meta (`torch.Tensor([...])` ignores the default device).
_READS_VALUES = re.compile(
    r"Cannot copy out of meta tensor|cannot be called on meta tensors"
    r"|Tensor on device cpu is not on the expected device meta"
    r"|Expected all tensors to be on the same device"
)
#: torch's words for `param.data = t` of a meta parameter and a CPU tensor.
_SETS_DATA = re.compile(r"`variable` and `tensor` have incompatible tensor type")


@contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Each parameter moved to the meta device as its module registers it, before any
    initialisation writes it: only the constructor's own arithmetic takes memory (as
    accelerate's `init_empty_weights` does)."""
    import torch.nn as nn

    register = nn.Module.register_parameter

    def on_meta(module: nn.Module, name: str, param: Any) -> None:
        register(module, name, param)
        if param is not None:
            kept = module._parameters[name]
            assert kept is not None
            kind, extra = type(kept), dict(kept.__dict__)
            extra["requires_grad"] = kept.requires_grad
            module._parameters[name] = kind(kept.to("meta"), **extra)

    nn.Module.register_parameter = on_meta  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = register  # type: ignore[method-assign]


def forward_needs_cpu(model: Any, example: Any) -> Any:
    """The example input on the CPU (zeros) when `model`, on the meta device, does not run
    on `example` because its forward makes a tensor on the CPU (PointNet's `torch.eye(3)`,
    ENet's `torch.zeros(n, c, h, w)` without a device), which no meta tensor can meet: the
    model is then built on the CPU. None when it runs, or fails for another reason (the
    import reports that)."""
    import torch

    from .modes import SeveralInputs, eval_forward

    try:
        with torch.no_grad():
            eval_forward(model, example)
    except Exception as exc:  # the model's own code: whatever it raises
        if _READS_VALUES.search(exception_text(exc)) and "cpu" in exception_text(exc):
            zeros = [torch.zeros(t.shape, dtype=t.dtype) for t in _tensors(example)]
            return SeveralInputs(zeros) if isinstance(example, SeveralInputs) else zeros[0]
    return None


def _tensors(example: Any) -> list[Any]:
    from .modes import SeveralInputs

    return list(example) if isinstance(example, SeveralInputs) else [example]


def example_input(shape: tuple[int, ...], dtype: str = "float32") -> Any:
    """The meta tensor a model is traced with (`dtype` float32, or int64 for token ids). A
    shape of more elements than a tensor can hold is E901 here; torch said "Storage size
    calculation overflowed" (an internal error)."""
    import torch

    if dtype not in ("float32", "int64"):
        raise _fail(
            f"the example input's dtype {dtype!r} is none a spec states",
            "give float32 (the default) or int64 (token ids an embedding looks up)",
        )
    if math.prod(shape) >= MAX_TENSOR_ELEMENTS:
        raise _fail(
            f"the example input {shape} has more elements than a tensor can hold (2**62)",
            "give a smaller --input, such as the default 1,3,224,224",
        )
    return torch.empty(*shape, device="meta", dtype=getattr(torch, dtype))


def example_inputs(given: Any, dtype: Any, shape_of: Callable[[Any], Any]) -> Any:
    """The example `import_factory` traces with: one tensor for a shape (`shape_of` reads
    it), or for a list of shapes (a forward of several tensors) one per shape, as
    `SeveralInputs`; `dtype` is one for all, or a list of one per input."""
    from .modes import SeveralInputs

    several = (
        isinstance(given, (list, tuple))
        and len(given) >= 2
        and all(isinstance(g, (list, tuple, str)) for g in given)
    )
    count = len(given) if several else 1
    if not isinstance(dtype, (str, list, tuple)):
        raise TypeError(
            f"input_dtype is a {type(dtype).__name__}: give a str, or a list of one per input"
        )
    dtypes = [dtype] * count if isinstance(dtype, str) else list(dtype)
    if len(dtypes) != count:
        raise _fail(
            f"{count} input shape{'s' if count > 1 else ''} and {len(dtypes)} dtypes were given",
            "give one dtype for all inputs, or one per input in the same order",
        )
    if not several:
        shape = shape_of(given)  # a shape's text ("1,4") as check's input= reads it
        if shape is None:
            raise TypeError("input must be a sequence of ints or text like '1,3,224,224', got None")
        return example_input(shape, dtypes[0])
    return SeveralInputs(example_input(shape_of(g), d) for g, d in zip(given, dtypes))
