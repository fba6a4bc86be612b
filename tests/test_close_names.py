"""Hints for a mistyped spec or variant name: a name's last part alone (`b0` for
`efficientnet_b0`, timm's and torchvision's users' shorthand) is close to it, which difflib's
ratio alone (0.24 there) never found."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import close_names_to

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_a_last_part_names_the_names_ending_in_it() -> None:
    names = ["efficientnet_b0", "efficientnet_b1", "efficientnet_v2_s"]
    assert close_names_to("b0", names) == ["efficientnet_b0"]
    assert close_names_to("V2_S", names) == ["efficientnet_v2_s"]
    assert close_names_to("eficientnet_v2_s", names) == ["efficientnet_v2_s"]  # difflib first
    assert close_names_to("zz", names) == []
    assert close_names_to("", names) == []


@pytest.mark.parametrize(
    "args",
    [
        ["check", str(ROOT / "specs" / "efficientnet.yaml"), "--variant", "b0"],
        ["summary", str(ROOT / "specs" / "efficientnet.yaml"), "--variant", "b0"],
    ],
)
def test_a_variant_by_its_last_part_is_suggested(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "error[E113]" in result.output
    assert "did you mean `efficientnet_b0`?" in result.output


def test_a_built_in_name_by_its_last_part_is_suggested() -> None:
    result = runner.invoke(app, ["check", "b0"])
    assert result.exit_code == 1
    assert "did you mean efficientnet_b0?" in result.output
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.load("b7")
    assert caught.value.hint is not None and "did you mean efficientnet_b7?" in caught.value.hint


def test_an_extends_variant_by_its_last_part_is_suggested(tmp_path: Path) -> None:
    (tmp_path / "fam.yaml").write_text(
        (ROOT / "specs" / "efficientnet.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "mine.yaml").write_text(
        "archspec: 1\nname: mine\nextends: {from: fam.yaml, variant: b3}\n", encoding="utf-8"
    )
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.build_graph(tmp_path / "mine.yaml")
    assert caught.value.error_code == "E113"
    assert caught.value.hint is not None and "did you mean `efficientnet_b3`?" in caught.value.hint
