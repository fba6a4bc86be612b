"""IR -> readable PyTorch source: the emitter, one module per job.

The emitted module reads like torchvision's model files: a class per block (`Bottleneck`)
whose constructor takes the block's params, the network class taking the spec's params,
`nn.Sequential` stages, a straight-line `forward` with exact shape comments, and the
declared initialisation as an `_init_weights` loop over the modules.

The stages, in the order `files.Emitter.render` runs them:

- `scope.py`    each node as its class writes it: constructor expressions, block calls
                (values the spec wrote from `Node.exprs`; values a shape rule fills in
                from `rules.py`, the rule run on traced numbers; switched chain items as
                `if`s from `optional.py`); a call in a block's `forward` reads the
                arguments it needs as `__init__` stores them (`self.radix`)
- `classes.py`  which modules become classes, their arguments, variants and `if`s
                (`root.py`: the network class)
- `cases.py`    one class for instances that keep different nodes: an `if` per case
- `init.py`     the init rules as `isinstance` tests in `_init_weights` (what each layer's
                module holds and its class: `layers.py`, from the op registry)
- `forward.py`  `def forward`: statements, variable names, one way per activation
- `shapes.py`   the shape comments: closed forms from the symbolic shape pass, or none
- `ctor.py`     `def __init__`: the submodules in registration order, switched ones in `if`s
- `files.py`    header, imports, docstrings, the template; `render_module`

`model.py` holds the data the stages pass on (Step, Body, ClassInfo), `context.py` what
they share while rendering one graph. Every literal goes through `pycode.lit`, every
identifier through a `Namespace` and free text through `pycode.escape_text`; the templates
only arrange lines, and `render_module` parses what it rendered before returning it.
"""

from __future__ import annotations

from .files import HEADER_PREFIX, Emitter, render_module

__all__ = ["HEADER_PREFIX", "Emitter", "render_module"]
