"""`archspec import`: an existing PyTorch model as a spec (see docs/import.md).

The model is traced class by class with torch.fx (each child module kept as a call), leaf
modules are read back by their layer kinds, the instances of a class become one block with
params, and the result is checked like any spec. What has no exact equivalent is an
`ImportFailure` pointing at the Python source, never an approximation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import ArchSpecError, Diagnostic, ImportFailure, exception_text
from ..loader import MAX_DEPTH
from ..ops.names import check_name
from .headers import named_sizes
from .model import ascii_word, import_model
from .modes import SeveralInputs, eval_forward, kept_modes
from .render import render

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

    import torch
    import torch.nn as nn


def _snake(name: str) -> str:
    """The spec's default name from the class name; a name a spec cannot take (`Training`
    gives `training`, an nn.Module attribute) gets a prefix."""
    text = ascii_word(re.sub(r"\W", "_", name.lower()), 60).strip("_") or "imported"
    try:
        return check_name(text)
    except ValueError:
        return check_name("m_" + text.lstrip("_"))


def spec_text(model: nn.Module, example_input: torch.Tensor, name: str | None = None) -> str:
    """The YAML text of `model` (in eval mode: the graph an exported model runs)."""
    return _imported_text(model, example_input, name)


def _input_header(model: nn.Module, example_input: torch.Tensor) -> list[Any]:
    """The spec's `input:`: the example's sizes with its batch as `N`: the first size, or
    the second where the model's input reaches a layer that reads tokens sequence first
    (an nn.MultiheadAttention, alone or in a transformer layer, or an nn.LSTM, nn.GRU or
    nn.RNN built with batch_first=False, torch's default) with its first two sizes where
    they were (the tutorial's (L, N) ids
    embedded to (L, N, E)); an input permuted or reshaped first (an image's features made
    tokens, DETR's) keeps its batch first."""
    sizes: list[Any] = [int(d) for d in example_input.shape]
    reads = _sequence_first_read(model, example_input) if len(sizes) >= 2 else None
    lead = tuple(sizes[:2])
    seq_first = reads is not None and reads[:2] == lead and lead[0] != lead[1]
    sizes[1 if seq_first else 0] = "N"
    return sizes


def _sequence_first_read(model: nn.Module, example_input: torch.Tensor) -> tuple[int, ...] | None:
    """The sizes of what the first sequence-first layer the model calls reads, on the
    example input in eval mode; None without one (or when the run fails: the import says
    why)."""
    import torch.nn as nn

    from .modes import eval_forward

    kinds = (nn.MultiheadAttention, nn.LSTM, nn.GRU, nn.RNN)
    layers = [m for m in model.modules() if isinstance(m, kinds) and not m.batch_first]
    if not layers:
        return None
    seen: list[tuple[int, ...]] = []

    def record(module: nn.Module, args: tuple[Any, ...]) -> None:
        if not seen and args and hasattr(args[0], "shape"):
            seen.append(tuple(int(d) for d in args[0].shape))

    hooks = [m.register_forward_pre_hook(record) for m in layers]
    try:
        eval_forward(model, example_input.clone())
    except Exception:  # the model's own code: the import's own run reports it
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return seen[0] if seen else None


def _imported_text(model: nn.Module, example_input: torch.Tensor, name: str | None) -> str:
    """spec_text, its name checked."""
    if name is not None:
        try:
            check_name(name)
        except ValueError as exc:  # it is written into the spec's text as it is
            raise ImportFailure(
                str(exc), hint="--name is the spec's name: an identifier", code="E901"
            ) from None
    with kept_modes(model):
        model.eval()
        imported = import_model(model, example_input)
    several = isinstance(example_input, SeveralInputs)
    examples = list(example_input) if several else [example_input]
    dtypes = [str(t.dtype).removeprefix("torch.") for t in examples]
    if several:  # each input's shape, the batch N first
        shapes = [["N", *[int(d) for d in t.shape[1:]]] for t in examples]
    else:  # one: its batch may be second (a sequence-first model)
        shapes = [_input_header(model, example_input)]
    (shape, dtype), *more = zip(shapes, dtypes, strict=True)
    spec_name = name or _snake(type(model).__name__)
    text = render(imported, spec_name, shape, dtype, more)
    return _bounds_met(imported, named_sizes(imported, spec_name, text, shape, dtype, more))


def _bounds_met(imported: Any, text: str) -> str:
    """`text`, once its domain is seen to imply every assertion of the forward that bounds
    a size of the input (bounds.py); ImportFailure (E903) at the first it does not."""
    if not imported.bounds:
        return text
    from ..api import check
    from .bounds import unmet_bound

    report = check(text)
    if not report.ok:  # refused downstream, for its own reason
        return text
    unmet = unmet_bound(imported.bounds, report)
    if unmet is None:
        return text
    takes = report.domain_text or "sizes past it"
    raise ImportFailure(
        f"the forward asserts {unmet.text} of its input, and the imported spec does not bound "
        f"that size so ({takes}): no kind states such an assertion",
        span=unmet.span,
        hint="a spec bounds a size through its layers only (a table of positions, a "
        "`check_size`): remove the assertion from forward (or make it in a module that wraps "
        "the imported one)",
        code="E903",
    )


#: The limits of any spec an imported one can reach, and what each says of the model.
_SIZE_LIMITS = {
    "E104": "has more YAML nodes than a spec may",
    "E310": "lowers to more layers than a spec may",
}


def _refused(exc: ArchSpecError, model: nn.Module, example_input: torch.Tensor) -> NoReturn:
    """The imported spec does not compile: a shape error (E4xx) most often means an example
    input too small for the model, which the model itself then refuses too (said so, with
    torch's words, by `_model_refuses`); anything else is the importer's fault. Located at
    the model's class either way, never a traceback."""
    from .where import describe, span_of_class

    first = exc.diagnostics[0]
    cls = describe(type(model))
    if first.code in _SIZE_LIMITS:  # a model past what a spec holds: the model's size
        raise ImportFailure(
            f"{cls} is larger than a spec can be: its imported spec {_SIZE_LIMITS[first.code]}"
            f" ({first.message[:200]})",
            span=span_of_class(type(model)),
            hint="import a part of the model (one of its submodules), or fewer repeats of its "
            "layers; the limits keep any spec quick to read and check",
            code="E901",
        ) from None
    if first.code == "E315":  # a step of one mode only, as no spec can state it
        passing = "is pass_in_eval but" in first.message
        mode, mark = ("training", "pass_in_eval") if passing else ("eval", "eval_only")
        why = (
            "a pass_in_eval step passes its first input on in eval, so it keeps that input's shape"
            if passing
            else "an eval_only step passes its first input on in training, so it keeps that "
            "input's shape"
        )
        raise ImportFailure(
            f"{cls} takes a step in {mode} mode only that a spec's {mark} step "
            f"cannot state: {first.message[:300]}",
            span=span_of_class(type(model)),
            hint=why + ": take the step in both modes, or outside the model",
            code="E902",
        ) from None
    if first.code.startswith("E4"):
        _model_refuses(model, example_input, first.message)
        shape = _shape_text(example_input)
        message = f"the imported spec of {cls} refuses the example input ({shape}): "
        hint = "give an input the model accepts (--input)" + (
            _unbatched_note(model, example_input) or "; if the model runs on it, report this"
        )
    else:
        message = f"the imported spec of {cls} does not compile: "
        hint = "please report this model: the import should have refused it"
    raise ImportFailure(
        message + first.message[:300], span=span_of_class(type(model)), hint=hint, code="E904"
    ) from None


def _shape_text(example_input: Any) -> str:
    """The example input's sizes as messages write them: `1, 3, 224, 224` (several inputs:
    `1, 100; 1`)."""
    if isinstance(example_input, SeveralInputs):
        return "; ".join(map(_shape_text, example_input))
    return ", ".join(str(int(d)) for d in example_input.shape)


def _model_refuses(model: nn.Module, example_input: torch.Tensor, spec_says: str = "") -> None:
    """E904 when the model itself cannot run on the example input: the spec, whose first
    layers infer their widths from that input, then differs from the model (a generator's
    ConvTranspose2d(100, ...) under the default (1, 3, 224, 224)), and the input is at fault,
    not the import. Run only where the state_dicts already differ; on the meta device some
    kernels (transposed convolutions) do not check the channels, so the hint of the
    state_dict's difference names the example input too. Given what the spec's shape check
    says (`spec_says`), the model is run in training mode too: a child used in training only
    (Inception's AuxLogits) may refuse an input eval takes, which the spec then refuses."""
    from .modes import training_forward
    from .where import describe, span_of_class

    try:
        eval_forward(model, example_input)
    except Exception as exc:  # torch's refusal of the input, whatever its type
        raise ImportFailure(
            f"{describe(type(model))} refuses the example input ({_shape_text(example_input)}): "
            f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}",
            span=span_of_class(type(model)),
            hint="give an input the model accepts (--input, or example_input=)"
            + _lookup_note(model, example_input),
            code="E904",
        ) from None
    if not spec_says:
        return
    try:
        training_forward(model, example_input)
    except Exception as exc:
        raise ImportFailure(
            f"{describe(type(model))} refuses the example input ({_shape_text(example_input)}) "
            f"in training mode: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}; and so "
            f"does its imported spec: {spec_says[:200]}",
            span=span_of_class(type(model)),
            hint="a spec's input domain holds in both modes, as its module computes either: "
            "give an input the model accepts in training too (--input, or example_input=)",
            code="E904",
        ) from None


def _unbatched_note(model: nn.Module, example_input: Any) -> str:
    """What the hint says where the model also runs on the example input with a batch dim
    of 1 added (at dim 1 for a model whose layers read sequence first, else at dim 0): it
    took the input unbatched, as torch's attention and recurrent layers take (L, E), which
    no spec states; "" where it does not."""
    if isinstance(example_input, SeveralInputs) or example_input.dim() < 1:
        return ""
    seq_first = any(getattr(m, "batch_first", None) is False for m in model.modules())
    for dim in (1, 0) if seq_first else (0,):
        batched = example_input.unsqueeze(dim)
        try:
            eval_forward(model, batched)
        except Exception:  # not at this dim: the model refuses it
            continue
        sizes = ",".join(str(int(d)) for d in batched.shape)
        return (
            f"; the model runs on it and on ({sizes.replace(',', ', ')}), a batch of 1 added "
            f"at dim {dim}: a spec's input has a batch dim, which this one lacks if the model "
            "reads it unbatched (as torch's attention and recurrent layers read (L, E)), so "
            f"import it with one (--input {sizes}) and call the twin on batched inputs "
            f"(x.unsqueeze({dim}))"
        )
    return ""


def _lookup_note(model: nn.Module, example_input: torch.Tensor) -> str:
    """What the refusal's hint adds for a model that looks token ids up given a float input:
    `--input` makes a float tensor, and no float input is ids, so no input it gives would
    do (ids too few for its convs need no word on dtypes)."""
    import torch.nn as nn

    if not example_input.is_floating_point():
        return ""

    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding | nn.EmbeddingBag):
            return (
                f"; a model that looks token ids up (its {type(module).__name__} `{name}`) "
                "takes integers: give them as int64 (`--input-dtype int64`, or an int64 "
                "example_input=), which the spec states as `input_dtype: int64`"
            )
    return ""


#: How deep a model's modules may nest: its spec's YAML nests two levels for each (a layer's
#: mapping and its `layers:` list) below the document's two, at most MAX_DEPTH in all.
MAX_MODULE_DEPTH = (MAX_DEPTH - 2) // 2


def _check_arguments(model: Any, example_input: Any) -> Any:
    """from_module's arguments, said plainly rather than as an AttributeError deep inside;
    the example input as the import reads it (a tuple of two or more: SeveralInputs)."""
    import torch

    hint = (
        "call archspec.from_module(model, example_input): an nn.Module and one tensor (a "
        "tuple of one per input for a forward of several)"
    )
    if not isinstance(model, torch.nn.Module):
        raise ImportFailure(
            f"the model is a {type(model).__name__}, not an nn.Module", hint=hint, code="E901"
        )
    if isinstance(model, torch.jit.ScriptModule):
        raise ImportFailure(
            "the model is scripted (torch.jit): it has no Python forward to trace",
            hint="import the module before scripting it",
            code="E901",
        )
    if isinstance(example_input, Mapping):  # a forward of a dict: named tensors as inputs
        from .where import span_of_class

        named = [k for k in list(example_input)[:4] if isinstance(k, str) and k.isidentifier()]
        keys = ", ".join(k[:30] for k in named) or "a, b"
        raise ImportFailure(
            "the example input is a dict: a spec's network takes tensors, one per input",
            span=span_of_class(type(model)),
            hint="import a wrapper whose forward takes the tensors one by one and builds the "
            f"dict for the model (`def forward(self, {keys}): return self.model({{...}})`), "
            "given a tuple of one example per tensor: a child given a dict of tensors imports",
            code="E901",
        )
    if isinstance(example_input, (tuple, list)) and len(example_input) >= 2:
        for one in example_input:
            _check_example(one, hint)
        example_input = SeveralInputs(example_input)
    else:
        _check_example(example_input, hint)
    from .where import span_of_class

    if (deep := _too_deep(model)) is not None:
        raise ImportFailure(
            f"the model nests its modules more than {MAX_MODULE_DEPTH} levels deep (at "
            f"`{deep}`): a spec's YAML nests at most {MAX_DEPTH} levels, two for each module",
            span=span_of_class(type(model)),
            hint="import a part of the model, or hold its repeated modules side by side in "
            "an nn.Sequential or nn.ModuleList rather than each inside the one before",
            code="E901",
        )
    if (path := _module_cycle(model)) is not None:
        raise ImportFailure(
            f"the model holds itself: its child `{path}` is the module that holds it or one "
            "of that module's parents, so walking its modules never ends",
            span=span_of_class(type(model)),
            hint="a model is a tree (modules may be shared, never their own ancestors); "
            "keep the back reference out of the module's children (a plain attribute "
            "set with object.__setattr__, or a weakref)",
            code="E901",
        )
    if (found := _overridden_walk(model)) is not None:
        cls, method = found
        raise ImportFailure(
            f"{cls.__name__} overrides nn.Module.{method}: archspec reads a model's modules "
            "and tensors as torch lists them, and this class lists others",
            span=span_of_class(cls),
            hint=f"import a model whose classes keep nn.Module's {method} (register the "
            "modules and tensors it should list as attributes, and leave out the others)",
            code="E901",
        )
    return example_input


#: nn.Module's walks of its modules and tensors, which the importer reads the model through
_WALKS = (
    "named_modules",
    "modules",
    "named_children",
    "children",
    "named_parameters",
    "parameters",
    "named_buffers",
    "buffers",
)


def _overridden_walk(model: nn.Module) -> tuple[type, str] | None:
    """A class of the model's own modules (torch's wrappers keep the walks' contract) that
    overrides one of nn.Module's walks, and which: a model whose named_modules yielded other
    pairs (`("zz", 5)`) was an internal error."""
    import torch

    for _, _, module in _distinct_modules(model):
        cls = type(module)
        for method in () if cls.__module__.partition(".")[0] == "torch" else _WALKS:
            if getattr(cls, method, None) is not getattr(torch.nn.Module, method):
                return cls, method
    return None


def _module_cycle(model: nn.Module) -> str | None:
    """The dotted path of a child that is one of its own ancestors, else None: a depth-first
    walk of the module graph (iterative: the point is that a recursive one would not end)."""
    done: set[int] = set()
    open_: set[int] = {id(model)}
    stack = [(model, "", iter(model._modules.items()))]
    while stack:
        module, path, children = stack[-1]
        for key, child in children:
            if child is None or id(child) in done:
                continue
            where = f"{path}.{key}" if path else key
            if id(child) in open_:
                return where
            open_.add(id(child))
            stack.append((child, where, iter(child._modules.items())))
            break
        else:
            stack.pop()
            open_.discard(id(module))
            done.add(id(module))
    return None


def _check_example(example_input: Any, hint: str) -> None:
    """E901 unless `example_input` is one tensor with a batch dim, float or int64."""
    import torch

    if not isinstance(example_input, torch.Tensor) or example_input.dim() == 0:
        what = (
            "a 0-d tensor"
            if isinstance(example_input, torch.Tensor)
            else "a " + type(example_input).__name__
        )
        raise ImportFailure(
            f"the example input is {what}, not one tensor with a batch dim",
            hint=hint,
            code="E901",
        )
    if not example_input.is_floating_point() and example_input.dtype != torch.int64:
        dtype = str(example_input.dtype).removeprefix("torch.")
        raise ImportFailure(
            f"the example input is {dtype}: a spec's input is a float tensor or int64 "
            "indices (`input_dtype: int64`, token ids an nn.Embedding looks up)",
            hint="give the example input as float32, or as int64 (`.long()`) for indices",
            code="E901",
        )


def _too_deep(model: nn.Module) -> str | None:
    """The dotted path of a module nested more than MAX_MODULE_DEPTH levels below `model`,
    else None. Iterative: torch's own walk of 3,000 nested modules (named_modules) recursed
    past Python's limit, an internal error."""
    return next(
        (path for path, depth, _ in _distinct_modules(model) if depth > MAX_MODULE_DEPTH), None
    )


def _distinct_modules(model: nn.Module) -> Iterator[tuple[str, int, nn.Module]]:
    """(dotted path, depth, module) of `model` and of each distinct module below it, once
    each, without recursing (torch's named_modules recurses past Python's limit on a deep
    model); a module seen on the way is not entered again, so a cycle (`_module_cycle`'s to
    report) ends the walk too. Each is given as it is found, so a walk that stops early
    (a module too deep) never reads the rest."""
    yield "", 0, model
    seen = {id(model)}
    stack = [(model, "", 0)]
    while stack:
        module, path, depth = stack.pop()
        for key, child in module._modules.items():
            if child is None or id(child) in seen:
                continue
            where = f"{path}.{key}" if path else key
            yield where, depth + 1, child
            seen.add(id(child))
            stack.append((child, where, depth + 1))


def _state_dict_entries(module: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


def _kept_generators(example_input: torch.Tensor) -> Any:
    """torch's CPU generator (and the example input's GPU's) as they were, after the block:
    an import runs the model and builds its spec, which draw from them, and leaves the
    caller's random state where it found it."""
    import torch

    device = getattr(example_input, "device", None)
    gpus = [device] if device is not None and device.type == "cuda" else []
    return torch.random.fork_rng(devices=gpus)


def verified_text(model: nn.Module, example_input: torch.Tensor, name: str | None = None) -> str:
    """`spec_text`, and the spec compiled has the model's state_dict keys, shapes and order
    and computes its eval outputs on the example input (outputs.check_outputs), or
    ImportFailure (E904) says where they part.

    The model's own methods (an overridden `state_dict`, `named_modules`, ...) run while it
    is read: an exception raised in the model's code, rather than archspec's, is E904 at
    the line of the model's source that raised it, not an internal error."""
    from .where import describe, model_code_span

    example_input = _check_arguments(model, example_input)
    try:
        with _kept_generators(example_input):  # its runs and builds draw random numbers
            return _verified_text(model, example_input, name)
    except (ArchSpecError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # SystemExit too: `sys.exit()` in forward ended archspec
        span = model_code_span(exc.__traceback__)
        if span is None:
            raise
        from .where import first_line, source_lines

        said = first_line(exc)[:200] if exception_text(exc).strip() else "(no message)"
        diag = Diagnostic(
            "E904",
            f"{describe(type(model))}'s own code raised {type(exc).__name__} while archspec "
            f"read the model: {said}",
            span,
            "archspec reads a model through torch's nn.Module API (state_dict, "
            "named_modules, forward); make those work on the meta device",
        )
        raise ImportFailure(diagnostics=[diag], sources=source_lines([diag])) from None


def _verified_text(model: nn.Module, example_input: torch.Tensor, name: str | None) -> str:
    from ..api import compile as compile_spec
    from .dtypes import dtype_problems
    from .hooks import hook_problems
    from .outputs import check_outputs
    from .tying import shared_tensor_problems, untied_problems
    from .where import source_lines, span_of_class

    # what no spec states, all listed at once: hooks, tied tensors, another dtype
    problems = [*hook_problems(model), *shared_tensor_problems(model), *dtype_problems(model)]
    if problems:
        raise ImportFailure(diagnostics=problems, sources=source_lines(problems))
    text = _imported_text(model, example_input, name)
    try:
        built = compile_spec(text, device="meta", max_params=None, max_activations=None)
    except ArchSpecError as exc:
        first = exc.diagnostics[0]
        if first.code in ("E305", "E316") and first.message.startswith("`tied:`"):
            untied = untied_problems(model, first.message)
            raise ImportFailure(diagnostics=untied, sources=source_lines(untied)) from None
        _refused(exc, model, example_input)
    ours, theirs = _state_dict_entries(built), _state_dict_entries(model)
    if ours != theirs:
        at = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
            min(len(ours), len(theirs)),
        )
        mine = ours[at] if at < len(ours) else "nothing"
        want = theirs[at] if at < len(theirs) else "nothing"
        _model_refuses(model, example_input)
        shape = _shape_text(example_input)
        raise ImportFailure(
            f"the imported spec's state_dict differs from the model's at entry {at}: "
            f"{mine} where the model has {want}",
            span=span_of_class(type(model)),
            hint=f"the spec infers every layer's input width from the example input ({shape}):"
            " give the shape the model takes (--input); if the model runs on this input, "
            "please report it",
            code="E904",
        )
    check_outputs(model, text, example_input)
    return text
