"""Spec diffs for checkpoint compatibility: which state_dict tensors survive a change.

Fine-tuning starts from a checkpoint of one network and loads it into another (ten classes
instead of a thousand, a wider stage, an extra block). Which tensors load, which change
shape and which appear or vanish is known from the two specs before any weight exists:
both models are built on the meta device (no memory for weights) and their state_dicts
compared key by key; the params and MACs come from the same analyses.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import api
from .catalog import builtin_dir
from .errors import ArchSpecError, clipped, escape_text
from .inputlayout import batch_of_one
from .lazymethods import dataclass
from .passes.pipeline import Analysis
from .report import summarise_analysis
from .specbytes import checkpoint_kind, regular_head
from .toolkit import spec_params

#: The longest state_dict key the text report shows whole (torchvision's longest is under 80).
KEY_SHOWN = 200

#: One state_dict entry as the diff compares it: its shape and dtype.
Entry = tuple[tuple[int, ...], str]


@dataclass(frozen=True)
class Side:
    """One of the two specs: its name, where it came from, its size."""

    name: str
    file: str
    params: int
    #: multiply-accumulates of one sample at the spec's input (its declared input, N = 1)
    macs: int | None
    #: that input (the first, for a spec of several inputs)
    input: tuple[int, ...] | None
    #: a spec of several inputs (`inputs:`): each input by name, with its shape at N = 1
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    #: of `params`, those its `frozen:` keeps from training
    frozen: int = 0


@dataclass(frozen=True)
class SpecDiff:
    """What loading a checkpoint of `a` into `b` meets, tensor by tensor.

    `unchanged` load as they are; `changed` have the same key and another shape (or
    dtype); `added` exist only in `b` (they keep `b`'s initialisation); `removed` exist
    only in `a` (a strict load refuses them, `strict=False` drops them).
    """

    a: Side
    b: Side
    unchanged: tuple[str, ...]
    changed: tuple[tuple[str, Entry, Entry], ...]
    added: tuple[tuple[str, Entry], ...]
    removed: tuple[tuple[str, Entry], ...]

    @property
    def renamed(self) -> tuple[tuple[str, str, int], ...]:
        """Likely renames among `removed` and `added`: (module in a, module in b, tensors)
        where a module's tensors vanish and another's appear with the same names, shapes
        and dtypes, in order. A guess to check, not a verdict: it changes no count."""
        return likely_renames(self.removed, self.added)

    @property
    def wrapped(self) -> tuple[str, str] | None:
        """(side, prefix) when no tensor fits because every key of one side starts with a
        name the other's keys lack (DistributedDataParallel's `module.`, torch.compile's
        `_orig_mod.`) and some fit once it is stripped: the fix is the strip, which the
        report's every-key renames do not say."""
        if self.unchanged or self.changed:
            return None
        added, removed = [k for k, _ in self.added], [k for k, _ in self.removed]
        for side, keys, other in (("b", added, set(removed)), ("a", removed, set(added))):
            prefix = wrapper_prefix(keys, other)
            if prefix:
                return side, prefix
        return None

    @property
    def compatible(self) -> bool:
        """True when a checkpoint of `a` loads strictly into `b`."""
        return not (self.changed or self.added or self.removed)

    def to_dict(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            shape = None if s.input is None else list(s.input)
            several = {"inputs": {n: list(e) for n, e in s.inputs}} if s.inputs else {}
            return (
                {"name": s.name, "file": s.file, "params": s.params, "macs": s.macs}
                | {"input": shape, "frozen_params": s.frozen}
                | several
            )

        def entry(e: Entry) -> dict[str, Any]:
            return {"shape": list(e[0]), "dtype": e[1]}

        return {
            "a": side(self.a),
            "b": side(self.b),
            "compatible": self.compatible,
            "unchanged": list(self.unchanged),
            "changed": [{"key": k, "a": entry(x), "b": entry(y)} for k, x, y in self.changed],
            "added": [{"key": k} | entry(e) for k, e in self.added],
            "removed": [{"key": k} | entry(e) for k, e in self.removed],
            "renamed": [{"a": x, "b": y, "tensors": n} for x, y, n in self.renamed],
            "params_delta": self.b.params - self.a.params,
            "macs_delta": None
            if self.a.macs is None or self.b.macs is None
            else self.b.macs - self.a.macs,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def text(self) -> str:
        """The report `archspec diff` prints: the counts, then every tensor that differs."""
        n = len(self.unchanged) + len(self.changed) + len(self.removed)
        lines = [
            f"a: {self.a.name} ({self.a.file})",
            f"b: {self.b.name} ({self.b.file})",
            f"state_dict: {len(self.unchanged)} of {n} tensors of a load into b unchanged; "
            f"{len(self.changed)} change shape, {len(self.added)} appear, "
            f"{len(self.removed)} vanish",
        ]
        # a key comes whole in --json; here one of a checkpoint's (any size: 100,000
        # characters printed whole) is its start and its length, as messages quote names
        k_ = functools.partial(clipped, limit=KEY_SHOWN)
        lines += [f"  changed  {k_(k)}  {_entry(x)} -> {_entry(y)}" for k, x, y in self.changed]
        lines += [f"  added    {k_(k)}  {_entry(e)}" for k, e in self.added]
        lines += [f"  removed  {k_(k)}  {_entry(e)}" for k, e in self.removed]
        lines += [
            f"  renamed? {k_(x)} -> {k_(y)}  ({n} tensor{'s' * (n != 1)} of the same names "
            "and shapes: a checkpoint loads with its keys renamed)"
            for x, y, n in self.renamed
        ]
        lines.append(f"params: {_delta(self.a.params, self.b.params)}")
        if self.a.frozen or self.b.frozen:  # `frozen:` on either side: what trains
            trains = (self.a.params - self.a.frozen, self.b.params - self.b.frozen)
            lines.append(f"trainable params: {_delta(*trains)}")
        if self.a.macs is not None and self.b.macs is not None:
            same = (self.a.input, self.a.inputs) == (self.b.input, self.b.inputs)
            at = "" if same else " (each at its own input)"
            lines.append(f"MACs per sample: {_delta(self.a.macs, self.b.macs)}{at}")
        verdict = (
            "a checkpoint of a loads strictly into b"
            if self.compatible
            else "a checkpoint of a loads into b with strict=False only: the tensors above "
            "keep b's initialisation or are dropped"
        )
        hint = []
        if self.wrapped is not None:
            side, prefix = self.wrapped
            hint.append(
                f"hint: every key of {side} starts with `{prefix}`, which the other's keys "
                "lack (a wrapper's name: DistributedDataParallel's `module.`, torch.compile's "
                f"`_orig_mod.`): strip it, {{k.removeprefix({prefix!r}): v for k, v in "
                "state_dict.items()}"
            )
        # keys come from any checkpoint or module (a line break, a terminal control): each
        # line of the report stays one line, shown as escapes
        return "\n".join(escape_text(line) for line in [*lines, verdict, *hint])

    def __str__(self) -> str:
        return self.text()


def wrapper_prefix(keys: Sequence[str], other: set[str]) -> str:
    """The dotted start (four names deep at most) every one of `keys` shares whose strip
    makes some of them keys of `other`, or ""."""
    prefix = ""
    for _ in range(4):
        if not keys or "." not in keys[0]:
            break
        head = keys[0].split(".", 1)[0] + "."
        if not all(k.startswith(head) for k in keys):
            break
        keys, prefix = [k[len(head) :] for k in keys], prefix + head
        if not other.isdisjoint(keys):
            return prefix
    return ""


def shown_file(file: str) -> str:
    """A spec's file as the report shows it: a built-in one as `specs/NAME.yaml`, another
    relative to the working folder when it is under it, else as it was found."""
    path = Path(file)
    for base, prefix in ((builtin_dir(), "specs"), (Path.cwd(), "")):
        try:
            rel = path.resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            continue
        return str(Path(prefix, rel)) if prefix else str(rel)
    return file


def _entry(e: Entry) -> str:
    shape = "(" + ", ".join(str(d) for d in e[0]) + ")"
    return shape if e[1] == "float32" else f"{shape} {e[1]}"


def _delta(a: int, b: int) -> str:
    change = b - a
    sign = "+" if change > 0 else ""
    return f"{a:,} -> {b:,} ({sign}{change:,})"


def diff(
    a: api.SpecSource,
    b: api.SpecSource,
    *,
    params_a: Mapping[str, Any] | None = None,
    params_b: Mapping[str, Any] | None = None,
    variant_a: str | None = None,
    variant_b: str | None = None,
    max_layers: int = api.DEFAULT_MAX_LAYERS,
) -> SpecDiff:
    """Compare the state_dicts, params and MACs of two specs (files, built-in names, YAML
    text or mappings; `params_*` set their params, `variant_*` pick a family's variant).

    Both are built on the meta device, so no weight is allocated. Either side may instead
    be a checkpoint: a file saved with `torch.save` (read as `archspec.load_weights` reads
    one: tensors only; a dict with a `state_dict` or `model` entry is taken apart) or a
    state_dict; its tensors are compared by shape, as a load casts their dtype, and it has
    no MACs. Raises ArchSpecError (located) when either spec is wrong, WeightsError (E801)
    when a checkpoint cannot be read.
    """
    for what, given in (("params_a", params_a), ("params_b", params_b)):
        try:
            spec_params(given, {})
        except TypeError as exc:
            raise TypeError(str(exc).replace("params", what, 1)) from None
    sides = [
        _side(a, params_a, variant_a, max_layers, "a"),
        _side(b, params_b, variant_b, max_layers, "b"),
    ]
    loose = any(isinstance(side, _Checkpoint) for side in sides)
    for i, side in enumerate(sides):  # a checkpoint's parameters: its tensors but buffers
        if isinstance(side, _Checkpoint):
            sides[i] = side.counted(sides[1 - i])
    (side_a, state_a, _), (side_b, state_b, _) = sides
    if loose:  # a load casts a tensor to the model's dtype: only shapes must fit
        unchanged, changed, added, removed = _loaded_states(state_a, state_b)
    else:
        unchanged, changed, added, removed = compare_states(state_a, state_b)
    return SpecDiff(side_a, side_b, tuple(unchanged), tuple(changed), tuple(added), tuple(removed))


def compare_states(
    state_a: Mapping[str, Entry], state_b: Mapping[str, Entry], *, shapes_only: bool = False
) -> tuple[
    list[str], list[tuple[str, Entry, Entry]], list[tuple[str, Entry]], list[tuple[str, Entry]]
]:
    """`unchanged`, `changed`, `added` and `removed` of a load of `state_a` into `state_b`
    (see SpecDiff), key by key in `a`'s order; `shapes_only` counts a tensor of another
    dtype as unchanged (loading casts it), as `archspec.load(weights=...)` does."""
    unchanged, changed, removed = [], [], []
    for key, entry in state_a.items():
        other = state_b.get(key)
        if other is None:
            removed.append((key, entry))
        elif other == entry or (shapes_only and other[0] == entry[0]):
            unchanged.append(key)
        else:
            changed.append((key, entry, other))
    added = [(key, entry) for key, entry in state_b.items() if key not in state_a]
    return unchanged, changed, added, removed


def likely_renames(
    removed: Sequence[tuple[str, Entry]], added: Sequence[tuple[str, Entry]]
) -> tuple[tuple[str, str, int], ...]:
    """(old module, new module, tensors) for each module of `removed` whose tensors match, in
    order, name for name and entry for entry, the first free module of `added` that does."""

    def modules(entries: Sequence[tuple[str, Entry]]) -> dict[str, tuple[tuple[str, Entry], ...]]:
        grouped: dict[str, list[tuple[str, Entry]]] = {}
        for key, entry in entries:
            module, _, leaf = key.rpartition(".")
            grouped.setdefault(module, []).append((leaf, entry))
        return {m: tuple(t) for m, t in grouped.items() if m}  # a root tensor has no module

    free = modules(added)
    pairs = []
    for old, tensors in modules(removed).items():
        new = next((m for m, t in free.items() if t == tensors), None)
        if new is not None:
            pairs.append((old, new, len(tensors)))
            del free[new]
    return tuple(pairs)


def _side(
    source: api.SpecSource,
    params: Mapping[str, Any] | None,
    variant: str | None,
    max_layers: int,
    which: str,
) -> tuple[Side, dict[str, Entry], frozenset[str]] | _Checkpoint:
    """One side of a diff (a spec's, with its buffers' keys, or a checkpoint's); its errors
    say which side they are about."""
    try:
        checkpoint = _checkpoint_side(source, params, variant)
        if checkpoint is not None:
            return checkpoint
        return _read_side(source, params, variant, max_layers)
    except ArchSpecError as err:
        raise _naming_the_side(err, which) from None


@dataclass(frozen=True)
class _Checkpoint:
    """A side that is a checkpoint: its entries, and its tensors to count its parameters by,
    which need the other side's buffers (a checkpoint does not tell them apart)."""

    name: str
    file: str
    entries: dict[str, Entry]
    sizes: dict[str, int]

    def counted(
        self, other: tuple[Side, dict[str, Entry], frozenset[str]] | _Checkpoint
    ) -> tuple[Side, dict[str, Entry], frozenset[str]]:
        buffers = other[2] if isinstance(other, tuple) else frozenset()
        params = sum(
            n for k, n in self.sizes.items() if k not in buffers and not k.endswith(_BUFFER_NAMES)
        )
        return Side(self.name, self.file, params, None, None), self.entries, frozenset()


#: the buffers of torch's norms, which a checkpoint's keys hold beside the parameters
_BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked")


def _checkpoint_side(
    source: Any, params: Mapping[str, Any] | None, variant: str | None
) -> _Checkpoint | None:
    """`source` read as a checkpoint (a torch.save or safetensors file, by its first bytes: no
    spec starts so, or a mapping of tensors), or None when it is a spec."""
    import os

    import torch

    if isinstance(source, Mapping):
        if not source or not all(isinstance(v, torch.Tensor) for v in source.values()):
            return None
        state, name, file = source, "the state_dict", "state_dict"
    elif isinstance(source, (str, os.PathLike)) and "\n" not in os.fspath(source):
        path = Path(source)
        try:  # a regular file only, never waited on: anything else is the spec reader's to refuse
            head = regular_head(path, 10)
        except (OSError, ValueError):
            return None
        if checkpoint_kind(head) is None:
            return None
        from .checkpoints import read_file

        state, name, file = read_file(path), path.name, shown_file(str(path))
    else:
        return None
    if params or variant is not None:
        from .weights import WeightsError

        raise WeightsError(
            f"{name} is a checkpoint, which has no params or variants to choose",
            code="E805",
            hint="--set and --variant (params_b=, variant_b=) choose B's, --set-a and "
            "--variant-a (params_a=, variant_a=) A's: give them to the side that is a spec",
        )
    from .hub import _entry, _text_keys

    _text_keys(state)
    sizes = {k: v.numel() for k, v in state.items() if isinstance(v, torch.Tensor)}
    entries = {k: _entry(v) for k, v in state.items()}
    return _Checkpoint(name, file, entries, sizes)


def _loaded_states(
    state_a: Mapping[str, Entry], state_b: Mapping[str, Entry]
) -> tuple[
    list[str], list[tuple[str, Entry, Entry]], list[tuple[str, Entry]], list[tuple[str, Entry]]
]:
    """`compare_states` by shape, as a load into a model compares: a tensor torch cannot
    copy (a checkpoint's entry that is no dense tensor) counts as changed whatever its shape."""
    from .hub import _UNLOADABLE

    unchanged, changed, added, removed = compare_states(state_a, state_b, shapes_only=True)
    bad = {k for k in unchanged if _UNLOADABLE in state_a[k][1] + state_b[k][1]}
    if bad:
        unchanged = [k for k in unchanged if k not in bad]
        at = {k: (k, state_a[k], state_b[k]) for k in bad} | {c[0]: c for c in changed}
        changed = [at[k] for k in state_a if k in at]
    return unchanged, changed, added, removed


def _read_side(
    source: api.SpecSource, params: Mapping[str, Any] | None, variant: str | None, max_layers: int
) -> tuple[Side, dict[str, Entry], frozenset[str]]:
    from .backends.torch_module import build_module

    analysis: Analysis = api._analysis(source, dict(params or {}), max_layers, variant=variant)
    graph = analysis.graph
    # the MACs at the declared input with N = 1: a concrete run of the shape rules, far
    # cheaper than the symbolic table; a spec declaring symbolic sizes gets the symbolic one
    declared = batch_of_one(graph.input_shape)
    # (a network of several inputs is summed at the ones it declares)
    at = analysis if declared is None or graph.inputs else Analysis(graph, declared)
    summary = summarise_analysis(at, 1)
    macs = summary.macs.value if summary.concrete else summary.example_macs
    example = summary.input_shape if summary.concrete else summary.example_input
    if example is not None and not all(d.is_const for d in example):
        example = None  # sizes left symbolic, with MACs that do not depend on them (all 0)
    shape = None if example is None else tuple(d.value for d in example)  # N = 1
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    if graph.inputs and shape is not None:  # each input by name, the first `shape`
        rest = summary.more_inputs if summary.concrete else summary.more_examples
        if all(d.is_const for e in rest for d in e):
            shapes = (shape, *(tuple(d.value for d in e) for e in rest))
            inputs = tuple(zip(summary.input_names, shapes, strict=True))
    api.check_limits(graph, max_params=None, max_activations=None)
    module = build_module(graph, "meta")
    state = {
        key: (tuple(t.shape), str(t.dtype).removeprefix("torch."))
        for key, t in module.state_dict().items()
    }
    side = Side(
        graph.name,
        shown_file(str(graph.file)),
        summary.params,
        macs,
        shape,
        inputs,
        summary.frozen_params,
    )
    return side, state, frozenset(k for k, _ in module.named_buffers())


#: How each side of a diff chooses a family's variant: the CLI's option, the keyword of `diff`.
_VARIANT_OPTIONS = {"a": ("--variant-a", "variant_a="), "b": ("--variant", "variant_b=")}


def _naming_the_side(err: ArchSpecError, which: str) -> ArchSpecError:
    """`err` with each message saying which spec it is about ("in A: ..."; A and B may be one
    file, with other params), and its variant hints (E113) naming this side's option: a hint
    that said `--variant` about spec A would have the user choose B's variant instead."""
    option, keyword = _VARIANT_OPTIONS[which]
    side = which.upper()
    for i, diag in enumerate(err.diagnostics):
        hint = diag.hint
        if diag.code == "E113" and hint:
            hint = re.sub(r"--variant\b(?!-)", option, hint).replace("variant=", keyword)
        err.diagnostics[i] = dataclasses.replace(
            diag, message=f"in {side}: {diag.message}", hint=hint
        )
    return err


__all__ = ["Entry", "Side", "SpecDiff", "compare_states", "diff", "likely_renames", "shown_file"]
