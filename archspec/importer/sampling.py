"""The spatial transformer's sampling (PyTorch's STN tutorial): `F.affine_grid(theta,
x.size())`, a grid over the size of a map, is the `affine_grid` kind reading theta and that
map; `F.grid_sample(x, grid)` the `grid_sample` kind. A size written out, or any other
argument than those the kinds state, stays E903.
"""

from __future__ import annotations

from typing import Any

from ..ops.sampling import GRID_MODES, GRID_PADDING
from .calls import Call, Reader, Ref


def read_affine_grid(reader: Any, node: Any) -> bool:
    """`F.affine_grid(theta, x.size(), align_corners=...)`: `size` read off a map whole."""
    names = ("theta", "size", "align_corners")
    given = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
    theta, size = given.pop("theta", None), given.pop("size", None)
    corners = given.pop("align_corners", None)
    sym = reader.syms.get(size) if size is not None and hasattr(size, "op") else None
    if given or theta is None or sym is None or sym.what != "shape":
        return False
    if corners is not None and type(corners) is not bool:
        return False
    fields = {"align_corners": True} if corners else {}
    return reader.emit(node, "affine_grid", fields, (theta, sym.src))


def _grid_sample(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    names = ("input", "grid", "mode", "padding_mode", "align_corners")
    given = dict(zip(names, args, strict=False)) | kwargs
    x, grid = given.pop("input", None), given.pop("grid", None)
    fields = {
        "mode": given.pop("mode", "bilinear"),
        "padding_mode": given.pop("padding_mode", "zeros"),
        "align_corners": bool(given.pop("align_corners", None)),
    }
    if given or not isinstance(x, Ref) or not isinstance(grid, Ref):
        return None
    if fields["mode"] not in GRID_MODES or fields["padding_mode"] not in GRID_PADDING:
        return None
    return Call("grid_sample", fields, (x.node, grid.node))


def functions() -> dict[Any, Reader]:
    """The torch functions read here, for functions.py's table."""
    import torch.nn.functional as F

    return {F.grid_sample: _grid_sample}
