"""`print(summary)` written without rich (summary_text._plain_text) is rich's text exactly,
at every width, for module and spec summaries; where it declines, rich writes it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import archspec
from archspec import summary_text as st
from tests.test_module_summary import LeNet5, ResNet18

ROOT = Path(__file__).resolve().parent.parent


def by_rich(s: archspec.Summary, width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(st, "_plain_text", lambda *_: None)
        return st.summary_text(s, width)


def summaries() -> list[archspec.Summary]:
    with torch.device("meta"):
        resnet, lenet = ResNet18(), LeNet5()
        frozen = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5)).double()  # float64 inputs
    frozen[0].requires_grad_(False)
    long_name = type("Wide" * 25, (nn.Sequential,), {})(nn.Linear(3, 4))
    return [
        archspec.summary(resnet, input_size=(1, 3, 224, 224)),
        archspec.summary(lenet, input_size=(2, 1, 32, 32), depth=1, mode="eval"),
        archspec.summary(frozen, input_size=(100_000, 3), dtypes=torch.float64),
        archspec.summary(long_name, input_size=(2, 3)),
        archspec.summary("lenet5"),
        archspec.summary("resnet18", input=(1, 3, 224, 224)),
        archspec.summary("mobilenet_v2", depth=1),
    ]


def test_the_text_without_rich_is_riches(monkeypatch) -> None:
    written = 0
    for s in summaries():
        for width in range(30, 200, 17):  # 30 (narrow) .. 200 (wide), ten widths
            plain = st._plain_text(s, width)
            if plain is not None:
                written += 1
                assert plain == by_rich(s, width, monkeypatch), (s.name, width)
    assert written > 35  # most cases are written without rich, narrow and wide


def test_what_it_declines_rich_writes() -> None:
    with torch.device("meta"):
        empty = archspec.summary(nn.Identity(), input_size=(1, 3))  # a table with no rows
        accented = type("Réseau", (nn.Sequential,), {})(nn.Linear(3, 4))
        named = archspec.summary(accented, input_size=(1, 3))  # non-ASCII text
    assert st._plain_text(empty, 80) is None and "Total" in str(empty)
    assert st._plain_text(named, 80) is None and "Réseau" in named.to_text(80)


def test_a_module_summary_printed_does_not_import_rich() -> None:
    code = textwrap.dedent(
        """
        import sys, torch, archspec
        from tests.test_module_summary import ResNet18
        with torch.device("meta"):
            m = ResNet18()
        text = archspec.summary(m, input_size=(1, 3, 224, 224)).to_text(80)
        print("11,689,512" in text, "rich" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ["True", "False"], out.stderr[-2000:]


@pytest.mark.parametrize("columns", ["80", "100"])
def test_the_clis_table_lines_end_without_blanks(columns: str) -> None:
    """The footer and the weights line are wrapped at the width; rich's own wrap left the
    space it broke at on each line (trailing blanks in a saved table or a diff of two)."""
    from typer.testing import CliRunner

    from archspec.cli import app

    result = CliRunner().invoke(
        app,
        ["summary", "googlenet", "--input", "1,3,224,224", "--depth", "1"],
        env={"NO_COLOR": "1", "COLUMNS": columns},
    )
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert any(line.startswith("pretrained weights:") for line in lines)
    assert len([line for line in lines if "MACs" in line]) >= 2  # the footer wraps
    assert [line for line in lines if line != line.rstrip()] == []


def _footer_words(text: str) -> str:
    return " ".join(text.split())


def test_the_mac_convention_names_the_dims_of_the_convs_a_summary_has() -> None:
    """A 1-d or 3-d network's footer and JSON stated a 2-d conv's `H_out*W_out*...*k_h*k_w`."""
    spec = {
        "archspec": 1,
        "name": "audio",
        "input": [1, 1, 64],
        "layers": [{"type": "conv1d", "out_channels": 4, "kernel_size": 3}],
    }
    one = archspec.summary(spec)
    assert "MACs: conv C_out*L_out*C_in/groups*k, linear" in _footer_words(str(one))
    assert one.to_dict()["convention"].startswith("MACs: conv C_out*L_out*C_in/groups*k, ")
    video = archspec.summary(nn.Conv3d(1, 2, 3), input_size=(1, 1, 4, 4, 4))
    assert "(conv C_out*D_out*H_out*W_out*C_in/groups*k_d*k_h*k_w, linear" in _footer_words(
        str(video)
    )
    mixed = archspec.summary(
        nn.Sequential(nn.Conv1d(1, 2, 1), nn.Flatten(0, 1)), input_size=(1, 1, 4)
    )
    assert "conv C_out*L_out" in _footer_words(str(mixed))
    assert st.conv_convention(["Conv1d", "ConvTranspose2d", "Linear"]) == (
        "conv1d C_out*L_out*C_in/groups*k, conv2d C_out*H_out*W_out*C_in/groups*k_h*k_w"
    )
    assert st.conv_convention(["Linear"]) == "conv C_out*H_out*W_out*C_in/groups*k_h*k_w"
