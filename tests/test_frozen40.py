"""Frozen parameters: the `frozen_batch_norm2d` kind (torchvision's FrozenBatchNorm2d, the norm
of its detection backbones) and the spec's `frozen:` paths (requires_grad=False), in compile,
emit, summary and import. Before, a spec had neither: docs/porting.md told users to freeze
after compiling, `archspec import` left frozen parameters trainable, and a FrozenBatchNorm2d
was imported as a block of four buffers and eleven arithmetic nodes."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import archspec
from archspec.errors import ArchSpecError, ImportFailure

NET = """\
archspec: 1
name: fz
input: [N, 3, H, W]
layers:
  - {key: body.conv1, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {key: body.bn1, type: frozen_batch_norm2d}
  - name: layer1
    type: repeat
    count: 2
    layer: {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: head, type: conv2d, out_channels: 4, kernel_size: 1}
frozen: [body, layer1.0]
"""
FROZEN = ["body.conv1.weight", "layer1.0.weight", "layer1.0.bias"]


def _emitted(text: str) -> nn.Module:
    module = types.ModuleType("emitted_fz")
    exec(compile(archspec.emit(text), "<emitted>", "exec"), module.__dict__)
    return module.Fz()


def _frozen(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if not p.requires_grad]


def test_frozen_batch_norm2d_is_batch_norm_s_fixed_affine_in_buffers() -> None:
    ours = archspec.compile(NET).eval()
    bn = ours.body.bn1
    assert [k for k, _ in bn.named_buffers()] == ["weight", "bias", "running_mean", "running_var"]
    assert list(bn.parameters()) == [] and repr(bn) == "FrozenBatchNorm2d(8, eps=1e-05)"
    reference = nn.BatchNorm2d(8).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for t in reference.parameters():
            t.copy_(torch.randn_like(t))
        reference.running_mean.copy_(torch.randn(8))
        reference.running_var.copy_(torch.rand(8) + 0.5)
    # a BatchNorm2d's checkpoint loads, its num_batches_tracked dropped (as torchvision's)
    bn.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 8, 5, 6)
    torch.testing.assert_close(bn(x), reference(x))
    bn.train()  # training changes nothing: the statistics are fixed
    torch.testing.assert_close(bn(x), reference(x))


def test_frozen_batch_norm2d_counts_no_parameters_and_four_buffers() -> None:
    text = NET.replace("frozen: [body, layer1.0]\n", "")
    summary = archspec.summary(text, input=(1, 3, 8, 8))
    row = next(r for r in summary.rows if r.path == "body.bn1")
    assert row.params == 0 and row.type == "FrozenBatchNorm2d"
    model = archspec.compile(text)
    assert summary.params == sum(p.numel() for p in model.parameters())
    assert sum(b.numel() for b in model.body.bn1.buffers()) == 4 * 8
    assert "frozen" not in summary.to_text()  # nothing frozen: the footer says nothing


def test_frozen_batch_norm2d_takes_nchw_only() -> None:
    text = NET.replace("input: [N, 3, H, W]", "input: [N, 3, L]").replace("conv2d", "conv1d")
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(text.replace("frozen: [body, layer1.0]\n", ""))
    (diag,) = [d for d in info.value.diagnostics if d.severity == "error"]
    assert diag.code == "E401" and "(N, C, H, W)" in diag.message
    assert (diag.span.line, diag.span.col) == (6, 5)


def test_compile_and_emit_freeze_the_frozen_paths() -> None:
    ours, emitted = archspec.compile(NET), _emitted(NET)
    assert _frozen(ours) == _frozen(emitted) == FROZEN
    emitted.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(emitted.eval()(x), ours.eval()(x))
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in ours.parameters() if p.requires_grad], lr=0.1)
    ours.train()(x).sum().backward()
    optimizer.step()
    after = ours.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in FROZEN)
    assert not torch.equal(before["head.weight"], after["head.weight"])
    source = archspec.emit(NET)
    assert 'for path in ("body", "layer1.0"):' in source
    assert "self.get_submodule(path).requires_grad_(False)" in source


def test_the_summary_counts_trainable_and_frozen_parameters() -> None:
    summary = archspec.summary(NET, input=(1, 3, 8, 8))
    model = archspec.compile(NET)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert summary.frozen_params == frozen == 216 + 584
    assert f"({summary.params - frozen:,} trainable, {frozen:,} frozen)" in summary.to_text()
    assert summary.to_dict()["total"]["frozen_params"] == frozen
    assert "(1.42 K; 620 trainable, 800 frozen)" in archspec.summary(NET).to_text()  # symbolic


@pytest.mark.parametrize(
    ("frozen", "code", "col", "words"),
    [
        ("[body, layer2]", "E305", 16, "`layer2`, which is no module"),
        ("[body.conv]", "E305", 10, "did you mean `body.conv1`?"),
        ('["body conv1"]', "E204", 10, "a `frozen` entry is a module path"),
        ("[layer1..0]", "E204", 10, "a `frozen` entry is a module path"),
        ("body", "E202", 9, "list"),
    ],
)
def test_a_wrong_frozen_path_is_a_located_error(
    frozen: str, code: str, col: int, words: str
) -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(NET.replace("[body, layer1.0]", frozen))
    (diag,) = [d for d in info.value.diagnostics if d.severity == "error"]
    assert diag.code == code and words in diag.message + (diag.hint or "")
    assert (diag.span.line, diag.span.col) == (12, col)


def test_an_extending_spec_replaces_frozen(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(NET, encoding="utf-8")
    child = "archspec: 1\nextends: base.yaml\nname: fz2\nclass_name: Fz\nfrozen: [head]\n"
    (tmp_path / "child.yaml").write_text(child, encoding="utf-8")
    assert _frozen(archspec.compile(str(tmp_path / "child.yaml"))) == ["head.weight", "head.bias"]


class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.misc.FrozenBatchNorm2d as torchvision 0.29 writes it (less its usage
    log), so the import is tested without torchvision."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.reshape(1, -1, 1, 1)
        b = self.bias.reshape(1, -1, 1, 1)
        rv = self.running_var.reshape(1, -1, 1, 1)
        rm = self.running_mean.reshape(1, -1, 1, 1)
        scale = w * (rv + self.eps).rsqrt()
        bias = b - rm * scale
        return x * scale + bias

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.weight.shape[0]}, eps={self.eps})"


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), FrozenBatchNorm2d(8), nn.ReLU())
        self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.layer1(self.stem(x)))


def test_import_reads_frozen_batch_norm2d_and_frozen_parameters() -> None:
    model = _Backbone().eval()
    with torch.no_grad():
        model.stem[1].running_var.uniform_(0.5, 2.0)
    model.stem.requires_grad_(False)
    model.layer1[0].requires_grad_(False)
    x = torch.randn(2, 3, 12, 10)
    text = archspec.from_module(model, x)
    assert "{type: frozen_batch_norm2d}" in text
    assert "frozen: [stem, layer1]" in text
    ours = archspec.compile(text)
    assert _frozen(ours) == _frozen(model) == ["stem.0.weight", "layer1.0.weight", "layer1.0.bias"]
    ours.load_state_dict(model.state_dict(), strict=True)
    torch.testing.assert_close(ours.eval()(x), model(x))


def test_import_refuses_a_module_frozen_in_part() -> None:
    model = _Backbone().eval()
    model.head.weight.requires_grad_(False)  # its bias still trains: no path says that
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.randn(1, 3, 12, 10))
    assert info.value.diagnostics[0].code == "E904"
    assert "frozen and trainable" in info.value.diagnostics[0].message


def test_a_block_declared_frozen_freezes_every_instance() -> None:
    text = """\
archspec: 1
name: bf
input: [N, 3, H, W]
use:
  - {from: "archspec:blocks/resnet", blocks: [BasicBlock]}
blocks:
  Stem:
    frozen: true
    layers:
      - {name: conv, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
      - {name: bn, type: batchnorm2d}
layers:
  - {name: stem, type: Stem}
  - {name: layer1, type: repeat, count: 2, layer: {type: BasicBlock, planes: 16}}
  - {name: again, type: Stem}
  - {name: head, type: conv2d, out_channels: 4, kernel_size: 1}
frozen: [layer1.1]
"""
    ours = archspec.compile(text)
    module = types.ModuleType("emitted_bf")
    exec(compile(archspec.emit(text), "<emitted>", "exec"), module.__dict__)
    frozen = _frozen(ours)
    assert frozen == _frozen(module.Bf())
    heads = sorted(
        {
            n.split(".")[0] + ("." + n.split(".")[1] if n.startswith("layer1") else "")
            for n in frozen
        }
    )
    assert heads == ["again", "layer1.1", "stem"]
    assert "layer1.0.conv1.weight" not in frozen and "head.weight" not in frozen


def test_diff_says_how_many_parameters_train_on_each_side() -> None:
    plain = NET.replace("frozen: [body, layer1.0]\n", "")
    report = archspec.diff(plain, NET)
    assert "trainable params: 1,420 -> 620 (-800)" in report.text()
    data = report.to_dict()
    assert (data["a"]["frozen_params"], data["b"]["frozen_params"]) == (0, 800)
    assert "trainable" not in archspec.diff(plain, plain).text()
