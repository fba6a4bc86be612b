"""Records the hand-written references of this folder (references.py) for
tests/test_h41e_newuser.py: each one's parameter count, the state_dict's keys, shapes and
dtypes in order, and its eval outputs (each of a tuple) under the RNG-free weights of
tests/parity/weights.py at each case's inputs, so that a change of torch or of the references
shows in the fixture's diff. A record is only written for a pair whose state_dicts load into
each other strictly. The outputs are computed in float64: a float32 record of a deep network
differs from one CPU's kernels to another's by more than the comparison allows
(tests/newuser40/make_fixture.py), float64's do not.

Regenerate from the repo root (torch 2.14.1):

    python -m tests.newuser_h41e.make_fixture
"""

from __future__ import annotations

import torch

import archspec
from tests.newuser36.facts import state_dict_facts, write_fixture
from tests.newuser_h41e import references
from tests.newuser_h41e.cases import CASES, FIXTURE, HERE
from tests.parity.weights import deterministic_input, fill_deterministic, output_summary


def main() -> None:
    records = {}
    for name, case in CASES.items():
        reference = getattr(references, case["reference"])()
        ours = archspec.compile(str(HERE / case["spec"]), variant=case.get("variant"))
        reference.load_state_dict(ours.state_dict(), strict=True)
        ours.load_state_dict(reference.state_dict(), strict=True)
        state = reference.state_dict()
        facts = state_dict_facts(state)  # of the float32 network, before it is widened
        reference.load_state_dict(fill_deterministic(state), strict=True)
        reference.eval().double()  # float64: the record holds on any CPU (see above)
        outputs = []
        for shapes in case["inputs"]:
            with torch.no_grad():
                out = reference(*(deterministic_input(s).double() for s in shapes))
            outputs.append([output_summary(o) for o in (out if isinstance(out, tuple) else [out])])
        records[name] = {
            "torch": torch.__version__,
            "param_count": sum(p.numel() for p in reference.parameters()),
            **facts,
            "outputs": outputs,
        }
    write_fixture(FIXTURE, records)


if __name__ == "__main__":
    main()
