"""Records timm's facts for the specs of this folder (tests/test_newuser37_attn.py reads them
without timm): the parameter count, the state_dict's keys, shapes and dtypes in order (their
sha256 and a few of them), and the eval output under the RNG-free weights of
tests/parity/weights.py at the spec's input size and at one other size, run in float64 so that
the record holds on any CPU (tests/newuser36/facts.py's record).

Regenerate from the repo root in a venv with timm 1.0.31 (torch 2.14.1):

    python -m tests.newuser37attn.make_fixture
"""

from __future__ import annotations

from tests.newuser36.facts import write_timm_fixture
from tests.newuser37attn.facts import FIXTURE, SIZES
from tests.parity.weights import fill_deterministic


def main() -> None:
    write_timm_fixture(FIXTURE, SIZES, lambda name, state: fill_deterministic(state))


if __name__ == "__main__":
    main()
