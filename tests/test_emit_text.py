"""Spec text reaches emitted code only as data (issue 12, section 1).

Every free-text field of a spec (the description, a block's `doc`, a param's `doc` at the
root and in a block), the text values that become literals (a str param's default and an
override, an init rule's path glob, a string in an init rule's `when`) and the spec's file
name are filled with arbitrary Unicode and with payloads that would run if the text ever
became code: each payload calls `builtins.__setattr__` to raise a canary flag. The emitted
module must parse, hold nothing but imports and definitions, import and build without the
flag going up, and give the text back: docstrings and comments modulo the documented
normalisation (`pycode.plain_words`), literals exactly.
"""

from __future__ import annotations

import ast
import base64
import builtins
import re
import shlex
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import archspec
from archspec.api import build_graph
from archspec.backends import pysource
from archspec.backends.emit.files import header_lines
from archspec.backends.pycode import (
    LINE_LENGTH,
    docstring_lines,
    escape_text,
    expr_tree,
    fold,
    lit,
    plain_words,
    truth_fold,
    wrap_comment,
)
from archspec.backends.pysource import HEADER_PREFIX, render_module
from archspec.backends.selfcheck import check_emitted_source, parse_emitted
from archspec.errors import ArchSpecError, EmitError, LoadError, SchemaError

from .conftest import examples

CANARY = "archspec_test_canary_ran"
TRIP = f"__import__('builtins').__setattr__('{CANARY}', 1)"


def _utf7(text: str) -> str:
    """`text` as UTF-7 base64 (`+AAo-` is a line break): plain ASCII that only a file
    declaring `coding: utf-7` reads as `text`."""
    return "+" + base64.b64encode(text.encode("utf-16-be")).decode().rstrip("=") + "-"


#: In a header comment, this would declare the file UTF-7 and run TRIP on import (PEP 263).
CODING_PAYLOAD = f"coding:utf-7 {_utf7(chr(10) + TRIP + chr(10))}#"

#: Texts that closed the docstring, or broke the module, before the fix (issue 12, part 1),
#: and their relatives: each would run TRIP if the emitter wrote it as code.
PAYLOADS = (
    f'"""\n{TRIP}\n"""',
    f"\n{TRIP}\n",
    f'Args:\nx"""; {TRIP}; """: y',
    f'Args:\n{TRIP}: "',
    f'"""; {TRIP} #',
    f"'''; {TRIP}; '''",
    f'\\"""; {TRIP} #\\',
    f'\r{TRIP}\r"""',
    f"\x0c\n{TRIP}",
    f'\u2028{TRIP}\u2029"""',
    f"\\N{{SOME NAME}}{TRIP}",
)

#: Characters and words that are hard to escape or to lay out.
FRAGMENTS = (
    *PAYLOADS,
    '"',
    '""',
    '"""',
    "'''",
    "\\",
    "\\\\",
    "\\N{BULLET}",
    "\\N{SOME NAME}",
    "\\N{",
    "\\x41",
    "\\u2192",
    "\\\n",
    "Args:",
    "Args:\n",
    ": ",
    "\n",
    "\n\n",
    "\r",
    "\r\n",
    "\x0c",
    "\t",
    "\x00",
    "\x7f",
    "\x85",
    "\u00a0",
    "\u200b",
    "\u202e",
    "\u2066",
    "\u2028",
    "\ufeff",
    "\ud800",  # a lone surrogate: the schema refuses it (counted below)
    "caf\u00e9",
    "\u2192",
    "\u00d7",
    "\u201cquoted\u201d",
    "\U0001f600",
    "e\u0301",
    "#",
    "{{ jinja }}",
    "{% if x %}",
    "x" * 150,
    "\u2192" * 40,
    "\\N{RIGHTWARDS ARROW}" * 12,
    "coding:",
    "-*- coding=latin-1 -*-",
    CODING_PAYLOAD,
)

ANY_CHAR = st.characters(exclude_categories=())  # surrogates and controls included
TEXT = st.lists(st.text(ANY_CHAR, max_size=12) | st.sampled_from(FRAGMENTS), max_size=6).map(
    "".join
)


@pytest.fixture(autouse=True)
def _no_canary() -> Iterator[None]:
    if hasattr(builtins, CANARY):
        delattr(builtins, CANARY)
    yield
    tripped = hasattr(builtins, CANARY)
    if tripped:
        delattr(builtins, CANARY)
    assert not tripped, "spec text ran as code"


# -- helpers -----------------------------------------------------------------------------------


def _words(text: str) -> str:
    return " ".join(text.split())


def _normalised(text: str) -> str:
    return " ".join(plain_words(text))


def _run(source: str, tag: str) -> types.ModuleType:
    """Import emitted source as a fresh module, from the UTF-8 bytes a file of it holds (so
    an encoding declaration counts, as it does for `import`), independently of archspec."""
    module = types.ModuleType(f"emitted_text_{tag}")
    exec(compile(source.encode("utf-8"), f"<emitted {tag}>", "exec"), module.__dict__)
    return module


def _assert_inert(source: str) -> ast.Module:
    """The module holds imports and definitions only, and no call can reach the canary."""
    tree = ast.parse(source)
    for stmt in tree.body:
        assert isinstance(stmt, (ast.Import, ast.ImportFrom, ast.ClassDef)), ast.dump(stmt)[:120]
        if isinstance(stmt, ast.ClassDef):
            doc, *methods = stmt.body
            assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
            for m in methods:  # methods, and class attributes holding literals only
                if isinstance(m, ast.Assign):
                    assert all(isinstance(t, ast.Name) for t in m.targets)
                    ast.literal_eval(m.value)
                else:
                    assert isinstance(m, ast.FunctionDef), ast.dump(m)[:120]
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "__import__" not in names and "__setattr__" not in attrs
    return tree


def _comments(source: str) -> list[str]:
    """The text of each `#` comment line, its escapes read back as a docstring's would be."""
    out = []
    for line in source.splitlines():
        body = line.strip()
        if body.startswith("#"):
            out.append(ast.literal_eval('"""' + body[1:].strip() + ' """')[:-1])
    return out


def _constants(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and type(n.value) is str}


def _spec(texts: list[str]) -> dict[str, Any]:
    """A spec with a text in every free-text field and in every text value that is emitted."""
    desc, root_doc, tag_doc, block_doc, width_doc, tag, note, glob, when = texts
    return {
        "archspec": 1,
        "name": "texts",
        "class_name": "Texts",
        "description": desc,
        "input": ["N", 3, 8, 8],
        "params": {
            "w": {"type": "int", "default": 4, "doc": root_doc},
            "tag": {"type": "str", "default": tag, "doc": tag_doc},
            "note": {"type": "str", "default": note},  # unused: named in the docstring
        },
        "blocks": {
            "Unit": {
                "doc": block_doc,
                "params": {"width": {"type": "int", "doc": width_doc}},
                "layers": [
                    {"type": "conv2d", "out_channels": "width", "kernel_size": 3, "padding": 1}
                ],
            }
        },
        "layers": [{"type": "Unit", "width": "w"}, {"type": "Unit", "width": "w * 2"}],
        "init": [{"paths": ["*", glob], "when": f"tag != {when!r}", "weight": "ones"}],
    }


FIELDS = 9


def _check_module(source: str, texts: list[str], override: str, tag: str) -> None:
    """Everything the module docstring of this file promises, for one rendered spec."""
    desc, root_doc, tag_doc, block_doc, width_doc, _, note, glob, when = texts
    tree = _assert_inert(source)
    module = _run(source, tag)
    with torch.device("meta"):
        model = module.Texts()
    assert not hasattr(builtins, CANARY)
    root_text = _words(module.Texts.__doc__ or "")
    block_text = _words(module.Unit.__doc__ or "")
    assert _normalised(desc) in root_text
    assert f"w: {_normalised(root_doc) or 'int'}" in root_text
    assert f"tag: {_normalised(tag_doc) or 'str'}" in root_text
    assert _words(f"note={lit(note)}") in root_text  # fixed: named with its literal
    assert _normalised(block_doc) in block_text
    if plain_words(width_doc):  # a block lists its arguments when one of them has a doc
        assert f"width: {_normalised(width_doc)}" in block_text
    else:
        assert "Args:" not in block_text.replace(_normalised(block_doc), "")
    # literals: the override is the constructor's default, exactly; so are glob and `when`
    root = next(c for c in tree.body if isinstance(c, ast.ClassDef) and c.name == "Texts")
    init = next(f for f in root.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    defaults = [ast.literal_eval(d) for d in init.args.defaults]
    assert override in defaults and model is not None
    assert {glob, when} <= _constants(tree)
    # the header's command gives the override exactly, as one word, or says it cannot
    lines = source.splitlines()
    pasted = _pasted(lines[1 : lines.index("")])
    if pasted.startswith("archspec compile SPEC"):
        words = shlex.split(pasted.partition(" SPEC: ")[0], comments=True)
        assert (f"tag={override}" in words) == (override != texts[5]), words
    else:
        assert pasted.startswith("no command shown, as the value of tag holds characters")


# -- the property ------------------------------------------------------------------------------


def test_any_text_in_any_field_stays_data() -> None:
    """Hypothesis fills every field; both routes in (a mapping, a YAML file) are checked."""
    checked: list[str] = []
    refused: list[str] = []

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(texts=st.lists(TEXT, min_size=FIELDS, max_size=FIELDS), override=TEXT)
    def check(texts: list[str], override: str) -> None:
        texts[7] = texts[7][:200]  # the schema's limit for a path glob
        texts[8] = texts[8][:40]  # an expression is short; it holds a string literal
        spec = _spec(texts)
        yaml_text = yaml.safe_dump(spec, allow_unicode=False, sort_keys=False, width=80)
        for route, source in (("mapping", spec), ("yaml", yaml_text)):
            try:
                graph = build_graph(source, {"tag": override})
            except (LoadError, SchemaError) as exc:
                # Spec text that is not Unicode (lone surrogates) is refused, and nothing
                # else here; an override is a Python value, and the `when` string is
                # written with escapes (`'\\ud800'`): those reach the emitter.
                assert any("\ud800" <= ch <= "\udfff" for t in texts[:8] for ch in t), exc
                refused.append(route)
            else:
                _check_module(render_module(graph), texts, override, route)
                checked.append(route)

    check()
    assert checked.count("mapping") >= 90 and checked.count("yaml") >= 90, len(refused)
    assert refused, "no example held a lone surrogate: the refusal path went untested"


# The header and text properties from here on feed arbitrary Unicode to functions of text
# alone (no spec is built), and each example costs tens of milliseconds of `ast` parsing: the
# default run draws a fixed, derandomized share of the examples each was written with, `--all`
# draws them all (`examples` in tests/conftest.py). test_any_text_in_any_field_stays_data,
# which builds and runs modules, draws its full count always.


def test_the_regenerate_command_is_exact_or_says_why() -> None:
    """For any spec path, variant and `--set` text, the header's command pasted into a shell
    gives archspec exactly those arguments, or no command is written and the line says which
    argument could not be shown; either way the lines are inert comments."""
    outcomes: list[str] = []

    any_text = TEXT | st.from_regex(r"[\w.,'\[\]/;#$&|*-]{1,20}( [a-z0-9]{1,5})?", fullmatch=True)

    @settings(max_examples=examples(300, 150), deadline=None)  # sampled: see the note above
    @given(path=any_text, variant=st.none() | any_text, values=st.lists(any_text, max_size=3))
    @example(path="/0", variant=None, values=[])  # absolute: named by its file alone
    @example(path="/d/-x", variant="v", values=["a"])
    def check(path: str, variant: str | None, values: list[str]) -> None:
        assume(path.strip("/") and "\x00" not in path)
        sets = [f"p{i}={v}" for i, v in enumerate(values)]
        lines = header_lines(path, variant, sets, [])
        assert not ast.parse("\n".join(lines) + "\n").body
        assert all(ln.startswith("# ") for ln in lines)
        pasted = _pasted(lines[1:])
        if pasted.startswith("archspec compile "):
            # an absolute path is named by its file alone (no machine's folders written)
            named = Path(path).name if Path(path).is_absolute() else path
            argv = [named if not named.startswith("-") else f"./{named}"]
            argv += ["--variant", variant] if variant is not None else []
            argv += [w for s in sets for w in ("--set", s)]
            assert shlex.split(pasted, comments=True) == ["archspec", "compile", *argv]
            outcomes.append("exact")
        else:
            assert "characters that a comment cannot show exactly" in pasted
            outcomes.append("not shown")

    check()
    assert outcomes.count("exact") >= 20 and outcomes.count("not shown") >= 20, outcomes


def test_the_header_shows_the_spec_path_as_it_is() -> None:
    """The first line names the spec's path with every character kept (a backslash is part
    of a file name on POSIX, `d\\.yaml` is not `d/.yaml`; runs of spaces, quotes, controls):
    read back through the comment's escapes it is the path, on one inert comment line."""
    seen: list[str] = []

    @settings(max_examples=examples(300, 150), deadline=None)  # sampled: see the note above
    @given(path=TEXT | st.from_regex(r"[a-z\\ \"./]{1,12}\.yaml", fullmatch=True))
    def check(path: str) -> None:
        assume(path.strip() and not path.startswith("/") and "\x00" not in path)
        first = header_lines(path, None, [], [])[0]
        assert "\n" not in first and not ast.parse(first + "\n").body
        shown = ast.literal_eval('"""' + first.removeprefix("# ") + '"""')
        assert shown == (
            f"Generated by archspec {archspec.__version__} from {path}: edit the spec, not "
            "this file."
        )
        seen.extend(ch for ch in path if ch in '\\ "')

    check()
    assert "\\" in seen and '"' in seen, "no path held a backslash or a quote"


@settings(max_examples=examples(300, 100), deadline=None)  # sampled: see the header properties
@given(
    texts=st.lists(TEXT, min_size=1, max_size=3),
    args=st.lists(st.tuples(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), TEXT), max_size=3),
    indent=st.sampled_from([0, 4, 8]),
)
def test_docstring_lines_hold_any_text(
    texts: list[str], args: list[tuple[str, str]], indent: int
) -> None:
    """The docstring builder alone, with surrogates too (the schema refuses them, the
    emitter must not depend on it)."""
    lines = docstring_lines(texts, indent, args)
    pad = " " * indent
    body = "\n".join(pad + ln if ln else "" for ln in lines)
    tree = ast.parse(f"def f():\n{body}\n{pad}return 1\n" if indent else body)
    node = tree.body[0]
    doc = node.body[0].value.value if indent else node.value.value  # type: ignore[attr-defined]
    assert isinstance(doc, str)
    got = _words(doc)
    for text in texts:
        assert _normalised(text) in got
    for name, text in args:
        assert f"{name}: {_normalised(text) or '(no description)'}" in got
    for ln in lines:
        assert ln.isascii() or all(ch.isprintable() for ch in ln)
        assert len(pad + ln) <= LINE_LENGTH or " " not in ln.strip() or ln.startswith(" ")


@settings(max_examples=examples(300, 100), deadline=None)  # sampled: see the header properties
@given(text=TEXT, indent=st.sampled_from([0, 8]))
def test_comments_hold_any_text_on_their_own_lines(text: str, indent: int) -> None:
    lines = wrap_comment(text, indent)
    for ln in lines:
        assert ln.startswith("#") and "\n" not in ln and "\r" not in ln
        assert all(ch.isprintable() for ch in ln)
    source = "\n".join(lines) + "\nx = 1\n"
    assert [type(s) for s in ast.parse(source).body] == [ast.Assign]
    assert " ".join(_comments(source)) == _normalised(text)


@settings(max_examples=examples(500, 150), deadline=None)  # sampled: see the header properties
@given(text=st.text(ANY_CHAR))
def test_escape_text_reads_back_as_the_text(text: str) -> None:
    """`escape_text` is lossless: Python reads the line back as the text itself."""
    for named in (True, False):
        line = escape_text(text, named)
        assert all(ch.isprintable() for ch in line) and "\n" not in line
        assert not re.search(r"coding[:=]", line)  # no comment can declare an encoding
        assert ast.literal_eval('"""' + line + ' """') == text + " "
        assert ast.literal_eval('""" ' + line + '"""') == " " + text
        inner = escape_text(text, named, start=False, end=False)  # a line between others
        assert ast.literal_eval('""" ' + inner + ' """') == f" {text} "


def test_a_docstring_line_escapes_a_quote_only_where_it_touches_the_docstring_s_quotes() -> None:
    """A wrapped line began `\\"HS", 2]` (mobilenet_v3's "Emitted with bneck_setting="): every
    line escaped a quote at either end, though only the first line touches the opening
    quotes and the closing quotes stand on a line of their own."""
    text = '"first" ' + "a" * 82 + ' "HS", 2] "end"'
    lines = docstring_lines([text], 4)
    assert lines == ['"""\\"first" ' + "a" * 82, '"HS", 2] "end"', '"""']
    tree = ast.parse("def f():\n" + "\n".join("    " + ln for ln in lines) + "\n    return 1\n")
    assert ast.get_docstring(tree.body[0]) == text.replace(" " + '"HS"', '\n"HS"')
    assert wrap_comment('"x" ' * 30, 0)[1].startswith('# "x"')  # a comment closes nothing


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=126)), max_size=5))
def test_plain_ascii_text_comes_back_word_for_word(parts: list[str]) -> None:
    """For printable ASCII the normalisation only re-spaces: every word is kept as written."""
    text = "\n".join(parts)
    assert plain_words(text) == text.split()


# -- the defects of issue 12, one by one -------------------------------------------------------

BASE = {
    "archspec": 1,
    "name": "one",
    "input": ["N", 3, 8, 8],
    "params": {"w": {"type": "int", "default": 4}},
    "layers": [{"type": "conv2d", "out_channels": "w", "kernel_size": 3}],
}


def _yaml(spec: dict[str, Any]) -> str:
    """The spec as YAML text (so that errors have a line to point at)."""
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=False, width=80)


def _emit_with(**changes: Any) -> str:
    source = render_module(build_graph(_yaml({**BASE, **changes})))
    _assert_inert(source)
    _run(source, "one")
    return source


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("field", ["description", "param doc", "block doc", "block param doc"])
def test_payload_in_a_doc_is_data(field: str, payload: str) -> None:
    text = f"Args:\n{payload}\nmore"
    if field == "description":
        source = _emit_with(description=text)
    elif field == "param doc":
        source = _emit_with(params={"w": {"type": "int", "default": 4, "doc": text}})
    else:
        block = {
            "doc": text if field == "block doc" else "",
            "params": {"c": {"type": "int", "doc": text if field == "block param doc" else ""}},
            "layers": [{"type": "conv2d", "out_channels": "c", "kernel_size": 1}],
        }
        source = _emit_with(blocks={"B": block}, layers=[{"type": "B", "c": "w"}])
    assert _normalised(text) in _words(_docstrings(source))


def _docstrings(source: str) -> str:
    classes = [c for c in ast.parse(source).body if isinstance(c, ast.ClassDef)]
    return " ".join(ast.get_docstring(c, clean=False) or "" for c in classes)


def test_canary_trips_when_text_is_code() -> None:
    """The payloads are live: written into a docstring unescaped, each one runs."""
    for payload in (PAYLOADS[0], PAYLOADS[4]):
        exec(compile(f'"""{payload}"""', "<naive>", "exec"), {})
        assert hasattr(builtins, CANARY), payload
        delattr(builtins, CANARY)


def test_non_ascii_text_wraps_between_escapes() -> None:
    """Arrows and accents were escaped to `\\N{...}` and then wrapped at the spaces inside."""
    text = "maps x \u2192 y \u2192 z, caf\u00e9 \u2014 na\u00efve " * 20
    source = _emit_with(description=text)
    module = _run(source, "arrows")
    assert _normalised(text) in _words(module.One.__doc__)
    assert "\\N{RIGHTWARDS ARROW}" in source


def test_a_long_word_holding_an_escape_name_does_not_crash() -> None:
    word = "x" * 80 + "\\N{SOME NAME}" + "\u2192" * 30 + "\\N{BULLET}"
    source = _emit_with(
        description=f"see {word} end", params={"w": {"type": "int", "default": 4, "doc": word}}
    )
    module = _run(source, "word")
    assert _normalised(f"see {word} end") in _words(module.One.__doc__)
    assert f"w: {_normalised(word)}" in _words(module.One.__doc__)


def test_docstrings_keep_coding_readable_and_the_header_escapes_it(tmp_path: Path) -> None:
    """`coding:`/`coding=` is escaped only where a comment could declare the file's encoding,
    its first two lines (the header): a docstring read `encoding\\x3d1`, `coding\\x3a x`."""
    text = "uses sine_position_encoding=1 and a coding: utf-8 note"
    source = _emit_with(description=text, params={"w": {"type": "int", "default": 4, "doc": text}})
    assert "sine_position_encoding=1" in _docstrings(source) and "\\x3" not in source
    assert _run(source, "coding").One.__doc__.count("coding: utf-8 note") == 2
    path = tmp_path / "coding:utf-8.yaml"
    path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    header = archspec.emit(path).splitlines()[:2]
    assert "coding:" not in " ".join(header) and "coding\\x3a" in header[0]


def test_description_starting_with_args_is_a_paragraph() -> None:
    text = "Args:\nx: the spec's own words\ny: more"
    module = _run(_emit_with(description=text), "args")
    doc = module.One.__doc__
    assert doc.count("Args:") == 2 and "x: the spec's own words y: more" in doc


@pytest.mark.parametrize(
    ("name", "exact"),
    [
        ('evil\n"""\nimport os\n.yaml', False),
        ('quote\'"""name.yaml', False),
        ("back\\slash\\N{BULLET}.yaml", False),
        ("cr\rlf\r\n.yaml", False),
        ("bidi\u202e\u2066lmay.yaml", False),
        ("caf\u00e9 \u2192 spec.yaml", False),
        ("Args:\nx: y.yaml", False),
        ("#{{ x }}.yaml", True),
        (f"{CODING_PAYLOAD}.yaml", False),
        ("x; touch pwned #.yaml", True),
        ("$(touch pwned) `id` it's.yaml", True),
        ("caf\u00e9 au lait.yaml", True),
    ],
)
def test_spec_file_name_is_data_in_the_header(tmp_path: Path, name: str, exact: bool) -> None:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    source = archspec.emit(path)
    _assert_inert(source)
    _run(source, "file")
    lines = source.splitlines()
    assert lines[0].startswith(HEADER_PREFIX + " ")
    # the header shows the path as it is, every character read back from its escapes
    assert f" from {tmp_path.name}/{name}: " in _comments(lines[0])[0]
    pasted = _pasted(lines[1 : lines.index("")])
    if exact:
        # the command, pasted into a shell in the spec's folder (the path was absolute),
        # gives archspec the file's name as one word
        assert shlex.split(pasted, comments=True) == ["archspec", "compile", name]
    else:
        # a command that would paste as another file name is not written: the line says why
        assert not pasted.startswith("archspec compile ")
        assert "as the spec's path holds characters that a comment cannot show" in pasted


def _pasted(comment_lines: list[str]) -> str:
    """The Regenerate command as a reader copies it: the comments' text as shown (escapes
    and all), lines joined by a space, without the `Regenerate:` label."""
    text = " ".join(line.removeprefix("#").strip() for line in comment_lines)
    text = text.replace("Regenerate, in the spec's folder: ", "Regenerate: ", 1)
    assert text.startswith("Regenerate: ")
    return text.removeprefix("Regenerate: ")


@pytest.mark.parametrize(
    ("params", "unshown"),
    [
        ({"title": "two  spaces"}, "the value of title"),
        ({"title": "back\\slash"}, "the value of title"),
        ({"title": "tab\there"}, "the value of title"),
        ({"title": "\u65e5\u672c"}, "the value of title"),
        ({"title": "coding:latin-1"}, "the value of title"),
    ],
)
def test_the_regenerate_command_is_exact_or_not_written(
    tmp_path: Path, params: dict, unshown: str
) -> None:
    """A `--set` value a comment shows escaped (a doubled backslash, `\\N{...}`, a run of
    spaces as one) would paste as another value and write another file: the header says so
    instead of showing that command."""
    spec = dict(BASE, params={"title": {"type": "str", "default": "plain"}})
    spec["layers"] = [*BASE["layers"], {"type": "dropout", "p": 0.5, "when": "title != ''"}]
    spec["params"]["w"] = BASE["params"]["w"]
    path = tmp_path / "one.yaml"
    path.write_text(_yaml(spec), encoding="utf-8")

    def regenerate(values: dict) -> str:
        lines = archspec.emit(path, params=values).splitlines()
        return _pasted(lines[1 : lines.index("")])

    pasted = regenerate(params)
    assert not pasted.startswith("archspec compile ")
    assert f"as {unshown} holds characters that a comment cannot show exactly" in pasted
    plain = regenerate({"title": "hello world's [x]"})
    words = shlex.split(plain, comments=True)
    assert words == [
        "archspec",
        "compile",
        "one.yaml",
        "--set",
        "title=hello world's [x]",
    ]


def test_a_spec_given_as_data_names_spec_for_its_file() -> None:
    for source, name in ((BASE, "<mapping>"), (_yaml(BASE), "<string>")):
        lines = archspec.emit(source, params={"w": 6}).splitlines()
        header = lines[1 : lines.index("")]
        assert header[0] == "# Regenerate: archspec compile SPEC --set w=6"
        assert header[1:] == [
            f"# SPEC: a file holding the spec this file was emitted from (given as {name})."
        ]


def test_the_regenerate_command_quotes_set_values() -> None:
    """`--set cfg=[64,M]` unquoted is a glob pattern (zsh: 'no matches found')."""
    source = archspec.emit("vgg11", params={"cfg": "[64, M, 128]"})
    regenerate = " ".join(_comments("\n".join(source.splitlines()[1:3])))
    assert "--set 'cfg=[64,M,128]'" in regenerate
    assert shlex.split(regenerate)[-2:] == ["--set", "cfg=[64,M,128]"]


# -- render_module checks what it hands out ----------------------------------------------------


@pytest.mark.parametrize(
    "broken",
    ['class One(nn.Module):\n    """x"""\n    y = (\n', "import os\n", "print('hi')\n", "x = 1\n"],
)
def test_render_module_refuses_a_module_that_is_not_ours(
    monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    monkeypatch.setattr(pysource.Emitter, "render", lambda self: broken)
    graph = build_graph(_yaml(BASE))
    with pytest.raises(EmitError) as info:
        render_module(graph)
    assert info.value.span is not None and "bug" in (info.value.hint or "")


def test_an_emitter_crash_is_a_located_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("inside the emitter")

    monkeypatch.setattr(pysource.Emitter, "render_op", boom)
    spec = yaml.safe_dump(BASE, sort_keys=False)
    with pytest.raises(ArchSpecError) as info:
        render_module(build_graph(spec))
    err = info.value
    assert err.error_code == "E601" and "ZeroDivisionError" in str(err)
    assert err.span is not None and err.span.line == spec.splitlines().index("layers:") + 2
    assert "hint" in err.render()


@pytest.mark.parametrize(
    "value",
    ["w if w > 0 else 2.5 ** 2", "w if w > 0 else 0 ** -1", "w if w > 0 else max(5)"],
)
def test_an_untaken_branch_never_crashes_the_emitter(value: str) -> None:
    """check may accept the spec or not (expr.py decides); emit is then code or a located
    ArchSpecError, never a raw exception."""
    spec = {**BASE, "layers": [{"type": "conv2d", "out_channels": value, "kernel_size": 3}]}
    try:
        graph = build_graph(_yaml(spec))
        source = render_module(graph)
    except ArchSpecError as exc:
        assert exc.diagnostics and exc.span is not None
    else:
        _assert_inert(source)
        check_emitted_source(source, graph)


# -- the self-check runs the string it is given ------------------------------------------------


def test_check_emitted_source_counts_what_compile_builds() -> None:
    graph = build_graph(BASE)
    source = render_module(graph)
    n_params, n_tensors, skipped = check_emitted_source(source, graph)
    ref = archspec.compile(BASE)
    assert n_params == sum(p.numel() for p in ref.parameters()) == 3 * 4 * 9 + 4
    assert n_tensors == len(ref.state_dict()) == 2
    assert skipped is None  # the forward pass was compared too


def test_check_emitted_source_checks_the_string_not_a_file(tmp_path: Path) -> None:
    graph = build_graph(_yaml(BASE))
    source = render_module(graph)
    wrong = source.replace("kernel_size=3", "kernel_size=5")
    assert wrong != source
    with pytest.raises(EmitError) as info:
        check_emitted_source(wrong, graph)
    assert "state_dict" in str(info.value) and "bug" in (info.value.hint or "")
    assert info.value.span is not None and info.value.span.file == "<string>"
    # a class that fails to build is an EmitError too, not the exception itself
    with pytest.raises(EmitError, match="fails to build"):
        check_emitted_source(source.replace("super().__init__()", "1 / 0"), graph)


@pytest.mark.parametrize(
    "prefix",
    [
        f"{TRIP}\n",
        f"import os\n{TRIP}\n",
        f"@print\nclass X:\n    pass\n{TRIP}\n",
        f"class X({TRIP}):\n    pass\n",
        f"# {CODING_PAYLOAD}\n",
        "#!/usr/bin/env python\n# -*- coding: latin-1 -*-\n",
    ],
)
def test_check_emitted_source_runs_nothing_but_definitions(prefix: str) -> None:
    graph = build_graph(BASE)
    source = prefix + render_module(graph)
    with pytest.raises(EmitError):
        check_emitted_source(source, graph)
    with pytest.raises(EmitError):
        parse_emitted(source)


def test_hostile_text_modules_pass_ruff(tmp_path: Path) -> None:
    """Escaped text is also text ruff accepts as written (format and lint), long words,
    arrows, quotes at the ends and trailing backslashes included. Text that becomes a string
    literal in code may make a line too long (E501): a literal is never split."""
    texts = [
        *PAYLOADS,
        'ends with a quote"',
        '"starts with one',
        "ends with a backslash\\",
        "x" * 150 + " \u2192" * 60 + " caf\u00e9",
        "\u2192" * 40 + " " + "\\N{SOME NAME}" * 9,
    ]
    docs, literals = tmp_path / "docs", tmp_path / "literals"
    docs.mkdir()
    literals.mkdir()
    for i, text in enumerate(texts):
        doc = {"type": "int", "default": 4, "doc": text}
        source = _emit_with(description=text, params={"w": doc})
        (docs / f"text_{i}.py").write_text(source, encoding="utf-8")
        # (a comparison with a literal too long for its line is not broken as ruff would)
        spec = _spec([text, text, text, text, text, text, text, text[:200], text[:6]])
        source = render_module(build_graph(spec, {"tag": text}))
        (literals / f"fields_{i}.py").write_text(source, encoding="utf-8")
    config = str(Path(__file__).resolve().parent.parent / "pyproject.toml")
    for cmd, where in (
        (["check"], docs),
        (["check", "--extend-ignore", "E501"], literals),
        (["format", "--check", "--diff"], tmp_path),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *cmd, "--no-cache", "--config", config, str(where)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


_ODD = st.sampled_from(
    [
        "2.5 ** 2",
        "0 ** -1",
        "max(5)",
        "1 // 0",
        "w / 0",
        "10 ** 400",
        "2 ** w ** w",
        "-w",
        "w * 1.5",
        "'a' * w",
        "True",
        "w - w",
        "min(w, 0)",
        "abs(-3)",
        "w % 0",
        "in_channels // w",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    odd=_ODD,
    field=st.sampled_from(["out_channels", "kernel_size", "padding", "stride"]),
    form=st.sampled_from(
        ["w if w > 0 else {}", "{} if w < 0 else w", "w if True else {}", "w or {}", "{}"]
    ),
)
def test_the_emitter_raises_nothing_but_located_errors(odd: str, field: str, form: str) -> None:
    """Whatever an expression's untaken branch holds, and whether check accepts it or not,
    emitting gives a module that builds what compile builds, or a located ArchSpecError."""
    value = form.format(odd)
    layer = {"type": "conv2d", "out_channels": "w", "kernel_size": 1, field: value}
    spec = _yaml({**BASE, "layers": [layer]})
    try:
        graph = build_graph(spec)
        source = render_module(graph)
    except ArchSpecError as exc:
        assert all(d.span is not None for d in exc.diagnostics), exc
    else:
        _assert_inert(source)
        check_emitted_source(source, graph)


_CONDITIONS = st.recursive(
    st.sampled_from(["a", "b", "True", "False", "0", "1", "'x' == 'y'", "'x' == 'x'"]),
    lambda inner: st.builds(
        lambda op, parts: "(" + f" {op} ".join(parts) + ")",
        st.sampled_from(["and", "or"]),
        st.lists(inner, min_size=2, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=200)
@given(_CONDITIONS)
def test_truth_fold_keeps_every_conditions_truth(text: str) -> None:
    """Folded as a condition, an expression is true for exactly the same values of its names."""
    folded = truth_fold(fold(expr_tree(text)))
    for a in (False, True):
        for b in (False, True):
            env = {"a": a, "b": b}
            want = bool(eval(text, {}, env))
            code = compile(ast.fix_missing_locations(ast.Expression(folded)), "<f>", "eval")
            got = bool(eval(code, {}, env))
            assert got == want, (text, ast.unparse(folded))


def test_truth_fold_decides_what_no_name_can_change() -> None:
    assert ast.unparse(truth_fold(fold(expr_tree("z and 'B' == 'A'")))) == "False"
    assert ast.unparse(truth_fold(fold(expr_tree("z or 1")))) == "True"
    assert ast.unparse(truth_fold(fold(expr_tree("z and 'A' == 'A'")))) == "z"
    assert ast.unparse(truth_fold(fold(expr_tree("(z and y) or False")))) == "z and y"


def test_the_regenerate_command_of_an_absolute_path_runs_in_the_spec_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec named by an absolute path: the header shows no machine's directories, so the
    command names the file alone and says to run it in the spec's folder. Its last two parts
    (`specs/net.yaml`) would be another spec wherever a folder of that name is at hand (the
    project's own `specs/`), and the command would silently write another network."""
    folder = tmp_path / "specs"
    folder.mkdir()
    path = folder / "resnet18.yaml"
    path.write_text(_yaml(BASE), encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    lines = archspec.emit(path.resolve()).splitlines()
    header = " ".join(ln.removeprefix("#").strip() for ln in lines[1 : lines.index("")])
    label, _, command = header.partition(": ")
    assert label == "Regenerate, in the spec's folder"
    assert shlex.split(command) == ["archspec", "compile", "resnet18.yaml"]
    assert str(tmp_path) not in "\n".join(lines)
