"""Training units: `shard:` picks the block instances `archspec.shard_units` returns for FSDP2,
and `checkpoint:` runs blocks under activation checkpointing in the compiled module and in
emitted source, with the gradients of the plain model (tests/test_fsdp.py runs FSDP2 itself)."""

from __future__ import annotations

import copy
import io
import pickle
import textwrap
import types
from typing import Any

import pytest
import torch
import torch.nn as nn

import archspec
from archspec.backends.torch_module import (
    CheckpointedModule,
    CheckpointedSequential,
    SpecModule,
    SpecSequential,
)
from archspec.errors import ArchSpecError

#: A stem block (a chain: nn.Sequential), two library BasicBlocks (a residual: a module
#: with a forward), a Head block nesting a ConvBN; dropout inside a checkpointed block
#: checks that recomputation draws the same mask.
NET = """\
archspec: 1
name: units_net
input: [N, 3, 16, 16]
use:
  - {from: "archspec:blocks/resnet", blocks: [BasicBlock]}
blocks:
  ConvBN:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1, bias: false}
      - {name: bn, type: batchnorm2d}
      - {name: relu, type: relu}
  Head:
    params: {c: int}
    layers:
      - {name: mix, type: ConvBN, c: c}
      - {name: drop, type: dropout, p: 0.25}
      - {name: pool, type: adaptive_avgpool2d, output_size: 1}
      - {name: flatten, type: flatten}
layers:
  - {name: stem, type: ConvBN, c: 8}
  - {name: layer1, type: repeat, count: 2,
     layer: {type: BasicBlock, planes: 16, stride: "2 if i == 0 else 1"}}
  - {name: head, type: Head, c: 16}
  - {name: fc, type: linear, out_features: 10}
"""


def with_keys(extra: str, text: str = NET) -> str:
    """`text` with top-level keys added after its header."""
    head, rest = text.split("use:\n", 1)
    return head + textwrap.dedent(extra) + "use:\n" + rest


def err(text: str) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text, {})
    return info.value


# -- shard: ---------------------------------------------------------------------------------


def unit_paths(model: nn.Module) -> list[str]:
    names = {id(m): n for n, m in model.named_modules()}
    return [names[id(m)] for m in archspec.shard_units(model)]


def test_resnet50_units_are_its_bottlenecks() -> None:
    model = archspec.compile("resnet50", device="meta")
    units = archspec.shard_units(model)
    assert len(units) == 16 and {type(m).__name__ for m in units} == {"Bottleneck"}
    assert unit_paths(model)[:4] == ["layer1.0", "layer1.1", "layer1.2", "layer2.0"]
    # not the convs inside them, nor the stage Sequentials, nor the root
    assert model not in units and model.layer1 not in units


def test_default_units_are_the_outermost_block_instances() -> None:
    model = archspec.compile(NET)
    assert unit_paths(model) == ["stem", "layer1.0", "layer1.1", "head"]  # not head.mix


def test_shard_names_the_blocks_nested_ones_first() -> None:
    model = archspec.compile(with_keys("shard: [ConvBN, Head]\n"))
    # head.mix (a ConvBN inside Head) comes before head: fully_shard children first
    assert unit_paths(model) == ["stem", "head.mix", "head"]
    assert archspec.shard_units(archspec.compile(with_keys("shard: []\n"))) == []


def test_shard_of_an_extended_builtin() -> None:
    text = "archspec: 1\nextends: resnet18\nname: r18_units\nshard: []\n"
    assert archspec.shard_units(archspec.compile(text, device="meta")) == []


def test_units_survive_copies_and_a_wrapping_module() -> None:
    model = archspec.compile(NET)
    outer = nn.Sequential(model, nn.Linear(10, 2))
    assert unit_paths(outer) == ["0.stem", "0.layer1.0", "0.layer1.1", "0.head"]
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    for copied in (copy.deepcopy(model), torch.load(buf, weights_only=False)):
        assert unit_paths(copied) == unit_paths(model)


def test_shard_units_refuses_a_model_archspec_did_not_compile() -> None:
    with pytest.raises(TypeError, match="holds no module compiled by archspec"):
        archspec.shard_units(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(TypeError, match=r"takes an nn\.Module"):
        archspec.shard_units("resnet50")  # type: ignore[arg-type]


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "code", "line", "col", "hint"),
    [
        ("shard: [ConvBn]\n", "E205", 4, 9, "did you mean `ConvBN`?"),
        ("shard: [Stem, Head]\n", "E205", 4, 9, "this spec's blocks: BasicBlock, ConvBN, Head"),
        ("checkpoint: [BasicBlok]\n", "E205", 4, 14, "did you mean `BasicBlock`?"),
        ("shard: ConvBN\n", "E202", 4, 8, None),
        ("checkpoint: true\n", "E202", 4, 13, None),
    ],
)
def test_unknown_blocks_are_located(
    extra: str, code: str, line: int, col: int, hint: str | None
) -> None:
    e = err(with_keys(extra))
    assert e.error_code == code, e.render()
    assert e.span is not None and (e.span.line, e.span.col) == (line, col), e.render()
    if hint is not None:
        assert e.hint == hint


def test_unknown_block_in_a_spec_without_blocks() -> None:
    text = "archspec: 1\nname: t\ninput: [N, 4]\nshard: [Block]\nlayers:\n  - {type: relu}\n"
    e = err(text)
    assert e.error_code == "E205" and (e.span.line, e.span.col) == (4, 9)
    assert "`shard:` names `Block`, which is no block of this spec" in e.render()
    assert "define one under `blocks:`" in (e.hint or "")


def test_a_block_checkpoint_flag_is_a_bool() -> None:
    text = NET.replace("  ConvBN:\n", "  ConvBN:\n    checkpoint: yes please\n")
    e = err(text)
    assert e.error_code == "E202" and (e.span.line, e.span.col) == (8, 17), e.render()


# -- checkpoint: the compiled module --------------------------------------------------------


def checkpointed_net() -> str:
    """NET with every block checkpointed: ConvBN by its own flag, the others by the list."""
    text = NET.replace("  ConvBN:\n", "  ConvBN:\n    checkpoint: true\n")
    return with_keys("checkpoint: [BasicBlock, Head]\n", text)


def test_checkpointed_blocks_have_checkpointed_bases() -> None:
    model = archspec.compile(checkpointed_net())
    assert isinstance(model.stem, CheckpointedSequential) and type(model.stem).__name__ == "ConvBN"
    assert isinstance(model.layer1[0], CheckpointedModule)
    assert type(model.layer1[0]).__name__ == "BasicBlock"
    assert isinstance(model.head.mix, CheckpointedSequential)
    plain = archspec.compile(NET)
    assert type(plain.stem).__bases__ == (SpecSequential,)
    assert type(plain.layer1[0]).__bases__ == (SpecModule,)


def grads(model: nn.Module, x: torch.Tensor, seed: int = 3) -> dict[str, torch.Tensor]:
    """Gradients of one training step's loss (dropout drawn from `seed`)."""
    model.train()
    model.zero_grad()
    torch.manual_seed(seed)
    model(x).square().mean().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_checkpointed_gradients_equal_the_plain_model() -> None:
    torch.manual_seed(0)
    ckpt = archspec.compile(checkpointed_net())
    plain = archspec.compile(NET)
    plain.load_state_dict(ckpt.state_dict())
    x = torch.randn(4, 3, 16, 16)
    got, want = grads(ckpt, x), grads(plain, x)
    assert list(got) == list(want)
    for name in want:
        assert want[name].abs().sum() > 0, name
        assert torch.allclose(got[name], want[name], rtol=1e-5, atol=1e-7), name


def count_calls(module: nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_checkpointing_runs_only_in_training_with_grad() -> None:
    """The block's layers run again in backward (recomputed), once in eval or no_grad."""
    model = archspec.compile(checkpointed_net())
    block_conv, stem_conv = count_calls(model.layer1[1].conv2), count_calls(model.stem.conv)
    x = torch.randn(2, 3, 16, 16)
    model.train()
    model(x).sum().backward()
    assert block_conv == [2] and stem_conv == [2]
    # as documented: a recomputed BatchNorm counts the training step again
    assert model.layer1[1].bn2.num_batches_tracked.item() == 2
    with torch.no_grad():
        model(x)
    model.eval()
    model(x).sum().backward()
    assert block_conv == [4] and stem_conv == [4]
    plain = archspec.compile(NET)
    plain_conv = count_calls(plain.layer1[1].conv2)
    plain(x).sum().backward()
    assert plain_conv == [1]
    assert plain.layer1[1].bn2.num_batches_tracked.item() == 1


def test_checkpointed_model_pickles() -> None:
    model = archspec.compile(checkpointed_net())
    again = pickle.loads(pickle.dumps(model))
    assert type(again.layer1[0]) is type(model.layer1[0])
    assert isinstance(again.stem, CheckpointedSequential)
    x = torch.randn(2, 3, 16, 16)
    model.eval()
    again.eval()
    assert torch.equal(again(x), model(x))


def test_emitted_source_gives_the_same_units() -> None:
    """The emitted network class names its units' classes (`_archspec_shard`), so
    shard_units finds in an emitted model the modules it finds in the compiled one."""
    for extra in ("", "shard: [ConvBN, Head]\n", "shard: []\n"):
        text = with_keys(extra) if extra else NET
        compiled = archspec.compile(text)
        module = types.ModuleType("emitted_shard")
        exec(compile(archspec.emit(text), "<emitted shard>", "exec"), module.__dict__)
        model = module.UnitsNet()
        assert unit_paths(model) == unit_paths(compiled), extra
        assert unit_paths(nn.Sequential(model)) == ["0." + p for p in unit_paths(compiled)]
    source = archspec.emit(NET)
    assert '    _archspec_shard = ("BasicBlock", "ConvBN", "Head")\n' in source


def test_emitted_resnet50_units_are_its_bottlenecks() -> None:
    module = types.ModuleType("emitted_resnet50")
    exec(compile(archspec.emit("resnet50"), "<emitted resnet50>", "exec"), module.__dict__)
    with torch.device("meta"):
        model = module.ResNet50()
    compiled = archspec.compile("resnet50", device="meta")
    assert unit_paths(model) == unit_paths(compiled) and len(unit_paths(model)) == 16


#: A ViT in small: one Encoder instance holding most of the parameters around a repeat of
#: Layer blocks, and a big Head block with no block inside.
STACKED = """\
archspec: 1
name: stacked_net
input: [N, 8, 16]
blocks:
  Layer:
    layers:
      - {name: fc1, type: linear, out_features: 64}
      - {name: fc2, type: linear, out_features: 16}
  Encoder:
    params: {depth: int}
    layers:
      - {name: layers, type: repeat, count: depth, layer: {type: Layer}}
      - {name: norm, type: layer_norm, normalized_shape: 16}
  Head:
    layers:
      - {name: fc, type: linear, out_features: 16}
layers:
  - {name: embed, type: linear, out_features: 16}
  - {name: encoder, type: Encoder, depth: 3}
  - {name: head, type: Head}
"""


def test_a_block_holding_most_of_the_model_gives_its_inner_blocks() -> None:
    """FSDP gathers a unit whole: one that is nearly the whole model (ViT's Encoder) would
    save nothing, so its inner blocks are the units instead."""
    compiled = archspec.compile(STACKED)
    params = {n: sum(p.numel() for p in m.parameters()) for n, m in compiled.named_modules()}
    assert params["encoder"] > params[""] / 2  # the premise: the Encoder is most of it
    inner = ["encoder.layers.0", "encoder.layers.1", "encoder.layers.2"]
    assert unit_paths(compiled) == [*inner, "head"]
    module = types.ModuleType("emitted_stacked")
    exec(compile(archspec.emit(STACKED), "<emitted stacked>", "exec"), module.__dict__)
    assert unit_paths(module.StackedNet()) == unit_paths(compiled)
    # a block as large with no block inside stays a unit; `shard:` is taken as it is written
    wide = STACKED.replace("depth: 3}", "depth: 1}").replace(
        "out_features: 16}\nlayers", "out_features: 4096}\nlayers"
    )
    assert "head" in unit_paths(archspec.compile(wide))
    named = STACKED.replace(
        "layers:\n  - {name: embed", "shard: [Encoder]\nlayers:\n  - {name: embed"
    )
    assert unit_paths(archspec.compile(named)) == ["encoder"]


def test_vit_units_are_its_encoder_blocks() -> None:
    model = archspec.compile("vit_b_16", device="meta")
    assert len(unit_paths(model)) == 12
    assert {type(m).__name__ for m in archspec.shard_units(model)} == {"EncoderBlock"}


# -- checkpoint: emitted source -------------------------------------------------------------


def emitted(text: str) -> nn.Module:
    module = types.ModuleType("emitted_units")
    exec(compile(archspec.emit(text), "<emitted units>", "exec"), module.__dict__)
    return module.UnitsNet()


def test_emitted_checkpointed_blocks_read_like_pytorch() -> None:
    source = archspec.emit(checkpointed_net())
    assert "import torch.utils.checkpoint\n" in source
    assert (
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
        "        if self.training and torch.is_grad_enabled():\n"
        "            return torch.utils.checkpoint.checkpoint("
        "self._forward_impl, x, use_reentrant=False)\n"
        "        return self._forward_impl(x)\n\n"
        "    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:\n"
    ) in source
    # a chain block (an nn.Sequential subclass) checkpoints the Sequential's own forward
    assert "checkpoint(super().forward, x, use_reentrant=False)" in source
    assert source.count("use_reentrant=False") == 3  # ConvBN, BasicBlock, Head
    plain = archspec.emit(NET)
    assert "checkpoint" not in plain and "_forward_impl" not in plain


def test_emitted_checkpointed_gradients_equal_the_plain_model() -> None:
    torch.manual_seed(0)
    reference = archspec.compile(NET)
    x = torch.randn(4, 3, 16, 16)
    want = grads(reference, x)
    for text in (checkpointed_net(), NET):
        model = emitted(text)
        model.load_state_dict(reference.state_dict())
        conv = count_calls(model.layer1[1].conv2)
        got = grads(model, x)
        assert conv == [2 if text is not NET else 1]
        for name in want:
            assert torch.allclose(got[name], want[name], rtol=1e-5, atol=1e-7), name


@pytest.mark.heavy
@pytest.mark.parametrize("build", [archspec.compile, emitted], ids=["compiled", "emitted"])
def test_checkpointed_model_compiles_in_one_graph(build: Any) -> None:
    """torch.compile traces the checkpointed forward without a graph break."""
    model = build(checkpointed_net())
    reference = copy.deepcopy(model)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(2, 3, 16, 16)
    compiled.eval()
    reference.eval()
    assert torch.allclose(compiled(x), reference(x), atol=1e-6)
    compiled.train()
    reference.train()
    torch.manual_seed(1)
    compiled(x).sum().backward()
    torch.manual_seed(1)
    reference(x).sum().backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-5, atol=1e-6), name


#: A stem, a pooling head as a block of its own (no parameters), a linear.
POOLED = """\
archspec: 1
name: pooled_net
input: [N, 3, 16, 16]
blocks:
  ConvBN:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1, bias: false}
      - {name: bn, type: batchnorm2d}
  Pool:
    layers:
      - {name: pool, type: adaptive_avgpool2d, output_size: 1}
      - {name: flatten, type: flatten}
layers:
  - {name: stem, type: ConvBN, c: 8}
  - {name: body, type: ConvBN, c: 16}
  - {name: head, type: Pool}
  - {name: fc, type: linear, out_features: 10}
"""


def test_a_block_without_parameters_is_no_default_unit() -> None:
    """A pooling head as a block of its own (timm's SelectAdaptivePool2d, imported): it was
    a unit, which FSDP2 wraps to shard nothing, warning of the view it returns. Listed in
    `shard:` it is one, as asked; the emitted source names the same units."""
    model = archspec.compile(POOLED)
    assert unit_paths(model) == ["stem", "body"]  # not head
    asked = archspec.compile(POOLED.replace("blocks:\n", "shard: [Pool]\nblocks:\n", 1))
    assert unit_paths(asked) == ["head"]
    module = types.ModuleType("emitted_pooled")
    exec(compile(archspec.emit(POOLED), "<emitted pooled>", "exec"), module.__dict__)
    assert unit_paths(module.PooledNet()) == unit_paths(model)
