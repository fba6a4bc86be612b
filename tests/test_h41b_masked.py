"""`masked_fill` and `fill: tril`: the causal attention of minGPT and of nanoGPT without flash
attention, `att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))` over a buffer
`torch.tril(torch.ones(n, n)).view(1, 1, n, n)`. A spec had no kind that writes a value
where a mask holds and no fill that makes such a mask, so this attention was not
expressible; now the spec (tests/h41b/nanogpt_masked.yaml) is that network, compiled and
emitted: keys, counts, strict loads both ways, outputs to the bit."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from tests.newuser36.facts import state_dict_facts
from tests.newuser40 import references
from tests.newuser40.cases import example
from tests.parity.weights import fill_deterministic

HERE = Path(__file__).parent / "h41b"


class MaskedAttention(nn.Module):
    """nanoGPT's CausalSelfAttention on its path without flash attention (minGPT's)."""

    def __init__(self, n_embd: int = 32, n_head: int = 4, block_size: int = 16) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(0.0)
        self.resid_dropout = nn.Dropout(0.0)
        self.n_head, self.n_embd = n_head, n_embd
        mask = torch.tril(torch.ones(block_size, block_size))
        self.register_buffer("bias", mask.view(1, 1, block_size, block_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MaskedGPT(references.GPT):
    """nanoGPT without flash attention: the causal mask, the head tied to the embedding."""

    def __init__(self) -> None:
        super().__init__()
        for block in self.transformer.h:
            block.attn = MaskedAttention()
        self.transformer.wte.weight = self.lm_head.weight


def _reference() -> nn.Module:
    model = MaskedGPT().eval()
    state = fill_deterministic(
        model.state_dict(), keep=[k for k in model.state_dict() if k.endswith("attn.bias")]
    )
    state["transformer.wte.weight"] = state["lm_head.weight"]
    model.load_state_dict(state, strict=True)
    return model


def _outputs(model: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(example(shape, "int64"))


def test_nanogpt_without_flash_attention_is_a_spec() -> None:
    spec = str(HERE / "nanogpt_masked.yaml")
    assert archspec.check(spec).ok
    reference = _reference()
    namespace: dict[str, object] = {}
    exec(compile(archspec.emit(spec), "nanogpt_masked.py", "exec"), namespace)
    emitted = namespace["NanogptMasked"]()  # type: ignore[operator]
    fresh = archspec.compile(spec)
    for ours in (fresh, emitted):
        # the mask is built as nanoGPT builds it: the fresh network masks the future
        assert torch.equal(ours.transformer.h[1].attn.bias, reference.transformer.h[1].attn.bias)
        count = sum(p.numel() for p in ours.parameters())
        assert count == sum(p.numel() for p in reference.parameters()) == 41_984
        assert state_dict_facts(ours.state_dict()) == state_dict_facts(reference.state_dict())
        ours.load_state_dict(reference.state_dict(), strict=True)
        reference.load_state_dict(ours.state_dict(), strict=True)
        for shape in [(2, 11), (1, 16), (1, 1)]:
            assert torch.equal(_outputs(ours, shape), _outputs(reference, shape))
    assert "att = att.masked_fill(" not in archspec.emit(spec)  # the spec's own names
    assert 'masked_fill(mask == 0, float("-inf"))' in archspec.emit(spec)


CAUSAL = """\
archspec: 1
name: causal
input: [N, T, 8]
layers:
  - {name: q, type: linear, out_features: 8}
  - {name: k, type: linear, out_features: 8, from: input}
  - {name: att, type: matmul, transpose: true, from: [q, k]}
  - {name: bias, type: buffer, shape: [1, 6, 6], fill: tril, dtype: DTYPE}
  - {name: rows, type: slice_as, dim: 1, like_dim: 1, from: [bias, att]}
  - {name: mask, type: slice_as, dim: 2, like_dim: 2, from: [rows, att]}
  - {name: masked, type: masked_fill, value: VALUE, from: [att, mask]EXTRA}
"""


@pytest.mark.parametrize(
    ("dtype", "value", "extra", "equal_to", "fill"),
    [
        ("float32", "-inf", "", 0, float("-inf")),
        ("int64", "-1e9", "", 0, -1e9),
        ("float32", "2.5", ", equal_to: 1", 1, 2.5),
        ("int64", "inf", ", equal_to: 1", 1, float("inf")),
    ],
)
def test_masked_fill_writes_the_value_where_the_mask_equals(
    dtype: str, value: str, extra: str, equal_to: int, fill: float
) -> None:
    text = CAUSAL.replace("DTYPE", dtype).replace("VALUE", value).replace("EXTRA", extra)
    report = archspec.check(text)
    assert report.ok and "with 1 <= T <= 6" in report.domain_text
    model = archspec.compile(text).eval()
    mask = torch.tril(torch.ones(6, 6, dtype=getattr(torch, dtype)))
    assert torch.equal(model.bias[0], mask)
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        att = model.q(x) @ model.k(x).transpose(-2, -1)
        expected = att.masked_fill(mask[:5, :5] == equal_to, fill)
        assert torch.equal(model(x), expected)
    namespace: dict[str, object] = {}
    exec(compile(archspec.emit(text), "causal.py", "exec"), namespace)
    emitted = namespace["Causal"]().eval()  # type: ignore[operator]
    emitted.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(emitted(x), expected)


@pytest.mark.parametrize(
    ("layer", "code", "words"),
    [
        # a mask that does not broadcast against the scores (5 against 8 features)
        ("{name: masked, type: masked_fill, value: -inf, from: [att, k]}", "E402", "masked_fill"),
        ("{name: masked, type: masked_fill, value: -infinity, from: [att, mask]}", "E302", "-inf"),
        ("{name: masked, type: masked_fill, from: [att, mask]}", "E203", "value"),
        ("{name: masked, type: masked_fill, value: 0, from: [att]}", "E305", "masked_fill"),
    ],
)  # fmt: skip
def test_a_masked_fill_that_cannot_run_is_an_error_at_its_line(
    layer: str, code: str, words: str
) -> None:
    lines = CAUSAL.replace("DTYPE", "float32").replace("[N, T, 8]", "[N, 5, 8]").splitlines()
    text = "\n".join([*lines[:-1], f"  - {layer}", ""])
    report = archspec.check(text)
    assert not report.ok
    diag = report.diagnostics[0]
    assert diag.code == code and words in f"{diag.message} {diag.hint}", diag
    assert diag.span is not None and diag.span.line == 11


def test_a_tril_buffer_needs_two_dims() -> None:
    text = CAUSAL.replace("[1, 6, 6], fill: tril", "[6], fill: tril").replace("DTYPE", "float32")
    diag = archspec.check(text.replace("VALUE", "0").replace("EXTRA", "")).diagnostics[0]
    assert diag.code == "E409" and "fill tril needs a shape of two dims" in diag.message


def test_the_import_of_nanogpt_without_flash_attention_is_that_network() -> None:
    # `self.bias[:, :, :T, :T]` (two dims cut to a size) was E903 'slices with a bound worked
    # out from a size of a tensor', and `== 0` then `masked_fill` E903 'no layer kind computes
    # the operator eq'; the mask buffer, persistent, was imported without its values
    reference = _reference()
    text = archspec.from_module(reference, example((2, 7), "int64"))
    assert "{name: bias, type: buffer, shape: [1, 1, 16, 16], fill: tril}" in text
    assert "type: masked_fill, from: [mul, " in text and "value: -inf}" in text
    assert "accepts (N, L) int64 with 1 <= L <= 16" in archspec.check(text).domain_text
    fresh = archspec.compile(text)
    assert torch.equal(fresh.transformer.h[0].attn.bias, reference.transformer.h[0].attn.bias)
    assert state_dict_facts(fresh.state_dict()) == state_dict_facts(reference.state_dict())
    fresh.load_state_dict(reference.state_dict(), strict=True)
    for shape in [(2, 11), (1, 16), (1, 1)]:
        assert torch.equal(_outputs(fresh, shape), _outputs(reference, shape))


class ComparedTwice(nn.Module):
    """A comparison read as a mask and as a value: no spec node holds a boolean tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones(6, 6)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.bias == 0
        return x.masked_fill(hidden, float("-inf")) + hidden


class BoolMask(nn.Module):
    """A mask that is no comparison of the forward's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(x > 0, 0.0)


@pytest.mark.parametrize("model", [ComparedTwice(), BoolMask()], ids=["twice", "greater"])
def test_a_mask_no_masked_fill_node_states_is_refused(model: nn.Module) -> None:
    from archspec.errors import ImportFailure

    with pytest.raises(ImportFailure) as failure:
        archspec.from_module(model, torch.randn(2, 6, 6))
    assert {d.code for d in failure.value.diagnostics} == {"E903"}


class NewGELU(nn.Module):
    """minGPT's GELU, written out in torch's arithmetic (`torch.pow(x, 3.0)`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))
        return 0.5 * x * (1.0 + torch.tanh(inner))


class GeluMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c_fc = nn.Linear(8, 32)
        self.act = NewGELU()
        self.c_proj = nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.act(self.c_fc(x)))


def test_mingpt_gelu_imports_its_cube_as_a_mul_of_three() -> None:
    # `torch.pow(x, 3.0)` was E903 'no layer kind computes `torch.pow` as called here'
    model = GeluMLP().eval()
    x = torch.randn(4, 5, 8)
    text = archspec.from_module(model, x)
    assert "type: mul, from: [input, input, input]}" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        big = torch.randn(3, 7, 8) * 30  # torch cubes as x * x * x, to the last bit
        assert torch.equal(twin(big), model(big))


class DictMLP(nn.Module):
    """minGPT's Block MLP: a ModuleDict called through a lambda, its `act` registered last."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.ModuleDict(
            dict(c_fc=nn.Linear(8, 32), c_proj=nn.Linear(32, 8), act=NewGELU(), drop=nn.Dropout())
        )
        m = self.mlp
        self.mlpf = lambda x: m.drop(m.c_proj(m.act(m.c_fc(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlpf(x)


def test_a_dict_walked_out_of_its_registered_order_says_so() -> None:
    # it said 'item act reads item c_proj's output through steps other than activations',
    # though `act` reads `c_fc`'s and `c_proj` had not run yet
    from archspec.errors import ImportFailure

    with pytest.raises(ImportFailure) as failure:
        archspec.from_module(DictMLP().eval(), torch.randn(2, 5, 8))
    (diag,) = failure.value.diagnostics
    assert diag.code == "E904"
    assert "calls item `act` of `self.mlp` before item `c_proj`, registered before it" in str(
        failure.value
    )


FILLED = """\
archspec: 1
name: filled
input: [N, T]
input_dtype: DTYPE
layers:
  - {name: zeros, type: full_like, from: input}
  - {name: value, type: full_like, value: VALUE, from: input}
  - {name: both, type: concat, dim: 1, from: [zeros, value]}
"""


@pytest.mark.parametrize(
    ("dtype", "value", "number"),
    [("float32", "2.5", 2.5), ("float32", "-inf", float("-inf")), ("int64", "3", 3)],
)
def test_full_like_is_torch_full_like_at_the_input_shape(
    dtype: str, value: str, number: float
) -> None:
    # a forward's `torch.zeros_like(x)` had no kind: no size read in forward made a tensor
    text = FILLED.replace("DTYPE", dtype).replace("VALUE", value)
    assert archspec.check(text).ok
    x = torch.ones(2, 5, dtype=getattr(torch, dtype))
    expected = torch.cat([torch.zeros_like(x), torch.full_like(x, number)], 1)
    namespace: dict[str, object] = {}
    exec(compile(archspec.emit(text), "filled.py", "exec"), namespace)
    for model in (archspec.compile(text), namespace["Filled"]()):  # type: ignore[operator]
        out = model(x)
        assert out.dtype == x.dtype and torch.equal(out, expected)


class Constants(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(x)
        return self.conv(x) + torch.zeros_like(x) + torch.full_like(x, 2.5) * ones


def test_zeros_like_ones_like_and_full_like_import_as_full_like() -> None:
    # each was E903 'no layer kind computes `torch.zeros_like` as called here'
    model = Constants().eval()
    text = archspec.from_module(model, torch.randn(2, 4, 8, 8))
    assert text.count("type: full_like") == 3 and "value: 2.5" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))


def test_a_size_the_doubled_run_cannot_tell_says_why() -> None:
    # at 11 tokens the run on 22 fails at the 16 positions, so the scale's head width is not
    # known for every input: it said only 'reads `truediv` ... as a tensor'
    from archspec.errors import ImportFailure

    with pytest.raises(ImportFailure) as failure:
        archspec.from_module(_reference(), example((2, 11), "int64"))
    diag = failure.value.diagnostics[0]
    assert "sizes doubled, (2, 22), where the model does not run: index out of range" in (
        diag.message
    )
    assert (diag.hint or "").startswith("give an example input half the largest")
