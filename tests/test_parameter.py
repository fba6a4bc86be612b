"""`parameter`: learned tensors owned by a block (ConvNeXt's layer_scale, a class token,
a position embedding): keys one level up from any layer's, shape rule, counts, init, and
emitted source as torchvision writes it."""

from __future__ import annotations

import textwrap
from typing import Any, Literal

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError
from archspec.ops import LayerSpec, Op, register
from tests.emit_helpers import _load

CNBLOCK = """
archspec: 1
name: scaled
input: [N, 8, H, W]
params:
  layer_scale: 1.0e-6
blocks:
  CNBlock:
    params: {dim: int, layer_scale: float, p: float}
    layers:
      - name: block
        type: sequential
        layers:
          - {type: conv2d, in_channels: dim, out_channels: dim, kernel_size: 7, padding: 3,
             groups: dim}
          - {type: permute, dims: [0, 2, 3, 1]}
          - {type: layer_norm, eps: 1.0e-6}
          - {type: linear, out_features: 4 * dim}
          - {type: gelu}
          - {type: linear, out_features: dim}
          - {type: permute, dims: [0, 3, 1, 2]}
      # after `block`, as torchvision writes it; it reads no input and is not in the flow
      - {name: layer_scale, type: parameter, shape: [dim, 1, 1], value: layer_scale}
      - {name: scaled, type: mul, from: [layer_scale, block]}
      - {name: stochastic_depth, type: stochastic_depth, p: p, mode: row}
      - {name: out, type: add, from: [stochastic_depth, input]}
layers:
  - {type: CNBlock, dim: 8, layer_scale: layer_scale, p: 0.0}
  - {type: conv2d, out_channels: 16, kernel_size: 1}
  - {type: CNBlock, dim: 16, layer_scale: 0.5, p: 0.1}
  - {name: tok, type: parameter, shape: [1, 16, 1, 1], init: normal, std: 0.02}
  - {key: pos-emb, type: parameter, shape: [16, 1, 1], init: trunc_normal, std: 0.02}
  - {name: joined, type: add, from: ['2', tok, pos-emb]}
"""


def test_block_tensors_sit_on_the_block_before_its_children() -> None:
    """torch saves a module's own parameters before its children's, as torchvision's
    CNBlock's `features.1.0.layer_scale` precedes `features.1.0.block.0.weight`."""
    model = archspec.compile(CNBLOCK)
    keys = list(model.state_dict())
    assert keys[:3] == ["tok", "pos-emb", "0.layer_scale"]
    assert keys[3] == "0.block.0.weight" and "2.layer_scale" in keys
    assert tuple(model.state_dict()["0.layer_scale"].shape) == (8, 1, 1)
    assert tuple(model.state_dict()["2.layer_scale"].shape) == (16, 1, 1)
    assert isinstance(model.get_parameter("pos-emb"), torch.nn.Parameter)


def test_counts_and_shapes() -> None:
    graph = archspec.build_graph(CNBLOCK)
    model = archspec.compile(CNBLOCK, device="meta")
    table = archspec.summary(CNBLOCK, input=(1, 8, 16, 16))
    assert table.params == sum(p.numel() for p in model.parameters())
    scale = graph.root.node("0").child.node("layer_scale")
    assert [str(d) for d in scale.shape] == ["8", "1", "1"] and scale.inputs == ()
    # the mul broadcasts (8, 1, 1) against (N, 8, H, W), symbolically
    assert [str(d) for d in graph.root.node("0").child.node("scaled").shape] == [
        "N",
        "8",
        "H",
        "W",
    ]


def test_init_as_declared() -> None:
    torch.manual_seed(0)
    model = archspec.compile(CNBLOCK)
    sd = model.state_dict()
    assert torch.equal(sd["0.layer_scale"], torch.ones(8, 1, 1) * 1e-6)
    assert torch.equal(sd["2.layer_scale"], torch.full((16, 1, 1), 0.5))
    assert 0.005 < float(sd["tok"].std()) < 0.05
    assert float(sd["pos-emb"].abs().max()) <= 2.0  # truncated at +-2


def test_emitted_source_writes_torchvision_s_layer_scale_and_equals_compile() -> None:
    source = archspec.emit(CNBLOCK)
    block = source[source.index("class CNBlock") : source.index("class Scaled")]
    assert "def __init__(self, dim: int, layer_scale: float, p: float) -> None:" in block
    assert "self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)" in block
    assert "nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)" in block
    assert "= self.layer_scale * " in block and source.count("class CNBlock") == 1
    assert 'self.register_parameter(\n            "pos-emb",' in source
    assert "self.tok = nn.Parameter(torch.empty(1, 16, 1, 1).normal_(std=0.02))" in source
    emitted = _load(source, "param").Scaled()
    compiled = archspec.compile(CNBLOCK)
    assert list(emitted.state_dict()) == list(compiled.state_dict())
    emitted.load_state_dict(compiled.state_dict())
    x = torch.randn(2, 8, 12, 12)
    torch.testing.assert_close(emitted.eval()(x), compiled.eval()(x))
    assert compiled.eval()(x).shape == (2, 16, 12, 12)


def _spec(body: str) -> str:
    return "archspec: 1\nname: t\ninput: [N, 8, 4, 4]\n" + textwrap.dedent(body)


@pytest.mark.parametrize(
    "body,expected",
    [
        ("layers:\n  - {name: p, type: parameter, shape: [8], from: input}\n", ("E305", 5, 50)),
        ("layers:\n  - {name: p, type: parameter, shape: [8, 0]}\n", ("E309", 5, 39)),
        (
            "layers:\n  - {name: p, type: parameter, shape: [8], init: trunc_normal, std: 0}\n",
            ("E204", 5, 69),
        ),
        (
            "layers:\n  - {name: p, type: parameter, shape: [100000, 100000, 10]}\n",
            ("E409", 5, 39),
        ),
        # a parameter that cannot broadcast against what it joins
        (
            "layers:\n  - {name: p, type: parameter, shape: [3, 1, 1]}\n"
            "  - {type: mul, from: [input, p]}\n",
            ("E402", 6, 5),
        ),
    ],
)
def test_parameter_errors_are_located(body: str, expected: tuple[str, int, int]) -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(_spec(body))
    e = info.value
    assert e.span is not None and (e.error_code, e.span.line, e.span.col) == expected, e.render()


def test_a_tensor_op_reads_no_input() -> None:
    class BadSpec(LayerSpec):
        type: Literal["bad_tensor"]

    class Bad(Op):
        kind = "bad_tensor"
        spec = BadSpec
        style = "tensor"

        def infer(self, attrs: Any, inputs: Any, ctx: Any) -> Any:
            raise NotImplementedError

        def build(self, attrs: Any) -> Any:
            raise NotImplementedError

        def emit(self, a: Any, lit: Any) -> str:
            return ""

    with pytest.raises(TypeError, match="arity"):
        register(Bad)


BUFFERS = """
archspec: 1
name: buffered
input: [N, 4, H, W]
blocks:
  Holder:
    layers:
      - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
      - {name: relative_position_index, type: buffer, fill: relative_position_index,
         window: [3, 3], dtype: int64}
      - {name: scale, type: buffer, shape: [4, 1, 1], value: 2.0, persistent: false}
      - {name: ids, type: buffer, shape: [2, 3], fill: arange, dtype: int64}
      - {name: scaled, type: mul, from: [conv, scale]}
layers:
  - {name: h, type: Holder}
"""


def test_buffers_are_registered_as_declared() -> None:
    """A buffer is state of its block, not learned: in the state_dict (before the children's
    tensors, as torch saves a module's own) unless `persistent: false`, never a parameter."""
    model = archspec.compile(BUFFERS)
    state = model.state_dict()
    assert [(k, tuple(v.shape), v.dtype) for k, v in state.items()] == [
        ("h.relative_position_index", (9, 9), torch.int64),
        ("h.ids", (2, 3), torch.int64),
        ("h.conv.weight", (4, 4, 1, 1), torch.float32),
        ("h.conv.bias", (4,), torch.float32),
    ]
    assert [k for k, _ in model.named_buffers()] == [
        "h.relative_position_index",
        "h.scale",
        "h.ids",
    ]
    assert sum(p.numel() for p in model.parameters()) == 20
    assert torch.equal(model.h.ids, torch.arange(6).reshape(2, 3))
    index = model.h.relative_position_index
    for i in range(9):
        for j in range(9):
            (ri, ci), (rj, cj) = divmod(i, 3), divmod(j, 3)
            assert index[i, j] == (ri - rj + 2) * 5 + (ci - cj + 2)
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(model(x), model.h.conv(x) * 2.0)
    summary = archspec.summary(BUFFERS, input=(1, 4, 5, 5))
    assert summary.params == 20
    # a persistent buffer nobody reads is state the state_dict carries, not a mistake (W401)
    assert archspec.check(BUFFERS).warnings == []


def test_emitted_buffers_register_as_torch_does() -> None:
    source = archspec.emit(BUFFERS)
    assert 'self.register_buffer("ids", torch.arange(2 * 3, dtype=torch.int64).reshape(2, 3))' in (
        source
    )
    assert "persistent=False" in source
    cls = _load(source, "buffered").Buffered
    ours, ref = cls(), archspec.compile(BUFFERS)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=0)
    assert torch.equal(ours.h.relative_position_index, ref.h.relative_position_index)


@pytest.mark.parametrize(
    ("layer", "code"),
    [
        ("{type: buffer, shape: [8, 8], fill: relative_position_index}", "E204"),
        ("{type: buffer, value: 2.0}", "E204"),
        ("{type: buffer, shape: [2], value: 0.5, dtype: int64}", "E409"),
        ("{type: buffer, shape: [8, 9], fill: relative_position_index, window: [3, 3]}", "E409"),
        ("{type: buffer, shape: [100000, 100000, 100]}", "E409"),
    ],
)
def test_buffer_errors_are_located(layer: str, code: str) -> None:
    text = f"archspec: 1\nname: bad\ninput: [N, 4, 8, 8]\nlayers:\n  - {layer}\n"
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(text, device="meta")
    diag = info.value.diagnostics[0]
    assert diag.code == code and diag.span is not None and diag.span.line == 5


def test_an_int64_buffer_is_read_only_where_torch_computes_with_it() -> None:
    """The dtype is followed: joins with a float tensor promote, moves keep int64, and a
    layer computing in floating point is E401 at check time (it failed in forward)."""
    import torch

    head = (
        "archspec: 1\nname: ints\ninput: [N, 3, 4, 4]\nlayers:\n"
        "  - {name: b, type: buffer, shape: [4, 4], dtype: int64, fill: arange}\n"
        "  - {name: flat, type: reshape, shape: [1, 1, 4, 4], from: b}\n"
    )
    fine = head + (
        "  - {name: m, type: mul, from: [input, flat]}\n"
        "  - {name: d, type: div, from: [m, b]}\n"
        "  - {name: s, type: add, from: [flat, flat]}\n"
        "  - {name: c, type: concat, from: [s, s, s]}\n"
        "  - {name: f, type: add, from: [d, c]}\n"
        "  - {name: conv, type: conv2d, out_channels: 2, kernel_size: 1}\n"
    )
    assert archspec.check(fine).ok
    assert archspec.compile(fine)(torch.randn(2, 3, 4, 4)).shape == (2, 2, 4, 4)
    assert archspec.check(fine).shapes["c"][1] == 3  # concat of int64 tensors stays int64
    refused = (
        head
        + "  - {name: s, type: add, from: [flat, flat]}\n  - {name: a, type: softmax, dim: -1}\n"
    )
    errors = archspec.check(refused).errors
    assert [(d.code, d.span.line) for d in errors] == [("E401", 8)]
    assert "int64" in errors[0].message and "dtype: float32" in errors[0].hint


def test_the_int64_walk_runs_only_on_a_graph_with_an_int64_buffer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """verify finds the int64 buffers as it checks each module, in a block too, and follows
    the dtype only through a graph that has one (most have none)."""
    from archspec.passes import dtypes

    walked: list[str] = []
    real = dtypes._walk
    monkeypatch.setattr(
        dtypes, "_walk", lambda m, *rest: (walked.append(m.path), real(m, *rest))[1]
    )
    assert archspec.check("resnet18").ok and walked == []
    nested = (
        "archspec: 1\nname: ints\ninput: [N, 3, 4, 4]\n"
        "blocks:\n  Ids:\n    layers:\n"
        "      - {name: b, type: buffer, shape: [1, 1, 4, 4], dtype: int64, fill: arange}\n"
        "      - {name: a, type: softmax, dim: -1, from: b}\n"
        "layers:\n  - {name: ids, type: Ids}\n"
    )
    errors = archspec.check(nested).errors
    assert [(d.code, d.span.line) for d in errors] == [("E401", 8)] and "" in walked
