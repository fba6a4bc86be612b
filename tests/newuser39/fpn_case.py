"""The recorded case of this folder: torchvision's resnet18 FPN backbone (make_fixture.py)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"
FPN_SPEC = HERE / "resnet18_fpn.yaml"
#: input sizes: maps no stride divides, and the smallest the domain takes
FPN_INPUTS = [(1, 3, 67, 90), (1, 3, 1, 1)]
