"""Networks of timm written from the docs alone by a new user (session 34's acceptance check:
resnet26d/50d, seresnext26d_32x4d, dla34, cspresnet50, dpn68/92, rexnet_100/130, repvgg_a0/b0,
selecsls42b/60b, efficientnet_b0/lite0, tinynet_a, all exact), each case here against a
reference written in plain torch where one is needed: what broke on the way. A block
argument cut at its comma by YAML (`{type: Conv, out: max(8, c), k: 3}`) was E302 "block
Conv has no param `c)`" with the hint "Conv takes: out, k", where a layer's field of that
shape says the comma cut the expression."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec.errors import ArchSpecError


def _spec(name: str, body: str) -> str:
    return f"archspec: 1\nname: {name}\n" + textwrap.dedent(body).lstrip("\n")


CUT = _spec(
    "cut_argument",
    """
    input: [N, 3, 32, 32]
    params: {c: 4}
    blocks:
      Conv:
        params: {out: int, k: 3}
        layers:
          - {type: conv2d, out_channels: out, kernel_size: k}
    layers:
      - {name: a, type: Conv, out: max(8, c), k: 3}
    """,
)


def test_a_block_argument_cut_at_its_comma_says_so() -> None:
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(CUT)
    by_code = {d.code: d for d in err.value.diagnostics}
    assert set(by_code) == {"E302", "E206"}
    tail = by_code["E302"]
    assert tail.message == "block Conv has no param `c)`"
    assert tail.hint is not None
    assert tail.hint.startswith("`c)` looks like the end of an expression cut at its comma")
    assert "quote an expression with a comma" in tail.hint
    # the fix the hint gives checks
    assert archspec.check(CUT.replace("out: max(8, c)", 'out: "max(8, c)"')).ok


def test_an_argument_that_is_no_cut_expression_keeps_its_hint() -> None:
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(CUT.replace("out: max(8, c), k: 3", "out: 8, kk: 3"))
    (only,) = err.value.diagnostics
    assert (only.code, only.hint) == ("E302", "did you mean `k`?")
