"""What the emitter's tests share: emitted modules loaded in memory, weights filled cheaply,
and the small specs several stages' tests use (`PROBE`, `ODD`, `STACKS`)."""

from __future__ import annotations

import inspect
import random
import types
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cache
from typing import Any

import torch
import yaml

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.errors import ArchSpecError

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


# --- every value an emitted class takes: what compile builds, or a guard's ValueError -----

GUARD = "emitted without the layers"


@dataclass
class Sweep:
    """What `sweep_classes` saw: calls that matched compile, calls a guard refused, and
    values compile itself refuses (no claim is made of the emitted class there)."""

    matched: int = 0
    refused: int = 0
    invalid: int = 0
    cases: list[str] = dc_field(default_factory=list)


def emitted(text: str, variant: str | None = None) -> tuple[types.ModuleType, list[Any], str]:
    """The emitted module of `text` (a family's `variant`), its block classes (`ClassInfo`s)
    and its source."""
    from archspec.backends.emit.files import Emitter

    graph = build_graph(text, variant=variant)
    em = Emitter(graph)
    source = em.render()
    return _load(source, graph.name), list(em.classes), source


def _wrapper(data: dict[str, Any], block: str, args: dict[str, Any], shape: tuple[int, ...]) -> str:
    """A spec of the same params and blocks whose network is one call of `block` (`m`)."""
    out = {k: v for k, v in data.items() if k not in ("outputs", "init", "register_order")}
    out["input"] = ["N", *shape[1:]]
    out["layers"] = [{"name": "m", "type": block, **args}]
    return yaml.safe_dump(out, sort_keys=False)


def _candidates(kind: str, seen: Sequence[Any], extra: Sequence[Any] = ()) -> list[Any]:
    """Values to try for an argument of type `kind`: the instances' and some others."""
    base: list[Any] = {
        "int": [1, 2, 3, 4, 8, 16, 33],
        "float": [0.0, 0.25, 0.5, 1.0, 2.0, 3.0],
        "bool": [False, True],
    }.get(kind, [])
    out: list[Any] = []
    for v in [*sorted(seen, key=repr), *extra, *base]:
        if not any(repr(v) == repr(w) for w in out):
            out.append(v)
    return out


def _declared(decl: Any, values: list[Any]) -> list[Any]:
    """`values` a block param's declaration allows (`ge`, `le`), its `choices` added."""
    if not isinstance(decl, dict):
        return values
    low, high = decl.get("ge"), decl.get("le")
    kept = [
        v
        for v in values
        if isinstance(v, bool)
        or not isinstance(v, (int, float))
        or ((low is None or v >= low) and (high is None or v <= high))
    ]
    return kept + [c for c in decl.get("choices") or [] if c not in kept]


def check_call(
    module: types.ModuleType,
    cls_name: str,
    text: str,
    ctor: tuple[tuple[Any, ...], dict[str, Any]],
    shape: tuple[int, ...],
    variant: str | None = None,
) -> str:
    """`cls_name(*args, **kwargs)` of the emitted `module` against compile of `text` (a
    network that is one call of the block with those values, input `shape`): "matched",
    "refused" (a guard's ValueError) or "invalid" (compile refuses the values)."""
    try:
        ref = archspec.compile(text, variant=variant).eval()
    except ArchSpecError:
        return "invalid"
    args, kwargs = ctor
    try:
        ours = getattr(module, cls_name)(*args, **kwargs).eval()
    except ValueError as exc:
        if GUARD in str(exc):
            return "refused"
        raise
    sub = ref.m
    assert _layout(ours) == _layout(sub), f"{cls_name}{ctor}: layouts differ from compile's"
    ours.load_state_dict(sub.state_dict(), strict=True)
    torch.manual_seed(0)
    _fill(ours, 7)
    sub.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), msg=f"{cls_name}{ctor}: outputs differ")
    return "matched"


def sweep_classes(
    text: str,
    shape: tuple[int, ...],
    tries: int = 24,
    seed: int = 0,
    widths: Sequence[int] = (1, 2, 3, 4, 6, 8, 16),
    variant: str | None = None,
) -> Sweep:
    """Every block class of the module emitted from `text` (one-input blocks whose input is
    rank len(shape)), called with up to `tries` random argument values (the instances' and
    others): each computes what compile of a network of that one call computes, or its guard
    refuses the values. `shape` is the input of such a network (its channels the class's
    `in_channels`)."""
    data = yaml.safe_load(text)
    module, infos, _ = emitted(text, variant)
    rng = random.Random(seed)
    graph = build_graph(text, variant=variant)
    out = Sweep()
    for info in infos:
        if info.block is None or info.more_args or (info.chain is not None and not info.params):
            continue
        first = info.bodies[0].module
        if len(first.in_shape or ()) != len(shape):
            continue
        decls = {p.name: p for p in graph.blocks[info.block]}
        in_seen = [b.module.in_shape[1].value for b in info.bodies if b.module.in_shape[1].is_const]
        if not in_seen:
            continue
        declared = (data.get("blocks") or {}).get(info.block, {}).get("params") or {}
        options = {
            p.name: _declared(
                declared.get(p.name),
                _candidates(p.type, [b.module.args.get(p.name) for b in info.bodies]),
            )
            for p in info.params
        }
        ins = _candidates("int", in_seen, widths) if info.in_arg else in_seen[:1]
        options = {n: vs for n, vs in options.items() if vs}
        for _ in range(tries):
            # an instance's values, one or two of them (or its width) changed
            k = rng.randrange(len(info.bodies))
            base = info.bodies[k].module
            chosen = {n: base.args[n] for n in options if n in base.args}
            c = in_seen[k] if k < len(in_seen) else in_seen[0]
            keys = [*options, None] if len(ins) > 1 else list(options)
            for key in rng.sample(keys, min(len(keys), rng.randint(1, 2))):
                if key is None:
                    c = rng.choice(ins)
                else:
                    chosen[key] = rng.choice(options[key])
            spec_args = {**{n: v for n, v in base.args.items() if n in decls}, **chosen}
            spec = _wrapper(data, info.block, spec_args, (shape[0], c, *shape[2:]))
            pos = [c] if info.in_arg else []
            kw = {p.pyname: chosen[p.name] for p in info.params if p.name in chosen}
            call = (tuple(pos), kw)
            verdict = check_call(module, info.name, spec, call, (shape[0], c, *shape[2:]), variant)
            setattr(out, verdict, getattr(out, verdict) + 1)
            out.cases.append(f"{info.name}({c}, {kw}): {verdict}")
    return out


def sweep_network(text: str, shape: tuple[int, ...], tries: int = 12, seed: int = 0) -> Sweep:
    """The network class emitted from `text` called with up to `tries` random values of its
    arguments (the spec's params it takes): each builds what `archspec.compile(text,
    params=...)` builds and computes what it computes on an input of `shape`, or refuses."""
    graph = build_graph(text)
    module = _load(render_module(graph), graph.name)
    cls = getattr(module, graph.class_name)
    infos = {p.name: p for p in graph.param_info}
    args = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    options = {
        a.name: _candidates(infos[a.name].type, [a.default]) for a in args if a.name in infos
    }
    rng = random.Random(seed)
    out = Sweep()
    for _ in range(tries):
        chosen = {n: rng.choice(vs) for n, vs in options.items() if vs}
        try:
            ref = archspec.compile(text, params=chosen).eval()
        except ArchSpecError:
            out.invalid += 1
            continue
        try:
            ours = cls(**chosen).eval()
        except ValueError as exc:
            if GUARD not in str(exc):
                raise
            out.refused += 1
            continue
        assert _layout(ours) == _layout(ref), f"{graph.class_name}({chosen}): layouts differ"
        _fill(ours, 7)
        ref.load_state_dict(ours.state_dict(), strict=True)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            torch.testing.assert_close(ours(x), ref(x), msg=f"{graph.class_name}({chosen})")
        out.matched += 1
        out.cases.append(f"{graph.class_name}({chosen})")
    return out
