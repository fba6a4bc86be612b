"""Record the length of torchvision's model files (``lines.json``), counted by ``lines.py``.

Run in the torchvision venv (see README.md) from the repository root::

    /tmp/tvenv/bin/python -m tests.parity.make_lines

For every model of ``zoo.json`` (not the ``@DEFAULT`` records), the file its class is
defined in (``torchvision/models/mobilenetv2.py`` for ``mobilenet_v2``) and that file's
count. Reads source only: no model is built.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import torchvision

from .lines import source_lines

HERE = Path(__file__).resolve().parent
LINES_JSON = HERE / "lines.json"


def main() -> None:
    zoo = json.loads((HERE / "zoo.json").read_text())["models"]
    files: dict[str, int] = {}
    models: dict[str, str] = {}
    for model, record in zoo.items():
        if "@" in model:
            continue
        module_name, _, cls_name = record["class"].rpartition(".")
        cls = getattr(importlib.import_module(module_name), cls_name)
        path = Path(inspect.getsourcefile(cls) or "")
        name = path.name
        if name not in files:
            files[name] = source_lines(path.read_text())
        models[model] = name
    data = {
        "generator": {
            "torchvision": torchvision.__version__,
            "counting": "tests/parity/lines.py source_lines: non-blank lines of the file "
            "without WeightsEnum classes, _COMMON* tables and @register_model docstrings",
        },
        "files": dict(sorted(files.items())),
        "models": models,
    }
    LINES_JSON.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {LINES_JSON}: {len(models)} models, {len(files)} files")


if __name__ == "__main__":
    main()
