"""`sequential`: a named group of layers, one child module."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..lowering.context import Child, Site, items_of
from ..ops.base import NodeBase
from .registry import Construct

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer


class SequentialNode(NodeBase):
    """A child module running `layers` in order (nn.Sequential when it is a chain)."""

    type: Literal["sequential"]
    layers: list[Node]  # noqa: F821


def lower(lw: Lowerer, site: Site) -> str:
    """One child module of the listed layers."""
    items = items_of(lw, site.spec.layers, site.ypath + ("layers",))
    return lw.lower_child(site, Child(items, "Sequential"))


CONSTRUCT = Construct(
    kind="sequential",
    schema=SequentialNode,
    lower=lower,
    summary="a named group of layers (nn.Sequential when a chain)",
    least=lambda spec, inner: inner(spec.layers),
    description=(
        "`layers` run in order inside one child module, named like any node. A plain chain "
        "compiles to nn.Sequential; a list that reads earlier nodes with `from:` or has "
        "several `outputs` becomes a module class of its own."
    ),
    makes_module=True,
)
