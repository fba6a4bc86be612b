"""Networks of timm written from the docs alone by a new user (session 34's acceptance check:
resnet26d/50d, seresnext26d_32x4d, dla34, cspresnet50, dpn68/92, rexnet_100/130, repvgg_a0/b0,
selecsls42b/60b, efficientnet_b0/lite0, tinynet_a, all exact), each case here against a
reference written in plain torch where one is needed: what broke on the way. A block
argument cut at its comma by YAML (`{type: Conv, out: max(8, c), k: 3}`) was E302 "block
Conv has no param `c)`" with the hint "Conv takes: out, k", where a layer's field of that
shape says the comma cut the expression. SelecSLS's block concatenates the skip it is
given except in a stage's first block (`{each: skip, when: not is_first}`): every first
block was W401 "input `skip` ... is never used", whose hint said to drop the input the
other blocks read."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path

import pytest
import torch
from torch import nn

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


SLS = _spec(
    "sls",
    """
    input: [N, 8, 16, 16]
    blocks:
      SlsBlock:
        inputs: [x, skip]
        params: {mid: int, out: int, is_first: bool, stride: 1}
        layers:
          - {name: conv1, type: conv2d, out_channels: mid, kernel_size: 3, stride: stride,
             padding: 1, from: x}
          - {name: conv2, type: conv2d, out_channels: mid, kernel_size: 1}
          - {name: cat, type: concat, from: [conv1, conv2, {each: skip, when: not is_first}]}
          - {name: conv3, type: conv2d, out_channels: out, kernel_size: 1}
    layers:
      - name: features
        type: sequential
        layers:
          - {type: SlsBlock, mid: 8, out: 8, is_first: true, stride: 2, from: [input, input]}
          - {type: SlsBlock, mid: 8, out: 12, is_first: false, from: ["0", "0"]}
          - {type: SlsBlock, mid: 8, out: 12, is_first: false, from: ["1", "0"]}
    """,
)


class _RefSls(nn.Module):
    """timm's SelecSlsBlock, cut down: its forward takes [x, skip] and returns [out, skip]."""

    def __init__(self, cin: int, mid: int, out: int, skip: int, is_first: bool, stride: int):
        super().__init__()
        self.is_first = is_first
        self.conv1 = nn.Conv2d(cin, mid, 3, stride, padding=1)
        self.conv2 = nn.Conv2d(mid, mid, 1)
        self.conv3 = nn.Conv2d(2 * mid + (0 if is_first else skip), out, 1)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        d1 = self.conv1(x[0])
        d2 = self.conv2(d1)
        if self.is_first:
            out = self.conv3(torch.cat([d1, d2], 1))
            return [out, out]
        return [self.conv3(torch.cat([d1, d2, x[1]], 1)), x[1]]


class _RefNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _RefSls(8, 8, 8, 0, True, 2),
            _RefSls(8, 8, 12, 8, False, 1),
            _RefSls(12, 8, 12, 8, False, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features([x, x])[0]  # type: ignore[no-any-return]


def test_an_input_another_instance_reads_is_no_warning() -> None:
    report = archspec.check(SLS)
    assert report.ok
    assert [d.code for d in report.diagnostics] == []


def test_an_input_no_instance_reads_is_still_w401() -> None:
    only_first = SLS.replace("is_first: false", "is_first: true")
    report = archspec.check(only_first)
    assert [d.message for d in report.diagnostics if d.code == "W401"] == [
        f"input `skip` of features.{i} (block SlsBlock) is never used" for i in range(3)
    ]


def test_the_block_with_an_optional_input_is_the_reference_compiled_and_emitted() -> None:
    torch.manual_seed(0)
    ref = _RefNet().eval()
    ours = archspec.compile(SLS).eval()
    module = types.ModuleType("emitted_sls")
    exec(compile(archspec.emit(SLS), "<emitted>", "exec"), module.__dict__)
    emitted = module.Sls().eval()
    theirs = ref.state_dict()
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        want = ref(x)
        for net in (ours, emitted):
            mine = net.state_dict()
            assert [(k, v.shape) for k, v in mine.items()] == [
                (k, v.shape) for k, v in theirs.items()
            ]
            net.load_state_dict(theirs, strict=True)
            assert torch.equal(net(x), want)


def test_make_divisible_takes_timms_round_limit() -> None:
    from archspec.exprfuncs import call

    assert call("make_divisible", [144 / 16, 8]) == 16  # 8 is over 10% below 9: one more
    assert call("make_divisible", [144 / 16, 8, 8, 0]) == 8  # timm's SEModule: none added
    assert call("make_divisible", [144 / 16, 8, 8, 0.9]) == 16
    with pytest.raises(Exception, match="2 to 4 arguments"):
        call("make_divisible", [1, 8, 8, 0, 1])


SE = _spec(
    "se_round_limit",
    """
    input: [N, 144, 8, 8]
    blocks:
      SEModule:
        let: {cin: in_channels}
        layers:
          - {name: mean, type: mean, dim: [2, 3], keepdim: true}
          - {name: fc1, type: conv2d, out_channels: "make_divisible(cin / 16, 8, 8, 0)",
             kernel_size: 1}
          - {name: act, type: relu, inplace: true}
          - {name: fc2, type: conv2d, out_channels: cin, kernel_size: 1}
          - {name: gate, type: sigmoid}
          - {name: out, type: mul, from: [input, gate]}
    layers:
      - {name: se, type: SEModule}
    """,
)


class _SEModule(nn.Module):
    """timm's SEModule(channels) with its defaults: rd_ratio 1/16, rd_divisor 8,
    make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        v, divisor = channels / 16, 8
        rd = max(divisor, int(v + divisor / 2) // divisor * divisor)  # round_limit 0
        self.fc1 = nn.Conv2d(channels, rd, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * self.gate(s)


class _SENet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.se = _SEModule(144)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(x)  # type: ignore[no-any-return]


def test_timms_squeeze_excitation_with_round_limit_compiled_and_emitted() -> None:
    torch.manual_seed(0)
    ref = _SENet().eval()
    assert ref.se.fc1.out_channels == 8
    module = types.ModuleType("emitted_se")
    exec(compile(archspec.emit(SE), "<emitted>", "exec"), module.__dict__)
    x = torch.randn(2, 144, 8, 8)
    with torch.no_grad():
        want = ref(x)
        for net in (archspec.compile(SE).eval(), module.SeRoundLimit().eval()):
            assert [(k, v.shape) for k, v in net.state_dict().items()] == [
                (k, v.shape) for k, v in ref.state_dict().items()
            ]
            net.load_state_dict(ref.state_dict(), strict=True)
            assert torch.equal(net(x), want)


LIST_ARITH = _spec(
    "list_arith",
    """
    input: [N, 8, 16, 16]
    params: {ks: [3, 5]}
    blocks:
      Mixed:
        params: {ks: list}
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: "ks[0]", padding: 1}
    layers:
      - {type: Mixed, ks: KS}
    """,
)


@pytest.mark.parametrize("ks", ['"[1] * 2"', '"ks * 2"', '"ks + [7]"'])
def test_arithmetic_on_a_list_says_what_to_write_instead(ks: str) -> None:
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(LIST_ARITH.replace("KS", ks))
    (only,) = err.value.diagnostics
    assert only.code == "E308" and "needs a number, got list" in only.message
    assert only.hint is not None and only.hint.startswith("a list takes no arithmetic")
    assert "write its items (`[1, 1]`)" in only.hint
    assert archspec.check(LIST_ARITH.replace("KS", "[3, 3]")).ok


UNCALLED = _spec(
    "uncalled",
    """
    input: [N, 3, 32, 32]
    blocks:
      Stem:
        layers:
          - {type: conv2d, out_channels: widht, kernel_size: 3}
    layers:
      - {name: a, type: conv2d, out_channels: 8, kernel_size: 3}
    """,
)


def test_a_block_nothing_calls_is_a_warning_at_its_name() -> None:
    report = archspec.check(UNCALLED)
    assert report.ok
    (only,) = report.diagnostics
    assert only.code == "W408" and only.message.startswith("block `Stem` is never called")
    assert only.span is not None and (only.span.line, only.span.col) == (5, 3)
    assert only.hint == "call it as a layer, `{type: Stem, ...}`, or remove it"
    # called, its misspelt name is found (what the warning is for)
    called = UNCALLED.replace("type: conv2d, out_channels: 8", "type: Stem")
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(called)
    assert [d.code for d in err.value.diagnostics] == ["E302"]


FAMILY = _spec(
    "chosen",
    """
    input: [N, 3, 32, 32]
    params:
      block: {type: block, default: Small}
    variants:
      small: {params: {}}
      large: {params: {block: Large}}
    blocks:
      Small:
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 3}
      Large:
        layers:
          - {type: conv2d, out_channels: 16, kernel_size: 3}
    layers:
      - {name: body, type: block}
    """,
)


@pytest.mark.parametrize("variant", ["small", "large"])
def test_a_block_another_variant_chooses_is_no_warning(variant: str) -> None:
    report = archspec.check(FAMILY, variant=variant)
    assert report.ok and report.diagnostics == ()


def test_a_block_an_extending_specs_base_calls_is_no_warning(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        _spec(
            "base",
            """
            input: [N, 3, 32, 32]
            blocks:
              Stem:
                layers:
                  - {type: conv2d, out_channels: 8, kernel_size: 3}
            layers:
              - {name: stem, type: Stem}
            """,
        )
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        _spec(
            "child",
            """
            extends: base.yaml
            blocks:
              Stem:
                layers:
                  - {type: conv2d, out_channels: 16, kernel_size: 3}
            """,
        )
    )
    report = archspec.check(str(child))
    assert report.ok and report.diagnostics == (), report.diagnostics
    assert report.outputs[0][1] == 16  # the child's Stem, called by the base's layer
