"""How a Summary reads: the terminal table (`archspec summary`, `print(summary)`), its
footer, Markdown and notebook HTML, from one set of cells so that they all agree.

Symbolic totals are written factored, `4.09 G x N` at the declared input's sizes: the
expanded formula in N, H, W (tens of terms for a ResNet) is data, kept in the JSON output
and in `summary.macs`, not something to read in a table.
"""

from __future__ import annotations

import html
import io
import re
import shutil
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .dims import Dim, format_shape
from .errors import escape_text
from .inputlayout import batch_dim, batch_of, with_batch
from .toolkit import human

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console
    from rich.table import Table

    from .summaries import MemoryEstimate, Row, Summary

#: The MAC convention, as the footers state it (a 2-d conv's form; `convention` gives the
#: forms of the convs a summary has).
SPEC_CONVENTION = "MACs: conv C_out*H_out*W_out*C_in/groups*k_h*k_w, linear in*out."
#: A conv's MAC formula by its number of spatial dims.
_CONV_FORMS = {
    "1": "C_out*L_out*C_in/groups*k",
    "2": "C_out*H_out*W_out*C_in/groups*k_h*k_w",
    "3": "C_out*D_out*H_out*W_out*C_in/groups*k_d*k_h*k_w",
}
_CONV_TYPE = re.compile(r"Conv(?:Transpose)?([123])d\b")
#: What an attention layer adds to it (said only where a summary has one).
ATTENTION_CONVENTION = " Attention: its projections plus both matmuls (Q K^T, weights V)."
#: What products written out of their own nodes add (`matmul`, `scaled_dot_product_attention`).
PRODUCTS_CONVENTION = " Products: matmul batch*M*K*N, attention batch*Lq*Lk*(E+Ev)."
_PRODUCT_KINDS = frozenset({"matmul", "scaled_dot_product_attention"})
MODULE_CONVENTION = (
    "MACs: every matrix product and convolution the forward runs "
    "(conv C_out*H_out*W_out*C_in/groups*k_h*k_w, linear in*out)."
)


def conv_convention(types: Sequence[str]) -> str:
    """`conv <formula>` in the dims of the convs among the row types `types`: an audio
    network's summary said `C_out*H_out*W_out*...*k_h*k_w` of its conv1d layers. One rank
    (or none: the 2-d form) reads `conv ...`; several name each (`conv1d ..., conv2d ...`)."""
    ranks = sorted({m.group(1) for t in types if (m := _CONV_TYPE.search(t))}) or ["2"]
    if len(ranks) == 1:
        return f"conv {_CONV_FORMS[ranks[0]]}"
    return ", ".join(f"conv{r}d {_CONV_FORMS[r]}" for r in ranks)


def _at_example(s: Summary, count: Dim) -> Dim | None:
    """`count` with the example input's sizes put in for every symbol but the batch's."""
    if s.example_input is None or not s.input_shape:
        return None
    env: dict[str, int | Dim] = {}
    pairs = [(s.input_shape, s.example_input), *zip(s.more_inputs, s.more_examples)]
    for shape, example in pairs:
        skip = batch_dim(shape)
        for d, e in (p for i, p in enumerate(zip(shape, example, strict=False)) if i != skip):
            if not d.is_const:
                if d.symbols != {str(d)}:
                    return None
                env[str(d)] = e.value
    return count.subs(env)


def per_batch(s: Summary) -> int | None:
    """k when the symbolic MACs are exactly k * N at the example input's other sizes."""
    if s.concrete or s.example_macs is None or not s.input_shape:
        return None
    batch = batch_of(s.input_shape)
    if batch.is_const or batch.symbols != {str(batch)}:
        return None
    return s.example_macs if _at_example(s, s.macs) == batch * s.example_macs else None


def connections_total_cell(s: Summary) -> str:
    """The Total row's connections (per sample): the number, at the example input if the
    table is symbolic (`4.11 G`), never the formula."""
    if s.connections.is_const:
        return f"{s.connections.value:,}"
    at = _at_example(s, s.connections)
    if at is not None and at.is_const:
        return human(at.value, early=True)
    if s.connections.terms_count <= 1:
        return str(s.connections)
    return f"formula in {_symbols(s, s.connections)}"


def _symbols(s: Summary, count: Dim | None = None) -> str:
    """The symbols of a count (default: the MACs), in the input's order: `N, H, W`."""
    order = [str(d) for d in s.input_shape]
    symbols = (s.macs if count is None else count).symbols
    return ", ".join(
        sorted(symbols, key=lambda n: (order.index(n) if n in order else len(order), n))
    )


def macs_total_cell(s: Summary) -> str:
    """The Total row's MACs: the number, or `4.09 G x N` for a symbolic table."""
    if s.concrete:
        return f"{s.macs.value:,}"
    k = per_batch(s)
    if k is not None:
        return f"{human(k, early=True)} x {batch_of(s.input_shape)}"
    if s.macs.terms_count <= 1:
        return str(s.macs)
    return f"formula in {_symbols(s)}"


def _train_only_macs(s: Summary) -> int:
    """The MACs of the rows that run only in training (GoogLeNet's auxiliary heads): a
    train-only row, or any row under a train-only heading (whose layers are rows of their
    own, so headings themselves count nothing)."""
    heads = tuple(r.path + "." for r in s.rows if r.train_only and r.is_heading)
    return sum(
        r.macs.value
        for r in s.rows
        if (r.train_only or r.path.startswith(heads))
        and not r.is_heading
        and r.macs is not None
        and r.macs.is_const
    )


def footer(s: Summary) -> str:
    """Totals in words, with the size in G/M where it is a number."""
    if s.module is not None:
        m = s.module
        macs = s.macs.value
        return (
            f"{s.params:,} parameters{_short(s.params)}: {m.trainable:,} trainable, "
            f"{m.frozen:,} frozen; {macs:,} MACs ({human(macs, early=True)}). "
            f"{_conv_form(MODULE_CONVENTION, s)}"
        )
    if s.concrete:
        macs = s.macs.value
        text = f"{s.params:,} parameters{_frozen(s)}, {macs:,} MACs ({human(macs, early=True)})"
        train = _train_only_macs(s)
        if train:
            # torchvision's published `_ops` count the eval forward, without these heads
            eval_macs = macs - train
            text += (
                f", of which {train:,} in train-only nodes: {eval_macs:,} "
                f"({human(eval_macs, early=True)}) in eval mode"
            )
    else:
        text = f"{s.params:,} parameters{_frozen(s, _short(s.params))}, "
        k = per_batch(s)
        example = s.example_input
        if k is not None and example is not None:
            at = _example_text(s, batch_of(s.input_shape))
            text += (
                f"{human(k, early=True)} MACs x {batch_of(s.input_shape)} at {at} ({k:,} per "
                f"sample); MACs are symbolic in {_symbols(s)} (the formula: JSON output)"
            )
        elif s.macs.terms_count <= 1:
            text += f"MACs = {s.macs}"
        else:
            text += f"MACs are a formula in {_symbols(s)} (in the JSON output)"
            if example is not None and s.example_macs is not None:
                text += (
                    f"; at {_example_text(s)}: {s.example_macs:,} MACs "
                    f"({human(s.example_macs, early=True)})"
                )
    types = {r.type for r in s.rows if not r.is_heading}
    attention = any("Attention" in t for t in types)
    products = not types.isdisjoint(_PRODUCT_KINDS)
    return (
        f"{text}. {_conv_form(SPEC_CONVENTION, s)}"
        + (ATTENTION_CONVENTION if attention else "")
        + (PRODUCTS_CONVENTION if products else "")
    )


def _frozen(s: Summary, short: str = "") -> str:
    """`short` (` (11.17 M)`), with the trainable and frozen counts for a spec that freezes
    some (`frozen:`): ` (11.17 M; 11,157,504 trainable, 9,408 frozen)`."""
    if not s.frozen_params:
        return short
    split = f"{s.params - s.frozen_params:,} trainable, {s.frozen_params:,} frozen"
    return f" ({short[2:-1]}; {split})" if short else f" ({split})"


def _conv_form(text: str, s: Summary) -> str:
    """A convention `text` with the conv formula of the convs `s` has."""
    return text.replace(f"conv {_CONV_FORMS['2']}", conv_convention([r.type for r in s.rows]))


def _example_text(s: Summary, batch: Dim | None = None) -> str:
    """The example input (`batch` in place of its batch of 1): `(N, 3, 224, 224)`, or for a
    spec of several inputs each by name, `x1 (N, 3, 32, 32), x2 (N, 3, 64, 64)`."""
    examples = (s.example_input or (), *s.more_examples)
    shapes = (s.input_shape, *s.more_inputs, *[()] * len(examples))
    shown = [
        format_shape(e if batch is None else with_batch(e, shape, batch))
        for e, shape in zip(examples, shapes)
    ]
    if not s.input_names:
        return shown[0]
    return ", ".join(f"{name} {text}" for name, text in zip(s.input_names, shown))


def _short(n: int) -> str:
    """` (25.56 M)` after a count that has more than three digits."""
    return f" ({human(n)})" if n >= 1000 else ""


def memory_text(mem: MemoryEstimate, mode: str = "train") -> str:
    """One line: each part's bytes (by dtype when there are several) and the sum."""
    parts = []
    for name, part in mem.parts():
        if not part and name != "activations":
            continue
        total = sum(n for _, n in part)
        dtypes = ", ".join(
            f"{dtype} {size_text(n)}" if len(part) > 1 else dtype for dtype, n in part
        )
        label = "saved activations" if name == "activations" else name
        parts.append(f"{label} {size_text(total)}" + (f" ({dtypes})" if dtypes else ""))
    return (
        "Memory of a training step "
        + ("at these inputs" if mem.batch is None else f"at batch {mem.batch}")
        + (" (modules in eval mode)" if mode == "eval" else "")
        + f": {', '.join(parts)}; "
        f"{size_text(mem.total)} in all (optimizer state not included)."
    )


def size_text(n: int) -> str:
    """`44.6 MiB`: bytes in binary units, as memory is reported."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            if n >= 10**300:  # past what `n / size` can make a float of: whole units
                return f"{n // size:,} {unit}"
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def title(s: Summary) -> str:
    """`name  input (...)`; a module's adds its dtypes and `-> output (...)`, which no row
    may show (a leaf module summarised alone, a tuple or dict of outputs)."""
    out = _outputs_text(s)
    name = escape_text(s.name)
    return f"{name}  input {_inputs_text(s)}" + (f" -> output {out}" if out else "")


def _inputs_text(s: Summary) -> str:
    if s.input_names:  # a spec of several inputs: each by name, `z (N, 100), label (N) (int64)`
        shapes = (s.input_shape, *s.more_inputs)
        return ", ".join(
            f"{name} {format_shape(shape)}" + ("" if dtype == "float32" else f" ({dtype})")
            for name, shape, dtype in zip(s.input_names, shapes, s.input_dtypes)
        )
    if s.module is None:
        return format_shape(s.input_shape) + (
            "" if s.input_dtype == "float32" else f" ({s.input_dtype})"  # as a module's
        )
    shapes = ", ".join(format_shape(i) for i in s.module.inputs)
    dtypes = "" if set(s.module.dtypes) == {"float32"} else f" ({', '.join(s.module.dtypes)})"
    return f"{shapes}{dtypes}"


def _outputs_text(s: Summary, most: int = 4) -> str:
    outs = () if s.module is None else s.module.outputs
    text = ", ".join(format_shape(o) for o in outs[:most])
    return text + (f", ... ({len(outs)} tensors)" if len(outs) > most else "")


def _mode(r: Row) -> str:
    """The mark of a row computed in one mode only."""
    return " (train)" if r.train_only else " (eval)" if r.eval_only else ""


def _cells(s: Summary, r: Row) -> list[str]:
    from .summaries import _cell, _macs_cell

    kind = escape_text(r.type) + _mode(r)
    last = (r.trainable or "") if s.module is not None else _cell(r.connections)
    # a module's names are any text (add_module): a terminal shows none of them as a control
    return [escape_text(r.name), kind, r.shape_text, _cell(r.params), _macs_cell(r), last]


def _headers(s: Summary) -> list[str]:
    last = "Trainable" if s.module is not None else "Connections"
    return ["Layer", "Type", "Output shape", "Params", "MACs", last]


def _align(s: Summary, column: int) -> str:
    """Counts are right-aligned: Params, MACs and a spec's Connections."""
    return "right" if column in (3, 4) or (column == 5 and s.module is None) else "left"


def _total_cells(s: Summary) -> list[str]:
    last = "" if s.module is not None else connections_total_cell(s)
    return ["Total", "", "", f"{s.params:,}", macs_total_cell(s), last]


def table(s: Summary) -> Table:
    """A rich table for the terminal."""
    from rich.table import Table

    t = Table(title=title(s), caption=None)
    for i, header in enumerate(_headers(s)):
        t.add_column(header, justify=_align(s, i), no_wrap=i == 0)  # type: ignore[arg-type]
    for r in s.rows:
        cells = _cells(s, r)
        cells[0] = "  " * r.depth + cells[0]
        t.add_row(*cells, style="bold" if r.is_heading else None)
    t.add_section()
    t.add_row(*_total_cells(s), style="bold")
    return t


def _md_cell(text: str) -> str:
    """`text` as a code span in a table cell: a `|` ends a GitHub table cell even inside
    backticks (a key like `a|b`) unless escaped, and a key holding a backtick (`a`b`) is
    fenced by a longer run of them, as CommonMark reads code spans."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    cell = text.replace("|", "\\|")
    return f"{fence}{pad}{cell}{pad}{fence}"


def markdown(s: Summary) -> str:
    """A GitHub table with a bold totals line."""
    from .summaries import _cell, _macs_cell

    cells = _headers(s)
    lines = [
        f"**{s.name}** at input `{_inputs_text(s)}`"
        + (f", output `{_outputs_text(s)}`" if _outputs_text(s) else ""),
        "",
        "| " + " | ".join(cells) + " |",
        "|---|---|---|---:|---:|" + ("---|" if _align(s, 5) == "left" else "---:|"),
    ]
    for r in s.rows:
        kind = r.type + _mode(r)
        last = (r.trainable or "") if s.module is not None else _cell(r.connections)
        shape = f"`{r.shape_text}`" if r.shape_text else ""
        lines.append(
            f"| {_md_cell(r.path)} | {kind} | {shape} | "
            f"{_cell(r.params)} | {_macs_cell(r, code=True)} | {last} |"
        )
    total = macs_total_cell(s)
    total = total if s.concrete else f"`{total}`"
    last = "" if s.module is not None else f"**{connections_total_cell(s)}**"
    lines.append(f"| **Total** | | | **{s.params:,}** | **{total}** | {last} |")
    lines.append("")
    lines.append(footer(s))
    if s.module is not None:
        lines.append("")
        lines.append(memory_text(s.module.memory, s.module.mode))
    return "\n".join(lines) + "\n"


#: The columns a narrow terminal loses, least important first.
DROPPABLE = ("Connections", "Trainable")


def fit_table(out: Console, t: Table, droppable: Sequence[str] = ()) -> None:
    """Print a table within the console's width (the terminal's, COLUMNS, or 80 when piped).

    While even its narrowest rendering is wider than that, the columns named in `droppable`
    are left out, least important first; long cells fold onto more lines, never cut to `...`.
    A terminal narrower than `table_floor` (COLUMNS=20) gets the table at that floor, its
    lines longer than the width: squeezed further, rich empties cells and cuts names short.
    """
    for column in t.columns:
        column.overflow = "fold"
    unbounded = out.options.update_width(1_000_000)
    for header in droppable:
        # the narrowest rendering (each column as wide as its longest word) fits: keep it
        if out.measure(t, options=unbounded).minimum <= out.width:
            break
        t.columns = [c for c in t.columns if c.header != header]
    width = out.width
    cells = [[str(c.header), *(str(x) for x in c.cells)] for c in t.columns]
    out.width = max(width, table_floor(cells, [c.no_wrap for c in t.columns]))
    try:  # (print's own width= is capped at the console's)
        out.print(t)
    finally:
        out.width = width


#: The characters a wrapping column keeps (or fewer, if none of its words is longer),
#: however narrow the terminal: squeezed below that, rich prints a cell as nothing.
COLUMN_FLOOR = 8


def table_floor(columns: Sequence[Sequence[str]], no_wrap: Sequence[bool]) -> int:
    """The narrowest width a table of these columns (each its cells' texts, header first) is
    printed at, borders and padding included: a no_wrap column whole (rich cuts it short),
    a wrapping one COLUMN_FLOOR characters or its longest word."""
    need = 0
    for texts, whole in zip(columns, no_wrap, strict=True):
        if whole:
            need += max((len(line) for t in texts for line in t.splitlines()), default=0)
        else:
            need += min(COLUMN_FLOOR, max((len(w) for t in texts for w in t.split()), default=0))
    return need + 3 * len(columns) + 1


def print_summary(out: Console, s: Summary) -> None:
    """The table, its footer and (for a module) the memory line: what the CLI prints."""
    fit_table(out, table(s), droppable=DROPPABLE)
    print_wrapped(out, footer(s))
    if s.module is not None:
        print_wrapped(out, memory_text(s.module.memory, s.module.mode))


def print_wrapped(out: Console, text: str) -> None:
    """`text` wrapped at the console's width as rich wraps it, less the space rich leaves at
    the end of each line it breaks (trailing blanks in a file, a diff, a terminal copy)."""
    for paragraph in text.splitlines() or [""]:
        lines = textwrap.wrap(paragraph, out.width, break_on_hyphens=False, break_long_words=False)
        for line in lines or [""]:
            out.print(line, markup=False, soft_wrap=True)


def _words_broken(text: str, width: int) -> list[str]:
    """rich's `divide_line` (fold) and `rstrip_end` for one line of ASCII: its pieces."""
    breaks, offset = [], 0
    for match in re.finditer(r"\s*\S+\s*", text):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:  # a word longer than the column: folded across lines
            chunks = [word[i : i + width] for i in range(0, len(word), width)]
            for i, chunk in enumerate(chunks):
                if start:
                    breaks.append(start)
                if i == len(chunks) - 1:
                    offset = len(chunk)
                else:
                    start += len(chunk)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    pieces = [text[a:b] for a, b in zip([0, *breaks], [*breaks, len(text)], strict=True)]
    return [p[: max(width, len(p.rstrip()))] if len(p) > width else p for p in pieces]


def _cell_lines(text: str, width: int, right: bool) -> list[str]:
    """A cell's text wrapped into its column as rich wraps it (fold overflow), justified."""
    lines = _words_broken(text, width)
    if right:
        return [p.rstrip()[:width].rjust(width) for p in lines]
    return [p[:width].ljust(width) for p in lines]


def _narrowest(rows: list[list[str]]) -> int:
    """rich's minimum width of our table: each column as wide as its longest word."""
    words = [
        max(len(w) for row in rows for w in row[i].split() or [""]) for i in range(len(rows[0]))
    ]
    return sum(words) + 3 * len(words) + 1


def _column_widths(rows: list[list[str]], width: int) -> list[int] | None:
    """Widths with padding, as rich's Table lays out ours (`_calculate_column_widths` and
    `_collapse_widths`: the widest wrapping columns shrink first), or None where rich would
    shrink the first (no_wrap) column or make a column too narrow for a letter."""
    room = width - len(rows[0]) - 1  # less the borders
    widths = [max(len(row[i]) for row in rows) + 2 for i in range(len(rows[0]))]
    if _narrowest(rows) > width:
        return None
    while sum(widths) > room:
        widest = max(widths[1:])
        if widest <= 3:  # columns too narrow for a letter: rich's last resort, not written here
            return None
        second = max((w for w in widths[1:] if w != widest), default=0)
        ratios = [int(i > 0 and w == widest) for i, w in enumerate(widths)]
        total, left = sum(ratios), sum(widths) - room
        for i, ratio in enumerate(ratios):
            if ratio:
                cut = min(widest - second, round(left / total))
                widths[i] -= cut
                left -= cut
                total -= 1
    return widths


def _plain_text(s: Summary, width: int) -> str | None:
    """`summary_text` without rich (whose import and layout cost a module summary more than
    its forward), the same text: rich's layout of our table, written out. None where the
    layout is one this does not write (non-ASCII text, a column rich would drop).
    tests/test_summary_text.py compares the two on many summaries and widths."""
    rows = [_headers(s)]
    rows += [["  " * r.depth + c[0], *c[1:]] for r in s.rows for c in (_cells(s, r),)]
    rows.append(_total_cells(s))
    notes = [footer(s)]
    if s.module is not None:
        notes.append(memory_text(s.module.memory, s.module.mode))
    texts = [title(s), *notes, *(c for row in rows for c in row)]
    if not s.rows or not all(t.isascii() and t.isprintable() for t in texts):
        return None
    for header in DROPPABLE:  # as fit_table leaves columns out
        if _narrowest(rows) <= width:
            break
        if header in rows[0]:
            i = rows[0].index(header)
            rows = [row[:i] + row[i + 1 :] for row in rows]
    columns = [list(col) for col in zip(*rows, strict=True)]
    floor = table_floor(columns, [i == 0 for i in range(len(columns))])
    widths = _column_widths(rows, max(width, floor))  # as fit_table widens the console
    if widths is None:
        return None
    right = [_align(s, _headers(s).index(h)) == "right" for h in rows[0]]

    def line(row: list[str], bar: str) -> list[str]:
        cells = [_cell_lines(c, w - 2, r) for c, w, r in zip(row, widths, right, strict=True)]
        height = max(len(c) for c in cells)
        pads = [[" " * (w - 2)] * (height - len(c)) for c, w in zip(cells, widths, strict=True)]
        # body cells sit at the top of their row, headers at the bottom (on the rule)
        cells = [p + c if bar == "┃" else c + p for c, p in zip(cells, pads, strict=True)]
        return [bar + bar.join(f" {c[k]} " for c in cells) + bar for k in range(height)]

    def rule(left: str, fill: str, mid: str, end: str) -> list[str]:
        return [left + mid.join(fill * w for w in widths) + end]

    lines = [title(s), *rule("┏", "━", "┳", "┓"), *line(rows[0], "┃"), *rule("┡", "━", "╇", "┩")]
    lines += [x for row in rows[1:-1] for x in line(row, "│")]
    lines += [*rule("├", "─", "┼", "┤"), *line(rows[-1], "│"), *rule("└", "─", "┴", "┘")]
    for note in notes:
        lines += textwrap.wrap(note, width, break_on_hyphens=False, break_long_words=False) or [""]
    return "\n".join(x.rstrip() for x in lines)


def summary_text(s: Summary, width: int | None = None) -> str:
    """`print(summary)`: the CLI's table as plain text, `width` columns (default: the
    terminal's, COLUMNS, or 80)."""
    width = width or shutil.get_terminal_size((80, 24)).columns
    plain = _plain_text(s, width)
    if plain is not None:
        return plain
    from rich.console import Console

    buf = io.StringIO()
    out = Console(
        file=buf,
        width=width,
        color_system=None,
        force_terminal=False,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )
    print_summary(out, s)
    return "\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").splitlines())


def summary_html(s: Summary) -> str:
    """A notebook's rendering: an HTML table with the same cells, every text escaped."""
    e = html.escape
    head = "".join(
        f'<th style="text-align:{_align(s, i)}">{e(h)}</th>' for i, h in enumerate(_headers(s))
    )
    body = []
    for r in s.rows:
        cells = _cells(s, r)
        tds = [
            f'<td style="text-align:left;padding-left:{0.5 + 1.5 * r.depth}em">{e(cells[0])}</td>'
        ]
        tds += [
            f'<td style="text-align:{_align(s, i)}">{e(c)}</td>' for i, c in enumerate(cells[1:], 1)
        ]
        weight = ' style="font-weight:bold"' if r.is_heading else ""
        body.append(f"<tr{weight}>{''.join(tds)}</tr>")
    total = "".join(
        f'<td style="text-align:{_align(s, i)}">{e(c)}</td>' for i, c in enumerate(_total_cells(s))
    )
    notes = [footer(s)]
    if s.module is not None:
        notes.append(memory_text(s.module.memory, s.module.mode))
    return (
        '<div class="archspec-summary">'
        f"<table><caption>{e(title(s))}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody>"
        f'<tfoot><tr style="font-weight:bold">{total}</tr></tfoot></table>'
        + "".join(f"<p>{e(n)}</p>" for n in notes)
        + "</div>"
    )
