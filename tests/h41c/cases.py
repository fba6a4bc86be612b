"""torchvision's models whose modules pass each other a dict of maps, imported by `archspec
import` and recorded by make_fixture.py for tests/test_h41c_several.py, which needs no
torchvision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"

#: each case: the factory `archspec import` reads, its arguments, the spec it wrote (in this
#: folder) and the input sizes recorded (maps no stride divides, and a small one)
RECORDED: dict[str, dict[str, Any]] = {
    # the backbone's {"low": ..., "high": ...} given whole to LRASPPHead, read by key
    "lraspp_mobilenet_v3_large": {
        "factory": "torchvision.models.segmentation:lraspp_mobilenet_v3_large",
        "args": {"weights": None, "weights_backbone": None},
        "inputs": [(1, 3, 67, 90), (1, 3, 33, 17)],
    },
    # IntermediateLayerGetter's OrderedDict given whole to FeaturePyramidNetwork, whose
    # LastLevelMaxPool (`self.extra_blocks(results, x, names)`) adds the "pool" map
    "resnet18_fpn": {
        "factory": "torchvision.models.detection.backbone_utils:resnet_fpn_backbone",
        "args": {"backbone_name": "resnet18", "weights": None},
        "inputs": [(1, 3, 67, 90), (2, 3, 1, 1)],
    },
}
