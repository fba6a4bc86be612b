"""Records timm's facts for the specs of this folder (tests/test_newuser37_attn.py reads them
without timm): the parameter count, the state_dict's keys, shapes and dtypes in order (their
sha256 and a few of them), and the eval output under the RNG-free weights of
tests/parity/weights.py at the spec's input size and at one other size.

Regenerate from the repo root in a venv with timm 1.0.31 (torch 2.14.1):

    python -m tests.newuser37attn.make_fixture
"""

from __future__ import annotations

import json
from pathlib import Path

import timm
import torch

from tests.newuser37attn.facts import FIXTURE, SIZES, state_dict_facts
from tests.parity.weights import deterministic_input, fill_deterministic, output_summary


def main() -> None:
    records = {}
    for name, sizes in SIZES.items():
        model = timm.create_model(name).eval()
        state = model.state_dict()
        model.load_state_dict(fill_deterministic(state), strict=True)
        outputs = []
        with torch.no_grad():
            for size in sizes:
                outputs.append(output_summary(model(deterministic_input((1, 3, *size)))))
        records[name] = {
            "timm": timm.__version__,
            "param_count": sum(p.numel() for p in model.parameters()),
            **state_dict_facts(state),
            "outputs": outputs,
        }
    lines = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in records.items()]  # a model a line
    Path(FIXTURE).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
