"""A ModuleList (or ModuleDict) whose items all read one tensor, their outputs concatenated
(a fan).

torchvision's DeepLabV3 `ASPP` runs each of `self.convs` on its input and concatenates the
results (`torch.cat([conv(x) for conv in self.convs], dim=1)`), as a text CNN runs its
convolutions of several widths, or a multi-task net its heads held by name
(`torch.cat([self.heads["age"](x), self.heads["sex"](x)], 1)`). A spec states it as the
list's `sequential` whose items, keyed by position or named by their keys (`convs.0`,
`heads.age`: the model's state_dict keys), each read the list's `input`, followed by the
parameter-free steps each output goes through (`F.relu`) and the `concat` of the outputs,
in the items' order, which is the sequential's output.
These functions work on a trace._GraphReader (`reader`) while lists.py reads the items.
"""

from __future__ import annotations

from typing import Any

from .trace import Item
from .where import describe

FAN_HINT = (
    "a spec states a ModuleList or ModuleDict whose items each read the same tensor when "
    "one torch.cat joins all their outputs in the items' order, each output reaching it "
    "alone (through activations at most); give each branch an attribute of its own "
    "(self.branch1, ...) for anything else"
)


def fan_call(reader: Any, node: Any, head: str, k: int, items: list[Item]) -> bool:
    """Item `k` of `self.{head}` (an nn.ModuleList or nn.ModuleDict) reading what item 0
    read: the items are branches of a fan (item 0, read so far as the list's output, becomes
    branch `0`, or the dict's first key). False: not such a call."""
    import torch.nn as nn

    seq, last = reader.module_lists[head]
    arg = node.args[0]
    holder = getattr(reader.module, head)
    keys = [key for key, _ in holder.named_children()]
    if head not in reader.fans:
        if k != 1 or not isinstance(holder, nn.ModuleList | nn.ModuleDict):
            return False
        if last.args[0] is not arg or len(seq.body or ()) != 1 or len(items) != 1:
            return False  # a fused child: several items
        _branch_item(seq.body[0], keys[0])
        for item in reader.items:  # what read item 0's output read the list's: its branch
            item.inputs = tuple(keys[0] if s == head else s for s in item.inputs)
        reader.names[last] = keys[0]
        reader.fans[head] = arg
    if reader.fans[head] is not arg or len(items) != 1:
        return False
    _branch_item(items[0], keys[k])
    seq.body.append(items[0])
    reader.names[node] = keys[k]
    reader.module_lists[head] = (seq, node)
    return True


def _branch_item(item: Item, key: str) -> None:
    """A branch of a fan, read by its key: a list's position (`key: '0'`) or the name a
    dict's item has already (`name: age`; a key that is no name is its `key:`)."""
    if item.name is None:
        item.key = key
    item.inputs = ("input",)


def fan_join(reader: Any, node: Any) -> bool:
    """`torch.cat(outs, dim)` of every branch of one fan, in order, and possibly of the
    tensor they all read (PSPNet's `torch.cat([x] + [up(f(x)) for f in self.features])`):
    the fan's `concat`, the output of its sequential; the steps each branch went through
    join the sequential too. False for any other node."""
    import torch

    if not reader.fans or node.op != "call_function" or node.target not in (torch.cat,):
        return False
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if not isinstance(tensors, list | tuple) or not isinstance(dim, int) or len(node.args) > 2:
        return False
    ends = [_branch(reader, t) for t in tensors]
    heads = {end[0] for end in ends if end is not None}
    if len(heads) != 1:
        return False
    head = heads.pop()
    arg = reader.fans[head]
    if any(end is None and t is not arg for end, t in zip(ends, tensors, strict=True)):
        return False
    if any(end is not None and not end[3] <= {arg} for end in ends):
        return False  # a step reads another fan's input
    if [end[1] for end in ends if end] != list(range(len(getattr(reader.module, head)))):
        return False
    seq, _ = reader.module_lists[head]
    outer = reader.names.get(arg)
    steps = {id(step) for end in ends if end for step in end[2]}
    for item in reader.items:  # in graph order; what they read of the fan's input is `input`
        if id(item) in steps:
            item.inputs = tuple("input" if s == outer else s for s in item.inputs)
            seq.body.append(item)
    reader.items = [item for item in reader.items if id(item) not in steps]
    inputs = tuple("input" if e is None else reader.names[t] for e, t in zip(ends, tensors))
    seq.body.append(Item(None, "concat", {"dim": dim}, {"dim": dim}, inputs, is_module=False))
    reader.names[node] = head
    del reader.fans[head]
    return True


def _branch(reader: Any, tensor: Any) -> tuple[str, int, list[Item], set[Any]] | None:
    """The fan, branch index and steps (parameter-free, read by nothing else) that lead
    to `tensor` from a branch's call, and what else those steps read (the tensor the fan
    reads, as `F.interpolate(f(x), x.shape[2:])` does); None when it is not so made."""
    from .lists import _takes_position

    by_name = {item.name: item for item in reader.items if item.name is not None}
    fanned = set(reader.fans.values())
    steps: list[Item] = []
    others: set[Any] = set()
    while True:
        name = reader.names.get(tensor)
        if name is None or len(tensor.users) != 1:
            return None
        head, _, index = str(tensor.target).partition(".")
        if tensor.op == "call_module" and head in reader.fans and name == index:
            keys = [key for key, _ in getattr(reader.module, head).named_children()]
            return head, keys.index(index), steps, others
        ins = [n for n in getattr(tensor, "all_input_nodes", ()) if n not in reader.syms]
        chain = [n for n in ins if n not in fanned]
        if tensor.op not in ("call_function", "call_method") or len(chain) != 1:
            return None
        before = reader.names.get(chain[0])
        if len(ins) == 1 and before == name:  # an alias (`x.contiguous()`)
            tensor = chain[0]
            continue
        step = by_name.get(name)
        if step is None or step.is_module or step.body is not None or step.one_mode:
            return None
        read = {a for a in fanned if reader.names.get(a) in step.inputs}  # sizes: `x.shape`
        if before not in step.inputs or set(step.inputs) - {before} - {
            reader.names.get(a) for a in read
        }:
            return None
        if _takes_position(step.kind) or step.kind in ("chunk", "split", "parameter", "buffer"):
            return None
        steps.append(step)
        others.update(read)
        tensor = chain[0]


def open_fans(reader: Any) -> None:
    """A fan whose outputs no concat took whole: its branches' outputs were read otherwise."""
    for head in reader.fans:
        _, last = reader.module_lists[head]
        reader.fail(
            "E904",
            f"{describe(type(reader.module))}.forward calls the items of `self.{head}` each "
            "on the same tensor, and their outputs are not one torch.cat of them all, in "
            "order, each reaching it alone through activations at most",
            last,
            FAN_HINT,
        )
