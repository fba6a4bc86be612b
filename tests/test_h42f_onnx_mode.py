"""export_onnx of a model left in training mode (a fine-tuning script that forgot `.eval()`).

Before: the model's BatchNorm running statistics moved (export_onnx ran a training forward to
find a dict's keys), and the ONNX file held the training graph: an active Dropout, batch
statistics, so its outputs were neither the model's eval outputs nor reproducible. torch's
TorchScript exporter exported in eval mode by default (`training=TrainingMode.EVAL`);
export_onnx now does too, and gives every module its own mode back afterwards.
"""

from __future__ import annotations

from pathlib import Path

import onnx  # the `onnx` extra, installed where the tests run (tests/test_interop.py)
import pytest
import torch
import torch.nn as nn
from onnx.reference import ReferenceEvaluator

from archspec.interop import export_onnx


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 2), nn.BatchNorm1d(2)
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.head(self.backbone(x))}


@pytest.mark.heavy
@pytest.mark.filterwarnings("ignore::FutureWarning")  # from torch.onnx's own internals
def test_a_model_in_training_mode_is_exported_as_eval_and_left_as_it_was(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _Net()
    with torch.no_grad():
        model.backbone[1].running_mean.fill_(3.0)
        model.backbone[1].running_var.fill_(9.0)
        model.head[3].running_mean.fill_(-2.0)
    model.train()
    model.backbone.eval()  # a frozen backbone kept in eval mode: its mode is the user's
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {name: m.training for name, m in model.named_modules()}

    export_onnx(model, torch.randn(2, 3, 8, 8), tmp_path / "net.onnx")

    assert {name: m.training for name, m in model.named_modules()} == modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f"{key} changed by the export"
    proto = onnx.load(str(tmp_path / "net.onnx"))
    assert "Dropout" not in {n.op_type for n in proto.graph.node}
    assert [o.name for o in proto.graph.output] == ["logits"]
    x = torch.randn(4, 3, 8, 8)
    (got,) = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: x.numpy()})
    with torch.no_grad():
        expected = model.eval()(x)["logits"]
    assert torch.allclose(torch.from_numpy(got), expected, rtol=1e-4, atol=1e-5)
