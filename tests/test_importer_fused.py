"""archspec import of modules that hold one layer's tensors and run that layer's computation
with other steps around it (archspec/importer/fused.py), written here in plain torch as model
zoos write them: a BatchNorm2d subclass whose forward is batch norm's own computation followed
by its `drop` and `act` children, a GroupNorm subclass, a LayerNorm subclass that permutes
around `F.layer_norm`. Each round-trips exactly (state_dict keys, shapes and order; outputs in
eval and in training, running statistics included) or is refused at its place in the source."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class BatchNormAct(nn.BatchNorm2d):
    """Batch norm's computation, written out as its forward does, then `drop` and `act`."""

    def __init__(self, c: int, act: bool = True, eps: float = 1e-5) -> None:
        super().__init__(c, eps=eps)
        self.drop = nn.Identity()
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert(x.ndim == 4, "expected a 4-d input")
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        x = F.batch_norm(
            x,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight,
            self.bias,
            self.training or self.running_mean is None,
            self.momentum,
            self.eps,
        )
        x = self.drop(x)
        return self.act(x)


class GroupNormAct(nn.GroupNorm):
    def __init__(self, c: int) -> None:
        super().__init__(2, c)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps))


class LayerNormAct2d(nn.LayerNorm):
    """A channels-first layer norm: permute, `F.layer_norm` over the channels, permute back."""

    def __init__(self, c: int) -> None:
        super().__init__(c, eps=1e-6)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return self.act(x.permute(0, 3, 1, 2))


class ConvNormAct(nn.Module):
    def __init__(self, cin: int, cout: int, norm: type = BatchNormAct, **kw: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = norm(cout, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class Net(nn.Module):
    """A fused norm as a traced block's child, as a numbered and a named Sequential's item,
    as an nn.ModuleList's item walked in forward, and as the network's own child."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvNormAct(3, 8)
        self.body = nn.Sequential(ConvNormAct(8, 8), ConvNormAct(8, 8, act=False), BatchNormAct(8))
        self.named = nn.Sequential(OrderedDict(conv=nn.Conv2d(8, 8, 1), norm=BatchNormAct(8)))
        self.blocks = nn.ModuleList([nn.Conv2d(8, 8, 1), BatchNormAct(8), nn.Conv2d(8, 8, 1)])
        self.gn = ConvNormAct(8, 8, GroupNormAct)
        self.ln = ConvNormAct(8, 8, LayerNormAct2d)
        self.bn2 = BatchNormAct(8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.named(self.body(self.stem(x)))
        for block in self.blocks:
            x = block(x)
        x = self.bn2(self.ln(self.gn(x)))
        return self.fc(x.mean((2, 3)))


def test_a_layer_subclass_with_steps_after_its_computation_round_trips() -> None:
    model = Net()
    text = roundtrip(model, (2, 3, 12, 10))
    assert "{name: bn, type: batchnorm2d" in text  # bn.weight, bn.running_mean, ...
    assert "{name: bn2_act, type: activation, fn: relu}" in text
    assert "type: group_norm" in text and "type: layer_norm" in text
    assert text.count("type: permute") == 2
    assert "BatchNormAct" not in text  # no block: its tensors are the layer's own


def test_the_imported_fused_norm_trains_as_the_model_does() -> None:
    """In training, batch statistics and the running averages (and the batch counter) of
    the twin follow the model's: the layer's training computation is the kind's."""
    model = Net().eval()
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    twin = archspec.compile(archspec.from_module(model, x))
    twin.load_state_dict(model.state_dict())
    model.train()
    twin.train()
    torch.testing.assert_close(twin(x), model(x))
    for (k, a), (_, b) in zip(twin.state_dict().items(), model.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=k)


class OtherEps(BatchNormAct):
    """Calls F.batch_norm with another eps than its own: not batch norm's computation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False)
        return self.act(x)


class WeightTwice(nn.LayerNorm):
    """Reads its weight again after the norm: more than the layer's computation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x * self.weight


@pytest.mark.parametrize(
    ("layer", "statement"),
    [
        (OtherEps(8), "x = F.batch_norm(x, self.running_mean"),
        (WeightTwice(8), "x = F.layer_norm(x, self.normalized_shape"),
    ],
)
def test_a_subclass_computing_other_than_its_layer_is_refused_located(layer, statement) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Sequential(layer))
    x = torch.randn(1, 3, 4, 4) if isinstance(layer, nn.BatchNorm2d) else torch.randn(1, 3, 4, 8)
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, x)
    with open(__file__, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    spans = [d.span for d in err.value.diagnostics]
    assert all(s is not None and s.file == __file__ for s in spans)
    assert any(statement in lines[s.line - 1] for s in spans)


class LeakyNorm(BatchNormAct):
    def __init__(self, c: int) -> None:
        super().__init__(c)
        self.act = nn.LeakyReLU(0.2)


def test_a_step_that_is_a_module_in_a_numbered_sequential_is_refused() -> None:
    """LeakyReLU(0.2) is a module kind: after the norm in a numbered nn.Sequential it would
    take a position and move the keys of every later item; in a forward it imports."""
    numbered = nn.Sequential(nn.Conv2d(3, 8, 1), LeakyNorm(8), nn.Conv2d(8, 4, 1))
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(numbered, torch.randn(1, 3, 4, 4))
    (diag,) = err.value.diagnostics
    assert diag.code == "E904" and "position" in diag.message and diag.span.file == __file__
    called = nn.Sequential(ConvNormAct(3, 8, LeakyNorm), nn.Conv2d(8, 4, 1))
    text = roundtrip(called, (2, 3, 5, 5))
    assert "type: leaky_relu" in text


class ConvSame(nn.Conv2d):
    """TensorFlow's 'same' padding worked out from each input's size (timm's Conv2dSame)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.size()[-2:]
        s, k = self.stride[0], self.kernel_size[0]
        ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
        pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def test_a_padding_worked_out_from_the_input_size_is_refused_naming_the_size_read() -> None:
    model = nn.Sequential(ConvSame(3, 8, 3, stride=2), nn.ReLU())
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(1, 3, 16, 16))
    (diag,) = err.value.diagnostics
    assert diag.code == "E902" and diag.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert "ph = max(" in lines[diag.span.line - 1]
    read_at = next(i for i, t in enumerate(lines, 1) if "ih, iw = x.size()[-2:]" in t)
    assert f"`.size()` at test_importer_fused.py:{read_at}" in diag.message
    assert "worked out from the input's size" in diag.hint


class OwnConv(nn.Module):
    """No subclass of nn.Conv2d: its own weight and bias given to F.conv2d, then F.relu."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3) * 0.1)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.conv2d(x, self.weight, self.bias, padding=1))


class OwnNorm2d(nn.Module):
    """A channels-first layer norm as a plain module: permute, F.layer_norm, permute back."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.c = c
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), (self.c,), self.weight, self.bias, 1e-6)
        return x.permute(0, 3, 1, 2)


class OwnLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(5, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


def test_a_plain_module_giving_its_tensors_to_a_layer_function_round_trips() -> None:
    """The fields come from the call (F.conv2d's padding, the weight's shape); the kind's
    module must make the same call, `padding=1` being nn.Conv2d's `(1, 1)`."""
    model = nn.Sequential(
        OwnConv(3, 8), OwnNorm2d(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), OwnLinear()
    )
    text = roundtrip(model, (2, 3, 6, 6))
    assert "- {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}" in text
    assert "- {type: layer_norm, eps: 1.0e-06}" in text
    assert "- {type: linear, out_features: 5, bias: false}" in text


def test_a_fused_module_changed_after_an_import_is_read_again() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 1), BatchNormAct(8))
    x = torch.randn(2, 3, 4, 4)
    assert "eps" not in archspec.from_module(model, x)
    model[1].eps = 0.25
    assert "{type: batchnorm2d, eps: 0.25}" in archspec.from_module(model, x)


class LayerNorm2d(nn.LayerNorm):
    """Named as the kind's class and read as `layer_norm2d` while its private flag is off
    (timm's `_fast_norm`)."""

    def __init__(self, c: int) -> None:
        super().__init__(c)
        self._scaled = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        x = x.permute(0, 3, 1, 2)
        return x + 1e-7 if self._scaled else x  # within the output check's tolerance


def test_a_leaf_read_as_a_kind_and_changed_after_an_import_is_read_again() -> None:
    """The reading of a class with a forward of its own is kept per instance; a flag or a
    value changed since must not be answered from that cache."""
    model = nn.Sequential(nn.Conv2d(3, 8, 1), LayerNorm2d(8))
    x = torch.randn(2, 3, 4, 4)
    assert "- {type: layer_norm2d}" in archspec.from_module(model, x)
    model[1]._scaled = True  # its forward is no longer the kind's: its steps are imported
    text = archspec.from_module(model, x)
    assert "- {type: layer_norm2d}" not in text and "type: scale, offset: 1.0e-07}" in text


class CircularPad(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (1, 1, 1, 1), mode="circular")


def test_an_f_pad_no_kind_computes_is_refused_saying_which_f_pad_imports() -> None:
    """The refusal's hint lists F.pad among the calls archspec imports: it says which ones,
    so a circular or computed pad is not left looking importable."""
    model = nn.Sequential(nn.Conv2d(3, 4, 1), CircularPad())
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(1, 3, 8, 8))
    (diag,) = err.value.diagnostics
    assert diag.code == "E903" and diag.span.file == __file__
    assert "F.pad with pads written as numbers (2, 4 or 6 of them, none negative, not" in diag.hint


class GroupNorm1NoBias(nn.GroupNorm):
    """timm's PoolFormerV2 norm: one group, a weight and no bias, `F.group_norm` in forward."""

    def __init__(self, c: int) -> None:
        super().__init__(1, c, eps=1e-6, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


def test_a_group_norm_without_a_bias_imports() -> None:
    """It was E903 'the kind `group_norm` builds it with other tensors': no `bias` field."""
    model = nn.Sequential(nn.Conv2d(3, 4, 1), GroupNorm1NoBias(4), nn.GroupNorm(2, 4, bias=False))
    text = roundtrip(model, (2, 3, 5, 5))
    assert text.count("bias: false") == 2
