"""The networks of this folder and the input sizes their timm record is made at (read by
make_fixture.py with timm and by tests/test_newuser44.py without)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
FIXTURE = HERE / "timm.json"

#: each model's input sizes: the spec's own, then a non-square one (timm's DeiT and ResMLP
#: assert their 224 x 224, as the specs' `check_size` does)
SIZES: dict[str, list[tuple[int, int]]] = {
    "poolformer_s12": [(224, 224), (160, 200)],
    "deit_tiny_distilled_patch16_224": [(224, 224)],
    "ghostnet_100": [(224, 224), (160, 200)],
    "resmlp_12_224": [(224, 224)],
}
