"""The support code a graph's emitted module holds (`Op.emit_support`: the classes of layer
kinds torch does not define), each text once, and the names it defines, refused (E602) where
two texts, or a text and the network class, define one name.

Apart from the emitter (no Jinja, no torch), so that `archspec check` reports what `emit`
and `compile` would refuse here at the spec's `class_name:` line, with the same code.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any

from ..errors import Diagnostic, EmitError
from ..ir import Graph, Node
from ..ops import REGISTRY, Op
from ..ops.names import is_free_name
from ..ops.support import DEFINED, STATEMENTS
from .selfcheck import fx_wrap_target


def support_texts(graph: Graph) -> tuple[list[str], list[str]]:
    """The support texts `graph`'s module holds, in the order its nodes ask for them, and
    the names they define. EmitError when a kind fails to give its text, gives one that is
    not only definitions, or when one name is defined twice (E602)."""
    texts: list[str] = []
    defined: dict[str, str] = {}
    for kind, text in _wanted(graph):
        text = text.strip("\n")
        if not text or text in texts:
            continue
        for name in _support_names(kind, text):
            if name in defined or name == graph.class_name:
                ours = name not in defined  # the spec's class name: said at its line
                raise EmitError(
                    f"layer kind `{kind}` defines `{name}` in its emitted support code, "
                    f"which {defined.get(name, 'the network class')} also defines",
                    code="E602",
                    span=graph.class_name_span if ours else None,
                    hint="set `class_name:` in the spec to another name" if ours else None,
                )
            defined[name] = f"layer kind `{kind}`"
        texts.append(text)
    return texts, list(defined)


def support_errors(graph: Graph) -> list[Diagnostic]:
    """What `support_texts` refuses, as `archspec check` reports it (nothing when fine)."""
    try:
        support_texts(graph)
    except EmitError as exc:
        return list(exc.diagnostics)
    return []


def _wanted(graph: Graph) -> list[tuple[str, str]]:
    """(kind, text) of each support text a node asks for, once each; a `functional`
    kind's (a module class) only where one of its nodes is a module.

    Every node in registration order, depth first, as `iter_nodes` gives them, except the
    nodes of a child module that copies one met already (`Module.copy_of`: the lowering
    memo's re-rooted copies, the same nodes at another path), which ask for the same texts:
    `check` runs this for every spec, and a ResNet-152's 36 Bottlenecks are one. One loop
    (a generator's step per node, and a list searched for each text asked again, were most
    of its time)."""
    wanted: list[tuple[str, str]] = []
    found: set[tuple[str, str]] = set()  # what `wanted` holds, to look up
    asked: dict[str, Op] = {}  # kinds whose one text is in `wanted` already
    seen: set[int] = set()
    stack = [iter(graph.root.nodes)]
    while stack:
        for node in stack[-1]:
            child = node.child
            if child is not None:
                origin = id(child.copy_of or child)
                if origin in seen:
                    continue
                seen.add(origin)
                stack.append(iter(child.nodes))
                break  # its nodes next; this module's iterator goes on after them
            kind = node.kind
            op = REGISTRY[kind]
            if not node.is_module and op.style == "module":
                continue
            if asked.get(kind) is op:  # the kind's one text: asked for
                continue
            for piece in _asked(node, op):
                if (kind, piece) not in found:
                    found.add((kind, piece))
                    wanted.append((kind, piece))
            if type(op).emit_support_for is Op.emit_support_for:  # the same for every node
                asked[kind] = op
        else:
            stack.pop()
    return wanted


def _asked(node: Node, op: Op) -> tuple[str, ...]:
    """The support texts `op` gives for `node`; EmitError when it fails or gives no text."""
    try:
        text: Any = op.emit_support_for(node.attrs)
    except Exception as exc:
        raise EmitError(
            f"layer kind `{node.kind}` failed to give its support code: "
            f"{type(exc).__name__}: {exc}",
            span=node.span,
        ) from None
    pieces = text if isinstance(text, tuple) else (text,)
    if not all(isinstance(piece, str) for piece in pieces):
        raise EmitError(
            f"layer kind `{node.kind}` gave support code of type "
            f"{type(text).__name__}: `emit_support` returns source text, a str "
            "(`emit_support_for`: a str or a tuple of str)",
            span=node.span,
        )
    return pieces


@lru_cache(maxsize=256)
def _support_names(kind: str, source: str) -> tuple[str, ...]:
    """The names a support text defines; it must hold only class and function definitions,
    and `torch.fx.wrap` of those functions (parsed once per text: every spec of a kind asks
    for the same one; a text `ops.support` cut out of a file the package ships is known to
    be definitions, whose names it kept, or its statements are the file's: no parse)."""
    made = DEFINED.get(source)  # a text ops.support cut out of a file the package ships
    if made is not None and all(is_free_name(name) for name in made):
        return made
    body = STATEMENTS.get(source)  # such a text's statements, as its file was parsed
    if body is None:
        try:
            body = ast.parse(source).body
        except SyntaxError as exc:
            raise EmitError(
                f"layer kind `{kind}`: its emitted support code does not parse: {exc.msg}"
            ) from None
    names: list[str] = []
    functions: set[str] = set()
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if fx_wrap_target(stmt) in functions:
            continue  # `torch.fx.wrap("f")` of a function defined above, as parse_emitted
        if isinstance(stmt, ast.FunctionDef):
            functions.add(stmt.name)
        if not isinstance(stmt, (ast.ClassDef, ast.FunctionDef)) or not is_free_name(stmt.name):
            raise EmitError(
                f"layer kind `{kind}`: emitted support code may only define classes and "
                "functions (imports come from the emitted file)",
                code="E602",
            )
        names.append(stmt.name)
    return tuple(names)
