"""Steps a forward takes in eval mode only (`if not self.training: x = x.softmax(1)`, or
`if self.training: return logits` before it): a spec's `eval_only` nodes, which training
skips by passing their input on.

A step is an eval graph's call that training does not make, read as the first node it reads
(the rest of what it reads computed in both modes); the rest of the two graphs must agree
once each step is read as that node (modes.py).
Where the graph to read is training's (it has training-only nodes, or passes the mode on),
the steps are copied into it after the nodes they read, and the nodes that read them in
eval read the copies, so one graph states both modes; an output training returns beside
eval's that eval computes too is passed on by a training-only step (`returned_in_training`).
"""

from __future__ import annotations

from typing import Any

_CALLS = ("call_module", "call_function", "call_method")


def eval_steps(graph: Any, trained: set[str]) -> dict[Any, Any]:
    """Each call of the eval `graph` with no node of its name in training (`trained`) that
    is read and reads nodes training computes (or steps before it), -> the first of them,
    which training reads in its place (DeiT's `(x + x_dist) / 2`: `x`). A tensor's
    attribute (`x.device`) is none, nor a call nothing reads (a value cached in eval only,
    whose reads torch.fx does not see): those stay another graph (E902)."""
    steps: dict[Any, Any] = {}
    for node in graph.nodes:
        ins = node.all_input_nodes
        if node.op not in _CALLS or node.name in trained or not ins or not node.users:
            continue
        if node.target is not getattr and all(i.name in trained or i in steps for i in ins):
            steps[node] = ins[0]
    return steps


def returned_in_training(value: Any) -> Any:
    """The marker of an output training returns beside eval's that eval computes too (DeiT's
    `x_dist`): the value itself, read as a train_only step that passes it on."""
    return value


def mark_training_outputs(train: Any, names: set[str]) -> None:
    """In `train`, whose output is eval's first and more (`return x, x_dist` in training,
    the average in eval), each further output that eval computes too is read through a
    `returned_in_training` call, which no eval node has: a train_only node, so the spec
    returns it in training only."""
    out = _output_node(train)
    value = out.args[0]
    if not isinstance(value, tuple | list) or len(value) < 2:
        return
    marked = list(value)
    for i, item in enumerate(marked[1:], 1):
        if getattr(item, "op", None) is not None and item.name in names:
            with train.inserting_before(out):
                marked[i] = train.create_node(
                    "call_function", returned_in_training, (item,), name=f"{item.name}_out"
                )
    out.args = (type(value)(marked),)
    train.lint()


def spliced(train: Any, graph: Any, steps: dict[Any, Any]) -> Any:
    """`train` with a copy of each of eval's `steps` after the node it reads, read where
    eval reads the step; `train` itself when there are none."""
    if not steps:
        return train
    by_name = {n.name: n for n in train.nodes}
    made: dict[str, Any] = {}  # a step's name -> its copy in `train`

    def base(node: Any) -> Any:
        """The training node eval's `node` stands for (a step's own copy)."""
        return made.get(node.name) or by_name[node.name]

    for step in steps:
        order = {n: i for i, n in enumerate(train.nodes)}
        with train.inserting_after(max((base(i) for i in step.all_input_nodes), key=order.get)):
            copy = train.node_copy(step, base)
        copy.name = step.name  # node_copy may number it; the names tie the graphs together
        made[step.name] = copy
    for node in graph.nodes:
        twin = by_name.get(node.name) if node.op != "output" else _output_node(train)
        if twin is None or node in steps:
            continue
        for read in node.all_input_nodes:
            if read in steps:
                twin.replace_input_with(_resolved(read, steps, by_name), made[read.name])
    train.lint()
    return train


def _resolved(node: Any, steps: dict[Any, Any], by_name: dict[str, Any]) -> Any:
    """The training node a chain of eval steps ends at (what training reads instead)."""
    while node in steps:
        node = steps[node]
    return by_name[node.name]


def _output_node(graph: Any) -> Any:
    return next(n for n in graph.nodes if n.op == "output")
