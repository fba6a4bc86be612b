"""What tests/test_newuser37.py compares with timm's record (make_fixture.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tests.newuser36.facts import state_dict_facts as state_dict_facts
from tests.parity.weights import fill_deterministic

HERE = Path(__file__).parent
FIXTURE = HERE / "timm.json"

#: each case: its spec file, the variant and params it is compiled with, the timm model (or
#: timm class and its arguments) it is compared with, and its input sizes: the spec's own,
#: then a non-square one where the spec takes one
CASES: dict[str, dict[str, Any]] = {
    "rexnet_100": {
        "spec": "rexnet_100.yaml",
        "timm": "rexnet_100",
        "sizes": [(224, 224), (160, 200), (1, 1)],
    },
    "hgnetv2_b0": {
        "spec": "hgnetv2_b0.yaml",
        "timm": "hgnetv2_b0",
        "sizes": [(224, 224), (160, 200), (33, 17)],
    },
    "nf_resnet26": {
        "spec": "nf_resnet26.yaml",
        "timm": "nf_resnet26",
        "sizes": [(224, 224), (160, 200), (1, 1)],
    },
    # its 2x2 patches unfolded by unflatten and folded back by unflatten_as: every size
    # whose maps at the three MobileViT blocks are even (57 to 64, modulo 64)
    "mobilevitv2_050": {
        "spec": "mobilevitv2_050.yaml",
        "timm": "mobilevitv2_050",
        "sizes": [(256, 256), (192, 320), (57, 63)],
    },
    # the family's layout at a small width and depth (timm's 768_32 is 20 GMACs at 224)
    "convmixer_small": {
        "spec": "convmixer.yaml",
        "variant": "convmixer_1024_20_ks9_p14",
        "params": {"dim": 64, "depth": 3, "patch_size": 7},
        "timm_class": "timm.models.convmixer.ConvMixer",
        "timm_args": {"dim": 64, "depth": 3, "kernel_size": 9, "patch_size": 7, "act": "gelu"},
        "sizes": [(224, 224), (160, 200), (7, 7)],
    },
    # its LSTMs' batches of rows and columns fold back to the map by `unflatten_as`
    "sequencer2d_s": {
        "spec": "sequencer2d_s.yaml",
        "timm": "sequencer2d_s",
        "sizes": [(224, 224), (160, 200), (14, 14)],
    },
}


def weights(name: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The RNG-free weights of tests/parity/weights.py; HGNetV2's learnable affine scales
    (one number each, filled near 0 as biases are) moved to 1 + that, so the signal is not
    scaled away before the head."""
    filled = fill_deterministic(state)
    if name.startswith("hgnetv2"):
        return {k: v + 1 if k.endswith(".scale") else v for k, v in filled.items()}
    return dict(filled)
