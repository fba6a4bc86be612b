"""Parameter, MAC and activation counts from the IR, before any tensor exists.

MACs follow the usual convention: a conv's are C_out * H_out * W_out * C_in/groups * k_h * k_w
per sample, a linear's in * out per row; other layers count zero. Counts include the batch
dim N, so they are symbolic in N (and in H, W when the input is symbolic).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dims import Dim
from ..ir import Graph, Module, Node
from ..ops import REGISTRY


@dataclass(frozen=True)
class Cost:
    """Totals for a node or module: trainable params, MACs, activation elements."""

    params: int
    macs: Dim
    activations: Dim

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.params + other.params,
            self.macs + other.macs,
            self.activations + other.activations,
        )


ZERO = Cost(0, Dim.of(0), Dim.of(0))


def node_cost(node: Node) -> Cost:
    """Cost of one node, its child module included (train-only nodes count too)."""
    if node.child is not None:
        return module_cost(node.child)
    if node.shape is None:
        return ZERO
    op = REGISTRY[node.kind]
    attrs = node.attrs
    return Cost(
        op.params(attrs) if op.style == "module" else 0,
        op.macs(attrs, node.in_shapes, node.shape),
        op.activation_numel(node.shape),
    )


def module_cost(module: Module) -> Cost:
    total = ZERO
    for node in module.nodes:
        total = total + node_cost(node)
    return total


def graph_cost(graph: Graph) -> Cost:
    """Totals of a whole graph."""
    return module_cost(graph.root)
