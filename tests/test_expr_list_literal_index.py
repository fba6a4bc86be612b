"""A list written in place and read at an index that is a name (`"[3, 5, 7][j]"`, a kernel
size per branch): before, the check for parts that fail whatever the params are took the
constant list for a constant that is no list and refused it with "only a list can be
indexed, not list [3, 5, 7]". Text or a number read at an index still fails for every
value, and is still refused where it is written."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.expr import ExprError, parse_expr


@pytest.mark.parametrize(
    ("text", "names", "value"),
    [
        ("[3, 5, 7][j]", {"j": 2}, 7),
        ("[3, 5, 7][-j]", {"j": 1}, 7),
        ("[[1, 2], [3, 4]][j][1]", {"j": 1}, 4),
        ("[w, 2 * w][j]", {"j": 1, "w": 8}, 16),
        ("[3, 5][j] // 2", {"j": 1}, 2),
    ],
)
def test_a_list_in_place_is_read_at_a_names_index(text: str, names: dict, value: int) -> None:
    assert parse_expr(text).evaluate(names) == value


@pytest.mark.parametrize("text", ["'abc'[j]", "3[j]", "[1, 2][0][j]"])
def test_what_is_no_list_is_refused_whatever_the_index(text: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_expr(text)
    assert info.value.code == "E308"
    assert "only a list can be indexed" in info.value.message


def test_a_spec_reads_a_kernel_size_per_copy_from_a_list_in_place() -> None:
    text = textwrap.dedent(
        """\
        archspec: 1
        name: mixed
        input: [N, 8, 16, 16]
        layers:
          - name: convs
            type: repeat
            count: 3
            layer: {type: conv2d, out_channels: 8, kernel_size: "[3, 5, 7][i]",
                    padding: "[3, 5, 7][i] // 2", groups: 8}
        """
    )
    model = archspec.compile(text)
    assert [m.kernel_size for m in model.convs] == [(3, 3), (5, 5), (7, 7)]
    assert model(torch.randn(1, 8, 16, 16)).shape == (1, 8, 16, 16)
    namespace: dict = {}
    exec(compile(archspec.emit(text), "<emitted>", "exec"), namespace)
    emitted = namespace["Mixed"]()
    assert [m.kernel_size for m in emitted.convs] == [(3, 3), (5, 5), (7, 7)]
