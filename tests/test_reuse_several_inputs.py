"""`reuse` of a block of several inputs: a recurrent cell `[x, h]` written once and called
again on each step's input and the state the step before gave. It was E314 ('a block of
several inputs: there is no module to call again'), so a ConvGRU over T frames could share
only its convolutions, the cell's other steps written out once per frame."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from tests.emit_helpers import _load
from tests.parity.weights import fill_deterministic

SPEC = """\
archspec: 1
name: convgru3
inputs:
  x0: [N, 4, H, W]
  x1: [N, 4, H, W]
  x2: [N, 4, H, W]
  h0: [N, 8, H, W]
blocks:
  ConvGRUCell:
    inputs: [x, h]
    params: {hidden: 8}
    layers:
      - {name: xh, type: concat, from: [x, h]}
      - {name: gates, type: conv2d, out_channels: 2 * hidden, kernel_size: 3, padding: 1}
      - {type: chunk, chunks: 2, dim: 1, names: [z_pre, r_pre]}
      - {name: z, type: sigmoid, from: z_pre}
      - {name: r, type: sigmoid, from: r_pre}
      - {name: rh, type: mul, from: [r, h]}
      - {name: xrh, type: concat, from: [x, rh]}
      - {name: cand, type: conv2d, out_channels: hidden, kernel_size: 3, padding: 1}
      - {name: n, type: tanh}
      - {name: dn, type: sub, from: [n, h]}
      - {name: zdn, type: mul, from: [z, dn]}
      - {name: h_next, type: add, from: [h, zdn]}
layers:
  - {name: cell, type: ConvGRUCell, from: [x0, h0]}
  - {name: h2, type: reuse, node: cell, from: [x1, cell]}
  - {name: h3, type: reuse, node: cell, from: [x2, h2]}
"""


class ConvGRUCell(nn.Module):
    """A ConvGRU cell as written by hand (Ballas et al., 2016)."""

    def __init__(self, inp: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.gates = nn.Conv2d(inp + hidden, 2 * hidden, 3, padding=1)
        self.cand = nn.Conv2d(inp + hidden, hidden, 3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        z, r = self.gates(torch.cat([x, h], 1)).chunk(2, dim=1)
        z, r = torch.sigmoid(z), torch.sigmoid(r)
        n = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        return h + z * (n - h)


class ThreeSteps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = ConvGRUCell()

    def forward(self, x0, x1, x2, h0):  # type: ignore[no-untyped-def]
        return self.cell(x2, self.cell(x1, self.cell(x0, h0)))


def _inputs(h: int = 6, w: int = 5) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return [torch.randn(2, c, h, w, generator=g) for c in (4, 4, 4, 8)]


def test_a_cell_of_two_inputs_called_on_every_step_is_the_hand_written_recurrence() -> None:
    reference = ThreeSteps().eval()
    reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
    compiled = archspec.compile(SPEC).eval()
    source = archspec.emit(SPEC)
    assert "h2 = self.cell(x1, cell)" in source
    emitted = _load(source, "convgru3").Convgru3().eval()
    for model in (compiled, emitted):
        assert [(k, v.shape) for k, v in model.state_dict().items()] == [
            (k, v.shape) for k, v in reference.state_dict().items()
        ]
        model.load_state_dict(reference.state_dict(), strict=True)
        reference.load_state_dict(model.state_dict(), strict=True)
        for h, w in [(6, 5), (1, 1)]:
            with torch.no_grad():
                assert torch.equal(model(*_inputs(h, w)), reference(*_inputs(h, w)))


def test_the_reused_calls_are_counted_as_the_first() -> None:
    report = archspec.check(SPEC)
    assert report.ok, report.diagnostics
    summary = archspec.summary(SPEC, input=[[1, 4, 6, 5]] * 3 + [[1, 8, 6, 5]])
    rows = {r.path: r for r in summary.rows}
    cell = sum(r.macs.value for p, r in rows.items() if p.startswith("cell.") and r.macs)
    assert cell == 6 * 5 * 9 * (12 * 16 + 12 * 8)  # the two convs over a 6x5 map, batch 1
    assert rows["h2"].macs.value == rows["h3"].macs.value == cell
    assert summary.params == sum(p.numel() for p in ThreeSteps().parameters())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "from: [x1]",
            "`reuse` calls `cell` again, which takes 2 inputs (x, h), and `from` names 1",
        ),
        (
            "from: [x1, cell, x2]",
            "`reuse` calls `cell` again, which takes 2 inputs (x, h), and `from` names 3",
        ),
    ],
)
def test_a_reuse_given_another_count_of_inputs_is_e305(call: str, message: str) -> None:
    text = SPEC.replace("from: [x1, cell]}", call + "}")
    (diagnostic,) = archspec.check(text).diagnostics
    assert diagnostic.code == "E305"
    assert message in diagnostic.message
    assert diagnostic.span.line == 27  # the reuse's `from`
    assert "one node per input of the module" in (diagnostic.hint or "")


def test_a_module_of_one_input_given_two_is_e305() -> None:
    text = SPEC + "  - {name: again, type: reuse, node: h3_conv, from: [x0, x1]}\n"
    text = text.replace(
        "  - {name: h3, type: reuse",
        "  - {name: h3_conv, type: conv2d, out_channels: 4, "
        "kernel_size: 1, from: x0}\n  - {name: h3, type: reuse",
    )
    (diagnostic,) = archspec.check(text).diagnostics
    assert diagnostic.code == "E305"
    assert "which takes one input, and `from` names 2" in diagnostic.message
