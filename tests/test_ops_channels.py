"""`in_channels` after a layout change, and `in_features`: lowering follows the channel dim
through every layer, so `in_channels` is never silently a spatial size (E302 with a hint
after a permute), and `in_features` reads the last dim (what a linear takes)."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module

from .emit_helpers import _load


def spec(body: str, header: str = "input: [N, 32, 14, 10]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body).lstrip("\n")


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


MLP = spec(
    """
    layers:
      - {name: to_nhwc, type: permute, dims: [0, 2, 3, 1]}
      - {name: fc1, type: linear, out_features: 4 * in_features}
      - {name: act, type: gelu}
      - {name: fc2, type: linear, out_features: in_features // 4}
      - {name: to_nchw, type: permute, dims: [0, 3, 1, 2]}
      - {name: proj, type: conv2d, out_channels: in_channels * 2, kernel_size: 1}
    """
)


def test_in_features_reads_the_last_dim_and_in_channels_comes_back() -> None:
    graph = build_graph(MLP)
    attrs = {n.name: n.attrs for n in graph.root.nodes}
    assert attrs["fc1"]["out_features"] == 128
    assert attrs["fc2"]["out_features"] == 32
    assert attrs["proj"]["out_channels"] == 64  # channels back at dim 1
    torch.manual_seed(0)
    model = archspec.compile(MLP).eval()
    emitted = _load(render_module(graph), "mlp").T().eval()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 32, 14, 10)
    with torch.no_grad():
        assert model(x).shape == (2, 64, 14, 10)
        torch.testing.assert_close(emitted(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("layers", "where"),
    [
        ("[{type: permute, dims: [0, 2, 3, 1]}]", "the channels are at dim 3 here"),
        ("[{type: permute, dims: [0, 3, 1, 2]}]", "the channels are at dim 2 here"),
        ("[{type: permute, dims: [0, 2, 3, 1]}, {type: relu}]", "the channels are at dim 3 here"),
        (  # (N, H, W, C) to (N, H*W, C): the channels come through whole, now at dim 2
            "[{type: permute, dims: [0, 2, 3, 1]}, {type: flatten, start_dim: 1, end_dim: 2}]",
            "the channels are at dim 2 here",
        ),
        (  # (N, H, W, C) to (N, H, W*C): merged with W, no dim holds them alone
            "[{type: permute, dims: [0, 2, 3, 1]}, {type: flatten, start_dim: 2, end_dim: 3}]",
            "left no dim known to hold the channels",
        ),
    ],
)
def test_in_channels_after_a_permute_is_e302_with_where_the_channels_went(
    layers: str, where: str
) -> None:
    text = spec(
        f"""
        layers:
          - {{name: pre, type: sequential, layers: {layers}}}
          - {{name: bad, type: linear, out_features: in_channels * 2}}
        """
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E302" and err.span is not None
    line = _line(text, "name: bad")
    assert (err.span.line, err.span.col) == (line, text.splitlines()[line - 1].index("in_ch") + 1)
    assert err.message == "unknown name 'in_channels' in expression"
    assert err.hint is not None and where in err.hint and "in_features" in err.hint


def test_a_block_let_reading_in_channels_after_a_permute_says_where_they_went() -> None:
    """The same E302 in a block's `let` (`w: in_channels` after a space-to-depth's
    permute and reshape) gets the same hint; it listed `in_features` alone."""
    text = spec(
        """
        blocks:
          Wide:
            let: {w: in_channels}
            layers:
              - {name: conv, type: conv2d, out_channels: w, kernel_size: 1}
        layers:
          - {name: view, type: reshape, shape: [0, 0, 7, 2, 5, 2]}
          - {name: perm, type: permute, dims: [0, 3, 5, 1, 2, 4]}
          - {name: s2d, type: reshape, shape: [0, -1, 7, 5]}
          - {name: wide, type: Wide}
        """
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E302" and err.message.startswith("let `w`")
    assert err.hint is not None and "left no dim known to hold the channels" in err.hint


def test_layers_that_keep_dim_1_keep_in_channels() -> None:
    """A permute that leaves dim 1 in place, a flatten, a reshape keeping dim 1, a block and a
    residual all leave `in_channels` at dim 1, as before."""
    text = spec(
        """
        blocks:
          Swap:
            layers:
              - {type: permute, dims: [0, 1, 3, 2]}
        layers:
          - {name: swap, type: Swap}
          - {name: a, type: conv2d, out_channels: in_channels + 1, kernel_size: 1}
          - {name: r, type: reshape, shape: [0, 0, -1]}
          - {name: b, type: conv1d, out_channels: in_channels + 1, kernel_size: 1}
          - {name: f, type: flatten}
          - {name: c, type: linear, out_features: "in_channels + in_features"}
        """
    )
    graph = build_graph(text)
    attrs = {n.name: n.attrs for n in graph.root.nodes}
    assert attrs["a"]["out_channels"] == 33
    assert attrs["b"]["out_channels"] == 34
    assert attrs["c"]["out_features"] == 2 * 34 * 140


def test_the_channel_dim_crosses_block_boundaries() -> None:
    """A block whose input is NHWC sees the channels moved; a block that permutes inside
    hands the moved layout to what follows it."""
    text = spec(
        """
        blocks:
          ToNHWC:
            layers:
              - {type: permute, dims: [0, 2, 3, 1]}
          Mlp:
            layers:
              - {name: fc, type: linear, out_features: in_features * 2}
              - {name: bad, type: linear, out_features: in_channels}
        layers:
          - {name: to_nhwc, type: ToNHWC}
          - {name: mlp, type: Mlp}
        """
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E302" and err.span is not None
    assert err.span.line == _line(text, "name: bad")
    assert err.hint is not None and "the channels are at dim 3 here" in err.hint
    ok = build_graph(text.replace("out_features: in_channels}", "out_features: in_features}"))
    mlp = next(n for n in ok.root.nodes if n.name == "mlp")
    assert mlp.shape is not None and [str(d) for d in mlp.shape] == ["N", "14", "10", "64"]
    assert mlp.child is not None
    assert [n.attrs["out_features"] for n in mlp.child.nodes] == [64, 64]


@pytest.mark.parametrize("name", ["in_features", "in_channels"])
def test_a_param_cannot_take_an_input_name(name: str) -> None:
    text = spec(f"params: {{{name}: 3}}\nlayers:\n  - {{type: relu}}\n")
    (err,) = archspec.check(text).errors
    assert err.code == "E204" and f"cannot be named `{name}`" in err.message


@pytest.mark.parametrize("conv", ["conv2d", "conv_transpose2d", "std_conv2d"])
def test_a_conv_puts_the_channels_at_dim_1_whatever_came_before(conv: str) -> None:
    """TResNet's SpaceToDepth (a view to rank 6, a permute, a reshape back to rank 4) loses
    the channel dim; the conv after it makes its `out_channels` at dim 1, so what follows
    reads `in_channels` again (it was E302 with only `in_features` in scope)."""
    text = spec(
        f"""
        blocks:
          Same:
            let: {{w: in_channels}}
            layers:
              - {{name: conv, type: conv2d, out_channels: w, kernel_size: 1}}
        layers:
          - {{name: view, type: reshape, shape: [0, 0, 7, 2, 5, 2]}}
          - {{name: perm, type: permute, dims: [0, 3, 5, 1, 2, 4]}}
          - {{name: s2d, type: reshape, shape: [0, -1, 7, 5]}}
          - {{name: stem, type: {conv}, out_channels: 16, kernel_size: 1}}
          - {{name: block, type: Same}}
          - {{name: head, type: conv2d, out_channels: in_channels * 2, kernel_size: 1}}
        """
    )
    root = build_graph(text).root
    shapes = {n.name: n.shape for n in root.nodes}
    assert shapes["block"][1].value == 16 and shapes["head"][1].value == 32


def test_a_block_called_where_the_channel_dim_is_unknown_is_emitted() -> None:
    """TResNet's stem `conv1` (a ConvNormAct block) reads the space-to-depth's reshape,
    which leaves no dim known to hold the channels, and the same block class serves NCHW
    instances: its constructor's in_channels is the input's dim 1, which its conv reads.
    The emitter asserted (E601 "AssertionError:")."""
    text = spec(
        """
        blocks:
          ConvBn:
            params: {out: int, act: none}
            layers:
              - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}
              - {name: bn, type: batchnorm2d}
              - {type: activation, fn: leaky_relu, when: "act == 'leaky'"}
        layers:
          - {name: view, type: reshape, shape: [0, 0, 7, 2, 5, 2]}
          - {name: perm, type: permute, dims: [0, 3, 5, 1, 2, 4]}
          - {name: s2d, type: reshape, shape: [0, -1, 7, 5]}
          - {name: stem, type: ConvBn, out: 16, act: leaky}
          - {name: next, type: ConvBn, out: 24}
        """
    )
    torch.manual_seed(0)
    model = archspec.compile(text).eval()
    emitted = _load(render_module(build_graph(text)), "s2d").T().eval()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 32, 14, 10)
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), model(x), rtol=0, atol=0)


def test_a_case_without_a_positional_child_registers_none_under_its_number() -> None:
    """A block whose unnamed `leaky_relu` (child "2") exists in some cases only: the cases
    that lack it register None under "2" (`self.2 = None` did not parse, E601)."""
    text = spec(
        """
        blocks:
          ConvAct:
            params: {out: int, stride: 1, act: none}
            layers:
              - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}
              - {name: bn, type: batchnorm2d}
              - {type: activation, fn: relu, when: "act == 'functional'"}
              - {type: leaky_relu, negative_slope: 0.001, when: "act == 'leaky'"}
              - {name: aa, type: maxpool2d, kernel_size: 2, when: stride > 1}
        layers:
          - {name: a, type: ConvAct, out: 16, act: functional}
          - {name: b, type: ConvAct, out: 16, act: leaky, stride: 2}
          - {name: c, type: ConvAct, out: 16, act: leaky}
          - {name: d, type: ConvAct, out: 8}
        """
    )
    torch.manual_seed(0)
    model = archspec.compile(text).eval()
    emitted = _load(render_module(build_graph(text)), "cases").T().eval()
    assert list(emitted.state_dict()) == list(model.state_dict())
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 32, 14, 10)
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("header", "body", "name", "size"),
    [
        # a linear over a length the input leaves open (a 1-d signal of any length)
        (
            "input: [N, 8, L]",
            "layers:\n  - {name: bad, type: linear, out_features: in_features * 2}",
            "in_features",
            "`L`",
        ),
        # an MLP-Mixer's token MLP: the token count is a formula of H and W
        (
            "input: [N, 3, H, W]",
            """
            blocks:
              TokenMlp:
                let: {tokens: in_features}
                layers:
                  - {name: fc, type: linear, out_features: tokens}
            layers:
              - {name: stem, type: conv2d, out_channels: 16, kernel_size: 4, stride: 4}
              - {name: patches, type: flatten, start_dim: 2}
              - {name: mix, type: TokenMlp}
            """,
            "in_features",
            "`(H//4)*(W//4)`",
        ),
        # a block's let, and a block's argument, over channels the input names by a symbol
        (
            "input: [N, C, H, W]",
            """
            blocks:
              Wide:
                let: {w: in_channels}
                layers:
                  - {name: conv, type: conv2d, out_channels: w, kernel_size: 1}
            layers:
              - {name: wide, type: Wide}
            """,
            "in_channels",
            "`C`",
        ),
        (
            "input: [N, C, H, W]",
            """
            blocks:
              Conv:
                params: {w: int}
                layers:
                  - {name: conv, type: conv2d, out_channels: w, kernel_size: 1}
            layers:
              - {name: wide, type: Conv, w: in_channels * 2}
            """,
            "in_channels",
            "`C`",
        ),
    ],
)
def test_a_size_the_input_leaves_open_is_e302_saying_so(
    header: str, body: str, name: str, size: str
) -> None:
    """`in_features` or `in_channels` read where that size is a symbol (or a formula of
    symbols) is E302 whose hint names the size and the input, and says how to make it a
    number; it listed the names in scope, as if the name were misspelt."""
    text = spec(body, header)
    (err,) = archspec.check(text).errors
    assert err.code == "E302" and f"'{name}'" in err.message
    assert err.hint is not None
    assert err.hint.startswith(f"`{name}` is the ") and size in err.hint
    assert "`input:` leaves open" in err.hint and "names in scope" not in err.hint
