"""Generate tests/parity/legacy.json: what torchvision's MNASNet does with a version-1
state_dict (saved before the stem scaled with alpha), for tests/test_legacy_versions.py.

Run in a venv with torchvision (see README.md beside this file), from the repository root::

    /tmp/tvenv/bin/python -m tests.parity.make_legacy

For each MNASNet, a version-1 checkpoint is loaded into torchvision's model (its
`_load_from_state_dict` rebuilds the stem in the version-1 layout when alpha != 1 and warns);
the record keeps the rebuilt model's state_dict (key, shape), its root `_version`, its float64 eval
output's summary under deterministic weights, and the warnings. No weights are downloaded,
and running it twice gives the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torchvision.models import mnasnet

from .weights import deterministic_input, fill_deterministic, output_summary

HERE = Path(__file__).resolve().parent
OUT = HERE / "legacy.json"
#: two widths that are rebuilt (below and above 1) and the one that is not
MODELS = ("mnasnet0_5", "mnasnet1_0", "mnasnet1_3")


def _v1_state(alpha: float) -> dict[str, Any]:
    """A version-1 state_dict of MNASNet(alpha): torchvision rebuilds the stem when asked to
    load one, so load the current model's metadata as version 1 (shapes are ignored: the
    load fails after the rebuild), then read the rebuilt model back."""
    model = mnasnet.MNASNet(alpha)
    state = model.state_dict()
    state._metadata[""]["version"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the stem's shapes differ when alpha != 1, so the load fails after the rebuild
        with contextlib.suppress(RuntimeError):
            model.load_state_dict(state)
    return model.state_dict()


def record(name: str) -> dict[str, Any]:
    alpha = {"mnasnet0_5": 0.5, "mnasnet1_0": 1.0, "mnasnet1_3": 1.3}[name]
    state = _v1_state(alpha)
    model = mnasnet.MNASNet(alpha)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_state_dict(state)
    current = model.state_dict()
    filled = OrderedDict(fill_deterministic(current))
    filled._metadata = current._metadata  # type: ignore[attr-defined]
    model.load_state_dict(filled)
    model = model.double().eval()
    with torch.no_grad():
        out = model(deterministic_input((1, 3, 224, 224)).double())
    return {
        "alpha": alpha,
        "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()],
        "root_version": model.state_dict()._metadata[""]["version"],
        "warnings": [str(w.message) for w in caught],
        "output": output_summary(out),
    }


def main() -> None:
    models = {n: record(n) for n in MODELS}
    lines = [f" {json.dumps(n)}: {json.dumps(r, separators=(',', ':'))}" for n, r in models.items()]
    head = json.dumps(torch.__version__)
    text = f'{{"torch": {head}, "models": {{\n' + ",\n".join(lines) + "\n}}\n"
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
