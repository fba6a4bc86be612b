"""Imports torchvision's lraspp_mobilenet_v3_large and resnet_fpn_backbone("resnet18") with
`archspec.import_factory` into this folder's specs, and records each model for
tests/test_h41c_several.py, which needs no torchvision: its parameter count, the state_dict's
keys, shapes and dtypes in order, and what forward returns in eval mode under the RNG-free
weights of tests/parity/weights.py at each input size (its type, its keys in order and a
summary of each value), computed in float64: a float32 record of a deep network differs from
one CPU's kernels to another's by more than the comparison allows
(tests/newuser40/make_fixture.py), float64's do not. No weights are read.

Regenerate from the repo root in a venv with torchvision 0.29.1 (torch 2.14.1):

    python -m tests.h41c.make_fixture
"""

from __future__ import annotations

import importlib

import torch
import torchvision

import archspec
from tests.h41c.cases import FIXTURE, HERE, RECORDED
from tests.newuser36.facts import state_dict_facts, write_fixture
from tests.parity.weights import deterministic_input, fill_deterministic, output_summary


def main() -> None:
    records = {}
    for name, case in RECORDED.items():
        module, _, factory = case["factory"].partition(":")
        reference = getattr(importlib.import_module(module), factory)(**case["args"])
        args = [f"{k}={'null' if v is None else v}" for k, v in case["args"].items()]
        text = archspec.import_factory(case["factory"], args, name=name)
        (HERE / f"{name}.yaml").write_text(text, encoding="utf-8")
        state = reference.state_dict()
        facts = state_dict_facts(state)  # of the float32 network, before it is widened
        reference.load_state_dict(fill_deterministic(state), strict=True)
        reference.eval().double()  # float64: the record holds on any CPU (see above)
        returned = []
        with torch.no_grad():
            for shape in case["inputs"]:
                out = reference(deterministic_input(shape).double())
                returned.append(
                    {
                        "type": type(out).__name__,
                        "keys": list(out),
                        "values": [output_summary(v) for v in out.values()],
                    }
                )
        records[name] = {
            "torchvision": torchvision.__version__,
            "param_count": sum(p.numel() for p in reference.parameters()),
            "frozen": [n for n, p in reference.named_parameters() if not p.requires_grad],
            **facts,
            "returned": returned,
        }
    write_fixture(FIXTURE, records)


if __name__ == "__main__":
    main()
