"""Stateless torch modules whose forward is one call that a kind computed in forward makes:
`self.shuffle(x)` of an nn.ChannelShuffle(g) is `F.channel_shuffle(x, g)` (`channel_shuffle`),
of an nn.Softmax2d `F.softmax(x, -3)` (`softmax`, `dim: -3`), of an nn.MaxPool2d built with
`return_indices=True` a `maxpool2d_with_indices` (unpools.py). The spec states the call;
the module held no state, so the state_dict is the same. Such a module in an nn.Sequential,
where a call computed in forward holds no numbered place, and the settings no kind computes
(an nn.Embedding's `max_norm`) are refused with words
of their own (`known_refusal`)."""

from __future__ import annotations

from typing import Any

from .trace import Item


def _reading(child: Any) -> tuple[str, dict[str, Any]] | None:
    """The kind and fields of the call a module's forward makes, or None."""
    from torch import nn

    if type(child) is nn.ChannelShuffle:
        return "channel_shuffle", {"groups": child.groups}
    if type(child) is nn.Softmax2d:  # its forward checks for 3 or 4 dims, then this
        return "softmax", {"dim": -3}
    return None


def function_module_call(reader: Any, node: Any, target: str) -> bool:
    """`self.m(x)` of such a module, read as the call; False: not one."""
    from .unpools import indices_pool_call, unpool_as_call

    if indices_pool_call(reader, node, target) or unpool_as_call(reader, node, target):
        return True
    child = getattr(reader.module, target, None) if "." not in target else None
    reading = _reading(child)
    if reading is None or node.kwargs or len(node.args) != 1 or not hasattr(node.args[0], "op"):
        return False
    inputs = reader._inputs((node.args[0],))
    if inputs is None:  # what it reads was refused, and said so
        return True
    kind, fields = reading
    name = target if target not in reader.used else reader._fresh(target)
    reader._add(node, Item(name, kind, dict(fields), dict(fields), inputs, is_module=False), name)
    return True


def known_refusal(child: Any) -> tuple[str, str] | None:
    """Why a torch module no kind builds is refused, and what to do, where the general
    words (a layer kind reads modules back exactly) would not say it; None: no such words."""
    from torch import nn

    reading = _reading(child)
    pools = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
    if reading is None and type(child) in pools and child.return_indices:
        reading = (f"maxpool{pools.index(type(child)) + 1}d_with_indices", {})
    if reading is not None:
        return (
            f"it computes a `{reading[0]}`, which a spec computes in forward, and so holds "
            "no numbered place of an nn.Sequential",
            f"call it in a module's forward (`x = self.m(x)`), which import reads as "
            f"`{reading[0]}`",
        )
    if type(child) is nn.Embedding and child.max_norm is not None:
        return (
            f"max_norm={child.max_norm} renormalises the rows it looks up, in the weight "
            "itself, at every forward: a spec's embedding only looks them up",
            "drop max_norm (renormalise the weight where it is trained, outside the model), "
            "or register a layer kind for it (a plugin: docs/plugins.md)",
        )
    return None
