"""The cases of tests/h44b (tests/test_h44b_networks.py and make_fixture.py): each spec, the
class of references.py it is, its calls (one list of inputs per call, each input a float
tensor's shape or an int64 tensor's shape and bound), the words of the domain `archspec
check` states, and one call outside that domain, which check and torch both refuse (None
where torch runs every call of the declared ranks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tests.parity.weights import deterministic_input

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"


def make_input(given: Any) -> torch.Tensor:
    """One input: ("f", shape) floats in float64, ("i", shape, bound) int64 ids below the
    bound, ("adj", shape) a graph's 0/1 adjacency in float64 (self loops and every third
    pair); all without the RNG."""
    kind, shape = given[0], tuple(given[1])
    if kind == "f":
        return deterministic_input(shape).to(torch.float64)
    if kind == "adj":
        pairs = torch.arange(shape[0] * shape[1]).reshape(shape)
        return ((pairs * 7 % 3 == 0) | torch.eye(*shape, dtype=torch.bool)).to(torch.float64)
    return (torch.arange(int(torch.tensor(shape).prod())) * 7 + 1).reshape(shape) % given[2]


CASES: dict[str, dict[str, Any]] = {
    "seq2seq_transformer": {
        "reference": "Seq2SeqTransformer",
        "calls": [[("i", (7, 2), 50), ("i", (5, 2), 60)], [("i", (1, 1), 50), ("i", (1, 1), 60)]],
        "domain": "seq2seq_transformer accepts src (S, N) int64, tgt (T, N) int64 with "
                  "1 <= S <= 64 and 1 <= T <= 64",
        "outside": [("i", (65, 1), 50), ("i", (3, 1), 60)]},
    "cbam_resnet": {"reference": "CBAMResNet",
                    "calls": [[("f", (2, 3, 12, 10))], [("f", (1, 3, 1, 1))]],
                    "domain": "cbam_resnet accepts (N, 3, H, W) with H, W >= 1",
                    "outside": [("f", (1, 4, 8, 8))]},
    "conv_vae": {"reference": "VanillaVAE",
                 "calls": [[("f", (2, 3, 16, 16))], [("f", (1, 3, 13, 13))]],
                 "domain": "13 <= H <= 16 and 13 <= W <= 16",
                 "outside": [("f", (1, 3, 12, 16))]},
    "attention_unet": {"reference": "AttU_Net",
                       "calls": [[("f", (2, 3, 12, 8))], [("f", (1, 3, 4, 4))]],
                       "domain": "attention_unet accepts (N, 3, H, W) with H % 4 == 0 "
                                 "and W % 4 == 0",
                       "outside": [("f", (1, 3, 6, 8))]},
    "gat": {"reference": "GAT",
            "calls": [[("f", (5, 12)), ("adj", (5, 5))], [("f", (1, 12)), ("adj", (1, 1))]],
            "domain": "gat accepts x (V, 12), adj (V, V)",
            "outside": [("f", (5, 12)), ("adj", (4, 4))]},
    "film": {"reference": "FiLMNet",
             "calls": [[("f", (2, 3, 6, 5)), ("f", (2, 16))],
                       [("f", (1, 3, 1, 1)), ("f", (1, 16))]],
             "domain": "film accepts x (N, 3, H, W), q (N, 16) with H, W >= 1",
             "outside": [("f", (1, 3, 4, 4)), ("f", (1, 15))]},
    "moe": {"reference": "MoE",
            "calls": [[("f", (3, 16))], [("f", (1, 16))]],
            "domain": "moe accepts (N, 16)",
            "outside": [("f", (1, 15))]},
    "nonlocal_net": {"reference": "NonLocalNet",
                     "calls": [[("f", (2, 3, 12, 8))], [("f", (1, 3, 4, 5))]],
                     "domain": "nonlocal_net accepts (N, 3, H, W) with H, W >= 4",
                     "outside": [("f", (1, 3, 3, 8))]},
}  # fmt: skip
