"""`check` leaves no reference cycle holding the IR: a cold `archspec check` of every shipped
spec pays for each collection that walks a dead graph (benchmarks/results.md, section 2)."""

from __future__ import annotations

import gc

import archspec
from archspec.catalog import builtin_dir
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


def test_every_renderer_runs_with_the_collector_paused(monkeypatch) -> None:
    """`archspec emit` and `compile` call `api.emit_graph` / `emit_family(_named)` directly,
    not `archspec.emit`: each renderer pauses the collector itself. Rendering a spec of 3,000
    long `when:`s with the collector on took 48 s, paused 21 s (full collections walking the
    growing heap of parsed expressions)."""
    from archspec.backends import pysource
    from archspec.backends.emit import family as family_backend

    seen: list[tuple[str, bool]] = []

    def spy(name: str, real):
        def render(*args, **kwargs):
            seen.append((name, gc.isenabled()))
            return real(*args, **kwargs)

        return render

    monkeypatch.setattr(pysource, "render_module", spy("module", pysource.render_module))
    monkeypatch.setattr(
        family_backend, "render_family", spy("family", family_backend.render_family)
    )
    monkeypatch.setattr(
        family_backend, "render_family_named", spy("named", family_backend.render_family_named)
    )
    assert gc.isenabled()
    graph = archspec.api.build_graph("lenet5")
    family = archspec.api.family_graphs(builtin_dir() / "mnasnet.yaml", {}).graphs[:2]
    archspec.api.emit_graph(graph)
    archspec.api.emit_family(family)
    archspec.api.emit_family_named(family)
    # render_family goes through render_family_named: each call is recorded
    assert {name for name, _ in seen} == {"module", "family", "named"}
    assert [on for _, on in seen] == [False] * len(seen)
    assert gc.isenabled()  # resumed


def test_compile_lets_the_ir_go_before_the_collector_resumes(monkeypatch) -> None:
    """`compile` pauses the collector once, for reading, lowering and building, and drops the
    IR inside the pause: when the collector resumes, the first collection walks only the
    module, not the graph it was built from (a pause per stage resumed it with the IR held)."""
    import weakref

    import torch

    from archspec import api
    from archspec.backends import torch_module

    graphs: list[weakref.ref] = []
    real_build = torch_module.build_module

    def build(graph, *args, **kwargs):
        graphs.append(weakref.ref(graph))
        return real_build(graph, *args, **kwargs)

    alive_at_resume: list[bool] = []
    real_enable = gc.enable

    def enable() -> None:
        alive_at_resume.append(any(ref() is not None for ref in graphs))
        real_enable()

    monkeypatch.setattr(torch_module, "build_module", build)
    monkeypatch.setattr(gc, "enable", enable)
    assert gc.isenabled()
    model = api.compile("lenet5")
    assert isinstance(model, torch.nn.Module) and len(graphs) == 1
    assert alive_at_resume == [False]  # resumed once, the graph gone by then
    assert gc.isenabled()


def test_shard_units_leave_no_cycle_and_count_each_subtree_once(monkeypatch) -> None:
    """The FSDP units of a compile are found without a recursive closure (a reference cycle
    per compile, garbage for the collector), and the parameter counts they are weighed by
    read a copied block instance's count instead of walking it again."""
    from archspec import api
    from archspec.ir import iter_nodes, shard_unit_paths
    from archspec.ops import REGISTRY
    from archspec.passes.costs import ParamCounter

    graph = api.build_graph("resnet50")
    conv = REGISTRY["conv2d"]
    counted: list[object] = []
    real_params = conv.params
    monkeypatch.setattr(conv, "params", lambda attrs: counted.append(attrs) or real_params(attrs))
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        units = shard_unit_paths(graph, ParamCounter())
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was_enabled:
            gc.enable()
    assert garbage == []
    assert len(units) == 16 and units[0] == "layer1.0"  # the Bottlenecks
    convs = [n for _, n in iter_nodes(graph.root) if n.kind == "conv2d"]
    assert 0 < len(counted) < len(convs)  # copies (layer1.1, layer1.2, ...) read, not walked
    every = ParamCounter()
    assert every(graph.root) == sum(
        REGISTRY[n.kind].params(n.attrs)
        for _, n in iter_nodes(graph.root)
        if n.child is None and n.is_module and n.shape is not None
    )
