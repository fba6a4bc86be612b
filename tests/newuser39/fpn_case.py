"""The recorded cases of this folder (make_fixture.py): torchvision networks whose keys go
through containers of containers, written with dotted keys (`key: backbone.layer3`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"

#: each case: its spec, the torchvision builder (make_fixture.py) and its input sizes (maps
#: no stride divides, and the smallest the domain takes)
RECORDED: dict[str, dict[str, Any]] = {
    "resnet18_fpn": {"spec": "resnet18_fpn.yaml", "inputs": [(1, 3, 67, 90), (1, 3, 1, 1)]},
    "deeplabv3_resnet50": {"spec": "deeplabv3_resnet50.yaml",
                           "inputs": [(1, 3, 33, 47), (1, 3, 1, 1)]},
}  # fmt: skip
