"""The init method: the spec's init rules as `isinstance`/`fnmatch` tests over the modules.

`_init_weights` loops over `self.modules()` (or `named_modules()` when a rule names paths)
and applies each rule's initialisers to the modules it selects. Each emitted test is
checked against the modules the rule applies to in the IR: it must select exactly those,
or the spec is refused (E6xx) rather than emitted wrong.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ...errors import EmitError
from ...expr import precedence
from ...ir import Graph, InitStep, Module, Node
from ...lazymethods import dataclass
from ...ops import REGISTRY
from ..pycode import INDENT, LINE_LENGTH, Namespace, expr_tree, lit, truth_fold, unparse
from ..pylayout import Doc, Group, Text, condition_lines, format_doc
from ..pyvalues import Env, Val, frozen, literal, render_expr
from .context import EmitContext
from .ctor import containers_on_path
from .forward import is_free_attr
from .layers import ClassNames, LayerFacts, LayerFactsCache, class_text
from .model import ClassInfo

#: torch.nn.init defaults, left out of emitted calls.
INIT_DEFAULTS: dict[str, dict[str, Any]] = {
    "kaiming_normal": {"a": 0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "kaiming_uniform": {"a": 0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "normal": {"mean": 0.0, "std": 1.0},
    "trunc_normal": {"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0},
    "uniform": {"a": 0.0, "b": 1.0},
    "xavier_normal": {"gain": 1.0},
    "xavier_uniform": {"gain": 1.0},
}


def init_names(graph: Graph, env: Env) -> set[str]:
    """Params the init rules' conditions read symbolically."""
    names: set[str] = set()
    for rule in graph.init_rules or graph.init:
        if rule.when_expr is not None:
            v = when_val(rule, env)
            names |= v.names if v.symbolic else set()
    return names


def when_val(rule: InitStep, env: Env) -> Val:
    """A rule's `when` in the class's terms, decided where its truth no longer depends on an
    argument: `zero_init_residual and 'Bottleneck' == 'BasicBlock'` is never true."""
    assert rule.when_expr is not None
    v = render_expr(rule.when_expr, rule.active, env, None)
    if not v.symbolic:
        return v
    tree = truth_fold(expr_tree(v.text))
    if isinstance(tree, ast.Constant):
        return literal(bool(tree.value))
    return v if unparse(tree) == v.text else Val(unparse(tree), v.value, v.names, v.exact)


@dataclass(frozen=True, eq=False)
class _Entry:
    """A module of the emitted network: its path, layer kind and classes.

    `classes` are the names of every class it is an instance of (`nn.Conv2d`, `nn.Module`);
    `callee` is the one its constructor calls; `facts` what a layer holds."""

    path: str
    kind: str
    node: Node | None
    classes: frozenset[str]
    facts: LayerFacts | None
    callee: str
    owner: _Entry | None = None  # the layer an inner module belongs to
    block_class: str = ""  # a block instance: the emitted class it is an instance of


@dataclass
class _Vars:
    """The local names of the init method."""

    m: str
    name: str
    skip: str
    prefix: str


@dataclass
class _RuleCode:
    """One rule as emitted: its lines in the module loop, and what the method around them
    needs; `by_class` is the rule as a loop of its own over a block class's instances
    (`if isinstance(m, Bottleneck): nn.init.zeros_(m.bn3.weight)`), where it can be one."""

    lines: list[str]
    uses_name: bool
    leaks: list[_Entry]
    cond_params: set[str]
    random: bool = False
    by_class: list[str] | None = None


class InitRules(EmitContext):
    """Writes `_init_weights` for the network class."""

    def init_method(self, cls: ClassInfo) -> tuple[list[str], str] | None:
        """`_init_weights`'s lines and the call `__init__` ends with, or None."""
        g = self.graph
        rules = list(g.init_rules or g.init)
        if not rules:
            return None
        self._facts = LayerFactsCache(ClassNames(self.support_texts))
        self._presence_cache: dict[Any, bool] = {}
        entries = list(self._module_entries())
        attr_names = {st.attr for st in cls.steps if st.attr}
        method = Namespace(attr_names).create("_init_weights")
        local = Namespace({p.pyname for p in cls.params})
        names = _Vars(*(local.create(n) for n in ("m", "name", "skip", "prefix")))
        codes: list[_RuleCode] = []
        opaque: list[str] = []  # layers whose own submodules the rules must not reach
        for rule in rules:
            self.at = rule.span or self.at
            code = self._rule_code(rule, entries, names)
            if code is None:
                continue
            codes.append(code)
            for e in code.leaks:
                if e.owner is not None and e.owner.callee not in opaque:
                    opaque.append(e.owner.callee)
        if not any(c.lines for c in codes):
            return None
        cond_params = set().union(*(c.cond_params for c in codes if c.lines))
        args = [p for p in cls.params if p.name in cond_params]
        items: list[Doc] = [Text("self")] + [Text(f"{p.pyname}: {p.type}") for p in args]
        lines = format_doc(Group(f"def {method}(", tuple(items), ") -> None:"), 4)
        for segment in _segments(codes, bool(opaque)):
            if isinstance(segment, list):
                lines += [(INDENT * 2 + ln) if ln else "" for ln in segment]
                continue
            lines += _module_loop(segment, opaque, names)
        init_call = f"self.{method}({', '.join(p.pyname for p in args)})"
        return [out for ln in lines for out in _fit_call(ln)], init_call

    def _rule_code(self, rule: InitStep, entries: list[_Entry], v: _Vars) -> _RuleCode | None:
        """The lines of one rule inside the loop; None when it applies to nothing."""
        when: Val | None = None
        if rule.when_expr is not None:
            assert self.root_env is not None
            when = when_val(rule, self.root_env)
            if not when.symbolic:
                if not when.value:
                    return None
                when = None
        matched = [
            e
            for e in entries
            if e.kind != "module"
            and e.node is not None
            and (not rule.kinds or e.kind in rule.kinds)
            and (not rule.globs or rule.path_matches(e.path))
        ]
        if not matched:
            return None
        cond, uses_name, leaks = self._init_condition(rule, matched, entries, v)
        stmts = self._init_statements(rule, matched, v.m)
        if not stmts:
            return _RuleCode([], uses_name, leaks, set())
        parts = []
        cond_params: set[str] = set()
        when_text = None
        if when is not None:
            cond_params = set(when.names)
            loose = precedence(expr_tree(when.text)) <= 2  # `a or b` needs parentheses
            when_text = f"({when.text})" if loose else when.text
            parts.append(when_text)
        parts += cond
        random = any(fn is not None and fn[0] != "constant" for fn in (rule.weight, rule.bias))
        by_class = self._class_loop(rule, matched, entries, v, when_text)
        if len(stmts) == 1 and stmts[0][0] is not None:
            guard, line = stmts[0]
            lines = _if_text(" and ".join([*parts, guard]), [line], 12)
            return _RuleCode(lines, uses_name, leaks, cond_params, random, by_class)
        lines = _if_text(" and ".join(parts), _guarded(stmts), 12) if parts else _guarded(stmts)
        return _RuleCode(lines, uses_name, leaks, cond_params, random, by_class)

    def _class_loop(
        self,
        rule: InitStep,
        matched: list[_Entry],
        entries: list[_Entry],
        v: _Vars,
        when_text: str | None,
    ) -> list[str] | None:
        """A path rule that selects one layer of every instance of some block classes, as
        torchvision writes `zero_init_residual`: `for m in self.modules(): if isinstance(m,
        Bottleneck): nn.init.zeros_(m.bn3.weight)` (lines at the method body's indent)."""
        if not rule.globs:
            return None
        by_path = {e.path: e for e in entries}
        owners: list[_Entry] = []
        attrs: set[str] = set()
        for e in matched:
            parent, _, attr = e.path.rpartition(".")
            owner = by_path.get(parent)
            if owner is None or not owner.block_class or not parent:
                return None
            owners.append(owner)
            attrs.add(attr)
        attr = attrs.pop()
        if attrs or not is_free_attr(attr):
            return None
        classes = _unique(o.block_class for o in owners)
        paths = {e.path for e in matched}
        for e in entries:
            if e.block_class in classes and f"{e.path}.{attr}" not in paths:
                return None  # an instance whose layer the rule leaves alone
        stmts = self._init_statements(rule, matched, f"{v.m}.{attr}")
        target = classes[0] if len(classes) == 1 else "(" + ", ".join(classes) + ")"
        depth = 4 if when_text else 0
        test = _if_text(f"isinstance({v.m}, {target})", _guarded(stmts), 12 + depth)
        loop = [f"for {v.m} in self.modules():", *(INDENT + ln for ln in test)]
        return _if_text(when_text, loop, 8) if when_text else loop

    def _init_condition(
        self, rule: InitStep, matched: list[_Entry], entries: list[_Entry], v: _Vars
    ) -> tuple[list[str], bool, list[_Entry]]:
        """The emitted test for one rule, checked to select exactly the modules it applies
        to (modules inside a layer are skipped; those the test would reach are returned)."""
        want = {id(e) for e in matched}
        layers = [e for e in entries if e.kind != "inner"]
        classes: list[str] = []
        if rule.kinds:
            classes = _unique(e.callee for e in layers if e.kind in rule.kinds and e.node)
        globs = list(rule.globs)

        def select(cls_list: list[str], pool: list[_Entry]) -> list[_Entry]:
            out = []
            for e in pool:
                if cls_list and not e.classes.intersection(cls_list):
                    continue
                if globs and not rule.path_matches(e.path):
                    continue
                out.append(e)
            return out

        if {id(e) for e in select(classes, layers)} != want and not rule.kinds:
            classes = _unique(e.callee for e in matched)
        if {id(e) for e in select(classes, layers)} != want:
            raise EmitError(
                "an init rule cannot be written as isinstance/fnmatch checks that select "
                "exactly the modules it applies to",
                span=rule.span,
                hint="name the layer kinds in `layers:` so their classes differ",
            )
        leaks = select(classes, [e for e in entries if e.kind == "inner"])
        parts = []
        if any(not c for c in classes):
            raise EmitError("an init rule selects a layer whose emitted code is not a class call")
        if classes:
            target = classes[0] if len(classes) == 1 else "(" + ", ".join(classes) + ")"
            parts.append(f"isinstance({v.m}, {target})")
        if globs:
            if len(globs) == 1:
                parts.append(f"fnmatch.fnmatchcase({v.name}, {lit(globs[0])})")
            else:
                pats = lit(tuple(globs))
                parts.append(
                    f"any(fnmatch.fnmatchcase({v.name}, {v.prefix}) for {v.prefix} in {pats})"
                )
        return parts, bool(globs), leaks

    def _init_statements(
        self, rule: InitStep, matched: list[_Entry], m_var: str
    ) -> list[tuple[str | None, str]]:
        out: list[tuple[str | None, str]] = []
        for which, fn in (("weight", rule.weight), ("bias", rule.bias)):
            if fn is None:
                continue
            held = [e.facts.tensors if e.facts else {} for e in matched]
            has = [t.get(which) is True for t in held]
            if not any(has):
                continue
            missing_attr = any(which not in t for t in held)
            varies = not all(has) or any(self._presence_varies(e.node, which) for e in matched)
            line = _init_call(fn, f"{m_var}.{which}")
            if not varies:
                out.append((None, line))
            elif missing_attr:
                out.append(
                    (f"isinstance(getattr({m_var}, {lit(which)}, None), torch.Tensor)", line)
                )
            else:
                out.append((f"{m_var}.{which} is not None", line))
        return out

    def _presence_varies(self, node: Node | None, which: str) -> bool:
        """True when a symbolic attribute of the node can add or remove its weight/bias.

        Only switches can (`bias`, `affine`): boolean attributes are the ones flipped.
        """
        if node is None:
            return False
        names = [f for f in self.symbolic_attrs.get(id(node), []) if type(node.attrs[f]) is bool]
        if not names:
            return False
        key = (node.kind, frozen(node.attrs), tuple(names), which)
        if key not in self._presence_cache:
            self._presence_cache[key] = self._presence_moves(node, names, which)
        return self._presence_cache[key]

    def _presence_moves(self, node: Node, names: list[str], which: str) -> bool:
        base = self._facts.of(node.kind, node.attrs).tensors.get(which) is True
        for f in names:
            try:
                flipped = self._facts.of(node.kind, {**node.attrs, f: not node.attrs[f]})
            except Exception:
                return True
            if (flipped.tensors.get(which) is True) != base:
                return True
        return False

    def _module_entries(self) -> Iterator[_Entry]:
        """Every module of the emitted network in `named_modules()` order, with its class."""
        names = ClassNames(self.support_texts)
        sequential = names.ancestors("nn.Sequential")
        yield _Entry("", "module", None, frozenset({self.graph.class_name}), None, "")

        def walk(module: Module, prefix: str) -> Iterator[_Entry]:
            held: dict[str, list[str]] = {}  # the containers of dotted keys made so far
            for node in module.nodes:
                # a parameter keyed `kernels.0` is no module, its nn.ParameterList one
                tensor = node.child is None and REGISTRY[node.kind].style == "tensor"
                if not node.is_module and not (tensor and "." in node.name):
                    continue
                path = f"{prefix}.{node.name}" if prefix else node.name
                for inner, cls in containers_on_path(held, node.name, tensor):
                    # a container (`fuse_layers.0`) or an index a list skips (nn.Identity):
                    # named_modules() meets them, which no rule may touch
                    inner_path = f"{prefix}.{inner}" if prefix else inner
                    yield _Entry(inner_path, "module", None, names.ancestors(cls), None, "")
                if tensor:
                    continue
                if node.child is not None:
                    chain = node.child.block is None and node.child.is_chain
                    info = None if chain else self.class_of.get(id(node.child))
                    owner = info.name if info is not None else ""
                    classes = sequential if chain else frozenset({owner})
                    yield _Entry(path, "module", None, classes, None, "", block_class=owner)
                    yield from walk(node.child, path)
                    continue
                facts = self._facts.of(node.kind, node.attrs)
                callee = class_text(node)
                layer = _Entry(path, node.kind, node, names.ancestors(callee), facts, callee)
                yield layer
                for sub_path, sub_classes in facts.inner:
                    yield _Entry(f"{path}.{sub_path}", "inner", None, sub_classes, None, "", layer)

        yield from walk(self.graph.root, "")


def _segments(codes: list[_RuleCode], opaque: bool) -> list[list[str] | tuple[_RuleCode, ...]]:
    """The rules in order as module loops (tuples of codes) and class loops (lines).

    A rule becomes a loop of its own only where that keeps every random draw in the same
    order as one loop over the modules (compile's order): it and every rule after it set
    constants. With layers whose insides must be skipped, everything stays in one loop.
    """
    out: list[list[str] | tuple[_RuleCode, ...]] = []
    current: list[_RuleCode] = []
    for k, code in enumerate(codes):
        own = (
            code.by_class is not None
            and code.lines
            and not opaque
            and not any(c.random for c in codes[k:] if c.lines)
        )
        if not own:
            current.append(code)
            continue
        if any(c.lines for c in current):
            out.append(tuple(current))
        current = []
        assert code.by_class is not None
        out.append(code.by_class)
    if any(c.lines for c in current):
        out.append(tuple(current))
    return out


def _module_loop(codes: tuple[_RuleCode, ...], opaque: list[str], v: _Vars) -> list[str]:
    """One loop over the modules applying `codes` in order (body at the method's indent)."""
    lines: list[str] = []
    blocks = [c.lines for c in codes if c.lines]
    needs_name = any(c.uses_name for c in codes)
    if opaque:
        # archspec initialises the layers a spec names, not modules inside them.
        needs_name = True
        lines.append(INDENT * 2 + f"{v.skip}: list[str] = []  # inside these: not layers")
        blocks.insert(0, _skip_lines(opaque, v))
    loop = (
        f"for {v.name}, {v.m} in self.named_modules():"
        if needs_name
        else f"for {v.m} in self.modules():"
    )
    lines.append(INDENT * 2 + loop)
    for block in blocks:
        lines += [(INDENT * 3 + ln) if ln else "" for ln in block]
    return lines


def _fit_call(line: str) -> list[str]:
    """An init call longer than a line, broken between its arguments as ruff breaks it
    (`nn.init.uniform_(m.weight, a=-1 / math.sqrt(m.out_features), ...)` in a deep loop).
    The arguments are the call's own (parsed, never split at a comma inside a literal)."""
    text = line.lstrip(" ")
    if len(line) <= LINE_LENGTH or not text.startswith("nn.init."):
        return [line]
    call = expr_tree(text)
    assert isinstance(call, ast.Call)
    args = [ast.get_source_segment(text, a) or "" for a in (*call.args, *call.keywords)]
    head = (ast.get_source_segment(text, call.func) or "") + "("
    return format_doc(Group(head, tuple(Text(a) for a in args), ")"), len(line) - len(text))


def _guarded(stmts: list[tuple[str | None, str]]) -> list[str]:
    """Init calls, each under its own `if` where its weight or bias may be absent."""
    out: list[str] = []
    for guard, line in stmts:
        out += [line] if guard is None else [f"if {guard}:", INDENT + line]
    return out


def _skip_lines(opaque: list[str], v: _Vars) -> list[str]:
    """The loop's first test: skip modules inside layers the rules must not reach."""
    target = opaque[0] if len(opaque) == 1 else "(" + ", ".join(opaque) + ")"
    return [
        f"if any({v.name}.startswith({v.prefix}) for {v.prefix} in {v.skip}):",
        INDENT + "continue",
        f"if isinstance({v.m}, {target}):",
        INDENT + f'{v.skip}.append({v.name} + ".")',
    ]


def _unique(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item is not None and item not in out:
            out.append(item)
    return out


def _if_text(cond: str, body: list[str], indent: int) -> list[str]:
    return condition_lines(cond, indent) + [INDENT + ln if ln else "" for ln in body]


def _init_call(fn: tuple[str, Mapping[str, Any]], target: str) -> str:
    name, args = fn
    if name == "constant":
        val = args.get("val")
        if val == 1 and type(val) in (int, float):
            return f"nn.init.ones_({target})"
        if val == 0 and type(val) in (int, float):
            return f"nn.init.zeros_({target})"
        return f"nn.init.constant_({target}, {_init_arg(val, target)})"
    defaults = INIT_DEFAULTS.get(name, {})
    parts = [target]
    for key, value in args.items():
        if key in defaults and value == defaults[key]:
            continue
        parts.append(f"{key}={_init_arg(value, target, key)}")
    if not re.match(r"^[a-z_]+$", name):
        raise EmitError(f"unknown initialiser {name!r}")
    return f"nn.init.{name}_({', '.join(parts)})"


def _init_arg(value: Any, target: str, key: str = "val") -> str:
    """An initialiser argument: a literal, or an expression over the layer's sizes
    (lowering/initexprs.py) read from the module being initialised (`m.out_features`)."""
    from ...expr import parse_expr, unparse
    from ...lowering.initexprs import LAYER_SIZES, MATH_FUNCS, is_expr_arg

    if not is_expr_arg(key, value):
        return lit(value)

    module = target.rsplit(".", 1)[0]
    tree = parse_expr(value).tree.body
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in MATH_FUNCS:
            node.func = ast.Name(id=f"math.{node.func.id}", ctx=ast.Load())
    rename = {n: f"{module}.{n}" for n in LAYER_SIZES}
    return unparse(tree, constant=lit, rename=rename, tight_pow=True)
