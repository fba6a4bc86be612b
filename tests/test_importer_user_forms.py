"""archspec import of forms a user writes from tutorials: sizes multiplied into a flatten
(the PyTorch tutorial's `num_flat_features`), `len(x)` for the batch, and layers whose weight
a parametrization or torch's old weight-norm hook computes (refused with what to do)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class TutorialNet(nn.Module):
    """The PyTorch 60-minute tutorial's LeNet: the flat size multiplied in a loop."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = x.view(-1, self.num_flat_features(x))
        return self.fc(x)

    def num_flat_features(self, x: torch.Tensor) -> int:
        size = x.size()[1:]
        num_features = 1
        for s in size:
            num_features *= s
        return num_features


class ProductView(TutorialNet):
    """The flat size written out, its factors grouped otherwise, the batch a -1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(x.view(-1, x.size(1) * (x.shape[2] * x.size(-1))))


class TokensJoined(nn.Module):
    """(N, C, H, W) to (N, C, H * W), the product of the two last sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y.view(-1, y.shape[1], y.shape[2] * y.shape[3]).softmax(-1)


def test_sizes_multiplied_into_one_are_a_flatten_of_those_dims() -> None:
    text = roundtrip(TutorialNet(), (2, 1, 8, 8))
    assert "type: flatten, end_dim: 3" in text
    assert "reads a rank, 4 for the example input: `for s in size:`" in text  # the loop's length
    assert archspec.check(text, input=(5, 1, 8, 8)).ok  # any batch, as the model's -1
    assert "type: flatten, end_dim: 3" in roundtrip(ProductView(), (2, 1, 8, 8))
    text = roundtrip(TokensJoined(), (2, 3, 5, 7))
    assert "type: flatten, start_dim: 2, end_dim: 3" in text
    assert archspec.check(text, input=(1, 3, 9, 4)).ok


class TwoProducts(nn.Module):
    """Two joins in one view: a flatten each (importer/regroup.py; it was refused)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0) * x.size(1), x.size(2) * x.size(3))


def test_two_joins_in_one_view_are_two_flattens() -> None:
    text = roundtrip(TwoProducts(), (2, 3, 4, 5))
    assert "{name: flatten, type: flatten, start_dim: 0, end_dim: 1}" in text
    assert "{name: flatten_1, type: flatten, end_dim: 2}" in text
    assert archspec.check(text, input=(1, 3, 9, 4)).ok


class OutOfOrder(nn.Module):
    """Sizes multiplied but not the dims in their place: a transpose's sizes, refused."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1, x.size(3) * x.size(1), x.size(2))


@pytest.mark.parametrize("model", [OutOfOrder()])
def test_other_products_of_sizes_stay_refused(model: nn.Module) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(2, 3, 4, 5))
    assert err.value.diagnostics[0].code == "E903"
    assert "`.view()` takes sizes read from tensor shapes" in err.value.diagnostics[0].message


class LenView(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(len(x), -1))


def test_len_of_a_tensor_is_refused_with_the_size_to_write() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(LenView(), torch.randn(2, 3, 4))
    diag = err.value.diagnostics[0]
    assert diag.code == "E902" and diag.span is not None and diag.span.file == __file__
    assert "`x.size(0)`" in (diag.hint or "")


class Embed(nn.Module):
    """Twins' patch embedding: the tokens and the map's size, as a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 2, stride=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(x)
        size = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), size


class Unpacks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = Embed()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        x, size = self.embed(x)
        return x.reshape(b, *size, -1)  # the size a child returned, unpacked


def test_unpacking_a_value_computed_in_forward_is_named_so() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(Unpacks(), torch.randn(1, 3, 8, 8))
    diag = err.value.diagnostics[0]
    assert diag.code == "E902" and diag.span is not None and diag.span.file == __file__
    # since session 41 it names the child whose result is iterated (tests/test_h41c_several)
    assert "it iterates a value computed in forward, what `self.embed` returns" in diag.message
    assert "Proxy" not in diag.message and "after reading a size" not in diag.message
    assert "not a tensor, a shape or a tuple a child returns" in (diag.hint or "")


class WeightNormed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(3, 4, 3))
        self.fc = nn.utils.parametrizations.spectral_norm(nn.Linear(4, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(-1))


def test_a_parametrized_layer_is_refused_as_such_with_what_to_do() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(WeightNormed(), torch.randn(2, 3, 8))
    conv, fc = err.value.diagnostics
    assert conv.code == fc.code == "E904"
    assert "`conv` (torch.nn.utils.parametrize.ParametrizedConv1d) is parametrized" in conv.message
    assert "`weight` by _SpectralNorm" in fc.message
    assert conv.span is not None and conv.span.file == __file__  # the forward's statement
    assert "plain layer of the same settings" in (conv.hint or "")


def test_a_layer_whose_tensors_were_registered_again_says_so() -> None:
    """What removing a parametrization leaves: the weight registered after the bias."""
    model = WeightNormed()
    for layer in (model.conv, model.fc):
        nn.utils.parametrize.remove_parametrizations(layer, "weight")
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(2, 3, 8))
    assert "its tensors in another order than the model's (bias, weight" in str(err.value)


def test_the_old_weight_norm_hook_is_named_with_the_call_that_folds_it() -> None:
    model = nn.Sequential(nn.Conv1d(3, 4, 3))
    with pytest.warns(FutureWarning):
        nn.utils.weight_norm(model[0])
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(2, 3, 8))
    diag = err.value.diagnostics[0]
    assert "has a forward pre-hook (torch.nn.utils.weight_norm.WeightNorm)" in diag.message
    assert "`torch.nn.utils.remove_weight_norm(module)`" in (diag.hint or "")


class OwnNorm(nn.Module):
    """A norm's tensors named `w` and `b`: no LayerNorm's keys, so no `layer_norm`."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(8))
        self.b = nn.Parameter(torch.zeros(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (8,), self.w, self.b, 1e-5)


def test_a_functional_layer_on_own_tensors_of_other_names_hints_the_names() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(nn.Sequential(nn.Linear(8, 8), OwnNorm()), torch.randn(2, 8))
    diag = err.value.diagnostics[0]
    assert diag.code == "E903" and "torch.nn.functional.layer_norm" in diag.message
    assert "its tensors named as the layer's (`weight`, `bias`)" in (diag.hint or "")


class Chosen(nn.Module):
    """`__init__` picks one of its class's methods as the instance's forward (timm's
    FasterNet: `self.forward = self.forward_split_cat`)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.forward = self.first if how == "first" else self.last

    def first(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(x, [2, 6], dim=1)
        return torch.cat((self.conv(a), b), 1)

    def last(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(x, [2, 6], dim=1)
        return torch.cat((b, self.conv(a)), 1) * 0.5


class Chooser(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = Chosen("first"), Chosen("first"), Chosen("last")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.b(self.a(x)) + x)


def test_a_method_of_its_own_class_made_the_forward_is_traced_as_the_forward() -> None:
    text = roundtrip(Chooser(), (2, 8, 6, 6))
    assert text.count("type: Chosen") == 3  # one block, the two methods told apart by a flag
    model = Chooser()
    model.a.forward = lambda x: x * 2  # any other callable stays refused
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(2, 8, 6, 6))
    assert "`a` (tests.test_importer_user_forms.Chosen) has a forward of its own instance" in str(
        err.value
    )


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, rel: torch.Tensor | None = None, scale: float = 1.0):
        y = self.fc(x)
        if rel is not None:
            y = y + rel
        return x + y * scale


class ListGivenDefaults(nn.Module):
    """timm's relative-position ViT: `for blk in self.blocks: x = blk(x, shared_rel_pos=None)`."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.blocks = nn.ModuleList([Block() for _ in range(3)])

    def forward(self, x: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        if self.how == "entries":  # item 0 called twice: entry by entry
            x = self.blocks[0](x, None, 1.0)
            x = self.blocks[1](x, rel=None)
            x = self.blocks[0](x, scale=1.0)
            return self.blocks[2](x)
        for blk in self.blocks:
            x = blk(x, rel=rel, scale=1.0 if self.how == "walked" else 2.0)
        return x


def test_list_items_given_their_own_defaults_are_one_tensor_calls() -> None:
    """They were E904 'calls item `0` of `self.blocks` with other than one tensor'."""
    assert "type: repeat" in roundtrip(ListGivenDefaults("walked"), (2, 5, 8))
    assert "type: reuse, node: blocks.0}" in roundtrip(ListGivenDefaults("entries"), (2, 5, 8))
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(ListGivenDefaults("scaled"), torch.randn(2, 5, 8))
    diag = err.value.diagnostics[0]
    assert "item `0` of `self.blocks` with scale=2.0 (its default: 1.0)" in diag.message


class Unpacked(nn.Module):
    """A shape's slice unpacked into a reshape, `*x.shape[:2]` (torch.fx asked its `len`)."""

    def __init__(self, front: bool) -> None:
        super().__init__()
        self.front = front
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = y.view(*y.shape[:2], -1) if self.front else y.reshape(*y.shape[:-2], -1)
        return z.softmax(-1)


@pytest.mark.parametrize("front", [True, False])
def test_a_shape_slice_unpacked_into_a_reshape_keeps_those_dims(front: bool) -> None:
    text = roundtrip(Unpacked(front), (2, 3, 5, 6))
    assert "type: reshape, shape: [0, 0, -1]" in text
    assert archspec.check(text, input=(1, 3, 7, 4)).ok
