"""Source emission, shape comments: every comment is exact. Each `self.layer(x)  # (...)`
comment's expression in a block class, evaluated at several input sizes the spec accepts
(odd ones included), is the shape a forward hook records on that layer in every instance of
its class; the network class's comments too, at every size (its `# x: (N, 3, H, W)` line
says what the symbols are)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.expr import parse_expr
from archspec.ir import Module, iter_nodes

from .conftest import spec_names, spec_source, zoo_params
from .emit_helpers import _load, _source

CLASS = re.compile(r"^class (\w+)\(")
INPUT = re.compile(r"^        # x: \((.*)\)$")
CALL = re.compile(r"^        (?:\w+ = )?self\.(\w+)\(\w+\)  # \((.*)\)$")


def _comments(source: str) -> dict[str, tuple[list[str], list[tuple[str, list[str]]]]]:
    """Class -> (its `# x:` dims, [(attribute, comment dims)]) for one-argument layer calls."""
    out: dict[str, tuple[list[str], list[tuple[str, list[str]]]]] = {}
    current = None
    for line in source.splitlines():
        if m := CLASS.match(line):
            current = m.group(1)
            out[current] = ([], [])
        elif current and (m := INPUT.match(line)):
            out[current][0].extend(d.strip() for d in m.group(1).split(", "))
        elif current and (m := CALL.match(line)):
            out[current][1].append((m.group(1), [d.strip() for d in m.group(2).split(", ")]))
    return out


def _module_at(root: Module, path: str) -> Module | None:
    """The IR module an emitted class instance at `path` was made from (None: a layer)."""
    module = root
    for part in path.split(".") if path else []:
        node = next(n for n in module.nodes if n.name == part)
        if node.child is None:
            return None  # a layer's own class (an op's support code)
        module = node.child
    return module


def _sizes(name: str) -> list[tuple[int, ...]]:
    """The declared input and nearby sizes (odd ones among them) that the spec accepts."""
    graph = build_graph(spec_source(name))
    declared = tuple(d.value if d.is_const else 2 for d in graph.input_shape)
    if len(declared) != 4:
        return [declared]
    side, other = declared[2], declared[3]
    shapes = [(2, declared[1], side, other)]
    shapes += [(2, declared[1], s, s + 2) for s in (side + 1, side - 1, side + 6)]
    accepted = [s for s in shapes if archspec.api.check(spec_source(name), input=s).ok]
    if len(accepted) < 2:  # a narrow domain (MaxViT: H, W in 224k-3 .. 224k): just below
        below = [(2, declared[1], side - 1, other - 2), (2, declared[1], side - 3, other - 1)]
        accepted += [s for s in below if archspec.api.check(spec_source(name), input=s).ok]
    return accepted


@pytest.mark.parametrize("name", zoo_params(spec_names(), share=(1, 2)))
def test_every_shape_comment_is_the_shape_a_hook_records(name: str) -> None:
    graph = build_graph(spec_source(name))
    source = _source(name)
    comments = _comments(source)
    module = _load(source, f"shapes_{name}")
    with torch.device("meta"):
        model = getattr(module, graph.class_name)()
    model.eval()
    sizes = _sizes(name)
    one_size = "check_size" in {n.kind for _, n in iter_nodes(graph.root)}  # ViT: one input
    assert len(sizes) >= (2 if len(graph.input_shape) == 4 and not one_size else 1)
    checked = 0
    network_sizes: set[tuple[int, ...]] = set()  # sizes the network class was checked at
    for size in sizes:
        seen: dict[str, list[tuple[int, ...]]] = {}  # every call's shapes, in call order
        hooks = []
        for path, sub in model.named_modules():

            def record(mod: Any, args: Any, out: Any, path: str = path, seen: Any = seen) -> None:
                if isinstance(out, torch.Tensor):
                    seen.setdefault(path, []).append(tuple(out.shape))

            def record_in(mod: Any, args: Any, path: str = path, seen: Any = seen) -> None:
                seen.setdefault("<in>" + path, []).append(tuple(args[0].shape))

            hooks += [sub.register_forward_hook(record), sub.register_forward_pre_hook(record_in)]
        with torch.no_grad():
            model(torch.empty(size, device="meta"))
        for h in hooks:
            h.remove()
        for path, sub in model.named_modules():
            cls = type(sub).__name__
            if cls not in comments or "<in>" + path not in seen:
                continue
            in_dims, lines = comments[cls]
            ir = _module_at(graph.root, path)
            if ir is None:
                continue
            values: dict[str, Any] = dict(ir.args)
            if not path:
                assert in_dims, "the network's comments must say what their symbols are"
                values.update(graph.params)
                network_sizes.add(size)
            for dim, got in zip(in_dims, seen["<in>" + path][0]):
                if re.fullmatch(r"[A-Za-z_]\w*", dim):
                    values.setdefault(dim, got)
                else:
                    assert int(dim) == got
            calls: dict[str, int] = {}  # a module called twice (`self.relu`): its k-th call
            for attr, dims in lines:
                child = f"{path}.{attr}" if path else attr
                k = calls[attr] = calls.get(attr, -1) + 1
                if len(seen.get(child, ())) <= k:
                    continue  # a switched-off shortcut, or a layer training mode runs
                want = tuple(parse_expr(d).evaluate(values) for d in dims)
                assert want == seen[child][k], f"{child} at input {size}: comment {dims}"
                checked += 1
    assert checked >= len(sizes)  # the comments were there and were checked
    assert network_sizes == set(sizes)  # the network's comments hold at every size


NAMED_LIKE_SIZES = """\
archspec: 1
name: named_like_sizes
input: [N, 3, 8, 8]
params:
  W: {type: int, default: 4}
layers:
  - {name: conv, type: conv2d, out_channels: W, kernel_size: 3}
  - {name: pool, type: maxpool2d, kernel_size: 2}
"""


def test_network_comments_are_numbers_where_a_param_is_named_like_a_size() -> None:
    """`W` is an argument of the network: a comment `(N, W, H - 2, W - 2)` would mean two
    things, so the comments are the shapes at the declared input, with no `# x:` line."""
    from archspec.backends.pysource import render_module

    source = render_module(build_graph(NAMED_LIKE_SIZES))
    forward = source[source.index("def forward") :]
    assert "# x:" not in forward
    assert "x = self.conv(x)  # (N, 4, 6, 6)" in forward
    assert "x = self.pool(x)  # (N, 4, 3, 3)" in forward


TOKENS = """\
archspec: 1
name: tokens
input: [N, 3, 32, 32]
params: {width: 64, num_classes: 10}
layers:
  - {name: conv_proj, type: conv2d, out_channels: width, kernel_size: 8, stride: 8}
  - {name: patches, type: flatten, start_dim: 2}
  - {name: tokens, type: permute, dims: [0, 2, 1]}
  - {name: ln, type: layer_norm}
  - {name: first, type: select, dim: 1, index: 0}
  - {name: head, type: linear, out_features: num_classes}
"""


def test_network_comments_write_an_argument_moved_off_dim_1_as_the_argument() -> None:
    """After a permute the channels (a constructor argument) are last: the comment says
    `width`, not the 64 of the default, which a `Tokens(width=32)` would not have."""
    source = archspec.emit(TOKENS)
    assert "width: int = 64" in source
    assert "x.permute(0, 2, 1)  # (N, (H//8)*(W//8), width)" in source
    assert "x = self.ln(x)  # (N, (H//8)*(W//8), width)" in source
    assert ", 64)" not in source
    model = _load(source, "tokens").Tokens(width=32)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


PATCHES = """\
archspec: 1
name: patches
input: [N, 3, 224, 224]
params: {patch: 7}
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: patch, stride: patch}
  - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
"""


def test_a_size_that_follows_the_input_and_an_argument_gets_no_comment() -> None:
    """`patch` is a constructor argument: the network's comments said `(N, 8, (224 + (0 -
    (patch - 1 + 1))) // patch + 1, ...)` under `# x: (N, 3, H, W)`, the size of a 224 input
    where the forward takes any (session 37's ConvMixer, emitted at a small width); no
    closed form holds for every input and every `patch`, so those lines say nothing."""
    source = archspec.emit(PATCHES)
    forward = source[source.index("def forward") :]
    assert "224" not in forward
    assert "x = self.stem(x)\n" in forward and "x = self.conv(x)\n" in forward
    assert "x = self.pool(x)  # (N, 8, 1, 1)" in forward
    model = _load(source, "patches").Patches(patch=4)
    assert model(torch.randn(2, 3, 30, 18)).shape == (2, 8, 1, 1)


TOKEN_BLOCK = """\
archspec: 1
name: tok
input: [N, 16, 8, 8]
blocks:
  LinearNorm:
    params: {out: int, tokens: int}
    layers:
      - {name: tflat, type: flatten, start_dim: 2}
      - {name: t, type: permute, dims: [0, 2, 1]}
      - {name: linear, type: linear, out_features: out, bias: false}
      - {name: f, type: flatten, start_dim: 0, end_dim: 1}
      - {name: bn, type: batchnorm1d}
      - {name: back, type: unflatten, dim: 0, unflattened_size: [-1, tokens]}
layers:
  - {name: a, type: LinearNorm, out: 32, tokens: 64}
"""


def test_a_block_size_holding_an_instances_argument_gets_no_comment() -> None:
    """LeViT's LinearNorm folds its batch of tokens back with `unflatten(0, (-1, tokens))`:
    its comment read `(H*N*W//64, tokens, out)`, the 64 of the one instance's `tokens`
    where the class takes any (h37d's levit_128s). That line has no comment now; the sizes
    that are the instances' own numbers keep theirs."""
    source = archspec.emit(TOKEN_BLOCK)
    block = source[source.index("class LinearNorm") : source.index("class Tok")]
    assert "//64" not in block
    assert "x = x.unflatten(0, (-1, self.tokens))\n" in block
    assert "x = torch.flatten(x, 0, 1)  # (N*H*W, out)" in block
    model = _load(source, "tok").Tok()
    assert model(torch.randn(2, 16, 8, 8)).shape == (2, 64, 32)
