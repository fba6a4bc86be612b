"""A Python `assert` on sizes in a forward reads as the `torch._assert` it amounts to. CRNN
asserts its feature map's height before squeezing it (`assert h == 1, "the height of conv
must be 1"`), many ViTs their image size (`assert h == self.size and w == self.size`): each
was E902 ("symbolically traced variables cannot be used as inputs to control flow"), with a
hint about 'same' paddings. Now the image size is a `check_size`, CRNN's height the
`squeeze` that requires it, and an assertion of one spatial size of two, which no
`check_size` states, is one E903 at the assertion, where `torch._assert(h == 6)` wrote a
spec that refused its own example input (E904, "report this").

PYTEST_DONT_REWRITE: the models' `assert` statements must stay Python's, as in a user's file.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


class CRNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 8, 3, 1, 1),
            nn.ReLU(True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 8, 3, 1, 1),
            nn.ReLU(True),
            nn.MaxPool2d((2, 2), (2, 1), (0, 1)),
            nn.Conv2d(8, 8, 2, 1, 0),
        )
        self.rnn = nn.LSTM(8, 6, bidirectional=True)
        self.embedding = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.cnn(x)
        _b, _c, h, _w = conv.size()
        assert h == 1, "the height of conv must be 1"
        conv = conv.squeeze(2).permute(2, 0, 1)
        recurrent, _ = self.rnn(conv)
        t, b, h = recurrent.size()
        out = self.embedding(recurrent.view(t * b, h))
        return out.view(t, b, -1)


class Sized(nn.Module):
    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        _b, _c, h, w = y.shape
        if self.form == "and":
            assert h == 6 and w == 6, "a 6x6 map"
        elif self.form == "two":
            assert h == 6
            assert w == 6, "a 6x6 map"
        elif self.form == "one":
            torch._assert(h == 6, "the height alone")
        elif self.form == "or":
            assert h == 6 or w == 6
        return y


def test_crnn_asserting_its_height_before_the_squeeze_imports() -> None:
    model = CRNN().eval()
    text = archspec.from_module(model, torch.zeros(1, 1, 8, 20))
    assert "{name: squeeze, type: squeeze, dim: 2}" in text and "check_size" not in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(3, 1, 8, 33)
    with torch.no_grad():
        assert torch.allclose(twin(x), model(x), atol=1e-6)
    assert not archspec.check(text, input=(1, 1, 16, 20)).ok  # the model's assert fails there


@pytest.mark.parametrize("form", ["and", "two"])
def test_an_assert_of_every_spatial_size_is_a_check_size(form: str) -> None:
    model = Sized(form).eval()
    text = archspec.from_module(model, torch.zeros(1, 3, 8, 8))
    assert "{name: check_size, type: check_size, size: [6, 6]}" in text
    assert archspec.check(text, input=(2, 3, 8, 8)).ok
    assert not archspec.check(text, input=(2, 3, 9, 8)).ok


def test_an_assert_of_one_size_of_two_is_refused_at_the_assertion() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(Sized("one").eval(), torch.zeros(1, 3, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "dim 2 alone" in diag.message
    assert diag.span.line == Sized.forward.__code__.co_firstlineno + 9


def test_an_assert_of_either_size_stays_refused() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(Sized("or").eval(), torch.zeros(1, 3, 8, 8))
    assert info.value.diagnostics[0].code == "E902"


def test_an_example_input_the_model_refuses_is_named_where_its_sizes_are_needed() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(CRNN().eval(), torch.zeros(1, 1, 32, 20))
    text = str(info.value)
    assert "does not run on (1, 1, 32, 20): the height of conv must be 1" in text


class Tagger(nn.Module):
    """A sequence-first tagger: the LSTM's (T, N, 2H) output run through a Linear as
    (T * N, 2H) rows, then folded back to (T, N, classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(4, 6, bidirectional=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, _ = self.rnn(x)
        t, b, h = r.size()
        y = self.fc(r.view(t * b, h))
        return y.view(t, b, -1)


def test_rows_fold_back_when_the_example_batch_is_one() -> None:
    # with a batch of 1, the sizes (5, 1, 3) paired 1 with 3, not with 5: E903 at the view
    model = Tagger().eval()
    text = archspec.from_module(model, torch.zeros(5, 1, 4))
    assert "type: unflatten_as, from: [fc, rnn], dim: 0, dims: [0, 1]" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(7, 3, 4)
    with torch.no_grad():
        assert torch.allclose(twin(x), model(x), atol=1e-6)
