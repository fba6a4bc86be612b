"""What the spec's training lists mean and take: `shard:` and `checkpoint:` (blocks),
`frozen:` (module paths whose parameters do not train) and `tied:` (tensors held under two
names). Kept apart from schema.py, which builds the models that use them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

#: What the spec's `shard:` and `checkpoint:` mean (docs/spec-language.md#training-units).
SHARD_DOC = (
    "blocks whose instances are FSDP units (archspec.shard_units); default: the outermost "
    "block instances; [] for none"
)
FROZEN_DOC = (
    "module paths whose parameters do not train (requires_grad=False), as `state_dict` "
    "keys name them: a node (`conv1`), a block instance or container (`body.layer1`), or a "
    "layer inside one (`layer2.0.conv1`)"
)
_PATH = re.compile(r"\w+(?:\.\w+)*")


def _check_path(text: str) -> str:
    """A `frozen:` entry: dotted words, as a module path is (schema validator)."""
    if len(text) > 300 or not _PATH.fullmatch(text):
        raise ValueError(
            f"a `frozen` entry is a module path of at most 300 characters, names and indices "
            f"joined by dots (`body.layer1`, `layer2.0.conv1`): {text[:60]!r} is not"
        )
    return text


#: a `frozen:` entry: a dotted module path
FrozenPath = Annotated[str, AfterValidator(_check_path)]

TIED_DOC = (
    "tensors held under two names, as nanoGPT's `self.transformer.wte.weight = "
    "self.lm_head.weight`: each key, a tensor's state_dict key (`transformer.wte.weight`), "
    "is the tensor its value names (`lm_head.weight`); both keys stay in the state_dict, "
    "the tensor is one parameter and counts once"
)


def _check_tensor_path(text: str) -> str:
    """A `tied:` key or value: dotted words, as a state_dict key is (schema validator)."""
    if len(text) > 300 or not _PATH.fullmatch(text):
        raise ValueError(
            f"a `tied` entry names a tensor by its state_dict key, at most 300 characters of "
            f"names and indices joined by dots (`lm_head.weight`, `blocks.0.fc.bias`): "
            f"{text[:60]!r} is not"
        )
    return text


#: a `tied:` key or value: a tensor's state_dict key
TensorPath = Annotated[str, AfterValidator(_check_tensor_path)]


def no_ties() -> dict[str, str]:
    """An empty mapping, the default of `tied:` (see `no_items`)."""
    return {}


def tied_field() -> Any:
    """`tied:`, a mapping of up to 256 tensors to the tensors they are."""
    return Field(default_factory=no_ties, max_length=256, description=TIED_DOC)


#: A block's own `checkpoint: true` and `frozen: true`.
BLOCK_CHECKPOINT_DOC = (
    "activation checkpointing of every instance in training "
    "(torch.utils.checkpoint, use_reentrant=False)"
)
BLOCK_FROZEN_DOC = "no parameter of any instance trains (requires_grad=False), as `frozen:` says"
CHECKPOINT_DOC = (
    "blocks whose instances run under activation checkpointing in training, as a block's "
    "own `checkpoint: true` asks"
)


def no_items() -> list[Any]:
    """An empty list, for a list field's default: pydantic reads a default factory's
    signature, and `list`'s (a builtin's, parsed from its text) costs ~0.5 ms each time."""
    return []


def list_field(doc: str) -> Any:
    """A header list of up to 256 entries, empty by default (`checkpoint:`, `frozen:`)."""
    return Field(default_factory=no_items, max_length=256, description=doc)
