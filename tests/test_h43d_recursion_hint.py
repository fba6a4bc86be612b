"""E307's hint for a block that calls itself. A stacked hourglass (princeton-vl's
`self.low2 = Hourglass(n - 1, nf) if n > 1 else Residual(nf, nf)`) or pix2pix's U-Net
(`UnetSkipConnectionBlock(..., submodule=unet_block)`) nests one level in the next, so the
hint `use repeat for stacks` pointed the wrong way: a repeat chains copies side by side and
cannot put one inside another. The hint names what works, a block per level that calls the
level below, as tests/h43d/hourglass.yaml is written."""

from __future__ import annotations

import pytest

import archspec

SELF = """archspec: 1
name: nested
input: [N, 4, 32, 32]
blocks:
  Hourglass:
    params: {n: int}
    layers:
      - {name: up1, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
      - {name: pool1, type: maxpool2d, kernel_size: 2, from: input}
      - {name: low2, type: Hourglass, n: n - 1, when: n > 1}
      - {name: low2, type: conv2d, out_channels: 4, kernel_size: 1, when: n <= 1}
      - {name: up2, type: upsample, scale_factor: 2}
      - {name: out, type: add, from: [up1, up2]}
layers:
  - {name: hg, type: Hourglass, n: 3}
"""

MUTUAL = """archspec: 1
name: net
input: [N, 3, 32, 32]
blocks:
  A:
    layers:
      - {type: B}
  B:
    layers:
      - {type: A}
layers:
  - {type: A}
"""


@pytest.mark.parametrize(("text", "line"), [(SELF, 10), (MUTUAL, 10)])
def test_e307_names_a_block_per_level_and_repeat(text: str, line: int) -> None:
    report = archspec.check(text)
    (d,) = report.errors
    assert d.code == "E307" and d.span is not None and d.span.line == line
    assert "a block of its own for each level" in d.hint
    assert "`repeat`" in d.hint and "one after another" in d.hint


def test_the_levels_written_as_blocks_check() -> None:
    """What the hint says to write: `Hourglass2` calls `Hourglass1`, the same modules."""
    levels = (
        SELF.replace(
            "      - {name: low2, type: Hourglass, n: n - 1, when: n > 1}\n"
            "      - {name: low2, type: conv2d, out_channels: 4, kernel_size: 1, when: n <= 1}\n",
            "      - {name: low2, type: Hourglass1, when: n > 1}\n"
            "      - {name: low2, type: conv2d, out_channels: 4, kernel_size: 1, when: n <= 1}\n",
        )
        .replace("  Hourglass:\n", "  Hourglass2:\n")
        .replace("type: Hourglass, n: 3", "type: Hourglass2, n: 2")
    )
    level1 = (
        "  Hourglass1:\n"
        "    layers:\n"
        "      - {name: up1, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n"
        "      - {name: pool1, type: maxpool2d, kernel_size: 2, from: input}\n"
        "      - {name: low2, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        "      - {name: up2, type: upsample, scale_factor: 2}\n"
        "      - {name: out, type: add, from: [up1, up2]}\n"
    )
    levels = levels.replace("blocks:\n", "blocks:\n" + level1)
    report = archspec.check(levels)
    assert report.ok, report.diagnostics
    keys = list(archspec.compile(levels, device="meta").state_dict())
    assert "hg.low2.low2.weight" in keys and "hg.low2.up1.weight" in keys
