"""Pictures: what the layout draws (clusters, side-by-side branches, skips, shapes on edges),
the DOT and Mermaid texts, and SVG through Graphviz or a clear error without it."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import archspec
from archspec import graph as pictures
from archspec.errors import ToolError
from archspec.graph import Picture, picture, to_dot, to_mermaid

SHAPE = re.compile(r"^\(N(, \d+)*\)$")


@pytest.fixture(scope="module")
def googlenet() -> Picture:
    return picture(archspec.build_graph("googlenet"))


@pytest.fixture(scope="module")
def resnet18() -> Picture:
    return picture(archspec.build_graph("resnet18"))


def test_inception_branches_are_side_by_side(googlenet: Picture) -> None:
    inceptions = [c for c in googlenet.clusters() if ": Inception " in c.label]
    assert len(inceptions) == 9
    heads = {tuple(sorted(g)) for g in googlenet.ranks}
    for cluster in inceptions:
        name = cluster.id.removeprefix("cluster:")
        expected = (
            f"{name}.branch1",
            f"{name}.branch2.0",
            f"{name}.branch3.0",
            f"{name}.branch4.0",
        )
        assert expected in heads, name
    concats = [b for b in googlenet.boxes() if b.lines == ["concat"]]
    assert len(concats) == 9
    for box in concats:
        assert len([e for e in googlenet.edges if e.dst == box.id]) == 4


def test_every_edge_carries_a_shape(googlenet: Picture, resnet18: Picture) -> None:
    for pic in (googlenet, resnet18):
        ids = {b.id for b in pic.boxes()}
        for edge in pic.edges:
            assert SHAPE.match(edge.label), edge
            assert edge.src in ids and edge.dst in ids


def test_plain_chain_blocks_stay_closed_and_aux_heads_are_training_only(
    googlenet: Picture,
) -> None:
    conv1 = next(b for b in googlenet.boxes() if b.id == "conv1")
    assert conv1.lines == ["conv1: BasicConv2d", "out=64 k=7 s=2", "p=3"]
    aux = [b for b in googlenet.boxes() if b.id in ("aux1", "aux2")]
    assert len(aux) == 2 and all(b.train_only for b in aux)
    assert {e.dst for e in googlenet.edges if e.train_only} >= {"aux1", "aux2"}


def test_residual_skips_and_projection_shortcuts(resnet18: Picture) -> None:
    skips = [e for e in resnet18.edges if e.skip]
    # identity shortcuts: layer1.0, layer1.1 (folded), layer2.1, layer3.1, layer4.1
    assert [(e.src, e.dst) for e in skips] == [
        ("maxpool", "layer1.0.add"),
        ("layer2.0.activation", "layer2.1.add"),
        ("layer3.0.activation", "layer3.1.add"),
        ("layer4.0.activation", "layer4.1.add"),
    ]
    assert {"cluster:layer2.0.downsample", "cluster:layer4.0.downsample"} <= {
        c.id for c in resnet18.clusters()
    }
    # the projection path sits beside the body it bypasses
    assert ["layer2.0.conv1", "layer2.0.downsample.0"] in resnet18.ranks


def test_identical_blocks_fold_into_one_box() -> None:
    pic = picture(archspec.build_graph("resnet50"))
    folded = {b.id: b.lines for b in pic.boxes() if b.lines[-1].startswith("same as")}
    assert folded == {
        "layer1.2": ["2: Bottleneck", "same as 1"],
        "layer2.2": ["2-3: Bottleneck x2", "same as 1"],
        "layer3.2": ["2-5: Bottleneck x4", "same as 1"],
        "layer4.2": ["2: Bottleneck", "same as 1"],
    }
    unfolded = picture(archspec.build_graph("resnet50"), fold=False)
    blocks = [c for c in unfolded.clusters() if ": Bottleneck" in c.label]
    assert len(blocks) == 16


def test_depth_zero_draws_each_block_as_one_box() -> None:
    pic = picture(archspec.build_graph("googlenet"), depth=0)
    assert [c for c in pic.clusters() if c.kind == "block"] == []
    box = next(b for b in pic.boxes() if b.id == "inception3a")
    assert box.lines[0] == "inception3a: Inception"
    deep = picture(archspec.build_graph("googlenet"), depth=2)
    assert any(c.id == "cluster:inception3a.branch1" for c in deep.clusters())
    with pytest.raises(ValueError):
        picture(archspec.build_graph("lenet5"), depth=-1)


def test_dot_text_is_well_formed(googlenet: Picture) -> None:
    text = to_dot(googlenet)
    assert text.startswith('digraph "googlenet" {') and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    assert 'subgraph "cluster:inception3a" {' in text
    assert "newrank=true" in text
    assert (
        '{ rank=same; "inception3a.branch1"; "inception3a.branch2.0"; '
        '"inception3a.branch3.0"; "inception3a.branch4.0"; }' in text
    )
    assert '"maxpool2" -> "inception3a.branch1" [label=" (N, 192, 28, 28)"];' in text


def test_dot_quotes_labels() -> None:
    assert pictures._q('a "b"\\c\nd') == '"a \\"b\\"\\\\c\\nd"'


def test_mermaid_text_is_well_formed(resnet18: Picture) -> None:
    text = to_mermaid(resnet18)
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    opens = sum(1 for x in lines if x.strip().startswith("subgraph "))
    assert opens == sum(1 for x in lines if x.strip() == "end") == len(list(resnet18.clusters()))
    declared = set(re.findall(r"^\s+(n\d+)[\[(]", text, flags=re.M))
    used = re.findall(r"^\s+(n\d+) (?:-->|==>|-\.->)\|\"[^\"]+\"\| (n\d+)$", text, flags=re.M)
    assert len(used) == len(resnet18.edges)
    assert {n for pair in used for n in pair} <= declared
    assert text.count("==>") == 4  # the identity skips


def test_unknown_suffix_is_an_error() -> None:
    with pytest.raises(ToolError, match=r"unknown picture format '\.jpg'"):
        pictures.format_for("net.jpg")


def test_svg_without_graphviz_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pictures.shutil, "which", lambda name: None)
    g = archspec.build_graph("lenet5")
    with pytest.raises(ToolError) as info:
        pictures.render(g, "svg")
    assert "apt-get install graphviz" in info.value.hint
    assert "brew install graphviz" in info.value.hint
    assert ".dot or .mmd" in info.value.hint
    # the text formats need nothing
    assert pictures.render(g, "dot").startswith(b"digraph")
    assert pictures.render(g, "mermaid").startswith(b"flowchart")


def test_svg_follows_what_is_installed(tmp_path: Path) -> None:
    """With `dot` on PATH the SVG shows Inception's branches on one row; without it, the
    error says how to install Graphviz."""
    g = archspec.build_graph("googlenet")
    out = tmp_path / "g.svg"
    if shutil.which("dot") is None:
        with pytest.raises(ToolError, match="Graphviz"):
            pictures.write_graph(g, out)
        assert not out.exists()
        return
    pictures.write_graph(g, out)
    centres = _node_centres(out.read_text())
    heads = [f"inception4a.branch{i}" + ("" if i == 1 else ".0") for i in (1, 2, 3, 4)]
    ys = {round(centres[h][1]) for h in heads}
    xs = [centres[h][0] for h in heads]
    assert len(ys) == 1, "the four branches start on one row"
    assert xs == sorted(xs) and len(set(xs)) == 4, "side by side, in branch order"
    assert centres["inception4a.concat"][1] > centres["inception4a.branch1"][1]


def _node_centres(svg: str) -> dict[str, tuple[float, float]]:
    """Node id -> centre of its outline, from Graphviz's SVG (<g class="node"><title>)."""
    ns = {"svg": "http://www.w3.org/2000/svg"}
    out = {}
    for node in ET.fromstring(svg).iterfind(".//svg:g[@class='node']", ns):
        title = node.find("svg:title", ns)
        shape = node.find("svg:path", ns)
        if shape is None:
            shape = node.find("svg:polygon", ns)
        if title is None or shape is None:
            continue
        nums = [
            float(v)
            for v in re.findall(r"-?\d+(?:\.\d+)?", shape.get("d") or shape.get("points") or "")
        ]
        xs, ys = nums[0::2], nums[1::2]
        out[title.text or ""] = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
    return out


def test_dot_output_parses_with_graphviz_when_present(googlenet: Picture) -> None:
    exe = shutil.which("dot")
    if exe is None:
        with pytest.raises(ToolError, match="not on PATH"):
            pictures.run_dot(to_dot(googlenet), "canon")
        return
    done = subprocess.run([exe, "-Tcanon"], input=to_dot(googlenet).encode(), capture_output=True)
    assert done.returncode == 0
    assert done.stderr == b""


def test_write_graph_replaces_only_its_own_pictures(tmp_path: Path) -> None:
    """archspec.graph.write_graph follows the one rule for every writer (archspec.files)."""
    from archspec.errors import ArchSpecError
    from archspec.graph import write_graph

    g = archspec.api.build_graph("lenet5")
    foreign = tmp_path / "notes.mmd"
    foreign.write_text("my own notes\n")
    with pytest.raises(ArchSpecError) as info:
        write_graph(g, foreign)
    assert info.value.error_code == "E603"
    assert foreign.read_text() == "my own notes\n"
    assert write_graph(g, foreign, force=True) == "mermaid"
    assert foreign.read_text().startswith("flowchart TB")
    assert write_graph(g, foreign) == "mermaid"  # now it is archspec's own picture
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mmd"]
