"""A batch norm that gets one value per channel and sample (after a global pool, or a
batchnorm1d on (N, C)) normalises with the batch's own statistics in training mode, which
PyTorch refuses at a batch of 1; eval mode uses the running ones. `check` said such a network
took (1, ...) without a word, and a training step at batch 1 then failed in PyTorch."""

from __future__ import annotations

import pytest
import torch

import archspec

POOLED = """\
archspec: 1
name: pooled
input: INPUT
layers:
  LAYERS
"""
CASES = [
    # an ASPP-style pooling branch: global pool, 1x1 conv, batch norm
    (
        "[N, 4, 8, 8]",
        "- {type: adaptive_avgpool2d, output_size: 1}\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 1}\n"
        "  - {name: bn, type: batchnorm2d}",
        "N >= 2 and H, W >= 1",
    ),
    # an MLP head: batchnorm1d on (N, C)
    ("[N, 16]", "- {type: linear, out_features: 8}\n  - {name: bn, type: batchnorm1d}", "N >= 2"),
]


@pytest.mark.parametrize(("input_", "layers", "needs"), CASES)
def test_a_batch_norm_on_one_value_per_sample_needs_a_batch_of_two_in_training(
    input_: str, layers: str, needs: str
) -> None:
    text = POOLED.replace("INPUT", input_).replace("LAYERS", layers)
    result = archspec.check(text)
    assert result.ok
    assert result.domain_text.endswith(f"(in training mode, {needs})"), result.domain_text
    shape = [1 if d == "N" else int(d) for d in input_.strip("[]").split(", ")]
    one = archspec.check(text, input=shape)
    assert one.ok  # eval mode takes it
    (warning,) = one.diagnostics
    assert warning.code == "W404"
    assert "normalises with the batch's own statistics" in warning.message
    assert warning.span is not None and warning.span.line == text.count("\n")
    assert archspec.check(text, input=[2, *shape[1:]]).diagnostics == ()
    model = archspec.compile(text)
    x = torch.randn(*shape)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        model.train()(x)
    model.eval()(x)  # the running statistics: no batch needed
    model.train()(torch.randn(2, *shape[1:]))


def test_a_batch_norm_over_a_map_or_without_running_statistics_is_as_before() -> None:
    over_map = POOLED.replace("INPUT", "[N, 4, 8, 8]").replace(
        "LAYERS", "- {type: conv2d, out_channels: 4, kernel_size: 1}\n  - {type: batchnorm2d}"
    )
    assert archspec.check(over_map).domain_text.endswith("with H, W >= 1")
    assert archspec.check(over_map, input=[1, 4, 8, 8]).diagnostics == ()
    no_stats = POOLED.replace("INPUT", "[N, 16]").replace(
        "LAYERS", "- {type: batchnorm1d, track_running_stats: false}"
    )
    (error,) = archspec.check(no_stats, input=[1, 16]).errors  # eval mode too: an error
    assert error.code == "E405"


@pytest.mark.parametrize(("input_", "layers", "needs"), CASES)
def test_a_declared_batch_of_one_is_warned_as_the_same_input_given(
    input_: str, layers: str, needs: str
) -> None:
    """`input: [1, 16]` is the claim `--input 1,16` makes: it was checked with no W404 (the
    declared shapes come from lowering, which checks eval mode only)."""
    one = input_.replace("[N,", "[1,")
    text = POOLED.replace("INPUT", one).replace("LAYERS", layers)
    given = archspec.check(POOLED.replace("INPUT", input_).replace("LAYERS", layers),
                           input=[int(d) for d in one.strip("[]").split(", ")])  # fmt: skip
    declared = archspec.check(text)
    assert declared.ok and [(d.code, d.message) for d in declared.diagnostics] == [
        (d.code, d.message) for d in given.diagnostics
    ]
    assert [d.code for d in declared.diagnostics] == ["W404"]
    assert archspec.check(text.replace("[1,", "[2,")).diagnostics == ()
