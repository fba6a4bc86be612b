"""Where in the user's Python source a problem is: a forward statement or a class."""

from __future__ import annotations

import inspect
import io
import itertools
import os
import re
import tokenize
import traceback
from operator import getitem
from types import TracebackType
from typing import Any

from ..errors import Diagnostic, SourceSpan, exception_text
from .calls import attribute_read

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _torch_dir() -> str:
    import torch

    return os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


def _ours(path: str) -> bool:
    """A frame of the user's code (not torch's machinery, not archspec's importer)."""
    full = os.path.abspath(path)
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    return not (full.startswith(_torch_dir()) or full.startswith(here))


def span_from_stack(stack_trace: str | None) -> SourceSpan | None:
    """The innermost user frame of an fx node's recorded stack (`node.stack_trace`)."""
    frames = [m for m in _FRAME.finditer(stack_trace or "") if _ours(m.group(1))]
    if not frames:
        return None
    last = frames[-1]
    return SourceSpan(last.group(1), int(last.group(2)), 1)


def span_from_traceback(tb: TracebackType | None) -> SourceSpan | None:
    """The innermost user frame of an exception raised while tracing."""
    frames = [f for f in traceback.extract_tb(tb) if _ours(f.filename)]
    if not frames:
        return None
    return SourceSpan(frames[-1].filename, frames[-1].lineno or 1, 1)


def model_code_span(tb: TracebackType | None) -> SourceSpan | None:
    """Where an exception came from the model's own code: the innermost frame outside torch
    (torch's frames are skipped, a model's method often fails through them), when it is
    neither archspec's nor the standard library's; None when archspec raised it (a bug)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    stdlib = os.path.dirname(os.path.abspath(os.__file__)) + os.sep
    for frame in reversed(traceback.extract_tb(tb)):
        full = os.path.abspath(frame.filename)
        if full.startswith(_torch_dir()):
            continue
        if full.startswith(package) or full.startswith(stdlib) or frame.filename.startswith("<"):
            return None
        return SourceSpan(frame.filename, frame.lineno or 1, 1)
    return None


def span_of_class(cls: type) -> SourceSpan | None:
    """The `class` statement of a module class, when its source is known; for a class made
    at run time (torch's `ParametrizedLinear`), that of the first base written in a file."""
    for klass in cls.__mro__:
        try:
            path = inspect.getsourcefile(klass)
            _, line = inspect.getsourcelines(klass)
        except (OSError, TypeError):
            continue
        if path:
            return SourceSpan(path, max(1, line), 1)
    return None


def span_of_node(node: Any, cls: type) -> SourceSpan | None:
    """Where an fx node of a `cls` module's forward comes from: its recorded stack; for an
    attribute read (`y.mT`), which fx records only once the value is used, after forward's
    frame is gone, the first `.name` in `cls`'s forward (or else its class body); else
    the class statement."""
    span = span_from_stack(getattr(node, "stack_trace", None))
    name = attribute_read(getattr(node, "target", None), getattr(node, "args", ()))
    if span is None and name is not None:
        span = _attribute_span(getattr(cls, "forward", None), name) or _attribute_span(cls, name)
    return span or span_of_class(cls)


def _attribute_span(code: Any, name: str) -> SourceSpan | None:
    """The first `.name` in the source of `code` (a function or class), at its column."""
    try:
        path = inspect.getsourcefile(code)
        lines, start = inspect.getsourcelines(code)
        tokens = list(tokenize.generate_tokens(io.StringIO("".join(lines)).readline))
    except (OSError, TypeError, SyntaxError, tokenize.TokenError):
        return None
    for dot, word in itertools.pairwise(tokens):
        if dot.string == "." and word.type == tokenize.NAME and word.string == name and path:
            return SourceSpan(path, max(1, start) + word.start[0] - 1, word.start[1] + 1)
    return None


def key_span(key: str, owner: type | None) -> SourceSpan | None:
    """Where the module class `owner` (or a base of it written outside torch) registers a
    child under `key`: the first string literal equal to it (`self.add_module("a b", ...)`),
    else an assignment to an attribute of that name (`self.ω = ...`), else the first argument
    of its first `add_module(` or `register_module(` call (a key it computes); None when none
    is found."""
    import ast

    for klass in owner.__mro__ if owner is not None else ():
        try:
            path = inspect.getsourcefile(klass)
            lines, start = inspect.getsourcelines(klass)
            tokens = list(tokenize.generate_tokens(io.StringIO("".join(lines)).readline))
        except (OSError, TypeError, SyntaxError, tokenize.TokenError):
            continue
        if not path or not _ours(path):
            continue
        strings = (t for t in tokens if t.type == tokenize.STRING)
        literal = (t for t in strings if _literal(ast, t.string) == key)
        assigned = (  # `self.ω = ...`: a key that is an identifier, if not ASCII
            c
            for a, b, c, d in zip(tokens, tokens[1:], tokens[2:], tokens[3:], strict=False)
            if b.string == "." and c.string == key and d.string == "=" and a.type == tokenize.NAME
        )
        calls = (
            c
            for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False)
            if a.string in ("add_module", "register_module") and b.string == "("
        )
        found = next(literal, None) or next(assigned, None) or next(calls, None)
        if found is not None:
            return SourceSpan(path, max(1, start) + found.start[0] - 1, found.start[1] + 1)
    return None


def _literal(ast: Any, text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


#: How to go on when a forward reaches inside one of its children.
INSIDE_HINT = (
    "a spec's items are a module's own children, each called as a whole: call the child "
    "itself (`down(y)`, not `down.forward(y)`), or import a quantizable model before "
    "`prepare` adds observers"
)


def inside_child(module: Any, target: str) -> tuple[str, str]:
    """What a forward does when fx records a call of `self.a.b`, and the hint: it called an
    entry of a container inside the child `a` (container_entry), a grandchild, or a method of
    the child `a` other than its forward that calls `b`."""
    entry = container_entry(module, target)
    if entry is not None:
        return entry, CONTAINER_HINT
    child = target.split(".", 1)[0]
    return (
        f"reaches `self.{target}` inside its child `self.{child}`: it calls a grandchild "
        f"directly, a module's `forward` by name (`down.forward(y)`, whose steps fx records "
        f"as the caller's), or a method of `self.{child}` other than its forward "
        "(quantization's FloatFunctional `.add` runs its `activation_post_process`)",
        INSIDE_HINT,
    )


#: How to go on when a forward calls an entry of a container inside one of its children.
CONTAINER_HINT = (
    "a spec's items are a module's own children, each called as a whole: hold the modules "
    "one item uses in a class of its own (an nn.Module whose forward calls them, a block) and "
    "call the item"
)


def container_entry(module: Any, target: str) -> str | None:
    """What a forward does when fx records a call of `self.blocks.0.attn` and `blocks.0` is
    an nn.ModuleDict or nn.ModuleList (a list of dicts walked in a loop, `blk["attn"](x)`),
    as words: the entry as the forward indexes it; None when the call's holder is no such
    container, or is the module's own child (lists.py reads those)."""
    import torch.nn as nn

    parts = target.split(".")
    if len(parts) < 3:
        return None
    holder = module.get_submodule(".".join(parts[:-1]))
    if not isinstance(holder, nn.ModuleList | nn.ModuleDict):
        return None
    shown, at = f"self.{parts[0]}", getattr(module, parts[0])
    for part in parts[1:]:  # as the forward indexes it: `self.stages[0][1]`, `blk["attn"]`
        if isinstance(at, nn.ModuleDict):
            shown += f'["{part}"]'
        elif isinstance(at, nn.ModuleList | nn.Sequential) and part.isdigit():
            shown += f"[{part}]"
        else:
            shown += f".{part}"
        at = at.get_submodule(part)
    return (
        f"calls `{shown}`, an entry of the {type(holder).__name__} inside its child "
        f"`self.{parts[0]}`"
    )


#: How much of a class's name messages and an imported spec's description quote.
DESCRIBE_LIMIT = 200


def describe(cls: type) -> str:
    """`module.QualName` as messages and the imported spec's description name a class, cut
    to DESCRIBE_LIMIT characters: type() takes a name of any length, and a description past
    the schema's 10,000 characters made the import fail as if the importer had."""
    text = f"{cls.__module__}.{cls.__qualname__}"
    return text if len(text) <= DESCRIBE_LIMIT else text[: DESCRIBE_LIMIT - 3] + "..."


def first_line(exc: BaseException) -> str:
    """An exception's message as a diagnostic quotes it: its first line, else its type."""
    return (exception_text(exc).strip().splitlines() or [type(exc).__name__])[0]


def short_repr(module: Any) -> str:
    """A module's repr as a message quotes it: its first line, at most 80 characters."""
    text = repr(module).splitlines()[0]
    text = text + "...)" if text.endswith("(") else text  # `MultiheadAttention(` and children
    return text if len(text) <= 80 else text[:77] + "..."


def diagnostic(code: str, message: str, span: SourceSpan | None, hint: str) -> Diagnostic:
    return Diagnostic(code, message, span, hint)


def source_lines(diags: list[Diagnostic]) -> dict[str, str]:
    """The text of every file the diagnostics point at, so their lines are quoted."""
    out: dict[str, Any] = {}
    for d in diags:
        path = d.span.file if d.span else None
        if path and path not in out and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as fh:
                    out[path] = fh.read()
            except (OSError, UnicodeDecodeError):
                continue
    return out


#: The hint of a test of two tensors' sizes (aladdinpersson's U-Net: `if x.shape !=
#: skip_connection.shape: x = TF.resize(x, size=skip_connection.shape[2:])`).
_RESIZE_HINT = (
    "a spec states a fixed graph, and a test of two tensors' sizes has no one answer for "
    "every input; where it guards a resize of one to the other's size, resize always: "
    "`F.interpolate(x, size=skip.shape[2:])` leaves a map of that size as it is, and "
    "imports as an `interpolate_as`"
)


def _shape_of(node: Any) -> Any:
    """The tensor whose shape `node` reads (`x.shape`, `x.size()`, a slice of either)."""
    import operator

    if getattr(node, "op", None) == "call_method" and node.target == "size" and not node.kwargs:
        return node.args[0] if len(node.args) == 1 else None
    if getattr(node, "op", None) != "call_function" or len(node.args) != 2:
        return None
    if node.target is getattr and node.args[1] == "shape":
        return node.args[0]
    if node.target is operator.getitem and isinstance(node.args[1], slice):
        return _shape_of(node.args[0])
    return None


def _compares_shapes(node: Any) -> bool:
    """Whether the condition `node` compares the shapes of two tensors (`x.shape != y.shape`,
    `x.shape[2:] == y.size()[2:]`)."""
    import operator

    if getattr(node, "op", None) != "call_function" or node.target not in (
        operator.eq,
        operator.ne,
    ):
        return False
    tensors = [_shape_of(a) for a in node.args]
    return len(tensors) == 2 and None not in tensors and tensors[0] is not tensors[1]


def _iterated_call(exc: BaseException) -> str | None:
    """The child whose returned value a failed iteration walked, read off the traceback:
    the proxy fx refused to iterate, back through `[i]` and `.items()` reads, to a child's
    call; None when it is no child's result (a tensor, a size)."""
    tb = exc.__traceback__
    while tb is not None:
        for value in (tb.tb_frame.f_locals.get(k) for k in ("obj", "self")):
            node = getattr(value, "node", None) if type(value).__name__ == "Proxy" else None
            while _read_of_result(node):
                node = node.args[0]
            if getattr(node, "op", None) == "call_module":
                return str(node.target)
        tb = tb.tb_next
    return None


def _read_of_result(node: Any) -> bool:
    """Whether an fx node reads part of another's result: `out[i]`, `feats.items()`."""
    op = getattr(node, "op", None)
    if op == "call_method":
        return node.target in ("items", "values", "keys")
    return op == "call_function" and node.target is getitem


#: torch's words for a factory given a traced size (`torch.zeros(x.size(0), 16)`)
_FACTORY_REFUSED = re.compile(
    r"(zeros|ones|empty|full|rand|randn|randint|arange|eye|tensor)\(\) (takes|received|missing)"
)


def _unrecorded_argument(exc: BaseException) -> tuple[str, str] | None:
    """The message and hint of a call given a value torch.fx records no argument of (a
    function, an object), read off the traceback: the call (`create_proxy`'s target) and
    the value (`create_arg`'s); None when the frames are not there."""
    target = value = kind = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "create_proxy" and "target" in frame.f_locals:
            target, kind = frame.f_locals["target"], frame.f_locals.get("kind")
        if frame.f_code.co_name == "create_arg" and "a" in frame.f_locals:
            value = frame.f_locals["a"]
        tb = tb.tb_next
    if target is None or value is None:
        return None
    what = (
        f"`self.{target}`" if kind == "call_module" else f"`{getattr(target, '__name__', target)}`"
    )
    is_function = callable(value) and hasattr(value, "__name__")
    given = f"a function (`{value.__name__}`)" if is_function else f"a {type(value).__name__}"
    return (
        f"it gives {what} {given}, which a traced call cannot take as an argument (it takes "
        "tensors, numbers, text and lists of them)",
        "a spec's blocks take tensors: call the function in the caller and give the child "
        "what it returns, or write the function's steps and the child's out in the caller "
        "(the Annotated "
        "Transformer's `self.sublayer[0](x, lambda x: self.self_attn(x, x, x))` is `x + "
        "self.dropout(self.self_attn(y, y, y))` with `y = self.norm(x)`)",
    )


def untraceable(cls: type, exc: BaseException, tracer: Any) -> Diagnostic:
    """E902 for a forward torch.fx could not trace, at the statement that failed, with the
    size read before it when one was (a value worked out from the input's size)."""
    from .sizereads import size_read_before

    first = first_line(exc)
    hint = (
        "a spec states a fixed graph: a forward whose steps depend on tensor values "
        "(an `if` or loop on a tensor, a shape read as a number) has none; rewrite "
        "the statement without reading tensor values"
    )
    if "Proxy object cannot be iterated" in first:  # `*size`, `for v in t`: fx's long text
        first = (
            "it iterates a value computed in forward (`*size`, `for v in t`, a tuple a "
            "child returns), whose length torch.fx cannot know"
        )
        hint = (
            "a spec states a fixed graph: iterate only what the module holds as it is built "
            "(an nn.ModuleList, a tuple of numbers), not a tensor, a shape or a tuple a "
            "child returns"
        )
        if (child := _iterated_call(exc)) is not None:  # RetinaNet's `zip(names, results)`
            first = (
                f"it iterates a value computed in forward, what `self.{child}` returns, whose "
                "length torch.fx cannot know (a child is one call in its caller's trace)"
            )
            hint += (
                "; read what a child returns by position or key (`p6, p7 = self.extra(p5)`, "
                '`feats["out"]`), or give it whole to another child; a child that holds '
                "no tensors and is given text is traced as its caller's steps (torchvision's "
                "LastLevelMaxPool), one holding layers (its LastLevelP6P7) is not"
            )
    elif (sized := size_read_before(tracer, exc.__traceback__)) and (
        made := _FACTORY_REFUSED.match(first)
    ):  # `h = torch.zeros(x.size(0), 16)`: torch's factories take no traced size
        first += (
            f" (after reading a size of a tensor as a number, {sized}): `torch.{made[1]}` "
            "makes a tensor of a size read in forward, which no spec states"
        )
        hint = (
            "a spec makes no tensor of sizes read as numbers: a tensor of another's shape is "
            "`torch.zeros_like(x)` (`ones_like`, `full_like`: a `full_like`); a mask of the "
            "sequence's length is a buffer made in __init__ and cut to it (`self.mask[:T, "
            ":T]`); and a zero initial state is a recurrent layer's own (nn.LSTM, nn.GRU and "
            "nn.RNN over the sequence start from zeros, where a cell stepped in a loop has "
            "no kind)"
        )
    elif sized:  # `ih, iw = x.size()[-2:]`
        first += f" (after reading a size of a tensor as a number, {sized})"
        hint = (
            "a spec states a fixed graph, and a value worked out from the input's size "
            "as each input comes (a 'same' padding for a stride of 2, a size compared "
            "with a limit) has none: build the layer with fixed sizes"
        )
        if _compares_shapes(getattr(tracer, "refused_condition", None)):
            hint = _RESIZE_HINT
    if first.startswith("argument of type: ") and (given := _unrecorded_argument(exc)):
        first, hint = given  # the Annotated Transformer's `self.sublayer[0](x, lambda x: ...)`
    if "does not support item assignment" in first:  # `x[i] = self.m[i](x[i])`
        hint = (
            "torch.fx traces what a child returns as one value, and a spec records no item "
            "assignment: read a child's maps apart (`p3, p4 = self.neck(x)`) and give them "
            "to the next child as a list (YOLO's `Detect`, `x[i] = self.m[i](x[i])`, is "
            "traced with a list of one input per map), and a write into a tensor (`x[:, 0] "
            "= v`) is a new tensor (`torch.cat`)"
        )
    if "'len' is not supported" in first:  # `x.view(len(x), -1)`
        hint = (
            "`len(x)` of a tensor is its batch size as each input comes, no number: write "
            "`x.size(0)` (`x.view(x.size(0), -1)` is a reshape keeping the batch); a shape "
            "or a slice of one (`*x.shape[:2]`) has as many sizes as the tensor's rank"
        )
    return diagnostic(
        "E902",
        f"cannot trace {describe(cls)}.forward: {first[:400]}",
        span_from_traceback(exc.__traceback__) or span_of_class(cls),
        hint,
    )
