"""Fetch pretrained weights as torchvision does, and load them into a model, reporting what
did not fit in `archspec.diff`'s terms.

Files go through torch.hub's cache, `torch.hub.get_dir()/checkpoints` (so a file that
torchvision already downloaded is used, offline); a download (archspec/download.py: torch.hub's
own has no timeout, time or size limit) is checked against the sha256 prefix in its file name
as torch.hub checks it, and a file that does not match is deleted, never cached. Files are
read with `weights_only=True`: a checkpoint holds tensors, not code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import sys
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.request import Request

import torch
from torch import nn

from .api import SpecDiff  # through the facade: archspec.diffs is a part of archspec.api
from .checkpoints import read_cached, read_file
from .diffs import Entry, Side, compare_states, wrapper_prefix
from .download import TRANSFER_ERRORS, download, shown_url
from .errors import escape_text
from .fit_hints import unmatched_hint
from .mirrors import check_mirror_file, mirror_hint
from .tiedstate import once as _once
from .tiedstate import split_twins
from .tiedstate import twins as _twins
from .weights import Weights, WeightsError, builder_rule, check_strict, relative_file_url


class WeightsWarning(UserWarning):
    """Weights loaded with strict=False into a model they do not fully fit; the message is
    the state_dict diff."""


def cache_dir() -> Path:
    """Where torch.hub keeps checkpoints (`$TORCH_HOME/hub/checkpoints` by default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch(weights: Weights, base_url: str | None = None) -> Mapping[str, Any]:
    """The state_dict of `weights`: the cached file, or a verified download into the cache.

    Raises WeightsError (E802) when the file cannot be had or its hash does not match.
    """
    url = weights.url(base_url)
    cached = cache_dir() / weights.file
    try:  # torch.hub creates its .partial file before it parses the URL, and leaks it
        if relative_file_url(url):
            raise ValueError("a file: URL names an absolute path; this one is relative")
        Request(url)
    except ValueError as exc:
        raise WeightsError(
            f"cannot fetch {weights.full_name} from {shown_url(url)}: not a URL "
            f"({shown_url(str(exc), url)})",
            code="E802",
            hint="base_url= and $ARCHSPEC_WEIGHTS_URL take a URL: https://host/folder, or "
            "file:///path/to/folder for a folder (pathlib.Path(folder).resolve().as_uri())",
        ) from None
    if os.path.lexists(cached) and not cached.is_file():  # a folder, a FIFO, a dangling link
        raise WeightsError(
            f"cannot read {cached}: it is not a regular file",
            code="E802",
            hint="torch.hub's cache holds this name as something else: remove it, and the "
            "file is downloaded again (or put torchvision's file there)",
        )
    try:
        if not os.path.lexists(cached):  # the mirror is read only for a file not cached
            check_mirror_file(url, weights)
            download(
                url,
                cached,
                name=weights.full_name,
                hash_prefix=weights.hash_prefix,
                size_mb=weights.file_size_mb,
                progress=sys.stderr.isatty(),
            )
    except WeightsError:
        raise
    except TRANSFER_ERRORS as exc:
        raise WeightsError(
            f"cannot fetch {weights.full_name} from {shown_url(url)}: {shown_url(str(exc), url)}",
            code="E802",
            hint=mirror_hint(url, weights, cache_dir())
            or f"without a network, put {weights.file} in {cached.parent} (torch.hub's cache, "
            "where torchvision also looks), or set base_url= / $ARCHSPEC_WEIGHTS_URL to a "
            "mirror (a file:// folder works)",
        ) from None
    return _renamed(read_cached(cached), weights)


def _cache_note(weights: Weights) -> str:
    """What is wrong with the cached file of `weights` when its sha256 does not start with
    the hash in its name (as torch.hub checks a download), else "". A file archspec or
    torchvision downloaded was checked then; the cache is read as it is, as torchvision
    reads it, so a file damaged or replaced since is only found when it does not fit."""
    cached = cache_dir() / weights.file
    prefix = weights.hash_prefix
    digest = hashlib.sha256()
    try:
        with open(cached, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return ""
    found = digest.hexdigest()
    if not prefix or found.startswith(prefix):
        return ""
    return (
        f"And {cached} is not {weights.full_name}'s file (its sha256 is {found[:16]}..., not "
        f"{prefix}... as its name says): it is damaged or another checkpoint saved under "
        "torchvision's name"
    )


_CACHE_HINT = "delete the cached file, and it is downloaded again and checked"


def _renamed(state: Mapping[str, Any], weights: Weights) -> Mapping[str, Any]:
    """DenseNet's checkpoints keep keys of an old layout (`norm.1`); torchvision renames
    them with this pattern before loading, and so does this."""
    rule = builder_rule(weights.spec).rename
    if rule is None:
        return state
    pattern = re.compile(rule[0])
    out: dict[str, Any] = OrderedDict()
    for key, value in state.items():
        out[pattern.sub(rule[1], key)] = value
    if hasattr(state, "_metadata"):
        out._metadata = state._metadata  # type: ignore[attr-defined]
    return out


def _checked_metadata(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """`state._metadata` (torch's per-module `{prefix: {"version": int}}`), or None when it
    has none; a checkpoint's metadata of another shape is refused (E801) before archspec's
    or torch's loaders index it, and so is a version below 1, which no module class has
    (nn.Module's is 1): the E803 said "saved by version -1 of the network class"."""
    meta = getattr(state, "_metadata", None)
    if meta is None:
        return None
    ok = isinstance(meta, Mapping) and all(
        isinstance(k, str)
        and isinstance(v, Mapping)
        and all(isinstance(f, str) for f in v)
        and (v.get("version") is None or (type(v.get("version")) is int and v["version"] >= 1))
        for k, v in meta.items()
    )
    if not ok:
        raise WeightsError(
            "the checkpoint's _metadata is not torch's {module prefix: {'version': int}}, "
            "each version 1 or more",
            code="E801",
            hint="a state_dict from model.state_dict() has it right; drop or fix `_metadata`",
        )
    return meta


#: The dtype text of a checkpoint entry torch cannot load into a tensor (a number, a text,
#: a meta or sparse tensor): never a model's, so such an entry never counts as fitting.
_UNLOADABLE = "unloadable: "


def _entry(t: Any) -> Entry:
    if not isinstance(t, torch.Tensor):
        kind = type(t).__name__
        return ((), f"{_UNLOADABLE}{'an' if kind[:1] in 'aeiou' else 'a'} {kind}, not a tensor")
    if t.is_nested and t.layout is torch.strided:  # its parts' sizes differ: it has no shape
        return ((), _UNLOADABLE + "a nested tensor, not dense")
    if t.is_quantized:  # torch copies no quantized tensor into a float one
        return (tuple(t.shape), f"{_UNLOADABLE}a quantized tensor ({t.dtype}), not float")
    if t.is_meta or t.layout is not torch.strided:
        what = "a meta tensor, with no data" if t.is_meta else f"a {t.layout} tensor, not dense"
        return (tuple(t.shape), _UNLOADABLE + what.replace("torch.", ""))
    return (tuple(t.shape), str(t.dtype).removeprefix("torch."))


def _text_keys(state: Mapping[Any, Any]) -> None:
    """A state_dict's keys are module paths as text; a stranger's file may hold others
    (torch.load with weights_only=True reads int, None or tuple keys), which nothing after
    this could name: refused (E801)."""
    for key in state:
        if not isinstance(key, str):
            shown = repr(key)
            raise WeightsError(
                f"the checkpoint has a key {shown[:60]}{'...' if len(shown) > 60 else ''} "
                f"({type(key).__name__}): a state_dict's keys are module paths as text",
                code="E801",
                hint="save model.state_dict() with torch.save, from a source you trust",
            )


def _compared(
    state: Mapping[str, Any], ours: Mapping[str, Any]
) -> tuple[list[str], list[tuple[str, Entry, Entry]], list[tuple[str, Entry]], list[Any]]:
    """`compare_states` of a checkpoint and a model by shape, an entry that holds no tensor
    torch can copy counted among the changed whatever its shape (a float at a 0-d buffer's
    key was 'unchanged', and torch's load_state_dict then raised its own RuntimeError), as is
    a complex tensor at a real one (torch kept its real part, dropping the rest)."""
    entries = {k: _entry(v) for k, v in state.items()}
    own = {k: _entry(v) for k, v in ours.items()}
    for k, (shape, dtype) in entries.items():  # torch copies its real part, with a warning
        if dtype.startswith("complex") and k in own and not own[k][1].startswith("complex"):
            entries[k] = (shape, f"{_UNLOADABLE}a complex tensor ({dtype}), not real")
    unchanged, changed, added, removed = compare_states(entries, own, shapes_only=True)
    if any(entries[k][1].startswith(_UNLOADABLE) for k in unchanged):
        moved = {k for k in unchanged if entries[k][1].startswith(_UNLOADABLE)}
        unchanged = [k for k in unchanged if k not in moved]
        at = {k: (k, entries[k], own[k]) for k in moved} | {c[0]: c for c in changed}
        changed = [at[k] for k in entries if k in at]
    return unchanged, changed, added, removed


#: the buffers of torch's norms, not parameters, in a checkpoint's keys the model lacks
_BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked")


def load_state(
    model: nn.Module,
    state: Mapping[str, Any],
    *,
    strict: bool = True,
    source: tuple[str, str] = ("checkpoint", "state_dict"),
    target: tuple[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> SpecDiff:
    """Load `state` into `model`: every tensor whose key and shape fit; with `strict`, a
    WeightsError (E803) names the tensors that do not fit, and nothing is loaded.

    Returns the diff of `archspec.diff`'s kind, the checkpoint as `a` and the model as `b`
    (`source` and `target` are their names and files): `unchanged` are the loaded tensors;
    `changed` kept the model's values, their shapes differ; `added` are the model's tensors
    the checkpoint lacks; `removed` the checkpoint's tensors the model has no place for.
    Keys under a `drop` prefix are discarded first (torchvision's builder discards them too).
    """
    _text_keys(state)
    meta = _checked_metadata(state)
    saved_by = state_version(state)
    _older_layout(model, saved_by)
    state = {k: v for k, v in state.items() if not k.startswith(drop)}
    ours = model.state_dict()
    unchanged, changed, added, removed = _compared(state, ours)
    added = [(k, e) for k, e in added if not _filled_by_torch(k, state, meta)]
    twins = _twins(model)  # a tied tensor's other keys: one of them loaded fills it
    filled = {k for k, _ in added if any(t in state for t in twins.get(k, ()))}
    added = [(k, e) for k, e in added if k not in filled]
    buffers = {k for k, _ in model.named_buffers()}
    a_params = sum(
        t.numel()
        for k, t in _once(state, twins).items()
        if isinstance(t, torch.Tensor) and k not in buffers and not k.endswith(_BUFFER_NAMES)
    )
    b_params = sum(p.numel() for p in model.parameters())
    name, file = target or (type(model).__name__, "the model")
    diff = SpecDiff(
        Side(source[0], source[1], a_params, None, None),
        Side(name, file, b_params, None, None),
        tuple(unchanged),
        tuple(changed),
        tuple(added),
        tuple(removed),
    )
    if strict and not diff.compatible:
        raise WeightsError(
            f"{source[0]} does not fit {name}: " + _listing(diff),
            code="E803",
            hint=prefix_hint(diff, state, ours)
            or _older_hint(saved_by, model)
            + "pass strict=False to load the tensors that fit and keep the model's own "
            "values for the others (a new head, say); archspec.diff() shows the same "
            "differences between two specs",
        )
    skip = {c[0] for c in changed}
    fits: dict[str, Any] = OrderedDict((k, v) for k, v in state.items() if k not in skip)
    if meta is not None:
        fits._metadata = meta  # type: ignore[attr-defined]
    _warn_split_twins(fits, twins)
    result = model.load_state_dict(fits, strict=False)
    unforeseen = set(result.missing_keys) - {k for k, _ in added} - skip - filled
    if unforeseen:  # a module whose own loader wants more than its state_dict shows
        missing = tuple((k, _entry(ours[k])) for k in sorted(unforeseen) if k in ours)
        diff = dataclasses.replace(diff, added=diff.added + missing)
    return diff


def _warn_split_twins(state: Mapping[str, Any], twins: Mapping[str, tuple[str, ...]]) -> None:
    """A WeightsWarning for each tied tensor the checkpoint holds as different values."""
    for message in split_twins(state, twins):
        warnings.warn(WeightsWarning(message), stacklevel=_outside_level())


def prefix_hint(diff: SpecDiff, state: Mapping[str, Any], ours: Mapping[str, Any]) -> str:
    """When no key fits because every checkpoint key starts with a wrapper's name the model's
    keys lack (`module.` of DistributedDataParallel, `_orig_mod.` of torch.compile), how to
    strip it (four names deep at most: keys deep in dots cost no more than reading them);
    when none fits otherwise, that it is another model's (`unmatched_hint`); else ""."""
    if diff.unchanged or diff.changed:
        return ""
    prefix = wrapper_prefix([k for k in state if isinstance(k, str)], set(ours))
    if prefix:
        stripped = {str(k)[len(prefix) :]: v for k, v in state.items()}
        same, *others = _compared(stripped, ours)
        fit = "it fits" if not any(others) else f"{len(same)} of {len(ours)} tensors fit"
        return (
            f"every key of the checkpoint starts with `{prefix}`, which the model's keys "
            "do not (the name of a wrapper it was saved in: DistributedDataParallel's "
            f"`module.`, torch.compile's `_orig_mod.`): strip it (then {fit}), "
            f"{{k.removeprefix({prefix!r}): v for k, v in state_dict.items()}}"
        )
    return unmatched_hint(state, ours)


def _older_layout(model: nn.Module, version: int | None) -> None:
    """Rebuild a compiled model in the layout of an older version of its network class, for
    a checkpoint saved by that version, when its spec lists it under `legacy_versions:`:
    the children whose tensors differ are replaced, the `_version` becomes the old one and
    the entry's warning is given, as torchvision's MNASNet._load_from_state_dict does."""
    source = model.__dict__.get("_archspec_source")
    if source is None or version is None or version == getattr(model, "_version", 1):
        return
    from . import api

    file, variant, params = source
    older = api.build_graph(file, params, variant=variant).legacy_format(version)
    if older is None:
        return
    device = next((t.device for t in model.state_dict().values()), None)
    new = api.compile(file, variant=variant, device=device, **{**params, **older.params})
    for name, child in list(model.named_children()):
        ours = {k: v.shape for k, v in child.state_dict().items()}
        fresh = getattr(new, name)
        if ours != {k: v.shape for k, v in fresh.state_dict().items()}:
            setattr(model, name, fresh)
    model._version = older.version
    model._archspec_source = (file, variant, {**params, **older.params})
    if older.warning:  # at the caller's line, through archspec's and torch's loaders
        warnings.warn(older.warning, UserWarning, stacklevel=_outside_level())


#: archspec's and torch's folders: a warning points at the first frame outside them
_INSIDE = tuple(
    str(Path(m.__file__).resolve().parent) + os.sep for m in (sys.modules[__package__], torch)
)


def _outside_level() -> int:
    """The `stacklevel` of the first caller outside archspec and torch, seen from the
    function that calls this one."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        frame, level = frame.f_back, level + 1
    return level


def watch_versions(model: nn.Module) -> None:
    """Let `model.load_state_dict` read the older checkpoint versions its spec lists under
    `legacy_versions:` (see `_older_layout`), as torchvision's MNASNet reads version 1."""
    model.register_load_state_dict_pre_hook(_versions_hook)


def _versions_hook(
    module: nn.Module, state: Any, prefix: str, local_metadata: Any, *_: Any
) -> None:
    _older_layout(module, local_metadata.get("version"))


def _older_hint(version: int | None, model: nn.Module) -> str:
    """What to do with a checkpoint saved by an older version of the network class."""
    current = getattr(model, "_version", 1)
    if version is None or version >= current:
        return ""
    return (
        f"the checkpoint was saved by version {version} of the network class, the model is "
        f"version {current}: archspec.load(NAME, weights=...) and archspec.load_weights (into a "
        "model compiled from a spec file) build the layout of an older version the spec lists "
        "under `legacy_versions:`; otherwise "
    )


def _filled_by_torch(key: str, state: Mapping[str, Any], meta: Any) -> bool:
    """BatchNorm fills in `num_batches_tracked` for a checkpoint saved before it existed
    (version < 2, as torchvision's older files are): not a tensor the checkpoint lacks."""
    prefix, _, leaf = key.rpartition(".")
    if leaf != "num_batches_tracked" or f"{prefix}.running_mean" not in state:
        return False
    version = (meta or {}).get(prefix, {}).get("version")
    return version is None or version < 2


def _listing(diff: SpecDiff, limit: int = 8) -> str:
    parts = [f"{k} {_shape(x)} -> {_shape(y)}" for k, x, y in diff.changed]
    parts += [f"{k} missing from the checkpoint" for k, _ in diff.added]
    parts += [f"{k} not in the model" for k, _ in diff.removed]
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def _shape(e: Entry) -> str:
    if e[1].startswith(_UNLOADABLE):
        return f"({e[1].removeprefix(_UNLOADABLE)})"
    return "(" + ", ".join(str(d) for d in e[0]) + ")"


def weights_state(
    weights: Weights | str | os.PathLike[str] | Mapping[str, Any],
    *,
    base_url: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[Mapping[str, Any], tuple[str, str], tuple[str, ...]]:
    """The state_dict `weights` stands for (fetched, read or as given), its name and file,
    and the key prefixes torchvision's builder drops for `params` (GoogLeNet's and
    Inception's aux heads when the model is built without them). Warnings point at the
    caller's line."""
    drop: tuple[str, ...] = ()
    if isinstance(weights, Weights):
        state = fetch(weights, base_url)
        rule = builder_rule(weights.spec)
        given = dict(params or {})
        for param, prefixes in rule.drop.items():
            if not given.get(param, rule.set.get(param, True)):
                drop += prefixes
        for param, message in rule.warn.items():
            if given.get(param, rule.set.get(param, False)):
                warnings.warn(message, stacklevel=_outside_level())
        return state, (weights.full_name, weights.file), drop
    if isinstance(weights, Mapping):
        return weights, ("the state_dict", "state_dict"), drop
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "weights must be a Weights (archspec.get_weights), a file path or a state_dict, "
            f"got {type(weights).__name__}"
        )
    return read_file(weights), (os.fspath(weights), os.fspath(weights)), drop


def state_version(state: Mapping[str, Any]) -> int | None:
    """The `_version` of the network class that saved `state` (its `_metadata[""]`), or
    None for a state_dict without metadata."""
    meta = getattr(state, "_metadata", None)
    root = meta.get("") if isinstance(meta, Mapping) else None
    version = root.get("version") if isinstance(root, Mapping) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def load_weights(
    model: nn.Module,
    weights: Weights | str | os.PathLike[str] | Mapping[str, Any],
    *,
    strict: bool = True,
    base_url: str | None = None,
    params: Mapping[str, Any] | None = None,
    target: tuple[str, str] | None = None,
) -> SpecDiff:
    """Load pretrained weights (a `Weights` of `archspec.get_weights`, a file or a
    state_dict) into `model` and return the state_dict diff (see `load_state`).

    With strict=False, tensors that do not fit keep the model's values and a WeightsWarning
    gives the diff. `params` are the spec params the model was built with, for the rules of
    torchvision's builder (GoogLeNet's and Inception's aux heads are in the file; a model
    built without them drops them, as torchvision does).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"load_weights takes an nn.Module, not {type(model).__name__}")
    check_strict(strict)
    state, source, drop = weights_state(weights, base_url=base_url, params=params)
    fetched = weights if isinstance(weights, Weights) else None
    return load_fetched(
        model, state, strict=strict, source=source, target=target, drop=drop, fetched=fetched
    )


def load_fetched(
    model: nn.Module,
    state: Mapping[str, Any],
    *,
    strict: bool,
    source: tuple[str, str],
    target: tuple[str, str] | None,
    drop: tuple[str, ...],
    fetched: Weights | None = None,
) -> SpecDiff:
    """`load_state`, then a WeightsWarning with the diff when it is not compatible. When
    `state` is the file of `fetched` and does not fit, the cached file is checked against
    the hash in its name (only then: a file that fits costs no second read), and the E803
    or the warning says first when it is not that file: damaged on disk or another
    checkpoint under torchvision's name, which the spec is not to blame for."""
    try:
        diff = load_state(model, state, strict=strict, source=source, target=target, drop=drop)
    except WeightsError as exc:
        first = exc.diagnostics[0]
        note = _cache_note(fetched) if fetched is not None and first.code == "E803" else ""
        if not note:
            raise
        told = dataclasses.replace(
            first, message=f"{first.message}. {note}", hint=f"{_CACHE_HINT}; else {first.hint}"
        )
        raise WeightsError(diagnostics=[told]) from None
    if not diff.compatible:
        note = _cache_note(fetched) if fetched is not None else ""
        text = _bounded_report(diff.text()) + (f"\n{note}: {_CACHE_HINT}" if note else "")
        prefix = prefix_hint(diff, state, model.state_dict())
        text += f"\nnothing was loaded: {escape_text(prefix)}" if prefix else ""
        warnings.warn(WeightsWarning(text), stacklevel=_outside_level())
    return diff


#: A WeightsWarning's diff shows at most this many tensors, each line cut to this width.
_REPORT_ENTRIES, _REPORT_WIDTH = 200, 300


def _bounded_report(text: str) -> str:
    """The diff a WeightsWarning shows: a stranger's checkpoint with a key of megabytes, or
    a million keys, made a warning of as many characters, printed whole. Each line is cut to
    _REPORT_WIDTH characters and the tensors past _REPORT_ENTRIES are counted; the counts
    and the verdict (the lines that list no tensor) stay."""
    lines = text.splitlines()
    entries = [i for i, line in enumerate(lines) if line.startswith("  ")]
    if len(entries) > _REPORT_ENTRIES:
        cut = set(entries[_REPORT_ENTRIES:])
        more = (
            f"  ... and {len(cut):,} more (archspec.load_weights(model, weights, "
            "strict=False) returns the whole diff)"
        )
        at = entries[_REPORT_ENTRIES]
        lines = [
            *lines[:at],
            more,
            *(line for i, line in enumerate(lines) if i > at and i not in cut),
        ]
    width = _REPORT_WIDTH
    return "\n".join(line if len(line) <= width else line[: width - 3] + "..." for line in lines)


__all__ = [
    "WeightsWarning",
    "cache_dir",
    "fetch",
    "load_fetched",
    "load_state",
    "load_weights",
    "read_file",
    "state_version",
    "watch_versions",
    "weights_state",
]
