"""Time and memory bounds of check and compile, for specs from elsewhere (issue 12, section 3).

Every spec under the size limits checks in under a second of CPU, whatever its values: the
domain solver factorises instead of trial-dividing and spends from a work budget, dim
expressions are bounded, and messages name a few culprits instead of all of them. What
compile allocates follows the machine (E503), and sizes follow what PyTorch's kernels take.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from math import isqrt, prod
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.dims import MAX_DEPTH, MAX_SIZE, Dim, ExpressionTooLarge, Floor, Sym, total
from archspec.errors import ArchSpecError
from archspec.passes import domain, work
from archspec.passes.costs import footprint
from archspec.passes.inputdomain import generalise_input
from archspec.passes.primes import count_ordered_factorisations, divisors, factorise, is_prime
from archspec.passes.shapes import infer_shapes
from tests.cpu import GUARD, cpu_seconds


def cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(result, CPU seconds) with the solver's memory of solved constraints cleared before
    each run, so that every run pays in full."""
    return cpu_seconds(fn, before=domain._SOLVED.clear)


# -- factorisation -----------------------------------------------------------------------------


def _primes_near(x: int, count: int) -> list[int]:
    out = []
    while len(out) < count:
        if is_prime(x):
            out.append(x)
        x += 1
    return out


def test_factorise_agrees_with_trial_division() -> None:
    rng = random.Random(12)
    for n in [*range(1, 3000), *(rng.randrange(1, 10**9) for _ in range(300))]:
        f = factorise(n)
        assert prod(p**e for p, e in f.items()) == n
        assert all(is_prime(p) and all(p % q for q in range(2, isqrt(p) + 1)) for p in f)


@pytest.mark.parametrize(
    "n",
    [
        561,  # Carmichael numbers fool Fermat, not Miller-Rabin
        41041,
        2047,  # strong pseudoprimes to base 2 (and to 2..23 for the last one)
        3215031751,
        3825123056546413051,
        (2**31 - 1) ** 2,
        (2**61 - 1) * 3,
        (2**61 - 1) * 1000003 * 7919,  # past 3.3e24: a witness, then proved factors
        31622743 * 31622777,
        2**50,
        3**31,
        10**15,
        1000003**3,
    ],
)
def test_factorise_hard_cases(n: int) -> None:
    f = factorise(n)
    assert prod(p**e for p, e in f.items()) == n
    assert all(is_prime(p) for p in f)
    ds = divisors(f)
    assert ds == sorted(ds) and ds[0] == 1 and ds[-1] == n and all(n % d == 0 for d in ds)
    assert len(ds) == count_ordered_factorisations(f, 2)


def test_primality_is_proved_or_refused() -> None:
    assert is_prime(2**61 - 1) and not is_prime(3825123056546413051)
    with pytest.raises(work.Unsolvable):
        is_prime(2**89 - 1)  # prime, but past the bases' proof: no guess
    assert not is_prime(999_999_999_999_989 * 999_999_999_999_877)  # a witness is a proof
    with pytest.raises(work.Unsolvable):  # two 10^15 factors: beyond rho's step budget
        factorise(999_999_999_999_989 * 999_999_999_999_877)
    with work.budget(100), pytest.raises(work.Unsolvable):  # out of budget, not a wrong answer
        factorise(31622743 * 31622777)


# -- the domain solver within a budget ---------------------------------------------------------


def _products_spec(values: list[int], joined: bool) -> str:
    """Input (N, 1, H, W); each head asks H*W == value (a flatten then linear, or a concat
    with an adaptive pool of that width, which has no parameters)."""
    lines = ["archspec: 1", "name: heads", "input: [N, 1, H, W]", "layers:"]
    if joined:
        lines.append("  - {name: flat, type: flatten, start_dim: 2}")
        for i, v in enumerate(values):
            lines.append(
                f"  - {{name: p{i}, type: adaptive_avgpool1d, output_size: {v}, from: flat}}"
            )
            lines.append(f"  - {{name: c{i}, type: concat, from: [flat, p{i}]}}")
        heads = [f"c{i}" for i in range(len(values))]
    else:
        lines.append("  - {name: flat, type: flatten}")
        for i, v in enumerate(values):
            lines.append(
                f"  - {{name: h{i}, type: linear, from: flat, in_features: {v}, out_features: 1}}"
            )
        heads = [f"h{i}" for i in range(len(values))]
    lines.append(f"outputs: [{', '.join(heads)}]")
    return "\n".join(lines) + "\n"


def _hard_values(count: int) -> list[int]:
    """Primes near 10^15, semiprimes of two primes near 3*10^7, and random numbers."""
    rng = random.Random(7)
    big = _primes_near(10**15 - 10**9, count // 3 + 1)
    small = _primes_near(31_600_000, 2 * (count // 3 + 1))
    out = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            out.append(big[i // 3])
        elif kind == 1:
            out.append(small[2 * (i // 3)] * small[2 * (i // 3) + 1])
        else:
            out.append(10**15 - rng.randrange(10**12))
    return out


@pytest.mark.parametrize("joined", [False, True], ids=["linear", "concat"])
def test_a_hundred_products_near_1e15_check_fast_and_right(joined: bool) -> None:
    """Trial division to sqrt(10^15) for each head took minutes; the values disagree, so no
    size works, and the second head is the one that says so."""
    spec = _products_spec(_hard_values(100), joined)
    assert 9_000 < len(spec) < 16_000
    result, seconds = cpu(lambda: archspec.check(spec))
    assert seconds < GUARD, seconds
    assert [d.code for d in result.errors] == ["E410"]
    err = result.errors[0]
    assert err.span is not None and err.span.line == (9 if joined else 7)
    assert result.domain is not None and result.domain.is_empty


def test_the_hint_pass_is_bounded_too() -> None:
    """A concrete input that breaks every head: check lowers the spec again with symbolic
    sizes to say which inputs would work, which solved the same products."""
    spec = _products_spec(_hard_values(100), joined=False)
    spec = spec.replace("input: [N, 1, H, W]", "input: [1, 1, 8, 8]")
    result, seconds = cpu(lambda: archspec.check(spec))
    assert seconds < GUARD, seconds
    assert [d.code for d in result.errors] == ["E404"] * 100
    assert "accepts" not in (result.errors[0].hint or "")  # no size works: none is claimed


def test_a_hundred_agreeing_products_have_their_exact_solution() -> None:
    """Each head H*(W + 2i) == h0*(w0 + 2i) for primes h0, w0 near 3*10^7: the common
    solution is found (or a constraint is honestly kept as stated), never invented."""
    h0, w0 = _primes_near(31_000_000, 2)
    lines = ["archspec: 1", "name: agree", f"input: [1, 1, {h0}, {w0}]", "layers:"]
    for i in range(100):
        lines.append(
            f"  - {{name: b{i}, type: conv2d, out_channels: 1, kernel_size: 1, "
            f"padding: [0, {i}], from: input}}"
        )
        lines.append(f"  - {{name: f{i}, type: flatten, from: b{i}}}")
        lines.append(
            f"  - {{name: h{i}, type: linear, in_features: {h0 * (w0 + 2 * i)}, out_features: 1}}"
        )
    lines.append(f"outputs: [{', '.join(f'h{i}' for i in range(100))}]")
    spec = "\n".join(lines) + "\n"
    result, seconds = cpu(lambda: archspec.check(spec))
    assert seconds < GUARD, seconds
    assert result.ok, result.render()
    dom = result.domain
    assert dom is not None and dom.contains({"N": 1, "H": h0, "W": w0})
    assert not dom.contains({"N": 1, "H": h0, "W": w0 + 1})
    assert not dom.contains({"N": 1, "H": w0, "W": h0})  # W + 2i must stay a multiple
    graph = archspec.build_graph(spec)
    for env in dom.examples():
        sizes = (1, 1, env["H"], env["W"])
        assert infer_shapes(graph, sizes).failure is None, env  # every box is real


def test_the_same_spec_gets_the_same_words_whatever_the_cache_holds() -> None:
    """Remembered solutions are charged their first cost, so the budget runs out at the
    same constraint: the answer never depends on what was checked before."""
    spec = _products_spec(_hard_values(60)[::-1] * 2, joined=True)
    domain._SOLVED.clear()
    first = archspec.check(spec)
    again = archspec.check(spec)
    domain._SOLVED.clear()
    cold = archspec.check(spec)
    assert first.render() == again.render() == cold.render()
    assert first.domain_text == again.domain_text == cold.domain_text


def test_an_exhausted_budget_keeps_constraints_as_stated_and_exact() -> None:
    """Long periods (lcm of strides near 2^16) at every head: past the budget the rest is
    kept as stated, and membership still follows the layers exactly."""
    lines = ["archspec: 1", "name: periods", "input: [1, 3, 65280, 65280]", "layers:"]
    for i in range(60):
        lines.append(
            f"  - {{name: a{i}, type: maxpool2d, kernel_size: 1, stride: 255, from: input}}"
        )
        lines.append(
            f"  - {{name: b{i}, type: maxpool2d, kernel_size: 1, stride: 256, from: input}}"
        )
        lines.append(
            f"  - {{name: c{i}, type: avgpool2d, kernel_size: 1, stride: {i + 1}, from: b{i}}}"
        )
        lines.append(f"  - {{name: s{i}, type: concat, dim: 1, from: [a{i}, a{i}]}}")
    spec = "\n".join(lines) + "\n"
    result, seconds = cpu(lambda: archspec.check(spec))
    assert seconds < GUARD, seconds
    assert result.ok and result.domain is not None


def test_the_work_budget_bounds_every_solver_loop() -> None:
    """Each loop whose length follows the values spends from the budget."""
    H = Dim.of("H")
    odd = domain.IntSet.from_classes(2, {1: 1}, [])
    with work.budget(50), pytest.raises(work.OutOfWork):
        for k in range(1000):  # intersections list pieces and walk residues
            _ = odd & domain.IntSet.interval(k, k + 3000)
    with work.budget(50), pytest.raises(work.OutOfWork):
        domain.solve_one(H.floordiv(255) - H.floordiv(256), 0, "eq")  # 65,280 residues
    with work.budget(10**7):  # and with budget enough, the same answers as ever
        s = domain.solve_one(H.floordiv(255) - H.floordiv(256), 0, "eq")
    assert all((x in s) == (x // 255 == x // 256) for x in range(1, 70_000, 7))


def test_solve_domain_never_spends_past_its_budget() -> None:
    """A spec of many independent periodic constraints: the solve stops at the budget."""
    cons = [
        archspec.ops.Constraint(
            "eq",
            Dim.of("H").floordiv(251 + i) - Dim.of("H").floordiv(250 + i),
            Dim.of(0),
            "E402",
            "m",
            None,
            f"n{i}",
        )
        for i in range(40)
    ]
    dom, seconds = cpu(lambda: domain.solve_domain(cons, ("H",)))
    assert seconds < GUARD and not dom.exact  # some kept as stated
    words = dom.describe()  # a few ranges and requirements by name, the rest counted
    assert len(words) < 2_000 and "more ranges of H" in words and "more requirements" in words
    for x in (1, 249, 250, 251, 62_750, 63_000, 10**6):
        truth = all(c.lhs.evaluate({"H": x}) == 0 for c in cons)
        assert dom.contains({"H": x}) == truth


# -- dim expressions ---------------------------------------------------------------------------


_GROW = textwrap.dedent(
    """\
    archspec: 1
    name: grow
    input: {input}
    blocks:
      Grow:
        layers:
          - {{name: c, type: concat, dim: 2, from: [input, input, input]}}
          - {{type: maxpool2d, kernel_size: 1, stride: 2}}
    layers:
      - {{type: repeat, count: {count}, layer: {{type: Grow}}}}
    """
)


def test_size_expressions_that_double_per_layer_stop_at_the_bound() -> None:
    """Each stage's size is a sum of the floors before it: the text doubled per layer and
    30 stages hashed and printed for minutes. Concrete input: checked, W403 for the rest."""
    spec = _GROW.format(input="[1, 1, 8, 8]", count=60)
    result, seconds = cpu(lambda: archspec.check(spec))
    assert seconds < GUARD, seconds
    assert result.ok and [d.code for d in result.warnings][:1] == ["W403"]
    assert "past the limit of 10,000" in result.warnings[0].message
    symbolic = _GROW.format(input="[N, 1, H, W]", count=60)
    result, seconds = cpu(lambda: archspec.check(symbolic))
    assert seconds < GUARD and result.errors[0].code == "E411"
    assert result.errors[0].span is not None and result.errors[0].span.line == 8
    summary = archspec.summary(_GROW.format(input="[1, 1, 8, 8]", count=60))
    assert summary.concrete  # the declared input's figures, not a formula


def test_dim_bounds() -> None:
    x = Dim.of("H")
    for _ in range(MAX_DEPTH):  # floors in floors, growing by two atoms a level
        x = Dim({(Floor(x, 2),): 2, (Sym("H"),): 1})
    assert x.depth == MAX_DEPTH
    with pytest.raises(ExpressionTooLarge):
        Floor(x, 2)  # one floor deeper
    wide = sum((Dim.of(f"S{i}") for i in range(200)), Dim.of(0))
    with pytest.raises(ExpressionTooLarge):
        _ = wide * wide  # 40,401 products before any cancels
    with pytest.raises(ExpressionTooLarge):
        total(Dim.of(f"S{i}") for i in range(MAX_SIZE))  # a concat of 10,000 sizes
    assert x.size < MAX_SIZE and x.evaluate({"H": 10**6}) > 0 and str(x)


def test_a_wide_product_in_a_summary_is_located() -> None:
    """Concats on two spatial dims of 110 branches each: their product has 12,321 terms."""
    b1 = ", ".join(f"b{i}: {{type: maxpool2d, kernel_size: [{i + 1}, 1]}}" for i in range(110))
    b2 = ", ".join(f"c{i}: {{type: maxpool2d, kernel_size: [1, {i + 1}]}}" for i in range(110))
    body = (
        f"layers:\n  - {{type: parallel, join: concat, dim: 2, branches: {{{b1}}}}}\n"
        f"  - {{type: parallel, join: concat, dim: 3, branches: {{{b2}}}}}\n"
        "  - {type: conv2d, out_channels: 2, kernel_size: 1}\n"
    )
    concrete = f"archspec: 1\nname: wide\ninput: [1, 1, 200, 200]\n{body}"
    assert archspec.summary(concrete).concrete  # falls back to the declared input
    symbolic = f"archspec: 1\nname: wide\ninput: [N, 1, H, W]\n{body}"
    with pytest.raises(ArchSpecError) as info:
        archspec.summary(symbolic)
    assert info.value.error_code == "E411" and info.value.span is not None
    assert info.value.span.line == 7


def test_many_in_place_readers_stay_linear() -> None:
    """Each E311 named every other reader: 2,000 readers made 26 MB of messages."""
    lines = ["archspec: 1", "name: x", "input: [1, 3, 8, 8]", "layers:"]
    lines.append("  - {name: a, type: identity}")
    lines += [f"  - {{name: r{i}, type: relu, inplace: true, from: a}}" for i in range(2000)]
    result, seconds = cpu(lambda: archspec.check("\n".join(lines) + "\n"))
    assert seconds < GUARD and len(result.errors) == 2000
    assert result.errors[0].message.endswith("which r1, r2, r3, 1,996 more also read(s)")
    assert len(result.render()) < 1_000_000


# -- memory and PyTorch's own limits ----------------------------------------------------------

WIDE = (
    "archspec: 1\nname: wide\ninput: [N, 1]\nlayers:\n"
    "  - {name: head, type: linear, out_features: 4000000000}\n"
)


def test_parameters_are_measured_in_bytes_against_free_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """8 * 10^9 elements pass the 10^10-element limit but need 32 GB: refused before any
    allocation, at the layer, whatever the machine (its free memory is pinned here)."""
    from archspec.backends import memory

    free = {"cpu": 16 * 2**30, "meta": None}
    monkeypatch.setattr(memory, "available_bytes", lambda device: free[device.type])
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(WIDE)
    err = info.value
    assert err.error_code == "E503" and err.span is not None and err.span.line == 5
    assert "32,000,000,000 bytes" in str(err) and "device='meta'" in (err.hint or "")
    assert archspec.compile(WIDE, device="meta") is not None  # meta allocates nothing
    fp = footprint(archspec.build_graph(WIDE))
    assert fp.nbytes() == 32_000_000_000 and fp.nbytes(2) == 16_000_000_000


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory"
        ),
        MemoryError(),
        torch.OutOfMemoryError("CUDA out of memory"),
    ],
    ids=["cpu", "memoryerror", "cuda"],
)
def test_an_allocation_refused_while_building_is_located(
    monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    from archspec.backends import memory
    from archspec.ops import REGISTRY

    monkeypatch.setattr(memory, "available_bytes", lambda device: None)  # unknown

    def refuse(self: Any, attrs: Any) -> Any:
        raise failure

    monkeypatch.setattr(type(REGISTRY["linear"]), "build", refuse)
    spec = WIDE.replace("4000000000", "10")
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(spec)
    assert info.value.error_code == "E503" and info.value.span is not None
    assert info.value.span.line == 5 and "`head`" in str(info.value)


def test_other_build_errors_are_not_disguised_as_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.ops import REGISTRY

    def broken(self: Any, attrs: Any) -> Any:
        raise RuntimeError("a real bug")

    monkeypatch.setattr(type(REGISTRY["linear"]), "build", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        archspec.compile(WIDE.replace("4000000000", "10"))


def _runs(spec: str, shape: tuple[int, ...]) -> bool:
    model = archspec.compile(spec, max_params=10**6, max_activations=10**6).eval()
    try:
        with torch.no_grad():
            model(torch.randn(shape))
    except RuntimeError:
        return False
    return True


def _one(layer: str, shape: tuple[int, ...]) -> str:
    return f"archspec: 1\nname: t\ninput: {list(shape)}\nlayers:\n  - {layer}\n"


#: Each pooling kind with each of its int fields (average pooling has no dilation).
POOL_FIELDS = [
    (kind, field)
    for kind in ("maxpool1d", "avgpool2d", "maxpool3d")
    for field in ("stride", "kernel_size", "padding", "dilation")
    if not (field == "dilation" and kind.startswith("avg"))
]


@pytest.mark.parametrize(("kind", "field"), POOL_FIELDS)
def test_pooling_sizes_stop_where_torch_int32_does(kind: str, field: str) -> None:
    nd = int(kind[-2])
    shape = (1, 1) + (3,) * nd
    if field == "stride":  # the largest int32 stride is fine, on both sides
        ok = _one(f"{{type: {kind}, kernel_size: 1, stride: {2**31 - 1}}}", shape)
        assert archspec.check(ok).ok and _runs(ok, shape)
    base = "" if field == "kernel_size" else "kernel_size: 1, "
    over = _one(f"{{type: {kind}, {base}{field}: {2**31}}}", shape)
    result = archspec.check(over)
    assert [d.code for d in result.errors] == ["E409"], result.render()
    assert "2,147,483,647" in result.errors[0].message


def test_lrn_size_is_bounded_by_int32_and_counted_with_activations() -> None:
    shape = (1, 96, 8, 8)
    huge = _one("{type: local_response_norm, size: 1000000000000000}", shape)
    assert [d.code for d in archspec.check(huge).errors] == ["E409"]
    padded = _one("{type: local_response_norm, size: 2000000000}", shape)
    result = archspec.check(padded)
    assert result.ok and [d.code for d in result.warnings] == ["W502"]
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(padded)
    assert info.value.error_code == "E502"
    fp = footprint(archspec.build_graph(_one("{type: local_response_norm, size: 5}", shape)))
    assert fp.activations == 96 * 64 + (96 + 4) * 64 + 2 * 96 * 64  # output, pad, squares
    ok = _one("{type: local_response_norm, size: 200}", shape)  # wider than the channels
    assert archspec.check(ok).ok and _runs(ok, shape)


@pytest.mark.parametrize(
    ("mode", "padding", "size", "ok"),
    [
        ("reflect", 1, 1, False),
        ("reflect", 1, 2, True),
        ("reflect", 3, 3, False),
        ("reflect", 2, 3, True),
        ("circular", 3, 2, False),
        ("circular", 2, 2, True),
        ("replicate", 5, 1, True),
        ("zeros", 5, 1, True),
        ("reflect", "same", 2, True),  # kernel 3: one on each side
        ("reflect", "same", 1, False),
    ],
)
def test_padding_modes_need_what_torch_pad_needs(
    mode: str, padding: int | str, size: int, ok: bool
) -> None:
    shape = (1, 1, size, size)
    spec = _one(
        f"{{type: conv2d, out_channels: 1, kernel_size: 3, padding: {padding}, "
        f"padding_mode: {mode}}}",
        shape,
    )
    result = archspec.check(spec)
    assert result.ok == ok, result.render()
    if ok:
        assert _runs(spec, shape)
    else:
        assert [d.code for d in result.errors] == ["E405"]
        with pytest.raises(RuntimeError):  # and torch agrees
            torch.nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode)(torch.randn(shape))


def test_a_stride_past_int32_is_refused_where_torch_miscounts() -> None:
    """With a stride of 2**31 or more, PyTorch computes the output size in 32-bit ints once
    the padded extent reaches 2**31: it fails, or runs with another shape than its formula."""
    conv = torch.nn.Conv1d(1, 1, 2, stride=4294967303, padding=4294967297, dilation=1073741825)
    with torch.no_grad():
        out = conv(torch.randn(1, 1, 2))
    formula = (2 + 2 * 4294967297 - 1073741825 - 1) // 4294967303 + 1
    assert out.shape[-1] == 1 != formula == 2  # torch's own size is off by one here
    spec = _one(
        "{type: conv1d, out_channels: 1, kernel_size: 2, stride: 4294967303, "
        "padding: 4294967297, dilation: 1073741825}",
        (1, 1, 2),
    )
    result = archspec.check(spec)
    assert [d.code for d in result.errors] == ["E409"] and "32-bit" in result.errors[0].message
    small = _one("{type: conv1d, out_channels: 1, kernel_size: 1, stride: 4294967297}", (1, 1, 3))
    assert archspec.check(small).ok and _runs(small, (1, 1, 3))  # padded extent small: fine
    near = _one(
        "{type: conv1d, out_channels: 1, kernel_size: 1, stride: 4294967297, padding: 1073741000}",
        (1, 1, 8),
    )
    assert archspec.check(near).domain_text == "t accepts (N, 1, L) with 1 <= L <= 1648"


def test_reflect_padding_appears_in_the_domain() -> None:
    spec = _one(
        "{type: conv2d, out_channels: 1, kernel_size: 3, padding: 3, padding_mode: reflect}",
        (1, 1, 8, 8),
    )
    assert archspec.check(spec).domain_text == "t accepts (N, 1, H, W) with H, W >= 4"


def test_avgpool3d_and_batch_norm_need_their_sizes() -> None:
    pool = _one("{type: avgpool3d, kernel_size: 2, padding: 1}", (1, 1, 1, 1, 1))
    assert [d.code for d in archspec.check(pool).errors] == ["E405"]
    fine = _one("{type: avgpool3d, kernel_size: 2, padding: 1}", (1, 1, 2, 2, 2))
    assert archspec.check(fine).ok and _runs(fine, (1, 1, 2, 2, 2))
    bn = _one("{type: batchnorm2d, track_running_stats: false}", (1, 4, 1, 1))
    assert [d.code for d in archspec.check(bn).errors] == ["E405"]
    two = _one("{type: batchnorm2d, track_running_stats: false}", (2, 4, 1, 1))
    assert archspec.check(two).ok and _runs(two, (2, 4, 1, 1))
    tracked = _one("{type: batchnorm2d}", (1, 4, 1, 1))  # eval mode uses running stats
    assert archspec.check(tracked).ok and _runs(tracked, (1, 4, 1, 1))


def test_an_add_that_may_broadcast_states_exactly_where_it_runs() -> None:
    """H//32 + H//16 runs where one side is 1 (torch broadcasts): the domain is exactly those
    sizes, 32 <= H <= 63, checked against real forwards at its edges; where both sides may be
    1 (ceil(H/2) against H//2) nothing is guessed: a symbolic input is refused."""
    body = (
        "layers:\n  - {name: a, type: maxpool2d, kernel_size: 32}\n"
        "  - {name: b, type: maxpool2d, kernel_size: 16, from: input}\n"
        "  - {type: add, from: [a, b]}\n"
    )
    symbolic = f"archspec: 1\nname: t\ninput: [N, 1, H, W]\n{body}"
    result = archspec.check(symbolic)
    assert result.ok and result.domain_text.endswith("with 32 <= H <= 63 and 32 <= W <= 63")
    for side in (31, 32, 63, 64):
        shape = (1, 1, side, side)
        assert (
            _runs(symbolic, shape) == (32 <= side <= 63) == archspec.check(symbolic, input=shape).ok
        )
    both = body.replace("kernel_size: 32}", "kernel_size: 2, ceil_mode: true}").replace("16", "2")
    assert [
        d.code for d in archspec.check(f"archspec: 1\nname: t\ninput: [N, 1, H, W]\n{both}").errors
    ] == ["E402"]
    same = f"archspec: 1\nname: t\ninput: [N, 1, H, W]\n{body.replace('16', '32')}"
    assert archspec.check(same).ok  # identical sides: nothing to guess


def test_symbolic_inputs_generalise_the_new_rules() -> None:
    g = archspec.build_graph(_one("{type: avgpool3d, kernel_size: 3}", (1, 1, 4, 4, 4)))
    sym = generalise_input(g.input_shape)
    table = infer_shapes(g, sym.shape)
    assert table.failure is None
    texts = [lc.describe() for lc in table.constraints]
    assert any("at least its kernel" in t for t in texts)


def _family_of_40(folder: Path, body: str) -> Path:
    """A family file of 40 variants (differing in a param nothing reads) around `body`."""
    variants = "\n".join(f"  v{i}: {{params: {{width: {i + 1}}}}}" for i in range(40))
    spec = folder / "fam.yaml"
    spec.write_text(
        "archspec: 1\nname: fam\ninput: [N, 3, 8, 8]\nparams:\n  width: {type: int, default: 4}\n"
        f"variants:\n{variants}\n{body}"
    )
    return spec


def test_a_family_s_variants_share_one_expansion_budget(tmp_path: Path) -> None:
    """Each variant of a family is bounded on its own, so 256 variants near the limit took
    75 s of CPU to check; together they now share FAMILY_FACTOR times `max_layers`."""
    spec = _family_of_40(
        tmp_path, "layers:\n  - {name: body, type: repeat, count: 990, layer: {type: relu}}\n"
    )
    result, seconds = cpu_seconds(
        lambda: CliRunner().invoke(app, ["check", str(spec), "--max-layers", "1000"])
    )
    assert result.exit_code == 1, result.output
    assert "the family's variants together expand to more than 4,000 layer items" in result.output
    assert "checked 40 specs: 4 ok, 36 with errors" in result.output
    assert seconds < GUARD
    one = CliRunner().invoke(app, ["check", str(spec), "--variant", "v39", "--max-layers", "1000"])
    assert one.exit_code == 0, one.output  # one variant alone is within its own limit
    with pytest.raises(ArchSpecError, match="variants together"):
        archspec.emit(spec, max_layers=1000)


def test_copies_of_a_kept_block_instance_spend_the_family_budget(tmp_path: Path) -> None:
    """The lowering memo copies an identical block instance instead of lowering it again:
    each copy is charged to the family's shared budget as a lowering would be (it was only
    charged to its own variant, so 40 variants of 990 copies went through)."""
    spec = _family_of_40(
        tmp_path,
        "blocks:\n  B:\n    layers:\n      - {type: relu}\n"
        "layers:\n  - {name: body, type: repeat, count: 490, layer: {type: B}}\n",
    )
    result = CliRunner().invoke(app, ["check", str(spec), "--max-layers", "1000"])
    assert result.exit_code == 1, result.output
    assert "the family's variants together expand to more than 4,000 layer items" in result.output
    assert "checked 40 specs: 4 ok, 36 with errors" in result.output
