"""Blocks of several inputs (`inputs: [x, skip]`): a U-Net's `Up(x, skip)` through every stage.

A small U-Net is built three ways (compiled, emitted, and a plain torch module written
here) and they must agree on keys, parameters, MACs and numbers; the instance memos must
tell calls apart by every input; wrong calls are located errors.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.errors import ArchSpecError
from archspec.graph import render

from .emit_helpers import _load, matches_compile

UNET = textwrap.dedent(
    """\
    archspec: 1
    name: tiny_unet
    input: [N, 3, H, W]
    params:
      base: 4
    blocks:
      DoubleConv:
        params: {out_channels: int}
        layers:
          - {name: conv1, type: conv2d, out_channels: out_channels, kernel_size: 3, padding: 1}
          - {type: relu}
          - {name: conv2, type: conv2d, out_channels: out_channels, kernel_size: 3, padding: 1}
          - {type: relu}
      Up:
        inputs: [x, skip]
        params: {out_channels: int}
        layers:
          - {name: up, type: conv_transpose2d, out_channels: in_channels // 2, kernel_size: 2,
             stride: 2}
          - {name: cat, type: concat, from: [skip, up]}
          - {name: conv, type: DoubleConv, out_channels: out_channels}
    layers:
      - {name: enc1, type: DoubleConv, out_channels: base}
      - {name: pool1, type: maxpool2d, kernel_size: 2}
      - {name: enc2, type: DoubleConv, out_channels: base * 2}
      - {name: pool2, type: maxpool2d, kernel_size: 2}
      - {name: enc3, type: DoubleConv, out_channels: base * 4}
      - {name: pool3, type: maxpool2d, kernel_size: 2}
      - {name: bottom, type: DoubleConv, out_channels: base * 8}
      - {name: up3, type: Up, out_channels: base * 4, from: [bottom, enc3]}
      - {name: up2, type: Up, out_channels: base * 2, from: [up3, enc2]}
      - {name: up1, type: Up, out_channels: base, from: [up2, enc1]}
      - {name: head, type: conv2d, out_channels: 2, kernel_size: 1}
    """
)


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.add_module("1", nn.ReLU())
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.add_module("3", nn.ReLU())


class Up(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cskip + cin // 2, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], 1))


class UNet(nn.Module):
    """The U-Net of UNET, written by hand."""

    def __init__(self, b: int = 4) -> None:
        super().__init__()
        self.enc1, self.pool1 = DoubleConv(3, b), nn.MaxPool2d(2)
        self.enc2, self.pool2 = DoubleConv(b, 2 * b), nn.MaxPool2d(2)
        self.enc3, self.pool3 = DoubleConv(2 * b, 4 * b), nn.MaxPool2d(2)
        self.bottom = DoubleConv(4 * b, 8 * b)
        self.up3 = Up(8 * b, 4 * b, 4 * b)
        self.up2 = Up(4 * b, 2 * b, 2 * b)
        self.up1 = Up(2 * b, b, b)
        self.head = nn.Conv2d(b, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool1(e1))
        e3 = self.enc3(self.pool2(e2))
        y = self.bottom(self.pool3(e3))
        y = self.up1(self.up2(self.up3(y, e3), e2), e1)
        return self.head(y)


def _error(text: str) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        build_graph(text)
    return info.value


def test_a_unet_compiles_emits_and_matches_a_hand_written_one() -> None:
    source = matches_compile(UNET, (2, 3, 24, 16))  # keys, dtypes, shapes and numbers
    assert source.count("class Up(nn.Module)") == 1  # one class for the three calls
    assert "def forward(self, x: torch.Tensor, skip: torch.Tensor)" in source
    assert "self.up3(bottom, enc3)" in source
    # shape comments: the skip's sizes are symbols of its own, the join's requirement aside
    assert "        # skip: (N, skip_channels, H_skip, W_skip)\n" in source
    assert "torch.cat([skip, up], 1)  # (N, skip_channels + in_channels // 2, H_skip, W_skip)" in (
        source
    )
    compiled = archspec.compile(UNET).eval()
    ref = UNet().eval()
    assert [(k, v.shape) for k, v in ref.state_dict().items()] == [
        (k, v.shape) for k, v in compiled.state_dict().items()
    ]
    ref.load_state_dict(compiled.state_dict())
    x = torch.randn(2, 3, 24, 16)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), ref(x))
    # parameters and MACs: the spec's own count against the hand-written module's
    mine = archspec.summary(UNET, input=(1, 3, 32, 48))
    theirs = archspec.summary(ref, input_size=(1, 3, 32, 48))
    assert mine.params == theirs.params == sum(p.numel() for p in ref.parameters())
    assert mine.macs.value == theirs.macs.value > 0


def test_the_emitted_unet_takes_other_widths() -> None:
    source = render_module(build_graph(UNET))
    cls = _load(source, "unet_widths").TinyUnet
    model, ref = cls(base=3).eval(), UNet(3).eval()
    ref.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


def test_the_domain_follows_the_skips() -> None:
    report = archspec.check(UNET)
    assert report.ok, report.diagnostics
    assert report.domain_text.endswith("with H % 8 == 0 and W % 8 == 0"), report.domain_text
    bad = archspec.check(UNET, input=(1, 3, 20, 16))  # 20 is no multiple of 8
    assert not bad.ok
    (d,) = bad.diagnostics
    assert d.code == "E403" and d.message.startswith("up3.cat:"), d  # says which call
    assert d.span is not None and d.span.line == 20  # the concat inside the block


MIX = textwrap.dedent(
    """\
    archspec: 1
    name: mix
    input: [N, 3, H, W]
    blocks:
      Mix:
        inputs: [x, y]
        layers:
          - {name: cat, type: concat, from: [x, y]}
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1}
      Pick:
        inputs: [x, y]
        layers:
          - {name: conv, type: conv2d, out_channels: in_channels, kernel_size: 1, from: y}
    layers:
      - {name: a, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: b, type: conv2d, out_channels: 4, kernel_size: 1, from: input}
      - {name: m1, type: Mix, from: [input, a]}
      - {name: m2, type: Mix, from: [input, b]}
      - {name: small, type: maxpool2d, kernel_size: 2, from: input}
      - {name: p1, type: Pick, from: [input, input]}
      - {name: p2, type: Pick, from: [input, small]}
      - {name: out, type: concat, from: [m1, m2]}
    outputs: [out, p1, p2]
    """
)


def test_instances_differing_only_in_a_later_input_are_not_one() -> None:
    graph = build_graph(MIX)
    nodes = {n.name: n for n in graph.root.nodes}
    # same block, arguments and first input: the lowering memo must key the second one
    assert nodes["m1"].child.node("conv").attrs["in_channels"] == 11
    assert nodes["m2"].child.node("conv").attrs["in_channels"] == 7
    # and so must the shape pass's walk memo, over a symbolic input
    shapes = archspec.check(MIX).to_dict()["shapes"]
    assert shapes["p1"] == "(N, 3, H, W)" and shapes["p2"] == "(N, 3, H//2, W//2)", shapes
    matches_compile(MIX.replace("[N, 3, H, W]", "[N, 3, 8, 8]"), (2, 3, 8, 8))


@pytest.mark.parametrize(
    ("call", "code", "line", "col", "said"),
    [
        ("{name: m, type: Mix, from: [a]}", "E305", 12, 32, "takes 2 inputs (x, y), `from` names"),
        ("{name: m, type: Mix}", "E305", 12, 5, "this call has no `from`"),
        ("{name: m, type: Mix, from: [a, a, a]}", "E305", 12, 32, "`from` names 3"),
        ("{name: m, type: One, from: [a, input]}", "E305", 12, 32, "`One` takes one input"),
        ("{type: repeat, count: 2, layer: {type: Mix}}", "E305", 12, 37, "has no `from`"),
        ("{type: residual, body: [{type: Mix}]}", "E305", 12, 29, "has no `from`"),
        (
            "{type: parallel, branches: {a: {type: Mix}, b: {type: relu}}}",
            "E305",
            12,
            36,
            "has no `from`",
        ),
    ],
)
def test_a_call_with_the_wrong_inputs_is_located(call, code, line, col, said) -> None:
    text = textwrap.dedent(
        """\
        archspec: 1
        name: calls
        input: [N, 4, 8, 8]
        blocks:
          Mix:
            inputs: [x, y]
            layers: [{type: add, from: [x, y]}]
          One:
            layers: [{type: relu}]
        layers:
          - {name: a, type: relu}
          - CALL
        """
    ).replace("CALL", call)
    e = _error(text)
    assert e.error_code == code, e.render()
    assert e.span is not None and (e.span.line, e.span.col) == (line, col), e.render()
    assert said in e.render(), e.render()
    if "Mix" in call:
        assert "from: [<x>, <y>]" in (e.hint or "")
    else:
        assert "inputs: [x, skip]" in (e.hint or "")


@pytest.mark.parametrize(
    ("inputs", "layer", "code", "said"),
    [
        ("[x, x]", "{type: add, from: [x, input]}", "E204", "`x` is named twice"),
        ("[x, input]", "{type: relu}", "E204", "'input' is reserved"),
        ("[x]", "{type: relu}", "E204", "at least 2"),
        ("[x, y]", "{name: y, type: relu}", "E304", "names one of the block's `inputs:`"),
        ("[x, y]", "{type: add, from: [x, z]}", "E305", "unknown reference `z`"),
    ],
)
def test_a_bad_declaration_is_located(inputs, layer, code, said) -> None:
    text = textwrap.dedent(
        f"""\
        archspec: 1
        name: decl
        input: [N, 4, 8, 8]
        blocks:
          Two:
            inputs: {inputs}
            layers: [{layer}]
        layers:
          - {{name: m, type: Two, from: [input, input]}}
        """
    )
    e = _error(text)
    assert e.error_code == code, e.render()
    assert said in e.render(), e.render()
    assert e.span is not None and e.span.line in (6, 7), e.render()


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ("params: {skip: {type: int, default: 1}}", "one of its params"),
        ("let: {skip: 3}", "one of its lets"),
    ],
)
def test_an_input_named_like_a_param_or_let_is_refused(extra, said) -> None:
    """An input sharing its name with a value of the block: `from: [x, skip]` reads the
    tensor while `skip * 2` reads the value, one name meaning two things in one block."""
    text = textwrap.dedent(
        f"""\
        archspec: 1
        name: decl
        input: [N, 4, 8, 8]
        blocks:
          Two:
            inputs: [x, skip]
            {extra}
            layers: [{{type: add, from: [x, skip]}}]
        layers:
          - {{name: m, type: Two, from: [input, input]}}
        """
    )
    e = _error(text)
    assert e.error_code == "E304", e.render()
    assert said in e.render() and "input `skip` of block `Two`" in e.render(), e.render()
    assert e.span is not None and (e.span.line, e.span.col) == (6, 17), e.render()


NESTED = textwrap.dedent(
    """\
    archspec: 1
    name: nested
    input: [N, 4, 8, 8]
    params:
      use_s2: true
    blocks:
      Gate:
        inputs: [x, g]
        params: {width: int}
        let: {cin: in_channels}
        checkpoint: true
        layers:
          - {name: proj, type: conv2d, out_channels: cin, kernel_size: 1, from: g}
          - {name: sig, type: activation, fn: sigmoid}
          - {name: out, type: mul, from: [x, sig]}
          - {name: conv, type: conv2d, out_channels: width, kernel_size: 3, padding: 1}
      Stage:
        inputs: [x, side]
        params: {width: int}
        layers:
          - {name: gate, type: Gate, width: width, from: [x, side]}
          - {name: gate2, type: Gate, width: width, from: [gate, side]}
    layers:
      - {name: side, type: conv2d, out_channels: 6, kernel_size: 1}
      - {name: s1, type: Stage, width: 4, from: [input, side]}
      - {name: s2, type: Stage, width: 4, from: [s1, side], when: use_s2}
      - {name: s3, type: Stage, width: 4, from: [s1, side], when: not use_s2}
      - {type: repeat, count: 2, layer: {type: sequential, layers: [
          {type: Gate, width: 4, from: [input, input]}]}}
    """
)


def test_nested_checkpointed_and_switched_calls() -> None:
    source = matches_compile(NESTED, (2, 4, 8, 8))
    assert "def forward(self, x: torch.Tensor, side: torch.Tensor)" in source
    assert "torch.utils.checkpoint.checkpoint(self._forward_impl, x, g," in source
    graph = build_graph(NESTED)
    names = [n.name for n in graph.root.nodes]
    assert "s2" in names and "s3" not in names
    gate = graph.root.node("s1").child.node("gate").child
    assert gate.node("proj").attrs["in_channels"] == 6  # the second input's width
    off = build_graph(NESTED, {"use_s2": False})
    assert [n.name for n in off.root.nodes if n.name.startswith("s")] == ["side", "s1", "s3"]
    # training with grads runs the checkpointed instances, compiled and emitted alike
    model = archspec.compile(NESTED).train()
    emitted = _load(source, "nested_train").Nested().train()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(model(x), emitted(x))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_pictures_draw_an_edge_from_every_input() -> None:
    graph = build_graph(UNET)
    closed = render(graph, "dot", depth=0).decode()
    assert '"enc3" -> "up3"' in closed and '"bottom" -> "up3"' in closed
    opened = render(graph, "dot", depth=1).decode()
    assert '"enc3.3" -> "up3.cat"' in opened and '"up3.up" -> "up3.cat"' in opened
    mermaid = render(graph, "mermaid", depth=1).decode()
    assert mermaid.count("-->") == opened.count(" -> ")


def test_a_child_called_with_two_tensors_imports_as_a_block_of_two_inputs() -> None:
    model = UNet(2).eval()
    text = archspec.from_module(model, torch.randn(1, 3, 16, 16))
    assert "    inputs: [x, skip]\n" in text
    assert "{name: up3, type: Up, from: [bottom, enc3]" in text
    assert "{name: cat, type: concat, from: [skip, up]}" in text
    compiled = archspec.compile(text).eval()
    compiled.load_state_dict(model.state_dict())  # the same keys and shapes
    x = torch.randn(2, 3, 24, 32)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + y


class _Starred(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.conv(xs[0])


class _Calls(nn.Module):
    def __init__(self, child: nn.Module) -> None:
        super().__init__()
        self.pre, self.child = nn.Conv2d(3, 3, 1), child

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.child(self.pre(x), x)


@pytest.mark.parametrize(
    ("model", "said"),
    [
        (_TwoInputs(), "_TwoInputs.forward takes 2 inputs (x, y), and 1 example was given"),
        (_Calls(_Starred()), "calls `self.child` with *xs=(x,) besides its tensor"),
    ],
)
def test_what_import_cannot_state_of_several_tensors_is_refused(model, said) -> None:
    from archspec.importer import ImportFailure

    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model.eval(), torch.randn(1, 3, 8, 8))
    assert info.value.error_code == "E904", info.value.render()
    assert said in str(info.value), info.value.render()


def test_a_block_may_return_an_input_and_an_unread_one_is_a_warning() -> None:
    text = textwrap.dedent(
        """\
        archspec: 1
        name: ends
        input: [N, 4, 8, 8]
        blocks:
          Second:
            inputs: [x, y]
            outputs: [y]
            layers: [{name: r, type: relu}]
          Unread:
            inputs: [x, y]
            layers: [{name: r, type: relu}]
        layers:
          - {name: a, type: conv2d, out_channels: 6, kernel_size: 1}
          - {name: m, type: Second, from: [input, a]}
          - {name: u, type: Unread, from: [m, a]}
        """
    )
    graph = build_graph(text)
    assert graph.root.node("m").shape[1] == 6  # the block returns its second input
    source = matches_compile(text, (2, 4, 8, 8))
    assert "def forward(self, x: torch.Tensor, y: torch.Tensor)" in source
    warnings = [d for d in archspec.check(text).diagnostics if d.code == "W401"]
    said = [d.message for d in warnings]
    assert "input `y` of u (block Unread) is never used" in said, said
    (unread,) = [d for d in warnings if "input `y`" in d.message]
    assert unread.span is not None and unread.span.line == 15  # at the call


ROWS = textwrap.dedent(
    """\
    archspec: 1
    name: rows
    input: [N, 4, 8, 8]
    blocks:
      Gate:
        inputs: [x, g]
        params: {width: int}
        layers:
          - {name: proj, type: conv2d, out_channels: width, kernel_size: 1, from: g}
          - {name: conv, type: conv2d, out_channels: width, kernel_size: 1, from: x}
          - {name: out, type: add, from: [conv, proj]}
    layers:
      - name: stages
        type: for_each
        rows: [[4], [8]]
        fields: [w]
        layer: {type: sequential, layers: [{type: Gate, width: w, from: [input, input]}]}
    """
)


def test_for_each_copies_of_a_block_of_two_inputs() -> None:
    source = matches_compile(ROWS, (2, 4, 8, 8))
    assert source.count("class Gate(nn.Module)") == 1
    graph = build_graph(ROWS)
    widths = [
        n.child.nodes[0].child.node("out").shape[1] for n in graph.root.node("stages").child.nodes
    ]
    assert widths == [4, 8]
    # a copy without `from` reads one node: E305 at the copy's call
    e = _error(
        ROWS + "  - {type: for_each, rows: [[5]], fields: [w], layer: {type: Gate, width: w}}\n"
    )
    assert e.error_code == "E305" and "this call has no `from`" in e.render(), e.render()
    assert e.span is not None and (e.span.line, e.span.col) == (18, 55), e.render()


#: `Up` writes its skip's H and W as numbers (a LayerNorm over them), so the caller that
#: makes the skip (a pool of `s`) is built for its `s`, as for a first input's sizes
SIZED_SKIP = textwrap.dedent(
    """\
    archspec: 1
    name: sized_skip
    input: [N, 4, 16, 16]
    blocks:
      Up:
        inputs: [x, skip]
        layers:
          - {name: norm, type: layer_norm, dims: 2, from: skip}
          - {name: cat, type: concat, from: [norm, skip]}
      Outer:
        params: {s: int}
        layers:
          - {name: pool, type: maxpool2d, kernel_size: s}
          - {name: up, type: Up, from: [input, pool]}
    layers:
      - {name: outer, type: Outer, s: 2}
    """
)


def test_a_later_input_size_a_class_holds_fixes_what_gives_it() -> None:
    source = matches_compile(SIZED_SKIP, (2, 4, 16, 16))
    assert "self.norm = nn.LayerNorm([8, 8])" in source
    assert "Built for s=2" in source and "self.pool = nn.MaxPool2d(2)" in source
    assert "def __init__(self, s: int)" not in source
