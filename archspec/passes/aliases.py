"""Tensors that share memory, for the in-place check of passes/verify.py (E311).

A layer that works in place overwrites its input, and with it every tensor that shares the
input's memory: the tensor a view was taken of (a `chunk`'s or `split`'s pieces, `slice`,
`select`, `permute`, `reshape`, ...), the input an `identity` or a dropout in eval returns
as it is (and a `sequential` or block made of such layers only, and the output of a block of
several that is one of its inputs, `outputs: [input, b]`), and a learned `parameter`
or a `buffer` a block holds. Where another node reads one
of them, or the module returns one or received it, it would see the overwritten values
(torch refuses some of these in training: a piece of a chunk modified in place, a leaf
parameter). Worked out only for a module that holds such a node.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..ir import INPUT, Module, Node
from ..ops.outputs import BLOCK_OUTPUT

#: kinds whose output is their input's memory: a view of it, or the input itself
#: (`nn.Identity`, dropout and stochastic depth in eval, `check_size`)
ALIASING = frozenset(
    {
        "identity",
        "dropout",
        "dropout2d",
        "stochastic_depth",
        "check_size",
        "chunk",
        "split",
        "slice",
        "select",
        "permute",
        "reshape",
        "flatten",
        "unflatten",
        "squeeze",
        "unsqueeze",
        "expand",
    }
)
#: kinds whose output is state the module holds, which a layer must not overwrite
STATE = frozenset({"parameter", "buffer"})
#: what makes a module worth the alias walk
SHARING = ALIASING | STATE


def passes_memory(node: Node) -> bool:
    """Whether `node`'s output is its input's memory: a kind of ALIASING not in place, or a
    child module (a `sequential`, a block instance) that is a chain of such nodes only, or
    empty (an `nn.Sequential()` returns its input)."""
    child = node.child
    if child is None:
        return node.kind in ALIASING and not node.attrs.get("inplace")
    for n in child.nodes:  # the first that computes anything ends it: before is_chain
        if not passes_memory(n):
            return False
    return not child.nodes or child.is_chain


def returned_input(node: Node, by_name: Mapping[str, Node]) -> str | None:
    """The input of the call that `node` (a `block_output`) is the memory of: where the
    block returns one of its inputs as that output, as it is or through views (`outputs:
    [input, b]`); None where the output is memory the block made."""
    call = by_name.get(node.inputs[0]) if node.inputs else None
    child = None if call is None else call.child
    index = node.attrs.get("_index")
    if child is None or not isinstance(index, int) or index >= len(child.outputs):
        return None
    name = child.outputs[index].name
    name = Aliases(child, {}).root.get(name, name)  # back through the block's own views
    taken = (INPUT, *child.extra_inputs)
    if name in taken and taken.index(name) < len(call.inputs):  # type: ignore[union-attr]
        return call.inputs[taken.index(name)]  # type: ignore[union-attr]
    return None


class Aliases:
    """Which names of one module share memory, worked out once per module that needs it:
    each name's root (what a chain of views leads back to: an in-place layer's output is its
    own root, the written result its readers mean to read), each root's views, and how many
    reads each root's names get from other than those views."""

    __slots__ = ("module", "outside_reads", "root", "state", "views")

    def __init__(self, module: Module, consumers: Mapping[str, int]) -> None:
        self.module = module
        self.root: dict[str, str] = {}
        self.views: dict[str, list[str]] = {}
        self.state = {n.name for n in module.nodes if n.kind in STATE}
        reads: dict[str, int] = {}
        by_name = {n.name: n for n in module.nodes}
        for n in module.nodes:
            base = returned_input(n, by_name) if n.kind == BLOCK_OUTPUT else None
            if base is not None or (n.inputs and passes_memory(n)):
                base = n.inputs[0] if base is None else base
                r = self.root.get(base, base)
                self.views.setdefault(r, []).append(n.name)
                reads[r] = reads.get(r, 0) - 1  # its read of the group is no use of it
            else:
                r = n.name
            self.root[n.name] = r
            reads[r] = reads.get(r, 0) + consumers.get(n.name, 0)
        for name in (INPUT, *module.extra_inputs):
            reads[name] = reads.get(name, 0) + consumers.get(name, 0)
        self.outside_reads = reads

    def readers(self, node: Node, outputs: set[str]) -> tuple[str, bool, list[str]] | None:
        """For `node`, which works in place on its first input, the tensor whose memory that
        input shares (the base of its views, or the state it is), whether that is a
        `parameter` or `buffer`, and who else sees it: other readers of that memory (the
        views taken of it aside), "the module output", "the caller"; None when its memory
        is its own or nobody else sees it (and it is no state)."""
        src = node.inputs[0]
        root = self.root.get(src, src)
        views = self.views.get(root, ())
        state = root in self.state
        if not views and not state:
            return None  # its own memory: verify's own count of readers decides
        group = {root, *views}
        caller = (root == INPUT or root in self.module.extra_inputs) and not self.module.is_chain
        read = self.outside_reads.get(root, 0) - 1 > 0
        if not (read or caller or state or group & outputs):
            return None
        others = [
            n.name
            for n in self.module.nodes
            if n is not node and n.name not in views and any(i in group for i in n.inputs)
        ]
        if group & outputs:
            others.append("the module output")
        if caller:
            others.append("the caller")  # a chain's caller sees its first layer (verify)
        return root, state, others
