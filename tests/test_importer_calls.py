"""archspec import of torch modules called in a forward: nn.MultiheadAttention called as
most code calls it (`y, _ = self.attn(y, y, y)`) imports; other calls of it, and a torch
module no kind reads (an LSTM), are refused once, at the statement of the model that calls
it, saying why (not at torch's own source, not as a call "with other than one tensor",
not followed by errors about the tuple it returns)."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class Attention(nn.Module):
    def __init__(self, how: str = "self", batch_first: bool = True) -> None:
        super().__init__()
        self.how = how
        self.norm = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)
        self.rnn = nn.LSTM(8, 8, batch_first=True) if how == "lstm" else None
        if how == "mask":
            self.register_buffer("mask", torch.zeros(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x)
        if self.how == "cross":
            y, _ = self.attn(y, x, x)  # the statement
        elif self.how == "mask":
            y, _ = self.attn(y, y, y, attn_mask=self.mask)  # the statement
        elif self.how == "weights":
            y, w = self.attn(y, y, y)  # the statement
            y = y * w  # (N, L, L) weights; L == D here
        elif self.how == "lstm":
            y, (h, _) = self.rnn(y)  # the statement
            y = y + h.transpose(0, 1)  # its final state read: no kind gives it
        else:
            y, _ = self.attn(y, y, y)  # the statement
        return x + y


def test_self_attention_called_with_its_default_need_weights_round_trips() -> None:
    text = roundtrip(Attention(), (2, 5, 8))
    # the default call computes on torch's need_weights=True path (h42c): stated so
    assert "{name: attn, type: multihead_attention, num_heads: 2, need_weights: true}" in text
    # once refused: cross-attention, and a module sequence first (tests/test_seq_first.py)
    text = roundtrip(Attention("cross"), (2, 5, 8))
    assert (
        "{name: attn, type: multihead_attention, from: [norm, input], num_heads: 2, "
        "need_weights: true}" in text
    )
    text = roundtrip(Attention("self", batch_first=False), (5, 2, 8))
    assert "num_heads: 2, batch_first: false, need_weights: true}" in text


@pytest.mark.parametrize(
    ("how", "batch_first", "says"),
    [
        ("mask", True, "calls `self.attn` with `attn_mask="),
        ("weights", True, "reads its attention weights"),
        ("lstm", True, "calls `self.rnn` and reads its final state"),
    ],
)
def test_other_calls_are_refused_once_at_the_statement(how, batch_first, says) -> None:
    model = Attention(how, batch_first).eval()
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.zeros(2, 8, 8))
    (diag,) = info.value.diagnostics
    assert says in diag.message and "(...)" not in diag.message.replace("(...))", "")
    lines, first = inspect.getsourcelines(Attention.forward)
    assert diag.span.file == __file__ and "# the statement" in lines[diag.span.line - first]


class SizeGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) if x.shape[-1] > 10 else x


def test_a_size_read_for_control_flow_is_named_as_the_source_writes_it() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(SizeGate(), torch.zeros(1, 3, 16, 16))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902" and "`.shape[-1]` at test_importer_calls.py:" in diag.message


class SquareGrid(nn.Module):
    """timm's NesT: `grid_size = int(math.sqrt(T))` of a token count."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = int(math.sqrt(x.shape[1]))
        return x.reshape(x.shape[0], side, side, -1)


def test_a_size_turned_into_a_number_names_torch_fx_proxy_not_ours() -> None:
    """It said `..., not 'RankProxy'`: the importer's tracer class, named nowhere else."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(SquareGrid(), torch.zeros(1, 16, 3))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902" and "not 'Proxy'" in diag.message
    assert "RankProxy" not in diag.message


class TwoLayersOwnTensors(nn.Module):
    """A functional-only model: two layers' tensors held by one module, F.linear on them."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(8, 4))
        self.w2 = nn.Parameter(torch.randn(2, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.gelu(F.linear(x, self.w1)), self.w2)


def test_a_functional_call_is_named_as_torch_nn_functional() -> None:
    """It said 'no layer kind computes `torch._C._nn.linear`', where F.linear was called."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(TwoLayersOwnTensors(), torch.zeros(1, 4))
    says = [d.message for d in info.value.diagnostics]
    assert any("`torch.nn.functional.linear`" in m for m in says)
    assert not any("torch._C" in m for m in says)


class DropsInTraining(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.training:
            x = self.drop(x)  # the statement
        return x


def test_a_dropout_only_training_calls_is_a_dropout_in_both_modes() -> None:
    """It was E902 ('returns another value in training mode'): nn.Dropout returns its input
    in eval, so calling it in both modes is the model in both (importer/modes.py)."""
    net = DropsInTraining()
    text = archspec.from_module(net, torch.zeros(1, 3, 4, 4))
    assert "{name: drop, type: dropout}" in text and "train_only" not in text
    twin = archspec.compile(text)
    twin.load_state_dict(net.state_dict())
    x = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(2))
    for mode in (True, False):
        net.train(mode), twin.train(mode)
        torch.manual_seed(11)
        want = net(x)
        torch.manual_seed(11)
        torch.testing.assert_close(twin(x), want)  # the same elements dropped in training
    assert not torch.equal(net.train()(x), net.eval()(x))  # training does drop


class ActsInTraining(DropsInTraining):
    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.training:
            x = self.act(x)  # the statement
        return x


def test_a_step_only_training_returns_is_one_eval_passes_on() -> None:
    """It was E902 ('returns another value in training mode'): eval returns the act's
    input, so the act is a `pass_in_eval` step, the model in both modes."""
    net = ActsInTraining()
    text = archspec.from_module(net, torch.zeros(1, 3, 4, 4))
    assert "{name: act, type: relu, pass_in_eval: true}" in text
    twin = archspec.compile(text)
    twin.load_state_dict(net.state_dict())
    x = torch.randn(2, 3, 5, 5)
    for mode in (True, False):
        net.train(mode), twin.train(mode)
        torch.testing.assert_close(twin(x), net(x), rtol=0, atol=0)
    assert not torch.equal(net.train()(x), net.eval()(x))


class ActsOnAnother(DropsInTraining):
    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.training:
            y = self.act(x)  # the statement
        return y


def test_a_step_only_training_returns_whose_input_eval_does_not_is_refused_at_it() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(ActsOnAnother(), torch.zeros(1, 3, 4, 4))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902" and "(`act`, a step eval does not take)" in diag.message
    lines, first = inspect.getsourcelines(ActsOnAnother.forward)
    assert "# the statement" in lines[diag.span.line - first]


class ListApart(nn.Module):
    """A dense list (every item's output kept) or parallel branches (ASPP: all read x)."""

    def __init__(self, parallel: bool) -> None:
        super().__init__()
        self.parallel = parallel
        self.layers = nn.ModuleList([nn.Conv2d(4, 4, 1) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for layer in self.layers:
            y = layer(x)
            outs.append(y)
            x = x if self.parallel else y
        return torch.cat(outs, 1)


def test_list_items_in_a_chain_or_apart_concatenated_import() -> None:
    # a chain whose every output is kept and concatenated (HGNet's, lists.py), and
    # parallel branches (ASPP's: all read x, fans.py): the list's sequential ends in the concat
    for parallel in (False, True):
        text = roundtrip(ListApart(parallel), (2, 4, 4, 4))
        assert "- {type: concat, from: ['0', '1']}" in text
    # what a list reads apart is said: tests/test_importer_timm25.py (GathersPart)


class Embed(nn.Module):
    """A child whose forward takes more than its input, with defaults (timm's PatchEmbed)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 4, 2, 2)

    def forward(self, x: torch.Tensor, mask=None, scale: float = 1.0) -> torch.Tensor:
        if mask is not None:
            x = x * mask
        return self.proj(x) * scale


class PassesDefaults(nn.Module):
    def __init__(self, given: str = "defaults") -> None:
        super().__init__()
        self.given = given
        self.embed = Embed()
        self.embed2 = Embed()

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        if self.given == "scale":
            return self.embed(x, scale=2.0)
        if self.given == "mask":
            return self.embed(x, mask=x) + self.embed2(x)
        return self.embed(x, mask=mask) + self.embed2(x, None, 1.0)


def test_a_child_given_its_own_defaults_besides_its_input_is_a_one_tensor_call() -> None:
    """`self.patch_embed(x, mask=None)` (timm's Hiera) was refused as `other than one
    tensor`, though the child is traced with exactly those defaults."""
    text = roundtrip(PassesDefaults(), (2, 3, 8, 8))
    assert "- {name: add, type: add, from: [embed, embed2]}" in text
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(PassesDefaults("scale"), torch.zeros(1, 3, 8, 8))
    (diag,) = info.value.diagnostics
    said = "calls `self.embed` with scale=2.0 (its default: 1.0) besides its tensor"
    assert diag.message.endswith(said)
    assert "any other argument at its default" in (diag.hint or "")
    # a tensor for `mask` is an input of the block, traced with it (test_import_tensor_defaults)
    text = roundtrip(PassesDefaults("mask"), (2, 3, 8, 8))
    assert "    inputs: [x, mask]\n" in text and "from: [input, input]" in text


class Flattened(nn.Module):
    """`b, c, h, w = y.shape; y.view(b, c, h * w)`, as non-local and attention blocks write
    it, and `y.view(y.size(0), y.size(1), -1)`; then a view by two sizes from elsewhere."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, c, h, w = y.shape
        if self.how == "hw":
            return y.view(b, c, h * w).mean(2)
        if self.how == "size":
            return y.view(y.size(0), y.size(1), -1).mean(-1)
        return y.view(b, w, -1)  # the statement: w is not dim 1 of y


@pytest.mark.parametrize("how", ["hw", "size"])
def test_a_view_keeping_dims_read_from_the_tensor_itself_is_a_reshape_with_0(how: str) -> None:
    """It was refused: each size read became a -1, and a reshape takes one."""
    text = roundtrip(Flattened(how), (2, 3, 6, 5))
    assert "type: reshape, shape: [0, 0, -1]}" in text
    twin = archspec.compile(text).eval()
    model = Flattened(how).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(3, 3, 7, 9)  # another size: the 0s keep what the model's view keeps
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x))


def test_a_view_by_a_size_of_another_position_stays_refused() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Flattened("other"), torch.zeros(1, 3, 6, 5))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "`.view()`" in diag.message


class Transposed(nn.Module):
    """Reads a tensor attribute no kind computes; fx records that node with no stack."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y.mT  # the statement


def test_a_tensor_attribute_no_kind_computes_is_refused_at_its_statement() -> None:
    """It was located at the class line, and named `builtins.getattr`."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Transposed(), torch.zeros(2, 4, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "the tensor attribute `.mT`" in diag.message
    lines, start = inspect.getsourcelines(Transposed.forward)
    (offset,) = [i for i, line in enumerate(lines) if "# the statement" in line]
    assert diag.span is not None and diag.span.line == start + offset
    assert lines[offset][diag.span.col - 1 :].startswith("mT")
