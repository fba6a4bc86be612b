"""archspec import of models as users write them: a dense block whose first layer reads
`torch.cat(features, 1)` of one tensor, a stack of one tensor, and `nn.Softmax()` without
a dim; and the refusals such users meet, said for what they wrote: entries of dicts in a
list, two dicts walked together, a model of token ids given a float input, a model that is
one layer written from its tensors, a batch norm written so, a reshape after a refused step."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.emit_helpers import matches_compile
from tests.test_importer import roundtrip


class DenseBlock(nn.Module):
    """Each layer reads the concatenation of every map so far, the first one of `[x]` alone."""

    def __init__(self, cin: int = 4, growth: int = 2, n: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm2d(cin + i * growth),
                nn.ReLU(),
                nn.Conv2d(cin + i * growth, growth, 3, padding=1),
            )
            for i in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class StackOfOne(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.stack((self.conv(torch.cat((x,), dim=1)),), dim=2))


def test_a_concat_of_one_tensor_is_that_tensor() -> None:
    """It was a concat node of one input: "the imported spec does not compile"."""
    text = roundtrip(DenseBlock(), (2, 4, 5, 5))
    assert text.count("type: concat") == 3  # the second and third layers' inputs, the output
    matches_compile(text, (2, 4, 5, 5))


def test_a_stack_of_one_tensor_is_its_unsqueeze() -> None:
    text = roundtrip(StackOfOne(), (2, 3, 4, 4))
    assert "type: stack" not in text and "type: concat" not in text
    assert "type: unsqueeze, dim: 2}" in text
    matches_compile(text, (2, 3, 4, 4))


class ImplicitDim(nn.Module):
    """`nn.Softmax()` as old tutorials write it: torch picks the dim from the input's rank."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.softmax = nn.Softmax()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.fc(x))


def test_a_module_built_with_a_value_no_spec_states_is_refused_at_its_call() -> None:
    """Its reading was `dim: null`: "the imported spec does not compile", please report it."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(ImplicitDim(), torch.zeros(2, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and diag.span is not None
    assert diag.span.line == inspect.getsourcelines(ImplicitDim.forward)[1] + 1
    assert "the kind `softmax` takes no dim=None: build the module with a dim" in diag.message
    model = ImplicitDim()
    model.softmax = nn.Softmax(dim=1)
    assert "{name: softmax, type: softmax}" in roundtrip(model, (2, 8))  # dim 1: the default


class DictsInAList(nn.Module):
    """A transformer written without a block class: a list of dicts walked in a loop."""

    def __init__(self, dim: int = 8, depth: int = 2) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"norm": nn.LayerNorm(dim), "mlp": nn.Linear(dim, dim)})
            for _ in range(depth)
        )
        self.heads = nn.ModuleDict({"out": nn.ModuleList([nn.Linear(dim, 2)])})
        self.tail = nn.Sequential(nn.ModuleList([nn.Linear(2, 2)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = x + blk["mlp"](blk["norm"](x))
        return self.tail[0][0](self.heads["out"][0](x))


def test_an_entry_of_a_container_inside_a_child_is_refused_as_such() -> None:
    """It was "reaches `self.blocks.0.norm` inside its child", with quantization's hint; the
    entries of the list of dicts and of the dict of lists are now stated one by one
    (`key: blocks.0.norm`, tests/test_nested_keys.py), and only the list inside an
    nn.Sequential, which no key states, is refused."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(DictsInAList(), torch.zeros(2, 3, 8))
    [diag] = info.value.diagnostics
    assert diag.code == "E904"
    assert "calls `self.tail[0][0]`, an entry of the ModuleList" in diag.message
    assert "a class of its own" in diag.hint and "quantiz" not in diag.hint
    model = DictsInAList()
    model.tail = nn.ModuleList([nn.ModuleList([nn.Linear(2, 2)])])  # a list in a list: keyed
    text = roundtrip(model, (2, 3, 8))
    assert "{key: blocks.1.norm, type: layer_norm}" in text and "key: heads.out.0" in text
    assert "{key: tail.0.0, type: linear" in text


class TwoDicts(nn.Module):
    """Two ModuleDicts whose entries the forward calls by key, in turn."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleDict({"stem": nn.Conv2d(3, 4, 1), "body": nn.Conv2d(4, 4, 1)})
        self.acts = nn.ModuleDict({"first": nn.ReLU(), "second": nn.Tanh()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.acts["first"](self.convs["stem"](x))
        return self.acts["second"](self.convs["body"](x))


def test_a_dict_walked_beside_another_round_trips_entry_by_entry() -> None:
    """It was E904 'walks `self.convs` and `self.acts` together': a dict's entries were
    never stated one by one; they are keyed as a list's are (`key: convs.stem`)."""
    text = roundtrip(TwoDicts(), (2, 3, 4, 4))
    assert "- {key: convs.stem, type: conv2d, out_channels: 4, kernel_size: 1}" in text
    assert "- {key: acts.second, type: tanh}" in text


class DroppedDict(nn.Module):
    """A dict walked in turn with a dropout call between its items."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({"a": nn.Linear(4, 4), "b": nn.Linear(4, 4)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers.values():
            x = F.dropout(layer(x), 0.1, self.training)
        return x


def test_a_dict_walked_with_steps_between_is_refused_with_a_hint_for_dicts() -> None:
    """Its hint spoke of an nn.ModuleList's entries, `key: blocks.0`, which no dict has, and
    then told to hold the items in an nn.ModuleList, which is refused the same way."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(DroppedDict(), torch.zeros(2, 4))
    first = info.value.diagnostics[0]
    assert first.code == "E904"
    assert "calls the items of `self.layers` with other steps between them" in first.message
    assert first.hint.startswith("a spec reads an nn.ModuleDict walked in turn")
    assert "key: heads.age" in first.hint and "key: blocks.0" not in first.hint
    assert "nn.ModuleList" not in first.hint


class BagOfWords(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(ids).mean(1))


def test_a_model_of_token_ids_given_a_float_input_says_no_input_would_do() -> None:
    """`archspec import` gives a float input: the hint said to give another `--input`."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(BagOfWords(), torch.zeros(2, 5))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and "refuses the example input (2, 5)" in diag.message
    assert "looks token ids up (its Embedding `embed`) takes integers" in diag.hint


class ScratchLinear(nn.Module):
    """A linear layer written from its tensors, imported on its own."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(5, 8))
        self.bias = nn.Parameter(torch.zeros(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


def test_a_model_that_is_one_layer_on_its_own_tensors_is_refused_as_one_layer() -> None:
    """It was E903 "no layer kind computes F.linear", whose hint said such a module imports."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(ScratchLinear(), torch.zeros(2, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904"
    assert "the model is one layer (ScratchLinear, a linear on its own tensors)" in diag.message
    assert "nn.Sequential(layer)" in diag.hint
    assert "- {type: linear, out_features: 5}" in roundtrip(nn.Sequential(ScratchLinear()), (2, 8))


class ScratchBatchNorm(nn.Module):
    """A batch norm written from its tensors, without the count of batches torch's keeps."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, self.training
        )


def test_the_hint_of_a_batch_norm_from_scratch_does_not_promise_it_imports() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(nn.Sequential(ScratchBatchNorm()), torch.zeros(2, 4, 3, 3))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "computes `torch.nn.functional.batch_norm`" in diag.message
    assert "F.batch_norm in a subclass of a torch batch norm" in diag.hint


class ScaleFromSize(nn.Module):
    """Attention whose scale is computed in forward from a size read off the input."""

    def __init__(self, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * (N // self.heads) ** -0.5
        return (attn.softmax(-1) @ v).transpose(1, 2).reshape(B, N, C)


def test_a_reshape_after_a_refused_step_is_not_reported_again() -> None:
    """The reshape of the refused scale's product was E903 too ("takes sizes read from tensor
    shapes that no spec step states"), which it states once the scale is fixed. The scale
    reads the input's N, the tokens' count, which follows the input (a scale by C, the
    width, which a run on more tokens proves a number, imports:
    tests/test_import_round40_tokens.py), so its product is refused."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(ScaleFromSize(), torch.zeros(2, 5, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "the operator `mul` reads `pow_1`" in diag.message
