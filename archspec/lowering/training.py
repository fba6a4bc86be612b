"""`shard:` and `checkpoint:`: the spec's lists of blocks that are training units.

Both name blocks of the composed spec (its own, or imported with `use:`); a name that is no
block is E205 at the entry. What they do happens in the backends: `shard_unit_paths` (ir.py)
picks the FSDP units, and a block instance's `checkpoint` flag is set where it is lowered
(constructs/block_call.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

#: What each list is for, in its errors.
_ROLE = {
    "shard": "whose instances are FSDP units",
    "checkpoint": "whose instances run under activation checkpointing",
}


def training_units(lw: Lowerer) -> tuple[str, ...] | None:
    """The spec's `shard:` blocks (None when it has no `shard:`), after checking that
    `shard:` and `checkpoint:` name blocks of the spec."""
    for key in ("shard", "checkpoint"):
        _check_names(lw, key, getattr(lw.spec, key) or ())
    shard = lw.spec.shard
    return None if shard is None else tuple(dict.fromkeys(shard))


def _check_names(lw: Lowerer, key: str, names: Sequence[str]) -> None:
    blocks = sorted(lw.spec.blocks)
    for i, name in enumerate(names):
        if name in lw.spec.blocks:
            continue
        close = lw.close_matches(name, blocks)
        if close:
            hint = f"did you mean `{close[0]}`?"
        elif blocks:
            hint = "this spec's blocks: " + ", ".join(blocks)
        else:
            hint = "this spec has no blocks: define one under `blocks:` or import one with `use:`"
        lw.error(
            "E205",
            f"`{key}:` names `{name}`, which is no block of this spec ({key} lists the "
            f"blocks {_ROLE[key]})",
            (key, i),
            hint,
        )
