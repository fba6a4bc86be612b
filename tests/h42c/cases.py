"""The cases of tests/h42c (tests/test_h42c_networks.py): each spec, the class of
references.py it is, its calls (each a list of inputs, one per input of the network: a
float tensor's shape, or an int64 tensor's shape and the bound of its values, or a named
maker), the words of the domain `archspec check` states, one call just outside that domain
(refused by check and by torch), and what `archspec import` of the reference gives: None
where it is the same network, else the words of its refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).parent


def _padding_mask(shape: tuple[int, ...]) -> torch.Tensor:
    """BERT's attention_mask: ones, then zeros past each row's length (the last row half)."""
    lengths = torch.full((shape[0], 1), shape[1])
    lengths[-1] = max(1, shape[1] // 2)
    return (torch.arange(shape[1])[None] < lengths).long()


MAKERS = {"padding_mask": _padding_mask}


def make_input(given: Any) -> torch.Tensor:
    """One input of a call: ("f", shape) floats, ("i", shape, bound) int64 ids below bound,
    (maker, shape) a named maker's tensor."""
    kind, shape = given[0], tuple(given[1])
    if kind == "f":
        return torch.randn(shape)
    if kind == "i":
        return torch.randint(0, given[2], shape)
    return MAKERS[kind](shape)


CASES: dict[str, dict[str, Any]] = {
    "ddpm_unet": {
        "reference": "DDPMUNet",
        "calls": [
            [("f", (2, 3, 8, 12)), ("i", (2,), 1000)],
            [("f", (1, 3, 2, 2)), ("i", (1,), 1000)],
        ],
        "domain": "with even H and even W",
        "outside": [("f", (1, 3, 7, 8)), ("i", (1,), 1000)],
        "import": "no layer kind computes `torch.arange` as called here",
    },
    "llama": {
        "reference": "Llama",
        "calls": [[("i", (2, 7), 64)], [("i", (1, 16), 64)], [("i", (3, 1), 64)]],
        "domain": "(N, T) int64 with 1 <= T <= 16",
        "outside": [("i", (1, 17), 64)],
        "import": "forward reads the non-persistent buffer `self.cos_cached`",
    },
    "bert": {
        "reference": "BertModel",
        "calls": [
            [("i", (2, 7), 50), ("i", (2, 7), 2), ("padding_mask", (2, 7))],
            [("i", (1, 16), 50), ("i", (1, 16), 2), ("padding_mask", (1, 16))],
        ],
        "domain": "attention_mask (N, L) int64 with 1 <= L <= 16",
        "outside": [("i", (1, 17), 50), ("i", (1, 17), 2), ("padding_mask", (1, 17))],
        "import": "it iterates a value computed in forward (`*size`, `for v in t`",
    },
    "whisper_encoder": {
        "reference": "AudioEncoder",
        "calls": [[("f", (2, 8, 20))], [("f", (1, 8, 19))]],
        "domain": "(N, 8, L) with 19 <= L <= 20",
        "outside": [("f", (1, 8, 21))],
        "import": "`torch._assert` of a condition on sizes read in forward",
    },
    "clip": {
        "reference": "CLIP",
        "calls": [
            [("f", (2, 3, 16, 16)), ("i", (3, 8), 50)],
            [("f", (1, 3, 4, 64)), ("i", (1, 8), 50)],
        ],
        "domain": "16 <= H <= 19 and 16 <= W <= 19",
        "outside": [("f", (1, 3, 20, 16)), ("i", (1, 8), 50)],
        "import": "cannot trace tests.h42c.references.ClipVisionTransformer.forward",
    },
    # every size runs: the one input just outside is another channel count
    "detr": {
        "reference": "DETR",
        "calls": [[("f", (2, 3, 16, 24))], [("f", (1, 3, 1, 1))]],
        "domain": "(N, 3, H, W) with H, W >= 1",
        "outside": [("f", (1, 4, 16, 16))],
        "import": "forward reads the tensor `self.query_embed.weight`, which belongs to",
    },
    "segformer": {
        "reference": "SegFormer",
        "calls": [[("f", (2, 3, 64, 48))], [("f", (1, 3, 29, 30))]],
        "domain": "(N, 3, H, W) with H, W >= 29",
        "outside": [("f", (1, 3, 28, 40))],
        "import": "forward unpacks what `self.patch_embed1` returns, (Tensor, int, int)",
    },
    # any token count runs: the one input just outside is another feature width
    "perceiver": {
        "reference": "Perceiver",
        "calls": [[("f", (2, 9, 12))], [("f", (1, 1, 12))]],
        "domain": "(N, L, 12) with L >= 1",
        "outside": [("f", (1, 9, 13))],
        "import": "no layer kind computes the operator `getitem` as called here",
    },
}  # fmt: skip
