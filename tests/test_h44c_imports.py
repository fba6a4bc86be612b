"""Classic hand-written models that `archspec import` met in session 44's sweep
(tests/h44c/sweep.py) and refused or read wrong, each as its authors write it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.errors import ArchSpecError, ImportFailure


def _round_trips(model: nn.Module, text: str, *inputs: torch.Tensor) -> None:
    """The compiled and the emitted spec hold the model's state_dict (keys, shapes, order;
    loaded strictly) and compute its eval outputs."""
    namespace: dict[str, object] = {}
    exec(compile(archspec.emit(text), "<emitted>", "exec"), namespace)
    emitted = namespace[build_graph(text).class_name]()  # type: ignore[operator]
    for twin in (archspec.compile(text), emitted):
        assert [(k, v.shape) for k, v in twin.state_dict().items()] == [
            (k, v.shape) for k, v in model.state_dict().items()
        ]
        twin.load_state_dict(model.state_dict(), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(twin.eval()(*inputs), model.eval()(*inputs))


def _line_of(text: str) -> int:
    return next(i for i, ln in enumerate(Path(__file__).read_text().splitlines(), 1) if text in ln)


class VDSR(nn.Module):
    """twtygqyy/pytorch-vdsr: its first and last convs are `self.input` and `self.output`."""

    def __init__(self) -> None:
        super().__init__()
        self.residual_layer = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.ReLU(True))
        self.input = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.output = nn.Conv2d(8, 1, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.relu(self.input(x))
        out = self.residual_layer(out)
        out = self.output(out)
        return torch.add(out, residual)


def test_a_child_registered_as_input_is_refused_for_what_input_means_in_a_spec() -> None:
    """`self.input = nn.Conv2d(...)` registers in torch, but a spec reads its module's input
    as `input`: the refusal says so, not that torch would refuse it."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(VDSR(), torch.zeros(1, 1, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903"
    assert diag.span is not None and diag.span.line == _line_of("self.input = nn.Conv2d")
    assert "`input` is the name a spec reads" in diag.message
    assert "torch would refuse" not in diag.message
    assert "under another name" in (diag.hint or "")


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("input", "`input` is the name a spec reads"),
        ("super", "a name the code archspec writes uses itself"),
        ("forward", "an attribute of nn.Module"),
    ],
)
def test_a_key_no_spec_takes_says_why_truly(key: str, says: str) -> None:
    head = "archspec: 1\nname: keyed\ninput: [N, 8]\nlayers:\n"
    spec = head + f"  - {{key: {key}, type: linear, out_features: 8}}\n"
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(spec)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.line, diag.span.col) == ("E204", 5, 11)
    assert says in diag.message


class AnnotatedLayerNorm(nn.Module):
    """The Annotated Transformer's LayerNorm: a standard deviation, `x.std(-1, keepdim=True)`."""

    def __init__(self, features: int = 16, eps: float = 1e-6) -> None:
        super().__init__()
        self.a_2 = nn.Parameter(torch.rand(features) + 0.5)
        self.b_2 = nn.Parameter(torch.randn(features))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        std = x.std(-1, keepdim=True)
        return self.a_2 * (x - mean) / (std + self.eps) + self.b_2


class InstanceNormByHand(nn.Module):
    """A norm written with a biased variance (`unbiased=False`) and `torch.var`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        mean = x.mean((2, 3), keepdim=True)
        var = torch.var(x, (2, 3), unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-5) + x.std(dim=1, correction=0)[:, None]


def test_a_layer_norm_written_with_std_imports() -> None:
    model = AnnotatedLayerNorm()
    text = archspec.from_module(model, torch.zeros(1, 5, 16))
    assert "{name: std, type: std, from: input, dim: [-1], keepdim: true}" in text
    _round_trips(model, text, torch.randn(2, 7, 16))


def test_a_variance_of_either_correction_imports() -> None:
    model = InstanceNormByHand()
    text = archspec.from_module(model, torch.zeros(1, 3, 8, 8))
    assert "type: var, from: conv, dim: [2, 3], keepdim: true, correction: 0}" in text
    assert "type: std, from: conv, dim: [1], correction: 0}" in text
    _round_trips(model, text, torch.randn(2, 3, 9, 7))


class FunctionalNet(nn.Module):
    """A network in functional style: its own parameters given to F.conv2d and F.linear."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(8, 3, 3, 3))
        self.b1 = nn.Parameter(torch.zeros(8))
        self.w2 = nn.Parameter(torch.randn(10, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(x, self.w1, self.b1, padding=1))
        return F.linear(x.mean((2, 3)), self.w2)


def test_layers_run_on_a_modules_own_parameters_are_refused_for_that() -> None:
    """It was 'no layer kind computes torch.conv2d as called here', with the list of what
    imports: the call was the conv a spec states, on tensors that no layer of it holds."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(FunctionalNet(), torch.zeros(1, 3, 8, 8))
    conv, linear = info.value.diagnostics
    assert (conv.code, conv.span.line) == ("E903", _line_of("F.relu(F.conv2d(x, self.w1"))
    assert (linear.code, linear.span.line) == ("E903", _line_of("F.linear(x.mean((2, 3))"))
    assert "on the module's own tensors `w1`, `b1`" in conv.message
    assert "on the module's own tensor `w2`" in linear.message
    assert "w1, b1, w2" in conv.message
    assert "nn.Conv2d" in (conv.hint or "") and "nn.Linear" in (linear.hint or "")


class Sublayer(nn.Module):
    """The Annotated Transformer's SublayerConnection: given the sublayer as a function."""

    def __init__(self, size: int = 8) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(size)

    def forward(self, x: torch.Tensor, sublayer: Any) -> torch.Tensor:
        return x + sublayer(self.norm(x))


class EncoderLayer(nn.Module):
    def __init__(self, size: int = 8) -> None:
        super().__init__()
        self.attn = nn.Linear(size, size)
        self.sublayer = nn.ModuleList([Sublayer(size)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sublayer[0](x, lambda x: self.attn(x) * 2)


def test_a_child_given_a_function_is_refused_for_that_not_for_tensor_values() -> None:
    """It was E902 'argument of type: <class 'function'>', hinting at an `if` on a tensor."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(EncoderLayer(), torch.zeros(1, 5, 8))
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.line) == ("E902", _line_of("return self.sublayer[0](x, lambda"))
    assert "gives `self.sublayer.0` a function (`<lambda>`)" in diag.message
    assert "tensor values" not in (diag.hint or "")
    assert "the function's steps" in (diag.hint or "")


class FeedForwardLayer(nn.Module):
    def __init__(self, size: int = 8) -> None:
        super().__init__()
        self.feed_forward = nn.Linear(size, size)
        self.sublayer = nn.ModuleList([Sublayer(size)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sublayer[0](x, self.feed_forward)


def test_a_child_given_to_another_as_a_value_is_refused_at_the_call() -> None:
    """It was E903 at torch's `class Module:`, 'forward reads the tensor `self.feed_forward`,
    which is neither a parameter nor a buffer'."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(FeedForwardLayer(), torch.zeros(1, 5, 8))
    (diag,) = info.value.diagnostics
    assert diag.span.file == __file__
    assert (diag.code, diag.span.line) == ("E904", _line_of("return self.sublayer[0](x, self.feed"))
    assert "gives the child `self.feed_forward` itself" in diag.message
    assert "self.feed_forward(" in (diag.hint or "")


class MaskedConv2d(nn.Conv2d):
    """PixelCNN's masked convolution as usually written: the weight masked in forward."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("mask", torch.ones_like(self.weight))
        self.mask[:, :, self.kernel_size[0] // 2 + 1 :] = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.weight.data *= self.mask
        return super().forward(x)


def test_a_weight_masked_in_place_through_data_is_refused_as_a_change_of_state() -> None:
    """It was E903 'no layer kind computes the tensor attribute `.data`', then E903 for the
    conv it computes: the step changes the model's weight, which no spec does."""
    model = nn.Sequential(MaskedConv2d(1, 4, 3, padding=1), nn.ReLU())
    before = model[0].weight.detach().clone()
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.zeros(1, 1, 6, 6))
    diag, conv = info.value.diagnostics  # the conv on a module holding a mask besides
    assert (conv.code, conv.span.line) == ("E903", _line_of("return super().forward(x)"))
    assert "holds weight, bias, mask" in conv.message
    assert (diag.code, diag.span.line) == ("E904", _line_of("self.weight.data *= self.mask"))
    assert "changes the tensor `self.weight` in place (through `.data`" in diag.message
    assert "outside forward" in (diag.hint or "")
    assert torch.equal(model[0].weight, before)


class CellSteps(nn.Module):
    """pytorch/examples' time sequence prediction: a zero state of the batch's size."""

    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(1, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_t = torch.zeros(x.size(0), 8, dtype=x.dtype)
        c_t = torch.zeros(x.size(0), 8, dtype=x.dtype)
        h_t, c_t = self.cell(x, (h_t, c_t))
        return h_t


def test_a_tensor_made_of_a_size_read_in_forward_is_said_so() -> None:
    """It was E902 "zeros() takes 1 positional argument but 2 were given", torch's words for
    a traced size given to a factory, hinting at a 'same' padding alone."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(CellSteps(), torch.zeros(2, 1))
    (diag,) = info.value.diagnostics
    line = _line_of("h_t = torch.zeros(x.size(0), 8")
    assert (diag.code, diag.span.line) == ("E902", line)
    assert "`torch.zeros` makes a tensor of a size read in forward" in diag.message
    assert "'same' padding" not in (diag.hint or "")
    assert "zeros_like" in (diag.hint or "") and "nn.LSTM" in (diag.hint or "")


class BahdanauAttention(nn.Module):
    """bentrevett's seq2seq attention: the decoder state repeated over the source length."""

    def __init__(self, enc: int = 8, dec: int = 6) -> None:
        super().__init__()
        self.attn = nn.Linear(enc + dec, dec)
        self.v = nn.Linear(dec, 1, bias=False)

    def forward(self, hidden: torch.Tensor, encoder_outputs: torch.Tensor) -> torch.Tensor:
        src_len = encoder_outputs.shape[1]
        hidden = hidden.unsqueeze(1).repeat(1, src_len, 1)
        energy = torch.tanh(self.attn(torch.cat((hidden, encoder_outputs), dim=2)))
        return F.softmax(self.v(energy).squeeze(2), dim=1)


def test_a_state_repeated_over_another_tensors_length_is_an_expand() -> None:
    """It was E903 'no layer kind computes the tensor method .repeat()': repeating a dim
    that an unsqueeze made of size 1 is viewing it over that length, the values alike."""
    model = BahdanauAttention()
    text = archspec.from_module(model, (torch.zeros(1, 6), torch.zeros(1, 5, 8)))
    assert "type: expand, from: [unsqueeze, encoder_outputs], dim: 1}" in text
    _round_trips(model, text, torch.randn(3, 6), torch.randn(3, 9, 8))
