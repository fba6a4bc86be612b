"""Heads cut from one projection as timm cuts them, and the attention they go to.

timm's `Attention` (vision_transformer.py, and DeiT, Visformer, EVA ... after it) writes

    qkv = self.qkv(x).reshape(B, N, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)          # older timm: q, k, v = qkv[0], qkv[1], qkv[2]
    x = F.scaled_dot_product_attention(q, k, v)

The permute puts the piece index in front of the batch, which no spec step does: a spec's
batch stays dim 0. `unbind_pieces` rewrites the traced graph so it never leaves: piece `i`
of `t.permute(p).unbind(0)` is `t[:, ..., i]` (a `select` at dim p[0]) permuted by the rest
of `p`, its dims above p[0] one lower. The values are the same views of the same numbers,
so the spec computes what the model does bit for bit, and the graph the reader reads (and
runs on the example input) is a plain torch graph still. Only a permute that moves another
dim than the batch to the front, read by nothing but that unbind or int indexing, is
rewritten; anything else stays as traced (and is refused as before, saying where). An
`unbind` of another dim than the batch, `a, b = t.unbind(1)`, is the pieces selected where
they are, `t[:, 0]` and `t[:, 1]`.

`read_attention` reads `F.scaled_dot_product_attention(q, k, v)` as the kind of that name:
without dropout or grouped heads, with torch's `scale`, `is_causal` and a tensor `attn_mask`
(its fourth input, a bias of the scores); and `a @ b`
(`torch.matmul`, `torch.bmm`, `torch.mm`) as `matmul`, the scores of attention written out
(`(q @ k.transpose(-2, -1)) * self.scale`, its transpose a `permute`).
"""

from __future__ import annotations

import operator
from typing import Any

from .calls import is_node, listed

#: `F.scaled_dot_product_attention`'s parameters, in order
_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
#: the values of its other arguments the kind computes
_PLAIN = {"dropout_p": (0, 0.0, None), "enable_gqa": (False, None)}
_SDPA_HINT = (
    "a spec's scaled_dot_product_attention has no dropout and one key and value per query "
    "head (torch's `scale`, `is_causal` and a tensor `attn_mask` added to the scores it takes):"
    " write the scores out (`q @ k.transpose(-2, -1)`, a softmax, `@ v`) for anything else"
)


def _permuted(node: Any) -> tuple[Any, list[int]] | None:
    """(tensor, dims) of a permute node given every dim as an int, dims made non-negative."""
    import torch

    method = node.op == "call_method" and node.target == "permute"
    if not (method or (node.op == "call_function" and node.target is torch.permute)):
        return None
    dims = node.kwargs.get("dims", listed(node.args))
    if not node.args or not is_node(node.args[0]) or not dims:
        return None
    if not all(type(d) is int for d in dims):
        return None
    rank = len(dims)
    if not all(-rank <= d < rank for d in dims):
        return None
    dims = [d % rank for d in dims]
    return (node.args[0], dims) if sorted(dims) == list(range(rank)) else None


def _unbound_dim(node: Any) -> int | None:
    """The dim `node` unbinds (`t.unbind(d)`, `torch.unbind(t, d)`; 0 by default) when it
    is an int, else None (also for any other node)."""
    import torch

    method = node.op == "call_method" and node.target == "unbind"
    if not (method or (node.op == "call_function" and node.target is torch.unbind)):
        return None
    given = dict(zip(("input", "dim"), node.args, strict=False)) | dict(node.kwargs)
    dim = given.get("dim", 0)
    ok = set(given) <= {"input", "dim"} and is_node(given.get("input"))
    return dim if ok and type(dim) is int else None


def _int_index(node: Any) -> int | None:
    """The index of `t[i]` (i an int), else None."""
    if node.op != "call_function" or node.target is not operator.getitem or node.kwargs:
        return None
    index = node.args[1] if len(node.args) == 2 else None
    return index if type(index) is int else None


def _pieces(permute: Any) -> list[tuple[Any, int]] | None:
    """Each (getitem node, index) that takes a piece off dim 0 of `permute`'s result, through
    an unbind or directly; None when anything else reads it (or its unbind)."""
    out = []
    for user in permute.users:
        if _unbound_dim(user) == 0:
            for piece in user.users:
                index = _int_index(piece)
                if index is None:
                    return None
                out.append((piece, index))
        elif (index := _int_index(user)) is not None:
            out.append((user, index))
        else:
            return None
    return out or None


def _selected(graph: Any, piece: Any, src: Any, dim: int, index: int) -> Any:
    """A node `src[:, ..., index]` (index at `dim`) before `piece`, with its place in the
    source (`meta`), which reads what `piece` read."""
    with graph.inserting_before(piece):
        sel = graph.call_function(operator.getitem, (src, (*(slice(None),) * dim, index)))
    sel.meta = dict(piece.meta)
    return sel


def unbind_pieces(graph: Any) -> None:
    """Rewrite each `t.permute(p).unbind(0)` (or `[i]`) whose p moves a dim other than the
    batch to the front into per-piece `t[:, ..., i].permute(rest)`, and each `t.unbind(d)`
    of a dim d >= 1 into per-piece `t[:, ..., i]` (see the module docstring). Changes `graph`
    in place; pieces read otherwise than by an int index are left as traced."""
    for node in list(graph.nodes):
        if node.op not in ("call_method", "call_function"):
            continue
        dim = _unbound_dim(node)
        if dim is not None and dim >= 1:
            indices = [_int_index(u) for u in node.users]
            if node.users and None not in indices:
                for piece, index in zip(list(node.users), indices, strict=True):
                    piece.replace_all_uses_with(_selected(graph, piece, node.args[0], dim, index))
                    graph.erase_node(piece)
                graph.erase_node(node)
            continue
        found = _permuted(node)
        pieces = _pieces(node) if found is not None and found[1][0] != 0 else None
        if found is None or pieces is None:
            continue
        src, dims = found
        front = dims[0]
        rest = [d - 1 if d > front else d for d in dims[1:]]
        for piece, index in pieces:
            sel = _selected(graph, piece, src, front, index)
            with graph.inserting_before(piece):
                out = graph.call_method("permute", (sel, *rest))
            out.meta = dict(piece.meta)
            piece.replace_all_uses_with(out)
            graph.erase_node(piece)
        for user in list(node.users):  # the unbinds, read by nothing now
            graph.erase_node(user)
        graph.erase_node(node)
    graph.lint()


def _read_sdpa(reader: Any, node: Any) -> bool:
    import torch.nn.functional as F

    if node.op != "call_function" or node.target is not F.scaled_dot_product_attention:
        return False
    given = dict(zip(_SDPA_ARGS, node.args, strict=False)) | dict(node.kwargs)
    q, k, v = (given.get(n) for n in _SDPA_ARGS[:3])
    causal, scale = given.get("is_causal", False), given.get("scale")
    odd = [n for n in ("dropout_p", "enable_gqa") if given.get(n) not in _PLAIN[n]]
    mask = given.get("attn_mask")
    if mask is not None and not is_node(mask):
        odd.append("attn_mask")
    odd += [n for n in given if n not in _SDPA_ARGS]
    if type(causal) is not bool:
        odd.append("is_causal")
    if scale is not None and (type(scale) not in (int, float) or not scale > 0):
        odd.append("scale")
    if not all(is_node(t) for t in (q, k, v)):
        return False
    if odd:
        reader.fail(
            "E903",
            f"`F.scaled_dot_product_attention` is called with `{odd[0]}={given.get(odd[0])!r}`"[
                :300
            ],
            node,
            _SDPA_HINT,
        )
        return True
    fields: dict[str, Any] = {"is_causal": True} if causal else {}
    if scale is not None:
        fields["scale"] = float(scale)
    tensors = (q, k, v) if mask is None else (q, k, v, mask)  # a bias of the scores
    return reader.emit(node, "scaled_dot_product_attention", fields, tensors)


def _is_matmul(node: Any) -> bool:
    import torch

    if node.op == "call_method":  # `mm` of two matrices, `bmm` of batches: matmul's own calls
        return node.target in ("matmul", "bmm", "mm")
    targets = (operator.matmul, torch.matmul, torch.bmm, torch.mm)
    return node.op == "call_function" and node.target in targets


def read_attention(reader: Any, node: Any) -> bool:
    """`F.scaled_dot_product_attention(q, k, v)` or `a @ b` as their kinds (see the module
    docstring); False for any other node and for a call the kinds do not compute (a mask,
    dropout, grouped heads, an `out=`), which the reader then refuses as a call no kind
    computes. `reader` is trace._GraphReader."""
    if _is_matmul(node):
        if len(node.args) != 2 or node.kwargs or not all(is_node(a) for a in node.args):
            return False
        return reader.emit(node, "matmul", {}, tuple(node.args))
    from .einsums import read_einsum

    return _read_sdpa(reader, node) or read_einsum(reader, node)


__all__ = ["read_attention", "unbind_pieces"]
