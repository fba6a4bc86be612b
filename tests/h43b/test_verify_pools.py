"""The graph lint asks W410's question (a pool of one rank more than its input) of pool
nodes only: it was a call per node of every module linted, 14,301 for the shipped specs'
check, nearly all of them no pool (issue 14)."""

from __future__ import annotations

import pytest

import archspec
from archspec import api
from archspec.ops import REGISTRY
from archspec.passes import verify as verify_mod

SPEC = """\
archspec: 1
name: pooled
input: [N, 1, L]
layers:
  - {type: conv1d, out_channels: 4, kernel_size: 3}
  - {type: relu}
  - {type: maxpool2d, kernel_size: 2}
  - {type: flatten}
"""


def test_only_pool_nodes_are_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    real = verify_mod._unbatched_pool

    def counted(node, *args):  # type: ignore[no-untyped-def]
        asked.append(node.kind)
        return real(node, *args)

    monkeypatch.setattr(verify_mod, "_unbatched_pool", counted)
    result = archspec.check(SPEC)
    assert asked == ["maxpool2d"]
    assert [d.code for d in result.diagnostics if d.code == "W410"] == ["W410"]


def test_the_pools_follow_the_registry() -> None:
    graph = api.build_graph(SPEC)
    assert verify_mod._linted_kinds()["maxpool2d"] == 2
    assert "conv2d" not in verify_mod._linted_kinds()
    assert verify_mod._linted_kinds()["linear"] == 0  # W405's
    op_cls = type(REGISTRY["maxpool2d"])
    archspec.unregister("maxpool2d")
    try:
        assert "maxpool2d" not in verify_mod._linted_kinds()
    finally:
        archspec.register(op_cls)
    assert verify_mod._linted_kinds()["maxpool2d"] == 2
    warned = [d.code for d in verify_mod.verify(graph).diagnostics if d.code == "W410"]
    assert warned == ["W410"]
