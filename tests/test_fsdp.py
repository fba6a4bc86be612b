"""FSDP2 on a compiled spec: two gloo processes on CPU shard the model on
`archspec.shard_units` (then the root), train one step, and get the gradients and updated
parameters one process gets from the same data (each rank's batch a separate forward, as
BatchNorm sees it under data parallelism, and their mean gradient).

The small spec runs by default (a few blocks, checkpointed ones among them); ResNet-50 is
the same test at full size, heavy.
"""

from __future__ import annotations

import copy
import os
import sys
from datetime import timedelta
from typing import Any

import pytest
import torch

import archspec

from .test_interop import _free_port

WORLD = 2

#: Stem block, two residual stages from the library; the BasicBlocks run checkpointed in the
#: sharded model, the reference is the plain spec (same weights).
SMALL = """
archspec: 1
name: small_units
input: [N, 3, 16, 16]
use:
  - {from: "archspec:blocks/resnet", blocks: [BasicBlock]}
blocks:
  Stem:
    params: {width: int}
    layers:
      - {name: conv, type: conv2d, out_channels: width, kernel_size: 3, padding: 1, bias: false}
      - {name: bn, type: batchnorm2d}
      - {name: relu, type: relu}
layers:
  - {name: stem, type: Stem, width: 8}
  - {name: layer1, type: BasicBlock, planes: 8}
  - {name: layer2, type: BasicBlock, planes: 16, stride: 2}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: 10}
"""


def _batch(rank: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(100 + rank)  # different data on each rank
    return torch.randn(*shape, generator=gen), torch.randint(0, 10, (shape[0],), generator=gen)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def _fsdp_worker(
    rank: int, world: int, port: int, sharded: Any, plain: Any, shape: tuple[int, ...], units: int
) -> None:
    """One rank: the same init everywhere, FSDP2 on the spec's units, one SGD step on this
    rank's batch; the full gradients and parameters must equal a one-process step."""
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    # A bounded wait: a rank that fails must not leave the other blocked for gloo's 30 minutes.
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=300))
    try:
        torch.manual_seed(0)
        model = archspec.compile(sharded)
        reference = archspec.compile(plain)
        reference.load_state_dict(model.state_dict())
        reference = copy.deepcopy(reference)  # nothing shared with the sharded model
        found = archspec.shard_units(model)
        assert len(found) == units, [type(m).__name__ for m in found]
        for unit in found:
            fully_shard(unit)
        fully_shard(model)
        lr = 0.1
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        x, y = _batch(rank, shape)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        losses = [torch.empty(1) for _ in range(world)]
        dist.all_gather(losses, loss.detach().reshape(1))
        assert losses[0].item() != losses[1].item(), "ranks saw the same data"
        opt.step()

        # One process, the same data: each rank's batch on its own (BatchNorm statistics
        # per rank, as under data parallelism), the mean of their gradients, one SGD step.
        reference.train()
        for r in range(world):
            xr, yr = _batch(r, shape)
            (torch.nn.functional.cross_entropy(reference(xr), yr) / world).backward()
        expected = dict(reference.named_parameters())
        with torch.no_grad():
            before = {n: p.detach().clone() for n, p in expected.items()}
            for p in expected.values():
                p -= lr * p.grad
        names = [n for n, _ in model.named_parameters()]
        assert names == list(expected), "FSDP renamed parameters"
        moved = 0.0
        for name, p in model.named_parameters():
            grad = p.grad.full_tensor()  # collective: both ranks walk the same order
            full = p.detach().full_tensor()
            ref = expected[name]
            assert _close(grad, ref.grad), f"gradient of {name} differs from one process"
            assert _close(full, ref.detach()), f"{name} after the step differs"
            moved += (full - before[name]).abs().sum().item()
        assert moved > 0
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # As the DDP test: leave without the interpreter's teardown (torch 2.13's gloo threads can
    # abort it after the work is done); a failed check above still raises.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _run(sharded: Any, plain: Any, shape: tuple[int, ...], units: int) -> None:
    import torch.multiprocessing as mp

    args = (WORLD, _free_port(), sharded, plain, shape, units)
    mp.spawn(_fsdp_worker, args=args, nprocs=WORLD, join=True)


@pytest.mark.slow
def test_fsdp2_gloo_small_spec_with_checkpointed_blocks() -> None:
    sharded = SMALL + "checkpoint: [BasicBlock]\n"
    # units: the stem and the two BasicBlocks (the outermost block instances)
    _run(sharded, SMALL, (4, 3, 16, 16), units=3)


@pytest.mark.heavy
def test_fsdp2_gloo_resnet50() -> None:
    _run("resnet50", "resnet50", (2, 3, 64, 64), units=16)
