"""The one-pass reading of a plain document (loader_events) gives what the three passes
(structure scan, composer, builder) give: the same data, types and spans, in the same order;
and it gives nothing at all for a document they refuse, which they then report as ever."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archspec import linebreaks, loader
from archspec.errors import LoadError

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(
    [
        *ROOT.glob("specs/*.yaml"),
        *ROOT.glob("archspec/library/blocks/*.yaml"),
        *ROOT.glob("tests/**/*.yaml"),
        *ROOT.glob("examples/**/*.yaml"),
    ]
)

TEXTS = [
    "a: 1\n",
    "just a scalar\n",
    "---\n",
    "~\n",
    "",
    "# a comment alone\n",
    "a: &x [1, 2, {b: &y c}]\nd: *x\ne: *y\nf: {g: *x}\n",
    "a: &m {k: v, l: [1, 2]}\nb: [*m, *m]\n",
    "a: &s 3\nb: *s\n",
    "a: *nowhere\n",
    "a: &x [*x]\n",
    "a: &x 1\nb: &x 2\n",
    "&k a: 1\nb: 2\n",
    "? [a]\n: b\n",
    "<<: {a: 1}\n",
    "'<<': 1\n",
    "1: one\n0x10: sixteen\n'1': again\n",
    "1.5: x\n",
    "yes: x\n",
    "~: x\n",
    "a: 1\na: 2\n",
    "a: 1:20\n",
    "a: 2001-12-14\n",
    "a: !!str 3\n",
    "a: !!binary aGk=\n",
    "a: !custom x\n",
    "a: ! x\n",
    "a: !!map {b: 1}\n",
    "a: !!bool maybe\n",
    "a: .nan\n",
    "a: 1e999\n",
    "a: 1e-5\nb: 1E5\nc: '1e3'\nd: [1.5e10, .5e1]\n",
    "a: 99999999999999999999\n",
    "a: -1000000000000000\nb: 1000000000000001\n",
    "a: [1, 2\n",
    "a: b\n---\nc: d\n",
    "a: b\n...\n",
    "a: b\n...\n---\nc: d\n",
    "- a\n- - b\n  - c\n- {d: e, f: [g, 'h', \"i\"]}\n",
    "k: |\n  kept\n   indent\nf: >\n  two\n  lines\n",
    "[a: b, c]\n",
    "{a: {b: {c: {d: [[[[]]]]}}}}\n",
    "[" * 70 + "]" * 70 + "\n",
    "[" * 64 + "]" * 64 + "\n",
    "a:\n" + "".join(f"  - {i}\n" for i in range(20_001)),
    "a: " + "[" * 2000 + "\n",
    "x: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(f"y{i}: *a\n" for i in range(100)),
    "empty:\nnull_word: null\nquoted: 'it''s'\nesc: \"\\u00e9\"\n",
    "a: &o [&i [x, {k: &s v}], *s]\nb: [*o, *i]\nc: &p {q: *o}\nd: *p\n",
    "a:\n" + "".join(f"  - &a{i} [x, {{k: {i}}}]\n" for i in range(300)) + "b: [*a7, *a299]\n",
]


def _outcome(text: str, file: str, one_pass: bool) -> Any:
    """What `_parse_yaml` gives: its data (each leaf with its type) and span maps in order,
    or the rendered error."""
    saved = loader._read_plain
    if not one_pass:
        loader._read_plain = lambda text, file: None  # type: ignore[assignment]
    try:
        doc = loader._parse_yaml(text, file)
    except LoadError as exc:
        return ("error", exc.render(), [str(d.span) for d in exc.diagnostics])
    finally:
        loader._read_plain = saved
    return (_typed(doc.data), list(doc.spans.items()), list(doc.key_spans.items()))


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


def _same_reading(text: str, file: str) -> bool:
    """Both readings agree; whether the one pass read it."""
    slow = _outcome(text, file, one_pass=False)
    assert _outcome(text, file, one_pass=True) == slow
    plain = loader._read_plain(text, file)
    if slow[0] == "error":
        assert plain is None  # a refused document is always left to the three passes
    return plain is not None


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_reads_alike(path: Path) -> None:
    try:
        text = loader.read_spec_text(path)
    except LoadError:
        return  # a file the reader refuses never reaches the parser
    _same_reading(text, str(path))


@pytest.mark.parametrize("text", TEXTS)
def test_edge_cases_read_alike(text: str) -> None:
    _same_reading(text, "t.yaml")


def test_mutated_specs_read_alike() -> None:
    """Shipped specs with a line dropped, doubled or cut, or a character changed: whatever
    the three passes make of each (an error or data), the one pass agrees."""
    rng = random.Random(20)
    texts = [loader.read_spec_text(p) for p in FILES if p.parent.name in ("specs", "blocks")]
    for _ in range(300):
        lines = rng.choice(texts).splitlines(keepends=True)
        i = rng.randrange(len(lines))
        how = rng.randrange(4)
        if how == 0:
            del lines[i]
        elif how == 1:
            lines.insert(i, lines[i])
        elif how == 2:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        else:
            line = lines[i]
            j = rng.randrange(len(line) + 1)
            lines[i] = line[:j] + rng.choice(":-[]{}&*!'\"#, |>?0a") + line[j:]
        _same_reading("".join(lines), "m.yaml")


def test_specs_and_libraries_take_the_one_pass() -> None:
    """The shipped specs and block libraries (anchors and aliases included: vgg.yaml) are
    plain documents, read in one pass."""
    shipped = [p for p in FILES if p.parent.name in ("specs", "blocks")]
    assert len(shipped) > 30
    for path in shipped:
        assert _same_reading(loader.read_spec_text(path), str(path)), path


@pytest.mark.parametrize("text", [t for t in TEXTS if len(t) < 2000])
def test_edge_cases_read_alike_with_pyyamls_own_parser(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libyaml, the one pass reads PyYAML's own events alike."""
    monkeypatch.setattr(loader, "_CLoader", None)
    _same_reading(text, "t.yaml")


def test_many_anchors_read_in_linear_time() -> None:
    """What an alias repeats is taken from the spans given since its anchor, not from the
    whole span map: 9,000 anchored lists took 17 s that way (the three passes: 0.1 s)."""
    text = "a:\n" + "".join(f"  - &a{i} [x]\n" for i in range(9000))
    start = time.process_time()
    assert loader._read_plain(text, "t.yaml") is not None
    assert time.process_time() - start < 3.0


def test_kept_plain_tags_follow_the_resolvers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tags of plain scalars are kept across documents only while the parser's implicit
    resolvers stay what they were: a resolver added later applies to the next document."""
    text = "a: wordy\nb: 3\n"
    assert loader._read_plain(text, "x.yaml").data == {"a": "wordy", "b": 3}
    cls = type(loader._make_loader(""))
    table = {key: list(found) for key, found in cls.yaml_implicit_resolvers.items()}
    table.setdefault("w", []).insert(0, ("tag:yaml.org,2002:null", re.compile(r"wordy\Z")))
    monkeypatch.setattr(cls, "yaml_implicit_resolvers", table)
    assert loader._read_plain(text, "x.yaml").data == {"a": None, "b": 3}
    monkeypatch.undo()
    assert loader._read_plain(text, "x.yaml").data == {"a": "wordy", "b": 3}


_PIECES = ["a: 1", "\n", "\r\n", "\r", " ", "é", "\x85", "\u2028", "\u2029", "- x", "'\u202e'"]


@settings(max_examples=300)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=12),
    cut=st.integers(min_value=0, max_value=40),
)
def test_the_ascii_fast_path_finds_the_hidden_breaks_the_pattern_finds(
    pieces: list[str], cut: int
) -> None:
    """`loader._hidden_break` answers None at once for ASCII text without a CR, which it
    reads twice per file: the same break (or none) as `linebreaks.hidden_break` whatever
    the text and the end, so no hidden break or lone CR gets past it (E105)."""
    text = "".join(pieces)
    end = min(cut, len(text))
    fast = loader._hidden_break(text, end)
    slow = linebreaks.hidden_break(text, end)
    assert (fast and (fast.start(), fast.group())) == (slow and (slow.start(), slow.group()))
    whole, found = loader._hidden_break(text), linebreaks.hidden_break(text)
    assert (whole and whole.start()) == (found and found.start())
    _SEEN["fast" if text.isascii() and "\r" not in text else "pattern"] += 1


_SEEN: Counter[str] = Counter()


def test_both_paths_of_the_hidden_break_check_were_exercised() -> None:
    """The property above met texts on either side of the fast path (run after it)."""
    if not _SEEN:
        test_the_ascii_fast_path_finds_the_hidden_breaks_the_pattern_finds()
    assert _SEEN["fast"] >= 20 and _SEEN["pattern"] >= 100, _SEEN


def test_a_raw_bidi_control_is_refused_past_the_ascii_fast_path() -> None:
    """An ASCII spec skips the bidi search; one non-ASCII character brings it back, so a
    raw override in a value is still refused at its character (E105)."""
    assert loader.load_yaml("a: 'x'\n", "t.yaml").data == {"a": "x"}
    with pytest.raises(LoadError) as info:
        loader.load_yaml("a: 'x\u202e'\n", "t.yaml")
    assert info.value.codes == ["E105"]
    assert (info.value.span.line, info.value.span.col) == (1, 6)
