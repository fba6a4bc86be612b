"""A compiled forward that returns an OrderedDict: the network's `outputs:` mapping, as
torchvision's segmentation models return `out` and `aux`. torch.fx writes a dict literal
where an OrderedDict was, so the generated function returns a tuple and this wraps it."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


def keyed(fn: Callable[..., Any], keys: tuple[str, ...]) -> Callable[..., Any]:
    """`fn`, returning its tuple as an OrderedDict of `keys` (the network's `outputs:`
    mapping), as torchvision's segmentation models return `out` and `aux`; fx writes a dict
    literal where an OrderedDict was, so the generated function returns the tuple."""

    @functools.wraps(fn)  # its signature: torch.export reads `x`, not `*args`
    def forward(self: nn.Module, *args: Any) -> Any:
        return OrderedDict(zip(keys, fn(self, *args), strict=True))

    return forward
