"""The errors of issue 14: a mistake inside a block or a repeat is reported once ("in N
instances"), a failed node does not cascade into errors about what reads its size, a reader
with the same `when` as what it reads is no error, hints point at the side to fix, PyTorch's
class names suggest their 2-d kinds, and a linear that forgot its flatten is a warning."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError


def spec(body: str, header: str = "input: [N, 3, 32, 32]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body).lstrip("\n")


def err(text: str) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    return info.value


CASCADE = spec(
    """
    blocks:
      Unit:
        params: {w: int}
        let: {twice: in_channels * 2}
        layers:
          - {name: a, type: conv2d, out_channels: w, kernel_size: 3, groups: 5}
          - {name: b, type: conv2d, out_channels: in_channels * 2, kernel_size: 1}
          - {name: c, type: conv2d, out_channels: in_channels, kernel_size: 1,
             when: in_channels > 4}
      Reader:
        params: {w: int}
        let: {halved: in_channels // 2}
        layers:
          - {type: conv2d, out_channels: halved, kernel_size: 1}
    layers:
      - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3}
      - {name: stage, type: repeat, count: 3, layer: {type: Unit, w: 8}}
      - {name: after, type: conv2d, out_channels: in_channels, kernel_size: 1}
      - {name: reader, type: Reader, w: in_channels}
    """
)


def test_a_failed_node_does_not_cascade_into_what_reads_its_size() -> None:
    """Only the groups mistake is reported: not the `in_channels` that the next layer, the
    `when` after it, the layer after the stage, a block argument and a block's let read."""
    e = err(CASCADE)
    assert e.codes == ["E409"], e.render()
    assert "stage.0.a" in e.render()


@pytest.mark.parametrize("count", ["100000", "nope"])
def test_failed_computed_piece_names_do_not_cascade_into_their_readers(count: str) -> None:
    """A chunk whose computed `names` fail is one error: its readers' names may be the
    ones it would give, so none is an "unknown reference" (each was, one per reader); the
    E310 speaks of `names`, not of a `from`."""
    text = spec(
        f"""
        layers:
          - {{type: chunk, chunks: 2, dim: 1, names: {{each: "p{{j}}", for: j, in: {count}}}}}
          - {{type: add, from: [p0, p1]}}
        """
    )
    diagnostics = err(text).diagnostics
    assert [d.code for d in diagnostics] == ["E310" if count.isdigit() else "E302"]
    if count.isdigit():
        assert "a computed `names` counts against them" in diagnostics[0].message
    # where the names are known, an unknown reader is still reported
    typo = text.replace(count, "2").replace("p1]", "q1]")
    assert [d.code for d in err(typo).diagnostics] == ["E305"]


def test_a_failed_flat_repeat_does_not_cascade_into_readers_of_its_names() -> None:
    """A flat repeat whose input failed names no node: its copies' `names:` (`c{i}`) and
    `key:`s (`convs.{i}`), read below it as written or through a template, were three
    "unknown reference" / "no node made before this one" errors after the one to fix."""
    text = spec(
        """
        layers:
          - {name: bad, type: conv2d, out_channels: 4, kernel_size: 40}
          - {type: repeat, count: 2, flat: true, names: ["c{i}"],
             layers: [{type: conv2d, out_channels: 4, kernel_size: 1}]}
          - {name: joined, type: concat, from: [c0, "c{1}"]}
          - {type: repeat, count: 2, flat: true, names: [null],
             layers: [{type: conv2d, key: "convs.{i}", out_channels: 4, kernel_size: 1}]}
          - {name: j2, type: add, from: ["convs.{1}", joined]}
        """
    )
    assert [d.code for d in err(text).diagnostics] == ["E405"]
    # once the repeat's names are known, a reader of a name none gives is still reported
    typo = text.replace("kernel_size: 40", "kernel_size: 3").replace('"c{1}"', '"c{2}"')
    assert [d.code for d in err(typo).diagnostics] == ["E305"]


def test_a_mistake_in_every_copy_is_reported_once_with_the_count() -> None:
    text = spec(
        """
        layers:
          - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3}
          - name: stage
            type: repeat
            count: 17
            layer: {type: conv2d, out_channels: 8, kernel_size: 1, padding: widht}
        """
    )
    e = err(text)
    assert e.codes == ["E302"], e.render()
    assert e.diagnostics[0].message.endswith("(in 17 instances)")
    assert e.span is not None and e.span.line == 9
    one = text.replace("count: 17", "count: 1")
    assert "instances" not in err(one).render()


def test_distinct_mistakes_stay_distinct() -> None:
    text = spec(
        """
        params: {width: 8}
        layers:
          - {type: conv2d, out_channels: widht, kernel_size: 3}
          - {name: stage, type: repeat, count: 2, layer: {type: relu, from: nowhere}}
          - {type: conv2d, out_channels: 4, kernel_size: 1, stride: strde}
        """
    )
    e = err(text)
    assert e.codes == ["E302", "E305", "E302"], e.render()


def test_a_reader_with_the_same_when_is_switched_off_too() -> None:
    text = spec(
        """
        params: {aux: false}
        layers:
          - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3}
          - {name: head, type: conv2d, out_channels: 4, kernel_size: 1, when: aux}
          - {name: head_act, type: relu, from: head, when: aux}
          - {name: main, type: conv2d, out_channels: 4, kernel_size: 1, from: stem}
        """
    )
    assert [n.name for n in archspec.build_graph(text).root.nodes] == ["stem", "main"]
    both = archspec.build_graph(text, {"aux": True}).root.nodes
    assert [n.name for n in both] == ["stem", "head", "head_act", "main"]
    kept = text.replace("from: head, when: aux}", "from: head}")
    assert err(kept).codes == ["E305"]


@pytest.mark.parametrize(
    ("kind", "suggested"),
    [
        ("ReLU", "relu"),
        ("Relu", "relu"),
        ("ReLU6", "relu6"),
        ("GELU", "gelu"),
        ("Conv2d", "conv2d"),
        ("Conv", "conv2d"),
        ("BatchNorm2d", "batchnorm2d"),
        ("BatchNorm", "batchnorm2d"),
        ("MaxPool2d", "maxpool2d"),
        ("MaxPool", "maxpool2d"),
        ("AdaptiveAvgPool2d", "adaptive_avgpool2d"),
        ("LeakyReLU", "leaky_relu"),
        ("LayerNorm", "layer_norm"),
    ],
)
def test_a_pytorch_class_name_suggests_its_kind(kind: str, suggested: str) -> None:
    e = err(spec(f"layers:\n  - {{type: {kind}}}\n"))
    assert e.error_code == "E205"
    assert e.hint == f"did you mean `{suggested}`?"


def test_an_init_rule_naming_a_class_suggests_its_kind() -> None:
    text = spec(
        """
        layers:
          - {type: conv2d, out_channels: 4, kernel_size: 3}
        init:
          - {layers: [Conv2d], weight: zeros}
        """
    )
    assert err(text).hint == "did you mean `conv2d`?"


def test_a_braced_value_is_not_told_to_quote_its_key() -> None:
    e = err(spec("layers:\n  - {type: dropout, p: {0.5}}\n"))
    assert e.error_code == "E101"
    assert e.hint is not None and "write `p: 0.5` without them" in e.hint
    e = err(spec("params:\n  1.5: 1\nlayers:\n  - {type: relu}\n"))
    assert e.error_code == "E101" and e.hint == "quote the key"


@pytest.mark.parametrize(
    ("key", "word"),
    [
        ("yes", "the boolean true"),
        ("no", "the boolean false"),
        ("On", "the boolean true"),
        ("OFF", "the boolean false"),
        ("null", "null"),
    ],
)
def test_a_key_yaml_reads_as_a_boolean_or_null_says_so(key: str, word: str) -> None:
    # a YOLO head's `let: {no: num_classes + 5}` (outputs per anchor) is no name to YAML 1.1
    e = err(spec(f"let:\n  {key}: 5\nlayers:\n  - {{type: relu}}\n"))
    assert e.error_code == "E101" and e.hint is not None
    assert e.hint.startswith(f"YAML 1.1 reads `{key}` as {word}: ")
    assert f"quote the key (`'{key}':`)" in e.hint


RESIDUAL = spec(
    """
    blocks:
      Block:
        params: {planes: int, stride: {type: int, default: 1}}
        layers:
          - type: residual
            body:
              - {name: conv1, type: conv2d, out_channels: planes, kernel_size: 3,
                 stride: stride, padding: 1}
              - {name: conv2, type: conv2d, out_channels: planes * 2, kernel_size: 3, padding: 1}
            shortcut:
              when: stride != 1 or in_channels != planes
              layers:
                - {type: conv2d, out_channels: planes, kernel_size: 1, stride: stride}
    layers:
      - {name: block, type: Block, planes: 16}
    """,
    header="input: [N, 16, 8, 8]",
)


def test_residual_hints_point_at_the_side_to_fix() -> None:
    # the shortcut is left out (16 -> 16): the body's width is the mistake, not a projection
    e = err(RESIDUAL)
    assert e.error_code == "E402"
    assert e.hint is not None and e.hint.startswith("the shortcut `downsample` is left out here")
    assert "projection" not in e.hint
    # with the shortcut there, body (64) and shortcut (32) disagree
    e = err(RESIDUAL.replace("planes: 16}", "planes: 32}"))
    assert e.hint is not None and "the shortcut `downsample` with 32" in e.hint
    # no shortcut at all: either fix, the projection first
    lines = RESIDUAL.splitlines(keepends=True)
    at = next(i for i, ln in enumerate(lines) if "shortcut:" in ln)
    bare = "".join(lines[:at] + lines[at + 4 :])
    assert "downsample" not in bare and "shortcut" not in bare
    e = err(bare)
    assert e.hint is not None and "add a projection shortcut" in e.hint and "otherwise" in e.hint


@pytest.mark.parametrize(
    ("layers", "warned"),
    [
        ("  - {type: conv2d, out_channels: 8, kernel_size: 3}\n", True),
        (
            "  - {type: conv2d, out_channels: 8, kernel_size: 3}\n  - {type: batchnorm2d}\n"
            "  - {type: relu}\n  - {type: adaptive_avgpool2d, output_size: 1}\n",
            True,
        ),
        ("  - {type: conv2d, out_channels: 8, kernel_size: 3}\n  - {type: flatten}\n", False),
        (
            "  - {type: conv2d, out_channels: 8, kernel_size: 3}\n"
            "  - {type: permute, dims: [0, 2, 3, 1]}\n",
            False,
        ),
    ],
)
def test_a_linear_that_forgot_its_flatten_is_a_warning(layers: str, warned: bool) -> None:
    text = spec("layers:\n" + layers + "  - {name: fc, type: linear, out_features: 10}\n")
    result = archspec.check(text)
    assert result.ok
    codes = [d.code for d in archspec.build_graph(text).diagnostics]
    assert ("W405" in codes) == warned, codes


@pytest.mark.parametrize(
    ("input_", "layers", "rank"),
    [
        ("[N, 16]", "  - {type: linear, out_features: 8}\n", 2),
        ("[N, 4, 9]", "  - {type: conv1d, out_channels: 8, kernel_size: 3}\n", 3),
        ("[N, 3, 4, 8, 8]", "  - {type: conv3d, out_channels: 8, kernel_size: 3}\n", 5),
        ("[N, 3, 8, 8]", "  - {type: conv2d, out_channels: 8, kernel_size: 3}\n", 4),
        ("[N, 3, 8, 8]", "  - {type: flatten, start_dim: 0}\n", 1),
    ],
)
def test_a_channel_dropout_off_its_rank_is_a_warning(input_: str, layers: str, rank: int) -> None:
    """PyTorch runs `dropout2d` on a 2-, 3- or 5-d input with a warning of its own that a
    future release refuses it (or reads a 3-d one differently): check says so first."""
    text = spec(
        "layers:\n" + layers + "  - {name: drop, type: dropout2d, p: 0.2}\n", f"input: {input_}"
    )
    assert f"input: {input_}" in text
    result = archspec.check(text)
    assert result.ok
    found = [d for d in result.diagnostics if d.code == "W407"]
    if rank == 4:
        assert not found
    else:
        (only,) = found
        assert only.message.startswith(f"dropout2d `drop` takes a {rank}-d input: PyTorch ")
        assert only.span is not None and only.span.line == text.count("\n")
        dims = [2 if d == "N" else int(d) for d in input_.strip("[]").split(", ")]
        model, x = archspec.compile(text), torch.randn(*dims)
        if rank == 1:  # not a warning to come: torch refuses it in training mode now
            assert "refuses a 1-d input in training mode" in only.message
            with pytest.raises(RuntimeError, match="at least 2 dimensions"):
                model.train()(x)
        else:
            with pytest.warns(UserWarning, match="dropout2d"):
                model.train()(x)
        model.eval()(x)


INIT_READS_PARAMS = """\
archspec: 1
name: initfail
input: [N, 3, 8, 8]
params:
  flag: {type: bool, default: false}
  scale: {type: float, default: 0.5}
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3}
init:
  - {layers: [conv2d], when: flag, weight: zeros}
  - {layers: [conv2d], weight: {normal: {std: scale * 2}}}
"""


def test_an_init_rule_reading_a_param_that_failed_adds_no_error() -> None:
    """`--set zero_init_residual=maybe` on resnet50 gave its E309 and then an "unknown name"
    E308 for each init rule's `when` that reads it, as if the spec were wrong there too."""
    with pytest.raises(ArchSpecError) as caught:
        archspec.build_graph(INIT_READS_PARAMS, {"flag": "maybe", "scale": "abc"})
    assert caught.value.codes == ["E309", "E309"]
    with pytest.raises(ArchSpecError) as caught:
        archspec.build_graph("resnet50", {"zero_init_residual": "maybe"})
    assert caught.value.codes == ["E309"]
    assert archspec.build_graph(INIT_READS_PARAMS).name == "initfail"  # as it was, unbroken


def test_copies_that_fail_differently_at_one_place_say_so() -> None:
    """One place, one error; when the copies' messages differ in more than numbers (a
    table's rows holding 2.5 and 'x'), the count says how many say otherwise and the first
    of them, not only the first copy's words (it was "got 2.5 (in 3 instances)")."""
    body = """
    params:
      setting: [[16, 1], [2.5, 2], [x, 1]]
    blocks:
      B:
        params: {out: int}
        layers:
          - {type: conv2d, out_channels: out, kernel_size: 1}
    layers:
      - {type: for_each, name: body, rows: setting, fields: [c, n], count: n,
         layer: {type: B, out: c}}
    """
    (diag,) = err(spec(body)).diagnostics
    assert diag.code == "E309" and "got 2.5 (in 3 instances; 1 says otherwise, first: " in (
        diag.message
    )
    assert diag.message.endswith("got 'x')"), diag.message
    same = spec(body.replace("[x, 1]", "[3.5, 1]"))  # numbers only: the kind is the same
    (diag,) = err(same).diagnostics
    assert diag.message.endswith("got 2.5 (in 3 instances)"), diag.message


def test_instances_at_paths_of_other_depths_say_the_same_thing() -> None:
    """RepVGG's block used once as `stage0` and in repeats as `stage1.0`: the W401 of its
    unread `se` said "(in 3 instances; 2 say otherwise, first: ... stage1.0.se ...)", as if
    the other copies disagreed, where only the path differs."""
    body = """
    blocks:
      B:
        layers:
          - {name: se, type: identity}
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
    layers:
      - {name: stage0, type: B}
      - {name: stage1, type: repeat, count: 2, layer: {type: B}}
    """
    (diag,) = archspec.check(spec(body)).warnings
    assert diag.code == "W401"
    assert diag.message == "the output of stage0.se is never used (in 3 instances)"
