"""A compiled spec is a plain nn.Module: torch.export, ONNX and DistributedDataParallel take it.

The DDP test is how users go past one machine: PyTorch's own engine, here two gloo
processes on localhost, one optimiser step, gradients compared across ranks.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError, ToolError
from archspec.interop import ONNX_PACKAGES, export_onnx, require_onnx


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_torch_export_resnet18_with_a_symbolic_batch() -> None:
    torch.manual_seed(0)
    model = archspec.load("resnet18", num_classes=10).eval()
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.randn(2, 3, 64, 64),), dynamic_shapes=({0: batch},))
    exported = program.module()
    with torch.no_grad():
        for n in (2, 5):
            x = torch.randn(n, 3, 64, 64)
            assert _same(exported(x), model(x))


@pytest.mark.slow
def test_torch_export_googlenet_in_eval_mode() -> None:
    """Eval mode drops the training-only auxiliary heads: one output, as torchvision."""
    torch.manual_seed(0)
    model = archspec.load("googlenet", num_classes=10).eval()
    x = torch.randn(2, 3, 96, 96)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        out = program.module()(x)
        assert _same(out, model(x))
    assert out.shape == (2, 10)


HAVE_ONNX = all(importlib.util.find_spec(name) is not None for name in ONNX_PACKAGES)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # from torch.onnx's own internals
def test_onnx_export_has_a_symbolic_batch_and_the_same_outputs(tmp_path: Path) -> None:
    """With the `onnx` extra: a checked model whose batch dim is a name, run by onnx's own
    reference evaluator at another batch size. Without it: the install hint."""
    torch.manual_seed(0)
    model = archspec.load("lenet5").eval()
    path = tmp_path / "lenet5.onnx"
    if not HAVE_ONNX:
        with pytest.raises(ToolError, match=r"pip install 'archspec\[onnx\]'"):
            export_onnx(model, torch.randn(2, 1, 32, 32), path)
        return
    import onnx
    from onnx.reference import ReferenceEvaluator

    export_onnx(model, torch.randn(2, 1, 32, 32), path)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    (inp,) = proto.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and not dims[0].dim_value
    assert [d.dim_value for d in dims[1:]] == [1, 32, 32]
    x = torch.randn(3, 1, 32, 32)
    (got,) = ReferenceEvaluator(proto).run(None, {inp.name: x.numpy()})
    with torch.no_grad():
        assert _same(torch.from_numpy(got), model(x))
    # The one rule for every writer: an existing file is replaced only with force=True, and
    # the write leaves no temporary file beside it.
    before = path.read_bytes()
    with pytest.raises(ArchSpecError) as refused:
        export_onnx(model, torch.randn(2, 1, 32, 32), path)
    assert refused.value.error_code == "E603"
    assert path.read_bytes() == before
    export_onnx(model, torch.randn(2, 1, 32, 32), path, force=True)
    assert onnx.load(str(path)).graph.input[0].name == inp.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5.onnx"]


def test_onnx_guard_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name)
    )
    with pytest.raises(ToolError) as info:
        require_onnx()
    assert "needs the onnxscript package" in str(info.value)
    assert info.value.hint == "pip install 'archspec[onnx]'"


# --------------------------------------------------------------------------------------
# DistributedDataParallel: two processes, gloo, one step.

WORLD = 2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int) -> None:
    """One rank: same init everywhere, its own data, one SGD step; gradients must agree."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    # A bounded wait: a rank that fails must not leave the other blocked for gloo's 30 minutes.
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=120))
    try:
        torch.manual_seed(0)
        model = DDP(archspec.load("lenet5"))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        gen = torch.Generator().manual_seed(100 + rank)  # different data on each rank
        x = torch.randn(8, 1, 32, 32, generator=gen)
        y = torch.randint(0, 10, (8,), generator=gen)
        before = [p.detach().clone() for p in model.parameters()]
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        gathered = [torch.empty_like(grads) for _ in range(world)]
        dist.all_gather(gathered, grads)
        losses = [torch.empty(1) for _ in range(world)]
        dist.all_gather(losses, loss.detach().reshape(1))
        assert losses[0].item() != losses[1].item(), "ranks saw the same data"
        assert grads.abs().sum() > 0
        for other in gathered:
            assert torch.equal(other, gathered[0]), "gradients differ across ranks"
        opt.step()
        params = torch.cat([p.detach().flatten() for p in model.parameters()])
        moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
        assert moved.abs().sum() > 0
        after = [torch.empty_like(params) for _ in range(world)]
        dist.all_gather(after, params)
        assert torch.equal(after[0], after[1]), "parameters differ after the step"
        # Neither rank tears gloo down while the other may still be reading from it (rank 0
        # hosts the store); the abort this test once hit comes later, at exit (see below).
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # Every check passed. Leave without the interpreter's teardown: in torch 2.13 a gloo thread
    # can still be joinable when C++ static destructors run, and about one exit in forty ends in
    # std::terminate (SIGABRT, "terminate called without an active exception") after the work
    # is done. That is torch's exit path, not the model's; a failed check above still raises.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@pytest.mark.slow
def test_ddp_gloo_two_processes_one_step() -> None:
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(WORLD, _free_port()), nprocs=WORLD, join=True)
