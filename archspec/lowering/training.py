"""`shard:` and `checkpoint:`: the spec's lists of blocks that are training units, and
`frozen:`, its module paths whose parameters do not train.

The first two name blocks of the composed spec (its own, or imported with `use:`); a name
that is no block is E205 at the entry. What they do happens in the backends:
`shard_unit_paths` (ir.py) picks the FSDP units, and a block instance's `checkpoint` flag is
set where it is lowered (constructs/block_call.py). A `frozen:` path names a module of the
lowered network (a node, a block instance, a container its dotted keys make, or a layer
inside one), else E305 at the entry; the backends set requires_grad=False on its parameters.
A path to a module that a `when:` switched off in this build (a family's variant without the
stem that another variant freezes, or `--set use_stem=false`) names nothing to freeze here and
is left out: the list is the family's, the typo it would be elsewhere is still E305.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..ir import Module, iter_nodes

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


def frozen_paths(lw: Lowerer, root: Module) -> tuple[str, ...]:
    """The spec's `frozen:` paths, each checked to name a module of `root`: one a node's path
    is, or a container holding one (`body` of `body.conv1`); E305 at the entry otherwise.
    Then the instances of the blocks declared `frozen: true`, outside those paths."""
    given = lw.spec.frozen
    blocks = {name for name, b in lw.spec.blocks.items() if b.frozen}
    if not given and not blocks:
        return ()
    modules: set[str] = set()
    instances: list[str] = []
    # the items a `when` switched off, by name or `key:`
    off = [name for name, _ in root.switches if name] + list(root.keys_off)
    for path, node in iter_nodes(root):
        if node.is_module or node.child is not None:
            parts = path.split(".")
            modules.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
        if node.child is not None:
            names = [name for name, _ in node.child.switches if name] + list(node.child.keys_off)
            off += [f"{path}.{name}" for name in names]
            if node.child.block in blocks:
                instances.append(path)
    for i, path in enumerate(given):
        if path in modules or any(path == o or path.startswith(f"{o}.") for o in off):
            continue
        close = lw.close_matches(path, sorted(modules))
        hint = f"did you mean `{close[0]}`?" if close else "name a module as state_dict keys do"
        lw.error(
            "E305",
            f"`frozen:` names `{path}`, which is no module of this network",
            ("frozen", i),
            hint + " (a node's name, or a dotted path into a block or container)",
        )
    frozen = [path for path in dict.fromkeys(given) if path in modules]
    for path in instances:  # outermost first (iter_nodes' order): one inside is frozen already
        if not any(path == f or path.startswith(f"{f}.") for f in frozen):
            frozen.append(path)
    return tuple(frozen)
