"""Tied tensors in a checkpoint (`tied:`, nanoGPT's `wte.weight = lm_head.weight`): which
keys of a model hold one tensor, and what loading a checkpoint into them keeps. Kept apart
from hub.py, which loads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def twins(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """For each state_dict key of a tensor the model holds under several (`tied:`,
    nanoGPT's `wte.weight = lm_head.weight`), its other keys: a checkpoint that holds one of
    them fills them all, as one saved without the duplicates (safetensors drops them) must
    load."""
    keys: dict[int, list[str]] = {}
    for name, t in [
        *model.named_parameters(remove_duplicate=False),
        *model.named_buffers(remove_duplicate=False),
    ]:
        keys.setdefault(id(t), []).append(name)
    return {
        k: tuple(o for o in group if o != k)
        for group in keys.values()
        if len(group) > 1
        for k in group
    }


def split_twins(state: Mapping[str, Any], twins: Mapping[str, tuple[str, ...]]) -> list[str]:
    """What to warn of each tensor the model holds under several keys that the checkpoint
    holds as different values (a checkpoint of an untied model loaded into a tied one):
    torch copies each key in turn, so the last one's values are kept, silently."""
    said: list[str] = []
    order = {k: i for i, k in enumerate(state)} if twins else {}
    for key, others in twins.items():
        later = [o for o in others if o in order and key in order and order[o] > order[key]]
        if not later:
            continue
        a, b = state[key], state[later[-1]]
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
        if same and not torch.equal(a, b):
            said.append(
                f"`{key}` and `{later[-1]}` are one tensor of the model (tied), and the "
                f"checkpoint holds different values for them: `{later[-1]}`'s are kept"
            )
    return said


def once(state: Mapping[str, Any], twins: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """`state` without the keys whose tensor an earlier key of it holds (a tied tensor)."""
    out: dict[str, Any] = {}
    for k, v in state.items():
        if not any(t in out for t in twins.get(k, ())):
            out[k] = v
    return out
