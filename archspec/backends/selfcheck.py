"""Check emitted source before anyone imports it, from the string the emitter rendered.

`parse_emitted` is the gate every rendered module passes (`render_module` calls it): the
text, as the UTF-8 bytes a file holds (so read as an import reads it), must declare no
encoding and parse, and its top level may hold only the imports emitted code uses and class
or function definitions, so importing it runs nothing but those definitions.
`check_emitted_source` is what `archspec compile` runs before it writes a file: it executes
that same text (never a file another user could rewrite in between) in a fresh module
namespace, builds the class on the meta device and compares it with
`torch_module.build_module`: the state_dict layout, the parameter count, and a forward pass of
both on the meta device (eval mode; training mode too when a node runs only in training) at
an input the network accepts, which must run and give the same output shapes.
"""

from __future__ import annotations

import ast
import math
import re
import types
from typing import Any, NamedTuple

from ..errors import EmitError, PluginError
from ..ir import Graph
from ..limits import MAX_TENSOR_ELEMENTS

#: The file name emitted code is compiled under (tracebacks name it; nothing is read from it).
EMITTED_FILENAME = "<archspec emitted module>"

#: Modules an emitted file may import (as `import x`, `import x as y` or `from x import y`).
ALLOWED_IMPORTS = frozenset(
    {
        "torch",
        "torch.nn",
        "torch.nn.functional",
        "torch.utils.checkpoint",
        "fnmatch",
        "functools",
        "math",
        "operator",
        "collections",
        "typing",
    }
)


class SelfCheck(NamedTuple):
    """What the self-check compared: the parameter count and the number of state_dict
    entries (equal in both modules), and why no forward pass was compared (None: it was,
    at an input the network accepts), so nobody reports a comparison that did not run."""

    params: int
    tensors: int
    forward_skipped: str | None = None


_BUG_HINT = "this is a bug in archspec's source emitter; please report it with the spec"

#: An encoding declaration (PEP 263), which Python honours in a file's first two lines.
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)


def parse_emitted(source: str) -> ast.Module:
    """The syntax tree of emitted source, or an EmitError if it is not what the emitter makes.

    Refused: an encoding declaration in the first two lines (`# coding: utf-7` would make the
    file mean other code than this text), source that does not parse, and any top-level
    statement other than an import of `ALLOWED_IMPORTS`, an undecorated class or function
    definition whose bases are plain names, a docstring, or `torch.fx.wrap("f")` of a
    function `f` defined above; and anywhere below it, an import of another module, a name
    of a builtin that runs code or opens files (`eval`, `__import__`, `open`, ...) or an
    attribute that reaches the interpreter's internals (`__globals__`, `__subclasses__`).
    """
    data = emitted_bytes(source)
    if _CODING.search(b"\n".join(data.split(b"\n", 2)[:2])):
        raise EmitError("the emitted module declares a source encoding", hint=_BUG_HINT)
    try:
        tree = ast.parse(data, filename=EMITTED_FILENAME)
    except SyntaxError as exc:
        raise EmitError(
            f"the emitted module does not parse (line {exc.lineno}): {exc.msg}", hint=_BUG_HINT
        ) from None
    except ValueError as exc:  # a NUL character in the source
        raise EmitError(f"the emitted module does not parse: {exc}", hint=_BUG_HINT) from None
    functions: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef):
            functions.add(stmt.name)
        problem = None if fx_wrap_target(stmt) in functions else _top_level_problem(stmt)
        if problem:
            raise EmitError(
                f"the emitted module has {problem} at line {stmt.lineno}; emitted code may only "
                "import torch and define classes and functions",
                hint=_BUG_HINT,
            )
        for node in ast.walk(stmt):
            if (inner := _inner_problem(node, stmt)) is not None:
                raise EmitError(
                    f"the emitted module has {inner} at line {getattr(node, 'lineno', '?')}; "
                    "emitted code builds modules and computes with torch, nothing else",
                    hint=_BUG_HINT,
                )
    return tree


#: Builtins that run text as code, import, open files or reach a namespace: no emitted code
#: names one (the emitter renames a spec's name that would shadow a builtin), so spec text
#: that reached the module as code would be found here, before anything runs it.
_RUNNING_NAMES = frozenset(
    {"eval", "exec", "compile", "__import__", "open", "breakpoint", "globals", "locals"}
    | {"vars", "input", "exit", "quit", "__builtins__", "__loader__", "__spec__"}
)
#: Attributes that lead from any object to the interpreter's internals (the classic way out
#: of a namespace without builtins: `().__class__.__base__.__subclasses__()`).
_INTERNAL_ATTRS = frozenset(
    {"__globals__", "__builtins__", "__subclasses__", "__code__", "__closure__", "__base__"}
    | {"__bases__", "__mro__", "__getattribute__", "__reduce__", "__reduce_ex__", "__dict__"}
)


def _inner_problem(node: ast.AST, stmt: ast.stmt) -> str | None:
    """What no emitted code holds anywhere, in the top-level statement `stmt` (a class, a
    function): an import below the top level of a module not in ALLOWED_IMPORTS, a name of
    `_RUNNING_NAMES` or an attribute of `_INTERNAL_ATTRS`."""
    if isinstance(node, (ast.Import, ast.ImportFrom)) and node is not stmt:
        return _top_level_problem(node)
    if isinstance(node, ast.Name) and node.id in _RUNNING_NAMES:
        return f"a use of `{node.id}`"
    if isinstance(node, ast.Attribute) and node.attr in _INTERNAL_ATTRS:
        return f"the attribute `{node.attr}`"
    return None


def emitted_bytes(source: str) -> bytes:
    """The bytes a file of this source holds (UTF-8), or an EmitError if there are none."""
    try:
        return source.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no file can hold it
        raise EmitError(f"the emitted module is not Unicode text: {exc}", hint=_BUG_HINT) from None


def fx_wrap_target(stmt: ast.stmt) -> str | None:
    """The name in `torch.fx.wrap("name")` (a function torch.fx keeps as one call when it
    traces a model, as torchvision marks its functions with control flow), else None."""
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
        return None
    call = stmt.value
    if ast.unparse(call.func) != "torch.fx.wrap" or call.keywords or len(call.args) != 1:
        return None
    arg = call.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def _top_level_problem(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.Import):
        bad = [a.name for a in stmt.names if a.name not in ALLOWED_IMPORTS]
        return f"an import of `{bad[0]}`" if bad else None
    if isinstance(stmt, ast.ImportFrom):
        ok = stmt.level == 0 and stmt.module in ALLOWED_IMPORTS
        return None if ok else f"an import from `{stmt.module}`"
    if isinstance(stmt, (ast.ClassDef, ast.FunctionDef)):
        if stmt.decorator_list:
            return "a decorated definition"
        if isinstance(stmt, ast.ClassDef) and (
            stmt.keywords or not all(_is_dotted(b) for b in stmt.bases)
        ):
            return "a class whose bases are not plain names"
        return None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return None  # a docstring
    return f"a top-level `{type(stmt).__name__}` statement"


def _is_dotted(node: ast.expr) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def load_emitted(source: str, name: str) -> types.ModuleType:
    """A fresh module (not in sys.modules) made by running checked emitted source.

    The code object is compiled from the tree `parse_emitted` accepted, under a fixed file
    name; no file is read and no bytecode is written.
    """
    tree = parse_emitted(source)  # from the bytes a file would hold
    code = compile(tree, EMITTED_FILENAME, "exec", dont_inherit=True)
    module = types.ModuleType(name)
    exec(code, module.__dict__)
    return module


#: The source checked last and its module: a family's file is checked once per variant, and
#: running the whole file again for each (parse, compile, exec) made that quadratic (a
#: 64-variant family took 23 s to compile, 256 variants more than 5 minutes).
_LAST_LOADED: list[tuple[str, types.ModuleType]] = []


def _loaded(source: str, name: str) -> types.ModuleType:
    if not (_LAST_LOADED and _LAST_LOADED[0][0] == source):
        _LAST_LOADED[:] = [(source, load_emitted(source, f"_archspec_emitted_{name}"))]
    return _LAST_LOADED[0][1]


def check_emitted_source(source: str, graph: Graph) -> SelfCheck:
    """Run emitted source and compare its class with the compiled graph on the meta device.

    Returns what was compared (SelfCheck); raises EmitError on any difference, naming the
    first one. No memory is allocated for weights.
    """
    import torch

    from .torch_module import build_module

    try:
        module = _loaded(source, graph.name)
        with torch.device("meta"):
            emitted = getattr(module, graph.class_name)()
    except EmitError as exc:
        raise _at_root(exc, graph) from None
    except Exception as exc:
        _raise_if_plugin_support(exc, source, graph)
        raise _at_root(
            EmitError(f"the emitted module fails to build: {type(exc).__name__}: {exc}"), graph
        ) from None
    reference = build_module(graph, device="meta")
    got = _layout(emitted)
    want = _layout(reference)
    if got != want:
        diff = next(
            (f"{g} vs {w}" for g, w in zip(got, want) if g != w),
            f"{len(got)} entries vs {len(want)}",
        )
        raise _at_root(
            EmitError(f"the emitted module does not match the compiled one: state_dict {diff}"),
            graph,
        )
    n_got = sum(p.numel() for p in emitted.parameters())
    n_want = sum(p.numel() for p in reference.parameters())
    if n_got != n_want:
        raise _at_root(
            EmitError(f"the emitted module has {n_got:,} parameters, not {n_want:,}"), graph
        )
    return SelfCheck(n_got, len(got), _compare_forward(emitted, reference, graph, source))


def _compare_forward(emitted: Any, reference: Any, graph: Graph, source: str) -> str | None:
    """Both modules run on the meta device (no memory, no arithmetic) in eval mode, and in
    training mode too when some node runs only in training, and agree on the output shapes:
    code that only `forward` reaches is run too. Returns why no forward ran (None: one did)."""
    import torch

    from ..ir import iter_nodes
    from ..meta_kernels import MetaShortcuts  # common ops by their shape rules, not torch's

    shapes = example_inputs(graph)
    if shapes is None:
        return "no input size is accepted"  # check says so; there is nothing to run
    shape = shapes[0] if len(shapes) == 1 else ", ".join(map(str, shapes))
    # a step of one mode (train_only, eval_only, pass_in_eval): each mode's graph is checked
    train_only = any(
        node.train_only or node.eval_only or node.pass_in_eval for _, node in iter_nodes(graph.root)
    )
    if any(math.prod(s) >= MAX_TENSOR_ELEMENTS for s in shapes):
        return "every accepted input is larger than a tensor can hold"
    for training in (False, True) if train_only else (False,):
        x = [
            torch.empty(s, device="meta", dtype=getattr(torch, dtype))
            for s, dtype in zip(shapes, graph.input_dtypes)
        ]
        try:
            with MetaShortcuts():
                want = _shapes(reference.train(training)(*x))
        except Exception:  # the compiled module itself refuses: not the emitter's doing
            return f"archspec.compile's module refuses the input {shape}"
        try:
            with MetaShortcuts():
                got = _shapes(emitted.train(training)(*x))
        except Exception as exc:
            _raise_if_plugin_support(exc, source, graph)
            raise _at_root(
                EmitError(
                    f"the emitted module's forward fails at input {shape}: "
                    f"{type(exc).__name__}: {exc}"
                ),
                graph,
            ) from None
        if got != want:
            mode = "training" if training else "eval"
            raise _at_root(
                EmitError(
                    f"the emitted module's {mode} forward at input {shape} gives {got}, "
                    f"archspec.compile's gives {want}"
                ),
                graph,
            )
    return None


def example_input(graph: Graph) -> tuple[int, ...] | None:
    """The first input of `example_inputs` (a network's one input)."""
    shapes = example_inputs(graph)
    return None if shapes is None else shapes[0]


def example_inputs(graph: Graph) -> tuple[tuple[int, ...], ...] | None:
    """Inputs the graph accepts, one shape per input: the declared ones with batch 1, or
    when sizes are left symbolic (`[N, 3, H, W]`) or a declared input has more elements than
    a tensor can hold, the smallest member of the derived domain."""
    from ..inputlayout import batch_of_one
    from ..passes.pipeline import Analysis, accepted_inputs, symbolic_shapes

    declared = [batch_of_one(shape) for shape in graph.input_shapes]
    if all(d is not None and math.prod(d) < MAX_TENSOR_ELEMENTS for d in declared):
        return tuple(d for d in declared if d is not None)

    a = accepted_inputs(symbolic_shapes(Analysis(graph)))
    if a.domain is None or a.symbolic is None:
        return None
    shapes = a.symbolic.shapes
    for env in a.domain.examples(per_box=1):
        names = {n for shape in shapes for d in shape for n in d.symbols} | set(a.domain.symbols)
        values = dict.fromkeys(names, 1) | dict(env)
        return tuple(tuple(d.evaluate(values) for d in shape) for shape in shapes)
    return None


def _shapes(out: Any) -> Any:
    """The output's shapes, keeping its structure (a tensor, or a tuple of them)."""
    if isinstance(out, (tuple, list)):
        return tuple(_shapes(o) for o in out)
    return tuple(out.shape)


def _raise_if_plugin_support(exc: Exception, source: str, graph: Graph) -> None:
    """E701 when the emitted code that raised is a plugin kind's `emit_support` (a name its
    file imported, which the emitted file, importing torch alone, lacks): the plugin's
    mistake, named with its kind and file, not a bug of archspec's emitter."""
    from ..ir import iter_nodes
    from ..ops import REGISTRY
    from ..ops.guard import _message, is_foreign

    lines = []
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == EMITTED_FILENAME:
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    try:
        tree = ast.parse(source) if lines else None
    except SyntaxError:
        tree = None
    if tree is None:
        return
    line = lines[-1]
    where = next(
        (
            n.name
            for n in tree.body
            if isinstance(n, (ast.ClassDef, ast.FunctionDef))
            and n.lineno <= line <= (n.end_lineno or n.lineno)
        ),
        None,
    )
    kinds = sorted({node.kind for _, node in iter_nodes(graph.root)})
    for op in (REGISTRY[k] for k in kinds if k in REGISTRY and where is not None):
        try:
            support = op.emit_support() if is_foreign(op) else ""
        except Exception:  # the emitter called it already: it did not raise then
            support = ""
        if re.search(rf"^(class|def) {where}\b", support, re.M):
            raise PluginError(
                _message(op, "emit_support", exc) + " (run in the emitted file)",
                hint="emitted files import only torch, `nn` and `F`: the source `emit_support` "
                "returns must need nothing else its plugin file imports or defines; fix the "
                "plugin",
                sources=dict(graph.sources),
            ) from None


def _at_root(exc: EmitError, graph: Graph) -> EmitError:
    """A self-check failure, located at the spec it came from, with the bug-report hint; or,
    when plugins' kinds wrote part of the module, a hint that names them first: their `emit`
    and `emit_support` are the plugin's text, and the usual cause (a class `emit` names that
    no support code defines, a constructor call that builds another module than `build`)."""
    diag = exc.diagnostics[0]
    span = diag.span or graph.root.span
    hint = _plugins_hint(graph) or _BUG_HINT
    return EmitError(
        diag.message, code=diag.code, span=span, hint=hint, sources=dict(graph.sources)
    )


def _plugins_hint(graph: Graph) -> str | None:
    """What to check in the plugins whose kinds the graph uses (None: it uses none)."""
    from ..ir import iter_nodes
    from ..ops import REGISTRY
    from ..ops.guard import is_foreign
    from ..plugins import plugin_file_of

    kinds = sorted({n.kind for _, n in iter_nodes(graph.root) if n.kind in REGISTRY})
    foreign = [REGISTRY[k] for k in kinds if is_foreign(REGISTRY[k])]
    if not foreign:
        return None
    named = ", ".join(
        f"`{op.kind}` ({plugin_file_of(type(op).__module__) or type(op).__module__})"
        for op in foreign
    )
    return (
        f"plugins' layer kinds wrote part of this module: {named}. Check that each `emit` "
        "returns the constructor call of the module its `build` makes, with every value "
        "through `lit`, and that `emit_support` defines every class and function it names; "
        "if they do, this is a bug in archspec's source emitter: please report it"
    )


def _layout(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


__all__ = [
    "EMITTED_FILENAME",
    "check_emitted_source",
    "emitted_bytes",
    "load_emitted",
    "parse_emitted",
]
