"""`def __init__` of each emitted class: the signature, the lets it reads, then one
assignment per submodule in registration order (a switched one under its `if`), or, for an
nn.Sequential subclass, its entries built in a list as torchvision's Conv2dNormActivation.

Statements are written at a given depth (`depth` 2: the method's body), so a class whose
instances take different paths (`cases.py`) can place each case's under an `if`.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ...ops import REGISTRY
from ...ops.names import is_index, key_path
from ..pycode import INDENT, Namespace, lit
from ..pylayout import Doc, Group, Text, call, condition_lines, format_doc
from ..pyvalues import IN, Val
from .forward import attr_ref, count_attr, is_free_attr, is_tensor, when_flag
from .model import ClassInfo
from .optional import Layers


def sequential_init_lines(cls: ClassInfo) -> list[str]:
    """`def __init__` of an nn.Sequential subclass: the entries in a list (the switched ones
    appended under their `if`), then `super().__init__(*layers)`, as torchvision's
    Conv2dNormActivation."""
    assert isinstance(cls.chain, Layers)
    head = _signature(cls)
    lines, arg = _list_lines(cls.chain, cls)
    body = _guard_lines(cls) + lines + format_doc(call("super().__init__", [arg]), 8)
    return head + _let_lines(cls.lets, body) + body


def _guard_lines(cls: ClassInfo) -> list[str]:
    """`if <cond>: raise ValueError(...)` for the items the class leaves out."""
    if not cls.guards:
        return []
    several = len(cls.guards) > 1  # one guard is the whole test: no parentheses, as ruff
    cond = " or ".join(f"({g})" if several and " or " in g else g for g in cls.guards)
    message = Text(lit("this file was emitted without the layers these values choose"))
    raise_lines = format_doc(call("raise ValueError", [message]), 12)
    return [" " * 8 + ln for ln in condition_lines(cond, 8)] + raise_lines


def _signature(cls: ClassInfo) -> list[str]:
    items: list[Doc] = [Text("self")]
    if cls.in_arg:
        items.append(Text(f"{cls.pynames[IN]}: int"))
    items += [Text(f"{cls.pynames[key]}: int") for key in cls.more_args]
    for p in cls.params:
        text = f"{p.pyname}: {p.type}"
        if not p.required:
            text += f" = {lit(p.default)}"
        items.append(Text(text))
    return format_doc(Group("def __init__(", tuple(items), ") -> None:"), 4)


def init_lines(
    cls: ClassInfo,
    init_call: str | None,
    body: list[str] | None = None,
    after: Sequence[str] = (),
    ties: Sequence[str] = (),
) -> list[str]:
    """`def __init__`: the signature, then one assignment per submodule, in node order (or
    the block's `register_order:`, which torch's state_dict order follows); `body`, when
    given, stands for those assignments (a class with cases: `cases.py`); `ties`: lines
    that tie tensors, before the init call (the network's `tied:`); `after`: lines that
    end it (the network's frozen parameters)."""
    head = _signature(cls)
    head.append(INDENT * 2 + "super().__init__()")
    if body is None:  # what the calls in `forward` read (`self.radix = radix`), then modules
        stmts = init_statements(cls)
        said = {tuple(st) for st in stmts}
        state = [[f"{INDENT * 2}self.{a} = {t}"] for a, t in cls.case_state.items()]
        lines = [ln for st in state if tuple(st) not in said for ln in st]
        lines += [ln for st in stmts for ln in st]
    else:
        lines = body
    lines = lines + list(ties)
    if init_call:
        lines = lines + format_doc(Text(init_call), 8)
    lines = lines + list(after)
    lines = _guard_lines(cls) + lines  # a guard may test a let (`if not equal:`): bound first
    return head + _let_lines(cls.lets, lines) + lines


class Planned(NamedTuple):
    """One statement of `__init__` as it is planned: what it assigns first (an attribute,
    a flag; None for a loop), how it is written given the containers made before it, and
    for a flag that may read its let's local instead, (flag, let)."""

    target: str | None
    write: Callable[[Containers], list[str]]
    inlined: tuple[str, str] | None = None


def init_statements(
    cls: ClassInfo, depth: int = 2, order: Sequence[str | None] | None = None
) -> list[list[str]]:
    """The assignments of `__init__` at `depth` (2: the method's body), each statement its
    lines: a submodule (under `if` when a `when` switches it), a loop, a flag `forward` reads.
    `order` (a class with cases: `cases.py`) is `init_targets`' with the submodules other
    cases have set to None in their places."""
    planned = _planned(cls, depth)
    if order is not None:
        planned = _with_nones(planned, order, depth)
    containers = Containers()
    stmts = [p.write(containers) for p in planned]
    inlined = {i: p.inlined for i, p in enumerate(planned) if p.inlined is not None}
    read = names_read([ln for i, s in enumerate(stmts) if i not in inlined for ln in s])
    for i, (flag, let) in inlined.items():
        if let in read:  # the local is bound anyway: the flag reads it
            stmts[i] = [f"{INDENT * depth}self.{flag} = {let}"]
    return stmts


def init_targets(cls: ClassInfo) -> list[str | None]:
    """What each statement of `init_statements` assigns first (None for a loop)."""
    return [p.target for p in _planned(cls, 2)]


def _planned(cls: ClassInfo, depth: int) -> list[Planned]:
    """The statements of `__init__`, in registration order, each as it is planned."""
    pad, ind = INDENT * depth, 4 * depth
    out: list[Planned] = []
    flags: set[str] = set()
    steps = cls.steps
    if cls.bodies and (module := cls.bodies[0].module).register_order:
        rank = {n: i for i, n in enumerate(module.registered([s.node.name for s in steps]))}
        steps = sorted(steps, key=lambda s: rank[s.node.name])
    for st in steps:
        if st.ctor is None and st.when is not None:  # a function node `forward` may skip
            flag = when_flag(cls, st)
            if flag not in flags:
                flags.add(flag)
                text = cls.lets.get(st.when.text, st.when.text)  # a let read only here
                flag_lines = format_doc(Text(text), ind, f"self.{flag} = ")
                inline = st.when.text in cls.lets and len(flag_lines) == 1
                out.append(
                    Planned(flag, _fixed(flag_lines), (flag, st.when.text) if inline else None)
                )
            continue
        if st.loop is not None and st.ctor is not None:
            head = [f"{pad}for {st.loop.index} in range({st.loop.count}):"]
            call_doc = call("self.add_module", [Text(st.loop.name), st.ctor])
            out.append(Planned(None, _fixed(head + format_doc(call_doc, ind + 4))))
            if cls.bodies and not cls.bodies[0].module.is_chain:  # `forward` runs the loop
                count = count_attr(cls, st)
                out.append(Planned(count, _fixed([f"{pad}self.{count} = {st.loop.count}"])))
            continue
        if st.ctor is not None and st.attr is not None:
            out.append(Planned(st.attr, _module_writer(st, cls, depth)))
    return out


def _fixed(lines: list[str]) -> Callable[[Containers], list[str]]:
    return lambda _containers: lines


def _module_writer(st: Any, cls: ClassInfo, depth: int) -> Callable[[Containers], list[str]]:
    """How a submodule's statement is written: the containers its key's path needs first
    (`Containers.make`), then its assignment (under `if` when a `when` switches it)."""
    attr, pad = st.attr, INDENT * depth

    def write(containers: Containers) -> list[str]:
        lines = containers.make(attr, depth, is_tensor(st))
        if st.when is not None:
            lines += _if_lines(st.when, depth)
            if isinstance(st.ctor, Layers):  # a switched chain whose entries are switched too
                lines += _layers_lines(attr, st.ctor, cls, depth + 1)
            else:
                lines += _assign(attr, st.ctor, depth + 1, is_tensor(st), _persistent(st))
            lines.append(pad + "else:")
            return lines + _assign(attr, Text("None"), depth + 1)
        if isinstance(st.ctor, Layers):
            return lines + _layers_lines(attr, st.ctor, cls, depth)
        return lines + _assign(attr, st.ctor, depth, is_tensor(st), _persistent(st))

    return write


def _with_nones(planned: list[Planned], order: Sequence[str | None], depth: int) -> list[Planned]:
    """`planned` with a statement setting each attribute of `order` it lacks to None."""
    own = {p.target for p in planned}
    it = iter(planned)
    out: list[Planned] = []
    for target in order:
        if target is not None and target not in own:
            out.append(Planned(target, _none_writer(target, depth)))
        else:
            out.append(next(it))
    return out


def _none_writer(attr: str, depth: int) -> Callable[[Containers], list[str]]:
    """A submodule a case lacks: None in its place (in its container, made if need be)."""
    return lambda containers: containers.make(attr, depth) + _assign(attr, Text("None"), depth)


class Containers:
    """The containers of dotted keys `__init__` has made so far, each path -> its entries'
    keys (`fuse_layers` -> ["0", "1"]), so that each is made once, where its first entry is,
    and a list's skipped index gets an nn.Identity, as compile's build does."""

    def __init__(self) -> None:
        self.held: dict[str, list[str]] = {}

    def make(self, attr: str, depth: int, tensor: bool = False) -> list[str]:
        """The statements that make the containers on `attr`'s path not made yet, and fill
        the indices its lists skip before it; `attr` is recorded as placed (`tensor`: a
        parameter, whose last container is an nn.ParameterList or nn.ParameterDict)."""
        made = containers_on_path(self.held, attr, tensor)
        return [ln for path, cls in made for ln in _assign(path, Text(f"{cls}()"), depth)]


def containers_on_path(
    held: dict[str, list[str]], key: str, tensor: bool = False
) -> list[tuple[str, str]]:
    """(path, class) of what a dotted key needs made before it, in order: each container on
    its path not in `held` yet (`nn.ModuleList` where the next part is an index, else
    `nn.ModuleDict`; the last one of a parameter's key, `tensor`, `nn.ParameterList` or
    `nn.ParameterDict`), and an `nn.Identity` for each index a list of modules skips (a
    parameter list skips none: lowering/keys.py); `held` (a container's path -> its
    entries' keys) records them and the key, as compile's build makes them."""
    parts = key_path(key)
    out: list[tuple[str, str]] = []
    for k in range(1, len(parts)):
        path, part = ".".join(parts[:k]), parts[k]
        if path not in held:
            classes = ("nn.ModuleList", "nn.ModuleDict")
            if tensor and k == len(parts) - 1:
                classes = ("nn.ParameterList", "nn.ParameterDict")
            out.append((path, classes[0] if is_index(part) else classes[1]))
            held[path] = []
        entries = held[path]
        if part in entries:
            continue
        if is_index(part):
            while len(entries) < int(part):
                out.append((f"{path}.{len(entries)}", "nn.Identity"))
                entries.append(str(len(entries)))
        entries.append(part)
    return out


def _let_lines(lets: dict[str, str], body: list[str]) -> list[str]:
    """The lets `body` reads (and those they read), bound as locals in the order written,
    as torchvision's `hidden_dim = int(round(inp * expand_ratio))`."""
    read = names_read(body)
    needed: list[str] = []
    for name in reversed(list(lets)):
        if name in read:
            needed.append(name)
            read |= names_read([lets[name]])
    out: list[str] = []
    for name in reversed(needed):
        out += format_doc(Text(lets[name]), 8, f"{name} = ")
    return out


def names_read(lines: list[str]) -> set[str]:
    """The identifiers in lines of code (names and attributes alike; strings skipped)."""
    out: set[str] = set()
    toks = tokenize.generate_tokens(io.StringIO("\n".join(ln.strip() for ln in lines)).readline)
    after_dot = False
    try:
        for tok in toks:
            if tok.type == tokenize.NAME and not after_dot:
                out.add(tok.string)
            after_dot = tok.type == tokenize.OP and tok.string == "."
    except (tokenize.TokenError, SyntaxError):
        pass  # an open bracket at the end: the names before it were read
    return out


def _layers_lines(attr: str, chain: Layers, cls: ClassInfo, depth: int = 2) -> list[str]:
    """`layers = []`, its entries appended (the switched ones under their `if`), then
    `self.<attr> = nn.Sequential(*layers)`, as torchvision builds InvertedResidual."""
    lines, arg = _list_lines(chain, cls, depth)
    return lines + _assign(attr, call("nn.Sequential", [arg]), depth)


def _list_lines(chain: Layers, cls: ClassInfo, depth: int = 2) -> tuple[list[str], Doc]:
    """The lines building a chain's entries in a list, and what nn.Sequential takes."""
    taken = {p.pyname for p in cls.params} | set(cls.pynames.values())
    var = Namespace(taken).create("layers")
    named = chain.names is not None
    kind = "tuple[str, nn.Module]" if named else "nn.Module"
    ind = 4 * depth
    lines = [" " * ind + f"{var}: list[{kind}] = []"]
    run: list[Doc] = []

    def entry(i: int) -> Doc:
        doc = chain.docs[i]
        if chain.names is not None:
            return Group("(", (Text(lit(chain.names[i])), doc), ")")
        return doc

    def flush() -> None:
        if len(run) == 1:
            lines.extend(format_doc(call(f"{var}.append", run), ind))
        elif run:
            lines.extend(format_doc(call(f"{var}.extend", [Group("[", tuple(run), "]")]), ind))
        run.clear()

    for i, cond in enumerate(chain.conds):
        if cond is None:
            run.append(entry(i))
            continue
        flush()
        lines.extend(" " * ind + ln for ln in condition_lines(cond, ind))
        lines.extend(format_doc(call(f"{var}.append", [entry(i)]), ind + 4))
    flush()
    arg: Doc = Text(f"*{var}") if not named else call("OrderedDict", [Text(var)])
    return lines, arg


def _persistent(st: Any) -> bool | None:
    """A tensor step's registration: None for a parameter, else a buffer's persistence."""
    if not is_tensor(st):
        return None
    return REGISTRY[st.node.kind].persistent(st.node.attrs)


def _assign(
    attr: str, ctor: Doc, depth: int, tensor: bool = False, persistent: bool | None = None
) -> list[str]:
    if persistent is not None:  # a buffer: an assigned tensor would be a plain attribute
        args = [Text(lit(attr)), ctor] + ([] if persistent else [Text("persistent=False")])
        return format_doc(call("self.register_buffer", args), 4 * depth)
    if "." in attr:  # an entry of a container (`Containers.make` made it): a list's next
        parent, _, part = attr.rpartition(".")
        if is_index(part):
            return format_doc(call(f"{attr_ref(parent)}.append", [ctor]), 4 * depth)
        return format_doc(ctor, 4 * depth, f"{attr_ref(parent)}[{lit(part)}] = ")
    if is_free_attr(attr):
        return format_doc(ctor, 4 * depth, f"self.{attr} = ")
    register = "self.register_parameter" if tensor else "self.add_module"
    return format_doc(call(register, [Text(lit(attr)), ctor]), 4 * depth)


def _if_lines(cond: Val, depth: int) -> list[str]:
    return [" " * (4 * depth) + ln for ln in condition_lines(cond.text, 4 * depth)]
