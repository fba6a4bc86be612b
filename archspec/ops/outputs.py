"""One output of a block instance of several (`outputs: [a, b]`), as its call's `names` names it.

A block call with `names: [p, q]` is one child module (the call's `name`, its state_dict
key) whose forward returns a tuple, and one `block_output` node per name, each reading that
module's node with its position as `attrs["_index"]` (and its siblings' names as
`attrs["_names"]`): `p, q = self.stage(x)`. Lowering
(`lowering/outputs.py`) and the shape pass give each its output's shape from the child
module's outputs (a rule of its input alone could not: the input is the tuple), so `infer`
only passes a shape through. A piece is the tensor the child returned: no parameters, no
MACs, no activation memory of its own. A spec never writes the kind: the call's `names`
makes it.
"""

import operator
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, Literal

from pydantic import model_validator

from ..dims import Dim, Shape
from ..errors import VALIDATOR_HINT
from .base import Inferred, LayerSpec, LazySpec, Op, ShapeContext, register

#: the kind of a block output's node
BLOCK_OUTPUT = "block_output"
#: its private attribute: the names of every output of its instance (its call's `names`)
OUTPUT_NAMES = "_names"


@cache
def _output_spec() -> type[LayerSpec]:
    class BlockOutputSpec(LayerSpec):
        """block_output: one output of a block call of several; made by the call's `names`,
        never written."""

        type: Literal["block_output"]

        @model_validator(mode="after")
        def _not_written(self) -> "BlockOutputSpec":
            raise ValueError(
                "block_output is made by a block call's `names`, not written"
                f"{VALIDATOR_HINT}call a block whose `outputs:` lists several nodes with "
                "`names: [p, q]`, and read `p`, `q` by `from`"
            )

    return BlockOutputSpec


@register
class BlockOutput(Op):
    kind = BLOCK_OUTPUT
    spec = LazySpec(_output_spec)
    style = "function"
    category = "reshape"
    written = False
    summary = "one output of a block call of several (made by the call's `names`)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs  # the walks give it its output's shape (see the module docstring)
        return Inferred(attrs, x)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def activation_numel(self, out: Shape) -> Dim:
        return Dim.of(0)  # the tensor the block returned, counted there

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return operator.getitem, {}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{a['_inputs'][0]}[{lit(a['_index'])}]"
