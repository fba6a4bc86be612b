"""Sweep 38: hostile and odd input an independent reviewer would try, found by red-teaming.

Each test fails without its fix: the reproduction is in its docstring.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app

runner = CliRunner()

TAIL = (
    "input: [N, 3, 8, 8]\nlayers:\n  - {name: c, type: conv2d, out_channels: 4, kernel_size: 3}\n"
)

#: Specs that load and check, their `name` (and `class_name`) written in ways YAML allows
#: that are not a `name: value` line: the class the copy must build beside each.
COPIED = {
    "flow": (
        "{archspec: 1, name: t, class_name: Foo, input: [N, 3, 8, 8], layers: "
        "[{name: c, type: conv2d, out_channels: 4, kernel_size: 3}]}\n"
    ),
    "next_line": "archspec: 1\nname:\n  t\n" + TAIL,
    "quoted_key": 'archspec: 1\n"name": t\nclass_name: Foo\n' + TAIL,
    "anchored": "archspec: 1\nname: &nm t\ndescription: *nm\n" + TAIL,
    "extends_unnamed": "archspec: 1\nextends: lenet5\nparams: {num_classes: 3}\n",
    "commented": "archspec: 1\nname: t  # the name\nclass_name: Foo  # its class\n" + TAIL,
}


@pytest.mark.parametrize("case", sorted(COPIED))
def test_new_from_renames_a_spec_however_its_name_is_written(tmp_path: Path, case: str) -> None:
    """`archspec new copy --from flow.yaml` of `{archspec: 1, name: t, ...}` wrote a copy
    still named `t` (it renamed lines starting with `name:`); of `name:\\n  t` a copy whose
    name was `copy t` (E204); of `name: &nm t` with `description: *nm` a copy that did not
    load (E101, undefined alias); of a spec that extends lenet5 and gives no name, a copy
    named lenet5. Each exited 0 and said `wrote copy.yaml`."""
    src = tmp_path / "src.yaml"
    src.write_text(COPIED[case])
    assert archspec.check(src).ok, archspec.check(src).render()
    out = tmp_path / "copy.yaml"
    result = runner.invoke(app, ["new", "copy", "--from", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = archspec.check(out)
    assert report.ok, report.render()
    graph = archspec.build_graph(out)
    assert graph.name == "copy" and graph.class_name == "Copy"


def test_new_from_keeps_comments_where_the_name_is_edited_in_place(tmp_path: Path) -> None:
    """The edit is made at the name's span, so a comment beside it (and every other line) is
    kept, and a `class_name` line goes with its comment."""
    src = tmp_path / "src.yaml"
    src.write_text(COPIED["commented"].replace(TAIL, "# a note\n" + TAIL))
    out = tmp_path / "copy.yaml"
    assert runner.invoke(app, ["new", "copy", "--from", str(src), "-o", str(out)]).exit_code == 0
    text = out.read_text()
    assert "\nname: copy  # the name\n# a note\n" in text and "class_name" not in text


def test_new_from_a_name_whose_class_is_taken_writes_its_class_in_any_layout(
    tmp_path: Path,
) -> None:
    """`new f --from flow.yaml`: the class made from `f` is `F`, which emitted code cannot
    define; the copy names its class `FNet` in a flow mapping as in a block one."""
    src = tmp_path / "src.yaml"
    src.write_text(COPIED["flow"])
    out = tmp_path / "f.yaml"
    result = runner.invoke(app, ["new", "f", "--from", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    graph = archspec.build_graph(out)
    assert graph.name == "f" and graph.class_name == "FNet"


NON_ASCII_CHILD = """import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.\u03c9 = nn.Conv2d(3, 4, 3)
        self.add_module("act", nn.ReLU())

    def forward(self, x):
        return self.act(self.\u03c9(x))
"""


def test_a_child_attribute_no_key_takes_is_located_at_its_assignment(tmp_path: Path) -> None:
    """`self.\u03c9 = nn.Conv2d(...)` (a Python identifier, not ASCII: no spec key) was E903 at
    the first `add_module(` of the class, a line that registers another child."""
    source = tmp_path / "greek_net.py"
    source.write_text(NON_ASCII_CHILD, encoding="utf-8")
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.import_factory(f"{source}:Net", input=(1, 3, 8, 8))
    diag = next(d for d in err.value.diagnostics if d.code == "E903")
    assert diag.span is not None and diag.span.file == str(source)
    line = NON_ASCII_CHILD.splitlines()[diag.span.line - 1]
    assert line[diag.span.col - 1 :].startswith("\u03c9 = nn.Conv2d"), (line, diag.span)
    assert "an ASCII name" in (diag.hint or "")


@pytest.mark.parametrize("kind", ["fifo", "folder", "dangling_link"])
def test_new_says_when_the_schema_name_beside_the_spec_is_no_file(
    tmp_path: Path, kind: str
) -> None:
    """`archspec new x -o d/x.yaml`, with d/archspec.schema.json a FIFO, a folder or a link to
    nothing, wrote a spec whose schema line points there and said nothing: editors found no
    schema. It is left alone (never replaced), and a note says so."""
    (tmp_path / ".git").mkdir()  # the search for a schema above stops here
    schema = tmp_path / "archspec.schema.json"
    {"fifo": os.mkfifo, "folder": Path.mkdir, "dangling_link": lambda p: p.symlink_to("gone")}[
        kind
    ](schema)
    out = tmp_path / "x.yaml"
    result = runner.invoke(app, ["new", "x", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "archspec.schema.json is not a file" in result.stderr
    assert os.path.lexists(schema) and not schema.is_file() and archspec.check(out).ok


GENERATED = sorted((Path(__file__).resolve().parent.parent / "generated").glob("*.py"))

#: Code that spec text turned into code would be: each inside a method or a default, where
#: the top-level check never looked, and each would run when the module is imported or built.
PAYLOADS = {
    "builtin_import": 'return __import__("os").system("id")',
    "eval": 'return eval("1")',
    "open": 'return open("/etc/passwd").read()',
    "nested_import": "import os\n        return os.system('id')",
    "subclasses": "return ().__class__.__base__.__subclasses__()",
    "globals": "return self.forward.__globals__",
}


@pytest.mark.parametrize("case", sorted(PAYLOADS))
def test_emitted_code_holding_code_no_emitter_writes_is_refused_before_it_runs(case: str) -> None:
    """`parse_emitted` (the gate every rendered module passes before `compile` runs it)
    looked at top-level statements only: a method body calling `__import__("os")` passed."""
    from archspec.backends.selfcheck import parse_emitted
    from archspec.errors import EmitError

    source = (
        "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
        f"    def forward(self, x):\n        {PAYLOADS[case]}\n"
    )
    with pytest.raises(EmitError, match="line 7"):
        parse_emitted(source)


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.stem)
def test_every_generated_module_passes_the_whole_tree_check(path: Path) -> None:
    from archspec.backends.selfcheck import parse_emitted

    assert parse_emitted(path.read_text(encoding="utf-8")).body


def test_a_complex_checkpoint_tensor_at_a_real_key_does_not_fit() -> None:
    """A checkpoint whose `weight` is complex loaded into the real parameter, torch keeping
    its real part (a UserWarning only), and load_weights' diff said it loaded unchanged."""
    import warnings

    import torch

    model = archspec.load("lenet5")
    state = model.state_dict()
    key = "features.c1.weight"
    state[key] = torch.complex(state[key] + 1, torch.ones_like(state[key]))
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load_weights(archspec.load("lenet5"), state)
    assert "a complex tensor (complex64), not real" in str(err.value)
    fresh = archspec.load("lenet5")
    before = fresh.state_dict()[key].clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diff = archspec.load_weights(fresh, state, strict=False)
    assert key in [k for k, _, _ in diff.changed] and key not in diff.unchanged
    assert torch.equal(fresh.state_dict()[key], before)  # its own initialisation kept


def test_a_reuse_of_its_own_name_says_so() -> None:
    """`{name: r, type: reuse, node: r}` was told `r` "is no node of this layer list", with
    the modules above as a hint, as for a misspelt name."""
    spec = (
        "archspec: 1\nname: t\ninput: [N, 4, 8, 8]\nlayers:\n"
        "  - {name: c, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n"
        "  - {name: r, type: reuse, node: r}\n"
    )
    report = archspec.check(spec)
    (diag,) = report.diagnostics
    assert diag.code == "E305" and "its own name" in diag.message
    assert diag.span is not None and (diag.span.line, diag.span.col) == (6, 34)


LIBRARY = "blocks:\n  B:\n    layers:\n      - {name: c, type: relu}\n"


@pytest.mark.parametrize(
    ("header", "shown"),
    [("archspec: 2\n", "`archspec: 2`"), ("archspec: true\n", "`archspec: True`"), ("", "no")],
)
def test_a_file_of_blocks_of_another_format_is_refused_where_it_says_so(
    tmp_path: Path, header: str, shown: str
) -> None:
    """`use: [{from: lib.yaml, ...}]` of a file that says `archspec: 2` (a future format),
    `archspec: true`, or nothing, read it as format 1 and took its blocks: checked ok."""
    (tmp_path / "lib.yaml").write_text(header + LIBRARY)
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\n"
        "use:\n  - {from: lib.yaml, blocks: [B]}\nlayers:\n  - {name: b, type: B}\n"
    )
    report = archspec.check(spec)
    (diag,) = report.diagnostics
    assert diag.code == "E204" and shown in diag.message and diag.span is not None
    assert (Path(diag.span.file).name, diag.span.line) == ("lib.yaml", 1)
    assert "imported at" in report.render() and "net.yaml:5:12" in report.render()


def test_a_base_of_another_format_is_refused_with_the_extends_site(tmp_path: Path) -> None:
    """`extends: base.yaml` of a file that says `archspec: 7` extended it as format 1."""
    (tmp_path / "base.yaml").write_text(
        "archspec: 7\nname: b\ninput: [N, 3, 8, 8]\nlayers:\n  - {name: c, type: relu}\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text("archspec: 1\nextends: base.yaml\nname: child\n")
    report = archspec.check(child)
    (diag,) = report.diagnostics
    assert diag.code == "E204" and "`archspec: 7`" in diag.message
    assert diag.span is not None and (diag.span.line, diag.span.col) == (1, 11)
    assert "extended at" in report.render() and "child.yaml:2:10" in report.render()
