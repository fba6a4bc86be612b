"""Sweep 40: the trust promise red-teamed again, through every entry point.

Each test fails without its fix: the reproduction is in its docstring.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ImportFailure
from archspec.importer.factory import parse_args

from .conftest import plugins_restored

runner = CliRunner()


@pytest.mark.parametrize("value", ["[1, *a]", "[1, 2", "{a: 1", "*a", "'open", "&a [*a]"])
def test_an_args_value_that_opens_yaml_must_be_yaml(value: str) -> None:
    """`archspec import m:f --args 'x=[1, *a]'` called the factory with the text
    '[1, *a]' (an undefined alias made it invalid YAML, and invalid YAML stayed text), while
    `x=&a [*a]` (valid YAML, a recursive value) was E901: a value that opens YAML syntax is
    now read as YAML or refused, never passed as the text of a mistyped list."""
    with pytest.raises(ImportFailure) as info:
        parse_args([f"x={value}"])
    assert info.value.error_code == "E901" and "--args x" in str(info.value)


def test_an_args_value_that_is_no_yaml_syntax_stays_text() -> None:
    """Text YAML cannot read and that opens no YAML syntax is passed as text; a quoted
    value is the way to pass text that does."""
    got = parse_args(["a=a: b: c", "b=@home", "c='[1, 2'", "d=[1, 2]"])
    assert got == {"a": "a: b: c", "b": "@home", "c": "[1, 2", "d": [1, 2]}


def test_the_cli_refuses_a_broken_args_list_before_calling_the_factory(tmp_path: Path) -> None:
    called = tmp_path / "called"
    net = tmp_path / "net.py"
    net.write_text(
        "import torch.nn as nn\n"
        "def Net(x=None):\n"
        f"    open({str(called)!r}, 'w').write(repr(x))\n"
        "    return nn.Linear(4, 2)\n"
    )
    result = runner.invoke(app, ["import", f"{net}:Net", "--args", "x=[1, *a]", "--input", "1,4"])
    assert result.exit_code == 1, result.output
    assert "E901" in result.output and "not valid YAML" in result.output
    assert not called.exists()


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("file:///srv/m?q=1#frag", "file:///srv/m/{f}?q=1#frag"),
        ("https://h/models/?sig=a/b", "https://h/models/{f}?sig=a/b"),
        ("https://user:t@h/models", "https://user:t@h/models/{f}"),
        ("file:///srv/m/", "file:///srv/m/{f}"),
        ("http://[::1/models", "http://[::1/models/{f}"),  # no URL: fetch refuses it
    ],
)
def test_a_mirror_url_gets_the_file_name_in_its_path(base: str, url: str) -> None:
    """`base_url="file:///dir?q#frag"` made `file:///dir?q#frag/<file>`: the name went into
    the fragment, the folder itself was read, and the E802 said "it is a directory"."""
    weights = archspec.get_weights("squeezenet1_1")
    assert weights.url(base) == url.format(f=weights.file)


def test_a_mirror_with_a_fragment_loads_and_one_with_a_query_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = "squeezenet1_1"
    state = archspec.compile(spec).state_dict()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    torch.save(state, mirror / "tmp.pth")
    digest = hashlib.sha256((mirror / "tmp.pth").read_bytes()).hexdigest()
    weights = dataclasses.replace(archspec.get_weights(spec), file=f"{spec}-{digest[:10]}.pth")
    (mirror / "tmp.pth").rename(mirror / weights.file)
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.load(spec, weights=weights, base_url=mirror.as_uri() + "?q#frag")
    assert info.value.error_code == "E802" and "it is a directory" not in str(info.value)
    assert f"{weights.file}?" in str(info.value)  # the name before the query
    model = archspec.load(spec, weights=weights, base_url=mirror.as_uri() + "#frag")
    key = next(iter(state))
    assert torch.equal(model.state_dict()[key], state[key])


@pytest.mark.parametrize("version", [-1, 0])
def test_a_checkpoint_version_no_module_class_has_is_refused(version: int) -> None:
    """A state_dict whose `_metadata[""]["version"]` is -1 (mnasnet0_5, one tensor missing)
    gave an E803 whose hint said "the checkpoint was saved by version -1 of the network
    class": no class has a version below 1 (nn.Module's is 1), so the metadata is refused as
    not torch's (E801), as one of another shape is."""
    from collections import OrderedDict

    model = archspec.compile("mnasnet0_5", device="meta")
    state: Any = OrderedDict(model.state_dict())
    state._metadata = {"": {"version": version}, "layers": {"version": 1}}
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.load_weights(model, state)
    assert info.value.error_code == "E801", info.value
    assert f"version {version}" not in str(info.value.hint)


def _padded(spec: dict[str, Any], strings: int) -> dict[str, Any]:
    """`spec` with spec params holding `strings` texts of 5,000 'é' (10 KB as UTF-8, 30 KB
    as the escapes of ASCII YAML)."""
    params = {f"p{i}": {"type": "str", "default": "\u00e9" * 5000} for i in range(strings)}
    return {**spec, "params": params}


def test_python_data_past_the_limit_only_as_ascii_yaml_keeps_its_spans() -> None:
    """A mapping of 0.6 MB as UTF-8 YAML (a file of it loads) but 1.3 MB as escaped ASCII
    YAML took the old path without spans: `archspec.emit` wrote Gate and Gate_2 where the
    file gave one Gate, and an error in it had no line."""
    from archspec.yaml_floats import dump

    from .test_hostile_sweep39 import GATED

    spec = _padded(GATED, 60)
    assert len(dump(spec, allow_unicode=False).encode()) > 1 << 20
    source = archspec.emit(spec)
    assert "Gate_2" not in source
    text = dump(spec, sort_keys=False, allow_unicode=True)
    assert source.split("\nimport torch", 1)[1] == archspec.emit(text).split("\nimport torch", 1)[1]
    broken = {**spec, "layers": [{"name": "a", "type": "Gat"}]}
    rendered = archspec.check(broken).render()
    assert rendered.startswith("<mapping>:") and "type: Gat" in rendered, rendered


def test_python_data_past_the_limit_as_any_yaml_is_refused_as_the_file_is() -> None:
    from .test_hostile_sweep39 import GATED

    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.emit(_padded(GATED, 110))
    assert info.value.error_code == "E104" and "1048576 bytes" in str(info.value)


@pytest.mark.parametrize("where", ["description", "key", "when"])
def test_a_lone_surrogate_in_python_data_is_refused_where_it_is(where: str) -> None:
    """No file can hold a lone surrogate (UTF-8 has none; YAML refuses "\\ud800"), but a
    mapping could: a `when: "act == 'r\\ud800'"` gave E206 "invalid expression ... 'utf-8'
    codec can't encode character", a description a pydantic message about raw data, and the
    mapping lost its spans (its YAML text did not load). Now E105, at its path."""
    import copy

    from .test_hostile_sweep39 import GATED

    spec = copy.deepcopy(GATED)
    if where == "description":
        spec["description"] = "half \ud83d of a face"
    elif where == "key":
        spec["blocks"]["Gate"]["params"]["\udc80"] = 1
    else:
        spec["blocks"]["Gate"]["layers"][1]["when"] = "act == 'r\ud800'"
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.emit(spec)
    assert info.value.error_code == "E105" and "lone surrogate" in str(info.value)


def test_a_param_value_python_cannot_write_is_named_as_a_value_not_a_table() -> None:
    """`archspec.compile(spec, width=np.int64(3))` for an int param said "a table holds
    numbers, booleans, text and lists of them, not int64": the param is no table. A value
    of its own is now named as that, with whose type it is; an item of a table as before."""
    import numpy as np

    spec = Path(__file__).resolve().parent.parent / "specs" / "lenet5.yaml"
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.compile(spec, device="meta", num_classes=np.int64(3))
    message = info.value.diagnostics[0].message
    assert "table" not in message and "numpy.int64" in message, message
    assert "convert it to int" in message


def test_import_factory_reads_a_shape_text_as_check_does(tmp_path: Path) -> None:
    """`archspec.import_factory(path, input="1,4")` (the text `check(input=...)` and the
    CLI's --input take) raised "input dims must be ints, got str '1' in ('1', ',', '4')":
    the text was split into characters; `input=3` raised Python's "'int' object is not
    iterable"."""
    net = tmp_path / "seqnet.py"
    net.write_text(
        "import torch.nn as nn\n\n"
        "def Net():\n    return nn.Sequential(nn.Linear(4, 2), nn.ReLU())\n"
    )
    text = archspec.import_factory(f"{net}:Net", input="1,4")
    assert "input: [N, 4]" in text
    with pytest.raises(TypeError, match="input must be a sequence of ints or text"):
        archspec.import_factory(f"{net}:Net", input=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["010", "-010", "0_10", "0777", "+017"])
def test_an_octal_int_that_is_not_its_decimal_is_refused(text: str) -> None:
    """YAML 1.1 reads `010` as the octal 8: `out_channels: 010` built 8 channels, where YAML
    1.2 and editors read 10 and Python refuses the literal. It is E101 at the number, which
    names the value YAML would take; `07` (7 either way) and `0o10` (octal, said so) pass.
    tests/hostile/yaml_octal_*.yaml are such files."""
    from archspec.errors import LoadError
    from archspec.loader import load_yaml

    with pytest.raises(LoadError) as info:
        load_yaml(f"archspec: 1\nx: {text}\n", "f.yaml")
    assert info.value.codes == ["E101"] and str(info.value.span) == "f.yaml:2:4"
    assert "octal" in str(info.value)
    assert load_yaml("x: [07, -07, 0o10, '010']\n").data["x"] == [7, -7, "0o10", "010"]


@pytest.mark.parametrize(
    ("file", "char"),
    [("lookalike_space_indent.yaml", "U+00A0"), ("lookalike_space_after_colon.yaml", "U+3000")],
)
def test_a_space_yaml_reads_as_text_is_named_and_shown(file: str, char: str) -> None:
    """A no-break or ideographic space where YAML wants a space (pasted from a web page)
    gave "mapping values are not allowed in this context" or "could not find expected ':'"
    with the hint to check colons and indentation, on a quoted line that showed the
    character as a space; an E201 said "unknown field `name: a`". The hint now names the
    character, its line and column, and every message shows such a space as an escape."""
    from archspec.errors import escape_text

    path = Path(__file__).resolve().parent / "hostile" / file
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.compile(path, device="meta")
    (diag,) = info.value.diagnostics
    assert char in str(diag.hint) and "looks like a space" in str(diag.hint), diag.hint
    assert "\u00a0" not in info.value.render() and "\u3000" not in info.value.render()
    assert escape_text("name:\u00a0a b") == "name:\\xa0a b"


@pytest.mark.parametrize("name", ["torch", "math", "copy"])
def test_compile_writes_no_module_that_shadows_torch_or_the_standard_library(
    name: str, tmp_path: Path
) -> None:
    """`archspec new torch` then `archspec compile torch.yaml -o .` wrote ./torch.py: its own
    `import torch` imported itself, and every later `archspec compile` in that folder was
    E601 "cannot import name 'nn' from partially initialized module 'torch'"; math.py or
    copy.py broke torch's own import there. Refused (E604) before anything is emitted."""
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(TINY_SPEC.replace("name: tiny", f"name: {name}"))
    result = runner.invoke(app, ["compile", str(spec), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "E604" in result.output, result.output
    assert "shadows" in result.output and f"-o {name}_net.py" in result.output
    assert not (tmp_path / f"{name}.py").exists()
    ok = runner.invoke(app, ["compile", str(spec), "-o", str(tmp_path / f"{name}_net.py")])
    assert ok.exit_code == 0, ok.output


TINY_SPEC = (
    "archspec: 1\nname: tiny\ninput: [N, 3, 8, 8]\nlayers:\n"
    "  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3}\n"
)


def test_a_library_module_named_as_a_spec_is_no_spec_text() -> None:
    """`archspec check archspec:blocks/resnet` read the name as YAML text (it starts with
    `archspec:`), a plain string, and said "<string>:1:1: error[E202]: a spec is a mapping
    ...; this file holds a string". A one-line text is a spec's only when `archspec:` is
    followed by a space; the name is E100, its hint saying what a library module is."""
    from archspec.catalog import is_spec_text

    assert not is_spec_text("archspec:blocks/resnet")
    assert is_spec_text("archspec: 1") and is_spec_text("{archspec: 1}")
    result = runner.invoke(app, ["check", "archspec:blocks/resnet"])
    assert result.exit_code == 1 and "E100" in result.output, result.output
    assert "module of the block library" in result.output and "E202" not in result.output


def test_a_mirror_s_query_token_is_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A mirror whose access token is in its query (a signed folder URL,
    `https://host/models?sv=...&sig=TOKEN`, now given the file's name before it) wrote the
    token into the `Downloading:` line and every E802, where a CI log keeps it, as a
    user:TOKEN@ mirror did before it was masked; the values show as `****`, and so does the
    query a file:// error quotes without the scheme."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for base in ("https://127.0.0.1:1/models?sv=1&sig=s3cret", f"{tmp_path.as_uri()}?sig=s3cret"):
        with pytest.raises(archspec.ArchSpecError) as info:
            archspec.load("squeezenet1_1", weights="DEFAULT", base_url=base)
        out = capsys.readouterr().out
        assert info.value.error_code == "E802"
        for text in (str(info.value), str(info.value.hint), out):
            assert "s3cret" not in text, text
        assert "sig=****" in str(info.value)


def test_a_factory_named_by_a_unicode_identifier_is_found_as_python_finds_it(
    tmp_path: Path,
) -> None:
    """`archspec import nets.py:Réseau` said "'nets.py:Réseau' is not MODULE_PATH:FACTORY"
    of a valid Python name (the pattern took ASCII only), and a class written with a
    black-letter H, which Python defines as `H` (NFKC), had "no attribute". Both are found
    now; the default spec name, not ASCII, is the E901 that asks for --name."""
    net = tmp_path / "nets.py"
    net.write_text(
        "import torch.nn as nn\n\n"
        "class R\u00e9seau(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n\n"
        "class \u210c(R\u00e9seau):\n    pass\n",
        encoding="utf-8",
    )
    for factory in ("R\u00e9seau", "\u210c"):
        with pytest.raises(ImportFailure, match="is not an ASCII name"):
            archspec.import_factory(f"{net}:{factory}", input=(1, 4))
        text = archspec.import_factory(f"{net}:{factory}", input=(1, 4), name="net")
        assert "name: net" in text


def test_a_module_the_model_s_file_imports_is_an_input_no_output_replaces(
    tmp_path: Path,
) -> None:
    """`archspec import net.py:Net -o helper.py --force`, where net.py does `from helper
    import block`, replaced helper.py with the spec (net.py itself was refused as an input,
    the module it imports beside it was not); a plugin's helper module likewise. Every file
    the factory's or the plugin's import loaded is now an input: E604, nothing changed."""
    helper = tmp_path / "helper40.py"
    helper.write_text("import torch.nn as nn\n\ndef block():\n    return nn.Linear(4, 2)\n")
    net = tmp_path / "net.py"
    net.write_text(
        "import torch.nn as nn\nfrom helper40 import block\n\n"
        "def Net():\n    return nn.Sequential(block(), nn.ReLU())\n"
    )
    before = helper.read_bytes()
    args = ["import", f"{net}:Net", "--input", "1,4", "-o", str(helper), "--force"]
    try:
        result = runner.invoke(app, args)
    finally:
        sys.modules.pop("helper40", None)
    # since session 41 a spec is written only to a .yaml file, so the name refuses the .py
    # helper first; the plugin's helper below (a schema's target) is refused as an input
    assert result.exit_code == 1 and "E604" in result.output, result.output
    assert "a spec is read back only from a .yaml file" in result.output
    assert helper.read_bytes() == before

    plugin_helper = tmp_path / "plughelper40.py"
    plugin_helper.write_text("X = 1\n")
    example = Path(__file__).resolve().parent.parent / "examples" / "se_layer.py"
    plugin = tmp_path / "se_plugin40.py"
    plugin.write_text(example.read_text() + "\nimport plughelper40  # noqa: E402, F401\n")
    args = ["schema", "--plugins", str(plugin), "-o", str(plugin_helper), "--force"]
    with plugins_restored():  # the plugin's kind leaves the registry with it
        try:
            result = runner.invoke(app, args)
        finally:
            sys.modules.pop("plughelper40", None)
    assert result.exit_code == 1 and "a file this command reads" in result.output
    assert plugin_helper.read_text() == "X = 1\n"
