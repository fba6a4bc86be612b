"""Claims the docs make in prose (not in runnable examples), held against the code: the limits
table of spec-language.md, which commands take which common option, and errors a user meets
by following the docs' words."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

import archspec
from archspec import api, limits, loader, schema
from archspec.cli import app
from archspec.compose import sources, variants
from archspec.constructs.registry import META_FIELDS
from archspec.lowering import context, values

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _number(token: str) -> int:
    """`1 MiB`, `10^15`, `10,000` as the int they stand for."""
    token = token.strip()
    if token.endswith("MiB"):
        return int(token[:-3].replace(",", "")) << 20
    if "^" in token:
        base, exp = token.split("^")
        return int(base) ** int(exp)
    return int(token.replace(",", ""))


def _limits_table() -> dict[str, list[int]]:
    """The `## Limits` table of spec-language.md: its first column -> the numbers of its second."""
    page = (DOCS / "spec-language.md").read_text(encoding="utf-8")
    section = page.split("\n## Limits\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[int]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("what", "---"):
            continue
        found = re.findall(r"\d+ MiB|10\^\d+|\d[\d,]*", cells[1])
        rows[cells[0]] = [_number(t) for t in found]
    return rows


#: a row of the limits table (its start) -> the constants its figures state, in order
_LIMIT_CONSTANTS = {
    "spec file size": [loader.MAX_BYTES],
    "YAML nesting depth": [loader.MAX_DEPTH],
    "YAML nodes after alias expansion": [loader.MAX_NODES, loader.MAX_ALIASES],
    "text (keys and values)": [loader.MAX_TEXT],
    "list length, integer size": [loader.MAX_LIST, loader.MAX_INT],
    "expression length": [archspec.expr.MAX_EXPR_LEN],
    "files a composed spec reads": [
        sources.MAX_FILES,
        sources.MAX_TOTAL_BYTES,
        sources.MAX_IMPORT_DEPTH,
    ],
    "variants of one family": [variants.MAX_VARIANTS],
    "`repeat` count": [
        limits.MAX_NODES,
        limits.MAX_NODES,
        limits.MAX_NODES,
        context.MAX_BLOCK_DEPTH,
        context.MAX_NESTING,
    ],
    "layers after expansion of a family's": [
        limits.FAMILY_FACTOR,
        limits.FAMILY_FACTOR * limits.MAX_NODES,
    ],
    "a list param": [values.MAX_LIST_ITEMS, values.MAX_LIST_DEPTH],
    "parameters of a compiled model": [api.DEFAULT_MAX_PARAMS],
    "activation elements": [api.DEFAULT_MAX_ACTIVATIONS],
}


def test_the_limits_table_states_the_limits_the_code_enforces() -> None:
    table = _limits_table()
    checked = 0
    for start, constants in _LIMIT_CONSTANTS.items():
        rows = [figures for what, figures in table.items() if what.startswith(start)]
        assert len(rows) == 1, f"spec-language.md's limits table has no single row {start!r}"
        assert rows[0] == constants, f"limits table, {start!r}: says {rows[0]}, code {constants}"
        checked += 1
    assert checked == len(_LIMIT_CONSTANTS)


def _options() -> dict[str, set[str]]:
    """Each command of the CLI -> its option names."""
    group = typer.main.get_command(app)
    return {
        name: {opt for param in command.params for opt in param.opts}
        for name, command in group.commands.items()  # type: ignore[attr-defined]
    }


def _bullet(title: str) -> str:
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    return page.split(f"- **{title}.**", 1)[1].split("\n- **", 1)[0]


@pytest.mark.parametrize(
    ("title", "option"), [("Families", "--variant"), ("Size limit", "--max-layers")]
)
def test_cli_md_names_the_commands_that_take_a_common_option(title: str, option: str) -> None:
    listed = set(re.findall(r"`(\w+)`", _bullet(title).split(")", 1)[0]))
    having = {name for name, opts in _options().items() if option in opts}
    assert listed == having, f"cli.md: {option} on {sorted(listed)}; it is on {sorted(having)}"


def test_cli_md_names_the_commands_without_plugins() -> None:
    said = re.search(r"\(on every command but ([^,]+),", _bullet("Plugins"))
    assert said is not None
    without = set(re.findall(r"`(\w+)`", said.group(1)))
    lacking = {name for name, opts in _options().items() if "--plugins" not in opts}
    assert without == lacking


def _errors(text: str) -> list[tuple[str, str, str]]:
    result = archspec.check(text)
    return [(d.code, d.message, d.hint or "") for d in result.diagnostics]


_NET = "archspec: 1\nname: t\ninput: [N, 8]\nlayers:\n  - {type: linear, out_features: 4%s}\n"


def test_true_and_false_in_expressions_are_pythons() -> None:
    """spec-language.md: `True`/`False` in an expression; YAML's `true` there is an unknown
    name, and the hint says how to spell it."""
    assert archspec.check(_NET % ', bias: "not False"').ok
    ((code, message, hint),) = _errors(_NET % ', bias: "not false"')
    assert code == "E302" and "'false'" in message
    assert "write `False`" in hint


def test_an_init_rule_on_a_kind_without_a_module_says_so() -> None:
    """`layers:` of an init rule takes module kinds only: `add` is a kind, but not one to
    initialise (it once read "unknown layer kind `add`", hint "did you mean `add`?")."""
    text = (
        "archspec: 1\nname: t\ninput: [N, 8]\nlayers: [{type: linear, out_features: 4}]\n"
        "init:\n  - {layers: [add], weight: zeros}\n"
    )
    ((code, message, hint),) = _errors(text)
    assert code == "E205"
    assert "makes no module" in message and "did you mean" not in hint
    ((code, message, _),) = _errors(text.replace("[add]", "[lineer]"))
    assert code == "E205" and "unknown layer kind `lineer`" in message


def _table_keys(section: str, required: bool = False) -> set[str]:
    page = (DOCS / "spec-language.md").read_text(encoding="utf-8")
    text = page.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \| yes" if required else r"^\| `(\w+)` \|", text, re.M))


def test_the_header_table_lists_the_specs_keys_and_which_are_required() -> None:
    """Every top-level key is documented and no documented one is unknown (E201); `use`,
    `variants` and `extends` are resolved by composition, before the model sees the spec."""
    model = schema.spec_model()
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    assert _table_keys("The header") == set(fields) | {"use", "variants", "extends"}
    required = {name for name, info in fields.items() if info.is_required()}
    assert _table_keys("The header", required=True) == required


def test_the_fields_every_node_has_are_the_constructs_meta_fields() -> None:
    documented = _table_keys("Fields every node has")
    assert documented == {"from" if f == "from_" else f for f in META_FIELDS}


def test_e310_names_every_command_and_function_that_takes_the_layer_limit() -> None:
    """errors.md's fix for E310 lists where the limit is raised: every one of them, no other."""
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    fix = page.split("\n### E310\n", 1)[1].split("\n### ", 1)[0].split("**Fix.**", 1)[1]
    on_cli, in_api = fix.split("`max_layers=N`", 1)
    listed = set(re.findall(r"`(\w+)`", on_cli.split("--max-layers N", 1)[1]))
    assert listed == {name for name, opts in _options().items() if "--max-layers" in opts}
    functions = set(re.findall(r"`(?:archspec\.)?(\w+)`", in_api.split("(", 1)[0]))
    taking = {
        name
        for name in archspec.__all__
        if inspect.isfunction(getattr(archspec, name, None))
        and "max_layers" in inspect.signature(getattr(archspec, name)).parameters
    }
    assert functions == taking


def test_the_output_shown_in_check_help_is_checks_output() -> None:
    """`archspec check --help` shows what `archspec check vgg16` prints: the same lines."""
    runner = CliRunner()
    helptext = runner.invoke(app, ["check", "--help"], terminal_width=100).output
    lines = helptext.split("archspec check vgg16\n", 1)[1].splitlines()
    indent = len(lines[0]) - len(lines[0].lstrip())
    shown = []
    for line in lines:
        if len(line) - len(line.lstrip()) < indent:
            break
        shown.append(line[indent:].rstrip())
    done = runner.invoke(app, ["check", "vgg16"])
    assert done.exit_code == 0
    assert shown == [line.rstrip() for line in done.output.splitlines()]


def test_the_python_habits_e206_names_are_e206() -> None:
    """errors.md's typical causes of E206 are refused as E206; indexing a list param is not
    among them: it is part of the language (config tables)."""
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    section = page.split("\n### E206\n", 1)[1].split("\n### ", 1)[0]
    habits = re.findall(r"`([^`]+)`", section.split("**Typical cause.**", 1)[1].split(";")[0])
    assert len(habits) >= 3
    spec = (
        "archspec: 1\nname: t\ninput: [N, 8]\nparams: {cfg: [4, 8], x: 3}\n"
        "layers:\n  - {type: linear, out_features: %r}\n"
    )
    for habit in habits:
        ((code, _, _),) = _errors(spec % habit)
        assert code == "E206", habit
    assert archspec.check(spec % "cfg[0]").ok


def test_the_keys_e101_names_are_e101() -> None:
    """errors.md: `true:`, `null:`, `0.5:` as keys are E101; an integer key is text."""
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    section = page.split("\n### E101\n", 1)[1].split("\n### ", 1)[0]
    keys = re.findall(r"`([^`\s]+):`", section.split("a key such as", 1)[1].split("(", 1)[0])
    assert len(keys) >= 3
    spec = "archspec: 1\nname: t\ninput: [N, 8]\nlayers: [{type: relu}]\nparams: {%s: 1}\n"
    for key in keys:
        assert [code for code, _, _ in _errors(spec % key)] == ["E101"], key
    assert "E101" not in [code for code, _, _ in _errors(spec % "1")]


@pytest.mark.parametrize("source", [None, "resnet18"])
def test_the_commands_a_new_spec_suggests_take_the_options_they_are_given(
    source: str | None, tmp_path: Path
) -> None:
    """The comments `archspec new` writes are a new user's first lesson: every `archspec`
    command line in them names a command and options that command has."""
    out = tmp_path / "mynet.yaml"
    args = ["new", "mynet", "-o", str(out)] + (["--from", source] if source else [])
    assert CliRunner().invoke(app, args).exit_code == 0
    commands = _options()
    seen = 0
    for line in out.read_text().splitlines():
        if not re.match(r"#\s+archspec ", line):
            continue
        for run in re.split(r"(?<!\S)archspec ", line)[1:]:
            words = run.split("  ")[0].split()  # a description follows two spaces
            assert words[0] in commands, line
            for word in words[1:]:
                if word.startswith("-"):
                    assert word in commands[words[0]], f"{line!r}: {word} is no option"
            seen += 1
    assert seen >= 3


def test_a_word_field_reads_a_param_and_a_typo_is_told_the_words() -> None:
    """A word field takes one of its words, or a param's name (spec-language.md, word
    fields): `mode: m` reads the param (it was E204, whose hint said to write one layer per
    value under `when`s); a word that is neither a word nor a name in scope is E204 listing
    the words, with "did you mean" and the hint naming both ways."""
    text = (
        "archspec: 1\nname: t\ninput: [N, 8, 4, 4]\nparams: {m: bilinear}\n"
        "layers: [{type: upsample, scale_factor: 2, mode: %s}]\n"
    )
    assert archspec.check(text % "m").ok
    ((code, message, hint),) = _errors(text % "bilinea")
    assert code == "E204" and "'bilinear'" in message and "'nearest-exact'" in message
    assert hint.startswith("did you mean `bilinear`?") and "param" in hint and "{" in hint
    assert archspec.check(text % "bilinear").ok
