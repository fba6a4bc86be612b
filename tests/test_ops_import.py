"""The built-in layer models are made from annotation objects, not strings (archspec/ops)."""

from __future__ import annotations

import archspec.ops
from archspec.ops import REGISTRY


def test_builtin_layer_fields_are_not_strings() -> None:
    # A string annotation is compiled and evaluated by pydantic for each field at import.
    builtin = [
        op for op in REGISTRY.values() if type(op).__module__.startswith(archspec.ops.__name__)
    ]
    assert len(builtin) > 50
    for op in builtin:
        for model in op.spec.__mro__:
            for name, ann in vars(model).get("__annotations__", {}).items():
                if model.__module__.startswith(archspec.ops.__name__) and model.__name__ not in (
                    "NodeBase",
                    "LayerSpec",
                ):
                    assert not isinstance(ann, str), (op.kind, model.__name__, name, ann)
