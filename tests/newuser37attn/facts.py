"""What tests/test_newuser37_attn.py compares with timm's record (make_fixture.py)."""

from __future__ import annotations

from pathlib import Path

from tests.newuser36.facts import state_dict_facts as state_dict_facts

HERE = Path(__file__).parent
FIXTURE = HERE / "timm.json"

#: each model's input sizes: the spec's own, then another the network takes (LeViT learns
#: its attention biases for 14 x 14 tokens, so it takes 209 to 224 pixels a side only; the
#: spec of DaViT partitions its maps into 7 x 7 windows where timm pads them to whole
#: windows first, so it takes sizes of 224k - 3 to 224k pixels, where timm takes any;
#: CrossViT resizes any input to each branch's size, 240 and 224; TNT, NesT and ConViT assert
#: their 224 x 224; the spec of MViTv2 writes its maps' sides and relative indices as the numbers
#: of 224 x 224, where timm builds them from each input's size and takes up to 224)
SIZES: dict[str, list[tuple[int, int]]] = {
    "pvt_v2_b0": [(224, 224), (160, 200)],
    "levit_128s": [(224, 224), (209, 217)],
    "xcit_nano_12_p16_224": [(224, 224), (160, 192)],
    "focalnet_tiny_srf": [(224, 224), (160, 200)],
    "davit_tiny": [(224, 224), (223, 221)],
    "crossvit_tiny_240": [(240, 240), (200, 260)],
    "tnt_s_patch16_224": [(224, 224)],
    "nest_tiny": [(224, 224)],
    "mvitv2_tiny": [(224, 224)],
    "convit_tiny": [(224, 224)],
}
