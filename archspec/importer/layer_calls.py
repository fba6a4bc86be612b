"""Forward calls read as the module kinds that compute them: `x.unflatten(1, (2, -1))` as
`unflatten`, `F.glu(x, 1)` as `glu`, `torch.cat` and `torch.stack` as joins, `x.squeeze(-1)`
as `squeeze`, `F.pad(x, (1, 1), mode="reflect")` as a padding kind (functions.py's table maps
each target here).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .calls import Call, Ref


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def joining(kind: str) -> Callable[[tuple[Any, ...], dict[str, Any]], Call | None]:
    """`torch.cat(tensors, dim)` (concat) and `torch.stack(tensors, dim)` (stack). Of one
    tensor (a dense block's first `torch.cat(features, 1)` of `features = [x]`) a concat is
    that tensor and a stack its `unsqueeze(dim)`: a join reads several inputs."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        tensors = _arg(args, kwargs, 0, "tensors", None)
        dim = _arg(args, kwargs, 1, "dim", 0)
        if not isinstance(tensors, list | tuple) or not tensors or type(dim) is not int:
            return None
        if set(kwargs) - {"tensors", "dim"} or not all(isinstance(t, Ref) for t in tensors):
            return None
        refs = tuple(t.node for t in tensors)
        if len(refs) == 1:
            if kind == "stack":
                return Call("unsqueeze", {"dim": dim}, refs)
            return Call("identity_alias", {}, refs)
        return Call(kind, {"dim": dim}, refs)

    return read


def unflatten(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.unflatten(1, (2, -1))`, `torch.unflatten(x, 1, (2, -1))`: sizes written as numbers."""
    x = _arg(args, kwargs, 0, "input", None)
    dim = _arg(args, kwargs, 1, "dim", None)
    sizes = _arg(args, kwargs, 2, "sizes", None)
    numbers = isinstance(sizes, list | tuple) and all(type(s) is int for s in sizes)
    if not isinstance(x, Ref) or type(dim) is not int or not numbers:
        return None
    return Call("unflatten", {"dim": dim, "unflattened_size": list(sizes)}, (x.node,))


def glu(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`F.glu(x, dim)`: the glu kind, which halves that dim."""
    x = _arg(args, kwargs, 0, "input", None)
    dim = _arg(args, kwargs, 1, "dim", -1)
    if not isinstance(x, Ref) or type(dim) is not int or set(kwargs) - {"input", "dim"}:
        return None
    return Call("glu", {"dim": dim}, (x.node,))


def squeeze(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`y.squeeze(-1)` (ECA), `torch.squeeze(x, (2, 3))`: a `squeeze` of the dims given; with
    none given, which dims torch drops depends on the sizes, and no kind computes it."""
    x = _arg(args, kwargs, 0, "input", None)
    dim = _arg(args, kwargs, 1, "dim", None)
    if not isinstance(x, Ref) or len(args) > 2 or set(kwargs) - {"input", "dim"}:
        return None
    dims = list(dim) if isinstance(dim, list | tuple) else dim
    if dims == [] or not all(type(d) is int for d in (dims if isinstance(dims, list) else [dims])):
        return None
    return Call("squeeze", {"dim": dims}, (x.node,))


def unsqueeze(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.unsqueeze(1)` (GCNet), `torch.unsqueeze(x, -1)`: an `unsqueeze` at that dim."""
    x = _arg(args, kwargs, 0, "input", None)
    dim = _arg(args, kwargs, 1, "dim", None)
    if not isinstance(x, Ref) or type(dim) is not int or len(args) > 2:
        return None
    if set(kwargs) - {"input", "dim"}:
        return None
    return Call("unsqueeze", {"dim": dim}, (x.node,))


def flip(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.flip(dims=(1,))` (N-BEATS), `x.flip(-1)`, `torch.flip(x, [2, 3])`: a `flip` of
    the dims given."""
    x = _arg(args, kwargs, 0, "input", None)
    if not isinstance(x, Ref) or set(kwargs) - {"input", "dims"}:
        return None
    dims = list(args[1:]) if len(args) > 2 else _arg(args, kwargs, 1, "dims", None)
    dims = list(dims) if isinstance(dims, list | tuple) else [dims]
    if not dims or not all(type(d) is int for d in dims):
        return None
    return Call("flip", {"dims": dims}, (x.node,))


def tile(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.repeat(1, 2, 1)`, `x.repeat([1, 2, 1])`: a `tile` of the counts written as numbers
    (torch has no function `torch.repeat`; `torch.tile` pads its counts otherwise)."""
    x = args[0] if args else None
    counts = list(args[1:]) if len(args) > 2 else _arg(args, kwargs, 1, "repeats", None)
    counts = list(counts) if isinstance(counts, list | tuple) else [counts]
    if not isinstance(x, Ref) or set(kwargs) - {"repeats"} or not counts:
        return None
    if not all(type(c) is int and c >= 1 for c in counts):
        return None
    return Call("tile", {"repeats": counts}, (x.node,))


#: The readers of methods alone (`x.repeat`), by name.
METHOD_CALLS = {"repeat": tile}


#: The readers of `torch.squeeze` and `x.squeeze` (unsqueeze, flip), by name.
RANK_CALLS = {"squeeze": squeeze, "unsqueeze": unsqueeze, "flip": flip}


#: F.pad's mode -> the family of padding kinds computing it (circular has none)
_PAD_KINDS = {
    "constant": "constant_pad",
    "reflect": "reflection_pad",
    "replicate": "replication_pad",
}


def pad(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`F.pad(x, pad, mode, value)` with 2, 4 or 6 pads of 0 or more: the padding kind of its
    mode over that many dims (a constant 0 is zero padding); negative pads crop, and no kind
    does (None: the importer reports the call)."""
    x = _arg(args, kwargs, 0, "input", None)
    pads = _arg(args, kwargs, 1, "pad", None)
    mode = _arg(args, kwargs, 2, "mode", "constant")
    value = _arg(args, kwargs, 3, "value", None)
    numbers = isinstance(pads, list | tuple) and all(type(p) is int and p >= 0 for p in pads)
    if not isinstance(x, Ref) or not numbers or len(pads) not in (2, 4, 6):
        return None
    if mode not in _PAD_KINDS or set(kwargs) - {"input", "pad", "mode", "value"}:
        return None
    kind = f"{_PAD_KINDS[mode]}{len(pads) // 2}d"
    same = all(p == pads[0] for p in pads)  # `padding: 1` for (1, 1, 1, 1), as modules read
    fields: dict[str, Any] = {"padding": pads[0] if same else list(pads)}
    if mode == "constant":
        if value is not None and (type(value) not in (int, float) or not math.isfinite(value)):
            return None
        if value:
            fields["value"] = float(value)
        else:
            kind = f"zero_pad{len(pads) // 2}d"
    elif value is not None:
        return None
    return Call(kind, fields, (x.node,))
