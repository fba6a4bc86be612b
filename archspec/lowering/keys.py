"""`key:`: a node's module key when it is not an identifier (RegNet's `block1-0`).

A key stands where a name would: it is the node's name in its scope (what `from:` reads)
and its state_dict key, in compiled modules (`add_module`) and emitted source alike
(`self.add_module("block1-0", ...)`, `getattr(self, "block1-0")`). Only nodes that make a
module (or hold a learned tensor) have one. A key may be a template whose `{expression}`
parts are evaluated where the node is (a repeat copy's index, a block's params), so a
stage of copies can be keyed as torchvision's `f"block{stage_index}-{i}"`.

A dotted key, `convs.0`, registers the node as an entry of a list of its module (timm's
Res2Net registers `self.convs` and `self.bns`, two nn.ModuleLists, and walks them together):
the node is called where it is written, the list is registered where its first entry is,
and its entries are numbered in the order the module makes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..expr import ExprError
from ..ir import replaced
from ..ops import REGISTRY
from ..ops.names import list_key, spec_key_problem
from ..ops.templates import filled
from .context import Site, Skip

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

_HINT = (
    "a key is printable ASCII without spaces, `.`, quotes or backslashes, at most 64 "
    "characters, e.g. `block1-0`, or a list's entry, `convs.0`; use `name:` for identifiers"
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
        lw.error(
            "E204",
            f"`key` names a module's state_dict entry, and this `{spec.type}` makes no module",
            yp,
            "give it a `name` instead",
        )
        raise Skip
    key = _fill(lw, spec.key, site.local, yp)
    problem = spec_key_problem(key)
    if problem is not None:
        lw.error("E204", f"`key` gives {key[:80]!r} here: {problem}", yp, _HINT)
        raise Skip
    entry = list_key(key)
    if entry is not None:
        _list_entry(lw, site, spec, construct, entry, yp)
    return replaced(site, item=replaced(site.item, name=key))


#: the hint of a node and a list of one module with one name (either written first)
_BOTH_HINT = "rename the node or the list: a module's child is a layer or a list, not both"


def _list_entry(
    lw: Lowerer, site: Site, spec: Any, construct: Any, entry: tuple[str, int], yp: Any
) -> None:
    """Check a list entry's key (`convs.2`) where it is made, and count it: its node is a
    module, the list's name is no node of the module, and the entries come in order."""
    name, index = entry
    scope = site.scope
    op = REGISTRY.get(spec.type)
    if op is not None and op.style != "module":
        lw.error(
            "E204",
            f"`{name}.{index}` keys an entry of a module list, and a `{spec.type}` holds a "
            "tensor, not a module",
            yp,
            "key it without `.`; a learned tensor is an attribute of its module",
        )
        raise Skip
    if name in scope.shapes:
        lw.error(
            "E304",
            f"`{name}.{index}` puts an entry in a list `{name}`, and `{name}` is a node of "
            "this module",
            yp,
            _BOTH_HINT,
        )
        raise Skip
    held = scope.lists.get(name, 0)
    scope.lists[name] = max(held, index + 1)
    if index != held:
        lw.error(
            "E204",
            f"`{name}.{index}` here, and the list `{name}` holds {held} "
            f"entr{'y' if held == 1 else 'ies'} so far: a list numbers its entries in the "
            "order the module makes them",
            yp,
            f"key them `{name}.0`, `{name}.1`, ... in the order they are written (in a "
            f'repeat, `key: "{name}.{{i}}"`)',
        )
        raise Skip


def list_taken(lw: Lowerer, name: str, yp: Any) -> None:
    """E304 (and Skip) for a node named like a list its module's entries made before."""
    lw.error(
        "E304",
        f"`{name}` is a list of this module (its entries are keyed `{name}.0`, ...), and "
        "this node has its name",
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
