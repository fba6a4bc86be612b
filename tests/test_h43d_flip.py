"""`flip`: torch.flip as a layer kind. N-BEATS reads its input newest first
(`x.flip(dims=(1,))`, ElementAI's nbeats/models/nbeats.py), a bidirectional reader reverses
a sequence, test-time augmentation mirrors an image: before this kind a spec could only
write it as an `index` of a reversed int64 buffer, which states a fixed size."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

import archspec

SPEC = """archspec: 1
name: flipped
input: [N, 4, H, W]
layers:
  - {name: conv, type: conv2d, out_channels: 6, kernel_size: 3, padding: 1}
  - {name: mirrored, type: flip, dims: [-1]}
  - {name: both, type: flip, dims: [1, 2], from: conv}
  - {name: out, type: add, from: [mirrored, both]}
"""


class Flipped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv(x)
        return conv.flip(-1) + torch.flip(conv, (1, 2))


def test_flip_checks_for_every_size_and_computes_torch_flip() -> None:
    report = archspec.check(SPEC)
    assert report.ok, report.diagnostics
    assert [str(d) for d in report.symbolic_outputs[0]] == ["N", "6", "H", "W"]
    reference = Flipped().eval()
    ours = archspec.compile(SPEC).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    module = types.ModuleType("emitted_flipped")
    source = archspec.emit(SPEC)
    assert "conv.flip([-1])" in source and "conv.flip([1, 2])" in source
    exec(compile(source, "<emitted>", "exec"), module.__dict__)
    emitted = module.Flipped().eval()
    emitted.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 4, 5, 7)
    with torch.no_grad():
        expected = reference(x)
        assert torch.equal(ours(x), expected)
        assert torch.equal(emitted(x), expected)


@pytest.mark.parametrize(
    ("dims", "code", "words"),
    [
        ("[4]", "E401", "out of range"),
        ("[]", "E401", "empty"),
        ("[1, -3]", "E409", "repeat a dim"),
    ],
)
def test_bad_dims_are_located_errors(dims: str, code: str, words: str) -> None:
    report = archspec.check(SPEC.replace("dims: [-1]", f"dims: {dims}"))
    assert not report.ok
    (d,) = [d for d in report.diagnostics if d.severity == "error"]
    assert d.code == code and words in d.message
    assert d.span is not None and d.span.line == 6


def test_flipped_positions_are_known_to_the_index_check() -> None:
    """A flipped `arange` of 16 positions holds 15 ... 0: its first half (15 ... 8) has no
    row in an 8-row table (E409 at the lookup, as torch's IndexError), its second (7 ... 0)
    has; and all 16 need 16 rows, as without the flip."""
    base = """archspec: 1
name: ids
input: [N, 8, 8]
layers:
  - {name: ids, type: buffer, shape: [16], fill: arange, dtype: int64, persistent: false}
  - {name: rev, type: flip, dims: [0], from: ids}
  - {type: chunk, dim: 0, names: [first, second], from: rev}
  - {name: table, type: embedding, num_embeddings: 8, embedding_dim: 8, from: HALF}
  - {name: out, type: add, from: [input, table]}
"""
    assert archspec.check(base.replace("HALF", "second")).ok
    report = archspec.check(base.replace("HALF", "first"))
    assert [d.code for d in report.diagnostics] == ["E409"], report.diagnostics
    whole = base.replace("from: HALF", "from: rev").replace("[N, 8, 8]", "[N, 16, 8]")
    assert [d.code for d in archspec.check(whole).diagnostics] == ["E409"]
    assert archspec.check(whole.replace("num_embeddings: 8", "num_embeddings: 16")).ok


def test_import_reads_flip_calls() -> None:
    text = archspec.from_module(Flipped(), torch.randn(2, 4, 5, 7))
    assert text.count("type: flip") == 2, text
    model = archspec.compile(text).eval()
    reference = Flipped().eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 4, 3, 9)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
