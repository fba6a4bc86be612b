"""The torchvision networks that return an OrderedDict (`outputs:` as a mapping), one of them
with FrozenBatchNorm2d norms and frozen layers, recorded by make_fixture.py for
tests/test_keyed40.py, which needs no torchvision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"

#: each case: its spec (from tests/) and its input sizes (maps no stride divides, and the
#: smallest the domain takes)
RECORDED: dict[str, dict[str, Any]] = {
    "fcn_resnet50": {"spec": "keyed40/fcn_resnet50.yaml",
                     "inputs": [(1, 3, 35, 41), (1, 3, 1, 1)]},
    "deeplabv3_resnet50": {"spec": "newuser39/deeplabv3_resnet50.yaml",
                           "inputs": [(1, 3, 33, 47)]},
    # FrozenBatchNorm2d norms and conv1, layer1 frozen: `frozen_batch_norm2d`, `frozen:`
    "resnet18_fpn_frozen": {"spec": "keyed40/resnet18_fpn_frozen.yaml",
                            "inputs": [(1, 3, 67, 90), (2, 3, 1, 1)]},
}  # fmt: skip
