"""What a checkpoint that fits nowhere in a model is, said in E803's hint (torch-free)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def unmatched_hint(state: Mapping[str, Any], ours: Mapping[str, Any]) -> str:
    """The hint when no key of the checkpoint is a key of the model and no wrapper prefix
    explains it: another model's state_dict, or this network under another naming (timm's
    `conv_stem.weight` for torchvision's `features.0.0.weight`), which `strict=False` would
    load none of. "" for an empty side (nothing to compare)."""
    theirs = [k for k in state if isinstance(k, str)]
    if not theirs or not ours:
        return ""
    return (
        f"none of the checkpoint's {len(theirs):,} keys is a key of the model (the "
        f"checkpoint's first is `{_short(theirs[0])}`, the model's `{_short(next(iter(ours)))}`): "
        "it is another model's state_dict, or this network's under other names (timm's are "
        "not torchvision's), and strict=False would load nothing. Rename its keys to the "
        "model's, or `archspec import` the model it was saved from for a spec with its names"
    )


def _short(key: str) -> str:
    return key if len(key) <= 60 else key[:57] + "..."
