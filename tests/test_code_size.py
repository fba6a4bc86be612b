"""Files a person can hold in mind: no module of archspec/ over 600 lines, no class over 300,
no function over 80 (docs/architecture.md). Past that, find the seam and split."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "archspec"
LIMITS = {"module": 600, "class": 300, "function": 80}


def _too_long() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(PACKAGE.parent).as_posix()
        if text.count("\n") > LIMITS["module"]:
            found.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            kind = (
                "class"
                if isinstance(node, ast.ClassDef)
                else "function"
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                else None
            )
            if kind is None:
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > LIMITS[kind]:
                found.append(f"{name}:{node.lineno} {kind} {node.name}: {length} lines")
    return found


def test_no_module_class_or_function_past_its_limit() -> None:
    assert len(list(PACKAGE.rglob("*.py"))) > 40  # the walk sees the package
    assert _too_long() == []
