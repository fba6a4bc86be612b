"""The spec model `archspec check` validates with holds each layer kind as its own model's
validator, built on first use (schema._ValidatedBy), not inline as in the JSON Schema's
model: both must accept the same specs, build the same models and raise the same errors
(type, location, message, input, context), which validate.py turns into diagnostics."""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from archspec import schema
from archspec.catalog import read_source
from archspec.errors import ArchSpecError
from archspec.ops import REGISTRY

from .conftest import ROOT, spec_files


def _outcome(model: type[BaseModel], data: Any) -> Any:
    try:
        return ("ok", model.model_validate(data).model_dump(mode="python"))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for e in errors:  # an exception in ctx compares by identity: compare its repr
            e["ctx"] = {k: repr(v) for k, v in e.get("ctx", {}).items()}
        return ("error", errors, exc.error_count())


@functools.cache
def _inline() -> type[BaseModel]:
    return schema._build(inline=True)["Spec"]  # type: ignore[no-any-return]


def _layer_cases() -> list[dict[str, Any]]:
    """Right and wrong layers of every kind: unknown fields, wrong types, missing fields,
    a bad name and a bad expression."""
    cases: list[dict[str, Any]] = []
    for kind, op in sorted(REGISTRY.items()):
        cases.append({"type": kind})
        cases.append({"type": kind, "bogus": 1, "name": "_x", "when": "1 +"})
        wrong = {f: [{"a": 1}] for f in op.spec.model_fields if f != "type"}
        cases.append({"type": kind, **wrong})
        cases.append({"type": kind, **{f: "2 * (" for f in op.spec.model_fields if f != "type"}})
    return cases


def _spec(layers: list[Any]) -> dict[str, Any]:
    return {"archspec": 1, "name": "t", "input": [1, 3, 8, 8], "layers": layers}


def test_every_layer_kind_judges_alike_lazy_and_inline() -> None:
    lazy, inline = schema.spec_model(), _inline()
    cases = _layer_cases()
    for case in cases:
        data = _spec([case, {"type": "sequential", "layers": [case]}])
        assert _outcome(lazy, data) == _outcome(inline, data), case
    # every case at once, nested in blocks and constructs: one error list
    data = _spec(cases)
    data["blocks"] = {"B": {"layers": [{"type": "repeat", "n": 2, "layers": cases}]}}
    assert _outcome(lazy, data) == _outcome(inline, data)


def _files() -> list[Path]:
    return [*spec_files(), *sorted((ROOT / "tests" / "broken").glob("*.yaml"))] + sorted(
        (ROOT / "tests" / "hostile").glob("*.yaml")
    )


@pytest.mark.parametrize("path", _files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_specs_and_broken_specs_judge_alike(path: Path) -> None:
    try:
        data = read_source(path).data
    except (ArchSpecError, yaml.YAMLError, RecursionError):
        return  # refused before validation
    assert _outcome(schema.spec_model(), data) == _outcome(_inline(), data)


def test_check_builds_only_the_layer_models_a_spec_uses() -> None:
    code = textwrap.dedent(
        """
        import sys
        from archspec.cli import main
        from archspec.ops import REGISTRY
        sys.argv = ["archspec", "check", "specs/lenet5.yaml"]
        try:
            main()
        except SystemExit:
            pass
        from archspec.lowering.context import Named
        built = sorted(k for k, op in REGISTRY.items() if op.spec.__pydantic_complete__)
        print("named:", Named.__pydantic_complete__)
        print("built:", " ".join(built))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    built = out.stdout.strip().splitlines()[-1].split()[1:]
    # lenet5 has no branch or shortcut: the stand-in spec they make is never built
    assert out.stdout.strip().splitlines()[-2] == "named: False"
    assert "conv2d" in built and "linear" in built
    assert "conv3d" not in built and len(built) < len(REGISTRY) // 2, built


def test_expression_checks_are_kept_by_their_text() -> None:
    """A kept check answers for its own text only: a bad expression is refused every time,
    at each place, and a good one that differs by a character is still judged on its own."""
    lazy = schema.spec_model()
    bad = _spec([{"type": "linear", "out_features": "2 * ("}] * 2)
    for _ in range(2):
        with pytest.raises(ValidationError) as exc:
            lazy.model_validate(bad)
        assert [e["loc"][1] for e in exc.value.errors() if e["type"] == "value_error"] == [0, 1]
    lazy.model_validate(_spec([{"type": "linear", "out_features": "2 * (3)"}]))


def _node_unions(value: Any) -> int:
    """How many times a core schema holds the node union (a tagged union with every kind)."""
    if isinstance(value, list):
        return sum(_node_unions(v) for v in value)
    if not isinstance(value, dict):
        return 0
    own = value.get("type") == "tagged-union" and "conv2d" in value.get("choices", {})
    return own + sum(_node_unions(v) for v in value.values())


def test_the_node_union_is_generated_once() -> None:
    """The spec, a block and every construct hold layer lists: the lazy model refers to one
    definition of the node union (its ~90 members were generated again at each place)."""
    assert _node_unions(schema.spec_model().__pydantic_core_schema__) == 1


def test_no_list_field_defaults_through_list_itself() -> None:
    """pydantic reads each default factory's signature while it builds the model; `list`'s
    is parsed from its text (~0.5 ms a field), so the spec's list fields use `_no_items`."""
    models = [schema.InitRule, *(m for m in schema.models().values() if isinstance(m, type))]
    factories = [f.default_factory for m in models for f in m.model_fields.values()]
    assert schema._no_items in factories and list not in factories


def _shape(value: Any) -> Any:
    """A core schema with its definition names (they hold ids) and functions (by name) made
    comparable across two builds."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("ref", "schema_ref")}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return getattr(value, "__qualname__", value) if callable(value) else value


def test_the_node_union_made_directly_is_what_pydantic_makes() -> None:
    """The validating spec model's node union is made as a core schema (schema._Nodes), not
    by pydantic's Tag and Discriminator over its ~90 annotated members: the spec model's core
    schema is the same either way, member for member, in the same order."""
    direct = schema._build()["Spec"].__pydantic_core_schema__
    made = schema._build(direct=False)["Spec"].__pydantic_core_schema__
    assert _shape(direct) == _shape(made)
    (union,) = [d for d in direct["definitions"] if d.get("type") == "tagged-union"]
    assert list(union["choices"]) == [*sorted(REGISTRY), *schema.CONSTRUCTS, "block"]
