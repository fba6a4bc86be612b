"""Records the hand-written references of this folder (references.py) for
tests/test_h44b_networks.py: each one's parameter count, the state_dict's keys, shapes and
dtypes in order, and its eval outputs in float64 (each of a tuple) under the RNG-free weights
of tests/parity/weights.py at each case's calls (the RNG seeded 0 before each call, for the
VAE's sampling), so that a change of torch or of the references shows in the fixture's diff.
torchvision and timm are not used.

Regenerate from the repo root:

    python -m tests.h44b.make_fixture
"""

from __future__ import annotations

import torch

from tests.h44b import references
from tests.h44b.cases import CASES, FIXTURE, make_input
from tests.newuser36.facts import state_dict_facts, write_fixture
from tests.parity.weights import fill_deterministic, output_summary


def main() -> None:
    records = {}
    for name, case in CASES.items():
        reference = getattr(references, case["reference"])()
        state = reference.state_dict()
        reference = reference.double()
        reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
        reference.eval()
        outputs = []
        for call in case["calls"]:
            torch.manual_seed(0)
            with torch.no_grad():
                out = reference(*(make_input(given) for given in call))
            outputs.append([output_summary(o) for o in (out if isinstance(out, tuple) else [out])])
        records[name] = {
            "torch": torch.__version__,
            "param_count": sum(p.numel() for p in reference.parameters()),
            **state_dict_facts(state),
            "outputs": outputs,
        }
    write_fixture(FIXTURE, records)


if __name__ == "__main__":
    main()
