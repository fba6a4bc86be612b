"""Spec values never cause an internal error (issue 12, section 4).

Each class of value that used to escape as a raw Python exception (exit 3) is a located
ArchSpecError now: expressions, names that nn.Module owns, init rules torch refuses, names
that shadow others, and the API's own arguments. `archspec.check` never raises on a bad spec.
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

    @settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    from archspec.schema import NN_MODULE_ATTRIBUTES, module_name_problem

    attributes = set(dir(nn.Module())) | set(dir(nn.Sequential())) | set(dir(nn.Sequential))
    for name in sorted(attributes):
        assert module_name_problem(name) is not None, name
    public = {n for n in attributes if not n.startswith("_")}
    assert public <= NN_MODULE_ATTRIBUTES, public - NN_MODULE_ATTRIBUTES


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


# --------------------------------------------------------------------------------------
# Init rules torch refuses

INIT_LAYERS = (
    "{name: c, type: conv2d, out_channels: 4, kernel_size: 3}",
    "{name: bn, type: batchnorm2d}",
    "{type: flatten}",
    "{name: fc, type: linear, out_features: 2}",
)


@pytest.mark.parametrize(
    ("rule", "code", "col"),
    [
        ("{layers: [conv2d], weight: {normal: {std: -1}}}", "E204", 47),
        ("{layers: [conv2d], weight: {uniform: {a: 2, b: 1}}}", "E204", 52),
        ("{layers: [conv2d], weight: {trunc_normal: {a: 2, b: -2}}}", "E204", 57),
        ("{layers: [conv2d], weight: {trunc_normal: {std: 0}}}", "E204", 53),
        ("{layers: [conv2d], weight: {xavier_normal: {gain: -1}}}", "E204", 55),
        ("{layers: [conv2d], weight: {uniform: {a: -1.0e+300}}}", "E204", 46),
        ("{layers: [conv2d], weight: {constant: 1.0e+300}}", "E204", 43),
        ("{layers: [conv2d], bias: {kaiming_normal: {}}}", "E313", 30),
        ("{layers: [batchnorm2d], weight: {xavier_uniform: {}}}", "E313", 37),
        ("{paths: ['*'], weight: {kaiming_uniform: {}}}", "E313", 28),
        ("{layers: [linear], when: false, bias: {xavier_normal: {}}}", "E313", 43),
    ],
)
def test_init_rules_torch_refuses_are_located(
    tmp_path: Path, rule: str, code: str, col: int
) -> None:
    path = write(tmp_path, spec_text(*INIT_LAYERS, extra=f"init:\n  - {rule}\n"))
    refused(path, code, 10, col)


@pytest.mark.parametrize(
    "rule",
    [
        "{layers: [conv2d], weight: {uniform: {a: 1, b: 1}}}",  # torch accepts a == b
        "{layers: [conv2d], weight: {trunc_normal: {a: 1, b: 1}}}",
        "{layers: [conv2d], weight: {normal: {std: 0}}}",
        "{layers: [conv2d, linear], weight: {kaiming_normal: {mode: fan_out}}, bias: zeros}",
        "{paths: [c, fc], weight: {xavier_uniform: {gain: 0}}}",
        "{layers: [batchnorm2d], weight: ones, bias: {uniform: {a: -1, b: 1}}}",
    ],
)
def test_init_rules_torch_accepts_still_build(rule: str) -> None:
    torch = pytest.importorskip("torch")
    text = spec_text(*INIT_LAYERS, extra=f"init:\n  - {rule}\n")
    assert archspec.check(text).ok
    model = archspec.compile(text)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)
    namespace: dict[str, Any] = {}
    exec(compile(archspec.emit(text), "net.py", "exec"), namespace)
    assert namespace["Net"]()(torch.zeros(1, 3, 32, 32)).shape == (1, 2)


def test_tensor_ranks_known_without_torch_match_torch() -> None:
    """The ranks lowering uses to refuse fan-based init agree with the modules torch builds,
    and every built-in layer kind with parameters is in the table."""
    pytest.importorskip("torch")
    from archspec.ir import iter_nodes
    from archspec.lower import _WEIGHT_RANKS, tensor_rank
    from archspec.ops import REGISTRY
    from archspec.ops.base import Op

    with_params = {
        kind
        for kind, op in REGISTRY.items()
        if type(op).params is not Op.params and type(op).__module__.startswith("archspec.ops.")
    }  # plugins' layers are not known without torch: torch decides when building them
    assert with_params <= set(_WEIGHT_RANKS), with_params - set(_WEIGHT_RANKS)
    specs = [
        spec_text(
            "{type: conv2d, out_channels: 4, kernel_size: 3, bias: false}",
            "{type: batchnorm2d, affine: false}",
            "{type: batchnorm2d}",
            "{type: conv2d, out_channels: 4, kernel_size: 1}",
            "{type: flatten}",
            "{type: linear, out_features: 4}",
            "{type: linear, out_features: 4, bias: false}",
            "{type: batchnorm1d}",
        ),
        "archspec: 1\nname: net\ninput: [N, 2, 16]\nlayers:\n"
        "  - {type: conv1d, out_channels: 4, kernel_size: 3}\n  - {type: batchnorm1d}\n",
        "archspec: 1\nname: net\ninput: [N, 2, 8, 8, 8]\nlayers:\n"
        "  - {type: conv3d, out_channels: 4, kernel_size: 3, bias: false}\n"
        "  - {type: batchnorm3d}\n",
    ]
    checked = Counter()
    for text in specs:
        graph = archspec.build_graph(text)
        modules = dict(archspec.compile(text, device="meta").named_modules())
        for path, node in iter_nodes(graph.root):
            if node.kind not in _WEIGHT_RANKS:
                continue
            for which in ("weight", "bias"):
                tensor = getattr(modules[path], which, None)
                assert tensor_rank(node, which) == (None if tensor is None else tensor.dim())
                checked[node.kind] += 1
    assert set(checked) == set(_WEIGHT_RANKS), checked


# --------------------------------------------------------------------------------------
# Names that shadow others


def test_a_param_named_in_channels_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_text(
            "{type: conv2d, out_channels: in_channels, kernel_size: 3}",
            params="  in_channels: 16\n",
        ),
    )
    refused(path, "E204", 5, 3)


def test_a_block_param_named_in_channels_is_refused(tmp_path: Path) -> None:
    blocks = (
        "  B:\n    params: {in_channels: 8}\n    layers:\n"
        "      - {type: conv2d, out_channels: in_channels, kernel_size: 3}\n"
    )
    refused(write(tmp_path, spec_text("{type: B}", blocks=blocks)), "E204", 6, 14)


def test_a_repeat_index_that_hides_a_root_param_is_refused(tmp_path: Path) -> None:
    """`i` is the default index: check used to read the index, emit the param."""
    path = write(
        tmp_path,
        spec_text(
            '{type: repeat, count: 2, layer: {type: conv2d, out_channels: "i + 4", '
            "kernel_size: 1}}",
            params="  i: 16\n",
        ),
    )
    err = refused(path, "E304", 7, 5)
    assert "index: k" in (err.hint or "")


@pytest.mark.parametrize(("index", "line", "col"), [("k", 10, 31), ("w", 11, 31)])
def test_a_repeat_index_in_a_block_is_checked_against_its_scope(
    tmp_path: Path, index: str, line: int, col: int
) -> None:
    blocks = (
        "  B:\n    params: {k: 2}\n    layers:\n"
        "      - {type: repeat, index: k, count: 2, layer: {type: relu}}\n"
        "      - {type: repeat, index: w, count: 2, layer: {type: relu}}\n"
    )
    path = write(tmp_path, spec_text("{type: B}", params="  w: 4\n", blocks=blocks))
    result = archspec.check(path)
    found = {(d.code, d.span.line, d.span.col) for d in result.diagnostics}
    assert ("E304", line, col) in found
    assert len(found) == 2


@pytest.mark.parametrize(
    "text",
    [
        # nested repeats may reuse an index: the inner one hides the outer in emitted code too
        spec_text(
            "{type: repeat, count: 2, layer: {type: repeat, count: 2, layer: {type: conv2d, "
            'out_channels: "i + 4", kernel_size: 1}}}'
        ),
        # a block param may share a spec param's name: inside the block it is the block's
        spec_text(
            "{type: B}",
            "{type: conv2d, out_channels: w, kernel_size: 1}",
            params="  w: 16\n",
            blocks="  B:\n    params: {w: 8}\n    layers:\n"
            "      - {type: conv2d, out_channels: w, kernel_size: 1}\n",
        ),
    ],
)
def test_scoping_that_check_and_emit_agree_on_is_kept(text: str) -> None:
    torch = pytest.importorskip("torch")
    assert archspec.check(text).ok
    model = archspec.compile(text)
    namespace: dict[str, Any] = {}
    exec(compile(archspec.emit(text), "net.py", "exec"), namespace)
    emitted = namespace["Net"]()
    assert [p.shape for p in model.parameters()] == [p.shape for p in emitted.parameters()]
    x = torch.zeros(1, 3, 8, 8)
    assert model(x).shape == emitted(x).shape


# --------------------------------------------------------------------------------------
# The API's own arguments


def test_compile_takes_none_for_either_size_limit() -> None:
    for limits in ({"max_params": None}, {"max_activations": None}, {"max_params": 0}):
        if limits.get("max_params") == 0:
            with pytest.raises(ArchSpecError) as info:
                archspec.compile("lenet5", device="meta", **limits)
            assert info.value.codes == ["E501"]
        else:
            assert archspec.compile("lenet5", device="meta", **limits) is not None


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ({"max_params": -1}, ValueError),
        ({"max_params": 1.5}, TypeError),
        ({"max_params": True}, TypeError),
        ({"max_activations": "10"}, TypeError),
        ({"max_layers": None}, TypeError),
        ({"max_layers": 0}, TypeError),
    ],
)
def test_bad_limit_arguments_are_programmer_errors(limits: dict, error: type) -> None:
    with pytest.raises(error):
        archspec.compile("lenet5", device="meta", **limits)


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("1,1,32,32", (1, 1, 32, 32)),
        (" 1, 1 ,32 ,32 ", (1, 1, 32, 32)),
        ("1x1x32x32", (1, 1, 32, 32)),
        ((1, 1, 32, 32), (1, 1, 32, 32)),
        ([2, 1, 35, 35], (2, 1, 35, 35)),
    ],
)
def test_check_input_as_a_sequence_or_text(value: Any, shape: tuple) -> None:
    result = archspec.check("lenet5", input=value)
    assert result.ok
    assert tuple(d.value for d in result.input_shape) == shape


def test_check_input_takes_a_torch_size() -> None:
    torch = pytest.importorskip("torch")
    assert archspec.check("lenet5", input=torch.Size([1, 1, 32, 32])).ok


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ((1, 1, 32.5, 32), TypeError),
        ((1, 1, True, 32), TypeError),
        (32, TypeError),
        (b"1,1,32,32", TypeError),
        ({"N": 1}, TypeError),
        ("1,1,,32", ValueError),
        ("", ValueError),
        ("1,1,-32,32", ValueError),
        ("1,1,32.5,32", ValueError),
        ("1,1," + "9" * 5000 + ",32", ValueError),  # never parsed as a 5000-digit int
        ((1, 0, 32, 32), ValueError),
        ((1,) * 9, ValueError),
        ((), ValueError),
        (range(10**12), ValueError),
    ],
)
def test_bad_input_arguments_raise_before_the_spec_is_read(value: Any, error: type) -> None:
    for call in (archspec.check, archspec.summary):
        with pytest.raises(error):
            call("no such spec", input=value)


def test_check_reports_a_bad_spec_and_bad_params_as_results() -> None:
    """Nothing in the spec or its params makes check raise; a shape of the wrong rank
    for this spec is a result too."""
    cases = [
        ("lenet5", {"input": (1, 1, 32)}),
        ("lenet5", {"num_classes": "ten"}),
        ("lenet5", {"no_such_param": 1}),
        ("no such spec", {}),
        (spec_text('{type: conv2d, out_channels: "0 ** -1", kernel_size: 3}'), {}),
        (spec_text("{name: _modules, type: relu}"), {}),
        (12, {}),
    ]
    for source, kwargs in cases:
        result = archspec.check(source, **kwargs)  # type: ignore[arg-type]
        assert not result.ok and result.diagnostics, (source, kwargs)


# --------------------------------------------------------------------------------------
# archspec.load takes built-in names only


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "specs/lenet5.yaml", "lenet5.yaml", "resnet5"]
)
def test_load_takes_built_in_names_only(name: str, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    secret = tmp_path / "lenet5.yaml"
    secret.write_text("archspec: 1\nname: SECRET-LINE\n")
    with pytest.raises(ArchSpecError) as info:
        archspec.load(name)
    assert info.value.codes == ["E100"]
    assert "archspec.compile" in (info.value.hint or "")
    assert "SECRET" not in info.value.render()


def test_load_suggests_close_names_and_refuses_non_text() -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.load("resnet5")
    assert "did you mean resnet50" in (info.value.hint or "")
    with pytest.raises(TypeError):
        archspec.load(Path("specs/lenet5.yaml"))  # type: ignore[arg-type]
    torch = pytest.importorskip("torch")
    assert archspec.load("lenet5", num_classes=3)(torch.zeros(1, 1, 32, 32)).shape == (1, 3)
