"""Per-kind facts live on the ops (picture category, W402 window, label field, join sign):
every built-in declares its own, the registry refuses a bad one when the kind registers, and a
plugin that declares nothing gets the defaults written once in `Op`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pytest

import archspec
from archspec.dims import Shape
from archspec.ops import REGISTRY, Inferred, LayerSpec, Op, ShapeContext
from archspec.ops.base import CATEGORIES

#: What each built-in kind was drawn as when pictures guessed the colour from the kind's name
#: (graph.py before issue 13): the declared facts keep every picture as it was.
OLD_CATEGORY = {
    **{f"conv{n}d": "conv" for n in (1, 2, 3)},
    **{f"{p}pool{n}d": "pool" for n in (1, 2, 3) for p in ("max", "avg")},
    **{f"adaptive_{p}pool{n}d": "pool" for n in (1, 2, 3) for p in ("max", "avg")},
    **{f"batchnorm{n}d": "norm" for n in (1, 2, 3)},
    "local_response_norm": "norm",
    "channel_affine": "norm",
    "parameter": "linear",
    "linear": "linear",
    "dropout": "dropout",
    "dropout2d": "dropout",
    "flatten": "reshape",
    "identity": "reshape",
    **dict.fromkeys(
        ("relu", "relu6", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "softmax"), "act"
    ),
    "log_softmax": "act",
    "activation": "act",
    "add": "merge",
    "concat": "merge",
}
#: Kinds added since (issue 14), each with the category it declares.
NEWER_CATEGORY = {
    "block_output": "reshape",  # one output of a block call of several
    **dict.fromkeys(("mul", "sub"), "merge"),
    **dict.fromkeys(
        ("permute", "reshape", "channel_shuffle", "zero_pad2d", "zero_pad1d", "zero_pad3d"),
        "reshape",
    ),
    **dict.fromkeys(("chunk", "split"), "reshape"),
    **dict.fromkeys(("pixel_shuffle", "pixel_unshuffle"), "reshape"),
    **dict.fromkeys(("hardswish", "hardsigmoid", "elu", "mish", "prelu"), "act"),
    "stochastic_depth": "dropout",
    **dict.fromkeys(("group_norm", "instance_norm2d", "layer_norm", "layer_norm2d"), "norm"),
    "frozen_batch_norm2d": "norm",  # torchvision's FrozenBatchNorm2d (session 40)
    **dict.fromkeys(("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"), "conv"),
    **dict.fromkeys(("upsample", "interpolate", "interpolate_as", "mean", "sum", "amax"), "pool"),
    "amin": "pool",
    **dict.fromkeys(("affine_grid", "grid_sample", "sine_position_encoding"), "pool"),
    "stack": "merge",
    **dict.fromkeys(
        ("partition", "departition", "squeeze", "unsqueeze", "slice", "slice_as", "flip"),
        "reshape",
    ),
    "relative_attention": "linear",
    "buffer": "linear",
    **dict.fromkeys(("multihead_attention", "shifted_window_attention", "patch_merging"), "linear"),
    **dict.fromkeys(("lstm", "gru", "rnn"), "linear"),
    **dict.fromkeys(("select", "check_size", "expand", "pad_as", "index"), "reshape"),
    **dict.fromkeys(("matmul", "scaled_dot_product_attention"), "linear"),
    "scale": "merge",
    "div": "merge",
    "addcmul": "merge",
    "normalize": "merge",
    "elementwise": "merge",
    "pow": "merge",
    "vector_norm": "pool",
    **dict.fromkeys(("std", "var"), "pool"),
    "std_conv2d": "conv",
    "blur_pool2d": "pool",
    **{
        f"{family}_pad{n}d": "reshape"
        for family in ("constant", "reflection", "replication")
        for n in (1, 2, 3)
    },
    "unflatten": "reshape",
    "unflatten_as": "reshape",
    **dict.fromkeys(
        ("softplus", "selu", "celu", "hardtanh", "logsigmoid", "softsign", "tanhshrink"), "act"
    ),
    **dict.fromkeys(("threshold", "glu"), "act"),
    "embedding": "linear",
    "reuse": "merge",
    **{f"maxpool{n}d_with_indices": "pool" for n in (1, 2, 3)},
    **{f"maxunpool{n}d{a}": "pool" for n in (1, 2, 3) for a in ("", "_as")},
    **dict.fromkeys(("maximum", "minimum"), "merge"),
    **dict.fromkeys(("dropout1d", "alpha_dropout", "feature_alpha_dropout"), "dropout"),
    "randn_like": "dropout",  # the other random step
    "masked_fill": "merge",
    "full_like": "reshape",  # one value at the input's shape: made of a shape alone
    "pad_to_multiple": "reshape",
    "contiguous": "reshape",  # a layout, as permute's
    "topk": "pool",  # a selection of values, as a max pool's
    "tile": "reshape",  # copies of the input's values, as expand's
    **{f"global_avgpool{n}d": "pool" for n in (1, 2, 3)},  # F.avg_pool2d(x, x.shape[2:])
}
#: The kinds W402 checked by name before (a sliding window over 1, 2 or 3 dims).
OLD_WINDOWED = {f"{p}{n}d": n for n in (1, 2, 3) for p in ("conv", "maxpool", "avgpool")}
#: Kinds added since that slide a window too.
NEWER_WINDOWED = {"std_conv2d": 2, **{f"maxpool{n}d_with_indices": n for n in (1, 2, 3)}}


def _builtins() -> dict[str, Op]:
    return {k: op for k, op in REGISTRY.items() if type(op).__module__.startswith("archspec.ops.")}


def test_every_builtin_declares_its_category_itself() -> None:
    builtins = _builtins()
    expected = {**OLD_CATEGORY, **NEWER_CATEGORY}
    assert set(builtins) == set(expected)
    for kind, op in builtins.items():
        declared = [c for c in type(op).__mro__ if c is not Op and "category" in vars(c)]
        assert declared, f"{kind} inherits Op's default category instead of declaring one"
        assert op.category == expected[kind], kind


def test_window_dims_match_the_kinds_w402_checked() -> None:
    windowed = {k: op.window_dims for k, op in _builtins().items() if op.window_dims}
    assert windowed == {**OLD_WINDOWED, **NEWER_WINDOWED}


def test_only_kinds_of_a_fn_are_labelled_by_a_field_and_only_elementwise_joins_have_a_sign() -> (
    None
):
    labelled = {k: op.label_field for k, op in _builtins().items() if op.label_field}
    assert labelled == {"activation": "fn", "elementwise": "fn"}
    signs = {k: op.join_sign for k, op in _builtins().items() if op.join_sign}
    assert signs == {"add": "+", "mul": "*", "sub": "-", "div": "/"}


class _ToySpec(LayerSpec):
    type: Literal["toy_fact"]


def _toy(**facts: Any) -> type[Op]:
    def infer(self: Op, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Any:
        return Inferred(attrs, inputs[0])

    def build(self: Op, attrs: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def emit(self: Op, attrs: Mapping[str, Any], lit: Any) -> str:
        return "nn.Identity()"

    body = {"kind": "toy_fact", "spec": _ToySpec, "infer": infer, "build": build, "emit": emit}
    return type("ToyOp", (Op,), {**body, **facts})


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"category": "colourful"}, "`category` must be one of"),
        ({"window_dims": 4}, "`window_dims` must be 0, 1, 2 or 3"),
        ({"window_dims": True}, "`window_dims` must be 0, 1, 2 or 3"),
        ({"window_dims": 2}, "a windowed layer needs the spec field(s) kernel_size, padding"),
        ({"label_field": "fn"}, "`label_field` 'fn' is not a field of its spec"),
        ({"join_sign": 1}, "`join_sign` must be a string"),
        ({"optional_tensors": ("gamma",)}, "`optional_tensors` must be a tuple of 'weight' and"),
        ({"optional_tensors": "bias"}, "`optional_tensors` must be a tuple of 'weight' and"),
    ],
)
def test_a_bad_fact_is_refused_when_the_kind_registers(facts: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        archspec.register(_toy(**facts))
    assert "toy_fact" not in REGISTRY


def test_a_plugin_that_declares_nothing_gets_the_defaults_of_op() -> None:
    archspec.register(_toy())
    try:
        op = REGISTRY["toy_fact"]
        assert (op.category, op.window_dims, op.label_field, op.join_sign) == ("act", 0, None, "")
        assert op.category in CATEGORIES
        assert op.optional_tensors == ()
        assert (op.init_tensors({}), op.submodules({})) == (None, None)  # only torch knows
    finally:
        archspec.unregister("toy_fact")


def test_init_tensors_are_the_dims_torch_builds() -> None:
    """The fact lowering's E313 check reads is what torch builds, for every built-in with
    weights (with and without a bias or affine parameters), and every built-in declares it
    (parameter-free kinds: none; tests/test_op_facts.py checks every kind)."""
    import torch

    from archspec.ir import iter_nodes

    specs = ["resnet18", "lenet5", "vgg11_bn", "alexnet"]
    seen = set()
    for name in specs:
        graph = archspec.build_graph(name)
        model = archspec.compile(name, device="meta")
        modules = dict(model.named_modules())
        for path, node in iter_nodes(graph.root):
            if node.child is not None or not node.is_module:
                continue
            ranks = REGISTRY[node.kind].init_tensors(node.attrs)
            assert ranks is not None, node.kind
            module = modules[path]
            built = {
                which: getattr(module, which).dim()
                for which in ("weight", "bias")
                if isinstance(getattr(module, which, None), torch.Tensor)
            }
            assert built == dict(ranks), (name, path)
            if ranks:
                seen.add((node.kind, tuple(sorted(ranks))))
    assert {k for k, _ in seen} >= {"conv2d", "linear", "batchnorm2d"}
    assert ("conv2d", ("weight",)) in seen  # a conv without bias (resnet18)
    assert all(type(op).init_tensors is not Op.init_tensors for op in _builtins().values())
