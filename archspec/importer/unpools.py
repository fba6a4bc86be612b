"""SegNet's and ENet's pooling: `out, idx = self.pool(x)` of an nn.MaxPool2d built with
`return_indices=True` (or `F.max_pool2d(x, 2, return_indices=True)`) is one
`maxpool2d_with_indices` item whose two outputs the graph reader gives to the `getitem`s
that unpack them, as a chunk's pieces (pieces.py); the pool holds no state, so the spec has
no module for it. `self.unpool(x, idx)` of an nn.MaxUnpool2d is a layer kind's module, read
as any leaf is; `F.max_unpool2d(y, idx, 2)` computes the same. Given `output_size` read off
a tensor (`self.unpool(y, idx, output_size=x.size())`, `F.max_unpool2d(..., output_size=
x.shape[-2:])`), either is a `maxunpool2d_as` reading that tensor third."""

from __future__ import annotations

import operator
from typing import Any

from .calls import Call, Reader, Ref

_FIELDS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
_DEFAULTS = {"padding": 0, "dilation": 1, "ceil_mode": False}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def indices_pool_fields(given: dict[str, Any]) -> dict[str, Any]:
    """A with_indices pool's fields from its arguments, those at their defaults left out."""
    fields = {k: _plain(v) for k, v in given.items() if k in _FIELDS}
    for key, default in _DEFAULTS.items():
        value = fields.get(key, default)
        if all(v == default for v in (value if isinstance(value, list) else [value])):
            fields.pop(key, None)
    if fields.get("stride") in (None, [], fields["kernel_size"]):
        fields.pop("stride", None)
    return fields


def indices_pool_call(reader: Any, node: Any, target: str) -> bool:
    """`self.pool(x)` of a max pool built with `return_indices=True`, read; False: not one."""
    from torch import nn

    child = getattr(reader.module, target, None) if "." not in target else None
    pools = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
    if type(child) not in pools or not child.return_indices:  # type: ignore[union-attr]
        return False
    if node.kwargs or len(node.args) != 1:
        return False
    nd = pools.index(type(child)) + 1
    fields = indices_pool_fields({k: getattr(child, k) for k in _FIELDS})
    add_indices_pool(reader, node, f"maxpool{nd}d_with_indices", fields, target)
    return True


def add_indices_pool(
    reader: Any, node: Any, kind: str, fields: dict[str, Any], base: str | None = None
) -> None:
    """The item of a with_indices pool node reading `node.args[0]`, its two outputs named
    for the reader's `getitem`s (`out, idx = ...`); E903 when it is read otherwise."""
    from .trace import Item

    inputs = reader._inputs((node.args[0],))
    if inputs is None:
        return
    taken = [u.args[1] if u.target is operator.getitem else None for u in node.users]
    if not all(type(i) is int and -2 <= i < 2 for i in taken):
        reader.fail(
            "E903",
            f"the values and indices of a max pool with `return_indices=True` (`{node.name}`) "
            "are read other than by unpacking them",
            node,
            "unpack them (`out, idx = self.pool(x)`): a spec's maxpool2d_with_indices names "
            "its two outputs, `names: [out, indices]`",
        )
        return
    # the pool's own key (no module of the spec takes it), else a fresh name
    own = base in reader.taken and base not in reader.used
    name = base if own else reader._fresh(base or "pool")
    names = [name, reader._fresh(f"{name}_indices")]
    reader.used.update(names)
    item_fields = {**fields, "names": names}
    item = Item(None, kind, dict(item_fields), dict(item_fields), inputs, is_module=False)
    reader.modes.mark(item, node)
    reader.items.append(item)
    reader.pieces[node] = names


def _indices_pool(nd: int) -> Reader:
    """`F.max_pool2d(x, 2, return_indices=True)`, which fx records as
    `F.max_pool2d_with_indices`: the item's fields (its outputs named by the graph reader)."""
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        x = args[0] if args else None
        given = dict(zip(names, args[1:], strict=False)) | kwargs
        if not isinstance(x, Ref) or "kernel_size" not in given or set(given) - set(names):
            return None
        given.pop("return_indices", None)  # the function returns them whatever it says
        if any(isinstance(v, Ref) for v in given.values()):
            return None
        return Call(f"maxpool{nd}d_with_indices", indices_pool_fields(given), (x.node,))

    return read


def _unpool(nd: int) -> Reader:
    """`F.max_unpool2d(y, idx, 2)` at torch's default output size."""
    names = ("kernel_size", "stride", "padding", "output_size")

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        x, idx = (args + (None, None))[:2]
        given = dict(zip(names, args[2:], strict=False)) | kwargs
        if not isinstance(x, Ref) or not isinstance(idx, Ref) or set(given) - set(names):
            return None
        if given.pop("output_size", None) is not None or "kernel_size" not in given:
            return None
        fields = {k: _plain(v) for k, v in given.items()}
        if any(isinstance(v, Ref) for v in fields.values()):
            return None
        if fields.get("stride") in (None, fields["kernel_size"]):
            fields.pop("stride", None)
        if fields.get("padding") in (0, [0] * nd):
            fields.pop("padding", None)
        return Call(f"maxunpool{nd}d", fields, (x.node, idx.node))

    return read


def functions() -> dict[Any, Reader]:
    """The readers of F's max pools with indices and max unpools, by function."""
    import torch.nn.functional as F

    table: dict[Any, Reader] = {}
    for nd in (1, 2, 3):
        table[getattr(F, f"max_pool{nd}d_with_indices")] = _indices_pool(nd)
        table[getattr(F, f"max_unpool{nd}d")] = _unpool(nd)
    return table


def _like(reader: Any, size: Any, nd: int) -> Any:
    """The fx node whose last `nd` sizes `size` gives, as torch's unpool reads an output
    size (`x.size()` of a rank nd + 2 tensor, `x.shape[-2:]`, `x.shape[2:]`, or the sizes
    one by one); None otherwise."""
    from .shapes import _spatial_size
    from .slices import _node_shapes

    sym = reader.syms.get(size) if hasattr(size, "op") else None
    if sym is None or sym.what == "spatial":
        sym = _spatial_size(reader, size)
    if sym is None or sym.what not in ("shape", "spatial"):
        return None
    shape = _node_shapes(reader).get(sym.src)
    if shape is None:
        return None
    rank = len(shape)
    if sym.what == "shape" or sym.index is None:  # whole, or the sizes one by one
        count = rank if sym.what == "shape" else len(size)
    else:
        count = rank - sym.index % rank if -rank <= sym.index < rank else 0
    return sym.src if count == nd or (count == rank == nd + 2) else None


def _one(value: Any) -> Any:
    """A size of every dim as one number (nn.MaxUnpool2d(2) holds (2, 2)), else a list."""
    value = _plain(value)
    return (
        value[0]
        if isinstance(value, list) and value and value.count(value[0]) == len(value)
        else value
    )


def _unpool_as(
    reader: Any, node: Any, nd: int, given: dict[str, Any], base: str | None = None
) -> bool:
    """The item of an unpool whose `output_size` (in `given`, with its other arguments) is
    read off a tensor, named `base` (a module's key) when free; False when it is not one."""
    from .trace import Item

    like = _like(reader, given.pop("output_size", None), nd)
    if like is None or set(given) - {"kernel_size", "stride", "padding"}:
        return False
    fields = {k: _one(v) for k, v in given.items()}
    if any(hasattr(v, "op") for v in fields.values()):
        return False
    if fields.get("stride") in (None, fields["kernel_size"]):
        fields.pop("stride", None)
    if fields.get("padding") == 0:
        fields.pop("padding", None)
    inputs = reader._inputs((node.args[0], node.args[1], like))
    if inputs is None:  # what it reads was refused, and said so
        return True
    own = base in reader.taken and base not in reader.used
    name = base if own else reader._fresh(base or "unpool")
    item = Item(name, f"maxunpool{nd}d_as", dict(fields), dict(fields), inputs, is_module=False)
    reader._add(node, item, name)
    return True


def unpool_as_call(reader: Any, node: Any, target: str) -> bool:
    """`self.unpool(y, idx, output_size=x.size())` of an nn.MaxUnpool; False: not one."""
    from torch import nn

    child = getattr(reader.module, target, None) if "." not in target else None
    unpools = (nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)
    if type(child) not in unpools or len(node.args) + len(node.kwargs) != 3:
        return False
    given = dict(zip(("input", "indices", "output_size"), node.args)) | dict(node.kwargs)
    if set(given) != {"input", "indices", "output_size"} or len(node.args) < 2:
        return False
    fields = {"kernel_size": child.kernel_size, "stride": child.stride}
    fields["padding"] = child.padding
    nd = unpools.index(type(child)) + 1
    return _unpool_as(reader, node, nd, {**fields, "output_size": given["output_size"]}, target)


def read_unpool_as(reader: Any, node: Any) -> bool:
    """`F.max_unpool2d(y, idx, 2, output_size=x.shape[-2:])`; False: not one."""
    import torch.nn.functional as F

    fns = [getattr(F, f"max_unpool{nd}d") for nd in (1, 2, 3)]
    if node.op != "call_function" or node.target not in fns or len(node.args) < 3:
        return False
    names = ("kernel_size", "stride", "padding", "output_size")
    given = dict(zip(names, node.args[2:], strict=False)) | dict(node.kwargs)
    if given.get("output_size") is None:
        return False  # the default size: functions.py's reader
    return _unpool_as(reader, node, fns.index(node.target) + 1, given)
