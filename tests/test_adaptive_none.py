"""An adaptive pool's `output_size` entry `null` keeps the input's extent on that dim, as
torch's None does (`nn.AdaptiveAvgPool2d((None, 3))`): the shape rule, compile, emit and
import agree with torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.emit_helpers import matches_compile
from tests.ops_cases import symbolic_out
from tests.test_importer import roundtrip

KEEP = """\
archspec: 1
name: keep
input: [N, 3, H, W]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3}
  - {type: adaptive_avgpool2d, output_size: [null, 3]}
  - {type: adaptive_maxpool2d, output_size: [5, null]}
"""

BLOCK = """\
archspec: 1
name: keep_block
input: [N, 3, 12, 9]
blocks:
  head:
    params: {s: int}
    layers:
      - {type: adaptive_avgpool2d, output_size: [null, s]}
      - {type: adaptive_maxpool3d, output_size: [s, null, 1]}
layers:
  - {type: head, s: 4}
  - {type: head, s: 2}
"""


def test_a_null_size_keeps_the_input_extent_in_the_shape_rule() -> None:
    text = KEEP
    for h, w in ((9, 7), (20, 4)):
        want = F.adaptive_max_pool2d(
            F.adaptive_avg_pool2d(torch.zeros(2, 8, h - 2, w - 2), (None, 3)), (5, None)
        ).shape
        assert symbolic_out(text, {"N": 2, "H": h, "W": w}) == tuple(want)
    kept = text.replace("  - {type: adaptive_maxpool2d, output_size: [5, null]}\n", "")
    report = archspec.check(kept)
    assert report.ok and [tuple(map(str, s)) for s in report.outputs] == [("N", "8", "H - 2", "3")]


def test_compile_and_emit_agree_with_torch() -> None:
    source = matches_compile(KEEP, (2, 3, 10, 11))
    assert "nn.AdaptiveAvgPool2d((None, 3))" in source
    assert "nn.AdaptiveMaxPool2d((5, None))" in source
    source = matches_compile(BLOCK, (2, 3, 12, 9))
    assert "nn.AdaptiveAvgPool2d((None, s))" in source
    assert "nn.AdaptiveMaxPool3d((s, None, 1))" in source
    model = archspec.compile(BLOCK)
    x = torch.rand(2, 3, 12, 9)
    want = F.adaptive_max_pool3d(F.adaptive_avg_pool2d(x, (None, 4)), (4, None, 1))
    want = F.adaptive_max_pool3d(F.adaptive_avg_pool2d(want, (None, 2)), (2, None, 1))
    torch.testing.assert_close(model(x), want, rtol=0, atol=0)


@pytest.mark.parametrize("size", ["null", "[0, null]", "[null, 2, 3]", "[null, 1.5]"])
def test_a_wrong_size_is_still_located(size: str) -> None:
    text = "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nlayers:\n"
    text += f"  - {{type: adaptive_avgpool2d, output_size: {size}}}\n"
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    assert exc.value.span is not None and exc.value.span.line == 5


class KeepsSizes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.AdaptiveAvgPool2d((None, 3))
        self.seq = nn.Sequential(nn.AdaptiveMaxPool2d((7, None)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.seq(self.pool(self.conv(x)))
        return F.adaptive_avg_pool2d(x, (None, 1))


def test_modules_and_calls_that_keep_a_size_import() -> None:
    text = roundtrip(KeepsSizes(), (2, 3, 16, 12))
    assert "{name: pool, type: adaptive_avgpool2d, output_size: [null, 3]}" in text
    assert "{type: adaptive_maxpool2d, output_size: [7, null]}" in text
    assert "type: adaptive_avgpool2d, output_size: [null, 1]}" in text
