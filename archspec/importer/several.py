"""A child module whose forward returns several tensors, unpacked by its caller (HRNet's
`hi, lo = self.stage1(x, y)`, PiT's `x, cls_tokens = self.transformers(...)`), or a dict of
them its caller reads by key (torchvision's IntermediateLayerGetter, `features["out"]`): the
call is a block call with `names:`, one name per tensor (a dict's in its order), which the
caller's `getitem`s read, and the child's block lists its `outputs:`."""

from __future__ import annotations

import operator
from typing import Any

from .appends import appended


def output_names(reader: Any, node: Any) -> list[str] | None:
    """The names of the tensors a child's call returns, for a call whose result is only
    unpacked or indexed by constant positions, or returned whole (YOLO's `return
    self.detect(p3, p4)`), and is a tuple of tensors on the example input (its length, run
    there); None for a call read whole (one tensor)."""
    users = list(node.users)
    returned = [u for u in users if u.op == "output" and u.args[0] is node]
    given = [u for u in users if _given_whole(u, node)]  # `self.classifier(features)`
    marks = [u for u in users if u.target is appended]  # what it put in a list: appends.py
    read = [u for u in users if u not in returned and u not in given and u not in marks]
    if not users or not all(
        u.op == "call_function" and u.target is operator.getitem and type(u.args[1]) in (int, str)
        for u in read
    ):
        return None
    from .slices import _node_shapes

    _node_shapes(reader)  # runs the module's graph on its input, counting returned tuples
    count = reader.__dict__.get("tuple_lengths", {}).get(node)
    keys = count if isinstance(count, list) else None
    if keys is not None:  # a dict by these keys, read by key: by position
        if not _keyed_reads(reader, node, keys, read):
            return None
        if len(keys) == 1:  # its one tensor: the block's output, each read of it the call
            _one_key(reader, node, keys[0], read, returned)
            _give_whole(node, given, {keys[0]: node})
            return None
        for u in read:
            u.args = (node, keys.index(u.args[1]))
        count = len(keys)
    if count == 1 and all(u.args[1] in (0, -1) for u in read):  # `self.detect([p3])[0]`
        _one_key(reader, node, None, read, [])  # the block's one output is the tensor
        _give_whole(node, given, [node])
        return None
    if count is None or count < 2 or not all(-count <= u.args[1] < count for u in read):
        return None
    names: list[str] = []
    for i in range(count):  # each kept before the next is made (`_0`'s: node, node_1)
        names.append(reader._fresh(f"{node.name}_{i}"))
        reader.used.add(names[-1])
    reader.pieces[node] = names
    if returned or given:  # its tensors, each read where they are returned or given on
        cursor, items = node, []
        for i in range(count):
            with node.graph.inserting_after(cursor):
                cursor = node.graph.call_function(operator.getitem, (node, i))
            items.append(cursor)
        whole = tuple(items) if keys is None else dict(zip(keys, items))
        for output in returned:
            output.args = (whole,)
        _give_whole(node, given, list(whole) if keys is None else whole)
    return names


def _given_whole(user: Any, node: Any) -> bool:
    """Whether `user` calls a child module with `node` itself for an argument: the dict
    (or list) of tensors a child returned, given on to another (LRASPP's head)."""
    values = [*user.args, *user.kwargs.values()]
    return user.op == "call_module" and any(v is node for v in values)


def _give_whole(node: Any, given: list[Any], whole: Any) -> None:
    """Each call in `given` reads `whole` (a dict or list of the call's tensors, each its
    own fx node) where it read `node`, so that it gives the child each tensor."""
    for user in given:
        user.args = tuple(whole if a is node else a for a in user.args)
        user.kwargs = {k: whole if v is node else v for k, v in user.kwargs.items()}


def _keyed_reads(reader: Any, node: Any, keys: list[str], read: list[Any]) -> bool:
    """Whether a child's dict of `keys` is read by its keys only (besides being returned
    whole, by the network as its `outputs:` mapping, by a block as its outputs in order, and
    given whole to another child, each key an input of its block); E904 (False) for another
    read of a dict of several, which a block of several outputs cannot give."""
    if not all(u.args[1] in keys for u in read):
        reader.fail(
            "E904",
            f"forward reads the dict `self.{node.target}` returns other than by its keys",
            node,
            'read each map by its key (`features["out"]`), return the dict whole or give it '
            "whole to a child module (`self.head(features)`)",
        )
        return False
    return True


def _one_key(reader: Any, node: Any, key: str | None, read: list[Any], returned: list[Any]) -> None:
    """A child's dict of one tensor (fcn_resnet50's backbone without `aux_loss`), or list of
    one (`key` None): the block returns the tensor, so each `features["out"]` (`out[0]`) is
    the call itself, and the network that returns the dict returns `{key: call}`, its
    `outputs:` mapping."""
    for u in read:
        u.replace_all_uses_with(node)
        reader.absorbed.add(u)
    for output in returned:
        output.args = ({key: node},)


def added_call(reader: Any, node: Any, item: Any, target: str) -> None:
    """A child's call added to the reader's items, a block call returning several tensors
    with names for them (`output_names`)."""
    if item.kind == "block":
        item.outputs = output_names(reader, node)
    reader._add(node, item, target)


def uncounted(reader: Any, node: Any, call: Any) -> bool:
    """One E903 at `x, idx = self.down(x)` when what the child returns holds other than
    tensors (a Detectron-style head's lists of maps), or when how many tensors it is is
    unknown because the model does not run on the example input (ENet's `torch.zeros(...)`
    made on the CPU beside a model on the meta device): the run counts them. True: handled;
    False when the count is known or unknown for another reason."""
    held = reader.__dict__.get("tuple_kinds", {}).get(call)
    # a Detectron-style head's `logits, bbox = self.rpn(features)`; not torch's own layers,
    # read by their kinds (an LSTM's `out, (h, c)`, whose states finalstates.py reads)
    if held is not None and _own_block(reader, call):
        reader.fail(
            "E903",
            f"forward unpacks what `self.{call.target}` returns, ({', '.join(held)}) on the "
            "example input: a spec's block returns tensors, one name each",
            node,
            "return the tensors themselves (`return l0, l1, b0, b1`, one map per output), "
            "not lists or other values",
        )
        reader.refused.update((call, node))
        return True
    if call in reader.__dict__.get("tuple_lengths", {}) or reader.problems.run_error is None:
        return False
    size, why = reader.problems.run_error
    reader.fail(
        "E903",
        f"forward unpacks what `self.{call.target}` returns: the model's run on the example "
        f"input tells how many tensors it is, and the model does not run on ({size}): {why}",
        node,
        "give an example input the model takes (`--input`)"
        + (
            "; make a tensor in forward where its input is (`device=x.device`): archspec "
            "import builds the model on the meta device"
            if "meta" in why
            else ""
        ),
    )
    reader.refused.update((call, node))  # its other items are not reported again
    return True


def _own_block(reader: Any, call: Any) -> bool:
    """Whether the child `call` runs is the model's own module (a block of the spec), not
    one of torch's, whose results the readers of its kind take apart."""
    child = reader.module.get_submodule(str(call.target))
    return not type(child).__module__.startswith("torch.")
