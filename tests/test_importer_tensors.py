"""archspec import of a module's own tensors and of children whose keys are not names: a
buffer read in forward is a `buffer` node (a non-persistent one with the values the spec
can make), parameters read out of their registration order keep the state_dict's order,
and a child keyed `0` or `class` is a node with that `key:`, read by `outputs:`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class Normalised(nn.Module):
    """Its tensors read in another order than registered: `shift` before `scale`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.scale = nn.Parameter(torch.ones(1, 4, 1, 1))
        self.shift = nn.Parameter(torch.zeros(4, 1, 1))
        self.register_buffer("mean", torch.zeros(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv(x) - self.mean - self.shift) * self.scale


class Made(Normalised):
    """Non-persistent buffers, in no state_dict: the spec makes their values."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("gain", torch.full((4, 1, 1), 0.5), persistent=False)
        self.register_buffer("pos", torch.arange(4.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.gain + self.pos


def test_buffers_and_parameters_read_in_forward_round_trip() -> None:
    text = roundtrip(Normalised(), (2, 3, 4, 4))
    assert "{name: mean, type: buffer, shape: [1, 4, 1, 1]}" in text
    model, x = Made().eval(), torch.rand(2, 3, 4, 4)
    text = archspec.from_module(model, x)  # outputs compared before it returns
    assert "persistent: false, value: 0.5" in text and "fill: arange" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    torch.testing.assert_close(twin(x), model(x))


class Tensors(nn.Module):
    def __init__(self, tensor: torch.Tensor, persistent: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        if isinstance(tensor, nn.Parameter):
            self.t = tensor
        else:
            self.register_buffer("t", tensor, persistent=persistent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.t


@pytest.mark.parametrize(
    ("tensor", "persistent", "says"),
    [
        (torch.tensor(0.5), True, "a 0-d tensor"),
        (torch.rand(4, 1, 1), False, "holds other values"),
        (torch.ones(4, 1, 1, device="meta"), False, "the meta device"),
        (torch.ones(4, 1, 1, dtype=torch.int32), True, "int32"),
    ],
)
def test_tensors_a_spec_cannot_make_are_refused_at_the_statement(tensor, persistent, says):
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Tensors(tensor, persistent).eval(), torch.zeros(1, 3, 4, 4))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and says in diag.message and "self.t" in diag.message
    assert diag.span is not None and diag.span.line > 0


class Keyed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.add_module("block1-0", nn.Conv2d(3, 4, 3))
        self.add_module("0", nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, "0")(getattr(self, "block1-0")(x))


def test_children_keyed_by_a_number_or_a_keyword_round_trip() -> None:
    text = roundtrip(Keyed(), (1, 3, 6, 6))
    assert "{key: '0', type: relu}" in text and "outputs" not in text
    seq = nn.Sequential()
    for key, layer in (("class", nn.Conv2d(3, 4, 1)), ("match", nn.ReLU()), ("x", nn.ReLU())):
        seq.add_module(key, layer)
    text = roundtrip(seq, (1, 3, 4, 4))
    assert "{key: class, type: conv2d" in text and "{key: match, type: relu}" in text


class ReturnsEarly(nn.Module):
    """Returns its first child's output; the second child's nothing reads (a probe head)."""

    def __init__(self) -> None:
        super().__init__()
        self.add_module("0", nn.Conv2d(4, 4, 1))
        self.probe = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = getattr(self, "0")(x)
        self.probe(y)
        return y


def test_a_block_returning_a_node_before_its_last_states_outputs() -> None:
    # was "cannot merge the instances" of a class with one instance
    text = roundtrip(nn.Sequential(ReturnsEarly(), nn.ReLU(), ReturnsEarly()), (1, 4, 3, 3))
    assert "    outputs: ['0']" in text
