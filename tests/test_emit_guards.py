"""An emitted class computes what the spec computes for every value it takes, or refuses the
value (`raise ValueError`): never another network, silently.

Each test builds the emitted classes with argument values the spec's instances do not use
and compares them with `archspec.compile` of a network of one call of the block with those
values (`emit_helpers.sweep_classes`: state_dict keys, shapes and order, outputs under the
same weights). Before these fixes an item under a `when` that no instance of a class kept was
left out of the class without a guard where it was written last in its block, where it was a
residual's shortcut kept only by instances of another class, or where it was the choice no
instance took among alternatives (the class's `else` case built another's).
"""

from __future__ import annotations

import re

import pytest

from archspec.backends.emit.satisfy import satisfiable
from archspec.ir import ParamInfo

from .emit_helpers import GUARD, emitted, sweep_classes, sweep_network

SHAPE = (2, 8, 8, 8)


def _spec(layers: str, calls: str, params: str = "{out: int}", let: str = "") -> str:
    body = "\n".join("      " + ln for ln in layers.strip().splitlines())
    lets = f"    let:\n      {let}\n" if let else ""
    return (
        "archspec: 1\nname: guarded\ninput: [N, 8, 8, 8]\nblocks:\n  Blk:\n"
        f"    params: {params}\n{lets}    layers:\n{body}\nlayers:\n{calls}"
    )


def _classes(source: str) -> list[str]:
    return re.findall(r"^class (\w+)\(", source, re.M)


def _swept(text: str, tries: int = 30) -> tuple[int, int]:
    """(matched, refused) of the sweep: every call is one or the other (or compile refuses
    the values), and both happen."""
    found = sweep_classes(text, SHAPE, tries=tries)
    assert found.matched >= 5, found.cases
    return found.matched, found.refused


#: a projection under a `when` on a let, written last in the block: no instance keeps it
LET_AT_END = _spec(
    """
- {name: conv, type: conv2d, out_channels: hidden, kernel_size: 3, padding: 1}
- {name: proj, type: conv2d, out_channels: out, kernel_size: 1, when: expand}
""",
    "  - {name: a, type: Blk, out: 8}\n  - {name: b, type: Blk, out: 16}\n",
    "{out: int, e: {type: int, default: 1}}",
    "{hidden: out * e, expand: e != 1}",
)


def test_an_item_no_instance_keeps_at_the_end_of_a_block_is_not_an_argument() -> None:
    """`Blk(8, 4, e=6)` was a class without `proj` (`e` an argument, the `when` at the end
    never looked at): 24 channels out where the spec gives 4. `e` now decides structure, as
    for the same item written before another."""
    module, _, source = emitted(LET_AT_END)
    assert "Built for e=1" in source
    with pytest.raises(TypeError):
        module.Blk(8, 4, e=6)
    _swept(LET_AT_END)


#: a residual whose shortcut only the stride-2 instance keeps, and an item no one keeps
SHORTCUT = _spec(
    """
- type: residual
  body:
    - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1, stride: stride}
  shortcut:
    when: stride != 1 or in_channels != out
    layers:
      - {type: conv2d, out_channels: out, kernel_size: 1, stride: stride}
- {name: post, type: relu, when: stride > 2}
""",
    "  - {name: a, type: Blk, out: 8}\n  - {name: b, type: Blk, out: 16, stride: 2}\n",
    "{out: int, stride: {type: int, default: 1}}",
)


def test_a_shortcut_no_instance_of_a_class_keeps_is_refused_and_classes_do_not_multiply() -> None:
    """`post` (kept by no instance) fixed `stride`: a class per stride, the stride-1 class
    `Blk(in_channels, out)` with no shortcut, so `Blk(16, 5)` added its input to 5 channels
    (a shape error) where the spec projects. Now one class that keeps the shortcut under its
    `if` and refuses `stride > 2`."""
    module, _, source = emitted(SHORTCUT)
    assert _classes(source) == ["Blk", "Guarded"]
    assert "        if stride > 2:\n            raise ValueError(" in source
    assert "        if stride != 1 or in_channels != out:\n" in source
    with pytest.raises(ValueError, match=GUARD):
        module.Blk(8, 8, stride=3)
    _, refused = _swept(SHORTCUT, tries=80)
    assert refused > 0


ALTERNATIVES = (
    "- {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}\n"
    + "".join(
        f"- {{name: act, type: {a}, when: \"act == '{a}'\"}}\n" for a in ("relu", "silu", "gelu")
    )
)


@pytest.mark.parametrize(
    "after", ["", "- {name: tail, type: conv2d, out_channels: out, kernel_size: 1}"]
)
def test_an_alternative_no_instance_takes_is_refused_not_built_as_another(after: str) -> None:
    """Instances of relu and silu made a class of two cases, `if act == "relu": ReLU else:
    SiLU`: `Blk(8, 8, act="gelu")` built a SiLU. The class refuses gelu, last in the block
    or not."""
    text = _spec(
        ALTERNATIVES + after,
        "  - {name: a, type: Blk, out: 8}\n  - {name: b, type: Blk, out: 16, act: silu}\n",
        "{out: int, act: {type: str, default: relu, choices: [relu, silu, gelu]}}",
    )
    module, _, source = emitted(text)
    guard = source[source.index("super().__init__()") : source.index("self.case1")]
    assert "act" in guard and "raise ValueError(" in guard
    with pytest.raises(ValueError, match=GUARD):
        module.Blk(8, 8, act="gelu")
    assert module.Blk(8, 8, act="silu").act.__class__.__name__ == "SiLU"
    _swept(text)


def test_a_case_built_for_other_values_of_a_fixed_param_is_no_case() -> None:
    """Cases of a class tested `act`, but `out` (fixed by a shortcut no instance keeps) was
    8 in one and 16 in the other: `Blk(act="silu")`, documented as built for out=8, built
    16 channels. Instances that differ in what the class does not take are classes apart."""
    text = _spec(
        ALTERNATIVES
        + """\
- type: residual
  body: [{name: r1, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}]
  shortcut:
    when: in_channels != out
    layers: [{type: conv2d, out_channels: out, kernel_size: 1}]
""",
        "  - {name: a, type: Blk, out: 8}\n  - {name: b, type: Blk, out: 16, act: silu}\n",
        "{out: int, act: {type: str, default: relu, choices: [relu, silu, gelu]}}",
    )
    _, _, source = emitted(text)
    assert 'built for act="relu", out=8.' in source and 'built for act="silu", out=16.' in source
    _swept(text)


def test_a_conditional_add_last_in_a_block_that_some_instances_keep_is_the_class_s_if() -> None:
    """MobileNet's and EfficientNet's blocks end with `{type: add, when: use_res_connect}`:
    an instance without it is one class with those that have it (`if self.use_res_connect`),
    not a class of its own. (Looking at the items left out at the end of a block, as the
    guards need, split these classes while a sum computed in `forward` counted as kept by
    no instance.)"""
    text = _spec(
        """
- {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}
- {name: residual, type: add, from: [input, conv], when: use_res}
""",
        "  - {name: a, type: Blk, out: 16}\n  - {name: b, type: Blk, out: 16}\n",
        let="{use_res: in_channels == out}",
    )
    _, _, source = emitted(text)
    assert _classes(source) == ["Blk", "Guarded"]
    assert "        if self.use_res:\n" in source and "raise" not in source
    _swept(text)


def test_the_network_class_computes_what_compile_does_for_the_params_it_takes() -> None:
    """The network's own arguments (here `width`) against `archspec.compile(params=...)`;
    `head_bn`, read by an item no value keeps, last in the network, is no argument."""
    text = """archspec: 1
name: net
input: [N, 3, 8, 8]
params: {width: 8, head_bn: false}
layers:
  - {name: conv, type: conv2d, out_channels: width, kernel_size: 3, padding: 1}
  - {name: act, type: relu}
  - {name: bn, type: batchnorm2d, when: head_bn}
"""
    found = sweep_network(text, (2, 3, 8, 8))
    assert found.matched == 12 and "head_bn" not in "".join(found.cases)


INT = ParamInfo("stride", "int", 1, ge=1, le=2)


@pytest.mark.parametrize(
    "text, holds",
    [
        ("stride <= 1 and stride != 1", False),  # ShuffleNet's `else` case: stride >= 1
        ("stride > 2", False),
        ("stride > 1 and stride != 2", False),
        ("stride > 1", True),
        ("oup % 2 != 0 and oup % 2 != 1", False),  # `oup` an int
        ("oup % 2 == 0 and oup % 2 == 1", False),
        ("oup % 3 != 0 and oup % 3 != 1", True),
        ("in_channels != out", True),  # two names compared: cannot tell
        ("act != 'relu' and act != 'silu'", True),
        ("act != 'relu' and act != 'silu' and act != 'gelu'", False),
        ("flag and not flag", False),
        ("max(stride, 3) > 4", True),  # a call: cannot tell
    ],
)
def test_a_guard_is_written_unless_no_declared_value_meets_it(text: str, holds: bool) -> None:
    domains = {
        "stride": INT,
        "oup": ParamInfo("oup", "int", None),
        "act": ParamInfo("act", "str", "relu", choices=("relu", "silu", "gelu")),
    }
    assert satisfiable(text, domains) is holds


TABLE = """archspec: 1
name: table
input: [N, 8, 16, 16]
params:
  rows: [[1, 8, 1, 1], [2, 16, 2, 2], [1, 16, 1, 1]]
blocks:
  Blk:
    params: {t: int, out: int, s: int, se: {type: bool, default: false}}
    let:
      hidden: in_channels * t
      use_res: s == 1 and in_channels == out
    layers:
      - {name: expand, type: conv2d, out_channels: hidden, kernel_size: 1, when: t != 1}
      - {name: dw, type: conv2d, out_channels: hidden, kernel_size: 3, stride: s, padding: 1,
         groups: hidden}
      - {name: se, type: sigmoid, when: se}
      - {name: proj, type: conv2d, out_channels: out, kernel_size: 1}
      - {name: drop, type: dropout, p: 0.1, when: "t > 4"}
      - {name: residual, type: add, from: [input, proj], when: use_res}
layers:
  - {type: for_each, rows: rows, fields: [t, c, n, s], count: n, flat: true,
     layer: {type: Blk, t: t, out: c, s: "s if i == 0 else 1"}}
"""


def test_a_table_s_block_refuses_what_no_row_takes_once_whatever_the_case() -> None:
    """Rows of expansion 1 and 2 make a class of two cases (`if self.t != 1`); no row takes
    `se` or `t > 4`, so the class refuses both, written once (`if se or t > 4`) rather than
    under each case's test (`t != 1 and se or t == 1 and se or t != 1 and t > 4`)."""
    _, _, source = emitted(TABLE)
    assert _classes(source) == ["Blk", "Table"]
    assert "        if se or t > 4:\n            raise ValueError(" in source
    assert "if self.use_res:" in source
    sweep = sweep_classes(TABLE, (2, 8, 16, 16), tries=30)
    assert sweep.matched >= 10 and sweep.refused >= 3, sweep.cases


def test_one_guard_of_an_or_is_written_without_parentheses() -> None:
    """A class's only guard was wrapped whole, `if (not down and (not same or down)):`,
    which ruff rewrites; parentheses go round a guard only among several."""
    text = _spec(
        """
- {name: conv, type: conv2d, out_channels: out, kernel_size: 3, stride: stride, padding: 1}
- {name: pool, type: avgpool2d, kernel_size: 2, from: input, when: down}
- {name: proj, type: conv2d, out_channels: out, kernel_size: 1, from: pool, when: down}
- {name: proj, type: conv2d, out_channels: out, kernel_size: 1, from: input,
   when: not down and not same}
- {name: o, type: add, from: [conv, proj], when: not same or down}
- {name: o, type: add, from: [conv, input], when: same and not down}
""",
        "  - {name: a, type: Blk, out: 16, stride: 2}\n  - {name: b, type: Blk, out: 16}\n",
        "{out: int, stride: {type: int, default: 1}}",
        "{down: stride != 1, same: in_channels == out}",
    )
    _, _, source = emitted(text)
    assert "        if not down and (not same or down):\n            raise ValueError(" in source
    _swept(text)
