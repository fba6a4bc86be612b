"""The construct registry: the built-ins' facts, loud failures, and a construct added from
outside archspec (this module) that validates, lowers, checks, compiles and emits."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any, Literal

import pytest
import torch

import archspec
from archspec import api
from archspec.constructs import BLOCK_CALL, CONSTRUCTS, Construct, register, unregister
from archspec.errors import ArchSpecError
from archspec.lowering.context import Item, Site, synth
from archspec.ops import REGISTRY
from archspec.ops import base as ops_base
from archspec.ops.base import NodeBase
from archspec.schema import json_schema, models

BUILTINS = ("sequential", "repeat", "vgg_cfg", "residual", "parallel", "for_each")


def test_builtins_are_registered_in_schema_order_with_their_facts() -> None:
    assert tuple(CONSTRUCTS)[: len(BUILTINS)] == BUILTINS
    # the op registry refuses layer kinds named like a construct from the registry's own set
    assert set(CONSTRUCTS) == ops_base.CONSTRUCT_KINDS
    makes_module = {k: c.makes_module for k, c in CONSTRUCTS.items() if k in BUILTINS}
    assert makes_module == {
        "sequential": True,
        "repeat": True,
        "vgg_cfg": True,
        "residual": False,
        "parallel": False,
        "for_each": True,
    }
    assert CONSTRUCTS["repeat"].fields == ("count", "index", "flat", "names", "layer", "layers")
    assert CONSTRUCTS["residual"].fields == ("body", "shortcut", "activation", "add_when")
    assert BLOCK_CALL.makes_module and BLOCK_CALL.schema is models()["BlockCall"]
    for kind in BUILTINS:
        c = CONSTRUCTS[kind]
        assert models()["compound"][kind] is c.schema
        assert c.summary and "\n" not in c.summary and len(c.description) > len(c.summary)


def test_an_incomplete_construct_fails_when_registered() -> None:
    class Good(NodeBase):
        type: Literal["toy_good"]

    class NoType(NodeBase):
        pass

    class Conv(NodeBase):
        type: Literal["conv2d"]

    def lower(lw: Any, site: Site) -> str:
        return site.inputs[0]

    base: dict[str, Any] = dict(summary="s", description="d d", makes_module=False)
    with pytest.raises(TypeError, match="no lowering"):
        register(Construct("toy_good", Good, None, **base))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`schema` must subclass"):
        register(Construct("toy_good", dict, lower, **base))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs `type: Literal\\['toy_nt'\\]`"):
        register(Construct("toy_nt", NoType, lower, **base))
    with pytest.raises(TypeError, match="summary"):
        register(Construct("toy_good", Good, lower, "", "", False))
    with pytest.raises(ValueError, match="layer kind"):
        register(Construct("conv2d", Conv, lower, **base))
    with pytest.raises(ValueError, match="already registered"):
        register(CONSTRUCTS["repeat"])
    assert "toy_good" not in CONSTRUCTS and "toy_nt" not in CONSTRUCTS


def test_a_layer_kind_cannot_take_a_constructs_name() -> None:
    """Built-in or registered later, a construct's `type:` is not free for a layer kind."""

    class Good(NodeBase):
        type: Literal["toy_taken"]

    def lower(lw: Any, site: Site) -> str:
        return site.inputs[0]

    def op_named(kind: str) -> type[ops_base.Op]:
        spec = type(
            f"{kind}Spec", (ops_base.LayerSpec,), {"__annotations__": {"type": Literal[kind]}}
        )

        class Toy(ops_base.Op):
            style = "function"

            def infer(self, attrs: Any, inputs: Any, ctx: Any) -> Any:
                return ops_base.Inferred(attrs, inputs[0])

            def function(self, attrs: Any, x: Any) -> Any:
                return x

            def emit(self, a: Any, lit: Any) -> str:
                return "x"

        Toy.kind, Toy.spec = kind, spec
        return Toy

    with pytest.raises(ValueError, match="is a construct"):
        ops_base.register(op_named("repeat"), replace=True)
    register(Construct("toy_taken", Good, lower, "s", "d d", False))
    try:
        with pytest.raises(ValueError, match="is a construct"):
            ops_base.register(op_named("toy_taken"))
    finally:
        unregister("toy_taken")
    assert "toy_taken" not in ops_base.CONSTRUCT_KINDS and "toy_taken" not in REGISTRY


# -- a toy construct, defined here as a plugin or a new built-in module would be ---------


class SkipNode(NodeBase):
    """out = x + body(x): a residual without shortcut or activation."""

    type: Literal["skip"]
    body: list[Node]  # noqa: F821  (the node union, supplied when the schema is built)


def lower_skip(lw: Any, site: Site) -> str | None:
    """The body's nodes in the enclosing scope, then an `add` of the input and the body."""
    lw.one_input(site, "a skip takes one input")
    entry = prev = site.inputs[0]
    for i, spec in enumerate(site.spec.body):
        body = Item(spec, site.ypath + ("body", i))
        prev = lw.lower_item(body, site.scope, site.env, prev) or prev
    add = synth(REGISTRY["add"].spec, type="add", name=site.spec.name, from_=[prev, entry])
    return lw.lower_item(Item(add, site.ypath), site.scope, site.env, prev)


SKIP = Construct(
    kind="skip",
    schema=SkipNode,
    lower=lower_skip,
    summary="x + body(x)",
    description="A residual connection without a shortcut: the body's layers, then an add.",
    makes_module=False,
)


@pytest.fixture
def skip() -> Iterator[Construct]:
    register(SKIP)
    try:
        yield SKIP
    finally:
        unregister("skip")


SPEC = textwrap.dedent(
    """\
    archspec: 1
    name: toy
    input: [N, 4, 8, 8]
    params: {width: 4}
    layers:
      - {name: stem, type: conv2d, out_channels: width, kernel_size: 1}
      - name: res
        type: skip
        body:
          - {name: conv, type: conv2d, out_channels: width, kernel_size: 3, padding: 1}
          - {name: act, type: relu}
    """
)


def test_a_construct_from_outside_validates_lowers_checks_compiles_and_emits(
    skip: Construct,
) -> None:
    assert "skip" in json.dumps(json_schema())
    graph = archspec.build_graph(SPEC)
    assert [(n.name, n.kind) for n in graph.root.nodes] == [
        ("stem", "conv2d"),
        ("conv", "conv2d"),
        ("act", "relu"),
        ("res", "add"),
    ]
    assert graph.root.node("res").inputs == ("act", "stem")
    api.check(SPEC)
    model = archspec.compile(SPEC)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        stem = model.stem(x)
        assert torch.allclose(model(x), torch.relu(model.conv(stem)) + stem)
    ast.parse(api.emit(SPEC))


def test_a_registered_construct_gets_schema_errors_and_unknown_kinds_stay_block_calls(
    skip: Construct,
) -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(SPEC.replace("body:", "bodyy:"))
    codes = [(d.code, d.span.line if d.span else None) for d in info.value.diagnostics]
    assert ("E201", 9) in codes, codes
    hints = [d.hint for d in info.value.diagnostics if d.code == "E201"]
    assert hints == ["did you mean `body`?"]
    unregister("skip")
    try:
        with pytest.raises(ArchSpecError) as info:
            archspec.build_graph(SPEC)
        # a call of a block that does not exist now
        assert [d.code for d in info.value.diagnostics] == ["E205"]
    finally:
        register(SKIP)


def test_importing_the_ir_imports_neither_pydantic_nor_torch() -> None:
    code = (
        "import sys, archspec.ir\n"
        "assert 'pydantic' not in sys.modules, 'pydantic'\n"
        "assert 'torch' not in sys.modules, 'torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_is_module_is_data_set_by_lowering() -> None:
    graph = archspec.build_graph(
        SPEC.replace("type: skip", "type: sequential").replace("body", "layers")
    )
    kinds = {n.name: (n.kind, n.is_module) for n in graph.root.nodes}
    assert kinds == {"stem": ("conv2d", True), "res": ("module", True)}
    inner = {n.name: n.is_module for n in graph.root.node("res").child.nodes}
    assert inner == {"conv": True, "act": True}
    adds = archspec.build_graph(
        SPEC.replace("type: skip", "type: residual").replace("body:", "activation: relu\n    body:")
    )
    assert [(n.kind, n.is_module) for n in adds.root.nodes if n.kind in ("add", "activation")] == [
        ("add", False),
        ("activation", True) if REGISTRY["activation"].style == "module" else ("activation", False),
    ]


def test_names_nested_in_a_registered_construct_are_checked_without_a_name_walk(
    skip: Construct,
) -> None:
    """validate.py's name checks walk a construct's item lists by default."""
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(SPEC.replace("name: conv", "name: _conv"))
    found = [(d.code, d.span.line, d.message) for d in info.value.diagnostics if d.span]
    assert len(found) == 1 and found[0][:2] == ("E204", 10), found
    assert "`_conv` starts with `_`" in found[0][2]
