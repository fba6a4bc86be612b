"""Records timm's facts for the specs of this folder (tests/test_newuser36_models.py reads them
without timm): the parameter count, the state_dict's keys, shapes and dtypes in order (their
sha256 and a few of them), and the eval output under the RNG-free weights of
tests/parity/weights.py (facts.weights) at the spec's input size and at one non-square size,
run in float64 so that the record holds on any CPU (facts.record).

Regenerate from the repo root in a venv with timm 1.0.31 (torch 2.14.1):

    python -m tests.newuser36.make_fixture
"""

from __future__ import annotations

from tests.newuser36.facts import FIXTURE, SIZES, write_timm_fixture


def main() -> None:
    write_timm_fixture(FIXTURE, SIZES)


if __name__ == "__main__":
    main()
