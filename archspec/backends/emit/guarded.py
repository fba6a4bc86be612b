"""A node's statement in `forward` under the conditions that skip it: its `when` (an
optional layer of a class, `if self.act is not None:`) and the mode that does not compute
it (`eval_only`: `if not self.training:`; `pass_in_eval`: `if self.training:`), the input
that stands for it written where it is skipped."""

from __future__ import annotations

from ...ir import Node
from ..pycode import LINE_LENGTH, comment_line, wrap_comment
from ..pylayout import Doc, format_doc
from .model import fallback_input


class Target:
    """The variable a statement sets, and whether anything reads it (an unread node still
    runs, as compiled, without the assignment)."""

    __slots__ = ("read", "var")

    def __init__(self, var: str, read: bool) -> None:
        self.var, self.read = var, read


def guarded(
    node: Node, guard: str | None, out: Target, ins: list[str], expr: Doc, comment: str, indent: int
) -> list[str]:
    """The lines of `out = expr` for `node`, under `guard` (its `when`'s test, or None) and
    the test of the mode it runs in."""
    var, pad = out.var, " " * indent
    target = f"{var} = " if out.read else ""
    if node.eval_only:  # training passes the input on
        guard = "not self.training" if guard is None else f"{guard} and not self.training"
    elif node.pass_in_eval and guard is not None and fallback_input(node):
        # absent, the input its `when` names; there in eval, its first input
        return _passed_when(guard, var, ins, fallback_input(node) or 0, expr, comment, indent)
    elif node.pass_in_eval:  # eval passes the first input on
        guard = "self.training" if guard is None else f"{guard} and self.training"
    if guard is None:
        return statement_lines(target, expr, comment, indent)
    kept = ins[fallback_input(node) or 0]
    if var != kept and var in ins and out.read:  # the join reads `var`: set it after
        return [
            f"{pad}if {guard}:",
            *statement_lines(target, expr, comment, indent + 4),
            f"{pad}else:",
            f"{pad}    {var} = {kept}",
        ]
    lines = [f"{pad}{var} = {kept}"] if var != kept else []
    lines.append(f"{pad}if {guard}:")
    return lines + statement_lines(target, expr, comment, indent + 4)


def _passed_when(
    guard: str, var: str, ins: list[str], absent: int, expr: Doc, comment: str, indent: int
) -> list[str]:
    """A pass_in_eval node under a `when` whose absence stands for another input than its
    first: `if when: (if self.training: var = expr, else: var = first) else: var = that`,
    each branch reading the inputs before it sets `var`."""
    pad = " " * indent
    lines = [f"{pad}if {guard}:", f"{pad}    if self.training:"]
    lines += statement_lines(f"{var} = ", expr, comment, indent + 8)
    if var != ins[0]:
        lines += [f"{pad}    else:", f"{pad}        {var} = {ins[0]}"]
    if var != ins[absent]:
        lines += [f"{pad}else:", f"{pad}    {var} = {ins[absent]}"]
    return lines


def statement_lines(prefix: str, expr: Doc, comment: str, indent: int) -> list[str]:
    """A statement at `indent` with its shape comment (on the line above if it won't fit)."""
    lines = format_doc(expr, indent, prefix)
    if not comment:
        return lines
    note = comment_line(comment)
    if len(lines) == 1 and len(lines[0]) + 2 + len(note) <= LINE_LENGTH:
        return [lines[0] + "  " + note]
    pad = " " * indent
    return [pad + n for n in wrap_comment(comment, indent)] + lines
