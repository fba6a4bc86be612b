"""Lists of tensors given to a child (DenseNet's layers take every earlier feature map).

torchvision's `_DenseLayer.forward(reader, input)` takes a list and starts with
`torch.cat(inputs, 1)`; `_DenseBlock` calls each layer with the list so far. A spec's block
reads one tensor, so the caller makes the `concat` and the child reads it as its input.
These functions work on a trace._GraphReader (`reader`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .defaulted import one_tensor_call
from .trace import Item, body_of
from .where import describe, span_from_stack

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


def joined(reader: Any, node: Any, target: str, values: Any) -> Any:
    """A child given a list of tensors that its forward concatenates first: the list
    becomes a `concat` node here (one tensor: itself), the child reads that. A block whose
    forward reads the list otherwise (a YOLO head's `for m, x in zip(self.m, xs)`): `values`
    as given, each item an input of the block (inputs.tensors_call)."""
    child = reader.module.get_submodule(target) if "." not in target else None
    nodes = list(values)
    inputs = reader._inputs(tuple(nodes)) if all(hasattr(v, "op") for v in nodes) else None
    if child is not None and inputs and _items_read(child, reader.problems):
        return values
    body = body_of(child, reader.problems) if child is not None else None
    if body is None or body.list_input is None or not inputs:
        reader.fail(
            "E904",
            f"{describe(type(reader.module))}.forward passes `self.{target}` a list",
            node,
            "a layer (or an nn.Sequential) reads one tensor: give it one, or hold it in a "
            "module of your own whose forward takes the list (a block of an input per "
            "item) or starts by concatenating it (torch.cat(inputs, dim))",
        )
        return None
    if len(inputs) == 1:
        reader.joins[node] = inputs
        return node
    name = reader._fresh(f"{target}_inputs")
    item = Item(name, "concat", {"dim": body.list_input}, {"dim": body.list_input}, inputs)
    item.is_module = False
    reader.modes.mark(item, node)
    reader.used.add(name)
    reader.items.append(item)
    reader.joins[node] = (name,)
    return node


def _items_read(child: nn.Module, problems: Any) -> bool:
    """Whether a block given a list reads its items rather than concatenating it first
    (DenseNet's layers, read as one input): a trial trace of its forward with the list as
    one value, whose body and problems are dropped when it is not DenseNet's, so that the
    child is traced with an input per item instead."""
    from .leaves import read_leaf
    from .trace import is_plain_sequential

    if read_leaf(child) is not None or is_plain_sequential(child):
        return False
    if id(child) in problems.bodies:  # traced before: DenseNet's, or given a list already
        return problems.bodies[id(child)].list_input is None and id(child) in problems.passed
    # what the trial finds, its children's bodies traced on the way among it
    kept = list(problems.items), set(problems._seen), dict(problems.bodies), dict(problems.passed)
    if body_of(child, problems).list_input is not None:
        return False
    problems.items[:], problems._seen = kept[0], kept[1]
    problems.bodies.clear()
    problems.bodies.update(kept[2])
    problems.passed.clear()
    problems.passed.update(kept[3])
    return True


def concatenates_input(reader: Any, node: Any) -> bool:
    """`torch.cat(inputs, 1)` of the forward's own argument: the module is given a list
    (DenseNet's layers); the caller concatenates it, so this node is the input."""
    import torch

    if node.op != "call_function" or node.target not in (torch.cat, torch.concat):
        return False
    first = node.args[0] if node.args else node.kwargs.get("tensors")
    if getattr(first, "op", None) != "placeholder":
        return False
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    if not isinstance(dim, int) or reader.list_input not in (None, dim):
        return False
    reader.list_input = dim
    reader.names[node] = "input"
    return True


def module_list_call(reader: Any, node: Any, target: str) -> bool:
    """`for block in self.blocks: x = block(x)`, traced as calls of `blocks.0`, `blocks.1`,
    ...: each item of an nn.ModuleList called once, in order, each reading the one before,
    is that list as a sequence (same state_dict keys: `blocks.0.weight`). False: not such a
    call (the caller reports it). A plain nn.Sequential walked so reads the same."""
    from .entries import entry_call
    from .fans import fan_call
    from .fused import in_sequence
    from .trace import _name_and_key, child_item

    if entry_call(reader, node, target):  # entries called one by one (entries.py)
        return True
    head, _, index = target.partition(".")
    holder = getattr(reader.module, head, None) if head in reader.taken else None
    if not _walkable(holder):
        return False
    keys = [key for key, _ in holder.named_children()]
    if index not in keys:  # a grandchild deeper down (`head.a.b`)
        return False
    if not one_tensor_call(holder.get_submodule(index), list(node.args), node.kwargs):
        return False  # besides its tensor, only its own defaults (`blk(x, rel_pos=None)`)
    run = reader.module_lists.get(head)
    k = keys.index(index)
    child = holder.get_submodule(index)
    # a Sequential's named children (timm's classifier heads) keep their names and keys
    named = _name_and_key(index) if index != str(k) else (None, None)
    taken = set(keys) | {i.ref for i in run[0].body or () if i.ref} if run else set(keys)
    where = span_from_stack(node.stack_trace)
    items = in_sequence(child_item(*named, child, reader.problems, where), reader.problems, taken)
    res = _residual_add(node)  # `x = x + block(x)`: the item with its sum, a `residual`
    if res is not None:
        items = [_residual(items)]
    if run is None and k == 0 and head not in reader.called:
        inputs = reader._inputs((node.args[0],))
        if inputs is None:
            return True
        seq = Item(head, "sequential", body=items, inputs=inputs)
        reader.called.append(head)
        reader._add(node, seq, head)
        reader.module_lists[head] = (seq, _absorb(reader, node, res, head))
        return True
    if run is None or _items(run[0]) != k:
        return False
    residual = any(i.kind == "residual" for i in run[0].body or ())
    if not residual and fan_call(reader, node, head, k, items):  # ASPP's `conv(x) for ...`
        return True
    steps = _steps_between(reader, run[1], node.args[0], res)
    first = steps[0][0] if steps else node
    # an item's output read elsewhere (the residual's sum reads the input it gives the item,
    # the concatenation of every item's output gathers it: HGNet's `output.append(x)`)
    others = set(run[1].users) - {first} - ({res} if first is node else set())
    gathered = first is node and _all_gathered(others, head, len(holder))
    if steps is None or (others and not gathered):
        return False
    for _, step in steps:  # `x = F.relu(block(x))`: the steps join the sequence
        reader.items.remove(step)
        step.inputs = ()
        run[0].body.append(step)
    run[0].body.extend(items)
    reader.names[node] = head
    reader.module_lists[head] = (run[0], _absorb(reader, node, res, head))
    return True


def _gathered(cat: Any, head: str) -> tuple[list[Any], int, bool] | None:
    """The tensors a `torch.cat` joins when they are the calls of every item of
    `self.{head}` so far, in order, after (possibly: the bool) the tensor the first item
    read (HGNet's `output = [x]`, each layer's output appended, `torch.cat(output, 1)`),
    with its dim; None for any other node."""
    import torch

    if cat.op != "call_function" or cat.target not in (torch.cat, torch.concat):
        return None
    tensors = cat.args[0] if cat.args else cat.kwargs.get("tensors")
    dim = cat.args[1] if len(cat.args) > 1 else cat.kwargs.get("dim", 0)
    if not isinstance(tensors, list | tuple) or type(dim) is not int or len(cat.args) > 2:
        return None
    tensors = list(tensors)
    lead = bool(tensors) and str(getattr(tensors[0], "target", "")) != f"{head}.0"
    calls = tensors[1:] if lead else tensors
    if not calls or any(getattr(c, "op", None) != "call_module" for c in calls):
        return None
    if [str(c.target) for c in calls] != [f"{head}.{i}" for i in range(len(calls))]:
        return None
    if lead and (len(calls[0].args) != 1 or tensors[0] is not calls[0].args[0]):
        return None
    return tensors, dim, lead


def _all_gathered(users: set[Any], head: str, count: int) -> bool:
    """Whether the only other reader of an item's output gathers all `count` items."""
    found = _gathered(next(iter(users)), head) if len(users) == 1 else None
    return found is not None and len(found[0]) - found[2] == count


def gathering_concat(reader: Any, node: Any) -> bool:
    """The `torch.cat` of a ModuleList walked in a chain that joins every item's output
    (and the tensor the first one read) as the last step of its sequence: a `concat` at
    the end of the list's `sequential`, reading `input` and the items by position; False
    for any other node. `reader` is trace._GraphReader."""
    import torch.nn as nn

    from .where import describe

    for head, (seq, last) in list(reader.module_lists.items()):
        found = _gathered(node, head)
        holder = getattr(reader.module, head)
        if head in reader.fans or found is None or not isinstance(holder, nn.ModuleList):
            continue  # branches that all read one tensor are fans.py's
        tensors, dim, lead = found
        items = seq.body or []
        one_each = len(items) == len(holder) and all(i.is_module for i in items)
        if not one_each or any(i.kind == "residual" for i in items) or tensors[-1] is not last:
            reader.fail(
                "E904",
                f"{describe(type(reader.module))}.forward concatenates the outputs of "
                f"`self.{head}`'s items, which it walks with other steps or sums between them",
                node,
                "a list's concatenation is stated as the last step of its sequence, whose "
                "items are called in a row, one module each",
            )
            return True
        inputs = ("input",) * lead + tuple(str(k) for k in range(len(holder)))
        seq.body.append(Item(None, "concat", {"dim": dim}, {"dim": dim}, inputs, is_module=False))
        reader.names[node] = head
        reader.module_lists[head] = (seq, node)
        return True
    return False


def _residual_add(node: Any) -> Any:
    """The sum of an item's output and the input it read (`x = x + block(x)`, `x =
    block(x) + x`), when nothing else reads that output; None otherwise."""
    import operator

    import torch

    users = list(node.users)
    if len(users) != 1 or not node.args:
        return None
    (add,) = users
    adds = (operator.add, operator.iadd, torch.add)
    if not (add.op == "call_function" and add.target in adds) and not (
        add.op == "call_method" and add.target == "add"
    ):
        return None
    if add.kwargs or len(add.args) != 2 or set(add.args) != {node, node.args[0]}:
        return None
    return add


def _residual(items: list[Item]) -> Item:
    """A list item's items as the body of a `residual` (its layers stay children of the
    list, at the item's position: `blocks.0....`), which adds the input to their output."""
    for item in items:
        item.inputs = ()
    return Item(None, "residual", body=items)


def _absorb(reader: Any, node: Any, res: Any, head: str) -> Any:
    """The node the sequence ends at so far: the item's call, or its residual sum, which
    the `residual` item computes (the reader leaves the sum's node alone)."""
    if res is None:
        return node
    reader.names[res] = head
    reader.absorbed.add(res)
    return res


def _walkable(holder: Any) -> bool:
    """An nn.ModuleList or nn.ModuleDict (`self.layers["conv"](x)`), or a plain
    nn.Sequential walked item by item (timm's FastVit: `for block in self.stages: x =
    block(x)`), whose items keep their keys (`stages.0....`, `layers.conv....`)."""
    import torch.nn as nn

    from .trace import is_plain_sequential

    return isinstance(holder, nn.ModuleList | nn.ModuleDict) or (
        isinstance(holder, nn.Module) and is_plain_sequential(holder)
    )


def _items(seq: Item) -> int:
    """How many of a ModuleList's items a sequence holds (the steps between aside)."""
    return sum(1 for item in seq.body or () if item.is_module)


def _steps_between(
    reader: Any, last: Any, arg: Any, res: Any = None
) -> list[tuple[Any, Item]] | None:
    """The parameter-free steps (activations, dropout: items computed in forward) that lead
    from one item's output (`last`) to the next item's input (`arg`), each reading only the
    one before and read only by the next (and `arg` by that item's residual sum `res`, if
    any); None when the way between is anything else."""
    by_name = {item.name: item for item in reader.items if item.name is not None}
    steps: list[tuple[Any, Item]] = []
    node = arg
    while node is not last:
        ins = list(getattr(node, "all_input_nodes", ()))
        if node.op not in ("call_function", "call_method") or len(ins) != 1:
            return None
        readers = len(node.users) - (node is arg and res is not None and res in node.users)
        if readers != 1 or node not in reader.names:
            return None
        name, before = reader.names[node], reader.names.get(ins[0])
        if name != before:  # not an alias (`x.contiguous()`): an item of its own
            step = by_name.get(name)
            if step is None or step.is_module or step.one_mode or step.body is not None:
                return None
            if step.kind in ("chunk", "split", "parameter") or step.inputs not in ((before,),):
                return None
            if _takes_position(step.kind):  # a named `dropout` is a module: `blocks.1` moves
                return None
            steps.append((node, step))
        node = ins[0]
    return steps[::-1]


def _takes_position(kind: str) -> bool:
    """A step of this kind, named, is a submodule in a numbered list (a module kind with no
    functional form: `dropout`), so it would move the keys of the items after it."""
    from ..ops.base import REGISTRY

    op = REGISTRY.get(kind)
    return op is not None and op.style == "module" and not op.functional


def unfinished_lists(reader: Any) -> None:
    """A ModuleList whose items were called in part: a sequence would hold them all. An
    nn.Sequential so called was meant to be called whole: the forward reached inside it."""
    import torch.nn as nn

    from .entries import unfinished_entries
    from .fans import open_fans
    from .where import inside_child

    open_fans(reader)
    unfinished_entries(reader)
    for head, (seq, node) in reader.module_lists.items():
        holder = getattr(reader.module, head)
        count = len(holder)
        if _items(seq) != count and not isinstance(holder, nn.ModuleList | nn.ModuleDict):
            why, hint = inside_child(reader.module, head + ".0")
            reader.fail("E904", f"{describe(type(reader.module))}.forward {why}", node, hint)
        elif _items(seq) != count:
            reader.fail(
                "E904",
                f"{describe(type(reader.module))}.forward calls {_items(seq)} of the "
                f"{count} items of `self.{head}`",
                node,
                "a ModuleList is read as a sequence of all its items, called in order",
            )


def _walk_hint(container: str, key: str) -> str:
    """How a spec reads a container of this kind walked in turn, and what to change."""
    return (
        f"a spec reads an {container} walked in turn as one sequence, its items called in a "
        "row in the order they are registered with activations between them, or entry by "
        f"entry (`key: {key}`) when an item is called twice, reads a join, is walked beside "
        "another container or has its output read again; call the items in the order they "
        "are registered, and hold any other step between them in the items (an "
        "nn.Sequential(block, nn.Dropout(p)) per item)"
    )


INTERLEAVED_HINT = _walk_hint("nn.ModuleList", "blocks.0")


def interleaved_list(reader: Any, node: Any, target: str) -> bool:
    """A call of an item of a ModuleList that module_list_call could not take (another call
    interrupted it: `for down, stage in zip(self.downs, self.stages)`), reported here;
    False for any other call."""
    head, _, index = target.partition(".")
    holder = getattr(reader.module, head, None)
    keys = [key for key, _ in holder.named_children()] if _walkable(holder) else []
    if index not in keys:
        return False
    failed = reader.__dict__.setdefault("failed_lists", set())
    why = None if head in failed else _list_call_problem(reader, node, head, index, keys)
    if why is not None:  # once per container: its later calls would only repeat it
        failed.add(head)
        reader.fail("E904", f"{describe(type(reader.module))}.forward {why[0]}", node, why[1])
    return True


_ONE_TENSOR_HINT = (
    "a spec's layers and blocks read one tensor (joins read several: add, concat), an item "
    "of a list any other argument at its default"
)


def _list_call_problem(
    reader: Any, node: Any, head: str, index: str, keys: list[str]
) -> tuple[str, str] | None:
    """What is wrong with this call of item `index` of `self.{head}`, and the hint; None
    when an earlier failure (reported) explains it."""
    run = reader.module_lists.get(head)
    before = keys[keys.index(index) - 1]
    item = reader.module.get_submodule(f"{head}.{index}")
    if not one_tensor_call(item, list(node.args), node.kwargs):
        # CaiT's `for blk in self.blocks_token_only: cls = blk(x, cls)`
        from .defaulted import other_than_one_tensor

        how = other_than_one_tensor(item, node.args, node.kwargs)
        return f"calls item `{index}` of `self.{head}` {how}", _ONE_TENSOR_HINT
    if run is not None and keys.index(index) < _items(run[0]):  # `conv(x).shape[2]`
        why = f"calls item `{index}` of `self.{head}` a second time"
        return why, "a spec makes one module per use: weights shared by two calls cannot be stated"
    if run is None and getattr(reader, "failed", False):
        return None  # its first item failed already (reported): the rest would only repeat it
    if run is None and _called_whole(reader, head):
        why = f"calls item `{index}` of `self.{head}`, which it also calls whole (`self.{head}(x)`)"
        return why, CALLED_WHOLE_HINT
    if run is None:
        why = f"calls item `{index}` of `self.{head}` before item `{keys[0]}`, registered first"
    elif _items(run[0]) < keys.index(index):  # minGPT's `mlp.act` before `mlp.c_proj`
        skipped = keys[_items(run[0])]
        why = f"calls item `{index}` of `self.{head}` before item `{skipped}`, registered before it"
    elif others := _walked_since(reader, head, run[1], node):
        why = (
            f"walks `self.{head}` and `self.{others[0]}` together (item {index} of "
            f"`self.{head}` does not read item {before}'s output)"
        )
    else:
        why = (
            f"calls the items of `self.{head}` with other steps between them "
            f"({_why_apart(run[1], node, index, before)})"
        )
    if type(reader.module.get_submodule(head)).__name__ == "ModuleDict":
        return why, DICT_HINT
    return why, INTERLEAVED_HINT


#: The hint for an nn.ModuleDict whose items no sequence, fan or entries hold.
DICT_HINT = _walk_hint("nn.ModuleDict", "heads.age")


#: The hint for an item of a container that the forward also calls whole.
CALLED_WHOLE_HINT = (
    "the item then runs twice, once inside the container; a spec calls a module again only "
    "where the first call is a layer of its own (`reuse`): hold the item as a child of its "
    "own beside the container, or call it only through the container"
)


def _called_whole(reader: Any, head: str) -> bool:
    """Whether the forward calls the container `self.{head}` itself (`self.body(x)`), so a
    call of one of its items is that item's second run, not the start of a walk."""
    return any(n.op == "call_module" and n.target == head for n in reader.graph.nodes)


def _walked_since(reader: Any, head: str, last: Any, node: Any) -> list[str]:
    """The other lists whose items the forward called between the call of `self.{head}`'s
    item `last` and this call `node` (timm's Res2Net walks `convs` and `bns` together); a
    list walked whole before is not one."""
    order = {n: at for at, n in enumerate(reader.graph.nodes)}
    start, end = order.get(last, -1), order.get(node, -1)
    return sorted(
        h
        for h, (_, end_of_h) in reader.module_lists.items()
        if h != head and start < order.get(end_of_h, -1) < end
    )


def _why_apart(last: Any, node: Any, index: str, before: str) -> str:
    """Why item `index` (the fx `node`) does not go on from the item before it, whose call
    is `last`: it reads something else (ASPP's branches all read `x`), or what it reads is
    read elsewhere too (a dense block's list of features, a U-Net's skip)."""
    import torch

    arg = node.args[0] if node.args else None
    path, cur = [], arg
    while getattr(cur, "op", None) in ("call_function", "call_method") and cur is not last:
        if len(cur.all_input_nodes) != 1:
            break
        path.append(cur)
        cur = cur.all_input_nodes[0]
    if cur is not last and (steps := _steps_to_sum(cur, last)):
        return (
            f"item {before}'s output reaches its sum with its input through `{steps}`: a "
            "residual adds the item's own output (`x = x + block(x)`)"
        )
    if cur is not last:
        return f"item {index} reads `{getattr(arg, 'name', arg)}`, not item {before}'s output"
    on_path = {last, *path}
    extra = [u for n in on_path for u in n.users if u not in on_path and u is not node]
    if extra and extra[0].target in (torch.cat, torch.concat):
        return (
            f"item {before}'s output is read by `{extra[0].name}` too: a concatenation "
            "read besides the items joins every item's output, in order, after possibly "
            "the first one's input"
        )
    if extra:
        return f"item {before}'s output is read by `{extra[0].name}` too"
    return f"item {index} reads item {before}'s output through steps other than activations"


def _steps_to_sum(node: Any, last: Any) -> str | None:
    """The steps (`relu`) by which the output of an item's call `last` reaches the sum
    `node` of two tensors (`x + F.relu(block(x))`), None when it does not."""
    if getattr(node, "op", None) not in ("call_function", "call_method") or len(node.args) != 2:
        return None
    for arg in node.args:
        names, cur = [], arg
        while getattr(cur, "op", None) in ("call_function", "call_method"):
            if len(cur.all_input_nodes) != 1:
                break
            names.append(cur.name)
            cur = cur.all_input_nodes[0]
        if cur is last and names:
            return ", ".join(reversed(names))
    return None
