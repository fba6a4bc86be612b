"""torch.fx traces compiled and emitted models as it traces torchvision's: its
`symbolic_trace` (what torchvision's `create_feature_extractor` and FX quantization build
on) reads a model's class `forward`, so a compiled module's `forward(self, x, *more)` was a
Proxy it could not unpack ("Proxy object cannot be iterated") for every built-in spec; ViT's
`check_size` and class token expansion iterated Proxies, and Swin's window attention branches
on sizes: it is `torch.fx.wrap`ped, as torchvision wraps its own, in the package and in
emitted files. ViT's self-attention, a subclass of nn.MultiheadAttention (which fx keeps as
one call only where the class is torch's own), traces with it as a leaf module."""

from __future__ import annotations

import types

import pytest
import torch
import torch.fx

import archspec
from archspec.backends.selfcheck import parse_emitted
from archspec.errors import EmitError

SMALL = {
    "resnet18": {},
    "vit_b_16": {
        "patch_size": 56,
        "num_layers": 2,
        "hidden_dim": 48,
        "num_heads": 4,
        "mlp_dim": 64,
    },
    "swin_t": {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [2, 2, 2, 2]},
    "swin_v2_t": {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [2, 2, 2, 2]},
}
INPUT = {"resnet18": 64, "vit_b_16": 224, "swin_t": 64, "swin_v2_t": 64}


class _Leaves(torch.fx.Tracer):
    """symbolic_trace's tracer, with `leaves` kept as one call each (torchvision's
    `create_feature_extractor(..., tracer_kwargs={"leaf_modules": [...]})`)."""

    def __init__(self, leaves: list[type]) -> None:
        super().__init__()
        self.leaves = tuple(leaves)

    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
        return isinstance(m, self.leaves) or super().is_leaf_module(m, qualname)


def _emitted(name: str, params: dict[str, object]) -> torch.nn.Module:
    module = types.ModuleType("emitted_fx")
    exec(compile(archspec.emit(name, **params), "<emitted>", "exec"), module.__dict__)
    return getattr(module, archspec.build_graph(name, params).class_name)()  # built for them


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("how", ["compiled", "emitted"])
def test_symbolic_trace_computes_what_the_model_does(name: str, how: str) -> None:
    params = SMALL[name]
    torch.manual_seed(0)
    model = archspec.compile(name, **params) if how == "compiled" else _emitted(name, params)
    leaves = [type(m) for m in model.modules() if type(m).__name__ == "MultiheadSelfAttention"]
    assert bool(leaves) == name.startswith("vit")
    traced = torch.fx.GraphModule(model, _Leaves(leaves).trace(model.eval()))
    x = torch.randn(2, 3, INPUT[name], INPUT[name])
    with torch.no_grad():
        assert torch.equal(traced(x), model(x))
    calls = {n.target for n in traced.graph.nodes if n.op == "call_function"}
    if name.startswith("swin"):  # the window attention is one call, as torchvision's
        assert any(getattr(t, "__name__", "") == "swin_shifted_window_attention" for t in calls)


def test_a_block_of_several_inputs_still_takes_them() -> None:
    text = """\
archspec: 1
name: two_in
input: [N, 4, 8, 8]
blocks:
  Join:
    inputs: [x, skip]
    layers:
      - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1, from: x}
      - {name: out, type: add, from: [conv, skip]}
layers:
  - {name: stem, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: join, type: Join, from: [stem, input]}
"""
    model = archspec.compile(text).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(traced(x), model(x))
        assert torch.equal(model.join(x, x), model.join._fwd_eval(model.join, x, x))


@pytest.mark.parametrize(
    ("line", "ok"),
    [
        ('torch.fx.wrap("f")', True),
        ('torch.fx.wrap("g")', False),  # no function g above
        ("torch.fx.wrap(f)", False),
        ('torch.fx.wrap("f", 1)', False),
        ('print("f")', False),
    ],
)
def test_emitted_source_may_wrap_only_its_own_functions(line: str, ok: bool) -> None:
    source = f"import torch\n\n\ndef f(x):\n    return x\n\n\n{line}\n"
    if ok:
        assert parse_emitted(source).body[-1].lineno == 8
    else:
        with pytest.raises(EmitError, match="top-level"):
            parse_emitted(source)


def test_support_code_may_wrap_only_its_own_functions() -> None:
    """A kind's support text is held to what parse_emitted lets an emitted file hold: the
    wrap of a function defined above it, not of a class or of a function defined later."""
    from archspec.backends.support import _support_names

    ok = 'def f(x):\n    return x\n\n\ntorch.fx.wrap("f")\n'
    assert _support_names("k", ok) == ("f",)
    for bad in (
        'class C:\n    pass\n\n\ntorch.fx.wrap("C")\n',
        'torch.fx.wrap("f")\n\n\ndef f(x):\n    return x\n',
    ):
        with pytest.raises(EmitError, match="may only define classes and functions"):
            _support_names("k", bad)
