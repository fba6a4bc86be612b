"""The cases of tests/newuser_h41e (shared by make_fixture.py and tests/test_h41e_newuser.py):
each spec (and variant), the class of references.py it is, its inputs (a list of shapes per
call, one per input of the network; the smallest the domain `archspec check` states among
them), the domain's words, and one call a size below that edge, which check and torch refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"

_P = [(1, 16, 1, 1)] * 3
CASES: dict[str, dict[str, Any]] = {
    "convnextv2": {"spec": "convnextv2.yaml", "reference": "ConvNeXtV2",
                   "inputs": [[(2, 3, 32, 48)], [(1, 3, 32, 32)]],
                   "domain": "(N, 3, H, W) with H, W >= 32", "outside": [(1, 3, 31, 32)]},
    "mobilevit": {"spec": "mobilevit.yaml", "reference": "MobileViT",
                  "inputs": [[(2, 3, 16, 24)], [(1, 3, 3, 3)]],
                  "domain": "(N, 3, H, W) with H % 4 in {0, 3} and W % 4 in {0, 3}",
                  "outside": [(1, 3, 2, 3)]},
    "deit_distilled": {"spec": "deit_distilled.yaml", "reference": "DistilledVisionTransformer",
                       "inputs": [[(2, 3, 16, 16)], [(1, 3, 16, 19)]],
                       "domain": "(N, 3, H, W) with 16 <= H <= 19 and 16 <= W <= 19, or",
                       "outside": [(1, 3, 15, 16)]},
    "bifpn": {"spec": "bifpn.yaml", "reference": "BiFPN",
              "inputs": [[(2, 16, 16, 24), (2, 16, 8, 12), (2, 16, 4, 6)], _P],
              "domain": "where also (H4 == 2*H5 or H4 == 1) and (W4 == 2*W5 or W4 == 1) and "
                        "(H == 4*H5 or H == 1) and (W == 4*W5 or W == 1)",
              "outside": [(1, 16, 8, 8), (1, 16, 3, 4), (1, 16, 2, 2)]},
    "unetpp": {"spec": "unetpp.yaml", "reference": "NestedUNet",
               "inputs": [[(2, 3, 16, 24)], [(1, 3, 8, 8)]],
               "domain": "(N, 3, H, W) with H % 8 == 0 and W % 8 == 0",
               "outside": [(1, 3, 7, 8)]},
    "squeezenet_bypass": {"spec": "squeezenet_bypass.yaml", "reference": "SqueezeNetBypass",
                          "inputs": [[(2, 3, 32, 40)], [(1, 3, 21, 21)]],
                          "domain": "(N, 3, H, W) with H, W >= 21", "outside": [(1, 3, 20, 21)]},
    "wav2letter": {"spec": "wav2letter.yaml", "variant": "wav2letter", "reference": "Wav2Letter",
                   "inputs": [[(2, 1, 1000)], [(1, 1, 320)]],
                   "domain": "(N, 1, L) with L >= 320", "outside": [(1, 1, 319)]},
    "wav2letter_mfcc": {"spec": "wav2letter.yaml", "variant": "wav2letter_mfcc",
                        "reference": "Wav2LetterMfcc", "inputs": [[(2, 13, 50)], [(1, 13, 2)]],
                        "domain": "(N, 13, L) with L >= 2", "outside": [(1, 13, 1)]},
    "yolov5_backbone": {"spec": "yolov5_backbone.yaml", "reference": "YoloBackbone",
                        "inputs": [[(2, 3, 64, 48)], [(1, 3, 2, 2)]],
                        "domain": "(N, 3, H, W) with H, W >= 2", "outside": [(1, 3, 1, 2)]},
    # its stride-2 MBConv adds a conv's (H + 3)//4 rows to a pool's (H + 1)//4: torch
    # broadcasts where one is 1, so the sum has no one shape for a symbolic input (E402): the
    # spec declares its size, and check states no domain (W403) but checks others given
    "coatnet": {"spec": "coatnet.yaml", "reference": "CoAtNet",
                "inputs": [[(2, 3, 16, 16)], [(1, 3, 15, 15)]], "warnings": ["W403"],
                "domain": "coatnet: the accepted inputs are unknown", "outside": [(1, 3, 14, 16)]},
}  # fmt: skip
