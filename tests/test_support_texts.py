"""The support code of built-in kinds as `check` and the emitter see it: the texts
`ops.support` cuts out of the package's torch-only files (split into lines once, not once
per definition) equal `ast.get_source_segment`'s, and the names kept for each equal what
parsing it finds (backends.support takes those instead of parsing it again)."""

from __future__ import annotations

import ast
from pathlib import Path

import archspec.backends.support as backend
import archspec.ops.support as support
from archspec.ops import REGISTRY

OPS = Path(support.__file__).parent
FILES = sorted({*OPS.glob("*_modules.py"), OPS / "torch_support.py"})


def test_every_definition_is_cut_as_ast_cuts_it() -> None:
    seen = 0
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        for stmt in ast.parse(text).body:
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef)):
                assert support._segment(path, stmt) == ast.get_source_segment(text, stmt)
                seen += 1
    assert len(FILES) >= 5 and seen >= 30


def test_kept_names_equal_the_parsed_ones_for_every_built_in_text() -> None:
    compared = 0
    for kind, op in sorted(REGISTRY.items()):
        made = op.emit_support()
        for piece in made if isinstance(made, tuple) else (made,):
            text = piece.strip("\n")
            if not text:
                continue
            kept = support.DEFINED.get(text)
            if kept is None:
                continue
            parsed = backend._support_names.__wrapped__(kind, text + "\n#")  # not kept: parsed
            assert kept == parsed, kind
            compared += 1
    assert compared >= 10


def test_a_text_with_a_statement_besides_definitions_is_still_parsed_and_refused() -> None:
    text = "x = 1\n\n\nclass Mine:\n    pass"
    assert text not in support.DEFINED
    try:
        backend._support_names.__wrapped__("mine", text)
    except Exception as exc:  # EmitError E602
        assert "may only define classes and functions" in str(exc)
    else:
        raise AssertionError("a support text with an assignment was taken")
