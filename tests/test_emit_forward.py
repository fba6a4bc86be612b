"""Source emission, forward: training-mode outputs, and one way to write each activation."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module

from .conftest import SPECS
from .emit_helpers import (
    _emitted_class,
    _fill,
    _grads,
    _load,
    _same_weights,
    _source,
    _train_outputs,
)


def test_googlenet_training_mode_matches_compile() -> None:
    ref = archspec.compile(SPECS / "googlenet.yaml", device="meta").to_empty(device="cpu")
    _fill(ref, seed=9)
    with torch.device("meta"):
        ours = _emitted_class("googlenet")()
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    got, want = _train_outputs(ours, x, 5), _train_outputs(ref, x, 5)
    assert isinstance(got, tuple) and len(got) == len(want) == 3
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)


def test_resnet_blocks_reuse_self_relu_and_still_train_like_compile() -> None:
    """Bottleneck writes every ReLU as `self.relu(...)` (torchvision's habit; the module is
    in place), and a training step gives compile's gradients: the in-place ReLUs overwrite
    only tensors nothing else reads and autograd does not keep."""
    src = _source("resnet50")
    block = src.split("class Bottleneck", 1)[1].split("\nclass ", 1)[0]
    assert "torch.relu" not in block and block.count("self.relu(out)") == 3
    torch.manual_seed(2)
    ref = archspec.compile("resnet18", num_classes=5)
    torch.manual_seed(2)
    ours = _emitted_class("resnet18", num_classes=5)()
    assert _same_weights(ours, ref)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    got, want = _grads(ours, x), _grads(ref, x)
    assert list(got) == list(want)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)


SHARED = """\
archspec: 1
name: shared
input: [N, 3, 8, 8]
blocks:
  Unit:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 1}
      - {name: act, type: activation, fn: relu}
      - {name: sum, type: add, from: [act, conv]}
      - {name: relu, type: relu, inplace: %s}
layers:
  - {name: a, type: Unit, c: 4}
  - {name: b, type: Unit, c: 4}
"""


@pytest.mark.parametrize("inplace", ["true", "false"])
def test_an_in_place_module_never_stands_in_where_its_input_is_read_again(inplace: str) -> None:
    """`act` reads the conv's output, which `sum` reads too: an in-place `self.relu` there
    would change what `sum` adds, so the function stays; a ReLU that is not in place may."""
    text = SHARED % inplace
    graph = build_graph(text)
    source = render_module(graph)
    unit = source.split("class Unit", 1)[1].split("\nclass ", 1)[0]
    if inplace == "true":
        assert "torch.relu(" in unit and unit.count("self.relu(") == 1
    else:
        assert "torch.relu(" not in unit and unit.count("self.relu(") == 2
    torch.manual_seed(4)
    ref = archspec.compile(text)
    torch.manual_seed(4)
    ours = getattr(_load(source, "shared"), graph.class_name)()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(ours(x), ref(x))
    got, want = _grads(ours, x), _grads(ref, x)
    for k in want:
        torch.testing.assert_close(got[k], want[k])


TRAIN_ONLY_HEAD = """archspec: 1
name: head
input: [N, 4, 6, 6]
layers:
  - {name: conv, type: conv2d, out_channels: 3, kernel_size: 1}
  - name: classifier
    type: sequential
    layers:
      - {type: relu}
      - {type: flatten, train_only: true}
      - {type: linear, out_features: 2}
"""


def test_a_module_whose_outputs_all_run_in_training_only_returns_an_empty_tuple() -> None:
    """Found by the fuzz (a `train_only` flatten in ConvNeXt's classifier): in eval the
    emitted class returned None where the compiled module returns (); now both give ()."""
    source = render_module(build_graph(TRAIN_ONLY_HEAD))
    assert "return ()" in source
    emitted = _load(source, "train_only_head").Head()
    compiled = archspec.compile(TRAIN_ONLY_HEAD)
    emitted.load_state_dict(compiled.state_dict(), strict=True)
    x = torch.randn(2, 4, 6, 6)
    assert compiled.eval()(x) == () and emitted.eval()(x) == ()
    torch.testing.assert_close(emitted.train()(x), compiled.train()(x))


#: An FPN top-down step (the upsampled map added to a lateral conv), a basic block with a
#: projection shortcut, and a residual whose body is added to the value it forked from.
JOINS = """archspec: 1
name: joins
input: [N, 16, 8, 8]
blocks:
  TopDown:
    inputs: [top, lateral]
    layers:
      - {name: up, type: interpolate_as, from: [top, lateral], mode: nearest}
      - {name: lat, type: conv2d, out_channels: 8, kernel_size: 1, from: lateral}
      - {name: merged, type: add, from: [lat, up]}
  Basic:
    layers:
      - {name: conv1, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {name: relu1, type: relu}
      - {name: conv2, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, from: relu1}
      - {name: proj, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
      - {name: sum, type: add, from: [conv2, proj]}
  PreNorm:
    layers:
      - {name: norm, type: batchnorm2d}
      - {name: mix, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: drop, type: dropout, p: 0.1}
      - {name: sum, type: add, from: [input, drop]}
layers:
  - {name: c5, type: conv2d, out_channels: 8, kernel_size: 1, stride: 2}
  - {name: c4, type: conv2d, out_channels: 4, kernel_size: 1, from: input}
  - {name: p4, type: TopDown, from: [c5, c4]}
  - {name: b, type: Basic}
  - {name: pre, type: PreNorm}
"""


def test_only_a_skip_is_written_identity() -> None:
    """torchvision's `identity = self.downsample(x)` names the skip of a residual; an FPN's
    upsampled map or a residual's body added to what it forked from keeps its node's name."""
    from .emit_helpers import matches_compile

    src = matches_compile(JOINS, (2, 16, 8, 8))
    top_down = src.split("class TopDown", 1)[1].split("\nclass ", 1)[0]
    assert "up = F.interpolate(top, size=lateral.shape[2:]" in top_down
    assert "x = x + up" in top_down and "identity" not in top_down
    basic = src.split("class Basic", 1)[1].split("\nclass ", 1)[0]
    assert "identity = self.proj(x)" in basic and "out = out + identity" in basic
    pre = src.split("class PreNorm", 1)[1].split("\nclass ", 1)[0]
    assert "drop = self.drop(out)" in pre and "identity" not in pre
