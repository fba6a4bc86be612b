"""Networks written from the docs alone by a new user (session 32's independent check:
torchvision's video ResNets and segmentation models, DCGAN, timm's MLP-Mixer, gMLP and
GhostNet): what broke on the way. A DCGAN generator's `input: [N, nz, 1, 1]` beside a param
`nz` read `nz` as a symbol, and the first layer's E406 ("got nz", "give the input's channel
dimension as a number") named a param the user had given a number."""

from __future__ import annotations

import pytest

import archspec
from archspec.errors import ArchSpecError
from tests.test_newuser_specs import _spec

GENERATOR = _spec(
    "dcgan_generator",
    """
    input: [N, DIM, 1, 1]
    params: {nz: 100, ngf: 8}
    let: {mid: ngf // 2}
    layers:
      - {type: conv_transpose2d, out_channels: ngf, kernel_size: 4, bias: false}
      - {type: batchnorm2d}
      - {type: conv_transpose2d, out_channels: 3, kernel_size: 4, stride: 2, padding: 1}
    """,
)


@pytest.mark.parametrize(
    ("dim", "what", "hint"),
    [("nz", "param", "write the number (`100`, its default)"), ("mid", "let", "write the number,")],
)
def test_an_input_symbol_named_like_a_param_or_let_is_e304_at_the_input(
    dim: str, what: str, hint: str
) -> None:
    text = GENERATOR.replace("DIM", dim)
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    first = err.value.diagnostics[0]
    line = text.splitlines()[2]
    assert (first.code, first.span.line, first.span.col) == ("E304", 3, line.index(dim) + 1)
    assert f"not the {what} `{dim}`" in first.message
    assert first.hint is not None and first.hint.startswith(hint)
    # the layers read the dim as the value it names: no E406 "got nz" after it
    assert len(err.value.diagnostics) == 1


def test_input_symbols_of_other_names_and_numbers_still_check() -> None:
    assert archspec.check(GENERATOR.replace("DIM", "100")).ok
    spatial = GENERATOR.replace("[N, DIM, 1, 1]", "[N, 100, H, W]")
    assert archspec.check(spatial).ok
