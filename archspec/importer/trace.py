"""One module's forward as a list of spec items, from torch.fx symbolic tracing.

Every child module stays a call (the tracer treats each as a leaf), so the graph of one
class's forward speaks of its own attributes only: a child that is a layer kind becomes a
layer item, a `nn.Sequential` a nested list, any other module class a block call whose body
is traced on its own. Calls of torch functions become function kinds (`functions.py`). What
has no exact equivalent is collected as a located diagnostic, never approximated."""

from __future__ import annotations

import keyword
import operator
from typing import TYPE_CHECKING, Any

from ..ops.names import NAME_RE, RESERVED_NAMES, check_name, literal_key_problem
from .calls import after_refused, attribute_read, is_packing, key_read, unpacked, unread_call
from .defaulted import other_than_one_tensor
from .functions import Ref, describe_target, read_call
from .hooks import parametrized_problem
from .inputs import given_args, layer_tensors_call, positional_calls, read_inputs, tensors_call
from .leaves import read_leaf, unread_settings
from .quantizable import float_stub, identity_grandchild
from .records import Body, Item, Problems
from .several import added_call
from .twins import TWIN_HINT, own_method_forward, traced_as_twin, twin_call, twin_forward
from .tying import reuse_item, second_call
from .unbinds import read_attention, unbind_pieces
from .where import (
    describe,
    diagnostic,
    inside_child,
    key_span,
    short_repr,
    span_from_stack,
    span_of_class,
    span_of_node,
    untraceable,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from .modes import Modes


def is_plain_sequential(module: nn.Module) -> bool:
    import torch.nn as nn

    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _is_torch_class(module: nn.Module) -> bool:
    return type(module).__module__.startswith("torch.")


def _key_hint(key: str) -> str:
    """What to do about a child's key no spec takes: another name, or other characters."""
    if NAME_RE.match(key) and key in RESERVED_NAMES:  # `self.input = nn.Conv2d(...)`
        return (
            f"register the child under another name (`self.{key}_layer`): a checkpoint's "
            f"`{key}.*` keys then load under it once renamed"
        )
    return (
        "register the child under an ASCII name without `{`, `}`, spaces, dots or quotes "
        "(add_module), so that its state_dict keys can be a spec's"
    )


def child_item(
    name: str | None,
    key: str | None,
    child: nn.Module,
    problems: Problems,
    where: Any = None,
    owner: type | None = None,
) -> Item:
    """The item a child module becomes: a layer, a nested list or a block call; `where`: the
    statement that calls it or the class that holds it, where a refusal of torch's own class
    points (its source in torch tells a user nothing); `owner`: the innermost class of the
    model's code that holds it, where a key no spec takes points (where.key_span)."""
    if key is not None and (why := literal_key_problem(key)):
        where = key_span(key, owner) or where
        return _refused(
            name,
            key,
            child,
            problems,
            f"a child registered as {key[:40]!r} ({describe(type(child))}): {why}",
            _key_hint(key),
            where or span_of_class(type(child)),
        )
    where = where if _is_torch_class(child) else None
    if (parametrized := parametrized_problem(key or name or "", child, where)) is not None:
        problems.add(parametrized)  # weight_norm, spectral_norm: hooks.py
        return Item(name, "unknown", module=child, key=key)
    leaf = read_leaf(child)
    if leaf is not None:
        return Item(name, leaf.kind, dict(leaf.fields), dict(leaf.full), key=key)
    if float_stub(child):  # a quantizable model in float mode (quantizable.py)
        return Item(name, "identity", key=key)
    if type(child).__name__ == "Sequential" and is_plain_sequential(child):
        body = sequential_items(child, problems, where, owner)
        return Item(name, "sequential", body=body, key=key)
    torch_class = _is_torch_class(child) and twin_forward(child) is None  # twins.py
    if torch_class or (not list(child.children()) and not _has_forward(child)):
        from .modulecalls import known_refusal

        why, hint = known_refusal(child) or (unread_settings(child), None)
        return _refused(
            name,
            key,
            child,
            problems,
            f"no layer kind builds {describe(type(child))} ({short_repr(child)})"
            + (f": {why}" if why else ""),
            hint
            or "archspec imports torch.nn modules that a layer kind reads back exactly; "
            + ("build this one as the kind does, where that computes the same, or " if why else "")
            + "register a layer kind for it (a plugin: docs/plugins.md) with a `read_module`",
            where,
        )
    from .fused import fused_item, fused_reading

    if fused_reading(child) is not None:
        return fused_item(name, key, child, problems)
    return Item(name, "block", module=child, key=key)


def _refused(
    name: str | None,
    key: str | None,
    child: nn.Module,
    problems: Problems,
    why: str,
    hint: str,
    where: Any,
) -> Item:
    """E903 at `where` or the child's class, and the item that stands for it (never written)."""
    problems.add(diagnostic("E903", why, where or span_of_class(type(child)), hint))
    return Item(name, "unknown", module=child, key=key)


def _has_forward(module: nn.Module) -> bool:
    import torch.nn as nn

    return type(module).forward is not nn.Module.forward or own_method_forward(module) is not None


def _name_and_key(key: str) -> tuple[str | None, str | None]:
    """A child's attribute name as a node's `name` when a spec's names take it, else as its
    `key` (`block1-0`, `0`, a Python keyword such as `class`, which torch registers)."""
    try:
        return check_name(key), None
    except ValueError:
        return None, key


def sequential_items(
    module: nn.Module, problems: Problems, where: Any = None, owner: type | None = None
) -> list[Item]:
    """A Sequential's children in order, each reading the one before (`owner`: child_item)."""
    from .fused import in_sequence

    items: list[Item] = []
    taken = {key for key, _ in module.named_children()}
    owner = owner if _is_torch_class(module) else type(module)
    for i, (key, child) in enumerate(module.named_children()):
        name, odd = _name_and_key(key) if key != str(i) else (None, None)
        item = child_item(name, odd, child, problems, where, owner)
        items.extend(in_sequence(item, problems, taken))
    return items


def body_of(module: nn.Module, problems: Problems) -> Body:
    """The items of one module's forward (a Sequential's children, or a traced forward)."""
    if id(module) not in problems.bodies:
        if is_plain_sequential(module):
            problems.bodies[id(module)] = Body(sequential_items(module, problems), None)
        else:
            problems.bodies[id(module)] = _traced(module, problems)
    return problems.bodies[id(module)]


def _trace(module: nn.Module, problems: Problems) -> Any:
    from .defaulted import drop_defaulted
    from .devices import other_device
    from .entries import forwards_by_name
    from .finalstates import final_states
    from .gradmode import watching_autograd
    from .inputs import traced_args
    from .ranks import drop_decided, keep_children_tracer
    from .state import kept_tensors, scalar_constants
    from .turns import entries_in_turn

    with traced_as_twin(module):  # torch's transformer encoder: twins.py
        concrete = traced_args(module, problems)  # defaults, and lists given: inputs.py
    twin = traced_as_twin(module)
    tracer = keep_children_tracer(module, problems)  # ranks read in forward: ranks.py
    try:
        # what fx runs through unrecorded, and the model's tensors as they were
        with watching_autograd(module, problems), kept_tensors(module, problems), twin:
            graph = tracer.trace(module, concrete_args=concrete or None)
            graph.archspec_scalars = scalar_constants(module, graph)  # gone after the trace
            device = other_device(module, problems, graph, tracer, concrete)
        if device is not None:  # `if x.is_cuda:` taking other steps there (devices.py)
            problems.add(device)
            return None
        drop_defaulted(graph, module, concrete)
        drop_decided(tracer, graph)
        unbind_pieces(graph)  # timm's q, k, v: the batch stays in front (unbinds.py)
        final_states(module, graph)  # `_, (h, c) = self.lstm(x)`; `h[-1]` (finalstates.py)
        positional_calls(module, graph)  # `self.block(x=x)`: by position (inputs.py)
        forwards_by_name(module, graph)  # HRNet's `down.forward(y)`: one call (entries.py)
        entries_in_turn(module, graph)  # FPN's inner_blocks[-1] first, if it may be (turns.py)
        return graph
    except Exception as exc:
        problems.add(untraceable(type(module), exc, tracer))
        return None


def _traced(module: nn.Module, problems: Problems, fused: bool = False) -> Body:
    """The body of a traced forward; `fused`: the module's layer is one call (fused.py)."""
    from .fused import fused_trace
    from .modes import drops_in_eval, with_training

    trace = fused_trace if fused else _trace
    graph = trace(module, problems)
    if graph is not None:  # and the same in training, or stating both modes (modes.py)
        for diag in drops_in_eval(module, graph):
            problems.add(diag)
        graph, modes = with_training(module, graph, problems, trace)
    if graph is None:
        return Body([], None, traced=False)
    from .inplace import changed_through_data, in_place_aliases
    from .order import unread_tensors

    unread = [] if fused else unread_tensors(module, graph)  # the layer reads its own
    for diag in [*in_place_aliases(module, graph, problems), *unread]:
        problems.add(diag)
    reader = _GraphReader(module, problems, modes)
    reader.refused |= changed_through_data(module, graph, problems)  # reported as a change
    problems.readers[id(module)] = reader
    body = reader.read(graph)
    body.inputs = reader.inputs  # a block's tensors, when it takes several (inputs.py)
    return body


class _GraphReader:
    """Walks one traced graph in order, making an item per node."""

    def __init__(self, module: nn.Module, problems: Problems, modes: Modes) -> None:
        self.modes = modes  # the nodes one mode skips
        self.module = module
        self.problems = problems
        self.names: dict[Any, str] = {}  # fx node -> the item name it is
        self.items: list[Item] = []
        self.called: list[str] = []
        self.taken = {key for key, _ in module.named_children()}
        self.used: set[str] = set()
        self.pieces: dict[Any, list[str]] = {}  # a chunk's fx node -> its pieces' names
        self.joins: dict[Any, tuple[str, ...]] = {}  # a call given a list -> what it reads
        self.syms: dict[Any, Any] = {}  # size-reading nodes -> shapes.Sym
        self.asserted: set[Any] = set()
        self.tuples: dict[Any, str] = {}  # a module call returning (out, extra) -> its name
        self.graph: Any = None
        self.list_input: int | None = None
        self.register_order: list[str] | None = None
        self.module_lists: dict[str, tuple[Item, Any]] = {}  # ModuleList -> (sequence, last)
        self.fans: dict[str, Any] = {}  # ModuleList -> what its items all read (fans.py)
        self.partitions: dict[str, dict[Any, Any]] = {}  # MaxViT's (partitions.py)
        self.fused: str | None = None  # the module's own layer's item (fused.py)
        self.refused: set[Any] = set()  # nodes refused, and those reading them: reported once
        self.absorbed: set[Any] = set()  # nodes an item made already computes (lists.py)
        self.inputs: list[str] | None = None  # a forward's tensors, when several (inputs.py)
        self.passed_by: set[tuple[str, str]] = set()  # Identity entries passed (entries.py)

    def fail(self, code: str, message: str, node: Any, hint: str) -> None:
        span = span_of_node(node, type(self.module))
        self.problems.add(diagnostic(code, message, span, hint))
        self.failed = True
        self.refused.add(node)

    def _after_refused(self, node: Any) -> bool:
        """An item taken from a refused node's result (`out, _ = self.rnn(x)`, `out[:, -1]`):
        its problem would only follow from that one. Other steps are still read, so that
        what else no spec states is listed at once."""
        taken = node.target is operator.getitem or attribute_read(node.target, node.args)
        if taken and node.args and node.args[0] in self.refused:  # `[0]`, `.values`
            self.refused.add(node)
        return node in self.refused

    def read(self, graph: Any) -> Body:
        from .shapes import size_of

        self.graph, self.scalars = graph, getattr(graph, "archspec_scalars", {})
        for node in graph.nodes:
            sym = size_of(node, self.syms)
            if sym is not None:
                self.syms[node] = sym
        self.inputs = read_inputs(self, [n for n in graph.nodes if n.op == "placeholder"])
        output = None
        for node in graph.nodes:
            if self._after_refused(node) or node in self.absorbed:
                continue
            if node.op == "call_module":
                self._module_call(node)
            elif node.op in ("call_function", "call_method") and not is_packing(node):
                self._call(node)
            elif node.op == "get_attr" and node not in self.scalars:  # else: numbers
                self._tensor(node)
            elif node.op == "output":
                output = unpacked(node.args[0])
        from .lists import unfinished_lists
        from .order import holders, registration_order
        from .tensors import in_registration_order

        if not getattr(self, "failed", False):  # else: a list cut short by that failure
            unfinished_lists(self)

        self.items = registration_order(self.items, holders(self.module))
        self.items = in_registration_order(self.items, self.module)
        heads = dict.fromkeys((i.ref or "").split(".")[0] for i in self.items)  # `convs.0`
        self.called = [h for h in heads if h in self.called]
        if getattr(self, "failed", False):  # what follows would only repeat it
            return Body(self.items, None, self.list_input, self.register_order, self.fused)
        from .order import check_order

        check_order(self, holders(self.module))
        from .returns import returned

        out_name = returned(self, output, graph)
        return Body(self.items, out_name, self.list_input, self.register_order, self.fused)

    def _inputs(self, nodes: tuple[Any, ...]) -> tuple[str, ...] | None:
        names = []
        for n in nodes:
            if n not in self.names:
                return None
            names.append(self.names[n])
        return tuple(names)

    def _module_call(self, node: Any) -> None:
        target = str(node.target)
        cls = describe(type(self.module))
        from .attention import (
            ATTENTION_HINT,
            RECURRENT_HINT,
            attention_call,
            recurrent_call,
            weights_path,
        )
        from .defaulted import one_tensor_call

        if _taken_apart(self, node, target):
            return
        args = [a for a in node.args]
        if len(args) == 1 and isinstance(args[0], list | tuple) and not node.kwargs:
            from .lists import joined

            args = [joined(self, node, target, args[0])]
            if args[0] is None:
                return
        child = self.module.get_submodule(target)
        attention, hint = attention_call(self.module, target, node, args), ATTENTION_HINT
        if attention is False:  # `out, _ = self.lstm(x)`: the same pair, read the same way
            attention, hint = recurrent_call(self.module, target, node, args), RECURRENT_HINT
        several = False
        if why := twin_call(child, args, node.kwargs):  # torch's transformer (twins.py)
            self.fail("E904", f"{cls}.forward calls `self.{target}` {why}", node, TWIN_HINT)
            return
        if isinstance(attention, str):
            self.fail("E904", f"{cls}.forward calls `self.{target}` {attention}", node, hint)
            return
        if attention:  # `x, _ = self.attn(x, x, x)`, `self.attn(q, x, x)`, `self.lstm(x)`
            args, several = args[:attention], attention > 1
            self.tuples[node] = target
        elif several := tensors_call(child, args, node.kwargs):
            args = [value for _, value in several]  # in the order the child's forward takes
            self.problems.passed[id(child)] = given_args(child, several)
        elif layer_tensors_call(child, args, node.kwargs):
            several = True  # a layer of several inputs: `self.unpool(x, indices)`
        elif not one_tensor_call(child, args, node.kwargs):
            self.fail(
                "E904",
                f"{cls}.forward calls `self.{target}` "
                + other_than_one_tensor(child, args, node.kwargs),
                node,
                "import reads a child called with tensors for arguments of its forward (a "
                "block of several inputs, `inputs: [x, skip]`) and any other argument at its "
                "default; a value of its own or `*xs` is no call a spec states",
            )
            return
        if several:  # a block of several inputs (inputs.py)
            inputs = self._inputs(tuple(args))
        else:
            inputs = self._inputs((args[0],)) if args[0] not in self.joins else self.joins[args[0]]
        if inputs is None:
            return
        if target in self.called:
            self._repeat_call(node, target, child, inputs)
            return
        self.called.append(target)
        where = span_from_stack(node.stack_trace)
        item = child_item(*_name_and_key(target), child, self.problems, where, type(self.module))
        item.inputs = inputs
        if attention:
            weights_path(item, node)
        if item.kind == "unknown":  # refused where child_item read it
            self.refused.add(node)
            self.failed = True
        if item.kind == "fused":
            from .fused import splice_call

            splice_call(self, node, item)
            return
        added_call(self, node, item, target)  # `hi, lo = self.stage1(x, y)` too

    def emit(self, node: Any, kind: str, fields: dict[str, Any], sources: tuple[Any, ...]) -> bool:
        """A function node of `kind` reading `sources` (fx nodes); False if one is unknown."""
        inputs = self._inputs(sources)
        if inputs is None:  # one refused (reported there) is the reason: the node goes too
            return after_refused(self.refused, self.names, sources)
        name = self._fresh(kind)
        item = Item(name, kind, dict(fields), dict(fields), inputs, is_module=False)
        self._add(node, item, name)
        return True

    def _repeat_call(self, node: Any, target: str, child: nn.Module, inputs: tuple[str, ...]):
        """A child called again: an activation at defaults in forward, else one child reused."""
        from ..ops.merge import ACTIVATION_FNS
        from .order import stateful

        leaf = read_leaf(child)

        plain = leaf is not None and all(k == "inplace" for k in leaf.fields)
        if plain and leaf is not None and leaf.kind in ACTIVATION_FNS and not stateful(child):
            name, fn = self._fresh(node.name), {"fn": leaf.kind}
            item = Item(name, "activation", fn, dict(fn), inputs, is_module=False)
            self._add(node, item, name)
            return
        item = reuse_item(self.items, target, self._fresh(node.name), inputs)
        if item is not None:  # `{type: reuse, node: mlp}`: one module, called again
            self._add(node, item, item.ref or "")
            return
        if leaf is not None and not stateful(child):  # a stateless layer: another copy
            name = self._fresh(node.name)
            self._add(node, Item(name, leaf.kind, dict(leaf.fields), dict(leaf.full), inputs), name)
            return
        self.fail("E904", *second_call(self.module, target), node)

    def _tensor(self, node: Any) -> None:
        """`self.layer_scale`, `self.mean`: a tensor of the module itself (tensors.py)."""
        from .tensors import read_tensor

        read_tensor(self, node)

    def _fresh(self, base: str) -> str:
        base = base.lstrip("_")
        ok = NAME_RE.match(base) and base not in RESERVED_NAMES and not keyword.iskeyword(base)
        name = base if ok else "node"
        candidate, n = name, 1
        while candidate in self.taken or candidate in self.used:
            candidate = f"{name}_{n}"
            n += 1
        return candidate

    def _add(self, node: Any, item: Item, name: str) -> None:
        self.modes.mark(item, node)
        self.used.add(name)
        self.names[node] = name
        self.items.append(item)

    def _call(self, node: Any) -> None:
        from .appends import read_marker
        from .fans import fan_join
        from .fused import read_fused
        from .lists import concatenates_input, gathering_concat
        from .masks import read_masked
        from .reductions import read_reduction
        from .shapes import read_size_node, size_as_tensor, with_fixed_sizes
        from .slices import read_slice
        from .swaps import read_transpose

        readers = (concatenates_input, fan_join, gathering_concat, read_size_node, read_fused)
        more = (read_slice, read_transpose, read_marker, read_attention, read_reduction)
        more += (read_masked,)
        if any(r(self, node) for r in (*readers, *more)):
            return
        if node.target is operator.getitem and node.args[0] in self.pieces:
            pieces, index = self.pieces[node.args[0]], node.args[1]
            if isinstance(index, int) and -len(pieces) <= index < len(pieces):
                self.names[node] = pieces[index]
                return

        def wrap(v: Any) -> Any:  # `x * freq`: a number where it is read
            if hasattr(v, "op") and hasattr(v, "graph"):
                return self.scalars[v] if v in self.scalars else Ref(v)
            if isinstance(v, list | tuple):
                return type(v)(wrap(x) for x in v)
            return v

        args = tuple(wrap(a) for a in with_fixed_sizes(self, node.args))
        kwargs = {k: wrap(v) for k, v in node.kwargs.items()}
        call = read_call(node.op, node.target, args, kwargs)
        what = describe_target(node.op, node.target, node.args)
        if (why := key_read(node) or unread_call(call, what, self.module, node)) is not None:
            self.fail("E903", why[0], node, why[1])
            return
        assert call is not None  # unread_call refuses a call no reader takes
        inputs = self._inputs(call.inputs)
        if inputs is None and call.kind != "tensor_meta" and size_as_tensor(self, node, call):
            return
        if inputs is None or call.kind == "tensor_meta":  # `x.device`: read by what reads it
            return
        if call.kind == "identity_alias":
            self.names[node] = inputs[0]
            return
        if call.kind in ("chunk", "split") or call.kind.endswith("_with_indices"):
            from .pieces import read_pieces

            read_pieces(self, node, call, inputs)
            return
        name = self._fresh(node.name)
        item = Item(name, call.kind, dict(call.fields), dict(call.fields), inputs)
        item.is_module = False
        self._add(node, item, name)


def _taken_apart(reader: _GraphReader, node: Any, target: str) -> bool:
    """Whether the call of `target` was read as one of its parts, or refused as a reach
    inside a child: an entry of a container (`convs.0`), MaxViT's partition modules, a
    module called as a function, a quantizable model's FloatFunctional."""
    from .lists import interleaved_list, module_list_call
    from .modulecalls import function_module_call
    from .partitions import partition_call

    if "." in target and module_list_call(reader, node, target):
        return True
    if partition_call(reader, node, target) or function_module_call(reader, node, target):
        return True
    if "." in target and interleaved_list(reader, node, target):
        return True
    if identity_grandchild(reader, node, target):  # FloatFunctional's (quantizable.py)
        return True
    if "." in target:
        why, hint = inside_child(reader.module, target)
        reader.fail("E904", f"{describe(type(reader.module))}.forward {why}", node, hint)
        return True
    return False
