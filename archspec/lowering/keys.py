"""`key:`: a node's module key when it is not an identifier (RegNet's `block1-0`).

A key stands where a name would: it is the node's name in its scope (what `from:` reads)
and its state_dict key, in compiled modules (`add_module`) and emitted source alike
(`self.add_module("block1-0", ...)`, `getattr(self, "block1-0")`). Only nodes that make a
module (or hold a learned tensor) have one. A key may be a template whose `{expression}`
parts are evaluated where the node is (a repeat copy's index, a block's params), so a
stage of copies can be keyed as torchvision's `f"block{stage_index}-{i}"`.

A dotted key is a path of containers of its module: `convs.0` is entry 0 of the
nn.ModuleList `convs` (timm's Res2Net registers `self.convs` and `self.bns` and walks them
together), `fuse_layers.0.1` entry 1 of the list `fuse_layers.0` (HRNet's ModuleList of
ModuleLists), `heads.cls` the entry `cls` of the nn.ModuleDict `heads`. The node is called
where it is written; a container is registered where its first entry is; a list's new
entries come in index order, an index skipped holding an nn.Identity (`Scope.lists`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..expr import ExprError
from ..ir import replaced
from ..ops import REGISTRY
from ..ops.names import PARAMETER_DICT_NAMES, is_index, key_path, spec_key_problem
from ..ops.templates import filled
from .context import Site, Skip

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

_HINT = (
    "a key is printable ASCII without spaces, quotes or backslashes, at most 64 characters "
    "(`block1-0`); a `.` makes it a path of containers, each part a key or an index without "
    "leading zeros (`convs.0`, `fuse_layers.0.1`, `heads.cls`); use `name:` for identifiers"
)


def keyed_site(lw: Lowerer, site: Site, construct: Any) -> Site:
    """The site with its item named by its `key:`, if it has one (E204, and Skip, for a key
    it cannot have: beside a `name`, on a node that makes no module, or an invalid key)."""
    spec, yp = site.spec, site.ypath + ("key",)
    if getattr(spec, "key", None) is None:
        return site
    if getattr(spec, "name", None) is not None:
        lw.error(
            "E204",
            "a node takes a `name` or a `key`, not both",
            yp,
            "`key` is the node's name when it is not an identifier: drop the `name`",
        )
        raise Skip
    if not _makes_module(spec, construct):
        flat = getattr(spec, "flat", False) and getattr(spec, "type", "") in ("repeat", "for_each")
        lw.error(
            "E204",
            f"`key` names a module's state_dict entry, and this `{spec.type}` makes no module",
            yp,
            # a flat repeat makes no module either way: its copies are the modules
            f"key each copy on the {spec.type}'s `layer` (`layer: {{..., key: "
            f'"{spec.key}"}}`), or without `flat: true` key the one Sequential it makes'
            if flat
            else "give it a `name` instead",
        )
        raise Skip
    key = _fill(lw, spec.key, site.local, yp)
    try:
        problem = spec_key_problem(key)
        if problem is not None:
            lw.error("E204", f"`key` gives {key[:80]!r} here: {problem}", yp, _HINT)
            raise Skip
        if "." in key:
            _path_entry(lw, site, spec, key, yp)
    except Skip:
        # a node that reads it is quiet: one mistake, one error (as for a layer that failed)
        site.scope.shapes.setdefault(key, None)
        raise
    return replaced(site, item=replaced(site.item, name=key))


def keyed_failed(site: Site, key: str | None) -> None:
    """After a keyed node (`key` its spec's key) failed: its readers are quiet, as a named
    node's are (its key is its name: `site`, keyed_site's, is named by it)."""
    if key is not None and site.item.name is not None:
        site.scope.shapes.setdefault(site.item.name, None)


#: the hint of a node and a container of one module with one key (either written first)
_BOTH_HINT = (
    "rename the node or the container: a module's child is a layer or a container of "
    "entries, not both"
)


def _path_entry(lw: Lowerer, site: Site, spec: Any, key: str, yp: Any) -> None:
    """Check a dotted key (`fuse_layers.0.1`, `kernels.0`) where it is made, and record it in
    its module's containers (`Scope.lists`: a container's path -> its entries' keys, in
    order): the node is a module or a parameter (an entry of an nn.ParameterList or
    nn.ParameterDict, `Op.parameter_entries`), no container on its path is a node, a
    container holds indices or names but not both, modules or parameters but not both, and
    a list's new entry comes after the ones it holds (a parameter list's, right after)."""
    scope = site.scope
    op = REGISTRY.get(spec.type)
    tensor = op is not None and op.style == "tensor"
    if op is not None and op.style != "module" and (not tensor or not op.parameter_entries):
        lw.error(
            "E204",
            f"`{key}` keys an entry of a container, and torch has no container of a "
            f"`{spec.type}`'s tensors",
            yp,
            "key it without `.`; a learned tensor is an attribute of its module, a parameter "
            "also an entry of an nn.ParameterList (`kernels.0`) or nn.ParameterDict",
        )
        raise Skip
    parts = key_path(key)
    if key in scope.lists:
        list_taken(lw, key, yp)
    for k in range(1, len(parts)):
        path, part = ".".join(parts[:k]), parts[k]
        if path in scope.shapes and not _failed(scope, path):
            lw.error(
                "E304",
                f"`{key}` puts an entry in a container `{path}`, and `{path}` is a node of "
                "this module",
                yp,
                _BOTH_HINT,
            )
            raise Skip
        held = scope.lists.get(path, [])
        _same_kind(lw, scope, key, path, tensor and k == len(parts) - 1, yp)
        if part in held:
            continue  # a container made before (a duplicate node is add_node's E304)
        _new_entry(lw, key, path, part, held, tensor and k == len(parts) - 1, yp)
    for k in range(1, len(parts)):  # checked: record
        held = scope.lists.setdefault(".".join(parts[:k]), [])
        if tensor and k == len(parts) - 1:
            scope.tensor_lists.add(".".join(parts[:k]))
        if parts[k] in held:
            continue
        if is_index(parts[k]):  # each index skipped is an nn.Identity: an item of the budget
            skipped = int(parts[k]) - (int(held[-1]) + 1 if held else 0)
            if skipped:
                lw.charge(skipped, yp, why=f"`{key}` skips {skipped:,} indices, each an Identity")
        held.append(parts[k])


def _same_kind(lw: Lowerer, scope: Any, key: str, path: str, tensor: bool, yp: Any) -> None:
    """E304 (and Skip) where `key` puts a parameter in a container of modules, or a module
    (a container of modules on its path, too) in a container of parameters."""
    held = scope.lists.get(path)
    if held is None or (path in scope.tensor_lists) == tensor:
        return
    what, given = ("modules", "a parameter") if tensor else ("parameters", "a module")
    lw.error(
        "E304",
        f"`{key}` gives the container `{path}` {given}, and it holds {what} "
        f"(`{path}.{held[0]}`): an nn.ParameterList or nn.ParameterDict holds parameters, an "
        "nn.ModuleList or nn.ModuleDict modules",
        yp,
        "key a container's entries all parameters or all modules: give the others a "
        "container of their own",
    )
    raise Skip


def _new_entry(
    lw: Lowerer, key: str, path: str, part: str, held: list[str], tensor: bool, yp: Any
) -> None:
    """E304/E204 (and Skip) where entry `part` cannot join the container `path` (holding
    `held`; `tensor`: of parameters): indices beside names, an index before one it holds,
    an index a parameter list skips, a method of nn.ParameterDict."""
    if held and is_index(held[0]) != is_index(part):
        what = "indices" if is_index(held[0]) else "names"
        lw.error(
            "E304",
            f"`{key}` gives the container `{path}` the entry `{part}`, and it holds "
            f"{what} (`{path}.{held[0]}`): an nn.ModuleList or nn.ParameterList holds "
            "indices, an nn.ModuleDict or nn.ParameterDict names",
            yp,
            "key one container's entries all `name.0`, `name.1`, ... or all by name",
        )
        raise Skip
    if held and is_index(part) and int(part) < int(held[-1]):
        lw.error(
            "E204",
            f"`{key}` gives the list `{path}` the entry {part}, and it holds "
            f"`{path}.{held[-1]}` already: a list numbers its entries in the order the "
            "module makes them",
            yp,
            f"key them `{path}.0`, `{path}.1`, ... in the order they are written (in a "
            f'repeat, `key: "{path}.{{i}}"`); an index skipped holds an nn.Identity',
        )
        raise Skip
    if tensor and is_index(part) and int(part) != len(held):
        lw.error(
            "E204",
            f"`{key}` gives the parameter list `{path}` the entry {part}, and it holds "
            f"{len(held)}: an nn.ParameterList has nothing to put at an index skipped",
            yp,
            f"key its parameters `{path}.0`, `{path}.1`, ... in the order they are written, "
            "none skipped",
        )
        raise Skip
    if tensor and part in PARAMETER_DICT_NAMES:
        lw.error(
            "E204",
            f"`{key}` keys the entry `{part}` of the parameter dict `{path}`, a method of "
            "nn.ParameterDict",
            yp,
            "name the entry otherwise (`w_get`): an entry is an attribute of its dict",
        )
        raise Skip


def _failed(scope: Any, name: str) -> bool:
    """Whether `name` is only a node that failed (its error said why), such as a node keyed
    like a container of the module: its entries are no second mistake."""
    return scope.shapes[name] is None and all(n.name != name for n in scope.nodes)


def list_taken(lw: Lowerer, name: str, yp: Any) -> None:
    """E304 (and Skip) for a node keyed like a container its module's entries made before."""
    lw.error(
        "E304",
        f"`{name}` is a container of this module (its entries are keyed `{name}.`...), and "
        "this node has its key",
        yp,
        _BOTH_HINT,
    )
    raise Skip


def _makes_module(spec: Any, construct: Any) -> bool:
    op = REGISTRY.get(spec.type)
    if op is not None:
        return op.style in ("module", "tensor")
    if construct is None:  # a block call
        return True
    return bool(construct.makes_module) and not getattr(spec, "flat", False)


def _no_braces(part: str, value: Any) -> None:
    """A key part's text holds no braces: a block's str argument is text as written
    (`prefix: "{name}_{i}"` reaches here unfilled), and a key holding them would name the
    module wrongly."""
    if isinstance(value, str) and ("{" in value or "}" in value):
        raise ValueError(
            f"`{{{part}}}` gives {value[:60]!r}, text with braces: a block's `str` "
            "argument is taken as written, not filled as a template; pass the numbers it "
            "needs as `int` params and write the whole template in the key "
            '(`key: "stage{s}_{i}/conv"`)'
        )


def _fill(lw: Lowerer, template: str, env: Any, yp: Any) -> str:
    """The key a template gives here; E309 (and Skip) for a part that is not a number or
    text, an expression's own error for one that fails."""

    try:
        return filled(template, env, _no_braces)
    except ExprError as exc:
        lw.error(exc.code, f"key: {exc.message}", yp, exc.hint)
    except ValueError as exc:
        lw.error("E309", f"key: {exc}", yp, "a key's `{...}` part gives a number or text")
    raise Skip
