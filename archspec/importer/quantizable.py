"""Quantizable models in float mode (torchvision's `models.quantization` built with
`quantize=False`): until `prepare` adds observers, `QuantStub` and `DeQuantStub` return their
input, and a `FloatFunctional` join (`self.skip_add.add(out, identity)`, whose method torch.fx
follows) ends in its `activation_post_process`, an `nn.Identity`. So a stub is an
`identity` node and that call the value it is given; a prepared or converted model (observers
with buffers, hooks, quantized modules) stays refused by the rules that refuse those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

#: torch's stubs, by name: asking for torch.ao.quantization would import it for every model
_STUBS = {
    ("torch.ao.quantization.stubs", "QuantStub"),
    ("torch.ao.quantization.stubs", "DeQuantStub"),
}


def float_stub(child: nn.Module) -> bool:
    """A `QuantStub` or `DeQuantStub` holding no tensors and no observer child."""
    if (type(child).__module__, type(child).__qualname__) not in _STUBS:
        return False
    return not list(child.children()) and not any(True for _ in child.state_dict())


def identity_grandchild(reader: Any, node: Any, target: str) -> bool:
    """A forward's call of a grandchild that is an `nn.Identity` (never a subclass, which
    may compute), given one value: the value itself, as FloatFunctional's
    `activation_post_process`; False for any other call, which stays refused."""
    import torch.nn as nn

    if "." not in target or type(reader.module.get_submodule(target)) is not nn.Identity:
        return False
    inputs = reader._inputs(tuple(node.args)) if len(node.args) == 1 else None
    if inputs is None or node.kwargs:
        return False
    reader.names[node] = inputs[0]
    return True
