"""A block whose `when`s choose between a concat and a concat cut by a split (GhostNet's
module: `torch.cat([x1, x2], 1)[:, :self.oup]`) is one emitted class: the split's size is
the argument `__init__` stores (`self.oup`), `forward` branches on it, and a file whose
instances all take one path writes one class refusing the values that choose the other."""

from __future__ import annotations

import itertools
import re

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.emit.cases import negated
from archspec.backends.pysource import render_module

from .emit_helpers import _layout, _load, matches_compile

GHOST = """archspec: 1
name: ghosts
input: [N, 16, 12, 12]
blocks:
  GhostModule:
    params: {oup: int}
    let:
      init_channels: ceil(oup / 2)
    layers:
      - {name: primary_conv, type: conv2d, out_channels: init_channels, kernel_size: 1}
      - {name: cheap_operation, type: conv2d, out_channels: init_channels, kernel_size: 3,
         padding: 1, groups: init_channels}
      - {name: out, type: concat, from: [primary_conv, cheap_operation], when: oup % 2 == 0}
      - {name: cat, type: concat, from: [primary_conv, cheap_operation], when: oup % 2 == 1}
      - {type: split, split_size: [oup, 1], names: [out, rest], when: oup % 2 == 1}
    outputs: [out]
layers:
"""


def _spec(*oups: int) -> str:
    return GHOST + "".join(
        f"  - {{name: g{i}, type: GhostModule, oup: {o}}}\n" for i, o in enumerate(oups)
    )


def _classes(source: str) -> list[str]:
    return re.findall(r"^class (\w+)\(", source, re.M)


def _matches_compile(text: str) -> str:
    return matches_compile(text, (2, 16, 12, 12))


def test_a_split_sized_by_a_param_is_read_from_self_in_one_class() -> None:
    source = _matches_compile(_spec(24, 39, 10))
    assert _classes(source) == ["GhostModule", "Ghosts"]
    assert "from math import ceil\n" in source
    module = source[source.index("class GhostModule") : source.index("class Ghosts")]
    assert "def __init__(self, in_channels: int, oup: int) -> None:" in module
    assert "        init_channels = ceil(oup / 2)\n        self.oup = oup\n" in module
    assert "        if self.oup % 2 == 0:\n            x = torch.cat(" in module
    assert "cat.split([self.oup, 1], dim=1)" in module
    assert "if oup % 2" not in module  # both cases build the same modules: no `if` there
    assert "self.g1 = GhostModule(24, 39)" in source


@pytest.mark.parametrize("c, oup", [(5, 7), (6, 6), (9, 1)])
def test_the_class_builds_ghost_modules_the_spec_never_made(c: int, oup: int) -> None:
    module = _load(render_module(build_graph(_spec(24, 39))), "ghosts_new")
    text = _spec(oup).replace("input: [N, 16, 12, 12]", f"input: [N, {c}, 12, 12]")
    ref = archspec.compile(text).eval()
    ours = module.GhostModule(c, oup).eval()
    assert _layout(ours) == _layout(ref.g0)
    ours.load_state_dict(ref.g0.state_dict(), strict=True)
    x = torch.randn(2, c, 12, 12, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_instances_of_one_path_are_one_class_refusing_the_other() -> None:
    source = _matches_compile(_spec(24, 16, 8))
    assert _classes(source) == ["GhostModule", "Ghosts"]
    module = source[source.index("class GhostModule") : source.index("class Ghosts")]
    # the even path only: the odd one's nodes are no code of this file
    assert "split" not in module and "self.oup" not in module
    assert "        if oup % 2 != 0 or oup % 2 == 1:\n            raise ValueError(" in module
    loaded = _load(source, "ghosts_even")
    loaded.GhostModule(16, 12)
    with pytest.raises(ValueError, match="emitted without the layers"):
        loaded.GhostModule(16, 13)


def test_a_param_named_like_a_submodule_keeps_a_class_per_value() -> None:
    """`self.out` is the concat's name in no instance but a node's name all the same: the
    split's size cannot be stored under it, and the classes stay exact, one per value."""
    text = re.sub(r"\boup\b", "out_ch", _spec(24, 39))
    text = text.replace("name: cheap_operation", "name: out_ch")
    text = text.replace("from: [primary_conv, cheap_operation]", "from: [primary_conv, out_ch]")
    source = _matches_compile(text)
    assert _classes(source) == ["GhostModule", "GhostModule_2", "Ghosts"]
    assert "self.out_ch = out_ch" not in source


PREACT = """archspec: 1
name: preact
input: [N, 16, 12, 12]
blocks:
  PreAct:
    params: {planes: int, stride: 1}
    layers:
      - {name: pre, type: relu}
      - name: shortcut
        type: sequential
        when: stride != 1
        layers:
          - {type: conv2d, out_channels: planes, kernel_size: 1, stride: stride, bias: false}
      - {name: conv1, type: conv2d, out_channels: planes, kernel_size: 3, stride: stride,
         padding: 1, bias: false, from: pre}
      - {name: out, type: add, from: [conv1, shortcut], when: stride != 1}
      - {name: out, type: add, from: [conv1, input], when: stride == 1}
layers:
  - {name: a, type: PreAct, planes: 16}
  - {name: b, type: PreAct, planes: 32, stride: 2}
  - {name: c, type: PreAct, planes: 32}
"""


def test_sums_that_share_a_name_under_complementary_whens_are_cases_of_one_class() -> None:
    """A pre-activation block adds the projection of its pre-activated input, or its input:
    two `out` sums under complementary `when`s. Each is a join that could stand for its
    first input where absent, but they are alternatives, so the block is one class that
    branches on `self.stride` (as ShuffleNetV2's unit), not a class per stride."""
    source = matches_compile(PREACT, (2, 16, 12, 12))
    assert _classes(source) == ["PreAct", "Preact"]
    block = source[source.index("class PreAct(") : source.index("class Preact(")]
    assert "def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:" in block
    assert "        if self.stride == 1:\n" in block
    assert "            self.shortcut = None\n" in block


CASE_WIDTHS = """archspec: 1
name: casewidths
class_name: CaseWidths
input: [N, 3, 8, 8]
blocks:
  Cat:
    params:
      extra: {type: bool, default: true}
      oc: {type: int, default: 4}
    layers:
      - {key: '0', type: conv2d, out_channels: oc, kernel_size: 1}
      - {key: '1', type: conv2d, out_channels: 4, kernel_size: 1, when: extra}
      - {name: cat, type: concat, when: extra, from: [input, '0', '1']}
      - {name: cat, type: concat, when: not extra, from: [input, '0']}
  Outer:
    params:
      extra: {type: bool, default: true}
      oc: {type: int, default: 4}
    layers:
      - {name: inner, type: Cat, extra: extra, oc: oc}
      - {name: c, type: conv2d, out_channels: 3, kernel_size: 1}
layers:
  - {type: Outer}
  - {type: Outer, extra: false}
"""


def test_a_case_class_output_width_is_each_case_s():
    """A class whose cases end in joins of different widths gives its caller each case's
    width (`in_channels + oc + 4 if extra else in_channels + oc`): the caller's next conv
    took the first case's width for every instance, so an instance of the other case was
    emitted with the wrong in_channels (3, 11) where compile makes (3, 7)."""
    source = matches_compile(CASE_WIDTHS, (2, 3, 8, 8))
    assert source.count("class Outer") == 1
    assert "in_channels + oc + 4 if extra else in_channels + oc" in source


PREACT_LET = """archspec: 1
name: preact
input: [N, 16, 12, 12]
blocks:
  PreAct:
    params: {planes: int, stride: 1}
    let:
      project: stride != 1 or in_channels != planes
    layers:
      - {name: pre, type: relu}
      - name: shortcut
        type: sequential
        when: project
        layers:
          - {type: conv2d, out_channels: planes, kernel_size: 1, stride: stride, bias: false}
      - {name: conv1, type: conv2d, out_channels: planes, kernel_size: 3, stride: stride,
         padding: 1, bias: false, from: pre}
      - {name: out, type: add, from: [conv1, shortcut], when: project}
      - {name: out, type: add, from: [conv1, input], when: not project}
layers:
  - {name: a, type: PreAct, planes: 16}
  - {name: b, type: PreAct, planes: 32, stride: 2}
  - {name: c, type: PreAct, planes: 32}
  - {name: d, type: PreAct, planes: 48}
"""


def test_cases_chosen_by_a_let_are_one_class_testing_the_let() -> None:
    """The E305 hint recommends a let for a `when` that several items share; a `when` over
    one (`project`, from stride, in_channels and planes) gave a class per instance's values.
    The let is the case's test, stored as torchvision stores `use_res_connect`."""
    source = matches_compile(PREACT_LET, (2, 16, 12, 12))
    assert _classes(source) == ["PreAct", "Preact"]
    block = source[source.index("class PreAct(") : source.index("class Preact(")]
    assert "def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:" in block
    assert "        project = stride != 1 or in_channels != planes\n" in block
    assert "        self.project = project\n" in block
    assert "        if not self.project:\n" in block
    assert "self.d = PreAct(32, 48)" in source


@pytest.mark.parametrize("c, planes, stride", [(8, 8, 1), (8, 12, 1), (12, 12, 2)])
def test_the_let_cased_class_builds_instances_the_spec_never_made(
    c: int, planes: int, stride: int
) -> None:
    module = _load(render_module(build_graph(PREACT_LET)), "preact_let")
    head = PREACT_LET.split("layers:\n  - {name: a")[0]
    text = head.replace("[N, 16, 12, 12]", f"[N, {c}, 12, 12]")
    text += f"layers:\n  - {{name: a, type: PreAct, planes: {planes}, stride: {stride}}}\n"
    ref = archspec.compile(text).eval()
    ours = module.PreAct(c, planes, stride=stride).eval()
    assert _layout(ours) == _layout(ref.a)
    ours.load_state_dict(ref.a.state_dict(), strict=True)
    x = torch.randn(2, c, 12, 12, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_a_case_s_comments_hold_for_every_instance_of_its_condition() -> None:
    """`project` holds at stride 2 and at stride 1 with new widths: the projecting case's
    instances here (b alone) are all stride 2, and its comments said `(H + 1)//2`, wrong for
    a PreAct(8, 12) the class builds. A size the stride changes gets no comment."""
    text = render_module(
        build_graph(PREACT_LET.replace("  - {name: d, type: PreAct, planes: 48}\n", ""))
    )
    forward = text[text.index("    def forward", text.index("class PreAct(")) :]
    forward = forward[: forward.index("class Preact(")]
    cases = forward.split("        else:\n")
    assert "out = self.conv1(out)  # (N, planes, H, W)\n" in cases[0]  # at stride 1 only
    assert "            x = self.conv1(pre)\n" in cases[1] and "//" not in forward
    ours = _load(text, "preact_comments").PreAct(8, 12).eval()
    assert ours(torch.randn(1, 8, 6, 6)).shape == (1, 12, 6, 6)  # what (H + 1)//2 denied


@pytest.mark.parametrize(
    "text, expected",
    [
        ("oup % 2 == 0", "oup % 2 != 0"),
        ("stride > 1", "stride <= 1"),
        ("a <= b + 1", "a > b + 1"),
        ("act == 'relu'", 'act != "relu"'),
        ("not flag", "flag"),
        ("flag", "not flag"),
        ("a < b < c", "not (a < b < c)"),
        ("a == 1 or b == 2", "not (a == 1 or b == 2)"),
    ],
)
def test_a_guard_negates_a_condition_as_written_by_hand(text: str, expected: str) -> None:
    """The negation holds exactly when the condition does not, for every value tried."""
    out = negated(text)
    assert out == expected
    checked = 0
    for a, b, c, oup, stride in itertools.product(
        range(-1, 3), range(-1, 3), range(3), range(4), range(3)
    ):
        for flag, act in itertools.product((True, False), ("relu", "gelu", "silu")):
            env = dict(a=a, b=b, c=c, oup=oup, stride=stride, flag=flag, act=act)
            assert eval(out, {}, env) is (not eval(text, {}, env))
            checked += 1
    assert checked == 4 * 4 * 3 * 4 * 3 * 6


WRN_STAGES = """archspec: 1
name: preact
input: [N, 3, 16, 16]
blocks:
  Block:
    params: {out: int, stride: int}
    let:
      equal: in_channels == out
    layers:
      - {name: bn1, type: batchnorm2d}
      - {name: relu1, type: relu}
      - {name: conv1, type: conv2d, out_channels: out, kernel_size: 3, stride: stride,
         padding: 1, bias: false}
      - {name: shortcut, type: conv2d, out_channels: out, kernel_size: 1, stride: stride,
         bias: false, from: relu1, when: not equal}
      - {name: sum, type: add, from: [input, conv1], when: equal}
      - {name: sum, type: add, from: [shortcut, conv1], when: not equal}
  Stage:
    params: {out: int, stride: int}
    layers:
      - {name: first, type: Block, out: out, stride: stride}
      - {name: second, type: Block, out: out, stride: 1}
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: layer1, type: Stage, out: 8, stride: 1}
  - {name: layer2, type: Stage, out: 16, stride: 2}
"""


def test_the_channels_after_a_class_of_cases_tested_on_a_let_read_no_let() -> None:
    """WRN's pre-activation block tests a let (`equal: in_channels == out`): the channels
    its callers pass on are `out` in either case, never the let, which is a local of the
    block's `__init__` alone (`Block(out if not equal else in_channels, ...)` was a
    NameError when the network was built)."""
    source = matches_compile(WRN_STAGES, (2, 3, 16, 16))
    assert _classes(source) == ["Block", "Stage", "Preact"]
    stage = source[source.index("class Stage") : source.index("class Preact")]
    assert "equal" not in stage
    assert "self.second = Block(out, out, stride=1)" in stage


DENSE_OR_SUM = """archspec: 1
name: dense_or_sum
input: [N, 8, 16, 16]
blocks:
  Blk:
    params: {out: int}
    let:
      same: in_channels == out
    layers:
      - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}
      - {name: o, type: add, from: [conv, input], when: same}
      - {name: o, type: concat, from: [conv, input], when: not same}
layers:
  - {name: a, type: Blk, out: 4}
  - {name: b, type: Blk, out: 8}
"""


def test_a_guard_that_tests_a_let_reads_it_bound() -> None:
    """Every instance concatenates (`same` false), so the class refuses `same` with a guard
    in `__init__`; the guard read the let before the line that binds it (a NameError on
    every build of the emitted network)."""
    source = matches_compile(DENSE_OR_SUM, (2, 8, 16, 16))
    init = source[source.index("class Blk") : source.index("    def forward")]
    assert init.index("same = in_channels == out") < init.index("if same:")
    blk = _load(source, "dense_or_sum").Blk
    with pytest.raises(ValueError, match="emitted without the layers these values choose"):
        blk(8, 8)


PROJECTED_SUM = """archspec: 1
name: projected_sum
input: [N, 8, 16, 16]
blocks:
  Blk:
    params: {out: int, e: 1}
    layers:
      - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}
      - {name: proj, type: conv2d, out_channels: out, kernel_size: 1, from: input}
      - {name: o, type: add, from: [conv, proj], when: e > 1}
layers:
  - {name: a, type: Blk, out: 8, e: 2}
  - {name: b, type: Blk, out: 8, e: 1}
"""


def test_a_switched_join_that_reads_the_variable_it_writes_assigns_its_stand_in_after() -> None:
    """A sum under a `when` stands for the node before it where it is left out (`proj`),
    and writes the variable that holds its other input (`out`, the conv's): `out = proj`
    before `if self.use_res_connect: out = out + proj` added the projection to itself, and
    the emitted network computed other numbers than the spec's, with no error anywhere."""
    source = matches_compile(PROJECTED_SUM, (2, 8, 16, 16))
    forward = source[source.index("    def forward", source.index("class Blk")) :]
    assert "        if self.use_res_connect:\n            out = out + proj" in forward
    assert "        else:\n            out = proj\n" in forward


@pytest.mark.parametrize("e", [1, 2])
def test_a_switched_node_reading_another_than_the_node_before_it_is_no_if(e: int) -> None:
    """A projection under `when: e > 1` that reads the block's input, not the conv before it,
    and the sum of both under the same `when`: where both are left out the block returns the
    conv. The class wrote them as `if`s that pass their input on where absent (`proj = x`),
    so `Blk(8, 8, e=1)` returned its input; the emitted class now computes what the spec
    does for every value it takes."""
    text = PROJECTED_SUM.replace("from: input}", "from: input, when: e > 1}").replace(
        "e: 1}\n", "e: 3}\n"
    )
    module = _load(matches_compile(text, (2, 8, 16, 16)), "projected_when")
    head = text.split("layers:\n  - {name: a")[0]
    ref = archspec.compile(head + f"layers:\n  - {{name: a, type: Blk, out: 8, e: {e}}}\n").eval()
    try:
        ours = module.Blk(8, 8, e=e).eval()
    except TypeError:  # a class built for the file's `e` (2 and 3 alike): no other is asked
        if e == 1:
            return
        ours = module.Blk(8, 8).eval()
    assert _layout(ours) == _layout(ref.a)
    ours.load_state_dict(ref.a.state_dict(), strict=True)
    x = torch.randn(2, 8, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
