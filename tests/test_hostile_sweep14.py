"""Hostile inputs found by the session-14 sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

import pytest

import archspec
from archspec.errors import ArchSpecError

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
