"""`init:` rules: resolved to InitSteps, and checked against the tensors they would touch."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from ..expr import ExprError
from ..ir import InitStep, Module, Node
from ..loader import PathKey
from ..ops import REGISTRY
from ..ops.base import Final
from ..ops.names import kind_spelled_like
from .context import when_text
from .exprs import text_expr
from .initexprs import nodes_of_kinds, resolve_exprs
from .values import bind_value, reads_failed

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

#: Initialisers computed from a tensor's fan-in and fan-out (torch needs rank >= 2).
FAN_BASED = frozenset({"kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform"})


def tensor_rank(node: Node, which: str) -> int | None:
    """Dims of a module node's `weight` or `bias`, as its op declares them
    (`Op.init_tensors`); None when it has none or only torch knows (a plugin's layer that
    declares nothing: torch then has the last word, when the model is built)."""
    op = REGISTRY.get(node.kind)
    tensors = op.init_tensors(node.attrs) if op is not None else None
    return None if tensors is None else tensors.get(which)


def lower_init(lw: Lowerer, root: Module | None) -> list[InitStep]:
    """The active init rules in spec order; every rule (active or not) goes to
    `lw.init_rules` for emitters."""
    steps = []
    for i, rule in enumerate(lw.spec.init):
        yp = ("init", i)
        if not rule.layers and not rule.paths:
            lw.error(
                "E204",
                "an init rule needs `layers` or `paths` to say what it applies to",
                yp,
                "e.g. `layers: [conv2d]` or `paths: [layer*.*.bn2]`",
            )
            continue
        _check_kinds(lw, rule.layers, yp)
        active = True
        if rule.when is not None:
            try:
                active = bool(bind_value(rule.when, Final("bool"), lw.spec_env))
            except (ExprError, ValueError) as exc:
                if reads_failed(rule.when, lw.failed):
                    continue  # a param it reads failed, and has said so
                lw.error(
                    "E308",
                    str(getattr(exc, "message", exc)),
                    yp + ("when",),
                    "an init rule's `when` is true or false, over the spec's params",
                )
                continue
        fns = [
            _initialiser(lw, getattr(rule, which), yp + (which,)) for which in ("weight", "bias")
        ]
        for g in rule.paths:
            fnmatch.translate(g)
        step = InitStep(
            tuple(rule.layers),
            tuple(rule.paths),
            fns[0],
            fns[1],
            lw.span(yp),
            when=None if rule.when is None else when_text(rule.when),
            active=active,
            when_expr=None if rule.when is None else text_expr(lw, rule.when),
        )
        if root is not None and active:
            step = resolve_exprs(lw, step, yp, root)
        lw.init_rules.append(step)
        if root is not None:
            check_init_targets(lw, step, yp, root)
        if active:
            steps.append(step)
    return steps


def _check_kinds(lw: Lowerer, kinds: list[str], yp: PathKey) -> None:
    """E205 for a rule's layer kind that is unknown or makes no module."""
    for j, kind in enumerate(kinds):
        if kind in REGISTRY and REGISTRY[kind].style != "module":
            lw.error(
                "E205",
                f"init rule names layer kind `{kind}`, which makes no module to initialise",
                yp + ("layers", j),
                "`init` rules apply to module kinds with weights (conv2d, linear, "
                "batchnorm2d, ...); drop this one",
            )
        elif kind not in REGISTRY:
            spelled = kind_spelled_like(kind, REGISTRY)
            close = [spelled] if spelled else lw.close_matches(kind, list(REGISTRY))
            lw.error(
                "E205",
                f"init rule names unknown layer kind `{kind}`",
                yp + ("layers", j),
                f"did you mean `{close[0]}`?"
                if close
                else "name layer kinds that make modules with weights (conv2d, linear, "
                "batchnorm2d, ...)",
            )


def _initialiser(lw: Lowerer, fn: Any, yp: PathKey) -> tuple[str, dict[str, Any]] | None:
    """(torch.nn.init name, its arguments) of a `weight:` or `bias:` entry."""
    if fn is None:
        return None
    if isinstance(fn, str):
        return ("constant", {"val": 0.0 if fn == "zeros" else 1.0})
    try:
        name, args = fn.chosen()
    except ValueError as exc:
        lw.error("E204", str(exc), yp, "e.g. `weight: {normal: {std: 0.01}}` or `bias: zeros`")
        return None
    if name == "constant":
        return ("constant", {"val": args if isinstance(args, str) else float(args)})
    return (name, init_args(args))


#: what an initialiser's argument holds (schema.InitArgs: a number, an expression, a word)
_SCALARS = (bool, int, float, str, type(None))


def init_args(args: Any) -> dict[str, Any]:
    """`args.model_dump()` of an initialiser's arguments (schema.InitArgs), read field by
    field when each holds a scalar, as each does: dumping builds each args model's
    serializer first (a check dumps four kinds), and the dump returns the same values."""
    fields = {name: getattr(args, name) for name in type(args).model_fields}
    if all(isinstance(v, _SCALARS) for v in fields.values()) and not args.model_extra:
        return fields
    return args.model_dump()  # type: ignore[no-any-return]


def check_init_targets(lw: Lowerer, step: InitStep, ypath: PathKey, root: Module) -> None:
    """E313 where a fan-based initialiser meets a tensor of fewer than two dims.

    kaiming_* and xavier_* divide by fan-in and fan-out, which torch computes only for a
    weight of rank 2 or more: a bias, or a norm layer's weight, makes torch raise while
    the model is built. Switched-off rules (`when` false) are checked too: emitted code
    keeps them. One error per rule and tensor, at the initialiser.
    """
    for which, fn in (("weight", step.weight), ("bias", step.bias)):
        if fn is None or fn[0] not in FAN_BASED:
            continue
        for path, node, rank in _thin_tensors(root, step, which):
            if rank is not None and rank < 2:
                lw.error(
                    "E313",
                    f"{fn[0]} cannot initialise the {which} of `{path}` ({node.kind}): "
                    f"it has {rank} dim, and fan-based init needs 2 or more",
                    ypath + (which,),
                    f"initialise the {which} of {node.kind} layers with `constant`, "
                    "`zeros`, `ones`, `normal` or `uniform`, or narrow the rule's "
                    "`layers`/`paths`",
                )
                break


def _thin_tensors(root: Module, step: InitStep, which: str) -> Any:
    """(path, node, rank of its `which`) for the nodes a rule touches, in iter_nodes order,
    until the first of fewer than two dims: without `paths` globs, a walk that makes the path
    of that node alone (a net's every convolution is looked at, most of them copies sharing
    their attributes, whose rank is worked out once)."""
    if step.globs:
        for path, node in nodes_of_kinds(root, step.kinds):
            if step.path_matches(path):
                yield path, node, tensor_rank(node, which)
        return
    ranks: dict[tuple[str, int], int | None] = {}
    found = _first_thin(root.nodes, step.kinds, which, ranks, set())
    if found is not None:
        names, node = found
        yield ".".join(reversed(names)), node, tensor_rank(node, which)


def _first_thin(
    nodes: Any,
    kinds: Any,
    which: str,
    ranks: dict[tuple[str, int], int | None],
    clean: set[int],
) -> tuple[list[str], Node] | None:
    """The first node of `kinds` (all when none) whose `which` has fewer than two dims, and
    its path's names, last first. `clean`: the ids of the modules searched in vain, whose
    copies (the same kinds and attributes: Module.copy_of) are not searched again."""
    for node in nodes:
        if not kinds or node.kind in kinds:
            key = (node.kind, id(node.attrs))
            if key not in ranks:
                ranks[key] = tensor_rank(node, which)
            rank = ranks[key]
            if rank is not None and rank < 2:
                return [node.name], node
        child = node.child
        if child is not None:
            origin = id(child.copy_of or child)
            if origin in clean:
                continue
            found = _first_thin(child.nodes, kinds, which, ranks, clean)
            if found is not None:
                found[0].append(node.name)
                return found
            clean.add(origin)
    return None
