"""A module's own tensors read in its forward: `parameter` and `buffer` nodes.

ConvNeXt's `self.layer_scale` is a `parameter`; a normalising block's
`register_buffer("mean", ...)` a `buffer`, persistent or not. The values of a parameter or
a persistent buffer come with the model's weights (the state_dict), so the node states
their shape alone; a non-persistent buffer is in no state_dict, so the spec must make its
values itself: a constant, 0, 1, 2, ... (`fill: arange`), an identity (`fill: eye`) or ones
on and below the diagonal (`fill: tril`), read from the model's tensor; a persistent
buffer's values, which the weights carry, are read so too where a fill makes them, so that
a network built afresh holds them (minGPT's causal mask).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lazymethods import dataclass

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class Refusal:
    """Why a tensor read in forward has no node: E903 or E904 with its message and hint."""

    code: str
    message: str
    hint: str


_OTHER_HINT = (
    "a spec's `parameter` and `buffer` nodes are tensors of the module that reads them; read "
    "a child's tensors through the child's own forward"
)


def own_tensor(module: Any, target: str, taken: bool) -> tuple[str, dict[str, Any]] | Refusal:
    """The (kind, fields) of the node for `self.<target>` read in `module`'s forward;
    `taken`: a node of the forward already has the tensor's name."""
    if "." in target:
        owner = target.rsplit(".", 1)[0]
        return Refusal(
            "E903",
            f"forward reads the tensor `self.{target}`, which belongs to `self.{owner}`, not "
            "to this module itself",
            _OTHER_HINT,
        )
    if target in module._parameters and module._parameters[target] is not None:
        tensor, kind = module._parameters[target], "parameter"
    elif target in module._buffers and module._buffers[target] is not None:
        tensor, kind = module._buffers[target], "buffer"
    elif not hasattr(module, target):  # torch.fx's own attribute, gone after the trace
        return Refusal(
            "E903",
            "forward makes a tensor of its own (`torch.tensor(...)`, `torch.ones(...)`), "
            f"which torch.fx holds as a constant (`{target}`) whose values no spec states",
            "make it in __init__ and register it (`self.register_buffer(name, tensor)`): a "
            "spec's `buffer` node reads it; a tensor made in forward imports as a buffer "
            "when its values are a constant, 0, 1, 2, ... or an identity (`torch.eye(3)`)",
        )
    else:
        return Refusal(
            "E903",
            f"forward reads the tensor `self.{target}`, which is neither a parameter nor a "
            "buffer of this module (a plain tensor attribute is in no state_dict)",
            "register it: `nn.Parameter(...)`, or `self.register_buffer(name, tensor)`",
        )
    if taken:
        return Refusal(
            "E904",
            f"forward reads the {kind} `self.{target}`, whose name a step before it has",
            "rename the tensor: a spec's node is named after it, so its state_dict key stays",
        )
    if tensor.dim() == 0 and kind != "parameter":  # a 0-d parameter is `shape: []`
        return Refusal(
            "E904",
            f"forward reads the {kind} `self.{target}`, a 0-d tensor (one number): a spec's "
            f"{kind} has at least one size",
            "hold it with shape (1,) (`torch.tensor([value])`), which broadcasts the same",
        )
    fields: dict[str, Any] = {"shape": [int(d) for d in tensor.shape]}
    if kind == "parameter":
        return kind, fields
    return _buffer_fields(module, target, tensor, fields)


#: How a boolean mask keeps its meaning as a float32 buffer: `.float()` alone would not, as
#: a float `attn_mask` is added to the scores where a bool one selects them.
_BOOL_HINT = (
    "hold a boolean mask as float32 and compare where it is read, `x.masked_fill(self.mask "
    "== 0, float('-inf'))`; for `F.scaled_dot_product_attention`, which adds a float "
    "`attn_mask` to the scores, hold 0 where attended and -inf elsewhere, or pass "
    "`is_causal=True` for a causal mask (`.float()` alone changes what the mask does)"
)


def _buffer_fields(
    module: Any, target: str, tensor: torch.Tensor, fields: dict[str, Any]
) -> tuple[str, dict[str, Any]] | Refusal:
    import torch

    if tensor.dtype not in (torch.float32, torch.int64):
        return Refusal(
            "E904",
            f"forward reads the buffer `self.{target}` of dtype "
            f"{str(tensor.dtype).removeprefix('torch.')}: a spec's buffer is float32 or int64",
            _BOOL_HINT
            if tensor.dtype == torch.bool
            else "register the buffer as float32 or int64 (`.float()`, `.long()`)",
        )
    if tensor.dtype == torch.int64:
        fields["dtype"] = "int64"
    if target not in module._non_persistent_buffers_set:
        # its values come with the weights; those a fill makes are the spec's own too, so a
        # network built afresh holds them (minGPT's causal mask, `fill: tril`)
        return "buffer", fields | (_fill(tensor) or {})
    fields["persistent"] = False
    fill = _fill(tensor)
    if fill is None:
        known = "holds no values (the meta device)" if tensor.is_meta else "holds other values"
        return Refusal(
            "E904",
            f"forward reads the non-persistent buffer `self.{target}`, which no state_dict "
            f"holds and which {known}: a spec makes such a buffer's values itself, a constant, "
            "0, 1, 2, ..., an identity or a sinusoid position table only",
            "register it as persistent (the weights then carry its values); or import the "
            "model with its values (archspec.from_module on a CPU model) if they are a "
            "constant, 0, 1, 2, ... or an identity",
        )
    fields.update(fill)
    return "buffer", fields


def _fill(tensor: torch.Tensor) -> dict[str, Any] | None:
    """The `fill` (and `value`) that make the tensor's values, or None."""
    import torch

    if tensor.is_meta or tensor.numel() == 0:
        return None
    flat = tensor.detach().reshape(-1)
    if bool((flat == flat[0]).all()):
        value = flat[0].item()
        return {} if value == 0 else {"value": value}
    steps = torch.arange(flat.numel(), dtype=flat.dtype, device=flat.device)
    if bool((flat == steps).all()):
        return {"fill": "arange"}
    if tensor.dim() >= 2:
        eye = torch.eye(*tensor.shape[-2:], dtype=tensor.dtype, device=tensor.device)
        if bool((tensor == eye).all()):
            return {"fill": "eye"}
        if bool((tensor == torch.ones_like(eye).tril()).all()):
            return {"fill": "tril"}
    return _sinusoid(tensor)


def _sinusoid(tensor: torch.Tensor) -> dict[str, Any] | None:
    """`fill: sinusoid` or `sinusoid_halves` when the tensor is that position table, bit for
    bit (the tutorial's `pe`, Whisper's `positional_embedding`), else None."""
    import torch

    from ..ops import torch_support
    from ..ops.base import ShapeFailure
    from ..ops.parameter import SINUSOIDS, check_sinusoid

    if tensor.dtype != torch.float32 or tensor.dim() < 2:
        return None
    dims = list(tensor.shape)
    for fill, function in SINUSOIDS.items():
        try:
            check_sinusoid({"fill": fill, "shape": dims, "dtype": "float32"})
        except ShapeFailure:
            continue
        table = getattr(torch_support, function)(tensor.numel() // dims[-1], dims[-1])
        if torch.equal(tensor.detach().cpu(), table.reshape(dims)):
            return {"fill": fill}
    return None


def in_registration_order(items: list[Any], module: Any) -> list[Any]:
    """`items` with the module's own tensor nodes first when forward reads its parameters
    (or its buffers) in another order than they are registered: they read nothing, so they
    may stand anywhere, and a spec registers them in the order it lists them."""
    tensors = [i for i in items if i.kind in ("parameter", "buffer") and i.name is not None]
    for kind, registered in (("parameter", module._parameters), ("buffer", module._buffers)):
        read = [i.name for i in tensors if i.kind == kind]
        if read != [name for name in registered if name in read]:
            break
    else:
        return items
    order = {name: i for i, name in enumerate([*module._parameters, *module._buffers])}
    ranked = sorted(tensors, key=lambda i: order.get(i.name, -1))
    return [*ranked, *(i for i in items if all(i is not t for t in tensors))]


def _is_child(module: Any, target: str) -> bool:
    """Whether `self.<target>` is a module of `module` (read as a value, not called)."""
    try:
        module.get_submodule(target)
    except AttributeError:
        return False
    return True


def _child_given(target: str) -> tuple[str, str]:
    """The message and hint of a child given to a call as a value."""
    return (
        f"forward gives the child `self.{target}` itself to a call, not its output: a spec's "
        "calls read tensors, and a module runs where it is called",
        f"call it where it runs, `self.{target}(...)`, and give its output on (the Annotated "
        "Transformer's `self.sublayer[1](x, self.feed_forward)` is `x + "
        "self.dropout(self.feed_forward(self.norm(x)))` written out)",
    )


def read_tensor(reader: Any, node: Any) -> None:
    """The node of the get_attr `node` of `reader` (trace._GraphReader): a tensor of the
    module itself, or one its forward made of no input that torch.fx holds as a constant,
    whose values a non-persistent `buffer` makes (PointNet's identity, `torch.eye(3)`, or
    `torch.from_numpy(np.array([1, 0, 0, 0, 1, 0, 0, 0, 1])).view(1, 9)`: an `eye` of
    (3, 3), then a `reshape` to the constant's shape); else its refusal."""
    from .trace import Item

    target = str(node.target)
    if _is_child(reader.module, target):  # `self.sublayer[1](x, self.feed_forward)`
        message, hint = _child_given(target)
        reader.fail("E904", message, next(iter(node.users), node), hint)  # the call's line
        return
    reading = own_tensor(reader.module, target, target in reader.used)
    made = reader.problems.__dict__.get("made", {}).get(id(reader.module), {}).get(target)
    found = made_fields(made) if isinstance(reading, Refusal) and made is not None else None
    if isinstance(reading, Refusal) and found is None:
        reader.fail(reading.code, reading.message, node, reading.hint)
        return
    kind, fields = ("buffer", found[0]) if found is not None else reading
    name = reader._fresh(target)
    reader._add(node, Item(name, kind, dict(fields), dict(fields), is_module=False), name)
    if found is not None and found[1] is not None:
        shape = {"shape": found[1]}
        out = reader._fresh(f"{name}_reshape")
        reader._add(node, Item(out, "reshape", shape, dict(shape), (name,), is_module=False), out)


def made_fields(tensor: torch.Tensor) -> tuple[dict[str, Any], list[int] | None] | None:
    """The fields of a non-persistent `buffer` that makes the values of `tensor`, made in
    forward, and the shape to reshape it to (None: its own), or None when no fill makes
    them: a constant, 0, 1, 2, ... or an identity, also one flattened (k * k values)."""
    import math

    import torch

    if tensor.dtype not in (torch.float32, torch.int64) or tensor.dim() == 0:
        return None
    fields: dict[str, Any] = {"shape": [int(d) for d in tensor.shape], "persistent": False}
    if tensor.dtype == torch.int64:
        fields["dtype"] = "int64"
    fill = _fill(tensor)
    if fill is not None:
        return fields | fill, None
    k = math.isqrt(tensor.numel())
    eye = torch.eye(k, dtype=tensor.dtype, device=tensor.device)
    if k > 1 and k * k == tensor.numel() and bool((tensor.reshape(k, k) == eye).all()):
        return fields | {"shape": [k, k], "fill": "eye"}, fields["shape"]
    return None
