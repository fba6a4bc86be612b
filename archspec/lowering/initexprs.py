"""Initialiser arguments written as expressions (`uniform: {a: "-1 / sqrt(out_features)"}`).

torchvision's EfficientNet and MobileNetV3 initialise each Linear from its own size
(`init_range = 1.0 / math.sqrt(m.out_features)`). An argument may read the spec's params and
lets and the sizes of the layer it initialises (`LAYER_SIZES`), and call `sqrt`, `ceil`,
`floor`, `min`, `max`, `abs`, `round`. It is evaluated here for every module the rule
matches (InitStep.per_module, what the compiled model uses) and kept as text over the
layer's sizes alone, params and lets replaced by their values, for emitted code
(`-1 / math.sqrt(m.out_features)`), so both agree.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..expr import ExprError, unparse
from ..ir import InitStep, Module, Node, replaced
from ..loader import PathKey
from .values import parsed, reads_failed

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

#: Layer attributes an init expression may read: ints that torch modules hold as the same
#: ints (`kernel_size` is not: an int here, a tuple on nn.Conv2d).
LAYER_SIZES = (
    "out_features",
    "in_features",
    "out_channels",
    "in_channels",
    "groups",
    "num_features",
)
#: Functions an init expression may call; emitted code calls `math.<name>` for the first three.
MATH_FUNCS = ("sqrt", "ceil", "floor")
INIT_FUNCS = frozenset({*MATH_FUNCS, "min", "max", "abs", "round"})
#: Arguments that are words (kaiming's `mode: fan_out`), never expressions.
WORD_ARGS = frozenset({"mode", "nonlinearity"})


def is_expr_arg(key: str, value: Any) -> bool:
    """True for an initialiser argument written as an expression."""
    return isinstance(value, str) and key not in WORD_ARGS


def resolve_exprs(lw: Lowerer, step: InitStep, yp: PathKey, root: Module) -> InitStep:
    """`step` with its expression arguments evaluated per module and written over the
    layer's sizes; errors (E308/E309/E206/E204) at the argument."""
    texts = {
        (which, key): raw
        for which, fn in (("weight", step.weight), ("bias", step.bias))
        if fn is not None
        for key, raw in fn[1].items()
        if is_expr_arg(key, raw)
    }
    if not texts:
        return step
    fns = {"weight": step.weight, "bias": step.bias}
    written: dict[tuple[str, str], str] = {}
    for (which, key), raw in texts.items():
        where = _arg_path(yp, which, fns[which][0], key)
        try:
            written[(which, key)] = _over_sizes(raw, lw.spec_env)
        except ExprError as exc:
            if not reads_failed(raw, lw.failed):  # else: said so
                lw.error(exc.code, f"init argument `{key}`: {exc.message}", where, exc.hint)
            return step
    per: dict[str, tuple[Any, Any]] = {}
    for path, node in nodes_of_kinds(root, step.kinds):
        if not node.is_module or node.child is not None:
            continue
        if step.globs and not step.path_matches(path):
            continue
        sizes = {k: node.attrs[k] for k in LAYER_SIZES if isinstance(node.attrs.get(k), int)}
        resolved: list[Any] = []
        for which in ("weight", "bias"):
            fn = fns[which]
            if fn is None:
                resolved.append(None)
                continue
            args = dict(fn[1])
            for key, raw in fn[1].items():
                if not is_expr_arg(key, raw):
                    continue
                where = _arg_path(yp, which, fn[0], key)
                try:
                    value = parsed(written[(which, key)]).evaluate(sizes)
                except ExprError as exc:
                    hint = f"an init argument reads params, lets and {', '.join(LAYER_SIZES)}"
                    lw.error(
                        exc.code, f"init argument `{key}` for `{path}`: {exc.message}", where, hint
                    )
                    return step
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    lw.error("E309", f"init argument `{key}` gives {value!r}, not a number", where)
                    return step
                args[key] = float(value)
            problem = _refused(fn[0], args)
            if problem:
                lw.error(
                    "E204", f"{fn[0]} for `{path}`: {problem}", _arg_path(yp, which, fn[0], None)
                )
                return step
            resolved.append((fn[0], args))
        per[path] = (resolved[0], resolved[1])
    weight = _with_texts(step.weight, written, "weight")
    bias = _with_texts(step.bias, written, "bias")
    return replaced(step, weight=weight, bias=bias, per_module=per)


def _over_sizes(raw: str, env: dict[str, Any]) -> str:
    """The expression with params and lets replaced by their values: text over the layer's
    sizes alone (ExprError for a name that is neither, or a call emitted code cannot make).
    Worked out once per text and values read (each variant of a family, each spec of a
    check, writes EfficientNet's `1 / sqrt(out_features)` again): the values are told apart
    by type and repr, as the text they become is (`1`, `1.0`; `0.0`, `-0.0`)."""
    expr = parsed(raw)
    _check_calls(raw)
    values: dict[str, Any] = {}
    for name in expr.names:
        if name in LAYER_SIZES:
            continue
        if name not in env:
            raise ExprError(
                f"unknown name {name!r} in init argument",
                hint=f"init arguments read params, lets and the layer's {', '.join(LAYER_SIZES)}",
                code="E302",
            )
        value = env[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExprError(
                f"init argument reads `{name}`, which is not a number ({value!r})"[:120]
            )
        values[name] = value
    key = (raw, tuple((n, type(v), repr(v)) for n, v in values.items()))
    text = _WRITTEN.get(key)
    if text is None:
        if len(_WRITTEN) >= 4096:  # a long-lived process: bounded, as the parse caches are
            _WRITTEN.clear()
        text = _WRITTEN[key] = _substituted(expr, values)
    return text


#: _over_sizes' texts by (expression text, (name, type, repr) of each value it reads)
_WRITTEN: dict[tuple[Any, ...], str] = {}


@lru_cache(maxsize=1024)
def _check_calls(raw: str) -> None:
    """ExprError for a call emitted code cannot make, or an index, in an init argument (an
    error is raised again each time: lru_cache keeps only what returns)."""
    for node in ast.walk(parsed(raw).tree):
        if isinstance(node, ast.Call) and node.func.id not in INIT_FUNCS:  # type: ignore[attr-defined]
            raise ExprError(
                f"{node.func.id}() cannot be used in an init argument",  # type: ignore[attr-defined]
                hint=f"init arguments may call {', '.join(sorted(INIT_FUNCS))}",
                code="E206",
            )
        if isinstance(node, ast.Subscript):
            raise ExprError(
                "an init argument cannot index a table: bind it to a let first", code="E206"
            )


def _substituted(expr: Any, values: dict[str, Any]) -> str:
    """`expr`'s canonical text with the names in `values` replaced by their values."""
    if not values:  # over the layer's sizes alone: the text as it is
        return unparse(expr.tree.body)

    class _Sub(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            return ast.Constant(values[node.id]) if node.id in values else node

        def visit_Call(self, node: ast.Call) -> ast.AST:
            node.args = [self.visit(a) for a in node.args]
            return node

    import copy

    tree = _Sub().visit(copy.deepcopy(expr.tree.body))
    return unparse(tree)


def _refused(name: str, args: dict[str, Any]) -> str | None:
    """What torch would refuse in evaluated arguments (the schema checks written numbers)."""
    for key, value in args.items():
        if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= 10**15):
            return f"`{key}` is {value!r}: out of range (|x| <= 10^15)"
    if name in ("normal", "trunc_normal") and args.get("std", 1) < 0:
        return f"std is {args['std']!r}: negative"
    if name == "trunc_normal" and args.get("std", 1) <= 0:
        return "std must be above 0"
    if name in ("uniform", "trunc_normal") and args.get("b", 1) < args.get("a", 0):
        return f"b ({args.get('b')!r}) is below a ({args.get('a')!r}): the range is empty"
    if name.startswith("xavier") and args.get("gain", 1) < 0:
        return "gain is negative"
    return None


def _arg_path(yp: PathKey, which: str, fn: str, key: str | None) -> PathKey:
    base = yp + (which, fn)
    if fn == "constant" or key is None:
        return base
    return base + (key,)


def _with_texts(fn: Any, written: dict[tuple[str, str], str], which: str) -> Any:
    if fn is None:
        return None
    args = {k: written.get((which, k), v) for k, v in fn[1].items()}
    return (fn[0], args)


def init_switches(spec: Any) -> list[tuple[str, str]]:
    """("", text) for every expression argument of the spec's init rules."""
    out = []
    for rule in spec.init:
        for fn in (rule.weight, rule.bias):
            if fn is None or isinstance(fn, str):
                continue
            for value in vars(fn).values():
                if isinstance(value, str):
                    out.append(("", value))
                elif value is not None and not isinstance(value, (int, float)):
                    out += [("", v) for k, v in vars(value).items() if is_expr_arg(k, v)]
    return out


def nodes_of_kinds(root: Module, kinds: Sequence[str]) -> list[tuple[str, Node]]:
    """iter_nodes(root) (the same order) narrowed to the nodes of `kinds` (all when none
    is named), with a path made only for those: a rule for conv2d looks at every node of
    the net, but names only its convolutions. Init rules (their expressions, their fan
    check) read every such node, so a list, made by plain loops (no generator to resume
    per node)."""
    out: list[tuple[str, Node]] = []
    _collect(root.nodes, "", kinds, out, set())
    return out


def _collect(
    nodes: Sequence[Node],
    outer: str,
    kinds: Sequence[str],
    out: list[tuple[str, Node]],
    without: set[int],
) -> None:
    """`without`: the ids of the modules found to hold no node of `kinds`, whose copies
    (the same nodes at another path: Module.copy_of) are not walked again."""
    for node in nodes:
        child = node.child
        wanted = not kinds or node.kind in kinds
        if wanted or child is not None:
            path = f"{outer}.{node.name}" if outer else node.name
            if wanted:
                out.append((path, node))
            if child is not None:
                origin = id(child.copy_of or child)
                if origin in without:
                    continue
                found = len(out)
                _collect(child.nodes, path, kinds, out, without)
                if len(out) == found:
                    without.add(origin)
