"""A block's inputs after the first (`inputs: [x, skip]`) in emitted classes: each one's
channel count is a constructor argument named after it (`skip_channels`), as the first's is
`in_channels`, and the caller passes it after `in_channels` (`Up(256, 128, out_channels)`).
Their other sizes are each instance's numbers, so a class is one per value of those it
writes (never a formula fitted to the instances), and the caller is built for the values of
what gives such a size (`ClassInfo.fixed_more`), as for the first input's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...ir import Module
from ..pycode import Namespace
from ..pylayout import Doc, Text
from ..pyvalues import Env, Val, as_int, inexact, more_in
from .model import Body, ClassInfo


def more_pynames(ns: Namespace, inst: Module) -> dict[str, str]:
    """The argument name of each later input's channel count: `skip_channels` for `skip`."""
    return {more_in(name): ns.create(f"{name}_channels") for name in inst.extra_inputs}


def more_vals(
    inst: Module, symbolic: frozenset[str], pynames: dict[str, str], values: dict[str, Any]
) -> dict[str, tuple[Val, ...]]:
    """The Vals of a block's inputs after the first, by name: each one's channel count an
    argument of the class (`skip_channels`, its value added to `values`) when it is known
    and `symbolic` holds it, any other size the instance's number (its class is one per
    value)."""
    out: dict[str, tuple[Val, ...]] = {}
    for name, shape, axis in zip(inst.extra_inputs, inst.extra_in_shapes, inst.extra_in_axes):
        key, vals = more_in(name), []
        for d, dim in enumerate(shape or ()):
            if d == axis and dim.is_const and key in symbolic:
                values[key] = dim.value
                vals.append(Val(pynames[key], dim.value, frozenset({key})))
            else:
                vals.append(inexact(dim, {f"#more {name} {d}"}))
        out[name] = tuple(vals)
    return out


def channel_args(
    cls: ClassInfo,
    child: Module,
    ins: Sequence[tuple[Val, ...]],
    in_ch: Val | None,
    env: Env,
    mapping: dict[str, Val],
) -> list[Doc]:
    """The channel counts of a block's inputs as the caller passes those its class takes:
    `in_channels` (`in_ch`), then those of its inputs after the first (`skip_channels`),
    each one's Val put in `mapping`."""
    out: list[Doc] = []
    if cls.in_arg:
        assert in_ch is not None
        env.use(in_ch)
        out.append(Text(as_int(in_ch, env).text))
    for name, vals, axis in zip(child.extra_inputs, ins[1:], child.extra_in_axes):
        if axis is not None and 0 < axis < len(vals):
            mapping[more_in(name)] = vals[axis]
            if more_in(name) in cls.more_args:
                env.use(vals[axis])
                out.append(Text(as_int(vals[axis], env).text))
    return out


def fixed_more(bodies: Sequence[Body]) -> frozenset[tuple[str, int]]:
    """The sizes of later inputs that a class's bodies write as numbers (`more_vals` names
    each `#more <input> <dim>`), as (input, dim): a caller fixes what gives them."""
    lost = set().union(*(b.env.lost for b in bodies))
    found = (n.split(" ") for n in lost if n.startswith("#more "))
    return frozenset((parts[1], int(parts[2])) for parts in found if len(parts) == 3)


def held_sizes(cls: ClassInfo, child: Module, ins: Sequence[tuple[Val, ...]]) -> set[str]:
    """The names that give the sizes of a call's inputs which the class holds as numbers
    (`fixed_inputs`, `fixed_more`: `skip`'s H): no argument of the caller may give them."""
    out: set[str] = set()
    for d in cls.fixed_inputs:
        if ins and d < len(ins[0]):
            out |= ins[0][d].names
    later = dict(zip(child.extra_inputs, ins[1:]))
    for name, d in cls.fixed_more:
        if name in later and d < len(later[name]):
            out |= later[name][d].names
    return out


def known_axis(instances: Sequence[Module]) -> int | None:
    """The channel axis of a block's instances that know it: where an instance whose input's
    channel dim lowering lost (a reshape merged its heads back) reads it, as its call passes."""
    return next((i.in_axis for i in instances if i.in_axis is not None), None)


def channel_axis(module: Module, fallback: int | None = None) -> int | None:
    """The dim of the module's input the class reads as `in_channels` (`Module.in_axis`:
    1 for NCHW, the last dim channels-last; `fallback` where lowering lost it), None when
    it has none."""
    axis = module.in_axis if module.in_axis is not None else fallback
    rank = len(module.in_shape or ())
    return axis if axis is not None and 0 < axis < rank else None
