"""Expansion limits shared by lowering and the public functions' defaults (stdlib only, so
that `archspec.summary` of an nn.Module can name its default without loading the pipeline)."""

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

#: MAX_NODES, the default of `max_layers=` (`--max-layers`), counts every layer item expanded
#: (blocks, repeats and failed items too) and keeps a check under about half a second;
#: ResNet-152 expands to under 600. A repeat count is bounded by the same figure.
MAX_NODES = 10_000

#: torch counts a tensor's elements in an int64: no tensor holds this many, and no limit
#: of archspec's may be raised past it.
MAX_TENSOR_ELEMENTS = 2**62

#: The variants of a family checked or emitted together (`archspec check family.yaml`, a
#: family module) share FAMILY_FACTOR times `max_layers`: 256 variants of 10,000 items each
#: would otherwise take minutes; the zoo's largest family, EfficientNet's 8, uses under 8,000.
FAMILY_FACTOR = 4
#: [items left, the whole budget] of the family being lowered, None outside one
FAMILY_BUDGET: ContextVar[list[int] | None] = ContextVar("archspec_family_budget", default=None)


@contextlib.contextmanager
def family_budget(max_layers: int | None) -> Iterator[None]:
    """Lower the variants of one family inside: together they may expand to
    FAMILY_FACTOR * max_layers layer items (E310 past it)."""
    total = FAMILY_FACTOR * (MAX_NODES if max_layers is None else max_layers)
    token = FAMILY_BUDGET.set([total, total])
    try:
        yield
    finally:
        FAMILY_BUDGET.reset(token)


FAMILY_HINT = "check or emit one variant at a time (--variant NAME, variant=)"


def spend_family(units: int, *, reserve: bool = False) -> str | None:
    """Charge `units` layer items to the family being lowered (only check with `reserve`);
    the E310 message when they do not fit, None when they do or no family is lowered."""
    shared = FAMILY_BUDGET.get()
    if shared is None:
        return None
    if units > shared[0]:
        return (
            f"the family's variants together expand to more than {shared[1]:,} layer items "
            f"({FAMILY_FACTOR} times the limit of one spec)"
        )
    if not reserve:
        shared[0] -= units
    return None
