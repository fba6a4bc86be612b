"""How long a model's source is: the count `lines.json` records for torchvision's module
files and tests/test_emit_lines.py applies to ours (see README.md, "Lines of source").

Pure `ast` and text, no torchvision: the generator and the test share this one definition.
"""

from __future__ import annotations

import ast


def _dropped(tree: ast.Module) -> set[int]:
    """Line numbers (1-based) of what the count leaves out: the weights tables."""
    out: set[int] = set()

    def span(node: ast.AST) -> None:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        out.update(range(first, (node.end_lineno or node.lineno) + 1))

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
            isinstance(b, ast.Name) and b.id == "WeightsEnum" for b in node.bases
        ):
            span(node)  # a weights enum: URLs, transforms, metadata per checkpoint
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id.startswith("_COMMON") for t in node.targets
        ):
            span(node)  # `_COMMON_META = {...}`: metadata the enums share
        elif isinstance(node, ast.FunctionDef) and any(
            _is_register_model(d) for d in node.decorator_list
        ):
            doc = node.body[0] if node.body else None
            if (
                isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                span(doc)  # a builder's docstring: the weights' documentation
    return out


def _is_register_model(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return isinstance(target, ast.Name) and target.id == "register_model"


def source_lines(text: str) -> int:
    """Non-blank lines of a Python module, without weights enums, `_COMMON*` metadata
    tables and the docstrings of `@register_model()` builders."""
    dropped = _dropped(ast.parse(text))
    return sum(
        1 for i, line in enumerate(text.splitlines(), start=1) if line.strip() and i not in dropped
    )
