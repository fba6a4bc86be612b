"""Records timm's facts for the specs of this folder (tests/test_newuser37.py reads them
without timm): the parameter count, the state_dict's keys, shapes and dtypes in order (their
sha256 and a few of them), and the eval output under the RNG-free weights of
tests/parity/weights.py (facts.weights) at each case's input sizes, run in float64 so that the
record holds on any CPU (tests/newuser36/facts.py's record).

Regenerate from the repo root in a venv with timm 1.0.31 (torch 2.14.1):

    python -m tests.newuser37.make_fixture
"""

from __future__ import annotations

import importlib
from typing import Any

import timm
from torch import nn

from tests.newuser36.facts import record, write_fixture
from tests.newuser37.facts import CASES, FIXTURE, weights


def build(case: dict[str, Any]) -> nn.Module:
    """timm's model of the case: by its registered name, or its class and arguments."""
    if "timm" in case:
        return timm.create_model(case["timm"])
    module, _, name = case["timm_class"].rpartition(".")
    args = dict(case["timm_args"])
    args["act_layer"] = {"gelu": nn.GELU, "relu": nn.ReLU}[args.pop("act")]
    return getattr(importlib.import_module(module), name)(**args)


def main() -> None:
    records = {}
    for name, case in CASES.items():
        model = build(case)
        filled = weights(name, model.state_dict())
        records[name] = record(model, filled, case["sizes"], timm.__version__)
    write_fixture(FIXTURE, records)


if __name__ == "__main__":
    main()
