"""`archspec weights`: the pretrained weights of the built-in specs, from the command line.

Before: there was no such command (`archspec weights resnet50`: "No such command", exit 2);
`check` and `summary` named the weights, and their accuracy, cost, file and whether the
file was downloaded already were for Python alone (`archspec.get_weights`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app

runner = CliRunner()


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_a_specs_weights_with_their_metadata_and_the_cache(hub: Path) -> None:
    result = runner.invoke(app, ["weights", "resnet50"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "resnet50 " in line]
    assert len(lines) == 2
    assert "IMAGENET1K_V2 (default)" in lines[1] and "80.858" in lines[1]
    assert all(line.rstrip("│ ").endswith("no") for line in lines)
    w = archspec.get_weights("resnet50", "IMAGENET1K_V1")
    hub.mkdir(parents=True)
    (hub / w.file).write_bytes(b"")  # cached: the file is there (nothing is read)
    data = json.loads(runner.invoke(app, ["weights", "resnet50", "--json"]).stdout)
    assert [(d["name"], d["default"], d["cached"]) for d in data] == [
        ("IMAGENET1K_V1", False, True),
        ("IMAGENET1K_V2", True, False),
    ]
    assert data[0]["file"] == w.file and data[0]["url"] == w.url()
    assert data[0]["acc1"] == w.acc1 and data[0]["params"] == w.num_params


def test_patterns_and_every_spec() -> None:
    data = json.loads(runner.invoke(app, ["weights", "efficientnet_b?", "--json"]).stdout)
    assert {d["spec"] for d in data} == {f"efficientnet_b{i}" for i in range(8)}
    every = json.loads(runner.invoke(app, ["weights", "--json"]).stdout)
    assert {d["spec"] for d in every} == set(archspec.list_weights())


@pytest.mark.parametrize(
    ("spec", "says", "close"),
    [
        ("resnt50", "no built-in spec with pretrained weights matches 'resnt50'", True),
        ("lenet5", "lenet5 has no pretrained weights", False),  # a spec, and no typo
    ],
)
def test_a_spec_without_weights_is_e801_with_close_names_for_a_typo(
    spec: str, says: str, close: bool
) -> None:
    result = runner.invoke(app, ["weights", spec])
    assert result.exit_code == 1
    assert f"error[E801]: {says}" in result.stderr
    assert ("did you mean resnet50" in result.stderr) is close


def test_listing_weights_imports_no_torch() -> None:
    code = (
        "import sys\nfrom archspec.cli import main\nsys.argv = ['archspec', 'weights', 'vgg16']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert "IMAGENET1K_FEATURES" in proc.stdout
    assert proc.stderr.strip().splitlines()[-1] == "False"
