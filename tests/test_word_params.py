"""Word fields chosen by a param (spec-language.md, "Word fields chosen by a param").

A word field (`activation`'s `fn`, a resize's `mode`, a conv's `padding_mode`, ...) took its
word as written: `fn: act` in a block of `params: {act: str}` was E204 "'act' is not allowed
here", whose hint said to write one layer per value, each under a `when`. It now takes a
param's name, an expression or a `{...}` template too, checked per instance against the
words, and builds, counts and emits what the word written in its place gives.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.errors import ArchSpecError
from archspec.ir import iter_nodes
from archspec.schema import json_schema

from .emit_helpers import emitted, matches_compile, sweep_classes

#: a block choosing its activation, its upsampling mode and its conv's padding by params
BLOCK = """\
archspec: 1
name: words
input: [N, 3, 8, 8]
blocks:
  ConvAct:
    params:
      out: int
      act: {type: str, default: relu, choices: [relu, gelu, silu]}
      up: {type: str, default: nearest, choices: [nearest, bilinear, bicubic, area]}
      pad: {type: str, default: zeros, choices: [zeros, reflect, circular, replicate]}
    layers:
      - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1,
         padding_mode: pad}
      - {type: activation, fn: %s}
      - {name: upsample, type: upsample, scale_factor: 2, mode: up}
      - {type: interpolate, scale_factor: 0.5, mode: up}
layers:
  - {name: a, type: ConvAct, out: 8}
  - {name: b, type: ConvAct, out: 8, act: gelu, up: bilinear, pad: reflect}
  - {name: c, type: ConvAct, out: 8, act: silu, pad: circular}
"""

#: the same network with each word written where it is used
LITERAL = """\
archspec: 1
name: words
input: [N, 3, 8, 8]
layers:
%s
"""


def _literal_block(name: str, act: str, up: str, pad: str) -> str:
    return (
        f"  - name: {name}\n    type: sequential\n    layers:\n"
        f"      - {{name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1,"
        f" padding_mode: {pad}}}\n"
        f"      - {{type: activation, fn: {act}}}\n"
        f"      - {{name: upsample, type: upsample, scale_factor: 2, mode: {up}}}\n"
        f"      - {{type: interpolate, scale_factor: 0.5, mode: {up}}}\n"
    )


WRITTEN = LITERAL % "".join(
    [
        _literal_block("a", "relu", "nearest", "zeros"),
        _literal_block("b", "gelu", "bilinear", "reflect"),
        _literal_block("c", "silu", "nearest", "circular"),
    ]
)


def _attrs(text: str) -> list[tuple[str, str, dict]]:
    graph = build_graph(text)
    return [
        (path, n.kind, {k: v for k, v in n.attrs.items() if not k.startswith("_")})
        for path, n in iter_nodes(graph.root)
        if n.child is None
    ]


@pytest.mark.parametrize("written", ["act", '"{act}"', "\"'gelu' if act == 'gelu' else act\""])
def test_a_block_param_chooses_the_word_as_if_it_were_written(written: str) -> None:
    """Each instance's nodes hold the words the literal spec writes; params and MACs are
    the same; compile builds the same modules, and computes the same, as the literal one."""
    text = BLOCK % written
    assert archspec.check(text).ok
    assert [a for _, _, a in _attrs(text)] == [a for _, _, a in _attrs(WRITTEN)]
    ours, ref = archspec.summary(text), archspec.summary(WRITTEN)
    assert (ours.params, ours.macs) == (ref.params, ref.macs)
    m, r = archspec.compile(text).eval(), archspec.compile(WRITTEN).eval()
    assert list(m.state_dict()) == list(r.state_dict())
    r.load_state_dict(m.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(m(x), r(x))


def test_a_word_the_field_does_not_take_is_located_with_where_it_came_from() -> None:
    """An instance whose param gives no word of the field: E309 at the field's text, naming
    the instance, the text the value came from, the value and the words; check says so too."""
    text = (BLOCK % "act").replace("choices: [relu, gelu, silu]", "choices: [relu, gelu, swish]")
    text = text.replace("act: silu", "act: swish")
    result = archspec.check(text)
    assert not result.ok
    (diag,) = result.diagnostics
    assert diag.code == "E309"
    assert (diag.span.line, diag.span.col) == (14, 32)  # `act` in `fn: act`
    assert diag.message.startswith("c.activation: fn: `act` gives 'swish'")
    assert "'relu', 'gelu', 'silu'" in diag.message and "'tanhshrink'" in diag.message
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(text, device="meta")
    assert [d.code for d in info.value.diagnostics] == ["E309"]


def test_check_on_the_command_line_reports_it_without_torch(tmp_path: Path) -> None:
    """`archspec check` (which imports no torch) prints the located error and exits 1."""
    path = tmp_path / "bad.yaml"
    text = (BLOCK % "act").replace(", choices: [nearest, bilinear, bicubic, area]", "")
    path.write_text(text.replace("up: bilinear", "up: bilinearr"), encoding="utf-8")
    code = (
        "import sys\nfrom archspec.cli import main\nsys.argv = ['archspec', 'check', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit:\n"
        "    assert 'torch' not in sys.modules, 'torch'\n    raise\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1, run.stderr
    out = run.stdout + run.stderr
    assert "bad.yaml:15:65: error[E309]: b.upsample: mode: `up` gives 'bilinearr'" in out
    assert "bad.yaml:16:54: error[E309]: b.interpolate: mode: `up` gives 'bilinearr'" in out


def test_a_bare_word_that_is_no_word_nor_name_is_E204_with_the_words() -> None:
    """`padding_mode: mirror` (no param of that name): E204 at the word, listing the words."""
    text = LITERAL % "  - {type: conv2d, out_channels: 4, kernel_size: 3, padding_mode: mirror}"
    (diag,) = archspec.check(text).diagnostics
    assert diag.code == "E204" and (diag.span.line, diag.span.col) == (5, 67)
    assert "'zeros', 'reflect', 'replicate' or 'circular'" in diag.message
    text = LITERAL % "  - {type: activation, fn: rleu}"
    (diag,) = archspec.check(text).diagnostics
    assert diag.code == "E204" and diag.hint.startswith("did you mean `relu`?")


def test_text_that_is_neither_a_word_nor_a_name_is_refused_by_the_schema() -> None:
    """Text that no param or template can be: E204 listing the words, at the field."""
    text = LITERAL % '  - {type: activation, fn: "my act!"}'
    (diag,) = archspec.check(text).diagnostics
    assert diag.code == "E204" and "expected 'relu'" in diag.message
    assert "param" in diag.hint and (diag.span.line, diag.span.col) == (5, 28)


def test_a_padding_word_through_a_param() -> None:
    """A field of numbers and words (`padding: same`) takes the word from a param too (it was
    E309 "expected an integer, got 'same'"), and refuses another word with the words."""
    text = (
        "archspec: 1\nname: p\ninput: [N, 3, 8, 8]\nparams: {pad: same}\n"
        "layers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: pad}\n"
    )
    assert (
        build_graph(text).root.nodes[-1].shape[2:]
        == build_graph(text.replace("padding: pad", "padding: same")).root.nodes[-1].shape[2:]
    )
    (diag,) = archspec.check(text.replace("{pad: same}", "{pad: full}")).diagnostics
    assert diag.code == "E309" and "'same' or 'valid'" in diag.message


def test_a_residual_activation_reads_a_param() -> None:
    text = """\
archspec: 1
name: r
input: [N, 4, 8, 8]
blocks:
  R:
    params: {act: str}
    layers:
      - type: residual
        body: [{type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}]
        activation: act
layers:
  - {type: R, act: gelu}
  - {type: R, act: relu}
"""
    fns = [a["fn"] for _, k, a in _attrs(text) if k == "activation"]
    assert fns == ["gelu", "relu"]
    matches_compile(text, (2, 4, 8, 8))


def test_emitted_words_are_arguments_and_an_activation_splits_the_class() -> None:
    """A constructor's word is an argument (`mode=up`), a call's is stored (`self.up`); the
    callee `fn` chooses is not, so the class is written per value; every class computes
    what compile computes, and the classes called with other values match or refuse."""
    text = BLOCK % "act"
    source = matches_compile(text, (2, 3, 8, 8))
    assert "nn.Upsample(scale_factor=2.0, mode=up)" in source
    assert "padding_mode=pad" in source and "mode=self.up" in source
    assert 'built for act="relu"' in source and 'built for act="gelu"' in source
    assert "torch.relu(x)" in source and "F.gelu(x)" in source and "F.silu(x)" in source
    found = sweep_classes(text, (2, 3, 8, 8), tries=24)
    # three classes, 24 calls each, every one matching compile: `up` and `pad` words no
    # instance has among them
    assert found.matched == len(found.cases) == 72, found.cases
    assert any("'up': 'area'" in c for c in found.cases), found.cases
    assert any("'pad': 'replicate'" in c for c in found.cases), found.cases


def test_a_template_with_text_around_its_part_decides_the_class() -> None:
    """`mode: "{kind}linear"` cannot be written in the class's terms: one class per value,
    each computing what compile computes."""
    text = """\
archspec: 1
name: t
input: [N, 3, 8, 8]
blocks:
  Up:
    params: {kind: str}
    layers:
      - {type: interpolate, scale_factor: 2, mode: "{kind}linear"}
layers:
  - {type: Up, kind: bi}
  - {type: Up, kind: bi}
"""
    source = matches_compile(text, (2, 3, 8, 8))
    assert 'mode="bilinear"' in source and "kind" not in source.split("class Up")[1].split(")")[0]


def test_the_json_schema_types_a_word_field_as_its_words_or_a_reference() -> None:
    """The schema lists the words (an editor completes them) and takes other text, as the
    fields that take expressions do."""
    schema = json_schema()
    fn = schema["$defs"]["ActivationSpec"]["properties"]["fn"]
    words, ref = fn["anyOf"]
    assert "relu" in words["enum"] and ref["type"] == "string" and "param" in ref["description"]


def test_emitting_twice_is_the_same_text() -> None:
    text = BLOCK % "act"
    assert render_module(build_graph(text)) == render_module(build_graph(text))
    _, infos, _ = emitted(text)
    assert [i.name for i in infos if i.block] == ["ConvAct", "ConvAct_2", "ConvAct_3"]


TENSORS = """\
archspec: 1
name: tensors
input: [N, 4, 8, 8]
blocks:
  Scale:
    params: {how: str, fill: str, sd: str}
    layers:
      - {name: gamma, type: parameter, shape: [1, 4, 1, 1], init: how, value: 2.0}
      - {name: idx, type: buffer, shape: [4], fill: fill}
      - {type: mul, from: [input, gamma]}
      - {type: stochastic_depth, p: 0.2, mode: sd}
layers:
  - {name: a, type: Scale, how: constant, fill: arange, sd: row}
  - {name: b, type: Scale, how: constant, fill: constant, sd: batch}
"""


def test_a_word_emit_cannot_take_as_an_argument_is_the_instances() -> None:
    """A `parameter`'s `init` and a `buffer`'s `fill` decide the code that makes the tensor:
    the emitted classes are built for each instance's words (a class that took `fill` as an
    argument wrote `torch.full(..., 0.0)` for `arange`), so a fresh emitted module holds
    what compile's holds; stochastic depth's `mode` stays an argument."""
    module, _, source = emitted(TENSORS)
    assert 'built for fill="arange", how="constant"' in source
    assert "StochasticDepth(0.2, sd)" in source
    ours, ref = module.Tensors(), archspec.compile(TENSORS)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value, msg=key)


def test_a_padding_word_that_picks_another_class_is_the_instances() -> None:
    """`padding: pad` giving `same` with a stride is TensorFlow's SAME (a class of its own,
    samepad.py), which no argument can choose: the instance's word is written."""
    text = """\
archspec: 1
name: pads
input: [N, 3, 9, 9]
blocks:
  Down:
    params: {pad: str, s: int}
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 3, stride: s, padding: pad}
layers:
  - {type: Down, pad: same, s: 2}
  - {type: Down, pad: valid, s: 1}
"""
    source = matches_compile(text, (2, 3, 9, 9))
    assert 'built for pad="same"' in source
