"""`nn.MultiheadAttention` called in a forward: the kind `multihead_attention` is
self-attention over one tensor, giving its output alone (`out, _ = self.attn(x, x, x)`, as
ViT's `need_weights=False` call, or the default call whose weights nothing reads, which the
kind states as `need_weights: true`: torch computes it on another path, which rounds
otherwise in the last bit), or attention of a query to a key and value of their own (`self.attn(q,
x, x)`, a learned query pooling a sequence: `from: [q, x]`, `[q, k, v]`). Other calls (a
mask, the weights read) are refused saying which, not as a call "with other than one
tensor"."""

from __future__ import annotations

import operator
from typing import Any

#: Keyword arguments of the call that leave self-attention's output as the kind computes it.
_NEUTRAL = {
    "need_weights": (True, False),
    "average_attn_weights": (True, False),
    "attn_mask": (None,),
    "key_padding_mask": (None,),
    "is_causal": (False,),
}

ATTENTION_HINT = (
    "a spec's multihead_attention is attention without a mask, giving its output alone: "
    "call it as `out, _ = self.attn(q, k, v)` with tensors, or import a model that does"
)


def attention_call(module: Any, target: str, node: Any, args: list[Any]) -> int | bool | str:
    """When the fx `node` calls the child `target`, an nn.MultiheadAttention, without a mask
    and reads its output alone, how many of its leading arguments are the spec's inputs:
    1 for self-attention (`x, x, x`), 2 for a query and one key and value (`q, x, x`), else
    3; a reason (words after "calls `self.attn`") when it calls one otherwise; False when
    the child is no nn.MultiheadAttention. Query, key and value given by keyword join `args`
    in that order."""
    child = getattr(module, target, None) if "." not in target else None
    if type(child).__name__ != "MultiheadAttention":
        return False
    kwargs = dict(node.kwargs)
    for name in ("query", "key", "value")[len(args) :]:  # DETR's `self.attn(q, k, value=x)`
        if name in kwargs:
            args.append(kwargs.pop(name))
    if len(args) != 3 or not all(hasattr(a, "op") for a in args):
        return "with other than three tensors as query, key and value"
    odd = [k for k, v in kwargs.items() if k not in _NEUTRAL or not _among(v, _NEUTRAL[k])]
    if odd:
        return f"with `{odd[0]}={kwargs[odd[0]]!r}`"
    if not _first_read_only(node):
        return "and reads its attention weights (or its result as a tuple)"
    return 1 if args[0] is args[1] is args[2] else 2 if args[1] is args[2] else 3


def weights_path(item: Any, node: Any) -> None:
    """Mark the imported `multihead_attention` `item` of the call `node` as torch's default
    call (`need_weights: true`) unless the call passes `need_weights=False`."""
    if item.kind == "multihead_attention" and node.kwargs.get("need_weights", True) is True:
        item.fields["need_weights"] = item.full["need_weights"] = True


def _first_read_only(node: Any) -> bool:
    """Whether the users of a call returning a pair (output, extra) read its first item
    alone: `out, _ = self.attn(x, x, x)`, `self.lstm(x)[0]`, the second unpacked and unused."""
    for user in node.users:
        index = user.args[1] if user.target is operator.getitem else None
        if index not in (0, 1) or (index == 1 and user.users):
            return False
    return True


def _among(value: Any, allowed: tuple[Any, ...]) -> bool:
    return any(value is a or (type(value) is type(a) and value == a) for a in allowed)


#: The recurrent modules a spec's `lstm`, `gru` and `rnn` are, by class name.
_RECURRENT = frozenset({"LSTM", "GRU", "RNN"})

RECURRENT_HINT = (
    "a spec's lstm, gru and rnn start from zero states and give the output sequence alone, "
    "which holds the last layer's final hidden state (`h[-1]` is imported as `out[:, -1]`, "
    "`out[-1]` sequence first) but no cell state nor an earlier layer's: call it as `out, _ "
    "= self.lstm(x)` and read the output, or import a model that does"
)


def recurrent_call(module: Any, target: str, node: Any, args: list[Any]) -> int | bool | str:
    """1 (its one input, as attention_call counts them) when the fx `node` calls the child
    `target`, an nn.LSTM, nn.GRU or nn.RNN, on one tensor from zero states and reads only
    the output sequence (`out, _ = self.lstm(x)`); a reason when it calls one otherwise;
    False when the child is none of them."""
    child = getattr(module, target, None) if "." not in target else None
    if type(child).__name__ not in _RECURRENT:
        return False
    given = [v for k, v in node.kwargs.items() if v is not None]
    if len(args) != 1 or given or not hasattr(args[0], "op"):
        return "with an initial state (a spec's recurrent layer starts from zeros)"
    if not _first_read_only(node):
        return "and reads its final state (or its result as a tuple)"
    return 1
