"""Hostile inputs found by the session-14 sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

import time

import pytest

import archspec
from archspec.errors import ArchSpecError
from tests.cpu import GUARD

TABLE = (
    "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nparams:\n  l: [[1, 2]]\n"
    "layers:\n  - {type: conv2d, out_channels: 4, kernel_size: 'len(l)'}\n"
)


@pytest.mark.parametrize("row", [{"a": 1}, (1, 2), {1, 2}, b"x", object()])
def test_a_table_holds_only_what_emitted_source_can_write(row: object) -> None:
    """A list param given a row that is a mapping, tuple, set, bytes or object (from Python,
    `--set l=[a: 1]` or YAML) checked clean, and `emit` then failed with E601 at 1:1."""
    result = archspec.check(TABLE, params={"l": [[1, 2], row]})
    assert [d.code for d in result.errors] == ["E309"], result.errors
    assert "a table holds numbers" in result.errors[0].message
    with pytest.raises(ArchSpecError) as info:
        archspec.emit(TABLE, params={"l": [row]})
    assert info.value.codes == ["E309"]
    assert archspec.check(TABLE, params={"l": [[1, 2], [3, None]]}).ok


def test_init_path_patterns_are_bounded_in_all_rules_together() -> None:
    """One init rule of 9,000 `paths:` patterns on 9,000 convs took 61 s to emit (every
    pattern was tried on every module in turn) and 9 s to compile: the patterns of all rules
    together are bounded, and each rule's are matched as one regex."""
    from archspec.schema import MAX_INIT_PATHS

    def spec(patterns: int) -> str:
        paths = ", ".join(f"'*{i}x*'" for i in range(patterns))
        return (
            "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n"
            "layers:\n  - {type: conv2d, out_channels: 3, kernel_size: 1}\n"
            f"init:\n  - {{paths: [{paths}], weight: zeros}}\n  - {{paths: ['*'], bias: zeros}}\n"
        )

    assert archspec.check(spec(MAX_INIT_PATHS - 1)).ok
    errors = archspec.check(spec(MAX_INIT_PATHS)).errors
    assert [d.code for d in errors] == ["E204"], errors
    assert f"{MAX_INIT_PATHS + 1:,} path patterns" in errors[0].message
    assert (errors[0].span.line, errors[0].span.col) == (7, 3)
    assert "merge rules" in (errors[0].hint or "")


def test_emit_matches_each_init_rule_once_per_module() -> None:
    """Emit tried each of a rule's globs on each module in turn (61 s for 9,000 of each, 20 s
    for 1,000 globs on 9,000 convs); one regex per rule, as the compiled model's init uses,
    selects the same modules."""
    globs = ", ".join(f"'zz{i}*'" for i in range(999))
    layers = (
        "  - {type: repeat, count: 9000, layer: {type: conv2d, out_channels: 3, kernel_size: 1}}\n"
    )
    text = (
        f"archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nlayers:\n{layers}"
        f"init:\n  - {{paths: [{globs}, '*.9'], weight: zeros}}\n"
    )
    archspec.emit("lenet5")
    start = time.process_time()
    source = archspec.emit(text)
    assert time.process_time() - start < GUARD
    assert '"*.9",' in source and '"zz998*",' in source


def test_block_lets_that_reread_each_other_emit_fast() -> None:
    """A block's lets that each read the one before three times (`a2: a1 - a1 + a1`) were
    written out into the class's output channels as one expression, 3**n names long: 12 such
    lets took 20 s to emit, 13 a minute, 59 ran for ever. Past a bound the instance's number
    is written, as for any value too long for a line, and the emitted module still matches."""
    lets = "".join(f"      a{i}: a{i - 1} - a{i - 1} + a{i - 1}\n" for i in range(1, 14))
    text = (
        "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n"
        f"blocks:\n  B:\n    params: {{w: int}}\n    let:\n      a0: w\n{lets}"
        "    layers:\n      - {type: conv2d, out_channels: a13, kernel_size: 1}\n"
        "layers:\n  - {type: B, w: 4}\n  - {type: B, w: 5}\n"
        "  - {type: conv2d, out_channels: 3, kernel_size: 1}\n"
    )
    archspec.emit("lenet5")
    start = time.process_time()
    source = archspec.emit(text)
    assert time.process_time() - start < GUARD
    assert "a13 = a12 - a12 + a12" in source
    assert 'self.add_module("2", nn.Conv2d(5, 3, kernel_size=1))' in source


@pytest.mark.parametrize(("written", "read"), [("\U0001d430", "w"), ("\ufb01", "fi")])
def test_an_expression_name_that_is_not_ascii_is_refused(written: str, read: str) -> None:
    """Python reads identifiers in NFKC form: a bold w (U+1D430) and the ligature fi
    (U+FB01) in an expression silently read the params `w` and `fi`; in a `when` and a key
    template too."""
    head = "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nparams: {w: 4, fi: 3}\nlayers:\n"
    for item in (
        f"  - {{type: conv2d, out_channels: '{written} + 1', kernel_size: 1}}\n",
        f"  - {{type: relu, when: '{written} > 1'}}\n",
        f"  - {{type: conv2d, key: 'k{{{written}}}', out_channels: 3, kernel_size: 1}}\n",
    ):
        errors = archspec.check(head + item).errors
        assert [d.code for d in errors] == ["E206"], (item, errors)
        assert f"read it as {read!r}" in errors[0].message


def test_a_long_pattern_gets_its_close_names_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """`archspec list PATTERN` (and every unknown built-in name) looks for built-in names
    sharing the pattern's start, trying each shorter start in turn: a 100,000-character
    pattern took 11 s of CPU (quadratic in its length). Starts longer than every name are
    skipped. Counted, not timed (a timing failed on a loaded CI machine): each start tried
    lowers every name once, so the names lowered bound the starts tried."""
    from archspec import catalog

    lowered = 0

    class Name(str):
        def lower(self) -> str:
            nonlocal lowered
            lowered += 1
            return str.lower(self)

    names = {Name(name): where for name, where in catalog.builtin_index().items()}
    monkeypatch.setattr(catalog, "builtin_index", lambda: names)
    assert catalog.close_names("resnet" * 40_000)[0].startswith("resnet")
    longest = max(map(len, names))
    assert 0 < lowered <= len(names) * (longest + 1), (lowered, len(names), longest)
