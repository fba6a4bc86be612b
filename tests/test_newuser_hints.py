"""What a new user porting torchvision models from the docs alone tripped on (issue 14's last
check): a param whose bare default looks like arithmetic is text, and the error at its use
says so and where to move it; a warning inside a block or repeat is reported once with the
count of instances, as errors are; torchvision's empty `nn.Sequential()` placeholder is no
warning; a concrete size (`summary.macs`) converts with `int()` and `float()`."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec.dims import Dim
from archspec.errors import ArchSpecError


def spec(body: str) -> str:
    return "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n" + textwrap.dedent(body).lstrip("\n")


def test_a_param_default_that_looks_like_arithmetic_is_text_and_the_hint_says_use_let() -> None:
    text = spec(
        """
        params:
          bn_momentum: 1 - 0.9997
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: batchnorm2d, momentum: bn_momentum}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (d,) = info.value.diagnostics
    assert d.code == "E309"
    assert d.span is not None and (d.span.line, d.span.col) == (8, 35)
    assert d.hint is not None
    assert "`bn_momentum` holds the text '1 - 0.9997'" in d.hint
    assert "from `params:` to `let:`" in d.hint


def test_the_same_value_under_let_is_a_number() -> None:
    text = spec(
        """
        let:
          bn_momentum: 1 - 0.9997
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: batchnorm2d, momentum: bn_momentum}
        """
    )
    graph = archspec.build_graph(text)
    assert graph.root.nodes[1].attrs["momentum"] == pytest.approx(1 - 0.9997)


def test_plain_text_params_keep_the_usual_hint() -> None:
    text = spec(
        """
        params:
          mode: fast
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: batchnorm2d, momentum: mode}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (d,) = info.value.diagnostics
    assert d.code == "E309" and d.hint is not None and "let:" not in d.hint


def test_an_unread_node_in_every_copy_is_one_warning_with_the_count() -> None:
    text = spec(
        """
        blocks:
          B:
            layers:
              - {name: side, type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: main, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
        layers:
          - {name: stage, type: repeat, count: 3, layer: {type: B}}
        """
    )
    warnings = [d for d in archspec.build_graph(text).diagnostics if d.code == "W401"]
    assert len(warnings) == 1, [w.message for w in warnings]
    w = warnings[0]
    assert w.message == "the output of stage.0.side is never used (in 3 instances)"
    assert w.span is not None and (w.span.line, w.span.col) == (7, 9)


def test_an_empty_sequential_placeholder_is_no_warning() -> None:
    """ShuffleNetV2 keeps `self.branch1 = nn.Sequential()` at stride 1 and never calls it."""
    text = spec(
        """
        layers:
          - {name: branch1, type: sequential, layers: []}
          - {name: branch2, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
        """
    )
    result = archspec.check(text)
    assert result.ok and not [d for d in result.diagnostics if d.code == "W401"]
    model = archspec.compile(text, device="meta")
    assert "branch1" in dict(model.named_children())


def test_an_unread_conv_is_still_a_warning() -> None:
    text = spec(
        """
        layers:
          - name: branch1
            type: sequential
            layers: [{type: conv2d, out_channels: 8, kernel_size: 1}]
          - {name: branch2, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
        """
    )
    assert [d.code for d in archspec.build_graph(text).diagnostics] == ["W401"]


def test_a_concrete_size_converts_to_int_and_float() -> None:
    table = archspec.summary("lenet5", input=(1, 1, 32, 32))
    assert int(table.macs) == table.macs.value
    assert float(table.macs) / 1e6 == table.macs.value / 1e6
    with pytest.raises(TypeError, match="symbolic in H, N, W"):
        int(archspec.summary("lenet5").macs * Dim.of("H") * Dim.of("W"))
