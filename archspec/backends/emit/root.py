"""The network class: the spec's params are its constructor's arguments unless they decide
structure (a repeat count, a `when` no `if` can write), which are fixed at their bound
values and named in its docstring."""

from __future__ import annotations

from ...ir import INPUT
from ..pyvalues import Env, literal
from .classes import PARAM_TYPES, Classes, structural_names
from .init import init_names
from .model import Body, ClassInfo, Param
from .scope import foreign_names, unkept


def render_root(em: Classes) -> ClassInfo:
    """The network class: its params are arguments unless they decide structure."""
    g = em.graph
    infos = {p.name: p for p in g.param_info}
    ns = em.argument_names()
    pynames = {name: ns.create(name) for name in g.params}
    root = g.root
    pre_lost = structural_names([root])
    symbolic = {
        name
        for name in g.params
        if name in infos and infos[name].type in PARAM_TYPES and not infos[name].fixed
    }
    symbolic -= pre_lost | em.escaped
    in_vals = tuple(literal(d) for d in g.input_shape)
    # a network of several inputs (`inputs:`): the others' sizes, each the declared number
    more = {
        name: tuple(literal(d) for d in shape)
        for name, shape in zip(root.extra_inputs, root.extra_in_shapes)
        if shape is not None
    }
    while True:
        em.optional, em.missing, em.foreign, em.kept_calls = {}, {}, {}, set()
        env = Env(frozenset(symbolic), dict(g.params), pynames)
        steps, vals = em.render_scope(root, env, in_vals, more)
        lost = env.lost | unkept(em) | foreign_names(em)
        if not lost & symbolic:
            break
        symbolic -= lost
    body = Body(root, env, steps, vals)
    em.root_env = env
    used = set(env.used) | init_names(g, env)
    params = [
        Param(name, pynames[name], infos[name].type, g.params[name], False, infos[name].doc)
        for name in g.params
        if name in symbolic and name in used and name in infos
    ]
    em.root_fixed = {n: v for n, v in g.params.items() if n not in {p.name for p in params}}
    out_name = root.outputs[0].name if root.outputs else INPUT
    return ClassInfo(
        name=g.class_name,
        block=None,
        bodies=[body],
        steps=steps,
        optional=set(),
        params=params,
        in_arg=False,
        pinned=frozenset(),
        pynames=pynames,
        escaped=frozenset(),
        out=vals[out_name],
        doc=g.description,
        state_dict_version=root.state_dict_version,
    )
