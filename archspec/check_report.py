"""What `archspec.check` returns: the shape passes' result, and what the facade adds from the
IR. A module of its own because `toolkit.py` is imported by a module's summary, which loads no
part of the spec pipeline (the passes import the layer kinds, and they pydantic)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .ir import Graph
from .lazymethods import dataclass
from .passes.shapes import CheckResult


@dataclass(frozen=True)
class CheckReport(CheckResult):
    """What `archspec.check` returns: the shape passes' CheckResult, and which outputs the
    model returns in training mode only (GoogLeNet's and Inception v3's aux logits), from
    the IR's outputs, so that a report can say so rather than list them as plain outputs."""

    #: per output, in the order of `outputs`: the output's name when it is training-only,
    #: else None
    training_only: tuple[str | None, ...] = ()
    #: the key of each output, in the order of `outputs`, when the network's `outputs:` is a
    #: mapping (forward returns an OrderedDict); empty for a tensor or a tuple
    output_keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: CheckResult, graph: Graph) -> CheckReport:
        """`result` of `graph`, with its outputs' training-only names: its fields as they
        are, without the frozen __init__ (which sets each through object.__setattr__), as
        `ir.replaced` copies (`check` makes one per spec checked)."""
        outs = graph.root.outputs
        named = tuple(o.name if o.train_only else None for o in outs)
        keys = tuple(o.key for o in outs if o.key is not None)
        report = object.__new__(cls)
        report.__dict__.update(result.__dict__, training_only=named, output_keys=keys)
        return report

    def to_dict(self) -> dict[str, Any]:
        """CheckResult's plain data, and after `outputs` (lists beside it): `output_keys` for
        a network returning a mapping, and `training_only` when any output is (a name, or
        null for an output eval mode returns too)."""
        data = super().to_dict()
        extra: dict[str, Any] = {}
        if self.output_keys:
            extra["output_keys"] = list(self.output_keys)
        if any(self.training_only):
            extra["training_only"] = list(self.training_only)
        if not extra or not (self.outputs or self.symbolic_outputs):
            return data
        keys = list(data)
        at = keys.index("outputs") + 1
        return {k: data[k] for k in keys[:at]} | extra | {k: data[k] for k in keys[at:]}


def written_name(text: str | None, file: str, variant: str | None = None) -> str | None:
    """The `name:` a spec that failed to validate declares, when its YAML reads and the name
    is one (a report says the spec's name, as it does once a spec validates); `variant`, when
    the file's `variants:` holds it (a variant that failed is reported by its own name)."""
    from .errors import ArchSpecError
    from .loader import load_yaml
    from .ops.names import NAME_RE

    if text is None:
        return None
    try:
        data = load_yaml(text, file, copy=False).data
    except ArchSpecError:
        return None
    if not isinstance(data, Mapping):
        return None
    variants = data.get("variants")
    if variant is not None and isinstance(variants, Mapping) and variant in variants:
        return variant
    name = data.get("name")
    return name if isinstance(name, str) and len(name) <= 100 and NAME_RE.match(name) else None


__all__ = ["CheckReport", "written_name"]
