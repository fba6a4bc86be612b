"""What the emitter must know of a layer's module is declared by its op (`init_tensors`,
`optional_tensors`, `submodules`), never found by building the module: every built-in
declares it, the declarations are what torch builds, and emitting every shipped spec
constructs no torch module at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.emit import layers
from archspec.backends.emit.layers import TARGETS, torch_class_names
from archspec.backends.pysource import render_module
from archspec.ir import Graph, iter_nodes
from archspec.ops import REGISTRY, Op
from archspec.ops.base import META_FIELDS

from .conftest import spec_names, spec_source, zoo_params
from .test_emit_files import GATED, gate_op  # noqa: F401  (the plugin fixture)

#: Every built-in kind the shipped specs leave out, with its switches flipped somewhere.
ONE_D = """\
archspec: 1
name: facts_1d
input: [N, 4, 32]
layers:
  - {type: conv1d, out_channels: 6, kernel_size: 3, bias: false}
  - {type: zero_pad1d, padding: [2, 0]}
  - {type: conv_transpose1d, out_channels: 6, kernel_size: 2, stride: 2, bias: false}
  - {type: batchnorm1d, affine: false}
  - {type: relu6}
  - {type: maxpool1d, kernel_size: 2}
  - {type: avgpool1d, kernel_size: 2}
  - {type: conv1d, out_channels: 6, kernel_size: 1}
  - {type: batchnorm1d}
  - {type: adaptive_maxpool1d, output_size: 4}
  - {type: adaptive_avgpool1d, output_size: 2}
  - {type: flatten}
  - {type: linear, out_features: 5, bias: false}
  - {type: log_softmax}
"""
THREE_D = """\
archspec: 1
name: facts_3d
input: [N, 2, 8, 8, 8]
layers:
  - {type: conv3d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: zero_pad3d, padding: [1, 0, 0, 1, 0, 0]}
  - {type: conv_transpose3d, out_channels: 4, kernel_size: 2, stride: 2, groups: 2}
  - {type: batchnorm3d}
  - {type: silu}
  - {type: maxpool3d, kernel_size: 2}
  - {type: avgpool3d, kernel_size: 2}
  - {type: adaptive_maxpool3d, output_size: 1}
  - {type: adaptive_avgpool3d, output_size: 1}
  - {type: identity}
"""
TWO_D = """\
archspec: 1
name: facts_2d
input: [N, 3, 8, 8]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: gelu}
  - {type: leaky_relu}
  - {type: dropout2d}
  - {type: sigmoid}
  - {type: adaptive_maxpool2d, output_size: 2}
  - {type: softmax}
"""
LAYOUT = """\
archspec: 1
name: facts_layout
input: [N, 4, 6, 6]
layers:
  - {type: permute, dims: [0, 2, 3, 1]}
  - {type: linear, out_features: 4}
  - {name: back, type: permute, dims: [0, 3, 1, 2]}
  - {name: gate, type: mul, from: [input, back]}
  - {type: channel_shuffle, groups: 2}
  - {type: pixel_unshuffle, downscale_factor: 2}
  - {type: pixel_shuffle, upscale_factor: 2}
  - {type: reshape, shape: [0, -1]}
"""
#: The kinds of issue 14 (ops/activations.py, norms.py, resize.py), switches flipped.
NEWER_2D = """\
archspec: 1
name: facts_newer
input: [N, 4, 8, 8]
layers:
  - {type: conv_transpose2d, out_channels: 6, kernel_size: 3, stride: 2, bias: false}
  - {type: group_norm, num_groups: 3}
  - {type: hardswish}
  - {type: prelu, num_parameters: 6}
  - {type: group_norm, num_groups: 2, affine: false}
  - {type: instance_norm2d, affine: true}
  - {type: instance_norm2d}
  - {type: hardsigmoid}
  - {type: layer_norm2d, eps: 1.0e-6}
  - {type: layer_norm2d, bias: false}
  - {type: layer_norm2d, elementwise_affine: false}
  - {type: frozen_batch_norm2d}
  - {type: mish}
  - {type: elu}
  - {type: zero_pad2d, padding: [1, 0, 2, 1]}
  - {type: conv_transpose2d, out_channels: 4, kernel_size: 2, groups: 2}
  - {type: upsample, scale_factor: 2}
  - {type: interpolate, size: 9, mode: bilinear}
  - {type: stochastic_depth, p: 0.1, mode: row}
  - {type: layer_norm, dims: 2}
  - {type: layer_norm, bias: false}
  - {type: layer_norm, elementwise_affine: false}
  - {type: prelu}
"""
TOKENS = """
archspec: 1
name: facts_tokens
input: [N, 16, 14, 14]
layers:
  - {type: partition, size: 7}
  - {type: relative_attention, head_dim: 8, size: 7}
"""
#: Swin's kinds (ops/window.py), v1 and v2, on a channels-last input.
WINDOW = """\
archspec: 1
name: facts_window
input: [N, 9, 9, 8]
layers:
  - {type: shifted_window_attention, num_heads: 2, window_size: 4, shift_size: 2}
  - {type: shifted_window_attention, num_heads: 2, window_size: 4, version: 2, qkv_bias: false}
  - {type: patch_merging}
  - {type: patch_merging, version: 2}
"""
#: Vision transformers' token ops (ops/attention.py), bias switched off once.
VIT_TOKENS = """\
archspec: 1
name: facts_vit_tokens
input: [N, 4, 6, 6]
layers:
  - {name: flat, type: flatten, start_dim: 2}
  - {name: tokens, type: permute, dims: [0, 2, 1]}
  - {type: multihead_attention, num_heads: 2}
  - {type: multihead_attention, num_heads: 1, bias: false}
"""
STD_CONV = """\
archspec: 1
name: facts_std_conv
input: [N, 4, 8, 8]
layers:
  - {type: std_conv2d, out_channels: 6, kernel_size: 3, padding: 1, scaled: true, gamma: 1.7}
  - {type: std_conv2d, out_channels: 6, kernel_size: 1, groups: 2, bias: false}
  - {type: blur_pool2d, filt_size: 2, pad_mode: constant}
"""
#: The padding families beside zeros (ops/padding.py), each rank.
PADDING = """\
archspec: 1
name: facts_padding
input: [N, 2, 6, 6, 6]
layers:
  - {type: reflection_pad3d, padding: 1}
  - {type: replication_pad3d, padding: [1, 0, 0, 1, 0, 0]}
  - {type: constant_pad3d, padding: 1, value: 0.5}
  - {type: flatten, start_dim: 3}
  - {type: reflection_pad2d, padding: 2}
  - {type: replication_pad2d, padding: 1}
  - {type: constant_pad2d, padding: [1, 0, 0, 0], value: -1.0}
  - {type: flatten, start_dim: 2}
  - {type: reflection_pad1d, padding: [2, 0]}
  - {type: replication_pad1d, padding: 1}
  - {type: constant_pad1d, padding: 3, value: 2.0}
  - {type: unflatten, dim: 1, unflattened_size: [2, -1]}
  - {type: softplus, beta: 2.0}
  - {type: selu}
  - {type: celu}
  - {type: hardtanh}
  - {type: logsigmoid}
  - {type: softsign}
  - {type: tanhshrink}
  - {type: threshold, threshold: 0.5, value: 0.0}
  - {type: glu, dim: 1}
"""
#: A learned position embedding (ops/embedding.py), looked up by an int64 buffer.
EMBEDDING = """\
archspec: 1
name: facts_embedding
input: [N, 5, 8]
layers:
  - {name: ids, type: buffer, shape: [5], fill: arange, dtype: int64}
  - {name: table, type: embedding, num_embeddings: 5, embedding_dim: 8, from: ids}
  - {name: out, type: add, from: [input, table]}
"""
#: Recurrent layers (ops/recurrent.py), bias switched off once.
RECURRENT = """\
archspec: 1
name: facts_recurrent
input: [N, 5, 8]
layers:
  - {type: lstm, hidden_size: 4, num_layers: 2, bidirectional: true}
  - {type: gru, hidden_size: 4, bias: false}
  - {type: rnn, hidden_size: 3, nonlinearity: relu}
"""

#: Max unpooling of each rank (ops/unpool.py), after its pool with indices; then
#: torch's other dropouts (ops/activations.py).
UNPOOL = """\
archspec: 1
name: facts_unpool
input: [N, 2, 8, 8, 8]
layers:
  - {type: maxpool3d_with_indices, kernel_size: 2, names: [v3, i3]}
  - {name: up3, type: maxunpool3d, kernel_size: 2, from: [v3, i3]}
  - {name: flat, type: reshape, shape: [-1, 16, 32]}
  - {type: maxpool2d_with_indices, kernel_size: 2, names: [v2, i2]}
  - {name: up2, type: maxunpool2d, kernel_size: 2, from: [v2, i2]}
  - {name: rows, type: reshape, shape: [-1, 16, 32]}
  - {type: maxpool1d_with_indices, kernel_size: 2, names: [v1, i1]}
  - {name: up1, type: maxunpool1d, kernel_size: 2, from: [v1, i1]}
  - {type: dropout1d}
  - {type: alpha_dropout}
  - {type: feature_alpha_dropout, p: 0.1}
"""

EXTRA = {
    "facts_1d": ONE_D,
    "facts_3d": THREE_D,
    "facts_2d": TWO_D,
    "facts_layout": LAYOUT,
    "facts_newer": NEWER_2D,
    "facts_tokens": TOKENS,
    "facts_window": WINDOW,
    "facts_vit_tokens": VIT_TOKENS,
    "facts_std_conv": STD_CONV,
    "facts_padding": PADDING,
    "facts_embedding": EMBEDDING,
    "facts_recurrent": RECURRENT,
    "facts_unpool": UNPOOL,
}


def _graphs(everything: bool = True) -> Iterator[tuple[str, Graph, Any]]:
    """Every shipped spec and the extra ones, with what to compile them from. Without
    `everything`, the zoo's sample (`zoo_params`: a family's first variant) and each later
    variant that holds a layer kind no earlier graph did (Swin V2's attention, say)."""
    sampled = {p if isinstance(p, str) else None for p in zoo_params(spec_names())}
    kinds: set[str] = set()
    for name in spec_names():
        graph = build_graph(spec_source(name))
        mine = {node.kind for _, node in iter_nodes(graph.root)}
        if everything or name in sampled or not mine <= kinds:
            kinds |= mine
            yield name, graph, spec_source(name)
    for name, text in EXTRA.items():
        yield name, build_graph(text), text


def _builtin_kinds() -> set[str]:
    return {
        k
        for k, op in REGISTRY.items()
        if type(op).__module__.startswith(("archspec.ops.", "archspec.contrib."))
    }


def test_every_builtin_declares_what_its_module_holds() -> None:
    for kind in _builtin_kinds():
        cls = type(REGISTRY[kind])
        assert cls.init_tensors is not Op.init_tensors, f"{kind} leaves init_tensors to torch"
        assert cls.submodules is not Op.submodules, f"{kind} leaves submodules to torch"


@pytest.mark.parametrize("everything", [False, pytest.param(True, marks=pytest.mark.heavy)])
def test_declared_facts_are_what_torch_builds(everything: bool) -> None:
    """For every layer of the shipped specs (and of specs covering the other built-in kinds,
    switches like `bias: false` included): the modules inside, as `named_modules()` lists
    them and of the class declared; the weight/bias tensors and their dims; and which
    targets are None attributes."""
    seen: set[str] = set()
    switched: set[str] = set()
    for name, graph, source in _graphs(everything):
        modules = dict(archspec.compile(source, device="meta").named_modules())
        for path, node in iter_nodes(graph.root):
            if node.child is not None or not node.is_module:
                continue
            op = REGISTRY[node.kind]
            module = modules[path]
            where = (name, path, node.kind)
            inner = op.submodules(node.attrs)
            built_inner = [(p, type(m)) for p, m in module.named_modules() if p]
            assert [p for p, _ in inner] == [p for p, _ in built_inner], where
            for (_, text), (_, cls) in zip(inner, built_inner):
                assert text in torch_class_names(cls), where
            tensors = op.init_tensors(node.attrs)
            built = {
                t: getattr(module, t).dim()
                for t in TARGETS
                if isinstance(getattr(module, t, None), torch.Tensor)
            }
            assert built == dict(tensors), where
            as_none = {t for t in TARGETS if hasattr(module, t) and getattr(module, t) is None}
            assert as_none == set(op.optional_tensors) - set(tensors), where
            seen.add(node.kind)
            if as_none:
                switched.add(node.kind)
    assert seen == {k for k in _builtin_kinds() if REGISTRY[k].style == "module"}
    assert switched >= {"conv1d", "batchnorm1d", "linear"}


@pytest.mark.parametrize("name", [*zoo_params(spec_names()), *EXTRA])
def test_emitting_constructs_no_torch_module(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Emitting reads the op registry's facts: no layer is built, on any device."""
    graph = build_graph(spec_source(name) if name in spec_names() else EXTRA[name])
    built: list[str] = []

    def refuse(self: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        built.append(type(self).__name__)
        raise AssertionError(f"emitting built a {type(self).__name__}")

    def refuse_op(self: Op, attrs: Any) -> Any:
        built.append(self.kind)
        raise AssertionError(f"emitting built a {self.kind}")

    monkeypatch.setattr(torch.nn.Module, "__init__", refuse)
    for op in REGISTRY.values():
        monkeypatch.setattr(type(op), "build", refuse_op)
    source = render_module(graph)
    assert f"class {graph.class_name}(nn.Module):" in source
    assert built == []


@pytest.mark.usefixtures("gate_op")
def test_only_a_plugin_that_declares_nothing_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """The meta build stays the fallback for plugins: the gate (a layer holding a conv,
    declaring no facts) is built to find its conv, so the conv2d init rule skips it; no
    built-in layer of the spec is."""
    built: list[str] = []
    original = layers._built

    def spy(kind: str, attrs: Any) -> Any:
        built.append(kind)
        return original(kind, attrs)

    monkeypatch.setattr(layers, "_built", spy)
    source = render_module(build_graph(GATED))
    assert set(built) == {"test_gate"}
    assert "skip.append(name" in source  # the gate's own conv is found and skipped


def test_each_activation_fn_names_a_module_kind_computing_the_same() -> None:
    """`activation`'s module kinds: the module at its defaults is the function (so emitted
    code may call a block's `self.relu`), and the constructors emitted code recognises are
    the ones the registry's ops write."""
    from archspec.backends.emit.forward import module_forms
    from archspec.ops import ACTIVATION_FNS

    op = REGISTRY["activation"]
    x = torch.randn(64, generator=torch.Generator().manual_seed(0))
    forms = {}
    for fn in ACTIVATION_FNS:
        kind = op.module_kind({"fn": fn})
        assert kind is not None and REGISTRY[kind].style == "module", fn
        fields = REGISTRY[kind].spec.model_fields.items()
        defaults = {n: f.default for n, f in fields if n not in META_FIELDS}
        module = REGISTRY[kind].build(defaults)
        function, kwargs = op.function({"fn": fn})
        torch.testing.assert_close(module(x.clone()), function(x.clone(), **kwargs))
        forms[fn] = module_forms("activation", {"fn": fn})
    assert forms == {
        "relu": ("nn.ReLU()", "nn.ReLU(inplace=True)"),
        "silu": ("nn.SiLU()", "nn.SiLU(inplace=True)"),
        "gelu": ("nn.GELU()",),
        "sigmoid": ("nn.Sigmoid()",),
        "tanh": ("nn.Tanh()",),
        "relu6": ("nn.ReLU6()", "nn.ReLU6(inplace=True)"),
        "leaky_relu": ("nn.LeakyReLU()", "nn.LeakyReLU(inplace=True)"),
        "elu": ("nn.ELU()", "nn.ELU(inplace=True)"),
        "hardswish": ("nn.Hardswish()", "nn.Hardswish(inplace=True)"),
        "hardsigmoid": ("nn.Hardsigmoid()", "nn.Hardsigmoid(inplace=True)"),
        "mish": ("nn.Mish()", "nn.Mish(inplace=True)"),
        "softplus": ("nn.Softplus()",),
        "selu": ("nn.SELU()", "nn.SELU(inplace=True)"),
        "celu": ("nn.CELU()", "nn.CELU(inplace=True)"),
        "hardtanh": ("nn.Hardtanh()", "nn.Hardtanh(inplace=True)"),
        "logsigmoid": ("nn.LogSigmoid()",),
        "softsign": ("nn.Softsign()",),
        "tanhshrink": ("nn.Tanhshrink()",),
    }
    assert module_forms("add", {}) == ()  # a function op with no module twin
