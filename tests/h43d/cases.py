"""The cases of tests/h43d (tests/test_h43d_networks.py and make_fixture.py): each spec,
the class of references.py it is, its calls (one list of inputs per call, each input a
float tensor's shape, an int64 tensor's shape and bound, or a named maker's), the smallest
accepted sizes among them where the domain has an edge, the words of the domain `archspec
check` states, the warnings it gives, and one call outside that domain, which check and
torch both refuse (None where torch runs every call of the declared ranks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tests.parity.weights import deterministic_input

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"


def _mask(shape: tuple[int, ...]) -> torch.Tensor:
    """N-BEATS's input mask: ones, with every third step of the series missing."""
    return (torch.arange(shape[-1]) % 3 != 1).to(torch.float64).expand(shape).contiguous()


def _sparse(shape: tuple[int, ...]) -> torch.Tensor:
    """DCN's sparse features: column j below its field's cardinality (10, 20, 30)."""
    cards = torch.tensor([10, 20, 30])
    return (torch.arange(shape[0] * shape[1]).reshape(shape) * 7 + 3) % cards


MAKERS = {"mask": _mask, "sparse": _sparse}


def make_input(given: Any) -> torch.Tensor:
    """One input: ("f", shape) floats in float64, ("i", shape, bound) int64 ids below the
    bound, (maker, shape) a named maker's tensor; all without the RNG."""
    kind, shape = given[0], tuple(given[1])
    if kind == "f":
        return deterministic_input(shape).to(torch.float64)
    if kind == "i":
        return (torch.arange(int(torch.tensor(shape).prod())) * 7 + 1).reshape(shape) % given[2]
    return MAKERS[kind](shape)


CASES: dict[str, dict[str, Any]] = {
    "nbeats": {"reference": "NBeats",
               "calls": [[("f", (2, 12)), ("mask", (2, 12))], [("f", (1, 12)), ("mask", (1, 12))]],
               "domain": "nbeats accepts x (N, 12), input_mask (N, 12)",
               "outside": [("f", (1, 11)), ("mask", (1, 11))]},
    "neumf": {"reference": "NCF",
              "calls": [[("i", (3,), 50), ("i", (3,), 80)], [("i", (1,), 50), ("i", (1,), 80)]],
              "domain": "neumf accepts user (N) int64, item (N) int64", "outside": None},
    "dcn_v2": {"reference": "DCNv2",
               "calls": [[("f", (3, 4)), ("sparse", (3, 3))], [("f", (1, 4)), ("sparse", (1, 3))]],
               "domain": "dcn_v2 accepts dense (N, 4), sparse (N, 3) int64",
               "outside": [("f", (1, 5)), ("sparse", (1, 3))]},
    "gcn": {"reference": "GCN",
            "calls": [[("f", (2, 5, 8)), ("f", (2, 5, 5))], [("f", (1, 1, 8)), ("f", (1, 1, 1))]],
            "domain": "gcn accepts x (N, V, 8), adj (N, V, V) with V >= 1",
            "outside": [("f", (1, 5, 8)), ("f", (1, 4, 4))]},
    "set_transformer": {"reference": "SetTransformer",
                        "calls": [[("f", (2, 7, 3))], [("f", (1, 1, 3))]],
                        "domain": "set_transformer accepts (N, S, 3) with S >= 1",
                        "outside": [("f", (1, 5, 4))]},
    # the skip_layer of a Residual of equal widths is made and never called, as the original's
    "hourglass": {"reference": "PoseNet",
                  "calls": [[("f", (2, 18, 33, 3))], [("f", (1, 15, 15, 3))]],
                  "domain": "hourglass accepts (N, H, W, 3) with H >= 15 with H % 16 in "
                            "{0, 1, 2, 15} and W >= 15 with W % 16 in {0, 1, 2, 15}",
                  "warnings": ["W401"], "outside": [("f", (1, 19, 16, 3))]},
}  # fmt: skip
