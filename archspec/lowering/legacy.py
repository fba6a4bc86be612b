"""`legacy_versions:`: older state_dict formats of the network class that a load still reads.

torchvision's MNASNet is the model: its `_version` is 2, and its `_load_from_state_dict`
rebuilds the stem in the version-1 layout when it is given a version-1 checkpoint (and alpha
is not 1). A spec says the same as data: the older version, when it differs, and the params
that build its layout; `archspec.load(..., weights=...)` reads the checkpoint's root
`_version` and builds that layout (archspec/api.py). Here each entry is checked and its
`when` evaluated for the graph's params.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import escape_text
from ..ir import LegacyFormat
from ..ops.base import Final
from .context import Skip
from .values import coerce_param, decl_of, param_hint

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer


def legacy_formats(lw: Lowerer) -> tuple[LegacyFormat, ...]:
    """The spec's `legacy_versions:`, checked (an older version than `state_dict_version`,
    once each; params the spec declares, of their types) and their `when` evaluated."""
    spec = lw.spec
    out: list[LegacyFormat] = []
    seen: set[int] = set()
    for i, entry in enumerate(spec.legacy_versions):
        yp = ("legacy_versions", i)
        if entry.version >= spec.state_dict_version or entry.version in seen:
            again = entry.version in seen
            lw.error(
                "E301",
                f"legacy version {entry.version} is "
                + (
                    "listed twice"
                    if again
                    else f"not older than state_dict_version {spec.state_dict_version}"
                ),
                (*yp, "version"),
                "list each older `_version` once, below the spec's `state_dict_version:` "
                "(the current format)",
            )
            continue
        seen.add(entry.version)
        params = {}
        for name, raw in entry.params.items():
            if name not in spec.params:
                close = lw.close_matches(name, list(spec.params))
                lw.error(
                    "E302",
                    f"unknown param `{name}` in legacy version {entry.version}",
                    (*yp, "params", name),
                    f"did you mean `{close[0]}`?"
                    if close
                    else f"this spec's params: {', '.join(spec.params) or 'none'}",
                    key=True,
                )
                continue
            decl = decl_of(spec.params[name])
            try:
                params[name] = coerce_param(raw, decl)
            except ValueError as exc:
                lw.error("E309", f"param `{name}`: {exc}", (*yp, "params", name), param_hint(decl))
        applies = True
        if entry.when is not None:
            try:
                applies = bool(lw.eval_value(entry.when, Final("bool"), lw.spec_env, (*yp, "when")))
            except Skip:
                continue
        out.append(LegacyFormat(entry.version, applies, params, escape_text(entry.warning)))
    return tuple(out)


__all__ = ["legacy_formats"]
