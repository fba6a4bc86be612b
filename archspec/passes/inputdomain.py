"""The symbolic input and the domain: the declared input with its batch and size dims as
symbols (`(N, 3, 224, 224)` -> `(N, 3, H, W)`), which the shape pass (shapes.py) walks the
graph with, and the accepted inputs solved from the requirements that walk recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..dims import SPATIAL_NAMES, Dim, Shape
from ..inputlayout import batch_dim, size_dims
from ..lazymethods import dataclass
from ..ops import Constraint
from .domain import Domain, first_emptying
from .solved import solved_domain

if TYPE_CHECKING:  # pragma: no cover
    from .shapes import LocatedConstraint, ShapeTable

BATCH_NAME = "N"


@dataclass(frozen=True)
class SymbolicInput:
    """The declared input with its size dims as symbols, and which symbols are which."""

    shape: Shape
    batch: str | None
    spatial: tuple[str, ...]
    #: a network of several inputs (`inputs:`): the shapes of the inputs after the first,
    #: generalised alike and with the same batch (a symbol two inputs share is one size)
    more: tuple[Shape, ...] = ()

    @property
    def shapes(self) -> tuple[Shape, ...]:
        """Every input's shape, in order."""
        return (self.shape, *self.more)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The batch, the sizes, then any other dim the spec names by a symbol (a channel
        count `C` that only shape-keeping layers read): solved with the others, named in
        the domain's words only where constrained."""
        named = ((self.batch,) if self.batch else ()) + self.spatial
        others = (s for shape in self.shapes for _, s in _named_dims(shape) if s not in named)
        return named + tuple(dict.fromkeys(others))

    def bind(self, concrete: Sequence[int], *more: Sequence[int]) -> dict[str, int]:
        """Symbol -> value for a concrete input of the same rank (and, for a network of
        several, each later input's after it; a symbol two inputs share keeps the first
        value above 0: a declared input gives 0 for a size it leaves open)."""
        out: dict[str, int] = {}
        for shape, given in zip(self.shapes, (concrete, *more)):
            for i, s in _named_dims(shape):
                if i < len(given) and out.get(s, 0) <= 0:
                    out[s] = given[i]
        return out


def _named_dims(shape: Shape) -> list[tuple[int, str]]:
    """(index, name) of each dim that is a symbol by itself (`C`, not `2*H`)."""
    return [
        (i, str(d))
        for i, d in enumerate(shape)
        if not d.is_const and len(d.symbols) == 1 and str(d) in d.symbols
    ]


def generalise_inputs(declared: Sequence[Shape]) -> SymbolicInput:
    """Every input of a network generalised as `generalise_input` does one: one batch for
    all (a batch written as a number is the first input's batch symbol), the sizes of each
    symbols of their own unless the spec names them alike (a Siamese pair's `[N, 3, H, W]`
    twice is one H and one W), and no symbol made twice."""
    if len(declared) == 1:
        return generalise_input(declared[0])
    taken = {str(d) for shape in declared for d in shape if not d.is_const}
    # the batch: the symbol an input names it by (`[1, 100]` beside `[N]` is one batch N)
    at = [(s, batch_dim(s)) for s in declared]
    named = next((str(s[b]) for s, b in at if b is not None and not s[b].is_const), None)
    first = generalise_input(declared[0], taken, named)
    spatial, more = list(first.spatial), []
    for shape in declared[1:]:
        one = generalise_input(shape, taken, first.batch)
        more.append(one.shape)
        spatial += [s for s in one.spatial if s not in spatial]
    return SymbolicInput(first.shape, first.batch, tuple(spatial), tuple(more))


def generalise_input(
    declared: Shape, taken: set[str] | None = None, batch_name: str | None = None
) -> SymbolicInput:
    """`(N, 3, 224, 224)` -> `(N, 3, H, W)`: batch and size dims (`inputlayout`) become
    symbols, `[10, N, 32]` -> `(L, N, 32)`.

    A dim the spec already names keeps its name; the channel dim (index 1, or the last one of
    a channels-last input) is left alone, since layer widths depend on it. Rank 2 inputs
    (`(N, features)`) have no spatial dims. `taken`: the names in use (new ones are added);
    `batch_name`: the batch of a number (another input's, `generalise_inputs`).
    """
    if taken is None:
        taken = {str(d) for d in declared if not d.is_const}
    sizes = size_dims(declared)
    n_spatial = len(sizes)
    defaults = SPATIAL_NAMES.get(n_spatial, tuple(f"S{i + 1}" for i in range(n_spatial)))

    def fresh(want: str) -> str:
        name, k = want, 2
        while name in taken:
            name, k = f"{want}{k}", k + 1
        taken.add(name)
        return name

    out: list[Dim] = list(declared)
    batch = None
    at = batch_dim(declared)
    if at is not None:
        batch = str(declared[at]) if not declared[at].is_const else batch_name or fresh(BATCH_NAME)
        out[at] = Dim.of(batch)
    spatial: list[str] = []
    for k, i in enumerate(sizes):
        d = declared[i]
        name = str(d) if not d.is_const else fresh(defaults[k])
        out[i] = Dim.of(name)
        spatial.append(name)
    return SymbolicInput(tuple(out), batch, tuple(spatial))


def input_domain(
    table: ShapeTable, sym: SymbolicInput, prefer: Mapping[str, int] | None = None
) -> Domain:
    """Solve the table's constraints over the input symbols: the inputs eval mode accepts
    (constraints of training-only layers left out)."""
    return solved_domain(
        [lc.constraint for lc in table.constraints if not lc.train_only],
        sym.symbols,
        shown=sym.spatial,
        prefer=prefer,
    )


def training_domain(
    table: ShapeTable, sym: SymbolicInput, prefer: Mapping[str, int] | None = None
) -> Domain | None:
    """The inputs training mode accepts, every constraint included; None when no layer
    runs only in training or none of those constrains the input."""
    if not any(lc.train_only for lc in table.constraints):
        return None
    return solved_domain(
        [lc.constraint for lc in table.constraints], sym.symbols, shown=sym.spatial, prefer=prefer
    )


def first_impossible(
    table: ShapeTable, sym: SymbolicInput, at: Mapping[str, int] | None = None
) -> LocatedConstraint | None:
    """The eval constraint after which no input is left (one pass over them in order); with
    `at`, no input of those sizes (the batch N may stay free: `4 == 256*N` holds for none)."""
    located = [lc for lc in table.constraints if not lc.train_only]
    pins = [
        Constraint("eq", Dim.of(name), Dim.of(value), "E410", "", None, "")
        for name, value in (at or {}).items()
    ]
    index = first_emptying([*pins, *(lc.constraint for lc in located)], sym.symbols)
    return None if index is None or index < len(pins) else located[index - len(pins)]
