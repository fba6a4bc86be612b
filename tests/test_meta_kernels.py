"""archspec/meta_kernels.py: each rule gives torch's meta kernel's output (shape, dtype,
strides; the input itself for an in-place op), declines what it does not cover, and a
summary taken with the rules equals one taken through torch's kernels alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import archspec
from archspec import meta_kernels
from archspec.meta_kernels import _COUNTED_NAMES, RULES, macs, meta_output

ROOT = Path(__file__).resolve().parent.parent
aten = torch.ops.aten


def m(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="meta")


def last(*shape: int) -> torch.Tensor:
    return m(*shape).to(memory_format=torch.channels_last)


X = m(2, 8, 9, 7)
C8 = m(8)
CASES = [  # (op, args, kwargs) the rules cover
    (aten.relu.default, (X,), {}),
    (aten.relu_.default, (m(2, 8, 9, 7),), {}),
    (aten.hardtanh.default, (X, 0.0, 6.0), {}),
    (aten.hardtanh_.default, (m(3, 5), 0.0, 6.0), {}),
    (aten.silu.default, (m(4, 5, dtype=torch.float64),), {}),
    (aten.silu_.default, (m(4, 5),), {}),
    (aten.sigmoid.default, (m(1, 8, 1, 1),), {}),
    (aten.tanh.default, (m(5),), {}),
    (aten.gelu.default, (m(2, 3, 4),), {"approximate": "tanh"}),
    (aten.hardswish.default, (X,), {}),
    (aten.hardswish_.default, (m(2, 8, 9, 7),), {}),
    (aten.hardsigmoid.default, (X,), {}),
    (aten.add.Tensor, (X, m(2, 8, 9, 7)), {}),
    (aten.add.Tensor, (X, m(2, 8, 9, 7)), {"alpha": 2}),
    (aten.add.Tensor, (X, m(8, 1, 1)), {}),
    (aten.mul.Tensor, (X, m(2, 8, 1, 1)), {}),
    (aten.mul.Tensor, (m(8, 1, 1), X), {}),
    (aten.add_.Tensor, (m(2, 8, 9, 7), X), {}),
    (aten.mul_.Tensor, (m(2, 8, 9, 7), m(2, 8, 1, 1)), {}),
    (
        aten.convolution.default,
        (X, m(16, 8, 3, 3), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
        {},
    ),
    (
        aten.convolution.default,
        (X, m(16, 4, 3, 2), m(16), [2, 1], [0, 1], [1, 2], False, [0, 0], 2),
        {},
    ),
    (aten.convolution.default, (X, m(8, 1, 5, 5), None, [2], [2], [1], False, [0], 8), {}),
    (
        aten.convolution.default,
        (m(1, 8, 1, 1), m(4, 8, 1, 1), m(4), [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
        {},
    ),
    (aten.convolution.default, (m(2, 3, 17), m(6, 3, 4), None, [3], [1], [1], False, [0], 1), {}),
    (
        aten.convolution.default,
        (
            m(1, 2, 5, 6, 7),
            m(4, 2, 3, 3, 3),
            None,
            [1, 2, 1],
            [1, 0, 1],
            [1, 1, 1],
            False,
            [0, 0, 0],
            1,
        ),
        {},
    ),
    (aten.native_batch_norm.default, (X, C8, C8, m(8), m(8), True, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (X, C8, C8, m(8), m(8), False, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (m(4, 8), None, None, None, None, True, 0.1, 1e-5), {}),
    (
        aten.native_batch_norm.default,
        (
            m(2, 8, 5, dtype=torch.float64),
            None,
            None,
            m(8, dtype=torch.float64),
            m(8, dtype=torch.float64),
            False,
            0.1,
            1e-5,
        ),
        {},
    ),
    (aten.addmm.default, (m(10), m(3, 20), m(10, 20).t()), {}),
    (aten.addmm.default, (m(3, 10), m(3, 20), m(20, 10)), {"beta": 0.5}),
    (aten.mean.dim, (X, [2, 3]), {}),
    (aten.mean.dim, (X, [-1, -2], True), {}),
    (aten.mean.dim, (X, [1]), {"keepdim": True}),
    (aten.max_pool2d_with_indices.default, (X, [3, 3], [2, 2], [1, 1]), {}),
    (aten.max_pool2d_with_indices.default, (X, [2, 2]), {}),
    (aten.max_pool2d_with_indices.default, (X, [3, 2], [1, 2], [1, 0], [2, 1], False), {}),
]
DECLINED = [  # cases a rule leaves to torch: other layouts, dtypes, shapes that disagree
    (aten.relu.default, (last(2, 8, 9, 7),), {}),
    (aten.relu.default, (m(2, 3, dtype=torch.float16),), {}),
    (aten.relu.default, (m(4, 6).t(),), {}),
    (aten.add.Tensor, (X, m(2, 3)), {}),
    (aten.add.Tensor, (X, m(2, 8, 9, 7, dtype=torch.float64)), {}),
    (aten.add.Tensor, (X, torch.tensor(1.0)), {}),
    (aten.add_.Tensor, (m(8, 1, 1), X), {}),
    (
        aten.convolution.default,
        (X, m(16, 3, 3, 3), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
        {},
    ),
    (
        aten.convolution.default,
        (X, m(16, 8, 3, 3), None, [1, 1], [1, 1], [1, 1], True, [0, 0], 1),
        {},
    ),
    (
        aten.convolution.default,
        (X, m(16, 8, 11, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
        {},
    ),
    (
        aten.convolution.default,
        (last(2, 8, 9, 7), m(16, 8, 3, 3), None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
        {},
    ),
    (
        aten.convolution.default,
        (X, m(16, 8, 3, 3), m(15), [1, 1], [1, 1], [1, 1], False, [0, 0], 1),
        {},
    ),
    (aten.native_batch_norm.default, (X, m(7), C8, m(8), m(8), True, 0.1, 1e-5), {}),
    (aten.native_batch_norm.default, (X, C8, C8, None, None, False, 0.1, 1e-5), {}),
    (
        aten.native_batch_norm.default,
        (m(2, 8, 3, dtype=torch.float16), None, None, None, None, True, 0.1, 1e-5),
        {},
    ),
    (aten.addmm.default, (m(10), m(3, 20), m(19, 10)), {}),
    (aten.mean.dim, (X, [2, 2]), {}),
    (aten.mean.dim, (X, [2]), {"dtype": torch.float64}),
    (aten.max_pool2d_with_indices.default, (X, [3, 3], [2, 2], [1, 1], [1, 1], True), {}),
    (aten.max_pool2d_with_indices.default, (X, [3, 3], [2, 2], [2, 2]), {}),
    (aten.max_pool2d_with_indices.default, (m(8, 9, 7), [2, 2]), {}),
]


def _described(out: object) -> object:
    if isinstance(out, torch.Tensor):
        return (tuple(out.shape), out.stride(), out.dtype, out.device.type)
    return tuple(_described(o) for o in out)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("op", "args", "kwargs"), CASES, ids=lambda v: str(v)[:40])
def test_a_rule_gives_torchs_output(op, args, kwargs) -> None:
    mine = meta_output(op, args, kwargs)
    assert mine is not None, "the rule declined a case it covers"
    theirs = op(*args, **kwargs)
    assert _described(mine) == _described(theirs)
    if op._schema.name.endswith("_"):  # in place: the input itself, as torch returns it
        assert mine is args[0] and theirs is args[0]


@pytest.mark.parametrize(("op", "args", "kwargs"), DECLINED, ids=lambda v: str(v)[:40])
def test_a_rule_declines_what_it_does_not_cover(op, args, kwargs) -> None:
    assert meta_output(op, args, kwargs) is None


def test_every_rule_is_tried() -> None:
    assert {op for op, _, _ in CASES} == set(RULES)


def test_an_unknown_op_is_left_to_torch() -> None:
    assert meta_output(aten.layer_norm.default, (X, [7]), {}) is None


def _models() -> list[tuple[str, torch.nn.Module, tuple[int, ...]]]:
    from tests.test_module_summary import LeNet5, ResNet18

    with torch.device("meta"):
        out = [("ResNet18", ResNet18(), (2, 3, 64, 64)), ("LeNet5", LeNet5(), (3, 1, 32, 32))]
    for name in ("mobilenet_v2", "efficientnet_b0", "convnext_tiny", "vit_b_16", "densenet121"):
        out.append((name, archspec.compile(name, device="meta"), (2, 3, 224, 224)))
    return out


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_summary_with_the_rules_equals_one_through_torchs_kernels(mode, monkeypatch) -> None:
    for name, model, size in _models():
        fast = archspec.summary(model, input_size=size, mode=mode)
        with monkeypatch.context() as patch:
            patch.setattr(meta_kernels, "meta_output", lambda *_: None)
            slow = archspec.summary(model, input_size=size, mode=mode)
        assert fast == slow, name


def test_a_cnn_summary_imports_neither_sympy_nor_dynamo() -> None:
    """torch's Python meta kernels import sympy through torch._check (0.5 s, 35 MiB), and
    flop_counter imports triton on CUDA builds (80 MiB): none of them is needed."""
    code = textwrap.dedent(
        """
        import sys, torch, archspec
        from tests.test_module_summary import ResNet18
        with torch.device("meta"):
            m = ResNet18()
        s = archspec.summary(m, input_size=(1, 3, 224, 224))
        loaded = ("sympy", "torch._dynamo", "torch.utils.flop_counter")
        print(s.params, [k for k in loaded if k in sys.modules])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split(maxsplit=1) == ["11689512", "[]\n"], out.stderr[-2000:]


MAC_CASES = [
    (aten.mm.default, (m(3, 20), m(20, 10)), {}),
    (aten.bmm.default, (m(4, 3, 20), m(4, 20, 10)), {}),
    (aten.addmm.default, (m(10), m(3, 20), m(10, 20).t()), {"beta": 0.5}),
    (aten.baddbmm.default, (m(4, 3, 10), m(4, 3, 20), m(4, 20, 10)), {}),
    *[(op, args, kwargs) for op, args, kwargs in CASES if op == aten.convolution.default],
    (
        aten.convolution.default,
        (X, m(8, 3, 2, 2), None, [2, 2], [0, 0], [1, 1], True, [0, 0], 1),
        {},
    ),
    (
        aten.convolution.default,
        (X, m(8, 2, 3, 3), m(8), [1, 1], [1, 1], [1, 1], True, [0, 0], 4),
        {},
    ),
]


@pytest.mark.parametrize(("op", "args", "kwargs"), MAC_CASES, ids=lambda v: str(v)[:40])
def test_macs_are_flop_counters_formulas_halved(op, args, kwargs) -> None:
    from torch.utils.flop_counter import flop_registry

    out = op(*args, **kwargs)
    flops = flop_registry[op._overloadpacket](*args, **kwargs, out_val=out)
    assert macs(op, args, kwargs, out) == flops // 2 > 0


def test_every_op_with_a_flop_formula_is_counted() -> None:
    """`macs` imports flop_counter only for ops named like the ones it has formulas for."""
    from torch.utils.flop_counter import flop_registry

    assert all(_COUNTED_NAMES.search(str(op)) for op in flop_registry)
    assert macs(aten.relu.default, (X,), {}, X) == 0
