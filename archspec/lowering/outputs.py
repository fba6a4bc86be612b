"""A block call's inputs and outputs: how many it gives and names, and the nodes of an
instance of several outputs (`outputs: [a, b]`), which the call's `names` names.

A call `{name: stage, type: Stage, names: [p, q]}` is one child module, `stage` (its key in
the state_dict, as any call's), whose forward returns the tuple `(a, b)`, and one
`block_output` node per name (ops/outputs.py), each reading `stage` with its position
(`attrs["_index"]`) and having that output's shape and channel dim: later items read `p`,
`q` by `from`, as a chunk's pieces (the next item, without `from`, reads the last). The
module's own node has its first output's shape, and no `from` may read it: it is a tuple.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ir import INPUT, Node, node_of
from ..ops.fromspec import is_computed
from ..ops.outputs import BLOCK_OUTPUT, OUTPUT_NAMES
from ..ops.split import is_computed_names
from .context import NAMES_FAILED, Child, Scope, Site, Skip

if TYPE_CHECKING:  # pragma: no cover
    from ..ir import Module
    from .walker import Lowerer


def check_call_inputs(lw: Lowerer, site: Site, bname: str, inputs: list[str] | None) -> None:
    """E305 (and Skip) unless the call gives the block as many inputs as it takes: one, or
    for a block of several, exactly as many `from` names as its `inputs:` (a call without
    `from` reads one node)."""
    if not inputs:
        if len(site.inputs) != 1:
            lw.error(
                "E305",
                f"block `{bname}` takes one input, `from` names {len(site.inputs)}",
                site.ypath + ("from",),
                f"give `from` one name, or declare the block's inputs in order "
                f"(`inputs: [x, skip]` under `blocks: {bname}:`) to pass it several",
            )
            raise Skip
        return
    given = len(site.inputs) if getattr(site.spec, "from_", None) is not None else 0
    if given == len(inputs):
        return
    names = ", ".join(inputs)
    example = ", ".join(f"<{n}>" for n in inputs)
    lw.error(
        "E305",
        f"block `{bname}` takes {len(inputs)} inputs ({names}), "
        + (f"`from` names {given}" if given else "and this call has no `from`"),
        site.ypath + (("from",) if given else ()),
        f"name the nodes it reads in that order: `from: [{example}]`",
    )
    raise Skip


def call_names(lw: Lowerer, site: Site) -> list[str] | None:
    """The names a call's `names` gives its outputs here: as written, or where they are
    templates (`"hi{i}"`) or computed, worked out as a chunk's (E204/E304/E309 and Skip)."""
    names = getattr(site.spec, "names", None)
    if names is None or not is_computed_names(names):
        return names
    from .fromlist import piece_names_here  # fromlist reads item plans: imported late

    try:
        return piece_names_here(lw, site.item, site.scope, site.local, "names")
    except Skip:  # its names are not known: a reader's may be one, so none is called unknown
        site.scope.shapes[NAMES_FAILED] = None
        raise


def check_call_names(
    lw: Lowerer, site: Site, bname: str, outputs: list[Any] | None, names: list[str] | None
) -> None:
    """E305 (and Skip) unless a call names as many outputs as its block returns: none for a
    block of one, one name each for a block of several (`outputs: [a, b]`); computed
    `outputs:` are checked once an instance's names are known (instance_outputs)."""
    if is_computed(outputs):
        return
    count = len(outputs or ())
    if names is None and count < 2:
        return
    if names is None:
        listed = ", ".join(outputs or ())
        example = ", ".join(f"<{o}>" for o in outputs or ())
        lw.error(
            "E305",
            f"block `{bname}` returns {count} outputs ({listed}); this call does not name them",
            site.ypath,
            f"give the call `names: [{example}]`, one name per output in that order; later "
            "items read each by `from` (the call's `name` stays its module's key)",
        )
        raise Skip
    if count < 2:
        lw.error(
            "E305",
            f"block `{bname}` returns one output; `names` names {len(names)}",
            site.ypath + ("names",),
            f"drop `names` (later items read the call's `name`), or list the nodes the block "
            f"returns under `blocks: {bname}: outputs: [a, b]`",
        )
        raise Skip
    if len(names) != count:
        lw.error(
            "E305",
            f"block `{bname}` returns {count} outputs ({', '.join(outputs or ())}); "
            f"`names` names {len(names)}",
            site.ypath + ("names",),
            "give one name per output, in the order of the block's `outputs:`",
        )
        raise Skip


def instance_outputs(
    lw: Lowerer,
    site: Site,
    bname: str,
    raw: list[Any] | None,
    env: dict[str, Any],
    names: list[str] | None,
) -> tuple[list[str] | None, tuple[Any, ...]]:
    """The names the block's `outputs:` gives this instance (templates filled, computed
    entries expanded in its params and lets: a backbone block returning each of its `n`
    stages) and where each was given, after checking the call names as many (E305, and
    Skip; `outputs:` as written, checked by the caller, when nothing in it is computed)."""
    from .fromlist import computed_outputs  # fromlist reads item plans: imported late

    if not is_computed(raw):
        return raw, ()
    found = computed_outputs(lw, raw or [], env, ("blocks", bname, "outputs"))
    if found is None:
        raise Skip
    check_call_names(lw, site, bname, found[0], names)
    return found[0], tuple(found[1])


def several_outputs(
    lw: Lowerer, site: Site, child: Child, name: str, module: Module, node: Node
) -> str:
    """The nodes of a call of a block of several outputs: `node` (the instance's, `name`)
    and one `block_output` per name of `child.output_names`; the last one's name."""
    scope, item = site.scope, site.item
    axes = lw.out_axes.pop(module.path, None)
    if len(module.outputs) != len(child.output_names):
        raise Skip  # an output is switched off here (refs.scope_outputs said so)
    if any(o.train_only for o in module.outputs):
        lw.error(
            "E305",
            f"block `{child.block}` returns several outputs, one of them only in training",
            child.outputs_ypath,
            "a block of several outputs returns each in both modes: mark the call "
            "`train_only`, or return the training-only node from a block of one output",
        )
        raise Skip
    shapes = [output_shape(module, o.name) for o in module.outputs]
    if not isinstance(axes, tuple):
        axes = (1,) * len(shapes)
    lw.add_node(scope, node, item)
    scope.axes[name] = axes[0]
    scope.several[name] = tuple(child.output_names)
    if None in shapes:
        raise Skip
    for index, (piece, shape) in enumerate(zip(child.output_names, shapes)):
        out = node_of(
            piece,
            BLOCK_OUTPUT,
            {"_index": index, OUTPUT_NAMES: tuple(child.output_names)},
            (name,),
            shape,
            (shape,),
            node.span,
            node.train_only,
            None,
            {},
            None,
            False,
            {},
            None,
            frozenset(),
        )
        lw.add_node(scope, out, item)
        scope.axes[piece] = axes[index]
    return child.output_names[-1]


def output_axes(scope: Scope, outputs: tuple[Any, ...]) -> tuple[int | None, ...]:
    """The channel dim of each output of a scope of several (`Lowerer.out_axes`)."""
    return tuple(scope.axes.get(o.name, 1) for o in outputs)


def output_shape(module: Module, name: str | None) -> Any:
    """The shape of the output `name` of `module`: its last node of that name's, or its
    input's of that name (a block of several inputs may return one: `outputs: [skip]`);
    None without one."""
    if name == INPUT:
        return module.in_shape
    for n in reversed(module.nodes):
        if n.name == name:
            return n.shape
    if name in module.extra_inputs:
        return module.extra_in_shapes[module.extra_inputs.index(name)]
    return None


def read_several(lw: Lowerer, scope: Scope, name: str, ypath: Any) -> bool:
    """E305 when `name` is a block instance of several outputs, which no node reads whole:
    True when it was reported."""
    pieces = scope.several.get(name)
    if pieces is None:
        return False
    lw.error(
        "E305",
        f"`{name}` is a block instance of {len(pieces)} outputs, which is read by their names",
        ypath,
        f"read one of its outputs: {', '.join(f'`{p}`' for p in pieces)} (its call's `names`)",
    )
    return True
