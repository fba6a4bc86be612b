"""chunk and split: several outputs that `from` names. The shape rules are torch's at every
size (uneven pieces included), where torch would return another number of pieces is refused
(a domain constraint when the size is a symbol), nothing is held or counted, and compiled
and emitted modules compute what torch.chunk / torch.split compute."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.dims import shape_of
from archspec.errors import ArchSpecError
from archspec.ops import REGISTRY, ShapeContext, ShapeFailure

from .emit_helpers import _load


def spec(body: str, header: str = "input: [N, 8, H, W]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body).lstrip("\n")


def _pieces(kind: str, attrs: dict, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The shape rule's output for every piece, or ShapeFailure."""
    out = []
    for i in range(len(attrs["names"])):
        res = REGISTRY[kind].infer({**attrs, "_index": i}, [shape_of(shape)], ShapeContext())
        out.append(tuple(d.value for d in res.shape))
    return out


def test_chunk_pieces_are_torchs_at_every_size() -> None:
    accepted = refused = 0
    for size in range(1, 25):
        for n in range(2, 7):
            x = torch.empty(2, size, 3)
            expected = [tuple(p.shape) for p in x.chunk(n, dim=1)]
            attrs = {"names": [f"p{i}" for i in range(n)], "chunks": None, "dim": 1}
            if len(expected) == n:
                assert _pieces("chunk", attrs, (2, size, 3)) == expected, (size, n)
                accepted += 1
            else:  # torch returns fewer pieces than names: refused
                with pytest.raises(ShapeFailure) as exc:
                    _pieces("chunk", attrs, (2, size, 3))
                assert exc.value.code == "E404"
                refused += 1
    assert accepted > 80 and refused > 10


def test_split_pieces_are_torchs_at_every_size() -> None:
    checked = 0
    for size in range(1, 20):
        for s in range(1, 8):
            pieces = [tuple(p.shape) for p in torch.empty(size, 2).split(s, dim=0)]
            for k in range(2, 6):
                attrs = {"names": [f"p{i}" for i in range(k)], "split_size": s, "dim": 0}
                if len(pieces) == k:
                    assert _pieces("split", attrs, (size, 2)) == pieces
                else:
                    with pytest.raises(ShapeFailure):
                        _pieces("split", attrs, (size, 2))
                checked += 1
    sizes = {"names": ["a", "b", "c"], "split_size": [1, 5, 2], "dim": -1}
    assert _pieces("split", sizes, (3, 8)) == [(3, 1), (3, 5), (3, 2)]
    with pytest.raises(ShapeFailure):
        _pieces("split", sizes, (3, 9))
    assert checked > 500


def test_a_symbolic_size_becomes_the_domain_torch_has() -> None:
    """Chunking H into 3 needs H - 2 * ceil(H / 3) >= 1: 1, 2 and 4 are refused by torch
    (fewer pieces), the domain says the same for every H up to 60."""
    text = spec(
        """
        layers:
          - {type: chunk, dim: 2, names: [top, middle, bottom]}
          - {type: concat, from: [bottom, middle, top], dim: 2}
        """
    )
    domain = archspec.check(text).domain
    for h in range(1, 61):
        torch_ok = len(torch.empty(1, 8, h, 2).chunk(3, dim=2)) == 3
        assert domain.contains({"N": 1, "H": h, "W": 2}) == torch_ok, h


def test_pieces_are_nodes_from_can_name_and_compile_computes_torchs_result() -> None:
    text = spec(
        """
        layers:
          - {name: conv, type: conv2d, out_channels: 10, kernel_size: 1}
          - {type: chunk, chunks: 2, names: [x1, x2]}
          - {name: branch, type: conv2d, out_channels: 5, kernel_size: 3, padding: 1}
          - {name: joined, type: concat, from: [x1, branch]}
          - {type: split, split_size: [3, 7], names: [a, b]}
          - {name: out, type: add, from: [b, b]}
        """
    )
    graph = build_graph(text)
    assert [n.name for n in graph.root.nodes] == [
        "conv",
        "x1",
        "x2",
        "branch",
        "joined",
        "a",
        "b",
        "out",
    ]
    model = archspec.compile(text).eval()
    x = torch.randn(2, 8, 5, 3)
    with torch.no_grad():
        x1, x2 = model.conv(x).chunk(2, dim=1)
        joined = torch.cat([x1, model.branch(x2)], 1)
        _, b = joined.split([3, 7], dim=1)
        torch.testing.assert_close(model(x), b + b, rtol=0, atol=0)
    summary = archspec.summary(text, input=(1, 8, 5, 3))
    rows = {r.name: r for r in summary.rows}
    for piece in ("x1", "x2", "a", "b"):
        assert rows[piece].params == 0 and rows[piece].macs.value == 0
    assert summary.params == 8 * 10 + 10 + 5 * 5 * 9 + 5


def test_emitted_source_unpacks_the_pieces_as_torchvision_writes_them() -> None:
    text = spec(
        """
        layers:
          - {name: conv, type: conv2d, out_channels: 10, kernel_size: 1}
          - {type: chunk, chunks: 2, names: [x1, x2]}
          - {name: branch, type: conv2d, out_channels: 5, kernel_size: 3, padding: 1}
          - {name: joined, type: concat, from: [x1, branch]}
          - {type: split, split_size: 2, dim: 3, names: [left, right]}
          - {type: concat, from: [right, left], dim: 3}
        """,
        header="input: [N, 8, 6, 4]",
    )
    source = render_module(build_graph(text))
    assert "x1, x2 = conv.chunk(2, dim=1)  # (N, 5, H, W)" in source
    assert "left, right = joined.split(2, dim=3)  # (N, 10, H, 2); (N, 10, H, W - 2)" in source
    model = archspec.compile(text).eval()
    emitted = _load(source, "pieces").T().eval()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(3, 8, 6, 4)
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("layer", "code", "needle"),
    [
        ("{name: c, type: chunk, names: [a, b]}", "E204", "named by `names`"),
        ("{type: chunk, names: [a, a]}", "E204", "repeat a name"),
        ("{type: chunk, names: [a]}", "E204", "at least 2"),
        ("{type: chunk, chunks: 3, names: [a, b]}", "E409", "chunks=3"),
        ("{type: chunk, dim: 4, names: [a, b]}", "E401", "dim=4"),
        ("{type: split, split_size: [3, 4], names: [a, b]}", "E404", "add up"),
        ("{type: split, split_size: [3, 4, 1], names: [a, b]}", "E409", "3 sizes"),
        ("{type: split, split_size: 2, names: [a, b]}", "E404", "more than 2"),
    ],
)
def test_mistakes_are_located(layer: str, code: str, needle: str) -> None:
    text = spec(f"layers:\n  - {layer}\n  - {{type: concat, from: [b, a]}}\n")
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    err = exc.value
    assert err.error_code == code and needle in err.render(), err.render()
    assert err.span is not None and err.span.line == 5


def test_a_piece_read_before_its_chunk_is_declared_later() -> None:
    text = spec(
        """
        layers:
          - {name: early, type: relu, from: x2}
          - {type: chunk, names: [x1, x2], from: input}
        """
    )
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    assert exc.value.error_code == "E305" and "declared later" in exc.value.render()


def test_a_reader_with_the_chunks_when_is_switched_off_with_it() -> None:
    """Only at stride 1 is the input cut, and only then is its piece read: the reader's
    `when` is the chunk's, so a stride-2 instance has neither (no E305)."""
    text = spec(
        """
        params: {stride: 2}
        layers:
          - {type: chunk, names: [x1, x2], when: stride == 1}
          - {name: second, type: relu, from: x2, when: stride == 1}
          - {name: whole, type: relu, from: input, when: stride != 1}
        """
    )
    assert [n.name for n in build_graph(text).root.nodes] == ["whole"]
    assert [n.name for n in build_graph(text, {"stride": 1}).root.nodes] == ["x1", "x2", "second"]
    kept = text.replace(
        "{name: second, type: relu, from: x2, when: stride == 1}",
        "{name: second, type: relu, from: x2}",
    )
    with pytest.raises(ArchSpecError) as exc:
        build_graph(kept)
    assert exc.value.error_code == "E305" and "switched off" in exc.value.render()


def test_outside_the_domain_compile_refuses_as_emitted_source_does() -> None:
    """torch.split returns as many pieces as the size makes; the emitted `a, b = x.split(3,
    dim=2)` refuses a third when it unpacks, and so does the compiled forward, so check's
    domain (3 < H <= 6) is where both run: the compiled one gave a piece of 3 at H = 7."""
    text = spec(
        """
        layers:
          - {type: split, split_size: 3, dim: 2, names: [a, b]}
          - {name: out, type: softsign, from: a}
        """
    )
    domain = archspec.check(text).domain
    graph = build_graph(text)
    emitted = getattr(_load(render_module(graph), "split_count"), graph.class_name)()
    compiled = archspec.compile(text)
    for h in range(1, 9):
        x = torch.randn(2, 8, h, 3)
        ran = []
        for model in (compiled, emitted):
            try:
                ran.append(tuple(model(x).shape) == (2, 8, 3, 3))
            except (ValueError, RuntimeError, IndexError):
                ran.append(False)
        assert ran == [domain.contains({"N": 2, "H": h, "W": 3})] * 2, h
