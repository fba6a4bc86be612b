"""`pad_to_multiple`: a map padded at its end to a multiple of a window, as Swin, DaViT and
most window attention pad it, `F.pad(x, (0, 0, 0, (ws - W % ws) % ws, 0, (ws - H % ws) %
ws))`. No kind stated it: such a forward was E903 'no layer kind computes
`torch.nn.functional.pad` as called here' (timm's davit_tiny, three times). The kind pads
each of its `dims` up to the next multiple, any size; import reads F.pad of that form and
of `-W % k`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ArchSpecError

SPEC = """
archspec: 1
name: padded
input: [N, H, W, 8]
layers:
  - {{name: padded, type: pad_to_multiple, dims: {dims}, multiple: {multiple}}}
"""


def _swin_pad(x: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    H, W = x.shape[1:3]
    return F.pad(x, (0, 0, 0, (kw - W % kw) % kw, 0, (kh - H % kh) % kh))


@pytest.mark.parametrize(
    ("dims", "multiple", "kh", "kw"), [("[1, 2]", "7", 7, 7), ("[-3, -2]", "[4, 3]", 4, 3)]
)
def test_the_kind_pads_any_size_as_swin_does(dims: str, multiple: str, kh: int, kw: int) -> None:
    text = SPEC.format(dims=dims, multiple=multiple)
    assert archspec.check(text).ok
    net = archspec.compile(text)
    namespace: dict = {}
    exec(compile(archspec.emit(text), "<emitted>", "exec"), namespace)
    emitted = namespace["Padded"]()
    checked = 0
    for h, w in ((5, 9), (7, 14), (1, 1), (12, 6)):
        x = torch.randn(2, h, w, 8)
        want = _swin_pad(x, kh, kw)
        assert torch.equal(net(x), want)
        assert torch.equal(emitted(x), want)
        checked += 1
    assert checked == 4


@pytest.mark.parametrize(
    ("dims", "multiple", "code"),
    [("[1, 5]", "7", "E401"), ("[1, -3]", "7", "E409"), ("[1, 2]", "[7]", "E409")],
)
def test_dims_and_multiples_that_do_not_fit_are_refused(
    dims: str, multiple: str, code: str
) -> None:
    result = archspec.check(SPEC.format(dims=dims, multiple=multiple))
    assert [d.code for d in result.diagnostics] == [code]
    assert result.diagnostics[0].span is not None


class Window(nn.Module):
    def __init__(self, ws: int = 4) -> None:
        super().__init__()
        self.ws, self.fc = ws, nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[1:3]
        pad_r = (self.ws - W % self.ws) % self.ws
        pad_b = (self.ws - H % self.ws) % self.ws
        return self.fc(F.pad(x, (0, 0, 0, pad_r, 0, pad_b)))


class Downsample(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[2:]
        return self.conv(F.pad(x, (0, -W % 2, 0, -H % 2)))


class Overpadded(Downsample):
    """`2 - W % 2` pads 2 where W is even: no multiple of 2 it pads to."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[2:]
        return self.conv(F.pad(x, (0, 2 - W % 2, 0, 2 - H % 2)))


@pytest.mark.parametrize(
    ("model", "shapes"),
    [(Window, ((1, 5, 6, 8), (2, 8, 3, 8))), (Downsample, ((1, 3, 7, 6), (2, 3, 4, 9)))],
)
def test_import_reads_a_pad_to_a_multiple(model: type[nn.Module], shapes: tuple) -> None:
    torch.manual_seed(0)
    module = model().eval()
    text = archspec.from_module(module, torch.randn(shapes[0]))
    assert "type: pad_to_multiple" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(module.state_dict())
    for shape in shapes:
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.allclose(twin(x), module(x), atol=1e-6)


def test_a_pad_of_another_form_stays_refused() -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.from_module(Overpadded().eval(), torch.randn(1, 3, 7, 6))
    assert "torch.nn.functional.pad" in str(info.value)
