"""The header's input: one tensor (`input: [N, C, H, W]`) or several by name (`inputs: {z: [N,
100], label: {shape: [N], dtype: int64}}`, a conditional GAN's `forward(z, label)`).

The Pydantic pieces the spec model uses, the rule that a spec gives exactly one of the two
forms (E203, E204: checked beside the schema, so each is one located error), and the
inputs as lowering reads them, in order (`declared_inputs`), whichever form the spec uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from .errors import Diagnostic
from .lazymethods import dataclass
from .loader import LoadedDoc, PathKey
from .ops.base import Name

#: One dim of a declared input: a size, or a symbol (`N`, `H`).
InputDim = Annotated[StrictInt, Field(ge=1)] | Name
#: A declared input's shape.
InputShape = Annotated[list[InputDim], Field(min_length=1, max_length=6)]
#: The dtypes an input may have.
InputDtype = Literal["float32", "int64"]

#: What `input:` is (schema description).
INPUT_DOC = "e.g. [N, 3, 224, 224]; symbols allowed (several inputs: `inputs`)"
#: What `input_dtype:` is for (schema description).
INPUT_DTYPE_DOC = (
    "the input's dtype: float32 (images, features; the module's own float dtype), or int64 "
    "(token ids or other indices, which only `embedding` and layout kinds may read)"
)
#: What the header's `inputs:` is for (schema description).
NETWORK_INPUTS_DOC = (
    "a network of several inputs (in place of `input`): each input's name and shape, in the "
    "order forward takes them (`{z: [N, 100], label: {shape: [N], dtype: int64}}`); each "
    "name is a node `from` reads, the first is also `input`, and a symbol shared by two "
    "inputs is one size"
)
#: The most inputs a network may name (as a block's `inputs:`).
MAX_NETWORK_INPUTS = 16


class NetworkInput(BaseModel):
    """One input of a network of several, with its dtype (`{shape: [N], dtype: int64}`)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    shape: InputShape = Field(..., description="e.g. [N, 3, H, W]; symbols allowed")
    dtype: InputDtype = Field("float32", description=INPUT_DTYPE_DOC)


#: One entry of `inputs:`: its shape, or its shape and dtype.
InputEntry = InputShape | NetworkInput


def inputs_field() -> Any:
    """The spec's `inputs:` field (a mapping, in order, of two or more inputs)."""
    return Field(None, min_length=2, max_length=MAX_NETWORK_INPUTS, description=NETWORK_INPUTS_DOC)


@dataclass(frozen=True)
class DeclaredInput:
    """One input as the header declares it: its name (`input` for the one of `input:`), its
    dims as written, its dtype, and the path of its shape in the spec (for errors)."""

    name: str
    dims: tuple[int | str, ...]
    dtype: str
    ypath: PathKey


def declared_inputs(spec: Any) -> list[DeclaredInput]:
    """The spec's inputs in forward's order: its `inputs:` entries, else its one `input:`."""
    inputs: Mapping[str, Any] | None = getattr(spec, "inputs", None)
    if not inputs:
        return [DeclaredInput("input", tuple(spec.input), spec.input_dtype, ("input",))]
    out = []
    for name, entry in inputs.items():
        if isinstance(entry, NetworkInput):
            out.append(
                DeclaredInput(name, tuple(entry.shape), entry.dtype, ("inputs", name, "shape"))
            )
        else:
            out.append(DeclaredInput(name, tuple(entry), "float32", ("inputs", name)))
    return out


#: The hint of a spec that gives both forms, or `input_dtype` beside `inputs`.
ONE_FORM = (
    "a network of one input writes `input: [N, C, H, W]` (and `input_dtype`); one of several "
    "writes `inputs: {x1: [N, 3, H, W], x2: [N, 3, H, W]}` instead, each entry's dtype in it "
    "(`label: {shape: [N], dtype: int64}`)"
)


def header_form_diagnostics(doc: LoadedDoc) -> list[Diagnostic]:
    """E204 for a spec that gives both `input` and `inputs` (or `input_dtype` beside
    `inputs`, whose entries carry their own), E203 for one that gives neither."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    if data.get("inputs") is not None:  # (null is no value, as the schema takes it)
        if not isinstance(data["inputs"], dict):  # a block's list: the schema's error says so
            return []
        for other in ("input", "input_dtype"):
            if data.get(other) is not None:
                return [
                    Diagnostic(
                        "E204",
                        f"`{other}` and `inputs` are both given: a network takes one input "
                        "(`input`) or several by name (`inputs`)",
                        doc.span_of((other,), key=True),
                        ONE_FORM,
                    )
                ]
        return []
    if data.get("input") is None:
        return [
            Diagnostic(
                "E203",
                "missing required field `input` in the spec",
                doc.span_of(()),
                "give the input's shape, `input: [N, 3, 224, 224]` (symbols allowed), or "
                "several inputs by name, `inputs: {z: [N, 100], label: [N]}`",
            )
        ]
    return []


def with_input_shapes(spec: Any, shapes: list[list[int | str]]) -> dict[str, Any]:
    """The update of `spec` (for `model_copy`) that gives its inputs, in order, these
    shapes, each keeping its dtype (api lowers a broken spec again with its sizes as
    symbols, to say which inputs would work)."""
    inputs: Mapping[str, Any] | None = getattr(spec, "inputs", None)
    if not inputs:
        return {"input": shapes[0]}
    return {
        "inputs": {
            name: NetworkInput(shape=shape, dtype=entry.dtype)
            if isinstance(entry, NetworkInput)
            else shape
            for (name, entry), shape in zip(inputs.items(), shapes)
        }
    }
