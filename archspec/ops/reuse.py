"""`reuse`: call a module made earlier in the same list again, on another input.

CBAM's channel attention runs one MLP on two pooled maps (`mlp(avg(x)) + mlp(max(x))`),
a Siamese network one tower on two images, a weight-tied head one layer twice: one module,
one set of weights, several calls. `{name: mlp_max, type: reuse, node: mlp, from: maxpool}`
is such a call. It makes no module and no state_dict entry (its parameters are the
reused module's, counted once); its shape rule is the reused module's rules run again on
its own input, so an input that module cannot take fails at the reusing node, and its
MACs and activations are that second call's. Lowering finds the node it names
(`lowering/reuse.py`) and keeps it in the private attribute `_target`.
"""

from collections.abc import Callable, Mapping, Sequence
from keyword import iskeyword
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape, total
from ..ir import INPUT, Node
from .base import (
    REGISTRY,
    Inferred,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)

#: the private attribute holding the node a reuse calls again (as lowering made it)
TARGET = "_target"
#: the private attribute holding how many layers a call runs (the expansion limit's count)
REPLAYED = "_replayed"

#: a visitor of the layers a replay runs: (layer node, its input shapes, its output shape)
Visit = Callable[[Node, Sequence[Shape], Shape], None]


def _reuse_spec() -> type[LayerSpec]:
    class ReuseSpec(LayerSpec):
        """reuse: calls the module of an earlier node of this list again, on its own `from`
        (one module, one set of weights: `mlp(avg) + mlp(max)`)."""

        type: Literal["reuse"]
        node: str = Field(
            description="the earlier node of this layer list whose module is called again "
            "(a layer that is a module, a `sequential` or a block instance)"
        )

    return ReuseSpec


def replay(target: Node, inputs: Sequence[Shape], ctx: ShapeContext, visit: Visit | None) -> Shape:
    """The output shape of `target` (a layer or a child module, its attributes as bound)
    called on `inputs`: each of its layers' rules run again in order; `visit` sees each."""
    if target.child is None:
        shape = REGISTRY[target.kind].infer(dict(target.attrs), inputs, ctx).shape
        if visit is not None:
            visit(target, inputs, shape)
        return shape
    module = target.child
    env: dict[str, Shape] = {INPUT: inputs[0]}
    env.update(zip(module.extra_inputs, inputs[1:]))  # a block of several inputs: each one's
    for node in module.nodes:
        env[node.name] = replay(node, tuple(env[i] for i in node.inputs), ctx, visit)
    return env[module.outputs[0].name]


def _called(attrs: Mapping[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Shape:
    """`replay` of the reused node, a failure worded as the second call's."""
    target: Node = attrs[TARGET]
    try:
        return replay(target, inputs, ctx, None)
    except ShapeFailure as exc:
        first = fmt(target.in_shapes[0]) if target.in_shapes else "its first input"
        message = (
            f"`{attrs['node']}` called again on {fmt(inputs[0])} (its first call reads "
            f"{first}): {exc.message}"
        )
        hint = (
            f"a reused module keeps the sizes its first call gave it: give `{attrs['node']}` "
            "an input it can take (the same channels), or make a module of its own"
        )
        raise ShapeFailure(exc.code, message, hint) from None


@register
class ReuseCall(Op):
    kind = "reuse"
    spec = LazySpec(_reuse_spec)
    style = "function"
    category = "merge"
    reads_nodes = True
    #: a block of several inputs is called again on as many (lowering/reuse.py checks the
    #: count): up to schema.MAX_BLOCK_INPUTS, which ops/ cannot import
    optional_inputs = 15
    summary = "calls an earlier node's module again on another input (shared weights)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        return Inferred(attrs, _called(attrs, inputs, ctx))

    def macs(self, attrs: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        """The reused module's MACs on this call's input."""
        return call_counts(attrs, inputs)[0]

    def scratch_numel(self, attrs: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        """The activations of the reused module's layers on this call, but its output."""
        return call_counts(attrs, inputs)[1] - self.activation_numel(out)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        """None: a reuse calls a module of its class, which backends/torch_module.py and
        the emitter look up by the node's name; no function computes it."""
        raise TypeError("a reuse node calls its module, not a function")

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        """`self.mlp(x)` (`self.cell(x, h)` for a block of several inputs), what tells two
        reuses apart in a class's lines (the emitter writes the call as the reused node's own
        line does: `self.convs[0](x)` for a list entry)."""
        name = a["node"]
        plain = name.isascii() and name.isidentifier() and not iskeyword(name)
        attr = f"self.{name}" if plain else None
        return f"{attr or f'getattr(self, {lit(name)})'}({', '.join(a['_inputs'])})"


def call_counts(attrs: Mapping[str, Any], inputs: Sequence[Shape]) -> tuple[Dim, Dim]:
    """(MACs, activation elements) of one reuse call on `inputs`: the reused module's layers
    counted at the shapes this call gives them (its parameters are counted where it is)."""
    macs: list[Dim] = []
    acts: list[Dim] = []

    def visit(node: Node, ins: Sequence[Shape], shape: Shape) -> None:
        op = REGISTRY[node.kind]
        macs.append(Dim.of(op.macs(node.attrs, ins, shape)))
        if node.kind == ReuseCall.kind:
            acts.append(call_counts(node.attrs, ins)[1])
        else:
            acts.append(op.activation_numel(shape))

    replay(attrs[TARGET], inputs, ShapeContext(), visit)
    return total(macs), total(acts)
