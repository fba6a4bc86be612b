"""Graph lint run after lowering: invariants the backends rely on, with how to fix each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..dims import format_shape
from ..errors import Diagnostic, Severity, SpecError, once_per_place
from ..ir import INPUT, Graph, Module, Node, replaced
from ..ops import REGISTRY, registry_cached
from ..ops.outputs import BLOCK_OUTPUT, OUTPUT_NAMES
from ..ops.reuse import TARGET
from .aliases import ALIASING, SHARING, Aliases, passes_memory
from .dtypes import INDEXED, PICKS, UNPOOLS, WITH_INDICES, int64_readers, is_int_buffer
from .family import family_memo
from .unpools import UNPOOL_DIMS, unpool_extent

Diags = list[Diagnostic]
#: kinds that make or look up int64 tensors (an int64 buffer too: `is_int_buffer`)
_INT_KINDS = INDEXED | PICKS | WITH_INDICES | UNPOOLS
#: kinds whose output may share its memory with another tensor (`Aliases` looks closer)
_SHARES = SHARING | {BLOCK_OUTPUT}


def verify(graph: Graph) -> Graph:
    """Check IR invariants; raise SpecError on a broken graph, else return a copy of it with
    the lint's warnings added (the IR is frozen: a pass returns new values, never edits).

    >>> verify(build_graph("lenet5"))  # doctest: +SKIP
    """
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = list(graph.diagnostics)
    # only an int64 buffer makes int64 tensors; a family checked together shares the
    # subtrees found clean (passes/family.py: its variants share block instances)
    clean = family_memo("verify")
    slots = _InputSlots(family_memo("verify_inputs"))
    # token ids: followed like an int64 buffer (each input of several by its own dtype)
    int_input = [dtype == "int64" for dtype in graph.input_dtypes]
    has_ints = _check_tree(graph.root, errors, warnings, {} if clean is None else clean, slots)
    if has_ints or any(int_input):
        errors += int64_readers(graph.root, int_input)
    warnings += slots.warnings() + _unread_network_inputs(graph)
    # a block's or repeat's copies share their spans: one diagnostic per place, with a count
    if errors:
        raise SpecError(diagnostics=once_per_place(errors), sources=dict(graph.sources))
    return replaced(graph, diagnostics=tuple(once_per_place(warnings)))


def _check_tree(
    module: Module,
    errors: list[Diagnostic],
    warnings: list[Diagnostic],
    clean: dict[int, tuple[Module, bool]],
    slots: _InputSlots,
) -> bool:
    """Check `module` and the modules under it, in registration order (a recursion, not
    `ir.iter_modules`: its generators cost as much as the checks); whether any holds an
    int64 buffer or a lookup by index. A copy of a subtree found clean (`Module.copy_of`) is
    clean too, the same nodes at another path: it is not checked again (`clean`: by id of the
    original)."""
    origin = module.copy_of or module
    found = clean.get(id(origin))
    if found is not None and found[0] is origin:
        return found[1]
    made = len(errors) + len(warnings) + len(slots.unread)
    ints = _check_module(module, errors, warnings, slots)
    for node in module.nodes:
        if node.child is not None:
            ints = _check_tree(node.child, errors, warnings, clean, slots) or ints
    # a diagnostic names the copy's path: each its own
    if len(errors) + len(warnings) + len(slots.unread) == made:
        clean[id(origin)] = (origin, ints)
    return ints


def _check_module(module: Module, errors: Diags, warnings: Diags, slots: _InputSlots) -> bool:
    """Check one module's nodes (their children aside); whether it holds an int64 buffer or
    a lookup by index (`passes/dtypes.py` then follows the int64 tensors)."""
    seen = {INPUT, *module.extra_inputs}
    #: how many times each name is read (a node reading it twice counts twice); who reads
    #: it is only written out for an error (`_first_readers`)
    consumers: dict[str, int] = {}
    ints = shares = False
    for node in module.nodes:
        kind = node.kind
        if not ints and (kind in _INT_KINDS or (kind == "buffer" and is_int_buffer(node))):
            ints = True
        child = node.child  # one that is empty or starts with a view may pass its input on
        if not shares and (kind in _SHARES or (child is not None and _starts_shared(child))):
            shares = True
        if node.name in seen:
            errors.append(Diagnostic("E304", f"duplicate name `{node.name}`", node.span))
        for i in node.inputs:
            if i not in seen:
                errors.append(
                    Diagnostic("E305", f"`{node.name}` reads `{i}` before it exists", node.span)
                )
            consumers[i] = consumers.get(i, 0) + 1
        seen.add(node.name)
    outputs = set()  # (a loop, not a comprehension: its call costs more for one output)
    for o in module.outputs:
        outputs.add(o.name)
    for o in outputs:
        if o not in seen:
            errors.append(Diagnostic("E305", f"output `{o}` is not a node", module.span))
    where = f"{module.path}." if module.path else ""
    readers: dict[str, list[str]] | None = None
    aliases: Aliases | None = None
    linted = _linted_kinds()
    for node in module.nodes:
        # a layer that works in place says so, or is a child module or a reuse (the gate
        # here, the rest in _overwrites, which most nodes need not call)
        may_write = node.inputs and (
            node.child is not None or node.kind == "reuse" or node.attrs.get("inplace")
        )
        writer, held = _overwrites(node, module, consumers, outputs) if may_write else _NONE
        if writer is not None:
            if readers is None:  # written out once per module, for its errors
                readers = _first_readers(module)
            errors.append(_e311(node, writer, readers, consumers, outputs, where))
        elif shares and may_write:
            writer = _in_place(node) if held is _NOT_ASKED else held
            if writer is not None:
                if aliases is None:  # worked out once per module, for the layers that need it
                    aliases = Aliases(module, consumers)
                shared = _shared_write(node, writer, aliases, outputs, where)
                if shared is not None:
                    errors.append(shared)
        if node.kind in linted:  # the few kinds with a lint of their own
            odd = _odd_layer(node, module, where, linted[node.kind])
            if odd is not None:
                warnings.append(odd)
        unread = node.name not in consumers and node.name not in outputs
        if unread and not (
            _placeholder(node) or _saved_state(node) or _dropped_piece(node, consumers, outputs)
        ):
            warnings.append(
                Diagnostic(
                    "W401",
                    f"the output of {where}{node.name} is never used",
                    node.span,
                    "read it with `from:`, list it in `outputs:`, or remove it",
                    Severity.WARNING,
                )
            )
    if module.input_names and module.block is not None:  # the network's: verify's
        _unread_inputs(module, consumers, outputs, slots)
    return ints


#: `_overwrites` did not look for the layer that works in place (`_in_place`)
_NOT_ASKED: Any = object()
#: what `_overwrites` gives for a node that cannot work in place
_NONE: tuple[None, Any] = (None, None)


def _overwrites(
    node: Node, module: Module, consumers: Mapping[str, int], outputs: set[str]
) -> tuple[tuple[str, Any] | None, Any]:
    """The layer (`_in_place`) by which `node` (one with inputs that may work in place)
    overwrites its input where another reader, the module's output or its caller also sees
    that input, else None; and `_in_place(node)` when it was looked for (else _NOT_ASKED),
    which the caller's check of shared memory would otherwise look for again. It is only
    looked for on a tensor read more than once, or on the module's input."""
    src = node.inputs[0]
    count = consumers.get(src, 0) + (src in outputs)
    if not (count > 1 or src == INPUT or src in module.extra_inputs):
        return None, _NOT_ASKED
    writer = _in_place(node)
    if writer is not None and (count > 1 or not module.is_chain):
        return writer, writer
    return None, writer


def _e311(
    node: Node,
    writer: tuple[str, Any],
    readers: Mapping[str, list[str]],
    consumers: Mapping[str, int],
    outputs: set[str],
    where: str,
) -> Diagnostic:
    """E311 for `writer`, which overwrites `node`'s input: a few of its other readers by
    name, never a copy or a list of all (a tensor read by n in-place layers would cost n^2
    time and text)."""
    src = node.inputs[0]
    count = consumers.get(src, 0) + (src in outputs)
    others = [r for r in readers.get(src, []) if r != node.name][:3]
    if src in outputs and len(others) < 3:
        others.append("the module output")
    others = others or ["the caller"]
    if count - 1 > len(others):
        others.append(f"{count - 1 - len(others):,} more")
    hint = (
        f"set inplace: false on `{node.attrs.get('node')}` (which this reuse calls), or call "
        "it on a tensor nobody else reads"
        if node.kind == "reuse"
        else "set inplace: false, or apply it to a tensor nobody else reads; where torch's "
        "reader sees the result (pix2pix's skip), read the step's output: a node of this "
        "list (`key: model.0`)"
    )
    return Diagnostic(
        "E311",
        f"{where}{writer[0]} works in place on `{src}`, which {', '.join(others)} also read(s)",
        writer[1],
        hint,
    )


def _shared_write(
    node: Node, writer: tuple[str, Any], aliases: Aliases, outputs: set[str], where: str
) -> Diagnostic | None:
    """E311 for an in-place layer (`writer`: `node`, the first layer of its child or the module
    a reuse calls) whose input shares its memory with a tensor that another node, the
    module's output or its caller sees (passes/aliases.py)."""
    found = aliases.readers(node, outputs)
    if found is None:
        return None
    root, state, others = found
    src = node.inputs[0]
    message = f"{where}{writer[0]} works in place on `{src}`"
    if src != root:
        message += f", whose memory is `{root}`'s"
    if state:
        message += f": that overwrites the block's {'tensor' if src != root else 'state'} "
        message += f"`{root}`"
    else:
        shown = others[:3] + ([f"{len(others) - 3:,} more"] if len(others) > 3 else [])
        message += f", which {', '.join(shown)} also read(s)"
    return Diagnostic(
        "E311",
        message,
        writer[1],
        "set inplace: false: a view (chunk, split, slice, reshape, ...), an identity, a "
        "dropout or a block's output that is its input passes the input's memory on, and a "
        "parameter or buffer is the module's state",
    )


class _InputSlots:
    """The W401s of a block's `inputs:` that an instance leaves unread. An input that
    another instance of the block reads is no mistake: its reader is under a `when` that
    holds there (timm's SelecSLS block concatenates the skip it is given, except the first
    block of a stage), so only an input that no instance reads is reported."""

    def __init__(self, read: dict[Any, Any] | None) -> None:
        #: (block, input) of each input some instance reads (a family's, when checked together)
        self.read: dict[Any, Any] = {} if read is None else read
        self.unread: list[tuple[tuple[str, str], Diagnostic]] = []

    def warnings(self) -> list[Diagnostic]:
        return [w for slot, w in self.unread if slot not in self.read]


def _unread_inputs(
    module: Module, consumers: dict[str, int], outputs: set[str], found: _InputSlots
) -> None:
    """W401 at the call for each of a block's `inputs:` that none of its layers reads (kept
    in `found` until every instance is checked: see `_InputSlots`)."""
    for name, held in zip(module.input_names, (INPUT, *module.extra_inputs)):
        slot = (str(module.block), name)
        if held in consumers or held in outputs:
            found.read[slot] = True
            continue
        warning = Diagnostic(
            "W401",
            f"input `{name}` of {module.path} (block {module.block}) is never used",
            module.span,
            "read it with `from:` in the block, or drop it from the block's `inputs:`",
            Severity.WARNING,
        )
        found.unread.append((slot, warning))


def _unread_network_inputs(graph: Graph) -> list[Diagnostic]:
    """W401 at an input of a network of several (`inputs:`) that no node reads: forward
    takes it and does nothing with it, which is seldom meant (a misspelt `from`)."""
    root = graph.root
    read = {i for node in root.nodes for i in node.inputs} | {o.name for o in root.outputs}
    return [
        Diagnostic(
            "W401",
            f"input `{given.name}` of the network is never used",
            given.span,
            f"read it with `from: {given.name}`, or drop it from `inputs:` (forward takes "
            "every input it names, used or not)",
            Severity.WARNING,
        )
        for given, held in zip(graph.inputs, (INPUT, *root.extra_inputs))
        if held not in read
    ]


def _first_readers(module: Module) -> dict[str, list[str]]:
    """The first four readers of each name read in `module`, in node order (a node reading
    a name twice is named twice): what an E311 message names."""
    out: dict[str, list[str]] = {}
    for node in module.nodes:
        for i in node.inputs:
            found = out.setdefault(i, [])
            if len(found) < 4:
                found.append(node.name)
    return out


def _starts_shared(child: Module) -> bool:
    """Whether a child module may pass its input's memory on, as far as its first node
    tells (Aliases works out whether it does): it is empty or starts with a view, or with a
    child like that (a `sequential` of one `sequential` of an `identity`)."""
    while child.nodes:
        first = child.nodes[0]
        if first.kind in ALIASING:
            return True
        if first.child is None:
            return False
        child = first.child
    return True


def _in_place(node: Node) -> tuple[str, Any] | None:
    """The layer (its path from `node`, its span) that overwrites `node`'s input: `node`
    itself with `inplace: true`, or the first layer of a Sequential child that does, or the
    first after views of the input and identities only (they pass its memory on) (a chain
    may work in place on its input; whether another node reads that input is its parent's
    to see: timm's XceptionModule reads its block input in its `stack` and in its skip), or
    the module a `reuse` calls again, as it is called on the reuse's input."""
    if node.attrs.get("inplace"):
        return node.name, node.span
    if node.kind == "reuse":  # the module it calls again, on its own input
        target = node.attrs.get(TARGET)
        inner = None if target is None else _in_place(target)
        return None if inner is None else (f"{node.name} (a call of {inner[0]})", node.span)
    child = node.child
    if child is None or not child.nodes:
        return None
    for inner_node in child.nodes:  # through views of the input, which share its memory
        inner = _in_place(inner_node)
        if inner is not None:  # is_chain (which walks the child's nodes) only now
            return (f"{node.name}.{inner[0]}", inner[1]) if child.is_chain else None
        if not passes_memory(inner_node):
            return None
    return None


def _placeholder(node: Node) -> bool:
    """An empty `sequential` nobody reads: torchvision's `self.branch1 = nn.Sequential()`
    placeholder (ShuffleNetV2 at stride 1), kept for its place in the module tree; it
    computes nothing, so leaving it unread is not a mistake worth a warning."""
    return node.kind == "module" and node.child is not None and not node.child.nodes


def _dropped_piece(node: Node, consumers: Mapping[str, Any], outputs: set[str]) -> bool:
    """A piece of a split that another piece of it is read: the split is how a spec keeps
    part of a tensor (timm's `x[:, num_prefix_tokens:]`), so the part left is no mistake;
    so is an output of a block of several whose other output is read (PiT's last stage
    returns the tokens and the class token, which alone the head reads)."""
    op = REGISTRY.get(node.kind) if node.child is None else None
    if op is None or (op.names_field is None and op.kind != BLOCK_OUTPUT):
        return False
    pieces = node.attrs.get(op.names_field or OUTPUT_NAMES) or ()
    return any(p != node.name and (p in consumers or p in outputs) for p in pieces)


def _saved_state(node: Node) -> bool:
    """A persistent buffer: state the state_dict carries (an index torchvision saves), so
    nothing in forward need read it."""
    op = REGISTRY.get(node.kind) if node.child is None else None
    return op is not None and op.style == "tensor" and bool(op.persistent(node.attrs))


#: Layers that keep a conv's layout (elementwise: activations, norms, dropout), which a
#: forgotten flatten hides behind.
_SAME_LAYOUT = ("act", "norm", "dropout")


#: Layers that read (N, L, D) tokens, the features last, which a conv's (N, C, L) is not.
_TOKEN_READERS = ("lstm", "gru", "rnn", "multihead_attention")


def _unflattened(node: Node, module: Module) -> Diagnostic | None:
    """W405 for a `linear` that reads a conv's or pool's NCHW output directly (or through
    activations, norms, dropout): it applies to the last dim (W) alone, which is legal torch
    but almost always a forgotten `flatten` (a per-pixel linear permutes first, as ConvNeXt);
    and for a recurrent layer or attention that reads a conv's (N, C, L) so: it takes the
    channels as the sequence and the length as the features, almost always a forgotten
    `permute` (a CRNN's, an audio network's)."""
    tokens = node.kind in _TOKEN_READERS
    if len(node.in_shapes) != 1 or not (len(node.in_shapes[0]) == 3 or not tokens):
        return None
    if len(node.in_shapes[0]) < 3:
        return None
    by_name = {n.name: n for n in module.nodes}
    src = by_name.get(node.inputs[0])
    while src is not None and src.child is None and len(src.inputs) == 1:
        category = REGISTRY[src.kind].category if src.kind in REGISTRY else None
        if category in ("conv", "pool"):
            x = node.in_shapes[0]
            return Diagnostic(
                "W405",
                f"{node.kind} `{node.name}` reads the (N, C, L) output of {src.kind} "
                f"`{src.name}` as (N, L, D) tokens: its {x[1]} channels are the sequence and "
                f"the {x[2]} steps the features"
                if tokens
                else f"linear `{node.name}` reads the {len(x)}-d output of "
                f"{src.kind} `{src.name}`: it applies to the last dim only "
                f"({x[-1]} features), not to the whole feature map",
                node.span,
                "put a `permute` with dims [0, 2, 1] before it, so each step's channels are "
                "its features"
                if tokens
                else "add a `flatten` before it (or a global pool and a flatten), or `permute` "
                "first if a per-position linear is meant",
                Severity.WARNING,
            )
        if category not in _SAME_LAYOUT:
            return None
        src = by_name.get(src.inputs[0])
    return None


@registry_cached
def _linted_kinds() -> Mapping[str, int]:
    """The kinds `_odd_layer` looks at, each pool of a 2-d or 3-d window with its `nd` (W410),
    so that the lint asks only their nodes: most of a graph's nodes are none of them (it
    was a call per node, 14,301 of them for the shipped specs' check). Kind -> 0, or a
    pool's `nd`."""
    linted = {
        kind: nd
        for kind, op in REGISTRY.items()
        if op.category == "pool" and (nd := getattr(op, "nd", 0)) in (2, 3)
    }
    linted.update(dict.fromkeys(("linear", "dropout2d", *_TOKEN_READERS, *UNPOOL_DIMS), 0))
    return linted


def _odd_layer(node: Node, module: Module, where: str, nd: int) -> Diagnostic | None:
    """The warning of a layer of a kind `_linted_kinds` holds (`nd`: a pool's), if any:
    W405 for a linear or token reader, W407 for a dropout2d, an unpool's, W410 for a pool."""
    kind = node.kind
    if kind == "linear" or kind in _TOKEN_READERS:
        return _unflattened(node, module)
    if kind == "dropout2d":
        return _channel_dropout(node, where)
    if kind in UNPOOL_DIMS:
        return unpool_extent(node, module, where)
    return _unbatched_pool(node, where, nd)


def _unbatched_pool(node: Node, where: str, nd: int) -> Diagnostic | None:
    """W410 for a 2-d or 3-d pool (`nd`: its spatial dims) whose input has one dim fewer
    than (N, C, ...): PyTorch reads it as one unbatched map, so the pool runs over dim 1
    (the channels of a conv's (N, C, L)) as well, which is legal torch but almost always
    the pool of another rank."""
    if len(node.in_shapes) != 1 or node.child:
        return None
    x = node.in_shapes[0]
    if len(x) != nd + 1:
        return None
    return Diagnostic(
        "W410",
        f"{node.kind} `{where}{node.name}` takes a {nd + 1}-d input {format_shape(x)}: "
        f"PyTorch reads it as one unbatched map and pools its last {nd} dims, dim 1 "
        f"({x[1]}) among them",
        node.span,
        f"for an (N, C, ...) input of {nd + 1} dims use "
        f"`{node.kind.replace(f'{nd}d', f'{nd - 1}d')}`, which pools the last {nd - 1}",
        Severity.WARNING,
    )


def _channel_dropout(node: Node, where: str) -> Diagnostic | None:
    """W407 for a `dropout2d` whose input is not (N, C, H, W): PyTorch runs it with a
    warning that a future release changes it (3-d: read as (N, C, L) now, as one unbatched
    (C, H, W) map then) or refuses it (any other rank)."""
    if len(node.in_shapes) != 1 or len(node.in_shapes[0]) == 4:
        return None
    rank = len(node.in_shapes[0])
    how = (
        "drops whole channels of a 3-d input now (read as (N, C, L)) and will read it as "
        "one unbatched (C, H, W) map"
        if rank == 3
        else "refuses a 1-d input in training mode (eval mode passes it through)"
        if rank == 1
        else f"warns that it will refuse a {rank}-d input"
    )
    return Diagnostic(
        "W407",
        f"dropout2d `{where}{node.name}` takes a {rank}-d input: PyTorch {how}",
        node.span,
        "give it an (N, C, H, W) input, or use `dropout1d` (of (N, C, L) sequences) or "
        "`dropout` (elementwise)",
        Severity.WARNING,
    )
