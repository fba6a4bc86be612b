"""What a summary is: its rows, totals and (for an nn.Module) the trainable split and memory.

Plain data with nothing heavy behind it (dims and the text helpers), so a summary of an
nn.Module never loads the spec pipeline; `archspec.report` makes a spec's summary, and
`archspec.summary_text` renders both kinds.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import field
from typing import TYPE_CHECKING, Any

from .dims import Dim, Shape, format_shape, plain_product, product
from .lazymethods import dataclass

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    from rich.table import Table

    from .errors import Diagnostic

shape_text = format_shape


@dataclass(frozen=True)
class Row:
    """One line of a summary. `params is None` marks a heading: its layers follow it."""

    path: str
    name: str
    type: str
    depth: int
    shape: Shape
    params: int | None
    macs: Dim | None
    folded: bool = False
    train_only: bool = False
    #: computed in eval mode only (`eval_only`): training passes its input on
    eval_only: bool = False
    #: computed in training only, eval passing its first input on (`pass_in_eval`)
    pass_in_eval: bool = False
    #: connections per sample as LeCun et al. (1998) count them (inputs + bias per unit)
    connections: Dim | None = None
    #: a module summary's Trainable column (torchinfo's words): "True", "False", "Partial"
    trainable: str | None = None
    #: no output to show: a module that never ran or returned no tensor, a container's own
    #: products; its shape cell is empty, never `()` (which is a 0-d tensor's shape)
    no_output: bool = False
    #: every output's shape of a block instance of several (`shape` is the first's)
    shapes: tuple[Shape, ...] = ()

    @property
    def is_heading(self) -> bool:
        return self.params is None

    @property
    def shape_text(self) -> str:
        if self.no_output:
            return ""
        return ", ".join(shape_text(s) for s in self.shapes or (self.shape,))

    @property
    def macs_text(self) -> str:
        """MACs as text; a layer's symbolic count is shown as `k * product(output shape)`."""
        if self.macs is None:
            return ""
        if self.macs.is_const:
            return f"{self.macs.value:,}"
        if not self.folded:
            per = _per_output(self.macs, self.shape)
            if per is not None:
                const = per
                dims = []
                for d in self.shape:
                    if d.is_const:
                        const *= d.value
                    else:
                        # a floor in parentheses: 216*N*(H + 1)//2 is (216*N*(H + 1))//2
                        dims.append(str(d) if plain_product(d) else f"({d})")
                return "*".join([str(const), *dims] if const != 1 else dims)
        return str(self.macs)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training step holds at the summary's batch, per dtype name: the weights,
    their gradients (trainable ones only), the buffers, and the activations autograd saves
    for the backward pass. Optimizer state and the allocator's slack are not included.
    `batch` is None when the inputs do not say it (see `archspec.modsummary`)."""

    batch: int | None
    parameters: tuple[tuple[str, int], ...]
    gradients: tuple[tuple[str, int], ...]
    buffers: tuple[tuple[str, int], ...]
    activations: tuple[tuple[str, int], ...]

    def parts(self) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
        return (
            ("parameters", self.parameters),
            ("gradients", self.gradients),
            ("buffers", self.buffers),
            ("activations", self.activations),
        )

    @property
    def total(self) -> int:
        return sum(n for _, part in self.parts() for _, n in part)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            **{name: dict(part) for name, part in self.parts()},
            "total": self.total,
        }


@dataclass(frozen=True)
class ModuleFacts:
    """What only a summary of an nn.Module has: its inputs, the trainable/frozen split of
    its parameters, and a memory estimate."""

    inputs: tuple[Shape, ...]
    dtypes: tuple[str, ...]
    trainable: int
    frozen: int
    memory: MemoryEstimate
    #: the modules' mode during the forward: "train" (the default) or "eval"
    mode: str = "train"
    #: the shapes of the tensors the forward returned, in order (nested ones flattened)
    outputs: tuple[Shape, ...] = ()


@dataclass(frozen=True, repr=False)
class Summary:
    """A per-layer table of one spec (symbolic or at a concrete input) or of an nn.Module.

    `print(summary)` shows the table as the CLI prints it; in a notebook it is an HTML table.
    """

    name: str
    input_shape: Shape
    rows: tuple[Row, ...]
    params: int
    macs: Dim
    depth: int | None = None
    #: the declared input with N=1, and the MACs there, when the table is symbolic
    example_input: Shape | None = None
    example_macs: int | None = None
    connections: Dim = field(default_factory=lambda: Dim.of(0))
    #: set for a summary of an nn.Module (None for a spec's)
    module: ModuleFacts | None = None
    #: a spec's input dtype (`input_dtype:`): "float32", or "int64" for token ids
    input_dtype: str = "float32"
    #: of `params`, those the spec's `frozen:` keeps from training (requires_grad=False)
    frozen_params: int = 0
    #: a spec of several inputs (`inputs:`): their names, the shapes of those after the
    #: first (`input_shape`) as the table has them, and every input's dtype
    input_names: tuple[str, ...] = ()
    more_inputs: tuple[Shape, ...] = ()
    input_dtypes: tuple[str, ...] = ()
    #: their declared shapes with batch 1, beside `example_input` (when it is set)
    more_examples: tuple[Shape, ...] = ()
    #: a spec's warnings, those `check` gives for it at the same input (W401, W501, ...),
    #: which the CLI prints on stderr; none is part of the table. `sources`: the texts of
    #: the spec's files, which a warning's rendering shows its line from
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def concrete(self) -> bool:
        return self.macs.is_const

    def to_text(self, width: int | None = None) -> str:
        """The table, footer and memory line as the CLI prints them, in plain text `width`
        columns wide (default: the terminal's, COLUMNS, or 80)."""
        from .summary_text import summary_text

        return summary_text(self, width)

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from .summary_text import summary_html

        return summary_html(self)

    # plain data ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; a symbolic count is a string, a concrete one an int."""
        from .summary_text import conv_convention

        return {
            "name": self.name,
            "input": format_shape(self.input_shape),
            **({} if self.input_dtype == "float32" else {"input_dtype": self.input_dtype}),
            **({"inputs": self._inputs_dict()} if self.input_names else {}),
            "depth": self.depth,
            "convention": f"MACs: {conv_convention([r.type for r in self.rows])}, "
            "linear in*out, matmul and attention their matrix products, others 0; batch "
            "included. "
            "Connections: per sample, inputs plus bias of every unit "
            "(LeCun et al. 1998)",
            "rows": [
                {
                    "path": r.path,
                    "name": r.name,
                    "type": r.type,
                    "depth": r.depth,
                    "output_shape": r.shape_text,
                    "params": r.params,
                    "macs": _plain(r),
                    "connections": None if r.connections is None else _dim_plain(r.connections),
                    "folded": r.folded,
                    "train_only": r.train_only,
                    "eval_only": r.eval_only,
                    "pass_in_eval": r.pass_in_eval,
                }
                for r in self.rows
            ],
            "total": {
                "params": self.params,
                **({"frozen_params": self.frozen_params} if self.frozen_params else {}),
                "macs": self.macs.value if self.macs.is_const else str(self.macs),
                "connections": _dim_plain(self.connections),
            },
            "example": None
            if self.example_input is None
            else {
                "input": format_shape(self.example_input),
                **self._more_examples_dict(),
                "macs": self.example_macs,
            },
            **({} if self.module is None else {"module": self._module_dict()}),
        }

    def _inputs_dict(self) -> dict[str, Any]:
        """Each input of a spec of several by name: its shape in the table, its dtype."""
        shapes = (self.input_shape, *self.more_inputs)
        return {
            name: {"shape": format_shape(shape), "dtype": dtype}
            for name, shape, dtype in zip(self.input_names, shapes, self.input_dtypes)
        }

    def _more_examples_dict(self) -> dict[str, Any]:
        """A spec of several inputs' example, each input by name."""
        if not self.input_names:
            return {}
        shapes = (self.example_input or (), *self.more_examples)
        return {"inputs": {n: format_shape(e) for n, e in zip(self.input_names, shapes)}}

    def _module_dict(self) -> dict[str, Any]:
        """A module summary's own data: inputs, the trainable split, per-row and memory."""
        m = self.module
        assert m is not None
        return {
            "inputs": [format_shape(s) for s in m.inputs],
            "outputs": [format_shape(s) for s in m.outputs],
            "dtypes": list(m.dtypes),
            "trainable_params": m.trainable,
            "frozen_params": m.frozen,
            "trainable": {r.path: r.trainable for r in self.rows if r.trainable is not None},
            "mode": m.mode,
            "memory_bytes": m.memory.to_dict(),
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        """One line per row (headings have empty counts); the totals are the column sums.
        A text cell a spreadsheet would run as a formula (a key `=1+2`) is written with a
        leading `'`, as OWASP's advice on CSV injection has it."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            ["path", "name", "type", "depth", "output_shape", "params", "macs", "connections"]
        )
        for r in self.rows:
            w.writerow(
                [
                    _inert(r.path),
                    _inert(r.name),
                    _inert(r.type),
                    r.depth,
                    _inert(r.shape_text),
                    "" if r.params is None else r.params,
                    "" if r.macs is None else _plain(r),
                    "" if r.connections is None else _dim_plain(r.connections),
                ]
            )
        return buf.getvalue()

    def to_markdown(self) -> str:
        """A GitHub table with a bold totals line."""
        from .summary_text import markdown

        return markdown(self)

    def footer(self) -> str:
        """Totals in words, with the size in G/M where it is a number; symbolic MACs
        factored (`4.09 G MACs x N at (N, 3, 224, 224)`)."""
        from .summary_text import footer

        return footer(self)

    def table(self) -> Table:
        """A rich table for the terminal."""
        from .summary_text import table

        return table(self)


def _per_output(macs: Dim, shape: Shape) -> int | None:
    """k with macs == k * product(shape) exactly, if there is one."""
    out = product(shape)
    env = {name: 1009 + 2 * i for i, name in enumerate(sorted(out.symbols | macs.symbols))}
    size = out.evaluate(env)
    if size == 0:
        return None
    k = macs.evaluate(env) // size
    return k if out * k == macs else None


def _inert(text: str) -> str:
    """`text` as a spreadsheet shows it, never a formula: `'` before a leading = + - @ or
    a tab or carriage return (which spreadsheets also read as the start of a formula)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _dim_plain(d: Dim) -> int | str:
    """A count as JSON/CSV data: an int, or its formula as text."""
    return d.value if d.is_const else str(d)


def _plain(r: Row) -> int | str | None:
    if r.macs is None:
        return None
    return r.macs.value if r.macs.is_const else r.macs_text


def _macs_cell(r: Row, code: bool = False) -> str:
    if r.macs is None or r.macs.is_const:
        return _cell(r.macs)
    return f"`{r.macs_text}`" if code else r.macs_text


def _cell(v: int | Dim | None, code: bool = False) -> str:
    if v is None:
        return ""
    if isinstance(v, Dim):
        if v.is_const:
            return f"{v.value:,}"
        return f"`{v}`" if code else str(v)
    return f"{v:,}"
