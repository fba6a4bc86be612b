"""Which dim of a declared input is what: its batch, its channels and its sizes.

One answer for every reader of an input (check's domain, lowering's channel axis, the per-sample
counts of `summary`, `diff`, `list` and `compile`, the batch of one a summary totals at), so
that no two of them read one input two ways. The batch is where the input names it: dim 0
of `[N, 3, H, W]` and of `[1, 3, 224, 224]`, dim 1 of `[L, N, 32]` (tokens sequence first).
An input that names no batch (`[L, 32]`, `[3, H, W]`) holds it at dim 0: archspec has no
unbatched inputs, as torch's layers mostly do not either (a model fed one unbatched sequence
is declared with a batch of one, `[L, 1, 32]`).
"""

from __future__ import annotations

from collections.abc import Sequence

from .dims import Dim, Shape

#: The names that mark a declared input's batch dim wherever it is: torch's own `N`, and the
#: `B` of `B, N, C = x.shape` (tokens, N of them, batch first) and of `T, B, C` (fairseq's
#: sequence first). The first dim named so is the batch.
BATCH_NAMES = ("N", "B")


def _named(shape: Shape, i: int) -> str | None:
    d = shape[i]
    return None if d.is_const or str(d) not in d.symbols else str(d)


def batch_dim(shape: Shape) -> int | None:
    """The dim a declared input holds its batch at: the first one named `N` or `B`
    (`[L, N, 32]`: tokens sequence first, torch's default for nn.LSTM and nn.Transformer),
    else dim 0 (`[1, 3, 224, 224]`, `[L, 32]`); None for a shape of no dims."""
    if not shape:
        return None
    for i in range(len(shape)):
        if _named(shape, i) in BATCH_NAMES:
            return i
    return 0


def features_last(shape: Shape) -> bool:
    """Whether a declared input holds its channels last: batch first with a symbol at dim 1
    and a number last (tokens `(N, L, 64)`, NHWC maps `(N, H, W, 3)`), or a batch named
    after dim 0 (`(L, N, 64)`, sequence first)."""
    b = batch_dim(shape)
    if b is None or len(shape) < 2:
        return False
    if b != 0:
        return b != len(shape) - 1
    return len(shape) >= 3 and not shape[1].is_const and shape[-1].is_const


def channel_dim(shape: Shape) -> int | None:
    """The dim of a declared input that holds its channels (or features): 1 for `(N, C, H, W)`
    and `(N, 64)`, the last for a channels-last input (`features_last`), the one before the
    batch when the batch is last (`(L, N)` token ids: L); None for rank 0 or 1."""
    b = batch_dim(shape)
    if b is None or len(shape) < 2:
        return None
    if b == len(shape) - 1 and b != 0:
        return b - 1
    return len(shape) - 1 if features_last(shape) else 1


def size_dims(shape: Shape) -> tuple[int, ...]:
    """The dims of a declared input that are sizes, neither its batch nor its channels: H and
    W of `(N, C, H, W)` and of `(N, H, W, C)`, L of `(N, L, 64)` and of `(L, N, 64)`; none
    for a rank of 2 or less (`(N, 64)`, token ids `(N, L)` whose L is read as written)."""
    if len(shape) < 3:
        return ()
    skip = {batch_dim(shape), channel_dim(shape)}
    return tuple(i for i in range(len(shape)) if i not in skip)


def batch_of_one(declared: Shape) -> tuple[int, ...] | None:
    """The declared input with batch 1, when every other size is declared: the example a
    summary totals MACs at and compile's self-check runs; None when a size is symbolic."""
    b = batch_dim(declared)
    if b is None or not all(d.is_const for i, d in enumerate(declared) if i != b):
        return None
    return tuple(1 if i == b else d.value for i, d in enumerate(declared))


def batch_of(shape: Shape) -> Dim:
    """A declared (or generalised) input's batch: `N` of `(N, 3, H, W)` and of `(L, N, 32)`."""
    return shape[batch_dim(shape) or 0]


def with_batch(example: Shape, declared: Shape, batch: Dim) -> Shape:
    """`example` with `batch` where `declared` holds its batch: `(10, N, 32)` for the example
    (10, 1, 32) of `(L, N, 32)`."""
    at = batch_dim(declared) or 0
    return tuple(batch if i == at else d for i, d in enumerate(example))


def batch_dims(shapes: Sequence[Shape]) -> tuple[int, ...]:
    """Each declared input's batch dim (0 for a shape of no dims): what a compiled or emitted
    network records for ONNX export's symbolic batch (`_archspec_batch_dims`)."""
    return tuple(batch_dim(s) or 0 for s in shapes)


def batch_symbols(shape: Shape) -> frozenset[str]:
    """The symbols of a declared input's batch dim (`{N}`; none where it is a number): what a
    count per sample sets to 1."""
    b = batch_dim(shape)
    return frozenset() if b is None else shape[b].symbols
