"""Synthetic specs for the scaling and huge-model benchmarks, emitted as YAML text.

One generator per family, so every size of a family differs only in how many layers it has:
the YAML text, the IR and the module tree all grow linearly with the size, and any
super-linear cost seen in the scaling table comes from archspec, not from the input.

    python -m benchmarks.synth resnet 100 > /tmp/resnet100.yaml
"""

from __future__ import annotations

import sys

#: Sizes of the full run and of the CI quick mode.
RESNET_DEPTHS = (10, 100, 1_000, 10_000)
INCEPTION_BRANCHES = (2, 4, 8, 16, 32, 64)

#: Width of the huge linear layer: HUGE_WIDTH**2 = 10**10 weights (40 GB in float32).
HUGE_WIDTH = 100_000

_BASIC_BLOCK = """\
blocks:
  BasicBlock:
    doc: Two 3x3 convs and a residual connection, projected when the width changes.
    params:
      planes: int
    layers:
      - type: residual
        body:
          - {name: conv1, type: conv2d, out_channels: planes, kernel_size: 3, padding: 1,
             bias: false}
          - {name: bn1, type: batchnorm2d}
          - {name: relu, type: relu, inplace: true}
          - {name: conv2, type: conv2d, out_channels: planes, kernel_size: 3, padding: 1,
             bias: false}
          - {name: bn2, type: batchnorm2d}
        shortcut:
          name: downsample
          when: in_channels != planes
          layers:
            - {type: conv2d, out_channels: planes, kernel_size: 1, bias: false}
            - {type: batchnorm2d}
        activation: relu
"""


def resnet_blocks(depth: int) -> int:
    """BasicBlocks in a ResNet-like spec of about `depth` layers.

    Layers are counted as the IR counts them (conv, bn, relu, add...): a stem of 3, 7 per
    block, 2 more per projection (one block in ten) and a head of 3, so
    layers = 6 + 7 * blocks + 2 * ((blocks - 1) // 10), within a few of `depth`.
    """
    if depth < 10:
        raise ValueError(f"depth must be at least 10, got {depth}")
    return max(1, round((depth - 6) / 7.2))


def resnet_layers(depth: int) -> int:
    """The exact IR layer count of `resnet_like(depth)`."""
    blocks = resnet_blocks(depth)
    return 6 + 7 * blocks + 2 * ((blocks - 1) // 10)


def resnet_like(depth: int) -> str:
    """A ResNet-like spec of about `depth` layers (see `resnet_blocks`), every block written out.

    The width alternates between 16 and 32 channels every 10 blocks, so one block in ten
    carries a projection shortcut, as at the start of each ResNet stage. Spatial size stays
    at 32x32 so that any depth has valid shapes.
    """
    n_blocks = resnet_blocks(depth)
    lines = [
        "archspec: 1",
        f"name: synth_resnet_{depth}",
        f"class_name: SynthResNet{depth}",
        f"description: Synthetic ResNet-like network of about {depth} layers (benchmarks).",
        "input: [N, 3, 32, 32]",
        _BASIC_BLOCK.rstrip("\n"),
        "layers:",
        "  - {name: conv1, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, "
        "bias: false}",
        "  - {name: bn1, type: batchnorm2d}",
        "  - {name: relu, type: relu, inplace: true}",
    ]
    for i in range(n_blocks):
        planes = 16 if (i // 10) % 2 == 0 else 32
        lines.append(f"  - {{name: block{i}, type: BasicBlock, planes: {planes}}}")
    lines += [
        "  - {name: avgpool, type: adaptive_avgpool2d, output_size: 1}",
        "  - {name: flatten, type: flatten}",
        "  - {name: fc, type: linear, out_features: 10}",
    ]
    return "\n".join(lines) + "\n"


def inception_like(branches: int, modules: int = 4, width: int = 8) -> str:
    """An Inception-like spec: `modules` blocks of `branches` parallel branches, concatenated.

    Branch j of a block is a 1x1 reduction then a 3x3 conv (or a pool projection for every
    fourth branch), each `width` channels wide, so a block outputs `branches * width`
    channels and the layer count is about 2 * modules * branches.
    """
    if branches < 1:
        raise ValueError(f"branches must be at least 1, got {branches}")
    lines = [
        "archspec: 1",
        f"name: synth_inception_{branches}",
        f"class_name: SynthInception{branches}",
        f"description: Synthetic Inception-like network with {branches} branches per block "
        "(benchmarks).",
        "input: [N, 3, 32, 32]",
        "blocks:",
        "  ConvReLU:",
        "    params: {out_channels: int, kernel_size: int, padding: {type: int, default: 0}}",
        "    layers:",
        "      - {name: conv, type: conv2d, out_channels: out_channels, "
        "kernel_size: kernel_size, padding: padding, bias: false}",
        "      - {name: bn, type: batchnorm2d}",
        "      - {name: relu, type: relu, inplace: true}",
        "  Inception:",
        "    layers:",
        "      - type: parallel",
        "        join: concat",
        "        branches:",
    ]
    for j in range(branches):
        lines.append(f"          branch{j}:")
        if j % 4 == 3:
            lines.append("            - {type: maxpool2d, kernel_size: 3, stride: 1, padding: 1}")
        else:
            lines.append(f"            - {{type: ConvReLU, out_channels: {width}, kernel_size: 1}}")
        lines.append(
            f"            - {{type: ConvReLU, out_channels: {width}, kernel_size: 3, padding: 1}}"
        )
    lines += [
        "layers:",
        f"  - {{name: stem, type: ConvReLU, out_channels: {width}, kernel_size: 3, padding: 1}}",
    ]
    for m in range(modules):
        lines.append(f"  - {{name: inception{m}, type: Inception}}")
    lines += [
        "  - {name: avgpool, type: adaptive_avgpool2d, output_size: 1}",
        "  - {name: flatten, type: flatten}",
        "  - {name: fc, type: linear, out_features: 10}",
    ]
    return "\n".join(lines) + "\n"


def huge_linear(width: int = HUGE_WIDTH) -> str:
    """A spec of width**2 parameters (10**10 by default): one square linear layer, no bias."""
    return (
        "\n".join(
            [
                "archspec: 1",
                f"name: synth_huge_{width}",
                "class_name: SynthHuge",
                f"description: One {width}x{width} linear layer, {width * width:,} weights "
                "(benchmarks).",
                f"input: [N, {width}]",
                "layers:",
                f"  - {{name: fc, type: linear, out_features: {width}, bias: false}}",
            ]
        )
        + "\n"
    )


FAMILIES = {"resnet": resnet_like, "inception": inception_like}


def generate(family: str, size: int) -> str:
    """The YAML text of one family at one size (`resnet` depth, `inception` branches)."""
    if family == "huge":
        return huge_linear(size)
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of resnet, inception, huge")
    return FAMILIES[family](size)


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.synth FAMILY SIZE`: print a synthetic spec."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        print("usage: python -m benchmarks.synth {resnet,inception,huge} SIZE", file=sys.stderr)
        return 2
    sys.stdout.write(generate(args[0], int(args[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
