"""A block's (or the network's) `register_order:`, checked per instance and reported per
block: a name some instance of the block registers is no mistake where another instance
lacks it (timm's MobileOneBlock registers `se`, `identity`, `conv_kxk` and `conv_scale`, and
FastViT's RepMixer calls it with no conv branch: a `conv_kxk` list of no entry), as a layer
a `when` leaves out of an instance is none. Only a name no instance holds is E305, at each
instance, once every instance is lowered (`RegisterOrders.flush`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Diagnostic, DiagnosticBag
from ..ir import Module, replaced
from ..loader import PathKey
from ..ops import REGISTRY

if TYPE_CHECKING:
    from .context import Child, Scope
    from .walker import Lowerer


class RegisterOrders:
    """The entries of every `register_order:` met so far: which some instance holds, and
    the E305 each instance that lacks one would get."""

    def __init__(self) -> None:
        self.held: set[PathKey] = set()
        self.missing: dict[PathKey, list[Diagnostic]] = {}

    def flush(self, bag: DiagnosticBag) -> None:
        """The E305s of the entries no instance held, into `bag` (once: they are dropped)."""
        for ypath, errors in self.missing.items():
            if ypath not in self.held:
                for error in errors:
                    bag.add(error)
        self.missing.clear()


def registering(lw: Lowerer, module: Module, child: Child, scope: Scope) -> Module:
    """`module` with its block's `register_order:`, each name checked: a child module or a
    tensor of this block or of another instance of it, or a layer its `when` leaves out of
    this instance (E305 otherwise; not where an item of the instance failed, whose error
    is the one to fix: it made no module the order could name), listed once. A plain chain
    that asks for its own order stays an nn.Sequential; one that asks for another is a
    class (an nn.Sequential registers its entries in the order it calls them)."""
    from .walker import declarations

    failed = any(shape is None for shape in scope.shapes.values())
    # a list's entries (`convs.0`) are registered with their list, which it may name
    held = {
        n.name.partition(".")[0]
        for n in module.nodes
        if n.is_module or REGISTRY[n.kind].style == "tensor"
    }
    # a layer its `when` leaves out of this instance (ResNeSt's `avd_last`, at stride 1 only)
    switched_off = set(declarations(lw, child.items)[0]) - {n.name for n in module.nodes}
    ypath = child.register_order_ypath
    owner = "network" if ypath == ("register_order",) else "block"  # the spec's own, or a block's
    seen: set[str] = set()
    known = ", ".join(sorted(held)) or "none"
    for j, name in enumerate(child.register_order):
        entry = (*ypath, j)
        if name in seen:
            lw.error("E305", f"register_order names `{name}` twice", entry, "list each once")
        elif name in held | switched_off or failed:
            lw.orders.held.add(entry)
        else:
            error = Diagnostic(
                "E305",
                f"register_order names `{name}`, which is no module or tensor of this {owner}",
                lw.span(entry),
                f"name its child modules and tensors (here: {known}), each once",
            )
            if owner == "network":  # one instance: nothing to wait for
                lw.bag.add(error)
            else:
                lw.orders.missing.setdefault(entry, []).append(error)
        seen.add(name)
    if module.is_chain and _same_order(module, child.register_order):
        return module  # an nn.Sequential registers them in the order asked
    # a chain in another order is a class of its own (ir.Module.is_chain), as lucidrains'
    # PreNorm registers `fn` before the `norm` it runs first
    return replaced(module, register_order=tuple(child.register_order))


def _same_order(module: Module, order: tuple[str, ...] | list[str]) -> bool:
    """Whether `order` registers the chain's children in the order the chain has them: the
    names it lists first, in its order, then the others in layer order."""
    names: list[str] = []
    for node in module.nodes:
        head = node.name.partition(".")[0]
        if (node.is_module or REGISTRY[node.kind].style == "tensor") and head not in names:
            names.append(head)
    listed = [n for n in order if n in names]
    return listed + [n for n in names if n not in listed] == names
