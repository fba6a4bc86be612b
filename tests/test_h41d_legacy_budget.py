"""`archspec check` of one spec (or one variant) spends no family's shared budget, as
`archspec.check` spends none: the older layouts that `legacy_versions:` entries build were
charged to a "family" budget the command line opened around every file, so a plain spec whose
few applicable older layouts together passed 4 times --max-layers was E310 "the family's
variants together expand to more than ..." (of a spec with no variants), with the hint to
check one variant at a time, while archspec.check of the same spec said ok."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import archspec
from archspec.cli import app

runner = CliRunner()

#: 90 layer items at most per layout, --max-layers 100: four older layouts and the spec's own
#: come to 450, more than the 400 a family of it may share.
LIMIT = "100"


def _spec(tmp_path: Path, variants: bool) -> Path:
    lines = [
        "archspec: 1",
        "name: versioned",
        "input: [N, 3, 8, 8]",
        "state_dict_version: 5",
        "params:",
        "  width: {type: int, default: 4}",
        "  depth: {type: int, default: 88}",
        "legacy_versions:",
        *(f"  - {{version: {v}, params: {{width: {v + 4}}}}}" for v in range(1, 5)),
        "layers:",
        "  - {type: repeat, count: depth, layer: {type: conv2d, out_channels: width,"
        " kernel_size: 1}}",
    ]
    if variants:
        lines += ["variants:", "  small: {params: {depth: 80}}", "  large: {params: {depth: 88}}"]
    path = tmp_path / "versioned.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_one_spec_with_older_layouts_checks_as_the_api_checks_it(tmp_path: Path) -> None:
    path = _spec(tmp_path, variants=False)
    assert archspec.check(str(path), max_layers=int(LIMIT)).ok
    done = runner.invoke(app, ["check", str(path), "--max-layers", LIMIT])
    assert done.exit_code == 0, done.output
    assert "family" not in done.output and "E310" not in done.output


def test_one_variant_with_older_layouts_checks_as_the_api_checks_it(tmp_path: Path) -> None:
    path = _spec(tmp_path, variants=True)
    assert archspec.check(str(path), variant="large", max_layers=int(LIMIT)).ok
    done = runner.invoke(app, ["check", str(path), "--variant", "large", "--max-layers", LIMIT])
    assert done.exit_code == 0, done.output


def test_a_family_s_variants_checked_together_still_share_the_budget(tmp_path: Path) -> None:
    """The hint of the family's E310 (check one variant at a time) is a way past it."""
    path = _spec(tmp_path, variants=True)
    done = runner.invoke(app, ["check", str(path), "--max-layers", LIMIT])
    assert done.exit_code == 1
    assert "E310" in done.output and "the family's variants together" in done.output
    assert "--variant NAME" in done.output
