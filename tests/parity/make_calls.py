"""Record torchvision's Python calls per forward for the zoo into zoo_calls.json.

Run from the repository root in a venv with torchvision (the one make_fixture.py uses):

    /tmp/tvenv/bin/python -m tests.parity.make_calls [--only a,b]

``--only`` recounts some models and keeps the other counts of the file.

Each model of zoo.json is built as its record's builder call (`@DEFAULT` records with the
kwargs torchvision's weights set), its weights zeroed (the count does not depend on
their values, and zeros cost no init time), and run in eval mode on the record's output input
`(1, 3, 83, 99)`; calls.python_calls counts the second forward.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torchvision

from .calls import python_calls

HERE = Path(__file__).resolve().parent


def count_model(record: dict) -> int:
    """torchvision's count for one zoo record."""
    builder = getattr(torchvision.models, record["builder"])
    with torch.device("meta"):
        try:
            model = builder(weights=None, **record["kwargs"])
        except NotImplementedError:  # RegNet reads its widths back from torch ops
            model = None
    if model is None:
        model = builder(weights=None, **record["kwargs"])
    else:
        model = model.to_empty(device="cpu")
    with torch.no_grad():
        for t in model.state_dict().values():
            t.zero_()
    x = torch.zeros(tuple(record["output"]["input_shape"]))
    return python_calls(model, x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.parity.make_calls")
    parser.add_argument("--only", help="comma-separated zoo models to (re)count")
    args = parser.parse_args(argv)
    zoo = json.loads((HERE / "zoo.json").read_text())["models"]
    path = HERE / "zoo_calls.json"
    kept: dict[str, int] = {}
    if args.only:
        only = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = sorted(only - set(zoo))
        if unknown:
            parser.error(f"not in zoo.json: {', '.join(unknown)}")
        if path.exists():
            kept = json.loads(path.read_text())["models"]
        kept = {n: c for n, c in kept.items() if n in zoo and n not in only}
        zoo = {n: r for n, r in zoo.items() if n in only}
    out = {
        "generator": {
            "script": "tests/parity/make_calls.py",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "what": "sys.setprofile 'call' events in one eval forward at the output input",
        },
        "models": {},
    }
    out["models"].update(kept)
    for name, record in zoo.items():
        out["models"][name] = count_model(record)
        print(name, out["models"][name], file=sys.stderr)
    text = json.dumps(out, indent=1, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
