"""The composition keys in the JSON Schema editors read (`archspec schema`).

Composition is resolved before validation, so the Pydantic models never see these keys;
the schema for editors has to know them, or every `use:` would be marked as an error.
"""

from __future__ import annotations

from typing import Any

from .imports import MAX_USE_NAMES, MAX_USES
from .variants import MAX_VARIANTS

_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}


def add_composition_keys(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (the Spec model's) with `use`, `variants`, `extends` and its overrides, and
    `type: block` params."""
    props = schema["properties"]
    block_name = {"anyOf": [{"type": "string"}, {"type": "object", "maxProperties": 1}]}
    props["use"] = {
        "description": "blocks imported from spec files in this folder tree or the library",
        "type": "array",
        "maxItems": MAX_USES,
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["from", "blocks"],
            "properties": {
                "from": {"type": "string", "description": "archspec:blocks/NAME or a .yaml file"},
                "blocks": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_USE_NAMES,
                    "items": block_name,
                },
            },
        },
    }
    props["variants"] = {
        "description": "named members of this family; each sets param defaults",
        "type": "object",
        "maxProperties": MAX_VARIANTS,
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "class_name": props["class_name"],
                "description": {"type": "string"},
                "input": props["input"],
                "inputs": props["inputs"],
                "params": {"type": "object"},
            },
        },
    }
    base_ref = {"type": "string", "description": "a built-in spec or a .yaml file"}
    props["extends"] = {
        "anyOf": [
            base_ref,
            {
                "type": "object",
                "description": "one variant of a family: {from: family.yaml, variant: small}",
                "additionalProperties": False,
                "required": ["from"],
                "properties": {"from": base_ref, "variant": _NAME},
            },
        ]
    }
    props["replace"] = {"type": "object", "additionalProperties": {"type": "object"}}
    props["remove"] = {"type": "array", "items": _NAME}
    anchor = {"type": "string"}
    props["insert"] = {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"before": anchor, "after": anchor, "layers": {"type": "array"}},
            "required": ["layers"],
        },
    }
    blocks = props["blocks"]["additionalProperties"]
    props["blocks"]["additionalProperties"] = {"anyOf": [blocks, {"type": "string"}]}
    param_type = schema["$defs"]["ParamDecl"]["properties"]["type"]
    param_type["enum"] = [*param_type["enum"], "block"]
    required = schema.pop("required", [])
    # a spec of its own gives its input, one (`input`) or several (`inputs`), never both
    schema["anyOf"] = [
        {"required": ["archspec", "extends"]},
        {"required": [*required, "input"], "not": {"required": ["inputs"]}},
        {
            "required": [*required, "inputs"],
            "not": {"anyOf": [{"required": ["input"]}, {"required": ["input_dtype"]}]},
        },
    ]
    return schema
