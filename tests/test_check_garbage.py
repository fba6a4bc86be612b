"""`check` leaves no reference cycle holding the IR: a cold `archspec check` of every shipped
spec pays for each collection that walks a dead graph (benchmarks/results.md, section 2)."""

from __future__ import annotations

import gc

import archspec
from archspec.ir import Module, Node


def test_check_leaves_no_graph_in_cycles() -> None:
    archspec.check("resnet50")  # warm: caches filled
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        assert archspec.check("resnet50").ok
        gc.collect()
        held = [o for o in gc.garbage if isinstance(o, (Node, Module))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
    assert held == []
