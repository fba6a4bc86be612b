"""Integration mends of session 41: where two helpers' changes met."""

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec import api
from archspec.cli import app
from archspec.errors import ImportFailure

HEADS = """\
archspec: 1
name: heads_differ
input: [N, 4, 10, 8]
layers:
  - {name: k, type: reshape, shape: [0, 2, 20, 8]}
  - {name: a, type: %s, from: [input, k%s]%s}
"""


@pytest.mark.parametrize(
    ("kind", "more", "fields", "hint"),
    [
        ("scaled_dot_product_attention", ", k", "", "give q, k and v the same batch dims"),
        ("matmul", "", ", transpose: true", "give both operands the same batch dims"),
    ],
)
def test_a_products_batch_dims_that_do_not_broadcast_get_its_own_hint(
    kind: str, more: str, fields: str, hint: str
) -> None:
    report = archspec.check(HEADS % (kind, more, fields))
    (d,) = report.errors
    assert d.code == "E402"
    assert "dim 1 differ: 4 vs 2 ((N, 4), (N, 2)" in d.message
    assert " , " not in d.message and "channels" not in d.message
    assert d.hint.startswith(hint) and "out_features" not in d.hint


def test_an_empty_import_name_is_refused_not_taken_for_no_name(tmp_path: Path) -> None:
    """`--name ""` imported under the factory's name, and `-o folder/` then wrote
    `folder/.yaml`'s hint; an empty or odd name is E901 before any model is built."""
    (tmp_path / "tinynet41.py").write_text(
        "from torch import nn\n\n\nclass Net(nn.Sequential):\n"
        "    def __init__(self) -> None:\n        super().__init__(nn.Linear(4, 2))\n"
    )
    factory = f"{tmp_path / 'tinynet41.py'}:Net"
    assert api.import_name(factory) == "Net"
    for bad in ("", "a b", "1net"):
        with pytest.raises(ImportFailure, match="is not a valid name") as e:
            archspec.import_factory(factory, input="1,4", name=bad)
        assert e.value.diagnostics[0].code == "E901"
        out = tmp_path / "out"
        res = CliRunner().invoke(
            app, ["import", factory, "--input", "1,4", "--name", bad, "-o", f"{out}/"]
        )
        assert res.exit_code == 1 and "E901" in res.output, res.output
        assert not out.exists()
    res = CliRunner().invoke(app, ["import", factory, "--input", "1,4", "--name", "tiny"])
    assert res.exit_code == 0 and "name: tiny\n" in res.output, res.output


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["compile", "lenet5", "-o"], "net.yaml"),
        (["compile", "lenet5", "-o"], "net"),
        (["compile", "lenet5", "-o"], "net.pyc"),
        (["compile", "lenet5", "-o"], "net.PY"),
        (["new", "tiny", "-o"], "tiny.py"),
        (["new", "tiny", "-o"], "tiny.txt"),
    ],
)
def test_an_output_named_so_it_is_not_read_back_as_its_kind_is_e604(
    tmp_path: Path, argv: list[str], name: str
) -> None:
    """`compile -o net.yaml` wrote Python source that `check` then read as a broken spec, and
    `new -o tiny.py` a spec into a .py file: the name must be what the kind is read back by."""
    out = tmp_path / name
    res = CliRunner().invoke(app, [*argv, str(out)])
    assert res.exit_code == 1, res.output
    assert "E604" in res.output and "is read back only from a" in res.output
    assert not out.exists()
    existing = tmp_path / f"kept{out.suffix}"
    existing.write_text("mine\n")
    res = CliRunner().invoke(app, [*argv, str(existing), "--force"])
    assert res.exit_code == 1 and existing.read_text() == "mine\n", res.output


@pytest.mark.parametrize(
    ("argv", "name"),
    [(["compile", "lenet5", "-o"], "net.py"), (["new", "tiny", "-o"], "tiny.yml")],
)
def test_an_output_named_as_its_kind_is_written(tmp_path: Path, argv: list[str], name: str) -> None:
    out = tmp_path / name
    res = CliRunner().invoke(app, [*argv, str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file()


_RETURNS = """\
import torch.nn as nn


class Held(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Linear(4, 2)

    def forward(self, x):
        return {ret}
"""


@pytest.mark.parametrize(("ret", "kind"), [("[self.c(x)]", "list"), ("(self.c(x),)", "tuple")])
def test_a_network_returning_one_tensor_in_a_container_is_refused(
    tmp_path: Path, ret: str, kind: str
) -> None:
    """It imported as a spec returning the bare tensor: the caller's `out[0]` then read the
    first row where the model gave the tensor, and the import called itself exact."""
    path = tmp_path / f"held41_{kind}.py"
    path.write_text(_RETURNS.format(ret=ret))
    with pytest.raises(ImportFailure) as e:
        archspec.import_factory(f"{path}:Held", input="1,4")
    (d,) = e.value.diagnostics
    assert d.code == "E904"
    assert f"returns a {kind} of one tensor" in d.message
    assert "model(x)[0]" in (d.hint or "")


def test_a_network_returning_several_tensors_in_a_list_still_imports(tmp_path: Path) -> None:
    path = tmp_path / "held41_two.py"
    path.write_text(_RETURNS.format(ret="[self.c(x), x]"))
    text = archspec.import_factory(f"{path}:Held", input="1,4")
    assert "outputs: [c, input]" in text
    out = archspec.compile(text)(torch.rand(1, 4))
    assert isinstance(out, tuple) and len(out) == 2
