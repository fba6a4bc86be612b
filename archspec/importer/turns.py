"""Entries of a container called out of their registered order, where the data allows them in
order. torchvision's `FeaturePyramidNetwork` runs `inner_blocks[-1]` and `layer_blocks[-1]`
on the coarsest map first and walks up; a spec registers a list's entries in the order its
nodes are written, so the import needs the laterals first called 0, 1, 2. Nothing that the
forward computes depends on which of two independent calls runs first, so the graph is put
in a topological order where each container's entries are first called in registered order,
moving only calls that cannot change a tensor another node reads (torch's own layers, pure
functions); where no such order exists, the graph is left as traced and the out-of-turn call
is E904 (entries.py)."""

from __future__ import annotations

import heapq
import itertools
import operator
from typing import Any

#: `a += b` and its kin, which fx records as calls of these
_IN_PLACE_OPERATORS = {getattr(operator, f"i{op}") for op in ("add", "sub", "mul", "truediv")}


def entries_in_turn(module: Any, graph: Any) -> None:
    """Reorder `graph` so that each container's entries are first called in registered
    order, when its data flow allows it and every call it moves past another is pure."""
    nodes = list(graph.nodes)
    after = _turn_edges(module, nodes)
    if not after:
        return
    order = _topological(nodes, after)
    if order is None or not all(_pure(module, n) for n in _moved(nodes, order)):
        return
    cursor = order[0]
    for node in order[1:]:
        cursor.append(node)
        cursor = node
    graph.lint()


def _turn_edges(module: Any, nodes: list[Any]) -> dict[Any, list[Any]]:
    """For each first call of a container's entry, the first call of the entry registered
    before it among those the forward calls; empty when every container's are in turn."""
    first: dict[str, dict[str, Any]] = {}
    for node in nodes:
        if node.op != "call_module":
            continue
        parts = str(node.target).split(".")
        for k in range(1, len(parts)):
            first.setdefault(".".join(parts[:k]), {}).setdefault(parts[k], node)
    edges: dict[Any, list[Any]] = {}
    for path, called in first.items():
        keys = [k for k in module.get_submodule(path)._modules if k in called]
        if list(called) == keys:
            continue
        for before, later in itertools.pairwise(keys):
            if called[before] is not called[later]:
                edges.setdefault(called[later], []).append(called[before])
    return edges


def _topological(nodes: list[Any], after: dict[Any, list[Any]]) -> list[Any] | None:
    """The nodes in an order that keeps every input and every edge of `after` before its
    reader, each step taking the earliest node of the traced order that is ready; None when
    the edges close a cycle (an entry's call needs a later entry's output)."""
    index = {node: i for i, node in enumerate(nodes)}
    needs = {n: {*n.all_input_nodes, *after.get(n, ())} for n in nodes}
    readers: dict[Any, list[Any]] = {n: [] for n in nodes}
    for node, inputs in needs.items():
        for source in inputs:
            readers[source].append(node)
    waiting = {n: len(inputs) for n, inputs in needs.items()}
    ready = [index[n] for n in nodes if not waiting[n]]
    heapq.heapify(ready)
    order: list[Any] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for reader in readers[node]:
            waiting[reader] -= 1
            if not waiting[reader]:
                heapq.heappush(ready, index[reader])
    return order if len(order) == len(nodes) else None


def _moved(nodes: list[Any], order: list[Any]) -> list[Any]:
    """The nodes whose place relative to some other node changes from `nodes` to `order`."""
    index = {node: i for i, node in enumerate(nodes)}
    ranks = [index[n] for n in order]
    highest, lowest = [], []
    top = -1
    for rank in ranks:
        highest.append(top)
        top = max(top, rank)
    bottom = len(ranks)
    for rank in reversed(ranks):
        lowest.append(bottom)
        bottom = min(bottom, rank)
    lowest.reverse()
    return [
        n for n, r, hi, lo in zip(order, ranks, highest, lowest, strict=True) if hi > r or lo < r
    ]


def _pure(module: Any, node: Any) -> bool:
    """Whether running `node` earlier or later than traced can change no tensor another node
    reads, nor which random numbers a node draws in training: a torch layer or a Sequential
    of them that does not start in place and holds no dropout, a function or method that
    works out of place and draws none."""
    if node.op == "call_module":
        return _pure_module(module.get_submodule(str(node.target)))
    if node.op in ("call_function", "call_method"):
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        in_place = node.target in _IN_PLACE_OPERATORS or (
            name.endswith("_") and not name.endswith("__")
        )
        random = "dropout" in name or name.startswith("rand") or name in _RANDOM
        return not in_place and not random and node.kwargs.get("inplace") is not True
    return node.op == "get_attr"


#: torch's functions that draw random numbers, besides the dropouts and rand*
_RANDOM = {"bernoulli", "multinomial", "normal", "poisson"}


def _pure_module(child: Any) -> bool:
    """A torch layer that does not work in place, or a Sequential whose first one does not,
    neither holding a dropout (moved past another, it would draw another's numbers)."""
    import torch.nn as nn

    if any(isinstance(m, nn.modules.dropout._DropoutNd) for m in child.modules()):
        return False
    if isinstance(child, nn.Sequential) and type(child).forward is nn.Sequential.forward:
        return len(child) > 0 and _pure_module(child[0])
    torch_layer = type(child).__module__.startswith("torch.nn.") and not child._modules
    return torch_layer and getattr(child, "inplace", False) is not True
