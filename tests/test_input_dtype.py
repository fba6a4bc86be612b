"""`input_dtype: int64`: a network whose input is token ids (a text classifier) is a spec. Only
an embedding and the kinds that move or join tensors read it; check, summary, compile's
self-check, emit and import take int64 ids where a float tensor stood."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ArchSpecError

from .emit_helpers import _load

TEXTCNN = textwrap.dedent(
    """\
    archspec: 1
    name: textcnn
    input: [N, L]
    input_dtype: int64
    params:
      vocab: 1000
    layers:
      - {name: embed, type: embedding, num_embeddings: vocab, embedding_dim: 32}
      - {name: tokens, type: permute, dims: [0, 2, 1]}
      - {name: conv, type: conv1d, out_channels: 16, kernel_size: 3}
      - {type: relu}
      - {name: pool, type: adaptive_maxpool1d, output_size: 1}
      - {name: flat, type: flatten}
      - {name: fc, type: linear, out_features: 4}
    """
)

runner = CliRunner()


def test_check_states_the_dtype_and_the_token_counts_that_work() -> None:
    result = archspec.check(TEXTCNN)
    assert result.ok, result.render()
    assert result.input_dtype == "int64"
    assert result.domain_text == "textcnn accepts (N, L) int64 with L >= 3"
    data = result.to_dict()
    assert data["input_dtype"] == "int64" and list(data).index("input_dtype") == 4


def test_a_float_input_keeps_its_report_as_it_was() -> None:
    """No `input_dtype` key in the JSON of a float network, no suffix after its shapes."""
    result = archspec.check("lenet5")
    assert result.input_dtype == "float32" and "input_dtype" not in result.to_dict()
    assert "float32" not in result.domain_text


def test_the_cli_prints_the_dtype_after_the_input_and_in_json(tmp_path) -> None:
    path = tmp_path / "textcnn.yaml"
    path.write_text(TEXTCNN.replace("input: [N, L]", "input: [N, 64]"))
    out = runner.invoke(app, ["check", str(path)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "  input   (N, 64) int64\n" in out.stdout
    assert "  domain  textcnn accepts (N, 64) int64\n" in out.stdout
    out = runner.invoke(app, ["check", str(path), "--json"])
    assert json.loads(out.stdout)[0]["input_dtype"] == "int64"
    out = runner.invoke(app, ["summary", str(path)], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and out.stdout.startswith("textcnn  input (N, 64) (int64)\n")


def test_an_embedding_of_a_float_input_names_input_dtype() -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(TEXTCNN.replace("input_dtype: int64\n", ""))
    (diag,) = info.value.diagnostics
    assert diag.code == "E401" and "`input` is a float tensor" in diag.message
    assert "`input_dtype: int64`" in (diag.hint or "")


def test_a_layer_computing_in_floating_point_on_int64_ids_is_refused() -> None:
    text = TEXTCNN.replace("input: [N, L]", "input: [N, 64]").replace(
        "  - {name: embed, type: embedding, num_embeddings: vocab, embedding_dim: 32}\n"
        "  - {name: tokens, type: permute, dims: [0, 2, 1]}\n",
        "  - {name: lifted, type: reshape, shape: [-1, 1, 64]}\n",
    )
    result = archspec.check(text)
    (diag,) = result.errors
    assert diag.code == "E401" and diag.message.startswith("conv: conv1d reads `lifted`")
    assert "look them up with `embedding` first" in (diag.hint or "")


def test_only_float32_and_int64_are_input_dtypes() -> None:
    result = archspec.check(TEXTCNN.replace("input_dtype: int64", "input_dtype: int32"))
    (diag,) = result.errors
    assert diag.code == "E204" and (diag.span.line, diag.span.col) == (4, 14)


def test_compile_runs_on_token_ids_and_emit_computes_the_same() -> None:
    model = archspec.compile(TEXTCNN).eval()
    ids = torch.randint(0, 1000, (3, 11), generator=torch.Generator().manual_seed(0))
    source = archspec.emit(TEXTCNN)
    assert "Input: (N, L) int64. Output: (N, 4)." in source
    emitted = _load(source, "textcnn").Textcnn().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert model(ids).shape == (3, 4)
        torch.testing.assert_close(emitted(ids), model(ids))


def test_compile_s_self_check_runs_the_forward_on_int64_ids(tmp_path) -> None:
    """The meta forward compares emitted and compiled modules: on a float input the
    embedding refused it and the check said no forward pass ran."""
    (tmp_path / "t.yaml").write_text(TEXTCNN)
    out = runner.invoke(app, ["compile", str(tmp_path / "t.yaml"), "-o", str(tmp_path / "t.py")])
    assert out.exit_code == 0, out.output
    assert "input (N, L) int64 -> output (N, 4)" in out.stderr + out.stdout
    assert "state_dict tensors and the forward pass match" in out.stderr + out.stdout


class _TextCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(500, 24, padding_idx=0)
        self.conv = nn.Conv1d(24, 16, 3, padding=1)
        self.fc = nn.Linear(16, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(self.embed(ids).permute(0, 2, 1)))
        return self.fc(h.amax(dim=2))


class _TinyEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(100, 32)
        self.enc = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(32, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(self.tok(ids)).mean(dim=1))


@pytest.mark.parametrize("cls", [_TextCNN, _TinyEncoder])
def test_a_model_of_token_ids_imports_exactly(cls: type[nn.Module]) -> None:
    torch.manual_seed(0)
    model = cls().eval()
    ids = torch.randint(0, 100, (2, 12), generator=torch.Generator().manual_seed(1))
    text = archspec.from_module(model, ids)
    assert "\ninput: [N, L]\ninput_dtype: int64\n" in text  # any length, as the model
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(twin(ids), model(ids), rtol=1e-5, atol=1e-6)


def test_import_takes_input_dtype_from_the_command_line(tmp_path, monkeypatch) -> None:
    (tmp_path / "textnets.py").write_text(
        "import torch.nn as nn\n"
        "class Bag(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.embed = nn.Embedding(50, 8)\n"
        "        self.fc = nn.Linear(8, 2)\n"
        "    def forward(self, ids):\n"
        "        return self.fc(self.embed(ids).mean(1))\n"
    )
    monkeypatch.chdir(tmp_path)
    out = runner.invoke(
        app, ["import", "textnets.py:Bag", "--input", "1,9", "--input-dtype", "int64"]
    )
    assert out.exit_code == 0, out.output
    assert "input_dtype: int64" in out.stdout and "accepts (N, L) int64" in out.stderr
    out = runner.invoke(app, ["import", "textnets.py:Bag", "--input", "1,9"])
    assert out.exit_code == 1 and "--input-dtype int64" in out.stderr
    out = runner.invoke(
        app, ["import", "textnets.py:Bag", "--input", "1,9", "--input-dtype", "float16"]
    )
    assert out.exit_code == 1 and "E901" in out.stderr and "'float16'" in out.stderr
