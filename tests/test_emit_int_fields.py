"""Int fields written by expressions that give a whole float (`w * 1.5` with w = 2).

Lowering takes a whole float for an int field (or int param) as that int; the emitted
module must pass torch the same int, so such texts are written as `int(...)`, while texts
that are ints by construction (`w * 2`) stay as they are.
"""

from __future__ import annotations

import ast
import types
from typing import Any

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pycode import int_by_construction
from archspec.backends.selfcheck import check_emitted_source

PARAMS = {"w": {"type": "int", "default": 2}, "f": {"type": "float", "default": 1.5}}

#: Expressions stay symbolic inside the block class and in the root class.
BLOCK: dict[str, Any] = {
    "archspec": 1,
    "name": "intblock",
    "input": ["N", 3, 16, 16],
    "params": PARAMS,
    "blocks": {
        "Stage": {
            "params": {
                "width": "int",
                "k": {"type": "int", "default": 4},
                "scale": {"type": "float", "default": 1.5},
            },
            "layers": [
                {
                    "type": "conv2d",
                    "out_channels": "width * 1.5",
                    "kernel_size": "k / 2",
                    "padding": ["64 / 64", "k / 4"],
                },
                {"type": "conv2d", "out_channels": "scale * width", "kernel_size": 1},
                {"type": "maxpool2d", "kernel_size": "k / k * 2"},
            ],
        }
    },
    "layers": [
        {"type": "Stage", "width": "w * 2"},
        {"type": "Stage", "width": "w * 4 / 2", "scale": "f * 2", "k": "64 / 8"},
        {"type": "conv2d", "out_channels": "w * 1.5", "kernel_size": 1},
        {"type": "adaptive_avgpool2d", "output_size": "w / w"},
        {"type": "flatten"},
        {"type": "linear", "out_features": "f * 4"},
    ],
}

#: Top level only: channel counts from `/`, float literals and a float param.
TOP: dict[str, Any] = {
    "archspec": 1,
    "name": "inttop",
    "input": ["N", 3, 8, 8],
    "params": PARAMS,
    "layers": [
        {"type": "conv2d", "out_channels": "w * 1.5", "kernel_size": 3, "padding": 1},
        {"type": "conv2d", "out_channels": "w / 2 * 8", "kernel_size": 1},
        {"type": "batchnorm2d"},
        {"type": "conv2d", "out_channels": "f * w", "kernel_size": 1},
        {"type": "adaptive_avgpool2d", "output_size": 1},
        {"type": "flatten"},
        {"type": "linear", "out_features": "f * 4"},
        {"type": "linear", "out_features": "64 / 2"},
    ],
}

#: Param values other than the defaults, each giving whole floats (as check requires).
OTHER = {"w": 4, "f": 2.5}


def _layout(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def _emitted_class(source: str, spec: dict[str, Any]) -> type[torch.nn.Module]:
    module = types.ModuleType("emitted_int_fields")
    exec(compile(source, "<emitted int fields>", "exec"), module.__dict__)
    cls: type[torch.nn.Module] = getattr(module, build_graph(spec).class_name)
    return cls


def _call_args(source: str) -> list[ast.expr]:
    """Every argument of every call (but `int(...)`) in the emitted constructors."""
    out: list[ast.expr] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            for call in ast.walk(node):
                is_int = isinstance(call, ast.Call) and getattr(call.func, "id", "") == "int"
                if isinstance(call, ast.Call) and not is_int:
                    out += [*call.args, *(k.value for k in call.keywords)]
    return out


@pytest.mark.parametrize("spec", [BLOCK, TOP], ids=["block", "top"])
def test_compile_emit_and_self_check_agree(spec: dict[str, Any]) -> None:
    """compile, emit and the self-check succeed, and the emitted module builds the same
    state_dict shapes as compile, for the defaults and for other constructor arguments."""
    assert archspec.check(spec).ok
    compiled = archspec.compile(spec)
    source = archspec.emit(spec)
    check_emitted_source(source, build_graph(spec))
    cls = _emitted_class(source, spec)
    assert _layout(cls()) == _layout(compiled)
    assert "w" in ast.unparse(ast.parse(source))  # the root keeps `w` symbolic
    other = _layout(cls(**OTHER))
    assert other == _layout(archspec.compile(spec, **OTHER))
    assert other != _layout(compiled)


def test_texts_that_may_give_a_float_are_wrapped_and_ints_are_not() -> None:
    source = archspec.emit(BLOCK)
    for text in (
        "int(width * 1.5)",
        "kernel_size=int(k / 2)",
        "padding=(1, int(k / 4))",
        "int(scale * width)",
        "nn.MaxPool2d(int(k / k * 2))",
        "int(w * 4 / 2)",
        "int(f * 4)",
        "k=8",
    ):
        assert text in source, text
    assert "Stage(3, w * 2)" in source  # an int by construction stays as written
    assert "scale=f * 2" in source  # a float argument is not an int field
    # No float constant reaches a constructor except inside int(...) or as a float param.
    for arg in _call_args(source):
        wrapped = {
            id(n)
            for c in ast.walk(arg)
            if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "int"
            for n in ast.walk(c)
        }
        for n in ast.walk(arg):
            if isinstance(n, ast.Constant) and type(n.value) is float:
                assert id(n) in wrapped or ast.unparse(arg) == "f * 2", ast.unparse(arg)
    top = archspec.emit(TOP)
    assert "nn.Linear(int(f * w), int(f * 4))" in top
    assert "nn.Linear(int(f * 4), 32)" in top


def test_a_whole_float_kernel_at_the_top_level_builds() -> None:
    """The case the property test in test_emit_text found: `kernel_size: w * 1.5`."""
    spec = {
        "archspec": 1,
        "name": "one",
        "input": ["N", 3, 8, 8],
        "params": {"w": {"type": "int", "default": 2}},
        "layers": [{"type": "conv2d", "out_channels": "w", "kernel_size": "w * 1.5"}],
    }
    source = archspec.emit(spec)
    check_emitted_source(source, build_graph(spec))
    assert _layout(_emitted_class(source, spec)()) == _layout(archspec.compile(spec))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("w * 2 + 1", True),
        ("w // 2 - w % 3", True),
        ("-w", True),
        ("w**2", True),
        ("max(w, 2) if w > 1 else abs(w)", True),
        ("w or 3", True),
        ("w / 2", False),
        ("w * 1.5", False),
        ("f * w", False),
        ("w**w", False),
        ("2 ** -1", False),
        ("w if w > 0 else 6.25", False),
        ("w > 1", False),
        ("not w", False),
        ("min(w, f)", False),
    ],
)
def test_int_by_construction(text: str, expected: bool) -> None:
    tree = ast.parse(text, mode="eval").body
    assert int_by_construction(tree, {"w"}) is expected
