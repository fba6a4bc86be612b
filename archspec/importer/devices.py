"""A forward that branches on the device of its input (`x.is_cuda`, `x.device.type`).

pytorch/examples' DCGAN writes `if input.is_cuda and self.ngpu > 1:` to run its
`nn.Sequential` through `nn.parallel.data_parallel`, else calls it. torch.fx cannot decide
the condition. A spec is one graph for every device, so the tracer answers `is_cuda` as a
CPU tensor would (False) and trace.py traces the forward again answering True: the same
graph both ways (DCGAN built with `ngpu=1`) is the model on any device, and the branch is no
step of it; another graph is E902 at the read, which names it. A tensor no input reaches
moved there (PointNet's `if x.is_cuda: iden = iden.cuda()`) is the same step: a spec holds it
as a buffer, which moves with its module.
"""

from __future__ import annotations

from typing import Any

from ..errors import Diagnostic
from .where import describe, diagnostic, span_from_stack, span_of_class


def _attribute(node: Any, name: str) -> bool:
    """Whether `node` reads the attribute `name` of a node of the trace."""
    return (
        getattr(node, "op", None) == "call_function"
        and node.target is getattr
        and node.args[1:] == (name,)
        and hasattr(node.args[0], "op")
    )


def _chain(node: Any) -> list[Any] | None:
    """The nodes of a test of the input's device, the test first: `x.is_cuda`, or
    `x.device.type` compared (`==`, `!=`) with a device type written as a string (`"cuda"`);
    None for anything else."""
    import operator

    if _attribute(node, "is_cuda"):
        return [node]
    if node.op != "call_function" or node.target not in (operator.eq, operator.ne):
        return None
    read = [a for a in node.args if _attribute(a, "type") and _attribute(a.args[0], "device")]
    words = [a for a in node.args if isinstance(a, str)]
    if len(read) != 1 or len(words) != 1 or node.kwargs:
        return None
    return [node, read[0], read[0].args[0]]


def device_read(node: Any) -> bool:
    """Whether `node` tests the device of a tensor of the trace (`x.is_cuda`,
    `x.device.type == "cuda"`)."""
    return _chain(node) is not None


def answer(tracer: Any, node: Any) -> bool:
    """The tracer's answer to a test of the device, as on a CPU (unless it traces for a CUDA
    device); the read is recorded, so the forward is traced for the other device too, and
    the test's nodes are no steps of the graph."""
    import operator

    chain = _chain(node) or [node]
    tracer.decided.update(chain)
    tracer.device_reads.append(node)
    if len(chain) == 1:  # `x.is_cuda`
        return bool(tracer.on_cuda)
    word = next(a for a in node.args if isinstance(a, str))
    same = word == ("cuda" if tracer.on_cuda else "cpu")
    return same if node.target is operator.eq else not same


def _steps(graph: Any) -> list[tuple[Any, ...]]:
    """A graph's nodes as comparable values (names, ops, targets, arguments by name)."""
    from .modes import _plain

    return [(n.name, n.op, n.target, _plain((n.args, n.kwargs))) for n in graph.nodes]


def _made_moved(graph: Any) -> Any:
    """`graph` (traced for a CUDA device) without its `.cuda()` of tensors no input reaches
    (PointNet's `if x.is_cuda: iden = iden.cuda()` of the identity it makes): a spec holds
    such a tensor as a buffer, which moves with its module, so the step is the tensor."""
    for node in list(graph.nodes):
        moved = node.op == "call_method" and node.target == "cuda" and len(node.args) == 1
        if moved and not node.kwargs and _no_values_read(node.args[0]):
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    return graph


def _no_values_read(node: Any) -> bool:
    """Whether `node` is computed from no input's values: from tensors made in forward, and
    the input's sizes (`.repeat(x.size(0), 1)`), device or dtype at most."""
    from .calls import attribute_read
    from .casts import META

    seen, todo = set(), [node]
    while todo:
        n = todo.pop()
        if n.op == "placeholder":
            return False
        sized = n.op == "call_method" and n.target == "size"
        read = attribute_read(n.target, n.args) if n.op == "call_function" else None
        if sized or read in META or read == "shape":
            continue
        todo.extend(m for m in n.all_input_nodes if m not in seen)
        seen.update(n.all_input_nodes)
    return True


def other_device(
    module: Any, problems: Any, graph: Any, tracer: Any, concrete: Any
) -> Diagnostic | None:
    """None when the forward of `module` read no `is_cuda` in `tracer`'s `graph` (traced
    for the CPU), or when traced again for a CUDA device it is the same graph; else E902 at
    its first read of `is_cuda`. Run where `graph` was traced (the same contexts)."""
    from .ranks import keep_children_tracer

    if not tracer.device_reads:
        return None
    again = keep_children_tracer(module, problems)
    again.on_cuda = True
    # the tensors the first trace made in forward: held away, so this one names its own alike
    made = {k: v for k, v in vars(module).items() if k.startswith("_tensor_constant")}
    for key in made:
        delattr(module, key)
    try:
        cuda = again.trace(module, concrete_args=concrete or None)
    except Exception:  # what that device's steps do fx cannot follow: another graph
        cuda = None
    vars(module).update(made)
    if cuda is not None and _steps(_made_moved(cuda)) == _steps(graph):
        return None
    read, cls = tracer.device_reads[0], describe(type(module))
    return diagnostic(
        "E902",
        f"{cls}.forward computes another graph on a CUDA device: it branches on a tensor's device",
        span_from_stack(read.stack_trace) or span_of_class(type(module)),
        "a spec is one graph for every device: take the same steps on each (build the model "
        "so that the branch does not change them, as DCGAN's `ngpu=1`; spread a model over "
        "GPUs with nn.DataParallel around it, not inside its forward)",
    )
