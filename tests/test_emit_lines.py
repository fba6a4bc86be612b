"""Emitted zoo files read like torchvision's: one class per library block, and no more than
1.5x the lines of torchvision's module file (counted alike: tests/parity/lines.py).

torchvision's counts come from the committed fixture tests/parity/lines.json; ours from the
committed generated/<name>.py, which tests/test_emit_files.py keeps equal to what the
emitter writes. The default run samples one model per family; `--all` checks every twin.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from archspec.api import build_graph
from archspec.backends.emit import Emitter
from tests.parity.lines import source_lines
from tests.test_zoo_parity import RENAMED, TWINS, _sampled

ROOT = Path(__file__).resolve().parent.parent
LINES = json.loads((ROOT / "tests" / "parity" / "lines.json").read_text())
MAX_RATIO = 1.5

#: Blocks the emitter still writes as more than one class, by model-name prefix, and why:
#: what the one class would need that the emitter cannot write yet. A model whose blocks no
#: longer split as listed fails, so the table only shrinks.
SPLIT_BLOCKS: dict[str, tuple[set[str], str]] = {
    "maxvit": ({"MaxVitBlock"}, "a repeat whose count is a param is unrolled"),
}

#: Twins still over 1.5x torchvision's lines, and why. An entry within the limit fails.
OVER: dict[str, str] = {}

MODELS = sorted(m for m in TWINS if "@" not in m)


def _ours(model: str) -> Path:
    return ROOT / "generated" / f"{RENAMED.get(model, model)}.py"


def test_the_fixture_counts_every_twin() -> None:
    assert set(MODELS) <= set(LINES["models"]), set(MODELS) - set(LINES["models"])
    assert all(LINES["files"][f] > 50 for f in set(LINES["models"].values()))


def test_source_lines_leaves_out_weights_tables_only() -> None:
    text = (
        "import torch\n\n"
        "_COMMON_META = {\n    'a': 1,\n}\n\n"
        "class W(WeightsEnum):\n    X = 1\n\n"
        "@register_model()\ndef net(x):\n    '''Doc.\n\n    More.\n    '''\n    return x\n"
        "class Net:\n    '''Kept.'''\n"
    )
    # kept: import, @register_model(), def, return, class Net, its docstring
    assert source_lines(text) == 6


@pytest.mark.parametrize("model", _sampled(MODELS))
def test_emitted_file_is_within_1_5x_of_torchvisions(model: str) -> None:
    ours = source_lines(_ours(model).read_text())
    theirs = LINES["files"][LINES["models"][model]]
    what = f"{model}: {ours} lines, torchvision's {LINES['models'][model]} {theirs}"
    if model in OVER:
        assert ours > MAX_RATIO * theirs, f"{what}: within 1.5x now, drop it from OVER"
    else:
        assert ours <= MAX_RATIO * theirs, f"{what} ({ours / theirs:.2f}x)"


@pytest.mark.parametrize("model", _sampled(MODELS))
def test_one_class_per_library_block(model: str) -> None:
    emitter = Emitter(build_graph(RENAMED.get(model, model), {}))
    emitter.support()
    emitter.collect()
    per_block = Counter(c.block for c in emitter.classes if c.block is not None)
    split = {b for b, n in per_block.items() if n > 1}
    prefix = [k for k in SPLIT_BLOCKS if model.startswith(k)]
    known = SPLIT_BLOCKS[prefix[0]][0] if prefix else set()
    assert split == known, f"{model}: blocks emitted as several classes: {split}, known {known}"
