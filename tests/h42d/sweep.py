"""An acceptance sweep of `archspec import` over torchvision's video, segmentation, quantizable
(float), optical-flow and detection pieces, judged independently of the import.

Run from the repo root in a venv with torchvision (never a dependency of archspec or its
tests), one model per process when one may hang; the records go to sweep.json, one line per model:

    PYTHONPATH=$PWD /path/to/tvenv/bin/python -m tests.h42d.sweep [NAME ...]

Each model is built on the CPU with seeded random weights, its norm statistics perturbed, in
eval mode; `archspec.from_module` either returns a spec or raises. The verdict:
`exact` (the spec compiles, its state_dict keys, shapes and order are the model's, each loads
the other's state_dict strictly, and the eval outputs, dicts and tuples flattened in order,
agree to 1e-4 of the largest magnitude), `refused` (every diagnostic has a `file:line`),
`unlocated`, `wrong` or `traceback`.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
import torchvision.models as tvm
import torchvision.models.detection as det
import torchvision.models.optical_flow as flow
import torchvision.models.quantization as q
import torchvision.models.segmentation as seg
import torchvision.models.video as video
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.parity.records import sweep
from tests.parity.sweeps import perturb, rel

SWEEP_JSON = Path(__file__).resolve().parent / "sweep.json"

_SITE = re.compile(r"(?:/[^\s:]*)?/(?:site|dist)-packages/")


def _short(text: str) -> str:
    return _SITE.sub("", text)


def _x(*shape: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


class _ListHead(nn.Module):
    """A detection head alone: its list of two feature maps given as two tensors."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> Any:
        return self.head([a, b])


def _retina_head() -> nn.Module:
    from torchvision.models.detection.retinanet import RetinaNetHead

    return RetinaNetHead(64, 9, 5)


def _fcos_head() -> nn.Module:
    from torchvision.models.detection.fcos import FCOSHead

    return FCOSHead(64, 1, 5, num_convs=2)


def _ssd_vgg() -> nn.Module:
    return det.ssd300_vgg16(weights=None, weights_backbone=None).backbone


def _ssdlite_backbone() -> nn.Module:
    return det.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).backbone


def _ssd_head() -> nn.Module:
    from torchvision.models.detection.ssd import SSDHead

    return SSDHead([32, 64], [4, 6], 5)


def _rpn_head() -> nn.Module:
    from torchvision.models.detection.rpn import RPNHead

    return RPNHead(64, 3, conv_depth=2)


def _retinanet_backbone() -> nn.Module:
    return det.retinanet_resnet50_fpn_v2(weights=None, weights_backbone=None).backbone


def _fasterrcnn_mobilenet_backbone() -> nn.Module:
    return det.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None).backbone


def _fcos_backbone() -> nn.Module:
    return det.fcos_resnet50_fpn(weights=None, weights_backbone=None).backbone


def _raft_update() -> nn.Module:
    return flow.raft_small().update_block


def _box_predictor() -> nn.Module:
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    return FastRCNNPredictor(64, 5)


def _box_head() -> nn.Module:
    from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead

    return FastRCNNConvFCHead((16, 7, 7), [32, 32], [64])


#: name -> (builder, example inputs, a second set of inputs at other sizes or None)
CASES: dict[str, tuple[Callable[[], nn.Module], tuple, tuple | None]] = {
    "r3d_18": (lambda: video.r3d_18(), (_x(1, 3, 4, 32, 32),), (_x(2, 3, 8, 40, 48, seed=3),)),
    "mc3_18": (lambda: video.mc3_18(), (_x(1, 3, 4, 32, 32),), (_x(2, 3, 8, 40, 48, seed=3),)),
    "r2plus1d_18": (
        lambda: video.r2plus1d_18(),
        (_x(1, 3, 4, 32, 32),),
        (_x(2, 3, 8, 40, 48, seed=3),),
    ),
    "s3d": (lambda: video.s3d(), (_x(1, 3, 16, 224, 224),), None),
    "mvit_v1_b": (lambda: video.mvit_v1_b(), (_x(1, 3, 16, 224, 224),), None),
    "mvit_v2_s": (lambda: video.mvit_v2_s(), (_x(1, 3, 16, 224, 224),), None),
    "swin3d_t": (lambda: video.swin3d_t(), (_x(1, 3, 4, 64, 64),), (_x(1, 3, 8, 96, 64, seed=3),)),
    "fcn_resnet50_aux": (
        lambda: seg.fcn_resnet50(weights=None, weights_backbone=None, aux_loss=True),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "deeplabv3_resnet50_aux": (
        lambda: seg.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=True),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "deeplabv3_mobilenet_v3_large_aux": (
        lambda: seg.deeplabv3_mobilenet_v3_large(
            weights=None, weights_backbone=None, aux_loss=True
        ),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "lraspp_mobilenet_v3_large": (
        lambda: seg.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "q_resnet18": (lambda: q.resnet18(), (_x(1, 3, 64, 64),), (_x(2, 3, 72, 88, seed=3),)),
    "q_resnet50": (lambda: q.resnet50(), (_x(1, 3, 64, 64),), (_x(2, 3, 72, 88, seed=3),)),
    "q_mobilenet_v2": (
        lambda: q.mobilenet_v2(),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "q_mobilenet_v3_large": (
        lambda: q.mobilenet_v3_large(),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "q_googlenet": (lambda: q.googlenet(), (_x(1, 3, 64, 64),), (_x(2, 3, 72, 88, seed=3),)),
    "q_inception_v3": (
        lambda: q.inception_v3(),
        (_x(1, 3, 96, 96),),
        (_x(2, 3, 112, 128, seed=3),),
    ),
    "q_inception_v3_299": (lambda: q.inception_v3(), (_x(1, 3, 299, 299),), None),
    "inception_v3_96": (lambda: tvm.inception_v3(), (_x(1, 3, 96, 96),), None),
    "q_shufflenet_v2_x0_5": (
        lambda: q.shufflenet_v2_x0_5(),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "raft_small": (
        lambda: flow.raft_small(),
        (_x(1, 3, 64, 64), _x(1, 3, 64, 64, seed=4)),
        None,
    ),
    "retinanet_head": (
        lambda: _ListHead(_retina_head()),
        (_x(1, 64, 16, 16), _x(1, 64, 8, 8)),
        (_x(2, 64, 12, 20, seed=3), _x(2, 64, 6, 10, seed=4)),
    ),
    "fcos_head": (
        lambda: _ListHead(_fcos_head()),
        (_x(1, 64, 16, 16), _x(1, 64, 8, 8)),
        (_x(2, 64, 12, 20, seed=3), _x(2, 64, 6, 10, seed=4)),
    ),
    "ssd_head": (
        lambda: _ListHead(_ssd_head()),
        (_x(1, 32, 16, 16), _x(1, 64, 8, 8)),
        (_x(2, 32, 12, 20, seed=3), _x(2, 64, 6, 10, seed=4)),
    ),
    "rpn_head": (
        lambda: _ListHead(_rpn_head()),
        (_x(1, 64, 16, 16), _x(1, 64, 8, 8)),
        (_x(2, 64, 12, 20, seed=3), _x(2, 64, 6, 10, seed=4)),
    ),
    "ssd300_vgg16_backbone": (_ssd_vgg, (_x(1, 3, 300, 300),), None),
    "ssdlite320_backbone": (_ssdlite_backbone, (_x(1, 3, 320, 320),), None),
    "raft_small_update_block": (
        _raft_update,
        (
            _x(1, 96, 8, 8),
            _x(1, 64, 8, 8, seed=4),
            _x(1, 196, 8, 8, seed=5),
            _x(1, 2, 8, 8, seed=6),
        ),
        None,
    ),
    "fastrcnn_predictor": (_box_predictor, (_x(3, 64),), (_x(5, 64, seed=3),)),
    "fastrcnn_convfc_head": (_box_head, (_x(2, 16, 7, 7),), (_x(4, 16, 7, 7, seed=3),)),
    "googlenet_transform_input": (
        lambda: tvm.googlenet(transform_input=True, aux_logits=True, init_weights=True),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "inception_v3_transform_input": (
        lambda: tvm.inception_v3(transform_input=True, init_weights=True),
        (_x(1, 3, 299, 299),),
        None,
    ),
    "fcn_resnet50": (
        lambda: seg.fcn_resnet50(weights=None, weights_backbone=None),
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 72, 88, seed=3),),
    ),
    "retinanet_v2_backbone": (_retinanet_backbone, (_x(1, 3, 64, 64),), (_x(2, 3, 96, 64),)),
    "fcos_backbone": (_fcos_backbone, (_x(1, 3, 64, 64),), (_x(2, 3, 96, 64),)),
    "fasterrcnn_mobilenet_backbone": (
        _fasterrcnn_mobilenet_backbone,
        (_x(1, 3, 64, 64),),
        (_x(2, 3, 96, 64),),
    ),
}


def check_case(name: str) -> dict[str, Any]:
    build, inputs, second = CASES[name]
    torch.manual_seed(0)
    model = build().eval()
    perturb(model)
    record: dict[str, Any] = {"model": name}
    try:
        text = archspec.from_module(model, inputs if len(inputs) > 1 else inputs[0])
    except ArchSpecError as exc:
        located = all(d.span is not None and d.span.line >= 1 for d in exc.diagnostics)
        why = [_short(f"{d.span}: {d.code}: {d.message}")[:400] for d in exc.diagnostics[:5]]
        hints = [_short(d.hint or "")[:300] for d in exc.diagnostics[:2]]
        status = "refused" if located else "unlocated"
        return {**record, "status": status, "why": why, "hints": hints}
    except Exception as exc:
        lines = traceback.format_exception(exc)[-4:]
        return {**record, "status": "traceback", "why": [_short(t) for t in lines]}
    record["lines"] = len(text.splitlines())
    twin = archspec.compile(text, max_params=None, max_activations=None).eval()
    ours = [(k, tuple(v.shape)) for k, v in twin.state_dict().items()]
    if ours != [(k, tuple(v.shape)) for k, v in model.state_dict().items()]:
        return {**record, "status": "wrong", "why": ["state_dict keys/shapes/order differ"]}
    twin.load_state_dict(model.state_dict(), strict=True)
    model.load_state_dict(twin.state_dict(), strict=True)
    problems = []
    for probe in (inputs, second) if second is not None else (inputs,):
        with torch.no_grad():
            err = rel(twin(*probe), model(*probe))
        if not err <= 1e-4:
            problems.append(f"outputs differ at {[tuple(p.shape) for p in probe]}: {err:.3g}")
    status = "wrong" if problems else "exact"
    return {**record, "status": status, **({"why": problems} if problems else {})}


def main() -> None:
    """Check the models named (all of CASES without names), recording each in sweep.json."""
    torch.set_num_threads(1)
    names = sys.argv[1:] or list(CASES)
    records = sweep(SWEEP_JSON, list(CASES), names, check_case)
    counts: dict[str, int] = {}
    for rec in records.values():
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
    print(f"{counts}; torchvision {torchvision.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
