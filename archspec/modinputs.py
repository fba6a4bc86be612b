"""What a module summary's forward is given and what it gives back, as tensors.

torchinfo's `input_data` made into meta arguments for the forward (`meta_call`), the
tensors of an input or output through the containers models use (`tensors_in`), and
`dtypes=` read as torch dtypes (`input_dtypes`). Imports torch, as `archspec.modsummary`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch.nn.utils.rnn import PackedSequence
from torch.utils._pytree import tree_leaves, tree_map


def _packed_or_record(value: object) -> bool:
    """A value whose tensors pytree would not give as the model's data: a PackedSequence
    (a tuple of its data and the CPU index tensors that say how to read it) or a dataclass
    instance (a model's output record, which pytree takes for one leaf)."""
    return isinstance(value, PackedSequence) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )


def tensors_in(value: Any, _within: frozenset[int] = frozenset()) -> list[torch.Tensor]:
    """The tensors of an input or output, in order, through lists, tuples, dicts and
    dataclass records; a PackedSequence counts as its data (an RNN's packed batch)."""
    out: list[torch.Tensor] = []
    for leaf in tree_leaves(value, is_leaf=_packed_or_record):
        if isinstance(leaf, PackedSequence):
            out.append(leaf.data)
        elif isinstance(leaf, torch.Tensor):
            out.append(leaf)
        elif _packed_or_record(leaf) and id(leaf) not in _within:  # a record holding itself
            fields = [getattr(leaf, f.name, None) for f in dataclasses.fields(leaf)]
            out += tensors_in(fields, _within | {id(leaf)})
    return out


def meta_call(data: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """torchinfo's `input_data` as forward's arguments, every tensor in them (nested in
    lists, tuples, dicts) replaced by a meta tensor of its shape and dtype: a tensor is the
    one argument, a list or tuple the positional ones, a dict the keyword ones."""

    def meta(v: Any) -> Any:
        if isinstance(v, PackedSequence):  # its batch sizes stay on the CPU, as torch wants
            return v._replace(data=torch.empty_like(v.data, device="meta"))
        return torch.empty_like(v, device="meta") if isinstance(v, torch.Tensor) else v

    try:
        data = tree_map(meta, data, is_leaf=lambda v: isinstance(v, PackedSequence))
    except RecursionError:  # a list that holds itself, or thousands of levels of nesting
        raise TypeError(
            "input_data nests too deeply or holds itself: give forward's arguments as a "
            "tensor, a list of them or a dict of them"
        ) from None
    if isinstance(data, dict):
        return (), data
    return (tuple(data) if isinstance(data, (list, tuple)) else (data,)), {}


def input_dtypes(dtypes: Any, count: int) -> list[torch.dtype]:
    """`dtypes=` as torch dtypes, one per input (float32 by default, as torchinfo's)."""
    if dtypes is None:
        return [torch.float32] * count
    if isinstance(dtypes, torch.dtype):
        dtypes = [dtypes]
    if not isinstance(dtypes, Sequence) or isinstance(dtypes, str) or len(dtypes) != count:
        raise TypeError(f"dtypes must be a torch.dtype or a list of {count} (one per input)")
    if not all(isinstance(d, torch.dtype) for d in dtypes):
        raise TypeError(f"dtypes must be torch dtypes, got {dtypes!r}")
    return list(dtypes)
