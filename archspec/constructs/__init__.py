"""Compound constructs of the language, one module each (see registry.py).

Adding a construct: write a module like `sequential.py` (its schema, `lower(lw, site)`,
summary and description, and `walk_names` if it gives names or nests items) and register
its `CONSTRUCT`, here for a built-in or with `register()` from a plugin or a test.
"""

from __future__ import annotations

from . import block_call, for_each, parallel, repeat, residual, sequential, vgg_cfg
from .registry import (
    CONSTRUCTS,
    Construct,
    NameWalk,
    kind_named,
    on_change,
    register,
    shadowed_block,
    shadowed_blocks,
    unregister,
)

#: The built-ins, in the order the schema lists them.
for _module in (sequential, repeat, vgg_cfg, residual, parallel, for_each):
    register(_module.CONSTRUCT)

#: The construct of any `type:` that names no layer kind and no construct.
BLOCK_CALL: Construct = block_call.CONSTRUCT

__all__ = [
    "BLOCK_CALL",
    "CONSTRUCTS",
    "Construct",
    "NameWalk",
    "kind_named",
    "on_change",
    "register",
    "shadowed_block",
    "shadowed_blocks",
    "unregister",
]
