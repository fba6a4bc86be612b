"""Session 41's acceptance round (helper h41e): the hints a new user met writing networks
from the docs, where the hint pointed elsewhere: a layer written as a field of another
(Keras's `Conv2D(..., activation="relu")`) and one dim given bare where a list is taken."""

from __future__ import annotations

import pytest

import archspec


def _only(layers: str) -> archspec.errors.Diagnostic:
    text = f"archspec: 1\nname: m\ninput: [N, 3, 32, 32]\nlayers:\n{layers}\n"
    (diag,) = archspec.check(text).diagnostics
    return diag


@pytest.mark.parametrize(
    ("layers", "hint"),
    [
        # it was 'did you mean `dilation`?'
        (
            "  - {type: conv2d, out_channels: 8, kernel_size: 3, activation: relu}",
            "a layer takes no activation of its own: write it as the next item, `{type: relu}` "
            "(or `{type: activation, fn: relu}`, computed in forward)",
        ),
        (
            "  - name: s\n    type: sequential\n    layers:\n"
            "      - {type: conv2d, out_channels: 8, kernel_size: 1, act: gelu}",
            "write it as the next item, `{type: gelu}`",
        ),
        # it was 'allowed here: bias, eval_only, from, ...'
        (
            "  - {type: flatten}\n  - {type: linear, out_features: 10, dropout: 0.5}",
            "`dropout` is a layer kind, not a field of this layer: write it as an item of its "
            "own after this one (`{type: dropout, ...}`)",
        ),
        # a field spelt nearly so is still what the hint names
        ("  - {type: upsample, scale: 2}", "allowed here: align_corners,"),
        ("  - {type: conv2d, out_channels: 8, kernel_sise: 3}", "did you mean `kernel_size`?"),
    ],
)
def test_a_layer_written_as_a_field_of_another_says_to_write_it_as_an_item(
    layers: str, hint: str
) -> None:
    diag = _only(layers)
    assert diag.code == "E201" and diag.hint is not None and hint in diag.hint, diag.hint


def test_one_dim_given_bare_where_a_list_is_taken_says_to_write_the_list() -> None:
    # torch's `x.mean(1)`; the hint was 'see docs/spec-language.md for what this field takes'
    diag = _only("  - {type: mean, dim: 1}")
    assert diag.code == "E202" and diag.hint == "a list here, even of one item: `[1]`"


@pytest.mark.parametrize(
    ("layer", "hint"),
    [
        ("{name: w, type: parameter, shape: [3], init: zeros}",
         "torch's `zeros` is `constant` here (`value: 0`, its default)"),
        ("{name: w, type: parameter, shape: [3], init: ones}",
         "torch's `ones` is `constant` here with `value: 1`"),
        ("{name: w, type: buffer, shape: [3, 3], fill: identity}",
         "torch's `identity` is `eye` here"),
        ("{name: w, type: parameter, shape: [3], init: randn}",
         "torch's `randn` is `normal` here (`mean: 0`, `std: 1`, its defaults)"),
    ],
)  # fmt: skip
def test_torchs_name_of_a_fill_names_the_word_that_makes_it(layer: str, hint: str) -> None:
    # the hint listed the words and said a param could hold one, as for a typo
    diag = _only(f"  - {layer}")
    assert diag.code == "E204" and diag.hint is not None and diag.hint.startswith(hint), diag.hint


def test_an_input_too_small_for_a_padded_window_names_the_padding() -> None:
    # YOLOv5's stem, a 6x6 conv padded by 2 at stride 2: 'conv2d makes the H extent 0 (input
    # (1, 3, 1, 2), kernel (6, 6))' left out the padding that made 1 row 5
    text = (
        "archspec: 1\nname: m\ninput: [N, 3, H, W]\nlayers:\n"
        "  - {type: conv2d, out_channels: 8, kernel_size: 6, stride: 2, padding: 2}\n"
        "  - {type: maxpool2d, kernel_size: 3}\n"
    )
    (diag,) = archspec.check(text, input=(1, 3, 1, 2)).diagnostics
    assert diag.code == "E405" and diag.message.endswith(
        "conv2d makes the H extent 0 (input (1, 3, 1, 2), kernel (6, 6), padding (2, 2))"
    ), diag.message
    found = archspec.check(text, input=(1, 3, 2, 12)).diagnostics  # an unpadded pool: as before
    (diag,) = [d for d in found if d.code == "E405"]
    assert diag.message.endswith(
        "maxpool2d makes the H extent 0 (input (1, 8, 1, 6), kernel (3, 3))"
    )
