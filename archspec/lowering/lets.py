"""`let:` bindings: values derived from params (and, in a block, from its arguments and
`in_channels`), evaluated once, in the order written, each seeing the ones before it.

A let is a name in expressions like a param, but no caller sets it. Its expression also
decides values emitted code writes as literals, so the expression is recorded as a switch of
the module it is bound in: the params it reads are then fixed in emitted code rather than
left as arguments that would no longer agree with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..expr import ExprError
from ..loader import PathKey
from .context import Skip, moved_channels_hint, quiet_names
from .values import check_numbers, parsed, reads_failed

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer


def bind_lets(
    lw: Lowerer,
    lets: Mapping[str, Any],
    env: Mapping[str, Any],
    ypath: PathKey,
    taken: Mapping[str, str],
    own_env: bool = False,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The lets' values (in order, each in scope for the next) and the switches to record.

    `taken` maps names already bound here (params) to what binds them: a let may not hide
    one (E304). A let that fails is recorded and left out; expressions reading it then fail
    quietly, and Skip is raised at the end so the module is not built on a missing value.
    `own_env`: `env` is the caller's own copy, which the lets may be added to.
    """
    scope = env if own_env and isinstance(env, dict) else dict(env)
    out: dict[str, Any] = {}
    switches: list[tuple[str, str]] = []
    bad = False
    for name, raw in lets.items():
        yp = ypath + (name,)
        if name in taken:
            lw.error(
                "E304",
                f"let `{name}` has the name of {taken[name]}, which it would hide",
                yp,
                "rename the let",
                key=True,
            )
            bad = True
            continue
        try:
            if isinstance(raw, str):
                switches.append(("", raw))
                value = parsed(raw).evaluate(scope)
            else:
                value = raw
            check_numbers(value)
        except ExprError as exc:
            if not reads_failed(raw, quiet_names(lw.failed, scope)):
                hint = moved_channels_hint(exc, scope)
                if exc.code == "E302":
                    later = [n for n in lets if n not in out and n in parsed(raw).names]
                    if later:
                        hint = (
                            f"lets are evaluated in the order written: `{later[0]}` is not "
                            "bound yet here (a let cannot read itself or a later let)"
                        )
                lw.error(exc.code, f"let `{name}`: {exc.message}", yp, hint)
            lw.failed.add(name)
            bad = True
            continue
        except ValueError as exc:
            lw.error(
                "E309", f"let `{name}`: {exc}", yp, "lets hold numbers, booleans, text or lists"
            )
            lw.failed.add(name)
            bad = True
            continue
        scope[name] = out[name] = value
    if bad:
        raise Skip
    return out, switches
