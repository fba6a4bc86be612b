"""Composition: `use:` imports of blocks (files and the built-in library) and `variants:`.

Imports resolve before validation (archspec/compose), so these tests check what the
composed spec builds, where its errors point (the imported file's line and the import
site), and the trust rules: only the spec's own folder tree and the library are readable.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml

import archspec
from archspec import api
from archspec.compose import sources
from archspec.errors import ArchSpecError

ROOT = Path(__file__).resolve().parent.parent


HEAD = "archspec: 1\nname: net\ninput: [N, 3, 32, 32]\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(source: object, **kwargs: object) -> ArchSpecError:
    started = time.process_time()
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(source, device="meta", **kwargs)  # type: ignore[arg-type]
    assert time.process_time() - started < 1.0
    return info.value


def importing(ref: str, blocks: str = "[B]") -> str:
    return HEAD + f"use:\n  - {{from: {ref}, blocks: {blocks}}}\nlayers:\n  - {{type: relu}}\n"


# -- the library ---------------------------------------------------------------------


def test_every_library_block_compiles(tmp_path: Path) -> None:
    spec = write(
        tmp_path / "all.yaml",
        """\
        archspec: 1
        name: all_blocks
        use:
          - {from: "archspec:blocks/resnet", blocks: [BasicBlock, {Bottleneck: Bneck}]}
          - {from: "archspec:blocks/conv", blocks: [ConvBNAct]}
          - {from: "archspec:blocks/inception", blocks: [Inception]}
          - {from: "archspec:blocks/squeezenet", blocks: [Fire]}
          - {from: "archspec:blocks/densenet", blocks: [DenseLayer, Transition]}
          - {from: "archspec:blocks/se", blocks: [SqueezeExcitation]}
          - {from: "archspec:blocks/convnext", blocks: [CNBlock]}
          - {from: "archspec:blocks/shufflenet", blocks: [InvertedResidual]}
          - {from: "archspec:blocks/regnet", blocks: [ResBottleneckBlock]}
          - from: "archspec:blocks/mobilenet"
            blocks: [{InvertedResidual: MobileIR}, InvertedResidualV3]
          - {from: "archspec:blocks/efficientnet", blocks: [MBConv, FusedMBConv]}
        input: [N, 3, 64, 64]
        layers:
          - {name: stem, type: ConvBNAct, out_channels: 64, stride: 2, act: silu}
          - {name: b1, type: BasicBlock, planes: 64}
          - {name: b2, type: Bneck, planes: 32, stride: 2, groups: 4, base_width: 8}
          - {name: inc, type: Inception, ch1x1: 8, ch3x3red: 8, ch3x3: 8, ch5x5red: 8,
             ch5x5: 8, pool_proj: 8}
          - {name: fire, type: Fire, squeeze_planes: 8, expand1x1_planes: 16,
             expand3x3_planes: 16}
          - {name: dense, type: DenseLayer, growth_rate: 8}
          - {name: trans, type: Transition, out_channels: 16}
          - {name: shuffle, type: InvertedResidual, out: 16}
          - {name: se, type: SqueezeExcitation, input_channels: in_channels,
             squeeze_channels: 4}
          - {name: cn, type: CNBlock, dim: 16}
          - {key: reg-0, type: ResBottleneckBlock, width_out: 24, stride: 2, group_width: 8,
             se_channels: 4}
          - {name: ir, type: MobileIR, out_channels: 16, stride: 1, expand_ratio: 6}
          - {name: ir3, type: InvertedResidualV3, kernel_size: 5, expanded_channels: 48,
             out_channels: 16, use_se: true, act: hardswish, stride: 1}
          - {name: mb, type: MBConv, expand_ratio: 4, kernel_size: 3, stride: 1,
             out_channels: 16, stochastic_depth_prob: 0.1}
          - {name: fmb, type: FusedMBConv, expand_ratio: 1, kernel_size: 3, stride: 2,
             out_channels: 24, stochastic_depth_prob: 0.1}
        """,
    )
    model = archspec.compile(spec)
    assert model.b2._get_name() == "Bneck"
    assert model.b2.conv2.groups == 4 and model.b2.conv2.out_channels == 16  # 32 * 8 // 64 * 4
    assert model.inc.branch1._get_name() == "BasicConv2d"  # brought along, not imported
    assert isinstance(model.stem[2], torch.nn.SiLU)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 24, 2, 2)
    assert [n for n, _ in model.mb.named_children()] == ["block", "stochastic_depth"]
    assert [n for n, _ in model.fmb.named_children()] == ["block"]  # stride 2: no residual
    assert isinstance(model.ir3.block[1][2], torch.nn.Hardswish)
    assert isinstance(model.ir3.block[2].scale_activation, torch.nn.Hardsigmoid)
    assert archspec.check(spec).ok
    assert list(model.se.state_dict()) == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]  # torchvision.ops.SqueezeExcitation's keys
    assert list(model.cn.state_dict())[:2] == ["layer_scale", "block.0.weight"]
    assert [n for n, _ in model.shuffle.named_children()] == ["branch2"]  # stride 1
    assert [k for k in model.state_dict() if k.startswith("reg-0.")][:2] == [
        "reg-0.proj.0.weight",  # the projection first, as torchvision registers it
        "reg-0.proj.1.weight",
    ]
    modules = (
        "conv",
        "resnet",
        "inception",
        "squeezenet",
        "densenet",
        "se",
        "convnext",
        "shufflenet",
        "regnet",
        "mobilenet",
        "efficientnet",
        "vit",
        "maxvit",
        "swin",
    )
    assert set(api.library_modules()) == {f"archspec:blocks/{m}" for m in modules}


def test_docs_list_every_library_block() -> None:
    page = (ROOT / "docs" / "blocks.md").read_text(encoding="utf-8")
    for path in sorted((ROOT / "archspec" / "library" / "blocks").glob("*.yaml")):
        module = f"`archspec:blocks/{path.stem}`"
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["blocks"]:
            assert f"| {module} | `{block}` |" in page, (module, block)


def test_fire_matches_torchvision_names() -> None:
    spec = importing('"archspec:blocks/squeezenet"', "[Fire]").replace(
        "{type: relu}",
        "{name: f, type: Fire, squeeze_planes: 16, expand1x1_planes: 64, expand3x3_planes: 64}",
    )
    keys = list(archspec.compile(spec).state_dict())
    assert keys == [
        f"f.{m}.{p}" for m in ("squeeze", "expand1x1", "expand3x3") for p in ("weight", "bias")
    ]


# -- scope, aliases, errors ------------------------------------------------------------


def test_imported_blocks_keep_their_own_scope(tmp_path: Path) -> None:
    """The spec's own `Conv` does not capture the `Conv` an imported block calls."""
    write(
        tmp_path / "lib" / "blocks.yaml",
        """\
        archspec: 1
        blocks:
          Conv:
            layers: [{name: wide, type: conv2d, out_channels: 32, kernel_size: 1}]
          Pair:
            layers: [{name: a, type: Conv}, {name: b, type: Conv}]
        """,
    )
    spec = write(
        tmp_path / "net.yaml",
        """\
        archspec: 1
        name: net
        input: [N, 3, 32, 32]
        use: [{from: lib/blocks.yaml, blocks: [{Pair: Twice}]}]
        blocks:
          Conv:
            layers: [{name: narrow, type: conv2d, out_channels: 4, kernel_size: 1}]
        layers:
          - {name: own, type: Conv}
          - {name: pair, type: Twice}
        """,
    )
    model = archspec.compile(spec)
    assert model.own.narrow.out_channels == 4
    assert model.pair.a.wide.out_channels == 32
    assert model.pair.a._get_name() == "Conv_2"
    shown = api.resolve(spec)
    assert set(shown["blocks"]) == {"Conv", "Conv_2", "Twice"}
    assert "use" not in shown


def test_error_in_imported_block_names_its_file_and_the_import_site(tmp_path: Path) -> None:
    write(
        tmp_path / "lib.yaml",
        """\
        archspec: 1
        blocks:
          Bad:
            layers:
              - {type: conv2d, out_channels: 8, kernel_size: 3, paddin: 1}
        """,
    )
    spec = write(tmp_path / "top.yaml", importing("lib.yaml", "[Bad]").replace("relu", "Bad"))
    err = error_of(spec)
    diag = err.diagnostics[0]
    assert (diag.code, Path(diag.span.file).name, diag.span.line, diag.span.col) == (
        "E201",
        "lib.yaml",
        5,
        57,
    )
    sites = list(diag.span.import_sites())
    assert [(s.file, s.line, s.col) for s in sites] == [(str(spec), 5, 31)]
    text = err.render()
    assert "paddin: 1}" in text  # the imported file's line is quoted
    assert f"= note: imported at {spec}:5:31" in text
    assert diag.to_dict()["imported_at"] == [f"{spec}:5:31"]


def test_lowering_error_in_imported_block_points_into_it(tmp_path: Path) -> None:
    write(
        tmp_path / "lib.yaml",
        """\
        archspec: 1
        blocks:
          Lin:
            layers:
              - {type: flatten}
              - {type: conv2d, out_channels: 8, kernel_size: 3}
        """,
    )
    spec = write(tmp_path / "top.yaml", importing("lib.yaml", "[Lin]").replace("relu", "Lin"))
    result = archspec.check(spec)
    assert not result.ok
    diag = result.diagnostics[0]
    assert Path(diag.span.file).name == "lib.yaml" and diag.span.line == 6
    assert next(diag.span.import_sites()).file == str(spec)


@pytest.mark.parametrize(
    ("blocks", "code", "message"),
    [
        ("[NoSuch]", "E112", "has no block `NoSuch`"),
        ("[BasicBlock, {Bottleneck: BasicBlock}]", "E112", "already imported"),
        ("[{BasicBlock: 3}]", "E110", "is not a block name"),
        ("BasicBlock", "E110", "lists the names"),
    ],
)
def test_bad_imports_are_located(blocks: str, code: str, message: str) -> None:
    err = error_of(importing('"archspec:blocks/resnet"', blocks))
    assert err.error_code == code and message in str(err)
    assert err.span is not None and err.span.line == 5


def test_import_clashing_with_own_block() -> None:
    spec = importing('"archspec:blocks/resnet"', "[BasicBlock]") + (
        "blocks:\n  BasicBlock: {layers: [{type: relu}]}\n"
    )
    err = error_of(spec)
    assert err.error_code == "E112" and "defined in this file" in str(err)


# -- trust -----------------------------------------------------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path the composer reads."""
    seen: list[str] = []
    real = sources.read_spec_text

    def spy(path: str | os.PathLike[str]) -> str:
        seen.append(os.path.realpath(path))
        return real(path)

    monkeypatch.setattr(sources, "read_spec_text", spy)
    return seen


@pytest.mark.parametrize(
    ("ref", "code"),
    [
        ("/etc/passwd", "E110"),
        ("../../x.yaml", "E110"),
        ("sub/../../x.yaml", "E110"),
        ("/dev/zero", "E110"),
        ('"https://example.com/b.yaml"', "E110"),
        ('"file:///etc/passwd"', "E110"),
        ('"C:\\\\x.yaml"', "E110"),
        ("~/x.yaml", "E110"),
        ('"archspec:blocks/../../x"', "E110"),
        ('"archspec:nope"', "E110"),
        ("notes.txt", "E110"),
    ],
)
def test_imports_outside_the_tree_are_refused(
    ref: str, code: str, tmp_path: Path, reads: list[str]
) -> None:
    write(tmp_path / "x.yaml", "archspec: 1\nblocks: {B: {layers: [{type: relu}]}}\n")
    spec = write(tmp_path / "dir" / "net.yaml", importing(ref))
    err = error_of(spec)
    assert err.error_code == code, err
    assert err.span is not None and err.span.file == str(spec) and err.span.line == 5
    assert reads == []


def test_symlink_out_of_the_tree_is_refused(tmp_path: Path, reads: list[str]) -> None:
    outside = write(tmp_path / "secret.yaml", "archspec: 1\nblocks: {B: {layers: []}}\n")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "link.yaml").symlink_to(outside)
    spec = write(tmp_path / "proj" / "net.yaml", importing("link.yaml"))
    err = error_of(spec)
    assert err.error_code == "E110" and "outside the folder" in str(err)
    assert reads == []


def test_symlink_inside_the_tree_is_followed(tmp_path: Path) -> None:
    write(tmp_path / "lib" / "real.yaml", "archspec: 1\nblocks: {B: {layers: [{type: relu}]}}\n")
    (tmp_path / "alias.yaml").symlink_to(tmp_path / "lib" / "real.yaml")
    assert archspec.check(write(tmp_path / "net.yaml", importing("alias.yaml"))).ok


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    err = error_of(write(tmp_path / "net.yaml", importing("pipe.yaml")))
    assert err.error_code == "E100" and "FIFO" in str(err)
    assert err.span is not None and err.span.line == 5


def test_text_specs_import_only_from_the_library(tmp_path: Path, reads: list[str]) -> None:
    write(tmp_path / "x.yaml", "archspec: 1\nblocks: {B: {layers: [{type: relu}]}}\n")
    err = error_of(importing(str(tmp_path / "x.yaml")))
    assert err.error_code == "E110"
    err = error_of(importing("x.yaml"))
    assert err.error_code == "E110" and "given as text" in str(err)
    assert reads == []
    assert archspec.check(importing('"archspec:blocks/resnet"', "[BasicBlock]")).ok


@pytest.mark.parametrize("n", [2, 50])
def test_import_cycles_are_located(n: int, tmp_path: Path) -> None:
    for i in range(n):
        write(
            tmp_path / f"m{i}.yaml",
            f"archspec: 1\nuse: [{{from: m{(i + 1) % n}.yaml, blocks: [B{(i + 1) % n}]}}]\n"
            f"blocks: {{B{i}: {{layers: [{{type: relu}}]}}}}\n",
        )
    spec = write(tmp_path / "net.yaml", importing("m0.yaml", "[B0]"))
    err = error_of(spec)
    assert err.error_code == "E111" and "import cycle" in str(err)
    assert Path(err.span.file).name == f"m{n - 1}.yaml" and err.span.line == 2


@pytest.mark.parametrize("calls", [1, 2])
def test_a_diamond_of_thirty_levels_reads_each_file_once(
    calls: int, tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each level imports the next level's two files, which both import the level below:
    2**30 paths, 60 files, each parsed once. A block that calls both imports at every
    level would expand to 2**30 layers: the expansion limit (E310) stops it, fast."""
    parsed: list[str] = []
    real_load = sources.load_yaml
    monkeypatch.setattr(
        sources, "load_yaml", lambda t, f, **kw: parsed.append(f) or real_load(t, f, **kw)
    )
    depth = 30
    write(tmp_path / f"l{depth}a.yaml", "archspec: 1\nblocks: {Leaf: {layers: [{type: relu}]}}\n")
    for level in range(depth - 1, -1, -1):
        for side in "ab":
            below = (
                [f"l{level + 1}a.yaml"]
                if level == depth - 1
                else [
                    f"l{level + 1}a.yaml",
                    f"l{level + 1}b.yaml",
                ]
            )
            uses = ", ".join(
                f"{{from: {b}, blocks: [{{Leaf: L{i}}}]}}" for i, b in enumerate(below)
            )
            called = ", ".join(f"{{type: L{i}}}" for i in range(min(calls, len(below))))
            write(
                tmp_path / f"l{level}{side}.yaml",
                f"archspec: 1\nuse: [{uses}]\nblocks: {{Leaf: {{layers: [{called}]}}}}\n",
            )
    spec = write(tmp_path / "net.yaml", importing("l0a.yaml", "[Leaf]").replace("relu", "Leaf"))
    started = time.process_time()
    result = archspec.check(spec)
    assert time.process_time() - started < 1.0
    assert result.ok if calls == 1 else [d.code for d in result.diagnostics] == ["E310"]
    assert len(parsed) == len(set(parsed)) == len(reads) == 2 * depth  # l0b is never imported


def test_the_composed_size_is_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path / "big.yaml",
        "archspec: 1\nblocks: {B: {layers: [" + "{type: relu}, " * 50 + "{type: relu}]}}\n",
    )
    spec = write(tmp_path / "net.yaml", importing("big.yaml"))
    assert archspec.check(spec).ok
    monkeypatch.setattr("archspec.compose.MAX_NODES", 60)
    assert error_of(spec).error_code == "E104"
    monkeypatch.undo()
    monkeypatch.setattr(sources, "MAX_TOTAL_BYTES", 300)
    err = error_of(spec)
    assert err.error_code == "E104" and "larger than 300 bytes" in str(err)


def test_a_block_library_refuses_unknown_keys(tmp_path: Path) -> None:
    write(tmp_path / "lib.yaml", "archspec: 1\nblcoks: {B: {layers: []}}\n")
    err = error_of(write(tmp_path / "net.yaml", importing("lib.yaml")))
    assert err.error_code == "E110" and "blcoks" in str(err)
    assert Path(err.span.file).name == "lib.yaml" and err.span.line == 2


def test_an_unreadable_import_is_located(tmp_path: Path) -> None:
    err = error_of(write(tmp_path / "net.yaml", importing("missing.yaml")))
    assert err.error_code == "E100" and err.span is not None and err.span.line == 5
    write(tmp_path / "broken.yaml", "archspec: 1\nblocks: {B: [\n")
    err = error_of(write(tmp_path / "net.yaml", importing("broken.yaml")))
    assert err.error_code == "E101" and Path(err.span.file).name == "broken.yaml"
