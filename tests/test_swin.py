"""Swin Transformers (specs/swin.yaml) and what they need of the language: a block's
`register_order` (torchvision's SwinTransformerBlockV2 registers norm1 before attn)."""

from __future__ import annotations

import torch

import archspec

from .ops_cases import emitted, error_of

ORDERED = """\
archspec: 1
name: ordered
input: [N, 5, 5, 8]
blocks:
  PostNorm:
    params: {dim: int}
    register_order: ORDER
    layers:
      - {name: attn, type: linear, out_features: dim}
      - {name: norm1, type: layer_norm}
      - {name: scale, type: parameter, shape: [dim]}
      - {name: out, type: add, from: [norm1, input]}
layers:
  - {name: block, type: PostNorm, dim: 8}
"""


def test_register_order_sets_the_state_dict_order() -> None:
    text = ORDERED.replace("ORDER", "[norm1, attn]")
    model = archspec.compile(text)
    assert list(model.state_dict()) == [
        "block.scale",  # torch saves a module's own tensors before its children's
        "block.norm1.weight",
        "block.norm1.bias",
        "block.attn.weight",
        "block.attn.bias",
    ]
    other = emitted(text)
    assert list(other.state_dict()) == list(model.state_dict())
    other.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 5, 5, 8)
    torch.testing.assert_close(other(x), model(x))
    plain = archspec.compile(ORDERED.replace("    register_order: ORDER\n", ""))
    assert list(plain.state_dict())[1:] == [
        "block.attn.weight",
        "block.attn.bias",
        "block.norm1.weight",
        "block.norm1.bias",
    ]


def test_register_order_errors_are_located() -> None:
    for order, col in (("[norm1, nope]", "nope"), ("[norm1, norm1]", "norm1]"), ("[out]", "out")):
        text = ORDERED.replace("ORDER", order)
        diag = error_of(text).diagnostics[0]
        assert diag.code == "E305", diag.message
        line = text.splitlines()[diag.span.line - 1]
        assert line[diag.span.col - 1 :].startswith(col), (line, diag.span.col)
    chain = ORDERED.replace("ORDER", "[norm1]").replace(
        "      - {name: scale, type: parameter, shape: [dim]}\n"
        "      - {name: out, type: add, from: [norm1, input]}\n",
        "",
    )
    # a chain asked for another order is a class registering it (E305 before h42c)
    keys = list(archspec.compile(chain).state_dict())
    assert keys == [
        "block.norm1.weight",
        "block.norm1.bias",
        "block.attn.weight",
        "block.attn.bias",
    ]
