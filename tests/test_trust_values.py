"""Spec values never cause an internal error (issue 12, section 4): expressions and names.

Each class of value that used to escape as a raw Python exception (exit 3) is a located
ArchSpecError now: here expressions and the names nn.Module owns; init rules, names that hide
others, the API's arguments and `archspec.load` are in tests/test_trust_values_rules.py.
`archspec.check` never raises on a bad spec.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archspec
from archspec.errors import ArchSpecError
from archspec.expr import MAX_ABS_VALUE, ExprError, parse_expr

from .conftest import examples


def spec_text(*layers: str, params: str = "", blocks: str = "", extra: str = "") -> str:
    """A small spec around the given layer lines (flow mappings)."""
    text = "archspec: 1\nname: net\ninput: [N, 3, 32, 32]\n"
    if params:
        text += f"params:\n{params}"
    if blocks:
        text += f"blocks:\n{blocks}"
    text += "layers:\n" + "".join(f"  - {layer}\n" for layer in layers)
    return text + extra


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return path


def refused(path: Path, code: str, line: int, col: int, **params: Any) -> ArchSpecError:
    """The spec is refused by check (as a result) and by compile (as an error), located."""
    result = archspec.check(path, **params)
    assert not result.ok
    first = next(d for d in result.diagnostics if d.code == code)
    assert (first.span.line, first.span.col) == (line, col), first
    assert first.hint, first
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(path, device="meta", **params)
    assert code in info.value.codes
    return info.value


def compile_within_limits(source: str, **params: Any) -> None:
    """Compile on the meta device; a model over the size limits is refused (E501/E502), as
    `check` warned (W501/W502), and nothing else may be."""
    try:
        archspec.compile(source, device="meta", **params)
    except ArchSpecError as exc:
        assert set(exc.codes) <= {"E501", "E502"}, exc


# --------------------------------------------------------------------------------------
# Expressions


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0 ** -1", "E308"),
        ("max(5)", "E206"),
        ("min(3)", "E206"),
        ("abs(1, 2)", "E206"),
        ("(-8) ** (1 / 3)", "E308"),
        ("False ** -1", "E308"),
        ("True // False", "E308"),
        ("2 ** 1000", "E309"),
        ("0.5 ** -1000", "E309"),
        ("1e-300 ** -2", "E309"),
        ("1e15 * 1e15", "E309"),
        ("'a' < 1", "E308"),
        ("-'a'", "E308"),
        ("+".join(["1"] * 70), "E206"),
        ("-" * 80 + "1", "E206"),
    ],
)
def test_constant_expressions_that_fail_are_refused_when_parsed(text: str, code: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    assert info.value.code == code
    assert isinstance(info.value, ArchSpecError)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("w if w > 0 else 1 // 0", "E308"),  # an untaken branch is still checked
        ("w if w > 0 else 2 ** 64", "E309"),
        ("w and max(4)", "E206"),
        ("w // 0", "E308"),  # fails whatever w is
        ("w % (1 - 1)", "E308"),
        ("w + 'a'", "E308"),
        ("min(w, 'a')", "E308"),
        ("w * ('a' if 1 else 'b')", "E308"),
    ],
)
def test_parts_that_fail_for_every_value_are_refused(text: str, code: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("text", "env", "value"),
    [
        ("2.5 ** 2", {}, 6.25),
        ("w ** 0.5", {"w": 4}, 2.0),
        ("w ** -1", {"w": 2}, 0.5),
        ("w if w > 0 else 2.5 ** 2", {"w": 8}, 8),
        ("w if w > 0 else 2.5 ** 2", {"w": 0}, 6.25),
        ("True + True", {}, 2),  # bools count as 0 and 1, as in Python and emitted code
        ("1 ** 100", {}, 1),
        ("(-1) ** 101", {}, -1),
        ("w // 2", {"w": 7}, 3),
    ],
)
def test_valid_expressions_keep_their_python_values(text: str, env: dict, value: Any) -> None:
    assert parse_expr(text).evaluate(env) == value


@pytest.mark.parametrize(
    ("text", "env", "code"),
    [
        ("w ** -1", {"w": 0}, "E308"),
        ("w ** 0.5", {"w": -4}, "E308"),
        ("w ** 100", {"w": 2}, "E309"),
        ("w * 10 ** 15 * 10", {"w": 2.5}, "E309"),
        ("w < 'a'", {"w": 1}, "E308"),
        ("w + 1", {"w": [1, 2]}, "E308"),
        ("-w", {"w": "relu"}, "E308"),
        ("max(w, 1)", {"w": "relu"}, "E308"),
        ("4 // w", {"w": False}, "E308"),
    ],
)
def test_values_that_break_an_expression_are_expr_errors(text: str, env: dict, code: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_expr(text).evaluate(env)
    assert info.value.code == code


#: Names bound to every kind of value a spec or a caller can give.
ENV = {"w": 3, "z": 0, "n": -2, "f": 2.5, "t": True, "s": "relu", "l": [1, 2], "big": 10**15}
ATOMS = st.one_of(
    st.sampled_from(sorted(ENV)),
    st.sampled_from(["0", "1", "2", "-1", "64", "1000000000000000", "0.5", "2.5", "1e-300"]),
    st.sampled_from(["True", "False", "'a'", "''"]),
)
BINARY = ["+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or"]


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.builds(
        lambda a, op, b: f"({a} {op} {b})", children, st.sampled_from(BINARY), children
    )
    unary = st.builds(lambda op, a: f"({op}{a})", st.sampled_from(["-", "+", "not "]), children)
    ifexp = st.builds(lambda a, b, c: f"({a} if {b} else {c})", children, children, children)
    call = st.builds(
        lambda fn, args: f"{fn}({', '.join(args)})",
        st.sampled_from(["min", "max", "abs"]),
        st.lists(children, min_size=1, max_size=3),
    )
    return st.one_of(binary, unary, ifexp, call)


EXPRESSIONS = st.recursive(ATOMS, _combine, max_leaves=12)


def test_evaluation_gives_a_value_or_an_archspec_error_never_anything_else() -> None:
    """Random expression trees over every kind of value: parsing and evaluating either give
    a bounded, finite value of a spec type or raise an ArchSpecError (ExprError)."""
    seen: Counter[str] = Counter()

    # sampled: 1,500 random trees (each parsed, evaluated and read back from its emitted
    # Python) cost half a minute on a busy CI machine; the default run draws a fixed,
    # derandomized 600 of them, `--all` all 1,500 (`examples` in tests/conftest.py)
    @settings(
        max_examples=examples(1500, 600),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(EXPRESSIONS)
    def run(text: str) -> None:
        try:
            expr = parse_expr(text)
        except ArchSpecError as exc:
            assert exc.error_code in ("E206", "E302", "E308", "E309"), exc
            seen["refused when parsed"] += 1
            return_value = None
        else:
            try:
                return_value = expr.evaluate(ENV)
            except ArchSpecError as exc:
                assert exc.error_code in ("E206", "E302", "E308", "E309"), exc
                seen["refused when evaluated"] += 1
            else:
                seen["value"] += 1
                assert type(return_value) in (int, float, bool, str, list)
                if type(return_value) in (int, float):
                    assert math.isfinite(return_value) and abs(return_value) <= MAX_ABS_VALUE
                # what the emitter writes means the same
                again = parse_expr(expr.to_python()).evaluate(ENV)
                assert again == return_value or (again != again and return_value != return_value)

    run()
    assert seen["value"] > 200 and seen["refused when parsed"] > 50, seen
    assert seen["refused when evaluated"] > 50, seen


INT_EXPRESSIONS = st.recursive(
    st.sampled_from(["w", "w", "0", "1", "2", "3", "2.5", "True", "'a'", "-1"]),
    _combine,
    max_leaves=6,
)


def test_check_and_emit_agree_on_random_expressions() -> None:
    """Where `check` accepts a spec, `emit` and `compile` (meta) accept it too; `check`
    itself never raises, whatever the expression in a field or a `when`."""
    seen: Counter[str] = Counter()

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(INT_EXPRESSIONS, INT_EXPRESSIONS, st.integers(-2, 4))
    def run(channels: str, when: str, w: int) -> None:
        assume(len(channels) < 400 and len(when) < 400)
        text = spec_text(
            f'{{type: conv2d, out_channels: "max(1, min(64, {channels}))", kernel_size: 1}}',
            f'{{type: relu, when: "({when}) != 0"}}',  # a bool whenever `when` evaluates
            params="  w: 1\n",
        )
        result = archspec.check(text, w=w)
        if not result.ok:
            seen["refused"] += 1
            assert all(d.span is not None for d in result.diagnostics)
            return
        seen["accepted"] += 1
        archspec.emit(text, w=w)
        compile_within_limits(text, w=w)

    run()
    assert seen["accepted"] > 10 and seen["refused"] > 10, seen


#: Places an expression can stand, `{e}` the expression (quoted in YAML).
FIELD_TEMPLATES = [
    '{{type: conv2d, out_channels: 4, kernel_size: "{e}"}}',
    '{{type: conv2d, out_channels: 4, kernel_size: 3, stride: ["{e}", 1], padding: "{e}"}}',
    '{{type: dropout, p: "{e}"}}',
    '{{type: repeat, count: "{e}", layer: {{type: relu}}}}',
    '{{type: leaky_relu, negative_slope: "{e}"}}',
    '{{type: B, c: "{e}"}}',
    '{{type: residual, body: [{{type: relu}}], shortcut: {{when: "{e}", layers: []}}}}',
    '{{type: parallel, branches: {{a: {{type: relu}}, b: {{type: relu}}}}, dim: "{e}"}}',
]
BLOCK_B = (
    "  B:\n    params: {c: int}\n    layers:\n"
    "      - {type: conv2d, out_channels: c, kernel_size: 1}\n"
)


def test_no_field_lets_an_expression_escape_as_an_internal_error() -> None:
    """Random expressions in every kind of place, with params of every type: check returns
    located diagnostics or ok, and what it accepts, emit and compile accept."""
    seen: Counter[str] = Counter()

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(FIELD_TEMPLATES), EXPRESSIONS, st.sampled_from([0, 1, 3, -2, 2.5]))
    def run(template: str, expr: str, w: Any) -> None:
        assume(len(expr) < 300)
        text = spec_text(
            template.format(e=expr.replace('"', "'")),
            "{type: conv2d, out_channels: 2, kernel_size: 1}",
            params="  w: {type: float, default: 1}\n  s: relu\n  l: [1, 2]\n",
            blocks=BLOCK_B,
        )
        result = archspec.check(text, w=w)
        assert all(d.span is not None for d in result.diagnostics), result.diagnostics
        if not result.ok:
            seen["refused"] += 1
            return
        seen["accepted"] += 1
        archspec.emit(text, w=w)
        compile_within_limits(text, w=w)

    run()
    assert seen["accepted"] > 10 and seen["refused"] > 50, seen


def test_check_refuses_what_emit_would_fold(tmp_path: Path) -> None:
    """An untaken branch with a failing constant used to pass check and crash emit."""
    path = write(
        tmp_path,
        spec_text(
            '{type: conv2d, out_channels: "w if w > 0 else 4 // 0", kernel_size: 3}',
            params="  w: 8\n",
        ),
    )
    refused(path, "E308", 7, 34)


@pytest.mark.parametrize(
    ("value", "code"),
    [('"2.5 ** 2"', "E309"), ('"0 ** -1"', "E308"), ('"max(5)"', "E206")],
)
def test_expression_errors_in_a_spec_are_located(tmp_path: Path, value: str, code: str) -> None:
    path = write(tmp_path, spec_text(f"{{type: conv2d, out_channels: {value}, kernel_size: 3}}"))
    refused(path, code, 5, 34)


def test_expression_errors_in_block_arguments_are_located(tmp_path: Path) -> None:
    """Block arguments are not validated by the schema: lowering reports them."""
    blocks = (
        "  B:\n    params: {c: int}\n    layers:\n"
        "      - {type: conv2d, out_channels: c, kernel_size: 1}\n"
    )
    path = write(tmp_path, spec_text('{type: B, c: "max(5)"}', blocks=blocks))
    refused(path, "E206", 10, 18)


# --------------------------------------------------------------------------------------
# Names that nn.Module owns


@pytest.mark.parametrize(
    "name", ["_modules", "_parameters", "_apply", "_version", "_x", "pop", "append", "training"]
)
def test_module_attribute_names_are_refused_at_validation(tmp_path: Path, name: str) -> None:
    path = write(
        tmp_path, spec_text(f"{{name: {name}, type: conv2d, out_channels: 4, kernel_size: 3}}")
    )
    refused(path, "E204", 5, 12)


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        (spec_text('{name: "conv\\n", type: relu}'), 5, 12),
        (spec_text("{type: B}", blocks='  "B\\n":\n    layers: [{type: relu}]\n'), 5, 3),
        (spec_text("{type: relu}").replace("name: net", 'name: "net\\n"'), 2, 7),
        (spec_text("{type: relu}", extra='class_name: "Net\\n"\n'), 6, 13),
    ],
)
def test_a_name_with_a_trailing_newline_is_refused(
    tmp_path: Path, text: str, line: int, col: int
) -> None:
    """`$` in a regex also matches before a final newline: "conv\\n" was once a valid name,
    which reached module attributes and emitted code."""
    refused(write(tmp_path, text), "E204", line, col)


@pytest.mark.parametrize(
    ("layer", "line", "col"),
    [
        ("{type: sequential, layers: [{name: _b, type: relu}]}", 5, 40),
        ("{type: parallel, branches: {_b: {type: relu}, c: {type: relu}}}", 5, 33),
        ("{type: residual, body: [{type: relu}], shortcut: {name: _m, layers: []}}", 5, 61),
        ("{type: repeat, count: 2, layer: {name: insert, type: relu}}", 5, 44),
    ],
)
def test_names_in_every_construct_are_checked(
    tmp_path: Path, layer: str, line: int, col: int
) -> None:
    refused(write(tmp_path, spec_text(layer)), "E204", line, col)


def test_reserved_names_come_with_the_other_schema_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_text("{name: _x, type: relu}", "{type: conv2d, out_channels: 4, kernel_sise: 3}"),
    )
    result = archspec.check(path)
    assert [(d.code, d.span.line) for d in result.diagnostics][:2] == [("E204", 5), ("E201", 6)]


def test_static_list_covers_every_nn_module_attribute() -> None:
    """`archspec check` must not import torch, so the attribute list is static: it must
    hold every public attribute torch's containers have (the `_` rule covers the rest)."""
    nn = pytest.importorskip("torch.nn")
    from archspec.ops.base import RESERVED_NAMES
    from archspec.schema import module_name_problem

    attributes = set(dir(nn.Module())) | set(dir(nn.Sequential())) | set(dir(nn.Sequential))
    for name in sorted(attributes):
        assert module_name_problem(name) is not None, name
    public = {n for n in attributes if not n.startswith("_")}
    assert public <= RESERVED_NAMES, public - RESERVED_NAMES


def test_names_torch_accepts_still_compile() -> None:
    """Builtins and the emitted module's own names are fine as layer names: the emitter
    renames its locals, and they are not attributes of nn.Module."""
    torch = pytest.importorskip("torch")
    names = ["print", "int", "torch", "nn", "F", "x", "identity", "out", "object"]
    layers = [f"{{name: {n}, type: relu}}" for n in names]
    text = spec_text(*layers)
    model = archspec.compile(text)
    assert [n for n, _ in model.named_children()] == names
    namespace: dict[str, Any] = {}
    exec(compile(archspec.emit(text), "net.py", "exec"), namespace)
    out = namespace["Net"]()(torch.zeros(1, 3, 32, 32))
    assert out.shape == (1, 3, 32, 32)
