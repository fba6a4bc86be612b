"""Generate archspec/library/weights.json (torchvision's pretrained weights tables) and
tests/parity/transforms.json (what torchvision's preset transforms give on fixed images).

Run in a venv with torchvision (see README.md beside this file), from the repository root::

    /tmp/tvenv/bin/python -m tests.parity.make_weights

Nothing is downloaded: the weights enums of torchvision 0.29.1 are read as data (file names,
the transform each builds, the metadata) for every model of tests/parity/zoo.json, and what
each builder does when it is given weights (tests/parity/README.md, the zoo's `@DEFAULT`
records) is written beside them. The 1000 ImageNet category names are stored once.
Running it twice gives the same bytes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch
import torchvision
from torchvision.models import get_model_weights
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import ImageClassification

from .images import fixture_image, tensor_summary

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WEIGHTS_JSON = ROOT / "archspec" / "library" / "weights.json"
TRANSFORMS_JSON = HERE / "transforms.json"
BASE_URL = "https://download.pytorch.org/models/"

#: torchvision names archspec ships under another name (tests/test_zoo_parity.py's RENAMED)
RENAMED = {"alexnet": "alexnet_torchvision"}

#: what a builder does with weights besides setting num_classes from the categories (read
#: from torchvision/models/googlenet.py, inception.py and densenet.py):
#: `set` are params set when the caller did not pass them; `size` is the param set to the
#: weights' `min_size` (ViT's `image_size`, as vision_transformer.py overwrites it); `drop`
#: lists, per bool param, the checkpoint key prefixes discarded when that param is false
#: (the aux heads are in the file and torchvision removes them after a strict load);
#: `warn` is the warning
#: torchvision gives when the param is true; `rename` is DenseNet's fix of its old keys.
BUILDERS: dict[str, dict[str, Any]] = {
    "googlenet": {
        "set": {"transform_input": True, "aux_logits": False},
        "drop": {"aux_logits": ["aux1.", "aux2."]},
        "warn": {
            "aux_logits": "auxiliary heads in the pretrained googlenet model are NOT "
            "pretrained, so make sure to train them"
        },
    },
    "inception_v3": {
        "set": {"transform_input": True, "aux_logits": True},
        "drop": {"aux_logits": ["AuxLogits."]},
    },
}
DENSENET_RENAME = [
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$",
    r"\1\2",
]


def _number(x: float) -> float | None:
    return None if math.isnan(x) else x


def _entry(w: Any, imagenet: list[str]) -> dict[str, Any]:
    assert w.url.startswith(BASE_URL), w.url
    t = w.transforms()
    assert isinstance(t, ImageClassification) and t.antialias is True
    meta = w.meta
    cats = meta["categories"]
    assert cats is None or cats == imagenet, w
    (metrics,) = meta["_metrics"].values()
    assert list(meta["_metrics"]) == ["ImageNet-1K"]
    return {
        "file": w.url[len(BASE_URL) :],
        "categories": None if cats is None else "imagenet1k",
        "num_params": meta["num_params"],
        "min_size": list(meta["min_size"]),
        "acc1": _number(metrics["acc@1"]),
        "acc5": _number(metrics["acc@5"]),
        "gflops": meta["_ops"],
        "file_size_mb": meta["_file_size"],
        "recipe": meta["recipe"],
        "crop_size": t.crop_size[0],
        "resize_size": t.resize_size[0],
        "interpolation": t.interpolation.value,
        "mean": list(t.mean),
        "std": list(t.std),
    }


def shipped_specs() -> set[str]:
    """The built-in names of specs/: a plain file by its stem, a family file (``variants:``)
    by its variants' names (read as text: this venv has no YAML parser)."""
    names: set[str] = set()
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        text = path.read_text()
        block = re.search(r"^variants:\n((?:[ #].*\n|\n)*)", text, re.MULTILINE)
        if block:
            names |= set(re.findall(r"^  ([A-Za-z_][A-Za-z0-9_]*):", block.group(1), re.MULTILINE))
        else:
            names.add(path.stem)
    return names


def weights_table() -> dict[str, Any]:
    """The weights of every zoo model whose spec ships (issue 17's families join as they land)."""
    zoo = json.loads((HERE / "zoo.json").read_text())["models"]
    imagenet = list(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    models: dict[str, Any] = {}
    shipped = shipped_specs()
    for model in sorted(m for m in zoo if "@" not in m and RENAMED.get(m, m) in shipped):
        enum = get_model_weights(model)
        record: dict[str, Any] = {
            "torchvision": model,
            "enum": enum.__name__,
            "default": enum.DEFAULT.name,
            "weights": {w.name: _entry(w, imagenet) for w in enum},
        }
        builder = dict(BUILDERS.get(model, {}))
        if model.startswith("densenet"):
            builder["rename"] = DENSENET_RENAME
        if model.startswith("vit_"):
            builder["size"] = "image_size"
        if builder:
            record["builder"] = builder
        models[RENAMED.get(model, model)] = record
    return {
        "about": "torchvision's pretrained weights tables, written by tests/parity/make_weights.py",
        "torchvision": torchvision.__version__.split("+")[0],
        "base_url": BASE_URL,
        "categories": {"imagenet1k": imagenet},
        "models": models,
    }


#: the images the transform fixture feeds to every distinct preset: uint8 and float,
#: single and batched, landscape and portrait, one smaller than the crop (padded)
IMAGES: dict[str, tuple[tuple[int, ...], str]] = {
    "uint8_landscape": ((3, 241, 319), "uint8"),
    "uint8_portrait": ((3, 347, 260), "uint8"),
    "float_batch": ((2, 3, 300, 251), "float32"),
    "uint8_small": ((3, 150, 201), "uint8"),
}


def transforms_fixture(table: dict[str, Any]) -> dict[str, Any]:
    presets: dict[str, dict[str, Any]] = {}
    for record in table["models"].values():
        for e in record["weights"].values():
            key = json.dumps([e[k] for k in ("crop_size", "resize_size", "interpolation")])
            key = key + json.dumps([e["mean"], e["std"]])
            presets.setdefault(key, {k: e[k] for k in ("crop_size", "resize_size")})
            presets[key] |= {k: e[k] for k in ("interpolation", "mean", "std")}
    out = []
    for preset in presets.values():
        t = ImageClassification(
            crop_size=preset["crop_size"],
            resize_size=preset["resize_size"],
            mean=preset["mean"],
            std=preset["std"],
            interpolation=InterpolationMode(preset["interpolation"]),
        )
        results = {name: tensor_summary(t(fixture_image(*spec))) for name, spec in IMAGES.items()}
        out.append({"preset": preset, "outputs": results})
    return {
        "about": "torchvision's ImageClassification on fixed images, from make_weights.py",
        "torch": torch.__version__.split("+")[0],
        "torchvision": torchvision.__version__.split("+")[0],
        "images": {k: [list(s), d] for k, (s, d) in IMAGES.items()},
        "presets": out,
    }


def _lines(table: dict[str, Any]) -> str:
    """Compact JSON with one line per model and one for the categories (readable diffs)."""
    c = {"separators": (",", ":")}
    head = [f"{json.dumps(k)}:{json.dumps(v, **c)}" for k, v in table.items() if k != "models"]
    rows = [f"{json.dumps(k)}:{json.dumps(v, **c)}" for k, v in table["models"].items()]
    return "{\n" + ",\n".join(head) + ',\n"models":{\n' + ",\n".join(rows) + "\n}}\n"


def main() -> None:
    table = weights_table()
    WEIGHTS_JSON.write_text(_lines(table))
    fixture = transforms_fixture(table)
    presets = fixture.pop("presets")
    rows = ",\n".join(json.dumps(p, separators=(",", ":")) for p in presets)
    head = json.dumps(fixture, separators=(",", ":"))[:-1]
    TRANSFORMS_JSON.write_text(head + ',\n"presets":[\n' + rows + "\n]}\n")
    n = sum(len(r["weights"]) for r in table["models"].values())
    print(f"{WEIGHTS_JSON.name}: {len(table['models'])} models, {n} weights; ", end="")
    print(f"{TRANSFORMS_JSON.name}: {len(presets)} presets")


if __name__ == "__main__":
    main()
