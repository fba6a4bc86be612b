"""The token ops of vision transformers (archspec/ops/attention.py): multihead_attention,
select, expand and check_size; shapes, params, MACs, state_dict keys, errors, emitted code."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from tests.ops_cases import assert_located, emitted, param_count, same_as_emitted, symbolic_out

#: An image made tokens as ViT makes them: conv, flatten(2), permute.
TOKENS = [
    {"name": "proj", "type": "conv2d", "out_channels": 8, "kernel_size": 2, "stride": 2},
    {"name": "flat", "type": "flatten", "start_dim": 2},
    {"name": "tokens", "type": "permute", "dims": [0, 2, 1]},
]


def _spec(layers: list[dict], input_shape: str = "N, 3, H, W") -> str:
    import yaml

    lines = "\n".join(
        f"  - {yaml.safe_dump(x, default_flow_style=True).strip()}" for x in TOKENS + layers
    )
    return f"archspec: 1\nname: tokens\ninput: [{input_shape}]\nlayers:\n{lines}\n"


ATTN = _spec([{"name": "attn", "type": "multihead_attention", "num_heads": 2}])


def test_attention_has_multihead_attentions_keys_params_and_output() -> None:
    model = archspec.compile(ATTN).eval()
    keys = [k for k in model.state_dict() if k.startswith("attn.")]
    assert keys == ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight"] + [
        "attn.out_proj.bias"
    ]
    assert isinstance(model.attn, nn.MultiheadAttention)
    counted, built = param_count(ATTN)
    assert counted == built == (3 * 8 * 2 * 2 + 8) + (4 * 8 * 8 + 4 * 8)  # conv + attention
    reference = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    reference.load_state_dict({k[5:]: v for k, v in model.state_dict().items() if k in keys})
    x = torch.randn(2, 3, 6, 4)
    tokens = model.proj(x).flatten(2).permute(0, 2, 1)
    want = reference(tokens, tokens, tokens, need_weights=False)[0]
    with torch.no_grad():
        torch.testing.assert_close(model(x), want)
    assert symbolic_out(ATTN, {"N": 2, "H": 6, "W": 4}) == (2, 6, 8)


def test_attention_macs_count_projections_and_both_matmuls() -> None:
    s = archspec.summary(ATTN, input=(1, 3, 6, 4))
    row = next(r for r in s.rows if r.name == "attn")
    seq, d = 6, 8  # 3 x 2 patches of 8 features
    assert row.macs.value == seq * d * 3 * d + 2 * seq * seq * d + seq * d * d
    no_bias = _spec([{"type": "multihead_attention", "num_heads": 4, "bias": False}])
    counted, built = param_count(no_bias)
    assert counted == built == (3 * 8 * 2 * 2 + 8) + 4 * 8 * 8


def test_attention_emits_its_module_and_equals_compile() -> None:
    source = archspec.emit(ATTN)
    assert "self.attn = MultiheadSelfAttention(8, 2)" in source
    assert "x = x.permute(0, 2, 1)" in source
    same_as_emitted(ATTN, torch.randn(2, 3, 4, 6))
    same_as_emitted(ATTN, torch.randn(2, 3, 4, 6), train=True)


@pytest.mark.parametrize(
    ("layer", "code", "at"),
    [
        ({"type": "multihead_attention", "num_heads": 3}, "E409", "3"),
        ({"type": "multihead_attention", "num_heads": 2, "embed_dim": 6}, "E402", "6"),
        ({"type": "select", "dim": 3}, "E401", "3"),
        ({"type": "select", "index": 9}, "E405", None),
    ],
)
def test_token_errors_are_located(layer: dict, code: str, at: str | None) -> None:
    text = _spec([layer], "N, 3, 6, 6")
    assert_located(text, code, at)


def test_attention_needs_tokens() -> None:
    text = "archspec: 1\nname: t\ninput: [N, 8, 4, 4]\nlayers:\n"
    text += "  - {type: multihead_attention, num_heads: 2}\n"
    assert_located(text, "E401")


def test_class_token_expand_concat_and_select() -> None:
    text = _spec(
        [
            {"name": "cls", "type": "parameter", "shape": [1, 1, 8], "init": "normal"},
            {"name": "batch_cls", "type": "expand", "from": ["cls", "tokens"]},
            {"name": "joined", "type": "concat", "dim": 1, "from": ["batch_cls", "tokens"]},
            {"name": "first", "type": "select", "dim": 1, "index": 0},
        ]
    )
    assert symbolic_out(text, {"N": 3, "H": 4, "W": 6}) == (3, 8)
    model = archspec.compile(text).eval()
    x = torch.randn(3, 3, 4, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.cls[0, 0].expand(3, 8))
    source = archspec.emit(text)
    assert "batch_cls = self.cls.expand(tokens.shape[0], -1, -1)" in source
    assert "x = torch.cat([batch_cls, tokens], 1)" in source
    assert "x = x[:, 0]" in source
    assert "class Permute" not in source  # a named permute is `x.permute(...)`
    same_as_emitted(text, x)


def test_expand_needs_a_batch_of_one() -> None:
    text = _spec(
        [
            {"name": "cls", "type": "parameter", "shape": [2, 1, 8]},
            {"name": "batch_cls", "type": "expand", "from": ["cls", "tokens"]},
        ]
    )
    assert_located(text, "E409")


CHECKED = """\
archspec: 1
name: checked
input: [N, 3, 8, 8]
layers:
  - {name: check, type: check_size, size: [8, 8]}
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 4, stride: 4}
"""


def test_check_size_makes_the_domain_exact_and_refuses_others() -> None:
    result = archspec.check(CHECKED)
    assert result.ok
    assert "H = 8 and W = 8" in result.domain.describe()
    bad = archspec.check(CHECKED, input=(1, 3, 9, 8))
    (err,) = bad.errors
    assert err.code == "E413" and err.span is not None and err.span.line == 5
    assert "check" in err.message
    model = archspec.compile(CHECKED).eval()
    with pytest.raises(Exception, match="spatial size"):
        model(torch.randn(1, 3, 9, 8))
    assert "check_size(x, [8, 8])" in archspec.emit(CHECKED)
    same_as_emitted(CHECKED, torch.randn(2, 3, 8, 8))
    with pytest.raises(Exception, match="spatial size"):
        emitted(CHECKED)(torch.randn(1, 3, 8, 9))
