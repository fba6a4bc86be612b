"""A model whose forward takes a dict of tensors (`batch["image"]`, `batch["text"]`), given
its dict as the example input, was refused with no place and a hint to pass one tensor or a
tuple, which such a model cannot take. The refusal is at the model's class and says what
imports: a wrapper taking the tensors one by one and building the dict, as the test shows."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class TwoKeys(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.img = nn.Conv2d(3, 4, 3, padding=1)
        self.txt = nn.Linear(6, 4)
        self.head = nn.Linear(8, 2)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        a = self.img(batch["image"]).mean((2, 3))
        return self.head(torch.cat([a, self.txt(batch["text"])], 1))


class Wrapper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = TwoKeys()

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.model({"image": image, "text": text})


def test_a_dict_example_is_refused_at_the_model_with_the_wrapper_that_imports() -> None:
    image, text = torch.rand(2, 3, 8, 8), torch.rand(2, 6)
    with pytest.raises(ImportFailure) as caught:
        archspec.from_module(TwoKeys().eval(), {"image": image, "text": text})
    (diag,) = caught.value.diagnostics
    assert diag.code == "E901" and "a dict" in diag.message
    assert diag.span is not None and diag.span.file.endswith("test_h43e_dict_input.py")
    assert "def forward(self, image, text)" in diag.hint
    wrapper = Wrapper().eval()
    text_ = archspec.from_module(wrapper, (image, text))
    twin = archspec.compile(text_).eval()
    twin.load_state_dict(wrapper.state_dict())
    torch.testing.assert_close(twin(image, text), wrapper(image, text), rtol=0, atol=0)
