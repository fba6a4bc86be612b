"""Records the torchvision cases of this folder for tests/test_newuser39.py, which needs no
torchvision: `resnet_fpn_backbone("resnet18")` (with `nn.BatchNorm2d`, all layers trainable)
and `deeplabv3_resnet50(aux_loss=True)`, each as its parameter count, the state_dict's keys,
shapes and dtypes in order, and its outputs (the FPN's five maps, DeepLab's `out` and `aux`)
under the RNG-free weights of tests/parity/weights.py at each input size. It also loads the
spec's state_dict into the reference strictly, and the reference's into the spec's, so a
record is only written for a pair that loads both ways. The outputs are computed in float64:
a float32 record of a deep network differs from one CPU's kernels to another's by more than
the comparison allows (tests/newuser40/make_fixture.py), float64's do not.

Regenerate from the repo root in a venv with torchvision 0.29.1 (torch 2.14.1):

    python -m tests.newuser39.make_fixture
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.segmentation import deeplabv3_resnet50

import archspec
from tests.newuser36.facts import state_dict_facts, write_fixture
from tests.newuser39.fpn_case import FIXTURE, HERE, RECORDED
from tests.parity.weights import deterministic_input, fill_deterministic, output_summary


def build(name: str) -> nn.Module:
    """The case's reference model."""
    if name == "resnet18_fpn":
        return resnet_fpn_backbone(
            backbone_name="resnet18", weights=None, norm_layer=nn.BatchNorm2d, trainable_layers=5
        )
    return deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=True)


def main() -> None:
    records = {}
    for name, case in RECORDED.items():
        reference = build(name)
        ours = archspec.compile(str(HERE / case["spec"]))
        reference.load_state_dict(ours.state_dict(), strict=True)
        ours.load_state_dict(reference.state_dict(), strict=True)
        state = reference.state_dict()
        facts = state_dict_facts(state)  # of the float32 network, before it is widened
        reference.load_state_dict(fill_deterministic(state), strict=True)
        reference.eval().double()  # float64: the record holds on any CPU (see above)
        with torch.no_grad():
            outputs = [
                [output_summary(m) for m in reference(deterministic_input(s).double()).values()]
                for s in case["inputs"]
            ]
        records[name] = {
            "torchvision": torchvision.__version__,
            "param_count": sum(p.numel() for p in reference.parameters()),
            **facts,
            "outputs": outputs,
        }
    write_fixture(FIXTURE, records)


if __name__ == "__main__":
    main()
