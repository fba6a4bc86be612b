"""Init rules find their layers with `nodes_of_kinds`: the nodes and paths of iter_nodes,
in its order, narrowed to the kinds a rule names."""

from __future__ import annotations

import pytest

import archspec
from archspec.ir import iter_nodes
from archspec.lowering.initexprs import nodes_of_kinds


@pytest.mark.parametrize("name", ["efficientnet_b0", "googlenet"])
@pytest.mark.parametrize("kinds", [(), ("conv2d",), ("linear", "batchnorm2d"), ("module",)])
def test_the_nodes_of_kinds_are_iter_nodes_narrowed(name: str, kinds: tuple[str, ...]) -> None:
    root = archspec.build_graph(name).root
    every = [(path, node) for path, node in iter_nodes(root) if not kinds or node.kind in kinds]
    got = nodes_of_kinds(root, kinds)
    assert [p for p, _ in got] == [p for p, _ in every] and len(got) > 0
    assert all(a is b for (_, a), (_, b) in zip(got, every, strict=True))


def test_the_copies_of_a_module_without_those_kinds_are_not_walked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module that holds no node of the kinds is not walked again in its copies (the
    same nodes: Module.copy_of); the nodes found are still every one of those kinds."""
    from archspec.lowering import initexprs

    text = """\
archspec: 1
name: copies
input: [1, 8, 8, 8]
blocks:
  Unit:
    layers: [{name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}]
layers:
  - {name: stage, type: repeat, count: 30, layer: {type: Unit}}
  - {type: flatten}
  - {name: fc, type: linear, out_features: 2}
"""
    root = archspec.build_graph(text).root
    walked: list[int] = []
    real = initexprs._collect

    def counting(nodes: object, *args: object) -> None:
        walked.append(1)
        real(nodes, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(initexprs, "_collect", counting)
    assert [p for p, _ in nodes_of_kinds(root, ("linear",))] == ["fc"]
    assert len(walked) == 3  # the root, the stage, its first instance
    walked.clear()
    assert len(nodes_of_kinds(root, ("conv2d",))) == 30
    assert len(walked) == 32


def test_an_initialisers_arguments_are_its_dump() -> None:
    """init.init_args reads an initialiser's arguments field by field: the dict model_dump
    makes, for every kind of arguments, at their defaults and as written (expressions too);
    a model holding anything but scalars is dumped."""
    from pydantic import BaseModel

    from archspec import schema
    from archspec.lowering.init import init_args

    kinds = [schema.KaimingArgs, schema.NormalArgs, schema.TruncNormalArgs]
    kinds += [schema.UniformArgs, schema.XavierArgs]
    assert set(kinds) == set(schema.InitArgs.__subclasses__())
    written = {"mode": "fan_out", "std": "1 / sqrt(out_features)", "a": -1, "b": 3.5}
    for kind in kinds:
        for args in (kind(), kind(**{k: v for k, v in written.items() if k in kind.model_fields})):
            got = init_args(args)
            assert got == args.model_dump() and list(got) == list(args.model_dump())

    class Nested(BaseModel):
        inner: schema.NormalArgs = schema.NormalArgs()

    assert init_args(Nested()) == {"inner": {"mean": 0.0, "std": 1.0}}


def test_an_init_expression_is_written_once_per_text_and_values() -> None:
    """initexprs._over_sizes keeps its text per expression and values read, told apart by
    type and sign as the text they become is: `1` and `1.0`, `0.0` and `-0.0` write
    differently, and a text over the layer's sizes alone is written as it is."""
    from archspec.lowering import initexprs

    def written(env: dict[str, object]) -> str:
        return initexprs._over_sizes("k / sqrt(out_features)", env)

    texts = [written({"k": v}) for v in (1, 1.0, 0.0, -0.0, 1, 1.0)]
    over = " / sqrt(out_features)"
    assert texts == [f"{v}{over}" for v in ("1", "1.0", "0.0", "-0.0", "1", "1.0")]
    initexprs._WRITTEN.clear()
    assert [written({"k": v}) for v in (1.0, -0.0)] == [texts[1], texts[3]]
    alone = initexprs._over_sizes("-1 / sqrt(out_features)", {"k": 2})
    assert alone == initexprs.unparse(initexprs.parsed("-1 / sqrt(out_features)").tree.body)
