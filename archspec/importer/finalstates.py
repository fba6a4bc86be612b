"""The final hidden state of a recurrent layer, read as a position of its output sequence.

A tutorial's LSTM classifier reads the last layer's final hidden state: `_, (h, c) =
self.lstm(x)` then `self.fc(h[-1])` (`_, h = self.gru(x)` for a GRU; a bidirectional one
joins `h[-2]` and `h[-1]`). A spec's `lstm`, `gru` and `rnn` give the output sequence
alone, but torch's layer, run from zero states on a whole sequence, gives in
`h_n[layer * D + d]`, for the last layer, the same numbers as its output sequence: the
forward direction's at the last step, `out[:, -1, :H]`, the backward one's at the first,
`out[:, 0, H:]` (sequence first, `out[-1, :, :H]` and `out[0, :, H:]`). `final_states`
rewrites the traced graph so that such a read is that position of the output (a `select`
and, for two directions, a `slice`), bit for bit the model's. A state of an earlier
layer, the cell state `c` and a state read whole stay as traced, and are refused as before.
"""

from __future__ import annotations

import operator
from typing import Any


def _recurrent(module: Any, call: Any) -> Any:
    """The nn.LSTM, nn.GRU or nn.RNN (no projection) that `call` runs on one tensor from
    zero states, else None."""
    import torch.nn as nn

    if call.op != "call_module" or len(call.args) != 1 or call.kwargs:
        return None
    rnn = module.get_submodule(str(call.target))
    if type(rnn) not in (nn.LSTM, nn.GRU, nn.RNN):
        return None
    return None if getattr(rnn, "proj_size", 0) else rnn


def _taken(node: Any, index: int) -> list[Any]:
    """The reads `node[index]` of a traced tuple."""
    return [u for u in node.users if u.target is operator.getitem and u.args[1] == index]


def _index(read: Any) -> Any:
    """Which state a read of `h_n` takes: `h[-1]` and `h[-1, :, :]` the int, and
    `h.squeeze(0)` 0 (the one state of a layer of one direction); None for other reads."""
    import torch

    if read.target is operator.getitem:
        index = read.args[1]
        if isinstance(index, tuple) and index and all(i == slice(None) for i in index[1:]):
            index = index[0]
        return index if type(index) is int else None
    squeeze = read.op == "call_method" and read.target == "squeeze"
    if squeeze or (read.op == "call_function" and read.target is torch.squeeze):
        dims = [*read.args[1:], *read.kwargs.values()]
        return 0 if dims in ([0], [(0,)]) else None
    return None


def _position(rnn: Any, read: Any) -> tuple[Any, ...] | None:
    """The index of the output sequence that holds the state `read` takes, None when none
    does (an earlier layer's state, or not one state)."""
    index = _index(read)
    if type(index) is not int:
        return None
    if read.target is not operator.getitem and rnn.num_layers * (1 + rnn.bidirectional) != 1:
        return None  # a squeeze of several states keeps them all
    directions = 2 if rnn.bidirectional else 1
    count = rnn.num_layers * directions
    if not -count <= index < count:
        return None
    at = index % count
    if at // directions != rnn.num_layers - 1:
        return None  # an earlier layer's state: no output holds it
    lead = (slice(None),) if rnn.batch_first else ()  # the steps are dim 1, or dim 0
    if directions == 1:
        return (*lead, -1)
    size = rnn.hidden_size
    if at % 2 == 0:
        return (*lead, -1, *([] if lead else [slice(None)]), slice(None, size))
    return (*lead, 0, *([] if lead else [slice(None)]), slice(size, None))


def final_states(module: Any, graph: Any) -> None:
    """Rewrite each read `h_n[i]` of the last layer's final hidden state of a recurrent
    child into the position of the output sequence holding it (see the module docstring)."""
    for call in list(graph.nodes):
        rnn = _recurrent(module, call)
        if rnn is None:
            continue
        for pair in _taken(call, 1):
            states = _taken(pair, 0) if type(rnn).__name__ == "LSTM" else [pair]
            for h in states:
                for read in list(h.users):
                    _rewrite(graph, call, read, _position(rnn, read))
            for part in [*states, *_taken(pair, 1)] if states != [pair] else ():
                _drop_unread(graph, part)  # `h`, and `c` of `_, (h, c) = ...`, unread
            _drop_unread(graph, pair)


def _rewrite(graph: Any, call: Any, read: Any, position: tuple[Any, ...] | None) -> None:
    """`read` (`h[-1]`) made `call[0][position]`, the output's position holding it."""
    if position is None:
        return
    with graph.inserting_before(read):
        out = graph.call_function(operator.getitem, (call, 0))
        taken = graph.call_function(operator.getitem, (out, position))
    for made in (out, taken):
        made.meta["stack_trace"] = read.meta.get("stack_trace")
    read.replace_all_uses_with(taken)
    graph.erase_node(read)


def _drop_unread(graph: Any, node: Any) -> None:
    """Erase `node`, a piece of a recurrent call's result, when nothing reads it."""
    if not node.users:
        graph.erase_node(node)


__all__ = ["final_states"]
