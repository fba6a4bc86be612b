"""`key:`: module keys that are not identifiers (RegNet's `block1-0`), in compiled modules
and emitted source alike, validated where they are written, inert in emitted code."""

from __future__ import annotations

import ast
import textwrap

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from archspec.errors import ArchSpecError
from archspec.ops.names import key_problem
from tests.emit_helpers import _load


def spec(body: str, header: str = "input: [N, 8, 16, 16]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


def err(text: str) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    return info.value


def where(e: ArchSpecError) -> tuple[str, int, int]:
    assert e.span is not None, e.render()
    return e.error_code, e.span.line, e.span.col


STAGES = """
blocks:
  Stage:
    params: {depth: int, stage_index: int}
    layers:
      - type: repeat
        count: depth
        layer: {type: conv2d, key: "block{stage_index}-{i}", out_channels: 8, kernel_size: 1}
layers:
  - {key: stem-0, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - name: trunk_output
    type: sequential
    layers:
      - {name: block1, type: Stage, depth: 2, stage_index: 1}
      - {key: "b-2", type: Stage, depth: 1, stage_index: 2}
  - {name: join, type: add, from: [trunk_output, stem-0]}
"""

KEYS = [
    "stem-0.weight",
    "stem-0.bias",
    "trunk_output.block1.0.block1-0.weight",
    "trunk_output.block1.0.block1-0.bias",
    "trunk_output.block1.0.block1-1.weight",
    "trunk_output.block1.0.block1-1.bias",
    "trunk_output.b-2.0.block2-0.weight",
    "trunk_output.b-2.0.block2-0.bias",
]


def test_keys_are_the_state_dict_keys_of_compiled_and_emitted_modules() -> None:
    text = spec(STAGES)
    torch.manual_seed(0)
    compiled = archspec.compile(text)
    assert list(compiled.state_dict()) == KEYS
    source = archspec.emit(text)
    assert 'self.add_module("stem-0", nn.Conv2d(8, 8, kernel_size=3, padding=1))' in source
    assert 'getattr(self, "stem-0")(x)' in source
    emitted = getattr(_load(source, "keys"), archspec.build_graph(text).class_name)()
    assert list(emitted.state_dict()) == KEYS
    emitted.load_state_dict(compiled.state_dict())
    x = torch.randn(2, 8, 16, 16)
    torch.testing.assert_close(emitted.eval()(x), compiled.eval()(x))


def test_from_reads_a_keyed_node_by_its_key() -> None:
    graph = archspec.build_graph(spec(STAGES))
    assert graph.root.node("join").inputs == ("trunk_output", "stem-0")


@pytest.mark.parametrize(
    "body,expected,words",
    [
        # a key and a name
        (
            "layers:\n  - {name: a, key: a-b, type: conv2d, out_channels: 8, kernel_size: 1}\n",
            ("E204", 5, 20),
            "not both",
        ),
        # a key on a node that makes no module
        (
            "layers:\n  - {type: conv2d, out_channels: 8, kernel_size: 1}\n"
            "  - {key: a-b, type: add, from: [input, '0']}\n",
            ("E204", 6, 11),
            "makes no module",
        ),
        # a key on a flat repeat
        (
            "layers:\n  - {key: 'r{1}', type: repeat, count: 2, flat: true, layer: {type: relu}}\n",
            ("E204", 5, 11),
            "makes no module",
        ),
        # a template giving a path with an empty part (`.` alone makes a path of containers)
        (
            "params:\n  s: a..b\nlayers:\n  - {key: 'x{s}', type: relu}\n",
            ("E204", 7, 11),
            "an empty part",
        ),
        # a template giving a reserved name
        (
            "params:\n  s: forward\nlayers:\n  - {key: '{s}', type: relu}\n",
            ("E204", 7, 11),
            "attribute of nn.Module",
        ),
        # a template part giving a float
        (
            "layers:\n  - {key: 'b{1 / 2}', type: relu}\n",
            ("E309", 5, 11),
            "not an int or text",
        ),
        # a template part reading an unknown name
        (
            "layers:\n  - {key: 'b{j}', type: relu}\n",
            ("E302", 5, 11),
            "j",
        ),
        # two copies named by `names` and by the layer's key
        (
            "layers:\n  - type: repeat\n    count: 2\n    names: 'b{i}'\n"
            "    layer: {type: relu, key: 'k-{i}'}\n",
            ("E204", 8, 30),
            "`names` and by their layer's `key`",
        ),
        # a key template giving two copies the same key
        (
            "layers:\n  - type: repeat\n    count: 2\n    layer: {type: relu, key: 'k-0{\"\"}'}\n",
            ("E304", 7, 30),  # at the key that gives it
            "duplicate name `k-0`",
        ),
    ],
)
def test_key_errors_are_located(body: str, expected: tuple[str, int, int], words: str) -> None:
    e = err(spec(body))
    assert where(e) == expected, e.render()
    assert words in e.render(), e.render()


@pytest.mark.parametrize(
    "key,words",
    [
        ("", "empty"),
        ("a..b", "empty part"),
        ("a.b c", "' '"),
        ("a b", "' '"),
        ('a"b', "'\"'"),
        ("a\\b", "'\\\\'"),
        ("é", "'é'"),
        ("_modules", "starts with `_`"),
        ("state_dict", "attribute of nn.Module"),
        ("k" * 65, "longer than 64"),
        ("b{", "unbalanced"),
        ("b{1 +}", "in key"),
    ],
)
def test_the_schema_refuses_a_bad_key_where_it_is_written(key: str, words: str) -> None:
    # YAML single quotes escape a quote by doubling it
    quoted = "'" + key.replace("'", "''") + "'"
    body = f"layers:\n  - {{key: {quoted}, type: relu}}\n"
    e = err(spec(body))
    assert e.error_code.startswith("E2") and e.span is not None and e.span.line == 5, e.render()
    assert words in e.render(), e.render()


def test_keys_that_read_like_code_stay_text_in_emitted_source() -> None:
    hostile = "a)+__import__(chr(111))#"
    text = spec(
        f"layers:\n  - {{key: '{hostile}', type: conv2d, out_channels: 4, kernel_size: 1}}\n"
    )
    source = archspec.emit(text)
    tree = ast.parse(source)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and hasattr(n.func, "id")}
    assert hostile in strings and "__import__" not in calls and "chr" not in calls
    model = _load(source, "hostile").T()
    assert list(model.state_dict()) == [f"{hostile}.weight", f"{hostile}.bias"]
    assert list(archspec.compile(text).state_dict()) == [f"{hostile}.weight", f"{hostile}.bias"]


_KEY_CHARS = st.sampled_from([chr(c) for c in range(32, 127)] + ["é", "\n", "\t"])
CHECKED = {"ok": 0, "refused": 0}


@settings(max_examples=60, deadline=None)
@given(st.text(_KEY_CHARS, min_size=1, max_size=12))
def test_a_key_is_either_refused_or_a_working_state_dict_key(key: str) -> None:
    """Whatever the text, a key torch would refuse, or that is not printable ASCII free of
    quotes, is refused; any other is a module key torch registers as given."""
    problem = key_problem(key)
    module = torch.nn.Module()
    if problem is None:
        module.add_module(key, torch.nn.Identity())
        assert list(dict(module.named_children())) == [key]
        assert key.isascii() and key.isprintable() and not set(key) & set(".\"'\\ ")
        CHECKED["ok"] += 1
    else:
        CHECKED["refused"] += 1


def test_the_key_property_ran() -> None:
    assert CHECKED["ok"] >= 10 and CHECKED["refused"] >= 1, CHECKED


ALTERNATIVES = """
params: {project: true}
layers:
  - {name: proj, type: identity, when: not project}
  - {name: proj, type: conv2d, out_channels: 8, kernel_size: 1, bias: false, when: project}
  - {name: f, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, from: input}
  - {name: sum, type: add, from: [proj, f]}
"""


@pytest.mark.parametrize("project", [True, False])
def test_a_name_kept_under_one_of_two_whens_is_readable(project: bool) -> None:
    """Two nodes may share a name under opposite `when`s (RegNet's projection or nothing):
    `from` reads the one that is kept."""
    graph = archspec.build_graph(spec(ALTERNATIVES), {"project": project})
    assert graph.root.node("proj").kind == ("conv2d" if project else "identity")
    assert graph.root.node("sum").inputs == ("proj", "f")
    keys = list(archspec.compile(spec(ALTERNATIVES), project=project).state_dict())
    assert keys == (["proj.weight"] if project else []) + ["f.weight", "f.bias"]


def test_reading_a_name_switched_off_everywhere_is_still_e305() -> None:
    text = spec(
        "layers:\n  - {name: p, type: relu, when: false}\n  - {type: add, from: [p, input]}\n"
    )
    e = err(text)
    assert e.error_code == "E305" and "switched off" in e.render(), e.render()
