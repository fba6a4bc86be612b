"""Records the hand-written references of this folder (references.py) for
tests/test_h43d_networks.py: each one's parameter count, the state_dict's keys, shapes and
dtypes in order, and its eval outputs in float64 (each of a tuple) under the RNG-free weights
of tests/parity/weights.py at each case's calls, so that a change of torch or of the
references shows in the fixture's diff. torchvision and timm are not used.

Regenerate from the repo root:

    python -m tests.h43d.make_fixture
"""

from __future__ import annotations

from tests.h43d import references
from tests.h43d.cases import CASES, FIXTURE, HERE, make_input
from tests.reference_nets import ReferenceFolder


def main() -> None:
    ReferenceFolder(references, CASES, FIXTURE, HERE, make_input, seeded=False).write_record()


if __name__ == "__main__":
    main()
