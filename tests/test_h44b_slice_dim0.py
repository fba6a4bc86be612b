"""`slice` of dim 0: a learned tensor's rows (pyGAT's `self.a[: self.out_features, :]`, the
two halves of its attention vector) and sequence-first tokens (`x[1:]` of (L, N, D)) are
ranges of dim 0, which `select` already takes (`out[-1]`); `slice` refused every dim 0 as
"the batch" (E309 at `dim`). A range of the batch itself is what `select` of it is: the
batch meets a fixed size, warned (W406)."""

from __future__ import annotations

import types

import torch

import archspec

HALVES = {
    "archspec": 1,
    "name": "halves",
    "input": ["N", 6],
    "layers": [
        {"name": "a", "type": "parameter", "shape": [8, 1], "init": "normal"},
        {"name": "a1", "type": "slice", "dim": 0, "end": 4, "from": "a"},
        {"name": "a2", "type": "slice", "dim": 0, "start": 4, "from": "a"},
        {"name": "proj", "type": "linear", "out_features": 4, "from": "input"},
        {"name": "s1", "type": "matmul", "from": ["proj", "a1"]},
        {"name": "s2", "type": "matmul", "from": ["proj", "a2"]},
        {"name": "e", "type": "add", "from": ["s1", "s2"]},
    ],
}
TOKENS = {
    "archspec": 1,
    "name": "tokens",
    "input": ["L", "N", 8],
    "layers": [{"name": "rest", "type": "slice", "dim": 0, "start": 1}],
}


def test_rows_of_a_learned_tensor_are_sliced_as_torch_slices_them() -> None:
    report = archspec.check(HALVES)
    assert report.ok and not report.diagnostics, report.diagnostics
    model = archspec.compile(HALVES).eval()
    source = archspec.emit(HALVES)
    assert "a[:4]" in source and "a[4:]" in source
    module = types.ModuleType("emitted_halves")
    exec(compile(source, "<emitted>", "exec"), module.__dict__)
    emitted = module.Halves().eval()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    a, proj = model.a, model.proj(x)
    want = proj @ a[:4, :] + proj @ a[4:, :]
    with torch.no_grad():
        assert torch.equal(model(x), want.detach())
        assert torch.equal(emitted(x), want.detach())


def test_sequence_first_tokens_keep_a_symbolic_length() -> None:
    report = archspec.check(TOKENS)
    assert report.ok and not report.diagnostics, report.diagnostics
    assert [str(d) for d in report.outputs[0]] == ["L - 1", "N", "8"]
    assert "L >= 2" in report.domain_text
    model = archspec.compile(TOKENS)
    x = torch.randn(5, 2, 8)
    assert torch.equal(model(x), x[1:])


def test_a_range_of_the_batch_is_warned_as_a_select_of_it_is() -> None:
    spec = {"archspec": 1, "name": "b", "input": ["N", 8],
            "layers": [{"type": "slice", "dim": 0, "end": 2}]}  # fmt: skip
    report = archspec.check(spec)
    assert report.ok
    assert [d.code for d in report.diagnostics] == ["W406"]
