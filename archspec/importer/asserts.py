"""A Python `assert` on sizes in a forward (CRNN's `assert h == 1, "the height of conv must
be 1"`), read as the `torch._assert` torch.fx records for it.

torch.fx cannot give a traced condition a truth value, so `assert h == 1` stopped the trace
(E902). torch's own `trace_asserts` reads the bytecode of Pythons before 3.11 only. Here the
statement is found the same way on any: the condition's jump falls through to
`LOAD_ASSERTION_ERROR` when true is taken (`assert c`, the last part of `assert a and b`) or
jumps to it when false is (the parts of `assert a and b` before the last). The condition is
then recorded as `torch._assert(cond)`, which shapes.py reads as it reads a `torch._assert`
the forward writes (a `check_size`, no step, or a located refusal), and the trace goes on
as past a holding assertion. Any other test of a traced condition (`if`, `assert a or b`,
`assert not c`) stays torch.fx's refusal.
"""

from __future__ import annotations

import dis
from types import FrameType
from typing import Any

#: what a Python between the condition's value and its jump may run (3.13's TO_BOOL)
_BETWEEN = frozenset({"TO_BOOL", "CACHE", "NOT_TAKEN", "EXTENDED_ARG"})


def asserted(frame: FrameType | None) -> bool:
    """Whether the truth value being asked for in `frame` (the forward's) is an `assert`
    statement's condition, or one part of `and`s all of which it asserts."""
    if frame is None:
        return False
    insts = list(dis.get_instructions(frame.f_code))
    at = next((i for i, ins in enumerate(insts) if ins.offset == frame.f_lasti), None)
    while at is not None and at < len(insts) and insts[at].opname in _BETWEEN:
        at += 1
    if at is None or at + 1 >= len(insts) or "JUMP" not in insts[at].opname:
        return False
    jump = insts[at]
    by_offset = {ins.offset: ins for ins in insts}
    if "IF_TRUE" in jump.opname:
        after = insts[at + 1]
        return after.opname == "LOAD_ASSERTION_ERROR"
    if "IF_FALSE" in jump.opname:
        target = by_offset.get(jump.argval)
        return target is not None and target.opname == "LOAD_ASSERTION_ERROR"
    return False


def record_assert(tracer: Any, condition: Any) -> bool:
    """Record `torch._assert(condition)` in the graph `tracer` builds: True, the value an
    assertion that holds gives, so the forward goes on past it."""
    import torch

    tracer.create_proxy("call_function", torch._assert, (condition, "assert"), {})
    return True


_PARTIAL_HINT = (
    "a spec's `check_size` states every spatial size of a tensor: assert each of them "
    "(`assert h == 1 and w == 26`), or remove the assertion from forward (a spec's shape "
    "rules refuse, at `archspec check`, the sizes its layers cannot take)"
)


def partial_assertion(
    reader: Any, node: Any, found: dict[Any, tuple[int, int]], src: Any, rank: int
) -> bool:
    """Assertions `found` (node -> (dim, size)) of some spatial sizes of `src`, a tensor
    of `rank` dims, but not all, which no `check_size` states: no step when each asserts a
    size of 1 at a dim the forward squeezes off `src` (CRNN's `assert h == 1` before
    `conv.squeeze(2)`: a spec's `squeeze` requires that size, as the assertion does), else
    one E903 at `node`. True: handled."""
    if all(size == 1 and _squeezed(src, d, rank) for d, size in found.values()):
        reader.asserted.update(found)
        return True
    dims = ", ".join(str(d) for d in sorted({d for d, _ in found.values()}))
    reader.fail(
        "E903",
        f"an assertion of the size of dim {dims} alone of a tensor of {rank - 2} spatial "
        "dims, which no `check_size` states",
        node,
        _PARTIAL_HINT,
    )
    reader.asserted.update(found)
    return True


def _squeezed(src: Any, dim: int, rank: int) -> bool:
    """Whether the forward squeezes dim `dim` off `src` (`src.squeeze(2)`, `torch.squeeze(src,
    -2)`): the spec's `squeeze` then requires that it be 1."""
    import torch

    for user in src.users:
        method = user.op == "call_method" and user.target == "squeeze"
        if not (method or (user.op == "call_function" and user.target is torch.squeeze)):
            continue
        given = user.args[1] if len(user.args) > 1 else user.kwargs.get("dim")
        if type(given) is int and given % rank == dim and user.args[0] is src:
            return True
    return False
