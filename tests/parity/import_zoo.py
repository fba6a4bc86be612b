"""Issue 18's sweep: import every torchvision classification model and check the spec.

Run from the repo root in a venv with torchvision (and archspec's own dependencies):

    PYTHONPATH=$PWD /path/to/tvenv/bin/python -m tests.parity.import_zoo [--only a,b]

For each of the 80 builders (the 68 CNNs of ``make_zoo.py`` plus ViT, Swin and MaxViT),
``archspec.from_module`` imports the model built on the meta device; a spec that comes back is
compiled, given the model's ``fill_deterministic`` weights, and compared with the model:
state_dict keys, shapes and order, the eval output on ``deterministic_input`` (1e-5 relative
to the output's largest magnitude; CNNs at the zoo's odd 83x99 input), and archspec's summary
params and MACs of the spec against those of the module at the declared input (224, and 299
for inception_v3, whose training-only head needs it). ``import_zoo.json`` gets one line per
model: ``pass`` and the spec's line count, or ``fail`` with why (the import's diagnostics,
paths shortened to the package, or the first comparison that failed).
tests/test_importer.py reads it without torchvision.
"""

from __future__ import annotations

import argparse
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torchvision
import yaml

import archspec
from archspec.errors import ArchSpecError

from .make_zoo import _FAMILIES, build_meta
from .records import sweep
from .weights import deterministic_input, fill_deterministic

HERE = Path(__file__).resolve().parent
IMPORT_ZOO_JSON = HERE / "import_zoo.json"

TRANSFORMERS = [
    *(f"vit_{s}" for s in ("b_16", "b_32", "l_16", "l_32", "h_14")),
    *(f"swin_{s}" for s in ("t", "s", "b", "v2_t", "v2_s", "v2_b")),
    "maxvit_t",
]
CNNS = [n for names in _FAMILIES.values() for n in names if n not in TRANSFORMERS]
MODELS = CNNS + TRANSFORMERS
#: CNNs take the zoo's odd, non-square input; transformers their fixed 224 (vit_h_14: 224 too).
CNN_INPUT = (1, 3, 83, 99)
TRANSFORMER_INPUT = (1, 3, 224, 224)
RTOL = 1e-5

_SITE = re.compile(r"(?:/[^\s:]*)?/(?:site|dist)-packages/")


def _short(text: str) -> str:
    """Machine paths cut to the package (`torchvision/models/googlenet.py:172`)."""
    return _SITE.sub("", text)


def _reason(exc: ArchSpecError) -> list[str]:
    out = []
    for d in exc.diagnostics:
        where = f"{_short(str(d.span))}: " if d.span else ""
        out.append(f"{where}{d.code}: {_short(d.message)}")
    return out


def check_model(name: str) -> dict[str, Any]:
    declared = (1, 3, 299, 299) if name == "inception_v3" else (1, 3, 224, 224)
    shape = TRANSFORMER_INPUT if name in TRANSFORMERS else CNN_INPUT
    record: dict[str, Any] = {"model": name, "input": list(shape)}
    meta = build_meta(name, {})
    record["class"] = type(meta).__name__
    try:
        text = archspec.from_module(meta, torch.empty(declared, device="meta"), name=name)
    except ArchSpecError as exc:
        return {**record, "status": "fail", "codes": exc.codes, "why": _reason(exc)}
    record["lines"] = len(text.splitlines())
    spec = yaml.safe_load(text)
    record["blocks"] = sorted(spec.get("blocks") or {})
    record["repeats"] = text.count("type: repeat")
    twin = archspec.compile(text, device="meta", max_params=None, max_activations=None).eval()
    ours = [(k, tuple(v.shape)) for k, v in twin.state_dict().items()]
    theirs = [(k, tuple(v.shape)) for k, v in meta.state_dict().items()]
    if ours != theirs:
        return {**record, "status": "fail", "why": ["state_dict keys/shapes/order differ"]}
    batch2 = (2, *declared[1:])  # train mode (as a spec's summary counts): BN needs 2 values
    spec_sum = archspec.summary(text, input=batch2)
    mod_sum = archspec.summary(meta, input_size=batch2)
    state = meta.state_dict()
    weights = fill_deterministic(state)
    weights = OrderedDict(weights)
    weights._metadata = state._metadata  # type: ignore[attr-defined]  (MNASNet reads it)
    model = meta.to_empty(device="cpu")
    model.load_state_dict(weights)
    twin = twin.to_empty(device="cpu")
    twin.load_state_dict(weights)
    x = deterministic_input(shape)
    with torch.no_grad():
        want, got = model(x), twin(x)
    scale = float(want.abs().max()) or 1.0
    rel = float((got - want).abs().max()) / scale
    record["output_rel_err"] = rel
    record["params"] = [spec_sum.params, mod_sum.params]
    record["macs"] = [int(spec_sum.macs.value), int(mod_sum.macs.value)]
    problems = []
    if not rel <= RTOL:
        problems.append(f"eval outputs differ: {rel:.3g} relative")
    if spec_sum.params != mod_sum.params:
        problems.append(f"params {spec_sum.params} vs {mod_sum.params}")
    if spec_sum.macs != mod_sum.macs:
        problems.append(f"MACs {spec_sum.macs} vs {mod_sum.macs}")
    status = "fail" if problems else "pass"
    return {**record, "status": status, **({"why": problems} if problems else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated model names")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else MODELS
    torch.set_num_threads(1)
    records = sweep(IMPORT_ZOO_JSON, MODELS, names, check_model, crash="fail")
    passed = sum(r["status"] == "pass" for r in records.values())
    print(f"{passed}/{len(records)} pass; torchvision {torchvision.__version__}")


if __name__ == "__main__":
    main()
