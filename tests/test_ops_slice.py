"""`slice` against torch: a new user writing PiT's pooling layer and DeiT's heads from the docs
found no way to cut the class token off tokens whose count follows the image size (`x[:, 1:]`:
`split` takes sizes, which must be numbers). The shape rule is torch's for a range inside the
dim; one that runs past it or holds nothing (where torch clamps, or returns an empty tensor)
is E405 at the field when it is a number, a requirement of the domain when it is a symbol.
Compile and the emitted source compute what torch does, and `archspec import` reads the index.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.dims import shape_of
from archspec.ops import REGISTRY, ShapeContext

from .ops_cases import assert_located, same_as_emitted, spec


@pytest.mark.parametrize(
    ("dim", "start", "end", "step"),
    [
        (1, 1, None, 1),
        (1, 0, 2, 1),
        (2, -3, -1, 1),
        (3, 2, 5, 1),
        (1, -1, None, 1),
        (2, 0, -4, 1),
        (3, -6, 6, 1),
        (2, 0, None, 2),
        (3, 0, None, 2),
        (3, 1, -1, 3),
        (1, -4, None, 4),
        (2, 1, 3, 5),
    ],
)
def test_slice_is_torch_indexing(dim: int, start: int, end: int | None, step: int) -> None:
    shape = (2, 5, 6, 7)
    attrs = {"dim": dim, "start": start, "end": end, "step": step}
    out = REGISTRY["slice"].infer(dict(attrs), [shape_of(shape)], ShapeContext())
    x = torch.randn(shape)
    want = x[(slice(None),) * dim + (slice(start, end, step),)]
    assert tuple(d.value for d in out.shape) == tuple(want.shape)
    fn, kwargs = REGISTRY["slice"].function(attrs)
    assert torch.equal(fn(x, **kwargs), want)


@pytest.mark.parametrize(
    ("layer", "domain"),
    [
        ({"type": "slice", "start": 1}, "L >= 2"),
        ({"type": "slice", "start": -3, "end": -1}, "L >= 3"),
        ({"type": "slice", "end": 4}, "L >= 4"),
        ({"type": "slice", "start": 2, "end": -2}, "L >= 5"),
        ({"type": "slice", "start": 1, "step": 2}, "L >= 2"),
        ({"type": "slice", "end": -1, "step": 3}, "L >= 2"),
    ],
)
def test_a_symbolic_length_joins_the_domain(layer: dict, domain: str) -> None:
    report = archspec.check(spec([layer], ("N", "L", 8)))
    assert report.ok, report.diagnostics
    assert report.domain_text == f"one_case accepts (N, L, 8) with {domain}"
    lowest = int(domain.split(">= ")[1])
    model = archspec.compile(spec([layer], ("N", "L", 8)))
    start, end = layer.get("start", 0), layer.get("end")
    step = layer.get("step", 1)
    for n in (lowest, lowest + 3, lowest + 4):  # the domain's edge and past it: torch's shapes
        x = torch.randn(2, n, 8)
        assert torch.equal(model(x), x[:, start:end:step])
    # just below the edge torch empties the range, or clamps it off the rule's length
    n = lowest - 1
    first = start if start >= 0 else n + start
    last = n if end is None else (end if end >= 0 else n + end)
    got = torch.randn(2, n, 8)[:, start:end].shape[1]
    assert got == 0 or got != last - first


@pytest.mark.parametrize(
    ("layer", "code", "at"),
    [
        ({"type": "slice", "start": 3, "end": 2}, "E405", "2"),
        ({"type": "slice", "end": 9}, "E405", "9"),
        ({"type": "slice", "start": -9}, "E405", "-9"),
        ({"type": "slice", "start": 8}, "E405", "8"),
        ({"type": "slice", "dim": 3}, "E401", "3"),
    ],
)
def test_a_range_outside_the_dim_is_located_at_its_field(layer: dict, code: str, at: str) -> None:
    assert_located(spec([layer], ("N", 8, 4)), code, at=at)


def test_compile_and_emit_agree_with_torch() -> None:
    text = spec(
        [
            {"name": "rest", "type": "slice", "start": 1},
            {"name": "head", "type": "linear", "out_features": 3},
            {"name": "edges", "type": "slice", "from": "input", "dim": 2, "start": 2, "end": -2},
            {"name": "odd", "type": "slice", "dim": 2, "start": 1, "step": 2},
        ],
        ("N", "L", 8),
    )
    emitted = archspec.emit(text)
    assert "x[:, 1:]" in emitted and "[:, :, 2:-2]" in emitted and "[:, :, 1::2]" in emitted
    same_as_emitted(text, torch.randn(2, 6, 8))


class _Tokens(nn.Module):
    """A class token put in front of an image's patch tokens and cut off again (PiT's and
    DeiT's heads), and a band of features."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.class_token = nn.Parameter(torch.randn(1, 1, 16))
        self.head = nn.Linear(16, 4)
        self.band = nn.Linear(11, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        n = tokens.shape[0]
        tokens = torch.cat([self.class_token.expand(n, -1, -1), tokens], dim=1)
        rest = self.head(tokens[:, 1:]).mean(1)
        return rest + self.band(tokens[:, 0][:, 2:-3])


def test_import_reads_a_range_of_tokens_as_a_slice() -> None:
    model = _Tokens().eval()
    text = archspec.from_module(model, torch.randn(2, 3, 16, 16))
    assert "type: slice, start: 1}" in text and "split_size: [2, 11, 3]" in text, text
    built = archspec.compile(text).eval()
    built.load_state_dict(model.state_dict())
    for size in (16, 32):  # the tokens' count follows the image: any size imports alike
        x = torch.randn(2, 3, size, size)
        assert archspec.check(text, input=tuple(x.shape)).ok
        torch.testing.assert_close(built(x), model(x), rtol=0, atol=0)
