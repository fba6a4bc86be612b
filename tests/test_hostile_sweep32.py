"""Session 32's independent hostile sweep: careless input to the constructs that changed
(computed chunk names, expression hints), each refused once, at its own line, with a hint
that names nothing the user did not write."""

from __future__ import annotations

import pytest

import archspec
from archspec.errors import ArchSpecError

CHUNK = """\
archspec: 1
name: pieces
input: [N, 16, 8, 8]
params: {n: 4}
layers:
  - {type: chunk, names: NAMES}
  - {name: out, type: concat, from: FROM}
"""


@pytest.mark.parametrize(
    ("names", "read"),
    [
        ('{each: "{j}", for: j, in: n}', '["0", "1", "2", "3"]'),
        ('{each: "p{j}", for: j, in: [-1, -2]}', '["p-1", "p-2"]'),
        ('[a, {each: "__init__{j}", for: j, in: 2}]', "[a, __init__0, __init__1]"),
    ],
)
def test_a_bad_computed_piece_name_is_one_error_not_an_unknown_reference(
    names: str, read: str
) -> None:
    """The reader of a piece whose computed name is refused (E204) heard 'unknown reference
    `0`' too, with the hint 'names defined before this point: <failed item 0>'."""
    text = CHUNK.replace("NAMES", names).replace("FROM", read)
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    assert [(d.code, d.span.line) for d in err.value.diagnostics] == [("E204", 6)]


def test_the_names_before_a_reader_leave_out_a_failed_unnamed_item() -> None:
    """An unnamed item that fails is held under a name no spec can write, which the hint
    listed: 'names defined before this point: <failed item 0>'."""
    text = CHUNK.replace("{type: chunk, names: NAMES}", '{type: linear, out_features: "n - 9"}')
    text = text.replace("FROM", "[b, input]")
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    hints = [d.hint or "" for d in err.value.diagnostics if d.code == "E305"]
    assert hints and not any("<failed" in h for h in hints), hints


@pytest.mark.parametrize(
    ("class_name", "layer"),
    [
        ("BlurPool2d", "{name: aa, type: blur_pool2d}"),
        ("MaxPool2dSame", "{name: p, type: maxpool2d, kernel_size: 3, stride: 2, padding: same}"),
    ],
)
def test_a_class_name_a_kinds_support_code_defines_is_refused_at_class_name(
    class_name: str, layer: str
) -> None:
    """emit refused it at 1:1 with no hint (the spec's first line)."""
    text = (
        f"archspec: 1\nname: net\nclass_name: {class_name}\ninput: [N, 3, 16, 16]\n"
        f"layers:\n  - {layer}\n"
    )
    with pytest.raises(ArchSpecError) as err:
        archspec.emit(text)
    (d,) = err.value.diagnostics
    assert d.code == "E602" and d.span is not None and (d.span.line, d.span.col) == (3, 13)
    assert d.hint and "class_name:" in d.hint


@pytest.mark.parametrize(
    ("layer", "padding", "lead"),
    [
        ("conv2d, out_channels: 4, kernel_size: 3", "SAME", "write `same`"),
        ("conv2d, out_channels: 4, kernel_size: 3", "'valid '", "write `valid`"),
        ("maxpool2d, kernel_size: 3", "Same", "write `same`"),
        ("maxpool2d, kernel_size: 3", "valid", "besides"),
    ],
)
def test_a_word_a_field_takes_misspelt_says_the_words_it_takes(
    layer: str, padding: str, lead: str
) -> None:
    """`padding: SAME` was "unknown name 'SAME'" with the names in scope as its only hint."""
    head = "archspec: 1\nname: t\ninput: [N, 4, 8, 8]\nlayers:\n"
    text = f"{head}  - {{type: {layer}, padding: {padding}}}\n"
    (error,) = archspec.check(text).errors
    assert error.code == "E302" and error.span.line == 5
    assert error.hint.startswith(lead)
    assert "this field takes `same`" in error.hint
