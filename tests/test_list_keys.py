"""Dotted keys, `key: convs.0`: a node registered as an entry of a list of its module and
called where it is written (timm's Res2Net walks `self.convs` and `self.bns` together), in
compiled modules and emitted source alike; and the keys and lists that cannot be."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError

from .emit_helpers import matches_compile


def spec(body: str, header: str = "input: [N, 64, 8, 8]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


# A Res2Net bottleneck of scale 4: the first block of a stage (`first`) runs each piece
# through its conv alone and pools the last one; the others add the previous output first.
RES2 = spec(
    """
    blocks:
      Bottle2neck:
        params: {planes: int, width: int, stride: 1, first: false}
        layers:
          - type: residual
            body:
              - {name: conv1, type: conv2d, out_channels: width * 4, kernel_size: 1, bias: false}
              - {name: bn1, type: batchnorm2d}
              - {name: act1, type: relu, inplace: true}
              - {type: split, split_size: width, names: [sp0, sp1, sp2, sp3]}
              - type: repeat
                count: 3
                flat: true
                names: ["sum{i}", null, null, "out{i}"]
                layers:
                  - {type: add, when: i > 0 and not first, from: ["out{i - 1}", "sp{i}"]}
                  - {type: conv2d, key: "convs.{i}",
                     from: "{'sp' if i == 0 or first else 'sum'}{i}", out_channels: width,
                     kernel_size: 3, stride: stride, padding: 1, bias: false}
                  - {type: batchnorm2d, key: "bns.{i}"}
                  - {type: relu}
              - {name: pool, type: avgpool2d, when: first, kernel_size: 3, stride: stride,
                 padding: 1, from: sp3}
              - {name: cat, type: concat, from: [out0, out1, out2, "{'pool' if first else 'sp3'}"]}
              - {name: conv3, type: conv2d, out_channels: planes * 4, kernel_size: 1, bias: false}
              - {name: bn3, type: batchnorm2d}
            shortcut:
              when: first
              layers:
                - {type: conv2d, out_channels: planes * 4, kernel_size: 1, stride: stride,
                   bias: false}
                - {type: batchnorm2d}
            activation: relu
    layers:
      - {name: block1, type: Bottle2neck, planes: 16, width: 8, first: true}
      - {name: block2, type: Bottle2neck, planes: 16, width: 8}
      - {name: block3, type: Bottle2neck, planes: 32, width: 16, stride: 2, first: true}
    """
)


class RefBottle2neck(nn.Module):
    """timm's Bottle2neck (scale 4, cardinality 1), as timm writes it."""

    def __init__(self, cin: int, planes: int, width: int, stride: int, first: bool) -> None:
        super().__init__()
        self.width, self.first = width, first
        self.conv1 = nn.Conv2d(cin, width * 4, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * 4)
        convs = [nn.Conv2d(width, width, 3, stride, 1, bias=False) for _ in range(3)]
        self.convs = nn.ModuleList(convs)
        self.bns = nn.ModuleList([nn.BatchNorm2d(width) for _ in range(3)])
        self.pool = nn.AvgPool2d(3, stride, 1) if first else None
        self.conv3 = nn.Conv2d(width * 4, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if first:
            proj = nn.Conv2d(cin, planes * 4, 1, stride, bias=False)
            self.downsample = nn.Sequential(proj, nn.BatchNorm2d(planes * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spx = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, 1)
        spo: list[torch.Tensor] = []
        sp = spx[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            sp = spx[i] if i == 0 or self.first else sp + spx[i]
            sp = self.relu(bn(conv(sp)))
            spo.append(sp)
        spo.append(self.pool(spx[-1]) if self.pool is not None else spx[-1])
        out = self.bn3(self.conv3(torch.cat(spo, 1)))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + shortcut)


def res2_reference() -> nn.Module:
    ref = nn.Module()
    ref.block1 = RefBottle2neck(64, 16, 8, 1, True)
    ref.block2 = RefBottle2neck(64, 16, 8, 1, False)
    ref.block3 = RefBottle2neck(64, 32, 16, 2, True)
    ref.forward = lambda x: ref.block3(ref.block2(ref.block1(x)))  # type: ignore[method-assign]
    return ref


def _randomised(model: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith("running_var"):
                t.uniform_(0.5, 1.5, generator=gen)
            elif t.is_floating_point():
                t.normal_(0, 0.2, generator=gen)
    return model.eval()


def test_a_res2net_stage_has_timms_keys_and_computes_what_timm_does() -> None:
    ours, ref = _randomised(archspec.compile(RES2)), res2_reference().eval()
    shapes = [(k, v.shape) for k, v in ours.state_dict().items()]
    assert shapes == [(k, v.shape) for k, v in ref.state_dict().items()]
    assert [k for k, _ in shapes][6:9] == [
        "block1.convs.0.weight",
        "block1.convs.1.weight",
        "block1.convs.2.weight",
    ]
    ref.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert isinstance(ours.block2.convs, nn.ModuleList) and len(ours.block2.bns) == 3
    x = torch.randn(2, 64, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_the_res2net_stage_emits_timms_lists() -> None:
    source = matches_compile(RES2, (2, 64, 8, 8))
    assert "self.convs = nn.ModuleList()" in source and "self.bns.append(nn.BatchNorm2d(" in source
    assert "out = self.convs[1](out)" in source and "self.add_module(" not in source


def test_an_entry_a_when_leaves_out_is_none_in_its_emitted_list() -> None:
    text = spec(
        """
        blocks:
          Blk:
            params: {extra: false, mid: 8}
            layers:
              - {key: "convs.0", type: conv2d, out_channels: mid, kernel_size: 1}
              - {key: "convs.1", type: conv2d, out_channels: 8, kernel_size: 1, when: extra}
              - {name: tail, type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: s, type: add, from: [tail, input]}
        layers:
          - {name: a, type: Blk}
          - {name: b, type: Blk, extra: true}
          - {name: c, type: Blk, mid: 4}
        """,
        "input: [N, 8, 4, 4]",
    )
    source = matches_compile(text, (2, 8, 4, 4))
    assert "self.convs.append(None)" in source and "if self.extra:" in source
    assert list(archspec.compile(text).b.state_dict())[:4] == [
        "convs.0.weight",
        "convs.0.bias",
        "convs.1.weight",
        "convs.1.bias",
    ]


def test_a_list_of_block_calls_in_a_chain_and_register_order_naming_a_list() -> None:
    text = spec(
        """
        blocks:
          Blk:
            params: {w: int}
            layers:
              - {name: fc, type: conv2d, out_channels: w, kernel_size: 1}
              - {name: act, type: relu}
          Late:
            register_order: [tail, convs]
            layers:
              - {key: "convs.0", type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: mid, type: conv2d, out_channels: 8, kernel_size: 1}
              - {key: "convs.1", type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: tail, type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: s, type: add, from: [tail, input]}
        layers:
          - {type: repeat, count: 2, flat: true, layer: {type: Blk, key: "blocks.{i}", w: 8}}
          - {name: late, type: Late}
        """,
        "input: [N, 8, 4, 4]",
    )
    model = archspec.compile(text)
    keys = [k for k in model.state_dict() if k.endswith("weight")]
    assert keys == [
        "blocks.0.fc.weight",
        "blocks.1.fc.weight",
        "late.tail.weight",
        "late.convs.0.weight",
        "late.convs.1.weight",
        "late.mid.weight",
    ]
    source = matches_compile(text, (2, 8, 4, 4))
    assert "x = self.blocks[1](x)" in source


def errors(text: str) -> list[tuple[str, int, int, str]]:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    return [(d.code, d.span.line, d.span.col, d.message) for d in info.value.diagnostics]


CONV = "type: conv2d, out_channels: 8, kernel_size: 1"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([f"{{key: convs.01, {CONV}}}"], ("E204", 5, 11, "with leading zeros")),
        ([f"{{key: _x.0, {CONV}}}"], ("E204", 5, 11, "part 1 ('_x')")),
        ([f"{{key: '0.1', {CONV}}}"], ("E204", 5, 11, "is an index")),
        ([f"{{key: a..b, {CONV}}}"], ("E204", 5, 11, "an empty part")),
        ([f"{{key: heads.keys, {CONV}}}"], ("E204", 5, 11, "a method of nn.ModuleDict")),
        (
            [f"{{key: convs.1, {CONV}}}", f"{{key: convs.0, {CONV}}}"],
            ("E204", 6, 11, "holds `convs.1` already"),
        ),
        (
            [f"{{key: f.1.0, {CONV}}}", f"{{key: f.0.2, {CONV}}}"],
            ("E204", 6, 11, "the list `f` the entry 0, and it holds `f.1` already"),
        ),
        ([f"{{name: convs, {CONV}}}", f"{{key: convs.0, {CONV}}}"], ("E304", 6, 11, "is a node")),
        ([f"{{key: convs.0, {CONV}}}", f"{{name: convs, {CONV}}}"], ("E304", 6, 12, "container")),
        ([f"{{key: f.0, {CONV}}}", f"{{key: f.0.1, {CONV}}}"], ("E304", 6, 11, "`f.0` is a node")),
        ([f"{{key: f.0.1, {CONV}}}", f"{{key: f.0, {CONV}}}"], ("E304", 6, 11, "`f.0` is a cont")),
        ([f"{{key: f.0, {CONV}}}", f"{{key: f.x, {CONV}}}"], ("E304", 6, 11, "it holds indices")),
        ([f"{{key: f.x, {CONV}}}", f"{{key: f.0, {CONV}}}"], ("E304", 6, 11, "it holds names")),
        ([f"{{key: f.0.1, {CONV}}}", f"{{key: f.0.1, {CONV}}}"], ("E304", 6, 11, "duplicate")),
        # a parameter keyed `w.0` is an nn.ParameterList's entry (tests/h44d); a buffer has none
        (["{key: w.0, type: buffer, shape: [8]}"], ("E204", 5, 11, "no container")),
        (["{key: a.0, type: add, from: [input, input]}"], ("E204", 5, 11, "makes no module")),
    ],
)
def test_keys_of_list_entries_that_cannot_be_are_located(
    items: list[str], expected: tuple[str, int, int, str]
) -> None:
    text = spec("layers:\n" + "".join(f"  - {it}\n" for it in items), "input: [N, 8, 8, 8]")
    [(code, line, col, message)] = errors(text)
    assert (code, line, col) == expected[:3], (message, text)
    assert expected[3] in message


def test_register_order_names_a_list_not_its_entries() -> None:
    text = spec(
        """
        blocks:
          Blk:
            register_order: [tail, convs.1]
            layers:
              - {key: "convs.0", type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: tail, type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: s, type: add, from: [tail, input]}
        layers:
          - {name: a, type: Blk}
        """,
        "input: [N, 8, 4, 4]",
    )
    [(code, line, _, message)] = errors(text)
    assert (code, line) == ("E204", 7) and "'convs.1'" in message
