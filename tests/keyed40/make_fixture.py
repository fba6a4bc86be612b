"""Records torchvision's networks returning an OrderedDict for tests/test_keyed40.py, which
needs no torchvision: `fcn_resnet50(aux_loss=True)`, `deeplabv3_resnet50(aux_loss=True)` and
`resnet_fpn_backbone("resnet18")` as torchvision builds it (FrozenBatchNorm2d, conv1 and
layer1 frozen), each as its parameter count, the names of its frozen parameters
(requires_grad=False), the state_dict's keys, shapes and dtypes in order, and what forward
returns in eval mode under the RNG-free weights of tests/parity/weights.py at each input size:
its type, its keys in order and a summary of each value. It also loads the spec's state_dict
into the reference strictly, and the reference's into the spec's, so a record is only written
for a pair that loads both ways. The outputs are computed in float64: a float32 record of a
deep network differs from one CPU's kernels to another's by more than the comparison allows
(tests/newuser40/make_fixture.py), float64's do not.

Regenerate from the repo root in a venv with torchvision 0.29.1 (torch 2.14.1):

    python -m tests.keyed40.make_fixture
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.segmentation import deeplabv3_resnet50, fcn_resnet50

import archspec
from tests.keyed40.cases import FIXTURE, HERE, RECORDED
from tests.newuser36.facts import state_dict_facts, write_fixture
from tests.parity.weights import deterministic_input, fill_deterministic, output_summary


def build(name: str) -> nn.Module:
    """The case's reference model."""
    if name == "resnet18_fpn_frozen":  # its defaults: FrozenBatchNorm2d, trainable_layers=3
        return resnet_fpn_backbone(backbone_name="resnet18", weights=None)
    builder = {"fcn_resnet50": fcn_resnet50, "deeplabv3_resnet50": deeplabv3_resnet50}[name]
    return builder(weights=None, weights_backbone=None, aux_loss=True)


def main() -> None:
    records = {}
    for name, case in RECORDED.items():
        reference = build(name)
        ours = archspec.compile(str(HERE.parent / case["spec"]))
        reference.load_state_dict(ours.state_dict(), strict=True)
        ours.load_state_dict(reference.state_dict(), strict=True)
        state = reference.state_dict()
        facts = state_dict_facts(state)  # of the float32 network, before it is widened
        reference.load_state_dict(fill_deterministic(state), strict=True)
        reference.eval().double()  # float64: the record holds on any CPU (see above)
        returned = []
        with torch.no_grad():
            for shape in case["inputs"]:
                out = reference(deterministic_input(shape).double())
                returned.append(
                    {
                        "type": type(out).__name__,
                        "keys": list(out),
                        "values": [output_summary(v) for v in out.values()],
                    }
                )
        records[name] = {
            "torchvision": torchvision.__version__,
            "param_count": sum(p.numel() for p in reference.parameters()),
            "frozen": [n for n, p in reference.named_parameters() if not p.requires_grad],
            **facts,
            "returned": returned,
        }
    write_fixture(FIXTURE, records)


if __name__ == "__main__":
    main()
