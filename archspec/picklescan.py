"""A checkpoint's pickle read before torch's unpickler builds it: what the stream would build,
measured opcode by opcode from `pickletools.genops` (stdlib; nothing is constructed, no
class is looked up).

torch.load(weights_only=True) runs no code, but it builds every object the stream describes
and hashes each dict key: a tuple key nested a million levels deep overflows the C stack
in its hash (the process dies), and 40 tuples that each hold the one before twice (by the
memo, 300 bytes) make a key of 2^40 items whose hash never ends. So the stream is refused
when an object in it would be nested deeper than MAX_DEPTH, or when the items the objects it
builds take in (a memo reference counting all it holds again) outgrow the stream's length
(WORK_PER_OP per opcode, past a floor): a real checkpoint takes in each tensor's record
once, and shares a state_dict between its `model` and `ema` entries a few times at most.
"""

from __future__ import annotations

import io
import pickletools
from typing import IO

#: How deep an object may nest: a training checkpoint's optimizer state is some five levels.
MAX_DEPTH = 100
#: Items the objects built may take in, per opcode of the stream, past WORK_FLOOR.
WORK_PER_OP = 32
WORK_FLOOR = 1_000_000
#: How many pickles of one stream are read: torch.save's format before 1.6 writes five
#: (magic number, protocol, system info, the object, its storages' keys), then raw data.
MAX_PICKLES = 5

#: Opcodes that add the items above them to the container below them, in place.
_IN_PLACE = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"})
_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_MARK = object()


class _Node:
    """What an object of the stream would hold: `size` items with shared parts counted each
    time they are held, nested `depth` levels."""

    __slots__ = ("depth", "size")

    def __init__(self, size: int = 1, depth: int = 0) -> None:
        self.size = size
        self.depth = depth

    def take(self, items: list[_Node]) -> int:
        """Hold `items` too; returns the items taken in."""
        taken = sum(item.size for item in items)
        self.size += taken
        self.depth = max([self.depth, *(item.depth + 1 for item in items)])
        return taken


def pickle_problem(data: bytes | IO[bytes]) -> str | None:
    """Why the pickles at the start of `data` are not to be unpickled, or None. A stream
    that is no pickle (or stops being one) is left to the unpickler to refuse."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    for _ in range(MAX_PICKLES):
        start = stream.tell()
        try:
            problem = _scan_one(stream)
        except (ValueError, EOFError, IndexError, KeyError, TypeError):
            return None  # malformed past what was checked: torch.load's own error says so
        if problem is not None:
            return problem
        if stream.tell() == start:
            return None
    return None


def _scan_one(stream: IO[bytes]) -> str | None:
    stack: list[object] = []
    memo: dict[object, _Node] = {}
    work = ops = 0
    for ops, (opcode, arg, _) in enumerate(pickletools.genops(stream), start=1):
        name = opcode.name
        if name in _GETS:
            stack.append(memo.get(arg) or _Node())
            continue
        if name in _PUTS:
            if stack and isinstance(stack[-1], _Node):
                memo[arg] = stack[-1]
            continue
        if name == "MEMOIZE":
            if stack and isinstance(stack[-1], _Node):
                memo[len(memo)] = stack[-1]
            continue
        if name == "DUP":
            stack.append(stack[-1])
            continue
        if name == "MARK":
            stack.append(_MARK)
            continue
        before = opcode.stack_before
        popped: list[_Node] = []
        if pickletools.markobject in before:
            while stack and stack[-1] is not _MARK:
                popped.append(stack.pop())  # type: ignore[arg-type]
            if stack:
                stack.pop()
            popped.reverse()
            below = before.index(pickletools.markobject)
        else:
            below = len(before)
        under = [stack.pop() for _ in range(min(below, len(stack)))][::-1]
        nodes = [n for n in (*under, *popped) if isinstance(n, _Node)]
        if name in _IN_PLACE and nodes:
            container, items = nodes[0], nodes[1:]
        elif opcode.stack_after:
            container, items = _Node(), nodes
        else:
            continue  # POP, POP_MARK, STOP: nothing is built
        work += container.take(items)
        stack.append(container)
        stack.extend(_Node() for _ in opcode.stack_after[1:])
        if container.depth > MAX_DEPTH:
            return f"holds an object nested more than {MAX_DEPTH} levels deep"
        if work > WORK_FLOOR + WORK_PER_OP * ops:
            return (
                f"shares its parts so that its {ops:,} opcodes would build objects of more "
                f"than {work:,} items"
            )
    return None


__all__ = ["MAX_DEPTH", "pickle_problem"]
