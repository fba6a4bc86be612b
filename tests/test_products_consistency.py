"""The products and arithmetic kinds (matmul, scaled_dot_product_attention, scale, div,
vector_norm, addcmul) agree across archspec's four readings of one spec: `check`'s symbolic
output shape (bound to the input) and its shape at the input, `summary`'s MACs at the input
(and the formula the docs state: `batch * M * K * N` for matmul, `batch * Lq * Lk * (E + Ev)`
for attention, 0 for the rest), the compiled module's real forward, and the emitted source
(equal to the compiled module to the bit).

Each case is a small spec whose last layer is the kind under test, its other operands made
from the input by permute, linear and mean layers, so that they differ in size and broadcast
(a batch dim of 1 against N heads, a mean over kept dims as a divisor). Hypothesis draws the
sizes and settings; the test asserts how many cases of each kind ran.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import archspec
from archspec.dims import Dim
from archspec.lowering.values import parsed
from tests.ops_cases import emitted

KINDS = ("matmul", "scaled_dot_product_attention", "scale", "div", "vector_norm", "addcmul")
EXAMPLES = 60
#: every kind must have run at least this many real cases
MIN_PER_KIND = 5


@dataclass(frozen=True)
class Case:
    """A spec ending in one layer of `kind`, the input it runs on, and its MACs by formula."""

    kind: str
    text: str
    shape: tuple[int, ...]
    macs: int


def _spec(shape: tuple[int, ...], layers: list[str]) -> str:
    declared = ", ".join(["N", *map(str, shape[1:])])
    body = "".join(f"  - {line}\n" for line in layers)
    return f"archspec: 1\nname: prod\ninput: [{declared}]\nlayers:\n{body}"


def _perm_last_two(rank: int) -> str:
    dims = [*range(rank - 2), rank - 1, rank - 2]
    return f"[{', '.join(map(str, dims))}]"


@st.composite
def matmul_case(draw: st.DrawFn) -> Case:
    rank = draw(st.integers(3, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    m, k = shape[-2], shape[-1]
    p = draw(st.integers(1, 6))
    transpose = draw(st.booleans())
    broadcast = rank == 4 and draw(st.booleans())  # b has one head for the input's shape[1]
    perm = _perm_last_two(rank)
    layers = [
        f"{{name: t, type: permute, dims: {perm}, from: input}}",  # (..., K, M)
        f"{{name: bt, type: linear, out_features: {p}}}",  # (..., K, P)
    ]
    b = "bt"
    if broadcast:
        layers.append("{name: bm, type: mean, dim: [1], keepdim: true}")
        b = "bm"
    if transpose:
        layers.append(f"{{name: bT, type: permute, dims: {perm}, from: {b}}}")  # (..., P, K)
        b = "bT"
    flag = ", transpose: true" if transpose else ""
    layers.append(f"{{name: out, type: matmul, from: [input, {b}]{flag}}}")
    return Case("matmul", _spec(shape, layers), shape, math.prod(shape[:-2]) * m * k * p)


@st.composite
def sdpa_case(draw: st.DrawFn) -> Case:
    shape = tuple(draw(st.integers(1, 4)) for _ in range(4))  # (N, heads, Lq, E)
    lk, ev = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    perm = _perm_last_two(4)
    scale = draw(st.none() | st.sampled_from(["0.125", "2.5", "(4 * 4) ** -0.5"]))
    causal = draw(st.booleans())
    extra = (f", scale: {scale}" if scale else "") + (", is_causal: true" if causal else "")
    layers = [
        f"{{name: t, type: permute, dims: {perm}, from: input}}",  # (N, h, E, Lq)
        f"{{name: kt, type: linear, out_features: {lk}}}",  # (N, h, E, Lk)
        f"{{name: k, type: permute, dims: {perm}}}",  # (N, h, Lk, E)
        f"{{name: v, type: linear, out_features: {ev}}}",  # (N, h, Lk, Ev)
        f"{{name: out, type: scaled_dot_product_attention, from: [input, k, v]{extra}}}",
    ]
    n, h, lq, e = shape
    return Case(
        "scaled_dot_product_attention", _spec(shape, layers), shape, n * h * lq * lk * (e + ev)
    )


@st.composite
def scale_case(draw: st.DrawFn) -> Case:
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    number = st.sampled_from(["1", "0", "-0.0", "0.5", "-3", "1.0e-6", "3 ** -0.5", "2 / 3"])
    factor, offset = draw(number), draw(number)
    layers = [f"{{name: out, type: scale, factor: {factor}, offset: {offset}}}"]
    return Case("scale", _spec(shape, layers), shape, 0)


def _reduced(draw: st.DrawFn, rank: int) -> list[int]:
    """Some dims of a rank-`rank` tensor, in any order, negative spellings too."""
    dims = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    return [d - rank if draw(st.booleans()) else d for d in dims]


@st.composite
def div_case(draw: st.DrawFn) -> Case:
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    dims = _reduced(draw, rank)
    mean = f"{{name: m, type: mean, dim: {dims}, keepdim: true, from: input}}"
    operands = draw(st.sampled_from(["[input, m]", "[m, input]", "[m, m]"]))
    layers = [mean, f"{{name: out, type: div, from: {operands}}}"]
    return Case("div", _spec(shape, layers), shape, 0)


@st.composite
def vector_norm_case(draw: st.DrawFn) -> Case:
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    dims = _reduced(draw, rank)
    keep = draw(st.booleans())
    order = draw(st.sampled_from(["2", "1", "3", "0.5"]))
    layers = [
        f"{{name: out, type: vector_norm, dim: {dims}, keepdim: {str(keep).lower()}, ord: {order}}}"
    ]
    return Case("vector_norm", _spec(shape, layers), shape, 0)


@st.composite
def addcmul_case(draw: st.DrawFn) -> Case:
    rank = draw(st.integers(2, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    first, second = _reduced(draw, rank), _reduced(draw, rank)
    value = draw(st.sampled_from(["1", "0.5", "-2", "0"]))
    order = draw(st.permutations(["input", "a", "b"]))
    layers = [
        f"{{name: a, type: mean, dim: {first}, keepdim: true, from: input}}",
        f"{{name: b, type: mean, dim: {second}, keepdim: true, from: input}}",
        f"{{name: out, type: addcmul, from: [{', '.join(order)}], value: {value}}}",
    ]
    return Case("addcmul", _spec(shape, layers), shape, 0)


CASES = st.one_of(
    matmul_case(), sdpa_case(), scale_case(), div_case(), vector_norm_case(), addcmul_case()
)


def _symbolic(text: str, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """check's symbolic output shape and the symbolic summary's MACs of the last layer, their
    symbols bound to the concrete input."""
    result = archspec.check(text)
    assert result.ok, result.diagnostics
    assert result.symbolic_input is not None and len(result.symbolic_outputs) == 1
    env = {str(d): v for d, v in zip(result.symbolic_input, shape) if not d.is_const}
    assert result.domain is None or result.domain.contains(env), (env, result.domain)
    out = tuple(Dim.of(d).evaluate(env) for d in result.symbolic_outputs[0])
    (row,) = [r for r in archspec.summary(text).to_dict()["rows"] if r["name"] == "out"]
    macs = row["macs"] if isinstance(row["macs"], int) else parsed(row["macs"]).evaluate(env)
    return out, macs


def _agree(case: Case) -> None:
    """check, summary, the compiled forward and the emitted forward agree on `case`."""
    symbolic, symbolic_macs = _symbolic(case.text, case.shape)
    at_input = archspec.check(case.text, input=case.shape)
    assert at_input.ok, at_input.diagnostics
    (checked,) = at_input.outputs
    rows = {r["name"]: r for r in archspec.summary(case.text, input=case.shape).to_dict()["rows"]}
    model = archspec.compile(case.text).eval()
    torch.manual_seed(0)
    x = torch.randn(case.shape)
    with torch.no_grad():
        out = model(x)
        mirror = emitted(case.text).eval()
        mirror.load_state_dict(model.state_dict(), strict=True)
        again = mirror(x.clone())
    real = tuple(out.shape)
    assert symbolic == real, (case.text, symbolic, real)
    assert tuple(d.value for d in map(Dim.of, checked)) == real, (case.text, checked, real)
    assert rows["out"]["output_shape"] == str(real).replace(",)", ")"), (rows["out"], real)
    assert rows["out"]["macs"] == case.macs == symbolic_macs, (case.text, rows["out"], case.macs)
    torch.testing.assert_close(again, out, rtol=0, atol=0, equal_nan=True)


def test_products_agree_across_check_summary_compile_and_emit() -> None:
    ran: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES * len(KINDS), deadline=None)
    @given(case=CASES)
    def run(case: Case) -> None:
        # a spec over the sizes a check may refuse by design (none here) is not a verdict
        assume(all(s >= 1 for s in case.shape))
        _agree(case)
        ran[case.kind] += 1

    run()
    assert set(ran) == set(KINDS), ran
    assert min(ran.values()) >= MIN_PER_KIND, ran
