"""torch.nn's transformer, encoder and decoder, imported as the layers they are made of.

`nn.TransformerEncoderLayer` and `nn.TransformerEncoder` hold nothing but layers a kind
reads (`multihead_attention`, `linear`, `layer_norm`, `dropout`), and torch writes their
computation out in plain steps: the layer's `_sa_block` and `_ff_block`, added to the input
before (`norm_first`) or after each norm, and the encoder's loop over its `layers` and its
optional final `norm`. Their `forward`, though, first decides whether to take torch's fused
fast path, reading each tensor's device and flags, which torch.fx cannot trace. A twin
forward, the same steps as torch's own slow path (the one torch runs in training, or with
gradients), is traced in its place: each class becomes a block whose keys are the module's
own (`self_attn.in_proj_weight`, `linear1.weight`, `norm1.weight`, `layers.0.linear1.weight`).
In eval mode under `torch.no_grad`, torch computes the same layer through its fused kernel,
equal to this within float rounding, not to the last bit.

`nn.TransformerDecoderLayer` (self-attention, attention of its tokens to the memory, the
feed-forward block) and `nn.TransformerDecoder` take no fast path, but torch.fx keeps torch's
own modules as leaves: their twins are torch's forward without masks too, each a block of
two inputs, `inputs: [tgt, memory]`, and so is `nn.Transformer`'s (`src`, `tgt`: its
encoder's output is the decoder's memory).

A twin computes the layers without masks: a caller that passes a mask, a key padding mask
or `is_causal=True` is refused (E904 at the call, saying which). A layer built with
`batch_first=False` (torch's default), whose tokens are (L, N, E), computes the same steps:
its attention is a `multihead_attention` with `batch_first: false`, and the linears and
norms read the last dim either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch
    import torch.nn as nn


TWIN_HINT = (
    "a spec states torch's transformer encoder and decoder (layers) without masks, on their "
    "tensors alone: call them as `self.encoder(x)`, `self.decoder(tgt, memory)`; "
    "attention with a mask is written out in the model (`q @ k.transpose(-2, -1)`, the "
    "mask added as a module's tensor, a softmax, `@ v`)"
)


def twin_call(child: nn.Module, args: Any, kwargs: dict[str, Any]) -> str:
    """Why a call of a module with a twin is none the twin computes ("" when it is, or when
    `child` has no twin): the words after "calls `self.enc`"."""
    if twin_forward(child) is None:
        return ""
    odd = [k for k, v in kwargs.items() if v is not None and v is not False]
    takes = _TAKES.get(type(child).__name__, 1)
    if len(args) != takes or odd:
        given = f"`{odd[0]}`" if odd else f"{len(args)} positional arguments"
        alone = "its input alone" if takes == 1 else f"its {takes} tensors alone"
        return f"with {given}: the spec computes it on {alone}, without masks"
    return ""


def _plain(**given: Any) -> None:
    """Refuse (while tracing: E902) what the twins do not compute, if a call gets past
    `twin_call` (the model itself is the twin's caller)."""
    odd = [k for k, v in given.items() if v is not None and v is not False]
    if odd:
        raise TypeError(f"archspec reads torch's transformer without masks: `{odd[0]}` is given")


def _encoder_layer(
    self: Any,
    src: torch.Tensor,
    src_mask: Any = None,
    src_key_padding_mask: Any = None,
    is_causal: bool = False,
) -> torch.Tensor:
    """nn.TransformerEncoderLayer.forward's slow path, without masks."""
    _plain(src_mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
    x = src
    if self.norm_first:
        x = x + _attention(self, self.norm1(x))
        return x + _feed_forward(self, self.norm2(x))
    x = self.norm1(x + _attention(self, x))
    return self.norm2(x + _feed_forward(self, x))


def _attention(self: Any, x: torch.Tensor) -> torch.Tensor:
    """torch's `_sa_block` without masks."""
    return self.dropout1(self.self_attn(x, x, x, need_weights=False)[0])


def _feed_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """torch's `_ff_block`."""
    return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _encoder(
    self: Any,
    src: torch.Tensor,
    mask: Any = None,
    src_key_padding_mask: Any = None,
    is_causal: Any = None,
) -> torch.Tensor:
    """nn.TransformerEncoder.forward without masks or nested tensors."""
    _plain(mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
    x = src
    for layer in self.layers:
        x = layer(x)
    return x if self.norm is None else self.norm(x)


def _decoder_layer(
    self: Any,
    tgt: torch.Tensor,
    memory: torch.Tensor,
    tgt_mask: Any = None,
    memory_mask: Any = None,
    tgt_key_padding_mask: Any = None,
    memory_key_padding_mask: Any = None,
    tgt_is_causal: bool = False,
    memory_is_causal: bool = False,
) -> torch.Tensor:
    """nn.TransformerDecoderLayer.forward without masks."""
    _plain(
        tgt_mask=tgt_mask,
        memory_mask=memory_mask,
        tgt_key_padding_mask=tgt_key_padding_mask,
        memory_key_padding_mask=memory_key_padding_mask,
        tgt_is_causal=tgt_is_causal,
        memory_is_causal=memory_is_causal,
    )
    x = tgt
    if self.norm_first:
        x = x + _attention(self, self.norm1(x))
        x = x + _cross_attention(self, self.norm2(x), memory)
        return x + _decoder_feed_forward(self, self.norm3(x))
    x = self.norm1(x + _attention(self, x))
    x = self.norm2(x + _cross_attention(self, x, memory))
    return self.norm3(x + _decoder_feed_forward(self, x))


def _cross_attention(self: Any, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """torch's `_mha_block` without masks."""
    return self.dropout2(self.multihead_attn(x, memory, memory, need_weights=False)[0])


def _decoder_feed_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """The decoder layer's `_ff_block`, whose last dropout is its third."""
    return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _decoder(
    self: Any,
    tgt: torch.Tensor,
    memory: torch.Tensor,
    tgt_mask: Any = None,
    memory_mask: Any = None,
    tgt_key_padding_mask: Any = None,
    memory_key_padding_mask: Any = None,
    tgt_is_causal: Any = None,
    memory_is_causal: bool = False,
) -> torch.Tensor:
    """nn.TransformerDecoder.forward without masks."""
    _plain(
        tgt_mask=tgt_mask,
        memory_mask=memory_mask,
        tgt_key_padding_mask=tgt_key_padding_mask,
        memory_key_padding_mask=memory_key_padding_mask,
        tgt_is_causal=tgt_is_causal,
        memory_is_causal=memory_is_causal,
    )
    x = tgt
    for layer in self.layers:
        x = layer(x, memory)
    return x if self.norm is None else self.norm(x)


def _transformer(
    self: Any,
    src: torch.Tensor,
    tgt: torch.Tensor,
    src_mask: Any = None,
    tgt_mask: Any = None,
    memory_mask: Any = None,
    src_key_padding_mask: Any = None,
    tgt_key_padding_mask: Any = None,
    memory_key_padding_mask: Any = None,
    src_is_causal: Any = None,
    tgt_is_causal: Any = None,
    memory_is_causal: bool = False,
) -> torch.Tensor:
    """nn.Transformer.forward without masks (its checks of the sizes are the layers')."""
    _plain(
        src_mask=src_mask,
        tgt_mask=tgt_mask,
        memory_mask=memory_mask,
        src_key_padding_mask=src_key_padding_mask,
        tgt_key_padding_mask=tgt_key_padding_mask,
        memory_key_padding_mask=memory_key_padding_mask,
        src_is_causal=src_is_causal,
        tgt_is_causal=tgt_is_causal,
        memory_is_causal=memory_is_causal,
    )
    return self.decoder(tgt, self.encoder(src))


_TWINS = {
    "TransformerEncoderLayer": _encoder_layer,
    "TransformerEncoder": _encoder,
    "TransformerDecoderLayer": _decoder_layer,
    "TransformerDecoder": _decoder,
    "Transformer": _transformer,
}
#: how many tensors a twin computes on (the others: 1, its input)
_TAKES = {"TransformerDecoderLayer": 2, "TransformerDecoder": 2, "Transformer": 2}


def twin_forward(module: nn.Module) -> Any:
    """The twin forward of one of torch.nn's own classes above (not a subclass, whose
    forward may be other code); None for any other module."""
    import torch.nn as nn

    cls = type(module)
    twin = _TWINS.get(cls.__name__)
    return twin if twin is not None and getattr(nn, cls.__name__, None) is cls else None


def own_method_forward(module: nn.Module) -> Any:
    """The function of a method of the module's own class that `__init__` made the instance's
    forward (timm's FasterNet: `self.forward = self.forward_split_cat`), else None: the
    instance computes what that method does, which is traced as its forward."""
    bound = vars(module).get("forward")
    func = getattr(bound, "__func__", None)
    if getattr(bound, "__self__", None) is not module or func is None:
        return None
    name = getattr(func, "__name__", "")
    return func if getattr(type(module), name, None) is func else None


@contextlib.contextmanager
def traced_as_twin(module: nn.Module) -> Iterator[None]:
    """While tracing, `module` is of a subclass of its class whose forward is its twin
    (torch.fx traces `type(module).forward`), or the method of its own class its instance
    forward is; its class is back after."""
    twin = twin_forward(module) or own_method_forward(module)
    if twin is None:
        yield
        return
    cls = type(module)
    attrs = {"forward": twin, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    module.__class__ = type(cls.__name__, (cls,), attrs)
    try:
        yield
    finally:
        module.__class__ = cls


__all__ = ["TWIN_HINT", "own_method_forward", "traced_as_twin", "twin_call", "twin_forward"]
