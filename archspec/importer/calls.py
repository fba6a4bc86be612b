"""What the importer's call readers take and give: `Ref` (a traced value among a call's
arguments), `Call` (the layer kind a call is) and `Reader`; and `attribute_read`, fx's record
of an attribute of a traced value (`y.mT`, `x.device`). Apart from functions.py so that the
readers kept elsewhere (casts.py) import them as functions.py does."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from ..lazymethods import dataclass


@dataclass(frozen=True)
class Ref:
    """A traced value (an fx node) standing in a call's arguments."""

    node: Any


@dataclass(frozen=True)
class Call:
    kind: str
    fields: dict[str, Any]
    inputs: tuple[Any, ...]  # fx nodes


Reader = Callable[[tuple[Any, ...], dict[str, Any]], Call | None]


def attribute_read(target: Any, args: tuple[Any, ...]) -> str | None:
    """The attribute an fx `call_function` of `target` with `args` reads (`getattr(y, "mT")`
    for `y.mT`), or None when it is no attribute read."""
    if target is getattr and len(args) == 2 and isinstance(args[1], str):
        return args[1]
    return None


def is_node(value: Any) -> bool:
    """Whether `value` is an fx node (a traced value), not a constant among a call's args."""
    return hasattr(value, "op") and hasattr(value, "graph")


def listed(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The sizes or dims a call lists after its tensor, written out (`x.view(b, c, -1)`,
    `x.permute(0, 2, 1)`) or as one list or tuple (`x.view((b, c, -1))`)."""
    if len(args) == 2 and isinstance(args[1], list | tuple):
        return tuple(args[1])
    return tuple(args[1:])


def is_packing(node: Any) -> bool:
    """A namedtuple made of traced values (`GoogLeNetOutputs(x, aux2, aux1)`)."""
    target = getattr(node, "target", None)
    return (
        getattr(node, "op", None) == "call_function"
        and isinstance(target, type)
        and issubclass(target, tuple)
    )


def unpacked(value: Any) -> Any:
    if is_packing(value):
        return (*value.args, *value.kwargs.values())
    return value


def after_refused(refused: set[Any], names: dict[Any, str], sources: tuple[Any, ...]) -> bool:
    """Whether the `sources` a step reads that no name stands for are so for reading a node
    refused already, at any distance (`x.view(x.size(0), -1)` after a refused pool, or after
    a mean of it): the step is then left out unreported, not reported as a call no kind
    computes."""
    todo, seen = [s for s in sources if s not in names], set()
    while todo:
        node = todo.pop()
        if node in refused:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(n for n in getattr(node, "all_input_nodes", ()) if n not in names)
    return False


def unstated(call: Call) -> str | None:
    """What of a call's reading its kind's spec refuses, as words (`output_size=[1, None]`),
    or None when a spec states it: `F.adaptive_max_pool2d(x, (1, None))` keeps a size that no
    spec writes, and the spec written would not compile. Kinds of the importer's own
    (`identity_alias`), readings past the spec's fields and fields a reader fills later are
    left to their readers."""
    from pydantic import ValidationError

    from ..ops.base import META_FIELDS, REGISTRY

    op = REGISTRY.get(call.kind)
    if op is None or not set(call.fields) <= set(op.spec.model_fields) - set(META_FIELDS):
        return None
    try:
        op.spec.model_validate({**call.fields, "type": call.kind})
    except ValidationError as exc:  # a field the reader leaves to later steps may be missing
        wrong = [str(e["loc"][0]) for e in exc.errors() if e["loc"] and e["type"] != "missing"]
        field = next((f for f in wrong if f in call.fields), None)
        return None if field is None else f"{field}={call.fields[field]!r}"
    return None


def key_read(node: Any) -> tuple[str, str] | None:
    """The message and hint of E903 for `out["key"]`, a read of a dict by its key (what
    torchvision's segmentation backbones return), which no layer kind computes: said as a
    dict read, not as the operator `getitem`."""
    if node.target is not operator.getitem or not isinstance(node.args[1], str):
        return None
    source = node.args[0]
    whose = (
        f"what `self.{source.target}` returns"
        if getattr(source, "op", None) == "call_module"
        else f"`{getattr(source, 'name', source)}`"
    )
    return (
        f"forward reads the key {node.args[1]!r} of {whose}, a dict: a spec's blocks pass "
        "tensors, not dicts",
        "return the tensor (or a tuple of tensors) from that forward and read it as such",
    )


#: torch's casts to a dtype the method names
_CASTS = {"float": "float32", "half": "float16", "double": "float64", "bfloat16": "bfloat16"}


def _written_cast(node: Any) -> str | None:
    """The dtype `node` casts to when it names one (`x.float()`, `x.to(torch.float32)`,
    `x.type(torch.half)`), else None (a cast to another tensor's dtype is read as that
    tensor: casts.py)."""
    import torch

    if node is None or node.op != "call_method":
        return None
    if node.target in _CASTS and len(node.args) == 1 and not node.kwargs:
        return _CASTS[node.target]
    if node.target not in ("to", "type"):
        return None
    given = [*node.args[1:], *node.kwargs.values()]
    dtype = next((v for v in given if isinstance(v, torch.dtype)), None)
    return None if dtype is None else str(dtype).removeprefix("torch.")


def _einsum_equation(node: Any) -> str | None:
    """The equation of `node` when it is a `torch.einsum` call written with one, else None."""
    import torch

    if node is None or node.op != "call_function" or node.target is not torch.einsum:
        return None
    equation = node.args[0] if node.args else None
    return equation if isinstance(equation, str) else None


#: torch's functions of a layer's weight, by name: a computed weight is said as such
_WEIGHTED = frozenset(
    {"linear"} | {f"conv{n}d" for n in (1, 2, 3)} | {f"conv_transpose{n}d" for n in (1, 2, 3)}
)


def _computed_weight(node: Any) -> str | None:
    """The name of the node `node` takes as its weight when `node` is a layer's function
    (`F.conv2d`, `F.linear`) given a weight computed in forward rather than a module's
    tensor read as it is; else None."""
    if node is None or node.op != "call_function":
        return None
    if getattr(node.target, "__name__", None) not in _WEIGHTED:
        return None
    weight = node.kwargs.get("weight", node.args[1] if len(node.args) > 1 else None)
    if not is_node(weight) or weight.op in ("get_attr", "placeholder"):
        return None
    return weight.name


def _torch_layer(function: str) -> str:
    """The torch module that holds the tensors `F.<function>` takes: `conv_transpose2d` ->
    nn.ConvTranspose2d, `linear` -> nn.Linear."""
    return "nn." + "".join(w[:1].upper() + w[1:] for w in function.split("_"))


def _own_weight(node: Any, module: Any) -> tuple[str, list[str], list[str]] | None:
    """(function, tensors given, tensors held) when `node` is a layer's function (`F.conv2d`,
    `F.linear`) given tensors of the module itself (`self.w1`, `self.b1`) that no layer
    reading of the module took (a layer imports from a module holding its tensors alone,
    named as the layer's); else None."""
    if node is None or node.op != "call_function":
        return None
    function = getattr(node.target, "__name__", None)
    if function not in _WEIGHTED:
        return None
    given = [
        node.kwargs.get(k, node.args[i] if len(node.args) > i else None)
        for i, k in ((1, "weight"), (2, "bias"))
    ]
    names = [g.target for g in given if is_node(g) and g.op == "get_attr"]
    if not names or names[0] != getattr(given[0], "target", None) or "." in "".join(names):
        return None
    named = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
    return function, names, [n for n, _ in named]


def unread_call(
    call: Call | None, what: str, module: Any, node: Any = None
) -> tuple[str, str] | None:
    """The message and hint of E903 for a call no reader takes (`call` None) or read with a
    value its kind's spec refuses; None when the reading stands. `what` names the call,
    `node` is it (a cast to a dtype written out is said as such)."""
    from .functions import UNKNOWN_CALL_HINT
    from .fused import own_tensors_hint

    if call is None and (dtype := _written_cast(node)) is not None:
        return (
            f"{what} casts to {dtype}, a dtype written out: a spec states no dtype (its "
            "module computes in the dtype it is moved to)",
            "remove the cast (a float32 model computes in float32 without it), or cast to "
            "the input's dtype (`.to(x.dtype)`, `.type_as(x)`), which a spec reads as the "
            "tensor itself; a step kept in float32 under half precision (Whisper's "
            "`.float().softmax(-1)`) is none a spec states",
        )
    if call is None and (equation := _einsum_equation(node)) is not None:
        return (
            f"`torch.einsum({equation!r}, ...)` is no batched matrix product, the one einsum "
            "a spec states",
            "an einsum of two tensors with the same batch labels in front and a matrix "
            "product's last two (`bhid,bhjd->bhij`, `bhij,bhjd->bhid`) is a `matmul`; write "
            "another as the steps it is: a product that broadcasts (`y * "
            "self.gate.view(1, -1, 1, 1)` for `nchw,c->nchw`), a sum over dims (`x.sum((2, "
            "3))` for `nchw->nc`), a permute (`x.permute(0, 2, 1)`), a `@`",
        )
    if call is None and (weight := _computed_weight(node)) is not None:
        return (
            f"no layer kind computes {what} given a weight computed in forward (`{weight}`): "
            "a spec's layer holds its weight as a tensor of its own",
            "give the function the module's own tensor as it is (`F.conv2d(x, self.weight, "
            "self.bias, ...)`, which imports as the layer), or hold the layer as a module; a "
            "weight mixed per sample (CondConv's experts) or rescaled in forward is no layer "
            "a spec states",
        )
    if call is None and (own := _own_weight(node, module)) is not None:
        function, names, held = own
        tensors = ", ".join(f"`{n}`" for n in names)
        return (
            f"{what} runs on the module's own tensor{'s' * (len(names) > 1)} {tensors}, which "
            f"no layer of a spec holds: this module holds {', '.join(held)}, and it is one layer "
            "only when it holds that layer's tensors alone, named as the layer's",
            f"hold each layer as a module of its own (an {_torch_layer(function)}, or a class "
            "whose forward gives its `weight` and `bias` to the function), so its state_dict "
            "keys are a spec layer's (`<name>.weight`, `<name>.bias`)",
        )
    if call is None:
        return f"no layer kind computes {what} as called here", UNKNOWN_CALL_HINT + (
            own_tensors_hint(module)
        )
    words = unstated(call)
    if words is None:
        return None
    hint = f"the kind `{call.kind}` computes this call for values it takes: pass one"
    return f"no layer kind computes {what} with {words}", hint
