"""Steps a forward takes in eval mode only (`if not self.training: x = x.softmax(1)`, or
`if self.training: return logits` before it): a spec's `eval_only` nodes, which training
skips by passing their input on.

A step is an eval graph's call that training does not make and that reads one node; the
rest of the two graphs must agree once each step is read as the node it reads (modes.py).
Where the graph to read is training's (it has training-only nodes, or passes the mode on),
the steps are copied into it after the nodes they read, and the nodes that read them in
eval read the copies, so one graph states both modes.
"""

from __future__ import annotations

from typing import Any

_CALLS = ("call_module", "call_function", "call_method")


def eval_steps(graph: Any, trained: set[str]) -> dict[Any, Any]:
    """Each call of the eval `graph` with no node of its name in training (`trained`) that
    reads one node and is read, -> that node. A tensor's attribute (`x.device`) is none,
    nor a call nothing reads (a value cached in eval only, whose reads torch.fx does not
    see): those stay another graph (E902)."""
    steps = {}
    for node in graph.nodes:
        ins = node.all_input_nodes
        if node.op not in _CALLS or node.name in trained or len(ins) != 1 or not node.users:
            continue
        if node.target is not getattr:
            steps[node] = ins[0]
    return steps


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

    for step, read in steps.items():
        with train.inserting_after(base(read)):
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
