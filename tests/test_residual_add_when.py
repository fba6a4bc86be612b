"""A conditional residual (`add_when`): one body, the input added only where the condition
holds (torchvision's `use_res_connect`). Compiled modules add exactly there, the condition
reads the residual's input, and the emitted block is one class with `if self.use_res_connect:`
that computes what compile computes, for instances the spec never made too."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.errors import ArchSpecError

from .emit_helpers import _load

SPEC = """archspec: 1
name: conditional
input: [N, 8, 16, 16]
blocks:
  InvertedResidual:
    params: {out: int, stride: {type: int, default: 1}, t: {type: int, default: 2}}
    layers:
      - type: residual
        add_when: stride == 1 and in_channels == out
        body:
          - name: conv
            type: sequential
            layers:
              - {type: conv2d, out_channels: in_channels * t, kernel_size: 1, bias: false,
                 when: t != 1}
              - {type: conv2d, out_channels: in_channels, kernel_size: 3, stride: stride,
                 padding: 1, groups: in_channels, bias: false}
              - {type: batchnorm2d}
              - {type: conv2d, out_channels: out, kernel_size: 1, bias: false}
layers:
  - {name: same, type: InvertedResidual, out: 8}
  - {name: wider, type: InvertedResidual, out: 12}
  - {name: down, type: InvertedResidual, out: 12, stride: 2, t: 1}
  - {name: again, type: InvertedResidual, out: 12, t: 1}
"""

#: which instances add their input: stride 1 and as many channels out as in
ADDS = {"same": True, "wider": False, "down": False, "again": True}


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.uniform_(0.5, 1.5)
    return model.eval()


def test_the_input_is_added_only_where_the_condition_holds() -> None:
    graph = build_graph(SPEC)
    for node in graph.root.nodes:
        kinds = [n.kind for n in node.child.nodes]  # type: ignore[union-attr]
        assert ("add" in kinds) == ADDS[node.name], (node.name, kinds)
    model = _randomised(archspec.compile(SPEC))
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        h = x
        for name, adds in ADDS.items():
            block = getattr(model, name)
            body = block.conv(h)
            out = block(h)
            torch.testing.assert_close(out, body + h if adds else body, rtol=0, atol=0)
            h = out


def test_the_condition_reads_the_residuals_input_not_the_bodys_output() -> None:
    """`in_channels` in `add_when` is the block input's 8 channels: `wider` (8 -> 12) does
    not add; were it the body's output (12 == out) it would add and fail to broadcast."""
    graph = build_graph(SPEC)
    wider = graph.root.node("wider").child
    assert wider is not None and [n.name for n in wider.nodes] == ["conv"]


def test_one_emitted_class_with_if_use_res_connect() -> None:
    source = render_module(build_graph(SPEC))
    assert source.count("class InvertedResidual") == 1
    assert "self.use_res_connect = stride == 1 and in_channels == out" in source
    assert "        out = self.conv(x)\n        if self.use_res_connect:\n" in source
    assert "            out = out + x" in source
    module = _load(source, "conditional")
    compiled = _randomised(archspec.compile(SPEC))
    emitted = module.Conditional().eval()
    emitted.load_state_dict(compiled.state_dict())
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), compiled(x), rtol=0, atol=0)
    # an instance the spec never made: 12 -> 12 at stride 1 adds, 12 -> 16 does not
    for out, adds in ((12, True), (16, False)):
        block = module.InvertedResidual(12, out, stride=1, t=3).eval()
        assert block.use_res_connect is adds
        y = torch.randn(1, 12, 5, 5)
        with torch.no_grad():
            body = block.conv(y)
            torch.testing.assert_close(block(y), body + y if adds else body)


def test_an_activation_follows_the_add_or_the_body() -> None:
    text = SPEC.replace(
        "        add_when: stride == 1 and in_channels == out\n",
        "        add_when: stride == 1 and in_channels == out\n        activation: relu\n",
    )
    model = _randomised(archspec.compile(text))
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        same = model.same(x)
        torch.testing.assert_close(same, torch.relu(model.same.conv(x) + x), rtol=0, atol=0)
        wider = model.wider(same)
        torch.testing.assert_close(wider, torch.relu(model.wider.conv(same)), rtol=0, atol=0)


def test_add_when_takes_no_shortcut() -> None:
    text = SPEC.replace(
        "        add_when: stride == 1 and in_channels == out\n",
        "        add_when: stride == 1\n"
        "        shortcut: {layers: [{type: conv2d, out_channels: out, kernel_size: 1}]}\n",
    )
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    err = exc.value
    assert err.error_code == "E204" and "add_when" in err.render()
    assert err.span is not None and err.span.line == 8  # the residual


def test_a_bad_condition_is_located_at_add_when() -> None:
    text = SPEC.replace("stride == 1 and in_channels == out", "stride == 1 and in_channel == out")
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    err = exc.value
    assert err.error_code == "E302" and "in_channel" in err.render()
    assert err.span is not None and (err.span.line, err.span.col) == (9, 19)
