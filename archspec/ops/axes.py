"""Where a tensor's channel dim goes through a layer that changes the rank (`Op.channel_axis`):
lowering follows it so that `in_channels` stays the channel count, and the emitter reads it."""

from __future__ import annotations

from ..dims import Shape


def moved_axis(axis: int, before: Shape, after: Shape) -> int | None:
    """Where dim `axis` of `before` is in `after`, a reshape of it: the dims both shapes
    start with, and those they end with, come through whole (flatten(0, 1) of tokens
    (N, L, C) moves C from dim 2 to 1; unflatten(0, ...) moves it back). A dim the reshape
    merges or splits is lost (None), but dim 1 merged with the dims after it stays dim 1:
    a flatten of NCHW keeps its channels first."""
    n_in, n_out = len(before), len(after)
    head = 0
    while head < min(n_in, n_out) and before[head] == after[head]:
        head += 1
    if axis < head:
        return axis
    tail = 0
    room = min(n_in, n_out) - head
    while tail < room and before[n_in - 1 - tail] == after[n_out - 1 - tail]:
        tail += 1
    if axis >= n_in - tail:
        return axis + n_out - n_in
    return 1 if axis == 1 and head == 1 and n_out > 1 else None
