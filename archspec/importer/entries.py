"""An nn.ModuleList (or nn.ModuleDict) whose entries a forward calls one by one, as entries
(`key: convs.0`, `key: heads.age`).

`lists.py` reads a ModuleList walked in turn as one `sequential` (or a fan of branches).
A list that is no such run is stated entry by entry instead: each entry's first call is a
node keyed `convs.0`, registered as entry 0 of the list `convs` and called where the forward
calls it, and a later call of the same entry is a `reuse` of that node. That is how a spec
writes timm's Res2Net, which walks `convs` and `bns` together between a split and a concat,
a list entry called twice (`self.blocks[0](x)` used twice), and an entry that reads a join
(`self.convs[i](sp + spx[i])`), and branches on one tensor summed (MobileOne's `out +=
self.conv_kxk[ix](x)`). A list is read so when, in the traced graph, an entry is called more
than once, its calls interleave with another list's, an entry after the first reads neither
the entry before (through steps of one input) nor the first entry's input, or entries that
all read one tensor are not joined by one torch.cat (fans.py's fan), or an entry's output
is read besides the next entry (a U-Net's skip).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from ..ops.names import is_index, spec_key_problem
from .defaulted import one_tensor_call
from .order import stateful
from .several import added_call
from .trace import child_item
from .where import describe, span_from_stack


def _entry(module: Any, target: str) -> tuple[str, str] | None:
    """(container, entry) of a call of an entry of an nn.ModuleList or nn.ModuleDict of
    `module` (`("convs", "0")`, `("heads", "age")`), or of a container nested in one
    (`fuse_layers.0.1`, HRNet's list of lists: `("fuse_layers.0", "1")`), or of a plain
    nn.Sequential of `module` walked item by item (SSDLite's `for block in self.features`,
    each stage's output kept: `("features", "0")`); else None."""
    import torch.nn as nn

    from .trace import is_plain_sequential

    parts = target.split(".")
    at = module
    for k, part in enumerate(parts[:-1]):
        at = at._modules.get(part)
        walked = len(parts) == 2 and at is not None and is_plain_sequential(at)
        if not isinstance(at, nn.ModuleList | nn.ModuleDict) and not walked:
            return None
        if isinstance(at, nn.ModuleList) and not is_index(parts[k + 1]):
            return None
    if len(parts) < 2:
        return None
    return (".".join(parts[:-1]), parts[-1]) if parts[-1] in at._modules else None


#: How to go on when a container's entry has a key no spec states.
_KEY_HINT = (
    "a spec's key is printable ASCII without spaces, quotes or backslashes, not starting "
    "with `_`, at most 64 characters with its path: rename the nn.ModuleDict's entry"
)


def _shown(path: str) -> str:
    """A container's path as a forward indexes it: `self.fuse_layers[0]`, `self.heads["cls"]`."""
    head, *rest = path.split(".")
    return f"self.{head}" + "".join(f"[{p}]" if is_index(p) else f"[{json.dumps(p)}]" for p in rest)


def _reaches(arg: Any, before: Any) -> bool:
    """Whether `arg` is the call `before`, or computed from it alone by steps of one input
    (`F.relu(block(x))`), or its residual sum with the input it read (`x + block(x)`)."""
    node = arg
    while node is not before:
        ins = list(getattr(node, "all_input_nodes", ()))
        if getattr(node, "op", None) not in ("call_function", "call_method"):
            return False
        if len(ins) == 2 and set(ins) == {before, *before.all_input_nodes[:1]}:
            return True
        if len(ins) != 1:
            return False
        node = ins[0]
    return True


def _read_aside(arg: Any, before: Any, node: Any, head: str) -> bool:
    """Whether a tensor on the way from the call `before` to `arg`, what the next call
    `node` reads, is read by anything else than that way: a U-Net's encoder list, whose
    outputs the decoder reads again (`blocks.append(x); x = F.max_pool2d(x, 2)`), or a
    backbone's features returned (`outs.append(x)`). The residual sum of the next item
    (`x = x + block(x)`) and a torch.cat of every item's output (HGNet's) are read by a
    sequence, so they are not."""
    from .lists import _gathered, _residual_add

    way, cur = [before], arg
    while cur is not before:
        ins = list(getattr(cur, "all_input_nodes", ()))
        if len(ins) != 1:  # the residual's sum of the item before: lists.py judges it
            return False
        way.append(cur)
        cur = ins[0]
    known = {*way, node, _residual_add(node)}
    return any(u not in known and _gathered(u, head) is None for n in way for u in n.users)


def _several(module: Any, node: Any) -> bool:
    """Whether the call `node` gives its entry tensors besides the one a sequence passes on."""
    entry = module.get_submodule(str(node.target))
    return not one_tensor_call(entry, list(node.args), node.kwargs)


def keyed_lists(module: Any, graph: Any) -> set[str]:
    """The ModuleLists of `module` that its traced `graph` calls entry by entry: an entry
    called twice, calls interleaved with another list's, or an entry reading a join."""
    calls: dict[str, list[tuple[int, int, Any]]] = {}
    for at, node in enumerate(graph.nodes):
        found = _entry(module, str(node.target)) if node.op == "call_module" else None
        if found is not None:
            calls.setdefault(found[0], []).append((at, found[1], node))
    keyed = set()
    for head, seen in calls.items():
        if "." in head:  # a container nested in another: its entries are keys of their own
            keyed.add(head)
            continue
        indices = [k for _, k, _ in seen]
        if _passes_identities(module.get_submodule(head), indices):
            keyed.add(head)  # HRNet's transitions: `t(x) if not isinstance(t, nn.Identity)`
            continue
        first, last = seen[0][0], seen[-1][0]
        others = [a for h, s in calls.items() if h != head for a, _, _ in s]
        if len(set(indices)) != len(indices) or any(first < a < last for a in others):
            keyed.add(head)
            continue
        if any(_several(module, n) for _, _, n in seen):  # CaiT's `blk(x, cls)`
            keyed.add(head)
            continue
        start = seen[0][2].args[:1]
        for (_, _, before), (_, _, node) in itertools.pairwise(seen):
            arg = node.args[:1]
            if arg and arg != start and not _reaches(arg[0], before):
                keyed.add(head)
                break
            if arg and arg != start and _read_aside(arg[0], before, node, head):
                keyed.add(head)  # a U-Net's skip: `blocks.append(x)` read by the decoder
                break
        if len(seen) > 1 and all(n.args[:1] == start for _, _, n in seen) and not _one_cat(seen):
            keyed.add(head)  # branches on one tensor summed (MobileOne's `out += conv(x)`)
    return keyed


def _passes_identities(holder: Any, called: list[str]) -> bool:
    """Whether a forward passes by an `nn.Identity` entry of `holder` it never calls, before
    an entry it calls (HRNet's transition lists): a sequence would call it, entries hold it."""
    import torch.nn as nn

    held = holder._modules
    last = max((list(held).index(k) for k in called if k in held), default=-1)
    return any(type(m) is nn.Identity and k not in called for k, m in list(held.items())[:last])


def _one_cat(seen: list[tuple[int, int, Any]]) -> bool:
    """Whether one torch.cat joins the outputs of every call in `seen`, each reaching it
    through steps on it alone (fans.py reads that fan: DeepLabV3's ASPP)."""
    import torch

    ends = set()
    for _, _, node in seen:
        while len(node.users) == 1:
            (user,) = node.users
            if user.op not in ("call_function", "call_method") or user.args[:1] != (node,):
                break
            node = user
        if len(node.users) != 1:
            return False
        ends.update(node.users)
    (end,) = ends if len(ends) == 1 else (None,)
    return end is not None and end.target in (torch.cat, torch.concat)


def entry_call(reader: Any, node: Any, target: str) -> bool:
    """A call of an entry of a list read entry by entry: a node keyed `convs.0` at its first
    call (in the order the entries are registered), a `reuse` of it after; False for any
    other call. `reader` is trace._GraphReader."""
    if not hasattr(reader, "keyed_lists"):
        reader.keyed_lists = keyed_lists(reader.module, reader.graph)
        reader.entries, reader.entry_calls = {}, {}
    found = _entry(reader.module, target)
    if found is None or found[0] not in reader.keyed_lists:
        return False
    head, index = found
    cls = describe(type(reader.module))
    if (head, index) in reader.passed_by:  # an identity skipped before
        later = reader.entries[head][-1]
        why = f"calls item `{index}` of `{_shown(head)}`, an nn.Identity, after item `{later}`"
        reader.fail("E904", f"{cls}.forward {why}", node, _PASSED_HINT)
        return True
    if (problem := spec_key_problem(target)) is not None:  # a dict's key: any text
        why = f"calls `{_shown(target)}`, whose path no spec key states ({problem})"
        reader.fail("E904", f"{cls}.forward {why}", node, _KEY_HINT)
        return True
    child = reader.module.get_submodule(target)
    inputs = _entry_inputs(reader, node, child, f"calls item `{index}` of `{_shown(head)}`")
    if inputs is None:
        return True
    reader.entry_calls[head] = node  # the last: where an entry left out is reported
    if index in reader.entries.get(head, ()):  # `{type: reuse, node: convs.0}`, or again
        reader._repeat_call(node, target, child, inputs)
        return True
    if _out_of_turn(reader, node, target):
        return True
    top = target.split(".", 1)[0]
    if top not in reader.called:
        reader.called.append(top)
    item = child_item(None, None, child, reader.problems, span_from_stack(node.stack_trace))
    item.key, item.inputs = target, inputs
    if item.kind == "unknown":  # refused where child_item read it
        reader.refused.add(node)
        reader.failed = True
    if item.kind == "fused":
        from .fused import splice_call

        splice_call(reader, node, item)
        return True
    added_call(reader, node, item, target)  # WaveNet's `x, skip = block(x)` too
    return True


def _entry_inputs(reader: Any, node: Any, child: Any, call: str) -> tuple[str, ...] | None:
    """What an entry's call reads: its tensor (its own defaults may be given too), or the
    tensors given for arguments of its forward, a block of several inputs (CaiT's
    class-attention blocks, `for blk in self.blocks_token_only: cls = blk(x, cls)`); None,
    reported, for any other call."""
    from .inputs import given_args, tensors_call

    if one_tensor_call(child, list(node.args), node.kwargs):
        return reader._inputs((node.args[0],))
    several = tensors_call(child, list(node.args), node.kwargs)
    if several:
        reader.problems.passed[id(child)] = given_args(child, several)
        return reader._inputs(tuple(value for _, value in several))
    from .defaulted import other_than_one_tensor
    from .lists import _ONE_TENSOR_HINT

    how = other_than_one_tensor(child, node.args, node.kwargs)
    reader.fail(
        "E904", f"{describe(type(reader.module))}.forward {call} {how}", node, _ONE_TENSOR_HINT
    )
    return None


def _out_of_turn(reader: Any, node: Any, target: str) -> bool:
    """Record a first call of an entry (and of each container on its path) in its
    container's entries; True, reported, when it comes before an entry registered before it:
    a spec registers a container's entries in the order it first calls them. Uncalled
    `nn.Identity` entries before it are passed by (the spec's list holds one there)."""
    import torch.nn as nn

    parts = target.split(".")
    for k in range(1, len(parts)):
        path, part = ".".join(parts[:k]), parts[k]
        called = reader.entries.setdefault(path, [])
        if part in called:
            continue
        held = reader.module.get_submodule(path)._modules
        keys = list(held)
        while part != keys[len(called)] and type(held[keys[len(called)]]) is nn.Identity:
            # HRNet's `t(x) if not isinstance(t, nn.Identity) else ...`: a spec's list holds
            # an nn.Identity at an index no node takes, so the entry is passed by in place
            reader.passed_by.add((path, keys[len(called)]))
            called.append(keys[len(called)])
        if part != keys[len(called)]:
            shown = _shown(path)
            reader.fail(
                "E904",
                f"{describe(type(reader.module))}.forward calls item `{part}` of `{shown}` "
                f"before item `{keys[len(called)]}`",
                node,
                "a spec registers a container's entries in the order it first calls them: "
                f"call `{_shown(f'{path}.{keys[len(called)]}')}` first, or register the "
                "entries in call order",
            )
            return True
        called.append(part)
    return False


#: How to go on when an identity entry passed by is called later.
_PASSED_HINT = (
    "a spec's list holds an nn.Identity at an index no node takes, so an identity entry "
    "passed by before a later entry is called cannot be called after it: call the "
    "entries in the order they are registered"
)


def unfinished_entries(reader: Any) -> None:
    """A list read entry by entry whose forward leaves entries uncalled: a spec holds only
    the entries it calls, so the twin's state_dict would lack the others' tensors."""
    for head, called in getattr(reader, "entries", {}).items():
        holder = reader.module.get_submodule(head)._modules
        unused = [k for k in holder if k not in called and stateful(holder[k])]
        if unused:
            reader.fail(
                "E904",
                f"{describe(type(reader.module))}.forward never calls item `{unused[0]}` of "
                f"`{_shown(head)}`, which holds weights",
                reader.entry_calls.get(head) or reader.entry_calls[_last_under(reader, head)],
                "a spec holds only the weights its forward uses; remove the entry, or call it",
            )


def _last_under(reader: Any, head: str) -> str:
    """The container under `head` whose entry the forward called last (where a container
    left out of `head` is reported)."""
    return [c for c in reader.entry_calls if c.startswith(head + ".")][-1]


def forwards_by_name(module: Any, graph: Any) -> None:
    """Make each plain nn.Sequential entry of a container whose `forward` the traced forward
    called by name (timm's HRNet head: `down = self.downsamp_modules[i - 1]` then
    `down.forward(y)`, which fx follows inside, recording its items) one call of the entry,
    as `down(y)` is: its items called once each, in order, each reading the one before
    alone and read by nothing else, the first reading one tensor. Other item calls are
    left as they are (refused where.inside_child)."""
    from .trace import is_plain_sequential

    calls: dict[str, list[Any]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            path, _, _ = str(node.target).rpartition(".")
            calls.setdefault(path, []).append(node)
    for path, nodes in calls.items():
        if "." not in path or _entry(module, path) is None:  # an entry of a container only
            continue
        holder = module.get_submodule(path)
        if not is_plain_sequential(holder) or path in calls.get(path.rpartition(".")[0], ()):
            continue
        keys = list(holder._modules)
        if [str(n.target).rpartition(".")[2] for n in nodes] != keys:
            continue
        if not _chained(nodes):
            continue
        with graph.inserting_before(nodes[0]):
            whole = graph.call_module(path, (nodes[0].args[0],))
        whole.meta, whole.stack_trace = dict(nodes[0].meta), nodes[0].stack_trace
        nodes[-1].replace_all_uses_with(whole)
        for node in reversed(nodes):
            graph.erase_node(node)


def _chained(nodes: list[Any]) -> bool:
    """Whether the calls form one chain of one tensor: each reads the one before alone, and
    nothing else reads what all but the last return."""
    first = nodes[0]
    if len(first.args) != 1 or first.kwargs or not hasattr(first.args[0], "op"):
        return False
    for before, node in itertools.pairwise(nodes):
        if node.args != (before,) or node.kwargs or list(before.users) != [node]:
            return False
    return True
