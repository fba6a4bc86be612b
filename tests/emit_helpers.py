"""What the emitter's tests share: emitted modules loaded in memory, weights filled cheaply,
and the small specs several stages' tests use (`PROBE`, `ODD`, `STACKS`)."""

from __future__ import annotations

import types
from functools import cache
from typing import Any

import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module

from .conftest import ROOT, spec_names, spec_source

GENERATED = ROOT / "generated"
ALL = spec_names()


@cache
def _source(name: str, params: tuple[tuple[str, Any], ...] = ()) -> str:
    return render_module(build_graph(spec_source(name), dict(params)))


def _load(source: str, tag: str) -> types.ModuleType:
    """Run emitted source as a fresh module (nothing is written to disk)."""
    module = types.ModuleType(f"emitted_{tag}")
    exec(compile(source, f"<emitted {tag}>", "exec"), module.__dict__)
    return module


@cache
def _module(name: str, params: tuple[tuple[str, Any], ...] = ()) -> types.ModuleType:
    return _load(_source(name, params), name)


def _emitted_class(name: str, **params: Any) -> type[torch.nn.Module]:
    graph_name = build_graph(spec_source(name), params).class_name
    return getattr(_module(name, tuple(sorted(params.items()))), graph_name)


def _layout(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    return [(k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items()]


def matches_compile(text: str, shape: tuple[int, ...]) -> str:
    """The emitted module of `text`: it holds compile's state_dict keys (dtypes and shapes
    too) and computes what compile's module computes with the same weights on an input of
    `shape`. Returns the source."""
    graph = build_graph(text)
    source = render_module(graph)
    cls = getattr(_load(source, graph.name), graph.class_name)
    torch.manual_seed(0)
    ref = archspec.compile(text).eval()
    ours = cls().eval()
    assert _layout(ours) == _layout(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
    return source


def _fill(model: torch.nn.Module, seed: int) -> None:
    """Give an un-initialised (to_empty) model sane random weights, cheaply."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point():
                t.zero_()
            elif key.endswith("running_var"):
                t.uniform_(0.5, 1.5, generator=gen)
            elif t.dim() >= 2:
                bound = (3.0 / max(1, t[0].numel())) ** 0.5
                t.uniform_(-bound, bound, generator=gen)
            else:
                t.uniform_(-0.1, 0.1, generator=gen)


def _small_input(name: str) -> tuple[int, ...]:
    """A small input the spec accepts (shapes checked without torch), else the declared one."""
    graph = build_graph(spec_source(name))
    declared = tuple(d.value if d.is_const else 1 for d in graph.input_shape)
    if len(declared) == 4:
        for side in (32, 64, 96, 128):  # inception_v3 and alexnet need more than 64
            shape = (2, declared[1], side, side)
            if archspec.api.check(spec_source(name), input=shape).ok:
                return shape
    return (1, *declared[1:])


PROBE = """\
archspec: 1
name: init_probe
description: Every init feature at once, small enough to build for real.
input: [N, 3, 16, 16]
params:
  width: {type: int, default: 8}
  zero_last: {type: bool, default: true}
blocks:
  Unit:
    doc: A residual unit whose second norm is affine only when wide.
    params: {planes: int, stride: {type: int, default: 1}}
    layers:
      - type: residual
        body:
          - {name: conv1, type: conv2d, out_channels: planes, kernel_size: 3, stride: stride,
             padding: 1, bias: false}
          - {name: bn1, type: batchnorm2d}
          - {type: activation, fn: relu}
          - {name: conv2, type: conv2d, out_channels: planes, kernel_size: 3, padding: 1}
          - {name: bn2, type: batchnorm2d, affine: "planes > 8"}
        shortcut:
          when: stride != 1 or in_channels != planes
          layers:
            - {type: conv2d, out_channels: planes, kernel_size: 1, stride: stride}
        activation: relu
layers:
  - {name: stem, type: conv2d, out_channels: width, kernel_size: 3, padding: 1, bias: false}
  - {name: stage, type: repeat, count: 3,
     layer: {type: Unit, planes: "width * (i + 1)", stride: "1 if i == 0 else 2"}}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: head, type: linear, out_features: 10}
init:
  - {layers: [conv2d, linear], weight: {trunc_normal: {std: 0.02}}, bias: {constant: 0.1}}
  - {layers: [batchnorm2d], weight: ones, bias: zeros}
  - {paths: ["stage.*.bn2"], when: zero_last, weight: zeros}
  - {layers: [conv2d], when: "width > 100", weight: {kaiming_uniform: {}}}
  - {paths: ["stage.1.*"], weight: {uniform: {a: -0.1, b: 0.1}}}
"""


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


ODD = """\
archspec: 1
name: odd
input: [N, 3, 16, 16]
params:
  k: {type: int, default: 3}
  drop: {type: float, default: 0.1}
blocks:
  Inner:
    params: {c: int, kh: {type: int, default: 3}}
    layers:
      - {type: conv2d, out_channels: c, kernel_size: [kh, 1], padding: ["kh // 2", 0]}
      - {type: batchnorm2d, affine: "c > 4"}
  Outer:
    params: {c: int}
    layers:
      - {name: a, type: Inner, c: c}
      - {name: b, type: Inner, c: "c * 2", kh: 1}
      - type: parallel
        join: add
        branches:
          left: {type: conv2d, out_channels: "c * 2", kernel_size: 1}
          right: [{type: identity}]
layers:
  - type: residual
    body:
      - {type: conv2d, out_channels: 3, kernel_size: k, padding: "k // 2"}
      - {type: relu}
  - {name: o1, type: Outer, c: 4}
  - {name: o2, type: Outer, c: 8}
  - name: head
    type: sequential
    layers:
      - {name: pool, type: adaptive_avgpool2d, output_size: 1}
      - {name: flat, type: flatten}
      - {name: aux, type: linear, out_features: 5, train_only: true}
      - {name: fc, type: linear, out_features: 10, from: flat}
      - {name: d, type: dropout, p: drop}
init:
  - {layers: [batchnorm2d], weight: ones, bias: zeros}
"""


STACKS = """\
archspec: 1
name: stacks
input: [N, 3, 8, 8]
params:
  n: {type: int, default: 2}
  width: {type: int, default: 8}
blocks:
  Stack:
    doc: A few same-width convs.
    params: {depth: int, width: int}
    layers:
      - {name: body, type: repeat, count: depth,
         layer: {type: conv2d, out_channels: width, kernel_size: 3, padding: 1}}
layers:
  - {name: a, type: Stack, depth: n, width: width}
  - {name: b, type: Stack, depth: 3, width: 8}
  - {name: c, type: Stack, depth: 2, width: 16}
"""


def _train_outputs(model: torch.nn.Module, x: torch.Tensor, seed: int) -> Any:
    torch.manual_seed(seed)
    model.train()
    with torch.no_grad():
        return model(x)


def _grads(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Parameter gradients of a training-mode forward and backward."""
    model.train()
    model.zero_grad()
    out = model(x)
    (out[0] if isinstance(out, tuple) else out).square().sum().backward()
    return {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
