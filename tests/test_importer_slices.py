"""A constant slice of one dim in a forward (GhostNet's `out[:, :self.oup]`, ReXNet's partial
residual, DPN's two channel slices, `torch.narrow`) imports as a `split` whose piece is the
slice, sized from the traced shapes (a slice of several dims, a split per dim:
tests/test_importer_gaps.py); a step is a `slice` too; a tensor index is refused (E903) at its
statement."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class Ghost(nn.Module):
    """GhostNet's module: two convs concatenated, cut back to `oup` channels."""

    def __init__(self, inp: int, oup: int) -> None:
        super().__init__()
        self.oup = oup
        init = (oup + 1) // 2
        self.primary = nn.Conv2d(inp, init, 1, bias=False)
        self.cheap = nn.Conv2d(init, init, 3, padding=1, groups=init, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.primary(x)
        out = torch.cat([x1, self.cheap(x1)], dim=1)
        return out[:, : self.oup, :, :]


class GhostNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = Ghost(3, 15), Ghost(15, 16), Ghost(16, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.b(self.a(x)))


def test_a_ghost_module_slice_imports_as_a_split() -> None:
    """Sizes that leave a remainder (15 of 16) and that keep the whole dim (16 of 16) in
    instances of one class: the split is there only where it cuts."""
    text = roundtrip(GhostNet(), (2, 3, 8, 8))
    assert "type: split" in text and "[15, 1]" in text and "[7, 1]" in text


class PartialResidual(nn.Module):
    """ReXNet's `out[:, 0:c] += x`, written without the in-place add."""

    def __init__(self, c: int, out: int) -> None:
        super().__init__()
        self.c = c
        self.conv = nn.Conv2d(c, out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return torch.cat([out[:, 0 : self.c] + x, out[:, self.c :]], 1)


def test_a_partial_residual_imports() -> None:
    text = roundtrip(nn.Sequential(PartialResidual(4, 6), PartialResidual(6, 9)), (2, 4, 8, 8))
    assert text.count("type: split") >= 2


class DualPath(nn.Module):
    """DPN's split of the channels into a residual and a dense part."""

    def __init__(self) -> None:
        super().__init__()
        self.num_1x1_c = 5
        self.conv = nn.Conv2d(3, 8, 1)
        self.res = nn.Conv2d(5, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x_s1 = x[:, : self.num_1x1_c, :, :]
        x_s2 = x[:, self.num_1x1_c :, :, :]
        return torch.cat([self.res(x_s1), x_s2], 1)


def test_two_slices_of_the_channels_import() -> None:
    text = roundtrip(DualPath(), (2, 3, 8, 8))
    assert "split_size: [5, 3]" in text


class Narrowed(nn.Module):
    def __init__(self, negative: bool) -> None:
        super().__init__()
        self.negative = negative
        self.conv = nn.Conv2d(3, 10, 1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.negative:
            return self.head(x[..., -7:-3, :, :])  # channels 3..6 of 10, from the end
        return self.head(torch.narrow(x, 1, 3, 4))


@pytest.mark.parametrize("negative", [False, True])
def test_narrow_and_a_negative_bound_import(negative: bool) -> None:
    text = roundtrip(Narrowed(negative), (2, 3, 8, 8))
    assert "split_size: [3, 4, 3]" in text


class Refused(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.how == "tensor":
            return x[:, x.argmax(1)]  # refused: tensor index
        return x[:, :, : x.shape[2] // 2]  # refused: size


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("tensor", "with a tensor"),
        ("size", "from a size"),
    ],
)
def test_other_indexing_is_refused_at_its_statement(how: str, says: str) -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Refused(how).eval(), torch.rand(1, 3, 8, 8))
    (diag,) = [d for d in info.value.diagnostics if "x[...]" in d.message]
    assert diag.code == "E903" and says in diag.message
    assert diag.span is not None and diag.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        line = fh.read().splitlines()[diag.span.line - 1]
    assert f"# refused: {says.split()[-1]}" in line
    assert "split" in (diag.hint or "")


class HalfChannels(nn.Module):
    """Half a conv's channels, the bound read off the shape: `x[:, : x.shape[1] // 2]`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x[:, : x.shape[1] // 2] * x[:, x.shape[1] // 2 :]


def test_a_bound_worked_out_from_sizes_no_input_changes_is_that_number() -> None:
    """It was E903 ("slices with a bound worked out from a size of a tensor"), as one
    worked out from H is: the channels are 8 for every input, so the bound is 4."""
    text = roundtrip(HalfChannels(), (2, 3, 5, 7))
    assert "split_size: [4, 4]" in text


class OptionA(nn.Module):
    """The CIFAR ResNet's option-A shortcut (akamaster's resnet20, written with a lambda):
    `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))` beside a stride-2 conv; and odd channels."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.shortcut = lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, c // 2, c // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x) + self.shortcut(x))[:, 1::2]


def test_a_slice_with_a_step_imports_for_any_size() -> None:
    """It was E903 'a tensor index `x[...]` slices with a step'."""
    model = nn.Sequential(OptionA(4), OptionA(4))
    text = roundtrip(model, (2, 4, 8, 8))
    assert "- {name: getitem, type: slice, from: input, dim: 2, step: 2}" in text
    assert "type: slice, start: 1, step: 2}" in text  # channels too
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(1, 4, 11, 6)  # odd sizes: ceil(11 / 2) rows from both paths
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model.eval()(x))


class GatedBySize(nn.Module):
    """GhostNetV2's gate, resized to sizes read one by one from a tensor's shape: in order,
    `(x.shape[-2], x.shape[-1])`, or (not its spatial size) swapped."""

    def __init__(self, swapped: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.swapped = swapped

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        g = F.avg_pool2d(x, 2)
        if self.swapped:
            return x * F.interpolate(g, size=(x.shape[-1], x.shape[-2]))  # refused: sizes
        return x * F.interpolate(g, size=(x.shape[-2], x.shape[-1]))


def test_an_interpolate_to_a_tensors_sizes_read_one_by_one_is_interpolate_as() -> None:
    """GhostNetV2's DFC attention: `(out.shape[-2], out.shape[-1])` is `out.shape[-2:]`, an
    `interpolate_as` reading the gate and `out` (it was E903), exact on a map of any size."""
    model = GatedBySize().eval()
    text = archspec.from_module(model, torch.rand(1, 3, 8, 6))
    assert "type: interpolate_as" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.rand(2, 3, 8, 6)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))


def test_an_interpolate_to_sizes_read_out_of_order_is_refused_at_its_statement() -> None:
    """The size tuple of fx nodes was written into the spec, which YAML then could not
    represent (E904 at yaml/representer.py); it is E903 at the statement."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(GatedBySize(swapped=True).eval(), torch.rand(1, 3, 8, 6))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "interpolate" in diag.message
    assert diag.span is not None and diag.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        assert "# refused: sizes" in fh.read().splitlines()[diag.span.line - 1]
