"""Records the hand-written references of this folder (references.py) for
tests/test_newuser40.py: each one's parameter count, the state_dict's keys, shapes and dtypes
in order, and its eval outputs under the RNG-free weights of tests/parity/weights.py at each
case's inputs, so that a change of torch or of the references shows in the fixture's diff.
The outputs are computed in float64: a float32 record of a deep network differs from one
CPU's kernels to another's by more than the comparison allows (CycleGAN's instance norms
over a 5x5 map: 1.4e-4 in an output sum between an AVX2 machine and the one that made the
float32 record), while float64's differences are far below it.
It loads each spec's state_dict into the reference strictly, and the reference's into the
spec's, so a record is only written for a pair that loads both ways.

Regenerate from the repo root (torch 2.14.1):

    python -m tests.newuser40.make_fixture
"""

from __future__ import annotations

import torch

import archspec
from tests.newuser36.facts import state_dict_facts, write_fixture
from tests.newuser40 import references
from tests.newuser40.cases import CASES, FIXTURE, HERE, wide_example
from tests.parity.weights import fill_deterministic, output_summary


def main() -> None:
    records = {}
    for name, case in CASES.items():
        reference = getattr(references, case["reference"])()
        ours = archspec.compile(str(HERE / case["spec"]))
        reference.load_state_dict(ours.state_dict(), strict=True)
        ours.load_state_dict(reference.state_dict(), strict=True)
        state = reference.state_dict()
        reference.load_state_dict(fill_deterministic(state), strict=True)
        reference.eval().double()  # float64: the record holds on any CPU (see below)
        with torch.no_grad():
            outputs = [
                output_summary(reference(*(wide_example(s, case) for s in shapes)))
                for shapes in case["inputs"]
            ]
        records[name] = {
            "torch": torch.__version__,
            "param_count": sum(p.numel() for p in reference.parameters()),
            **state_dict_facts(state),
            "outputs": outputs,
        }
    write_fixture(FIXTURE, records)


if __name__ == "__main__":
    main()
