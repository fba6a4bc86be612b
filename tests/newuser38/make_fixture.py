"""Records the references' facts for the torchvision and timm cases of this folder
(tests/test_newuser38.py reads them without torchvision or timm): the parameter count, the
state_dict's keys, shapes and dtypes in order (their sha256 and a few of them), and the eval
output under the RNG-free weights of tests/parity/weights.py at each case's input shapes, run
in float64 so that the record holds on any CPU (facts.record).
It also loads each spec's state_dict into the reference strictly, and the reference's into
the spec's, so a record is only written for a pair that loads both ways.

Regenerate from the repo root in a venv with torchvision 0.29.1 and timm 1.0.31 (torch 2.14.1):

    python -m tests.newuser38.make_fixture
"""

from __future__ import annotations

import timm
import torchvision
from torch import nn
from torchvision.models import video

import archspec
from tests.newuser36.facts import write_fixture
from tests.newuser38.facts import FIXTURE, HERE, RECORDED, options, record


def build(case: dict[str, object]) -> nn.Module:
    """The case's reference model."""
    if "timm" in case:
        return timm.create_model(str(case["timm"]))
    return getattr(video, str(case["torchvision"]))()


def main() -> None:
    records = {}
    for name, case in RECORDED.items():
        reference = build(case)
        ours = archspec.compile(str(HERE / case["spec"]), **options(case))
        reference.load_state_dict(ours.state_dict(), strict=True)
        ours.load_state_dict(reference.state_dict(), strict=True)
        source = {"timm": timm.__version__} if "timm" in case else {}
        records[name] = {
            **(source or {"torchvision": torchvision.__version__}),
            **record(reference, case["inputs"]),
        }
    write_fixture(FIXTURE, records)


if __name__ == "__main__":
    main()
