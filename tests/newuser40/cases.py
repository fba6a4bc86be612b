"""The cases of tests/newuser40 (shared by make_fixture.py and tests/test_newuser40.py): each
spec, the class of references.py it is, and its inputs (a list of shapes per call, one per
input of the network), the smallest the domain `archspec check` states among them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tests.parity.weights import deterministic_input

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"

CASES: dict[str, dict[str, Any]] = {
    "pix2pix_unet": {"spec": "pix2pix_unet.yaml", "reference": "UnetGenerator",
                     "inputs": [[(2, 3, 64, 128)], [(1, 3, 65, 129)]]},
    "patchgan": {"spec": "patchgan.yaml", "reference": "ConditionalPatchGAN",
                 "inputs": [[(2, 3, 64, 48), (2, 3, 64, 48)], [(1, 3, 24, 31), (1, 3, 24, 31)]]},
    "cyclegan_resnet": {"spec": "cyclegan_resnet.yaml", "reference": "ResnetGenerator",
                        "inputs": [[(2, 3, 40, 37)], [(1, 3, 5, 5)]]},
    "mlp_mixer": {"spec": "mlp_mixer.yaml", "reference": "MlpMixer",
                  "inputs": [[(2, 3, 32, 32)], [(1, 3, 16, 71)], [(1, 3, 135, 8)]]},
    "poolformer": {"spec": "poolformer.yaml", "reference": "PoolFormer",
                   "inputs": [[(2, 3, 32, 48)], [(1, 3, 3, 3)]]},
    "ghostnet": {"spec": "ghostnet.yaml", "reference": "GhostNet",
                 "inputs": [[(2, 3, 32, 48)], [(1, 3, 1, 1)]]},
    "repvgg": {"spec": "repvgg.yaml", "reference": "RepVGG",
               "inputs": [[(2, 3, 32, 48)], [(1, 3, 1, 1)]]},
    "nerf": {"spec": "nerf.yaml", "reference": "NeRF", "inputs": [[(5, 6)], [(1, 6)]]},
    "unet3d": {"spec": "unet3d.yaml", "reference": "UNet3D",
               "inputs": [[(2, 1, 8, 12, 16)], [(1, 1, 4, 4, 4)]]},
    "se_resnext": {"spec": "se_resnext.yaml", "reference": "SEResNeXt",
                   "inputs": [[(2, 3, 32, 48)], [(1, 3, 3, 3)]]},
    "nanogpt": {"spec": "nanogpt.yaml", "reference": "GPT",
                "inputs": [[(2, 11)], [(1, 16)], [(1, 1)]], "dtype": "int64"},
}  # fmt: skip


def example(shape: tuple[int, ...], dtype: str = "float32") -> torch.Tensor:
    """A deterministic input: token ids below the references' vocabulary of 500, or floats."""
    if dtype == "int64":
        return torch.arange(torch.Size(shape).numel()).reshape(shape) * 7 % 500
    return deterministic_input(shape)


def wide_example(shape: tuple[int, ...], case: dict) -> torch.Tensor:
    """The case's input for a float64 run of its network (token ids stay int64)."""
    x = example(shape, case.get("dtype", "float32"))
    return x if x.dtype == torch.int64 else x.double()
