"""`let:` bindings and the expression functions: values, errors at file:line:col, hostile
specs (recursion, huge lists) refused fast, and emitted code equal to the compiled model."""

from __future__ import annotations

import math
import textwrap
import time

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import archspec
from archspec.errors import ArchSpecError
from archspec.expr import ExprError, parse_expr
from archspec.exprfuncs import make_divisible
from tests.cpu import GUARD
from tests.emit_helpers import _load


def spec(body: str, header: str = "input: [N, 3, 16, 16]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


def err(text: str, **params: object) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text, params)
    return info.value


def where(e: ArchSpecError) -> tuple[str, int, int]:
    assert e.span is not None, e.render()
    return e.error_code, e.span.line, e.span.col


def torchvision_make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision.models._utils._make_divisible, copied verbatim."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


CHECKED: dict[str, int] = {"make_divisible": 0}


@given(
    st.integers(1, 4096),
    st.sampled_from([0.25, 0.35, 0.5, 0.75, 1.0, 1.1, 1.3, 1.4, 1.8, 2.0]),
    st.sampled_from([1, 2, 4, 8, 16]),
    st.one_of(st.none(), st.integers(1, 64)),
)
def test_make_divisible_is_torchvisions(
    channels: int, mult: float, divisor: int, min_value: int | None
) -> None:
    # torchvision's callers give a min_value that is a multiple of the divisor
    assume(min_value is None or min_value % divisor == 0)
    v = channels * mult
    want = torchvision_make_divisible(v, divisor, min_value)
    assert make_divisible(v, divisor, min_value) == want
    args = f"{v!r}, {divisor}" + ("" if min_value is None else f", {min_value}")
    assert parse_expr(f"make_divisible({args})").evaluate({}) == want
    CHECKED["make_divisible"] += 1


def test_make_divisible_was_checked_on_many_values() -> None:
    test_make_divisible_is_torchvisions()
    assert CHECKED["make_divisible"] >= 50


@pytest.mark.parametrize(
    "text,value",
    [
        ("make_divisible(32 * 0.75, 8)", 24),
        ("make_divisible(1280 * 1.4, 8)", 1792),
        ("make_divisible(16 * 0.5, 8)", 8),
        ("make_divisible(3, 8)", 8),
        ("make_divisible(100, 8, 16)", 104),
        ("round(2.5) + round(3.5)", 6),
        ("ceil(7 / 2)", 4),
        ("floor(-7 / 2)", -4),
        ("sqrt(1000) > 31.6", True),
        ("1 / sqrt(4)", 0.5),
        # RegNet's stage count: round(log(1 + (depth - 1) * w_a / w_0) / log(w_m)) + 1
        ("round(log(((16 - 1) * 27.89 + 48) / 48) / log(2.09)) + 1", 4),
        ("log(1)", 0.0),
        ("len(t)", 3),
        ("t[1][2] + t[-1][0]", 7 + 4),
        ("t[len(t) - 1][1]", 5),
    ],
)
def test_function_and_index_values(text: str, value: object) -> None:
    table = [[1, 2, 3], [5, 6, 7], [4, 5, 6]]
    got = parse_expr(text).evaluate({"t": table})
    assert got == value and type(got) is type(value)
    # the canonical rendering means the same
    assert parse_expr(parse_expr(text).to_python()).evaluate({"t": table}) == value


@pytest.mark.parametrize(
    "text,code,words",
    [
        ("t[3]", "E308", "index 3 is out of range for a list of 3 items"),
        ("t[-4]", "E308", "out of range"),
        ("t[0][0][0]", "E308", "only a list can be indexed"),
        ("t[0.5]", "E308", "whole number"),
        ("t['a']", "E308", "whole number"),
        ("sqrt(-1)", "E308", "negative"),
        ("log(0)", "E308", "not positive"),
        ("log(-2.5)", "E308", "not positive"),
        ("make_divisible(5, 0)", "E308", "divisor above 0"),
        ("len(3)", "E308", "len() needs a list"),
        ("ceil(t)", "E308", "needs a number"),
        ("round(1, 2)", "E206", "one argument"),
        ("make_divisible(1)", "E206", "2 to 4 arguments"),
        ("floor(x=1)", "E206", "positional"),
        ("'abc'[0]", "E308", "only a list can be indexed"),
        ("t[0:2]", "E206", "Slice"),
        ("exp(1)", "E206", "may be called"),
    ],
)
def test_function_and_index_errors(text: str, code: str, words: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_expr(text).evaluate({"t": [[1, 2, 3], [5, 6, 7], [4, 5, 6]]})
    assert info.value.code == code and words in info.value.message, info.value.message


def test_an_index_bomb_is_refused_when_parsed() -> None:
    start = time.process_time()
    with pytest.raises(ExprError) as info:
        parse_expr("t" + "[0]" * 100)
    assert info.value.code == "E206" and "deeper" in info.value.message
    assert time.process_time() - start < GUARD  # a hang guard: load varies CPU time


LETS = """
params:
  width_mult: 0.75
  table: [[1, 16], [6, 24]]
let:
  stem: make_divisible(32 * width_mult, 8)
  c1: table[1][1]
  twice: stem * 2
blocks:
  Expand:
    params:
      t: int
    let:
      hidden: in_channels * t
      back: hidden // t
    layers:
      - {name: expand, type: conv2d, out_channels: hidden, kernel_size: 1}
      - {name: project, type: conv2d, out_channels: back, kernel_size: 1}
layers:
  - {name: stem, type: conv2d, out_channels: stem, kernel_size: 3, padding: 1}
  - {name: block, type: Expand, t: 6}
  - {name: head, type: conv2d, out_channels: "twice + c1", kernel_size: 1}
"""


def test_lets_in_specs_and_blocks() -> None:
    model = archspec.compile(spec(LETS))
    assert model.stem.out_channels == 24
    assert model.block.expand.out_channels == 24 * 6 and model.block.project.out_channels == 24
    assert model.head.out_channels == 48 + 24
    # lets follow the params they read
    model = archspec.compile(spec(LETS), width_mult=1.0)
    assert model.stem.out_channels == 32 and model.block.expand.out_channels == 192
    assert model.head.out_channels == 64 + 24


def emitted_model(text: str, **params: object) -> torch.nn.Module:
    """The emitted source of a spec, run as a fresh module, its class instantiated."""
    graph = archspec.build_graph(text, params)
    source = archspec.emit(text, **params)
    return getattr(_load(source, "t"), graph.class_name)()


def test_emitted_source_of_lets_equals_compile() -> None:
    text = spec(LETS)
    assert "make_divisible" not in archspec.emit(text).split("class ", 1)[1]
    emitted = emitted_model(text)
    torch.manual_seed(0)
    compiled = archspec.compile(text)
    assert list(emitted.state_dict()) == list(compiled.state_dict())
    emitted.load_state_dict(compiled.state_dict())
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(emitted.eval()(x), compiled.eval()(x))


@pytest.mark.parametrize(
    "body,where_",
    [
        # a let reading a later let (and itself): unknown name, at the let
        ("let:\n  a: b + 1\n  b: 2\nlayers:\n  - {type: relu}\n", ("E302", 5, 6)),
        ("let:\n  a: a + 1\nlayers:\n  - {type: relu}\n", ("E302", 5, 6)),
        # an index out of range, at the let
        ("params:\n  t: [[1, 2]]\nlet:\n  a: t[1][0]\nlayers:\n  - {type: relu}\n", ("E308", 7, 6)),
        # a let hiding a param: at its key
        ("params:\n  a: 1\nlet:\n  a: 2\nlayers:\n  - {type: relu}\n", ("E304", 7, 3)),
        # a let named in_channels
        ("let:\n  in_channels: 3\nlayers:\n  - {type: relu}\n", ("E204", 5, 3)),
        # an index out of range in a field, at the field
        (
            "params:\n  t: [[8, 2]]\nlayers:\n  - {type: conv2d, out_channels: 't[0][2]', "
            "kernel_size: 1}\n",
            ("E308", 7, 34),
        ),
        # a block let reading a later one, at the block's let
        (
            "blocks:\n  B:\n    let:\n      h: g\n      g: 1\n    layers:\n"
            "      - {type: conv2d, out_channels: h, kernel_size: 1}\nlayers:\n  - {type: B}\n",
            ("E302", 7, 10),
        ),
    ],
)
def test_let_errors_are_located(body: str, where_: tuple[str, int, int]) -> None:
    e = err(spec(body))
    assert where(e) == where_, e.render()


def test_a_let_reading_a_later_let_says_lets_are_ordered() -> None:
    e = err(spec("let:\n  a: b + 1\n  b: 2\nlayers:\n  - {type: relu}\n"))
    assert "order" in (e.hint or ""), e.render()


def test_a_failed_let_does_not_cascade() -> None:
    e = err(
        spec("let:\n  a: 1 // x\nlayers:\n  - {type: conv2d, out_channels: a, kernel_size: 1}\n")
    )
    assert [d.code for d in e.diagnostics] == ["E302"], e.render()


def test_a_chain_of_lets_is_linear_and_bounded() -> None:
    # every let doubles the one before: the value bound stops it, at the let that passes it
    lets = "\n".join(f"  v{k}: v{k - 1} * 2" for k in range(1, 200))
    start = time.perf_counter()
    e = err(spec(f"let:\n  v0: 1\n{lets}\nlayers:\n  - {{type: relu}}\n"))
    assert e.error_code == "E309" and e.span is not None and e.span.line == 5 + 50
    assert time.perf_counter() - start < 2


def test_huge_and_self_holding_list_params_are_refused_fast() -> None:
    text = spec("params:\n  t: list\nlayers:\n  - {type: relu}\n")
    start = time.perf_counter()
    row = [0] * 1000
    e = err(text, t=[row] * 1000)
    assert e.error_code == "E309" and "100,000" in e.render()
    cyclic: list[object] = []
    cyclic.append(cyclic)
    e = err(text, t=cyclic)
    assert e.error_code == "E309" and "deeper" in e.render()
    assert time.perf_counter() - start < 2


@given(
    st.lists(st.lists(st.integers(1, 64), min_size=3, max_size=3), min_size=1, max_size=6),
    st.data(),
)
def test_table_lookups_match_python(rows: list[list[int]], data: st.DataObject) -> None:
    r = data.draw(st.integers(-len(rows), len(rows) - 1))
    c = data.draw(st.integers(0, 2))
    assume(rows[r][c] >= 1)
    body = f"""
    params:
      t: {rows}
    layers:
      - {{type: conv2d, out_channels: "t[{r}][{c}]", kernel_size: 1}}
    """
    g = archspec.build_graph(spec(body))
    assert g.output_shapes[0][1].value == rows[r][c]
    assert math.isfinite(rows[r][c])


INIT = """
params:
  scale: 1.0
layers:
  - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc1, type: linear, out_features: 100}
  - {name: fc2, type: linear, out_features: 10}
init:
  - {layers: [conv2d], weight: {kaiming_normal: {mode: fan_out}}, bias: zeros}
  # torchvision's EfficientNet / MobileNetV3 Linear init
  - layers: [linear]
    weight: {uniform: {a: "-scale / sqrt(out_features)", b: "scale / sqrt(out_features)"}}
    bias: {constant: "1 / in_features"}
"""


def test_fan_based_uniform_init_reads_each_layers_size() -> None:
    torch.manual_seed(0)
    model = archspec.compile(spec(INIT))
    for fc in (model.fc1, model.fc2):
        bound = 1 / math.sqrt(fc.out_features)
        assert -bound <= fc.weight.min() and fc.weight.max() <= bound
        assert fc.weight.max() > 0.9 * bound  # the range is used, not a narrower one
        assert torch.all(fc.bias == torch.tensor(1 / fc.in_features))
    model = archspec.compile(spec(INIT), scale=0.01)
    assert model.fc2.weight.abs().max() <= 0.01 / math.sqrt(10)


def test_emitted_init_expressions_equal_compile() -> None:
    text = spec(INIT)
    source = archspec.emit(text)
    assert "math.sqrt(m.out_features)" in source and "import math" in source
    graph = archspec.build_graph(text)
    module = _load(source, "init")
    torch.manual_seed(0)
    emitted = getattr(module, graph.class_name)()
    torch.manual_seed(0)
    compiled = archspec.compile(text)
    for (k, a), (k2, b) in zip(emitted.state_dict().items(), compiled.state_dict().items()):
        assert k == k2
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    "rule,code,col",
    [
        # a name that is neither a param, a let nor a layer size
        ('{layers: [linear], weight: {uniform: {a: "-1 / sqrt(widht)"}}}', "E302", 46),
        # a function emitted code cannot call
        ('{layers: [linear], weight: {uniform: {a: "-make_divisible(3, 2)"}}}', "E206", 46),
        # a range made empty by the layer's size, at the initialiser
        ('{layers: [linear], weight: {uniform: {a: "1 / out_features", b: 0.0}}}', "E204", 42),
        # sqrt of a negative number for this layer
        ('{layers: [linear], weight: {normal: {std: "sqrt(5 - out_features)"}}}', "E308", 47),
    ],
)
def test_init_expression_errors_are_located(rule: str, code: str, col: int) -> None:
    body = (
        "layers:\n  - {type: flatten}\n  - {type: linear, out_features: 10}\n"
        f"init:\n  - {rule}\n"
    )
    e = err(spec(body))
    assert where(e) == (code, 8, col), e.render()
