"""A cast to a dtype written out in a forward (Whisper's attention, `(q @ k).float().softmax(
dim=-1).to(q.dtype)`, kept in float32 under half precision) is refused saying so: it was
E903 'no layer kind computes the tensor method `.float()`' with a hint listing joins and
pools, which said nothing of dtypes. A spec states no dtype, so the cast stays refused; a
cast to the input's dtype (`.to(x.dtype)`) is the tensor itself, as before."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


class Cast(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if self.how == "float":
            y = y.float()
        elif self.how == "half":
            y = y.half().float()
        elif self.how == "to":
            y = y.to(torch.float32)
        elif self.how == "type":
            y = y.type(torch.float64).to(x.dtype)
        else:
            y = y.to(x.dtype)
        return y.softmax(-1)


@pytest.mark.parametrize(
    ("how", "dtype"),
    [("float", "float32"), ("half", "float16"), ("to", "float32"), ("type", "float64")],
)
def test_a_cast_to_a_dtype_written_out_is_refused_as_one(how: str, dtype: str) -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(Cast(how).eval(), torch.zeros(2, 4))
    first = info.value.diagnostics[0]
    assert first.code == "E903"
    assert f"casts to {dtype}, a dtype written out: a spec states no dtype" in first.message
    assert "`.to(x.dtype)`" in (first.hint or "")


def test_a_cast_to_the_inputs_dtype_still_imports() -> None:
    model = Cast("alike").eval()
    text = archspec.from_module(model, torch.zeros(2, 4))
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))
