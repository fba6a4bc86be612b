"""Records timm's facts for the specs of this folder (tests/test_newuser44.py reads them
without timm), as tests/newuser36/make_fixture.py does for its folder: the parameter count,
the state_dict's facts and float64 eval outputs under the RNG-free weights at each size.

Regenerate from the repo root in a venv with timm 1.0.31 (torch 2.14.1):

    python -m tests.newuser44.make_fixture
"""

from __future__ import annotations

from tests.newuser36.facts import write_timm_fixture
from tests.newuser44.cases import FIXTURE, SIZES


def main() -> None:
    write_timm_fixture(FIXTURE, SIZES)


if __name__ == "__main__":
    main()
