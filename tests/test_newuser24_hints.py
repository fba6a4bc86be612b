"""Messages a new user met writing networks from the docs (session 24): each test is a
spec written as the docs teach, with the mistake the user made, and what the message says."""

from __future__ import annotations

import archspec

GMLP_BLOCK = """
archspec: 1
name: token_residual
input: [N, 3, 32, 32]
blocks:
  Block:
    layers:
      - type: residual
        body:
          - {name: norm, type: layer_norm}
          - {name: proj1, type: linear, out_features: 96}
          - {name: act, type: gelu}
          - {name: proj2, type: linear, out_features: in_features}
layers:
  - {name: patch, type: conv2d, out_channels: 32, kernel_size: 8, stride: 8}
  - {name: tokens, type: flatten, start_dim: 2}
  - {name: to_tokens, type: permute, dims: [0, 2, 1]}
  - {name: block, type: Block}
"""


def test_a_token_residual_is_told_of_its_features_not_of_a_1x1_conv() -> None:
    """A gMLP block's residual over (N, L, D) tokens whose last linear read `in_features`
    (the hidden width) was told "the body ends with 16 channels" (the token count, dim 1)
    and to add a 1x1 conv; the add's own hint says what is wrong."""
    (diag,) = archspec.check(GMLP_BLOCK).errors
    assert diag.code == "E402" and "96 vs 32" in diag.message
    assert "1x1 conv" not in diag.hint and "16 channels" not in diag.hint
    assert "let: {dim: in_features}" in diag.hint


def test_a_channels_last_map_residual_names_the_width_where_the_channels_are() -> None:
    """An (N, H, W, C) map (a `permute` put its channels last): the hint gave dim 1, a height."""
    spec = GMLP_BLOCK.replace("  - {name: tokens, type: flatten, start_dim: 2}\n", "").replace(
        "dims: [0, 2, 1]", "dims: [0, 2, 3, 1]"
    )
    (diag,) = archspec.check(spec).errors
    assert diag.code == "E402"
    assert "the body ends with 96 channels (at dim 3)" in diag.hint
    assert "4 channels" not in diag.hint


STR_PREFIX_KEY = """
archspec: 1
name: str_prefix_key
input: [N, 3, 8, 8]
blocks:
  ConvNorm:
    params: {prefix: str}
    layers:
      - {key: "{prefix}/conv", type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
      - {key: "{prefix}/norm", type: batchnorm2d}
layers:
  - {name: stage, type: repeat, count: 2, layer: {type: ConvNorm, prefix: "OSA2_{i}"}}
"""


def test_a_str_argument_written_as_a_template_is_refused_not_made_a_key() -> None:
    """VoVNet's keys (`OSA2_1_0/conv`) passed as `prefix: "OSA2_{i}"`: the argument is text
    as written, so the modules were silently keyed `OSA2_{i}/conv` in both copies."""
    result = archspec.check(STR_PREFIX_KEY)
    assert [d.code for d in result.errors] == ["E309", "E309"]
    message = result.errors[0].message
    assert "'OSA2_{i}'" in message and "taken as written" in message
    literal = archspec.compile(STR_PREFIX_KEY.replace('"OSA2_{i}"', "OSA2"), device="meta")
    assert list(literal.state_dict())[:2] == ["stage.0.OSA2/conv.weight", "stage.0.OSA2/conv.bias"]


HR_FUSE = """
archspec: 1
name: hr_fuse
input: [N, 3, H, W]
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {name: low, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {name: up, type: upsample, scale_factor: 2}
  - {name: fused, type: add, from: [stem, up]}
"""


def test_an_either_or_join_is_part_of_the_domain() -> None:
    """HRNet's fuse (an upsampled map added to a strided one): torch takes the sizes where
    the two are equal, or where the strided side is 1 and broadcasts. That either-or was an
    E402 with a symbolic `input:` (and a W403 with a concrete one); it is now a case of the
    domain, as any requirement is, and a size outside both cases the E402 it always was."""
    result = archspec.check(HR_FUSE)
    assert result.ok and not result.warnings
    assert result.domain_text.endswith(
        "with (1 <= H <= 2 or H % 4 in {0, 3}) and (1 <= W <= 2 or W % 4 in {0, 3})"
    )
    assert archspec.check(HR_FUSE, input=(1, 3, 64, 64)).ok
    assert archspec.check(HR_FUSE, input=(1, 3, 2, 2)).ok  # a 1x1 stem broadcast to 2x2
    concrete_text = HR_FUSE.replace("[N, 3, H, W]", "[N, 3, 64, 64]")
    concrete = archspec.check(concrete_text)
    assert concrete.ok and not concrete.warnings
    assert archspec.check(concrete_text, input=(1, 3, 60, 60)).ok
    (diag,) = archspec.check(concrete_text, input=(1, 3, 62, 62)).errors
    assert diag.code == "E402" and "interpolate_as" in (diag.hint or "")


BOTH_MAY_BE_1 = """
archspec: 1
name: both_may_be_1
input: [N, 3, H, W]
layers:
  - {name: strided, type: conv2d, out_channels: 3, kernel_size: 3, stride: 2, padding: 1}
  - {name: pooled, type: maxpool2d, kernel_size: 2, from: input}
  - {name: fused, type: add, from: [strided, pooled]}
"""


def test_a_join_whose_sides_may_both_be_1_says_where_the_concrete_size_goes() -> None:
    """(H + 1) // 2 against H // 2: at H = 3 the pooled side is 1 and broadcasts, at H = 1
    the strided one would, so the sum's size depends on which: no node shape states it. A
    symbolic `input:` is refused (E402, the concrete `input:` named), a concrete one checks
    its own size only (W403)."""
    (diag,) = archspec.check(BOTH_MAY_BE_1).errors
    assert diag.code == "E402" and "spec's `input:`" in diag.hint
    concrete = archspec.check(BOTH_MAY_BE_1.replace("[N, 3, H, W]", "[N, 3, 64, 64]"))
    assert concrete.ok and [w.code for w in concrete.warnings] == ["W403"]
