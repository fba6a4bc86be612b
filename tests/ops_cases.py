"""What the tests of the layer kinds of issue 14 share: a one-layer spec, its symbolic output
shape evaluated at concrete sizes, its compiled and emitted modules, and located errors."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import pytest
import torch
import yaml

import archspec
from archspec.api import build_graph
from archspec.dims import Shape
from archspec.errors import ArchSpecError
from archspec.ir import Graph, iter_nodes


def spec(
    layers: Sequence[Mapping[str, Any]], input_shape: Sequence[Any] = ("N", 4, "H", "W")
) -> str:
    """A spec of `layers` (dicts) after an input of `input_shape`."""
    layer_lines = "\n".join(
        f"  - {yaml.safe_dump(dict(x), default_flow_style=True).strip()}" for x in layers
    )
    dims = ", ".join(map(str, input_shape))
    return f"archspec: 1\nname: one_case\ninput: [{dims}]\nlayers:\n{layer_lines}\n"


def last_node(graph: Graph) -> Any:
    nodes = [n for _, n in iter_nodes(graph.root) if n.child is None]
    return nodes[-1]


@cache
def _out_shape(text: str) -> Shape:
    return last_node(build_graph(text)).shape


def symbolic_out(text: str, env: Mapping[str, int]) -> tuple[int, ...]:
    """The output shape the shape rule gives, evaluated at `env` (symbol -> size)."""
    return tuple(d.evaluate(dict(env)) if not d.is_const else d.value for d in _out_shape(text))


def emitted(text: str) -> torch.nn.Module:
    """The module `archspec emit` writes for the spec, loaded without touching the disk."""
    source = archspec.emit(text)
    module = types.ModuleType("emitted_case")
    exec(compile(source, "<emitted case>", "exec"), module.__dict__)
    cls = build_graph(text).class_name
    return getattr(module, cls)()


def same_as_emitted(text: str, x: torch.Tensor, *, train: bool = False) -> None:
    """The compiled model and the emitted one (its weights loaded strictly) agree on `x`."""
    model = archspec.compile(text)
    other = emitted(text)
    other.load_state_dict(model.state_dict(), strict=True)
    model.train(train)
    other.train(train)
    torch.manual_seed(0)
    want = model(x.clone())
    torch.manual_seed(0)
    got = other(x.clone())
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def param_count(text: str) -> tuple[int, int]:
    """(params archspec counts, numel of the compiled module's parameters)."""
    graph = build_graph(text)
    from archspec.ops import REGISTRY

    counted = sum(
        REGISTRY[n.kind].params(n.attrs) for _, n in iter_nodes(graph.root) if n.child is None
    )
    model = archspec.compile(text)
    return counted, sum(p.numel() for p in model.parameters())


def error_of(text: str) -> ArchSpecError:
    """The error compiling the spec raises (it must raise one)."""
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(text, device="meta")
    return info.value


def assert_located(text: str, code: str, at: str | None = None) -> ArchSpecError:
    """Compiling fails with `code`, located on the last layer's line (on the text `at` if
    given: the value of the field at fault)."""
    exc = error_of(text)
    diag = exc.diagnostics[0]
    assert diag.code == code, (diag.code, diag.message)
    assert diag.span is not None
    last_line = len(text.rstrip("\n").splitlines())
    assert diag.span.line == last_line, (diag.span, text)
    if at is not None:
        line = text.rstrip("\n").splitlines()[-1]
        assert line[diag.span.col - 1 :].startswith(at), (line, diag.span.col)
    return exc
