"""Attention networks of timm that session 37's new user wrote from the docs alone
(tests/newuser37attn/*.yaml: pvt_v2_b0's spatial-reduction attention and depthwise conv over
tokens folded back into their map, levit_128s's attention biases per distance and batch norms
over tokens with its two heads averaged, xcit_nano_12_p16_224's cross-covariance attention,
local patch interaction and class attention, focalnet_tiny_srf's focal modulation in place of
attention: gated contexts of growing depthwise convs, davit_tiny's window attention and channel
attention in turn, each after a convolutional position encoding, crossvit_tiny_240's two
branches whose class tokens attend to the other's patches, tnt_s_patch16_224's inner transformer
over the pixels of each patch, nest_tiny's attention within nested blocks of the map,
mvitv2_tiny's pooling attention with decomposed relative positions, convit_tiny's gated
positional self-attention), against what timm 1.0.31 builds, as tests/newuser37attn/timm.json
records it (tests/newuser37attn/make_fixture.py; timm is not needed here): the parameter count,
the state_dict's keys, shapes and dtypes in order (so a strict load either way), the eval output
under the same RNG-free weights at one or two input sizes, compiled and emitted, and the input
sizes `archspec check` states at their edge, where timm's forward starts to fail."""

from __future__ import annotations

import json

import pytest
import torch

import archspec
from tests.conftest import sample_params
from tests.newuser36.facts import compare_with_record
from tests.newuser37attn.facts import FIXTURE, HERE, SIZES
from tests.parity.weights import fill_deterministic

RECORDS = json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_every_spec_of_the_folder_has_timms_record() -> None:
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(SIZES) == sorted(RECORDS)


# every other network by default (float64 runs: ~100 s of CPU in all); --all runs each
@pytest.mark.parametrize("name", sample_params(sorted(SIZES), stride=2))
def test_the_spec_is_timms_network(name: str) -> None:
    # a warning may stand (W403 where a size is fixed, as timm fixes it): check must be ok
    spec = str(HERE / f"{name}.yaml")
    compared = compare_with_record(
        spec, RECORDS[name], fill_deterministic, SIZES[name], quiet=False
    )
    assert compared == len(SIZES[name]) >= 1


#: the smallest side timm's forward takes and the one below it (pvt_v2_b0: the first stage's
#: 8 x 8 reduction needs 8 tokens a side; levit_128s: 14 tokens a side after the 16x stem;
#: focalnet_tiny_srf: a 2 x 2 patch at each of its last three downsamplings; tnt_s_patch16_224
#: and nest_tiny: their 224 only, which both assert, as convit_tiny does), with the other side
#: at the spec's size
EDGES = {
    "pvt_v2_b0": (29, 28),
    "levit_128s": (209, 208),
    "focalnet_tiny_srf": (32, 31),
    "tnt_s_patch16_224": (224, 223),
    "nest_tiny": (224, 223),
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_check_states_the_edge_where_the_forward_starts_to_fail(name: str) -> None:
    spec = str(HERE / f"{name}.yaml")
    takes, refuses = EDGES[name]
    width = 224
    assert archspec.check(spec, input=(1, 3, takes, width)).ok
    assert not archspec.check(spec, input=(1, 3, refuses, width)).ok
    model = archspec.compile(spec).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, takes, width)).shape == (1, 1000)
        with pytest.raises((RuntimeError, AssertionError)):
            model(torch.zeros(1, 3, refuses, width))


FOLD = """\
archspec: 1
name: fold
input: [N, 3, H, W]
layers:
  - {name: proj, type: conv2d, out_channels: 16, kernel_size: 4, stride: 4}
  - {name: flat, type: flatten, start_dim: 2}
  - {name: tokens, type: permute, dims: [0, 2, 1]}
  - {name: t, type: permute, dims: [0, 2, 1]}
  - FOLD
"""


@pytest.mark.parametrize(
    "fold",
    [
        "{name: back, type: reshape, shape: [0, 16, H // 4, W // 4]}",
        "{name: back, type: unflatten, dim: 2, unflattened_size: [H // 4, W // 4]}",
    ],
)
def test_a_fold_of_tokens_by_the_inputs_sizes_points_at_the_departition(fold: str) -> None:
    # PVT's `x.transpose(1, 2).reshape(B, C, H, W)` written with the input's symbols: the
    # hint named interpolate_as, pad_as and adaptive pools, none of which folds tokens
    text = FOLD.replace("FOLD", fold)
    (only,) = archspec.check(text).diagnostics
    assert (only.code, only.span.line if only.span else 0) == ("E302", 9)
    assert only.hint is not None and only.hint.startswith("`H` is a symbol of `input:`")
    assert "`departition` them with `size: 1`" in only.hint
    assert "interpolate_as" not in only.hint
    folded = text.replace(
        fold,
        "{name: one, type: unsqueeze, dim: 2, from: tokens}\n"
        "  - {name: back, type: departition, size: 1, from: [one, proj]}",
    )
    report = archspec.check(folded)
    assert report.ok and "H, W >= 4" in report.domain_text
    # an input symbol read elsewhere keeps the hint of the kinds that take a size
    resize = text.replace(fold, "{type: interpolate, size: [H, W]}")
    (other,) = archspec.check(resize).diagnostics
    assert other.code == "E302" and "`interpolate_as`" in (other.hint or "")


def test_a_departition_of_tokens_not_yet_in_groups_says_to_unsqueeze_them() -> None:
    # the hint was the generic "check the layers before it: this layer takes another rank"
    text = FOLD.replace("FOLD", "{name: back, type: departition, size: 1, from: [tokens, proj]}")
    (only,) = archspec.check(text).diagnostics
    assert (only.code, only.span.line if only.span else 0) == ("E401", 9)
    assert only.hint is not None and "`unsqueeze` with `dim: 2`" in only.hint
    # a partition's other sizes keep the rank message and its hint
    other = text.replace("size: 1", "size: 2")
    (rank,) = archspec.check(other).diagnostics
    assert rank.code == "E401" and "unsqueeze" not in (rank.hint or "")


def test_a_dotted_name_says_that_a_module_lists_entry_is_a_key() -> None:
    # CrossViT's `patch_embed.0` written as a name: the hint was "rename it: a name is an
    # ASCII identifier", where the entry of timm's ModuleList is what `key:` makes
    text = FOLD.replace("  - FOLD\n", "").replace(
        "{name: proj, type: conv2d", "{name: patch_embed.0, type: conv2d"
    )
    (only,) = archspec.check(text).diagnostics
    assert (only.code, only.span.line if only.span else 0) == ("E204", 5)
    assert only.hint is not None and '`key: "patch_embed.0"`' in only.hint
    assert archspec.check(text.replace("name: patch_embed.0,", "key: patch_embed.0,")).ok
    # a name that is no path keeps the hint to rename it
    (other,) = archspec.check(text.replace("patch_embed.0", "patch-embed")).diagnostics
    assert other.code == "E204" and (other.hint or "").startswith("rename it")


def test_a_from_entry_that_yaml_reads_as_a_boolean_says_to_quote_it() -> None:
    # a buffer named `off` (MViTv2's offset of its relative index) read by `from: [diff, off]`:
    # YAML reads the entry as False, and the error had no hint at all
    text = FOLD.replace(
        "  - FOLD\n",
        "  - {name: 'off', type: buffer, shape: [1], value: 1.0}\n"
        "  - {name: shifted, type: add, from: [t, off]}\n",
    )
    (only,) = archspec.check(text).diagnostics
    assert (only.code, only.span.line if only.span else 0) == ("E204", 10)
    assert only.hint is not None and only.hint.startswith("YAML reads a bare yes, no, on, off")
    assert archspec.check(text.replace("[t, off]", "[t, 'off']")).ok


def test_the_tail_of_an_expression_a_flow_list_cut_says_so() -> None:
    # MViTv2's `rel_pos_h` of `2 * max(q_size, k_size) - 1` rows, unquoted in a flow list: the
    # second piece, `k) - 1`, had the generic hint listing what expressions may use
    text = FOLD.replace(
        "  - FOLD\n", "  - {name: rel_pos_h, type: parameter, shape: [2 * max(3, 5) - 1, 8]}\n"
    )
    head, tail = archspec.check(text).diagnostics
    assert (head.code, tail.code) == ("E206", "E206")
    assert head.hint is not None and "ends at its first comma" in head.hint
    assert tail.hint is not None and tail.hint.startswith("this looks like the end of an")
    assert archspec.check(text.replace("[2 * max(3, 5) - 1, 8]", '["2 * max(3, 5) - 1", 8]')).ok
