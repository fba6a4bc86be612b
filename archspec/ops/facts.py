"""What `register` checks of a layer kind's class before it joins the registry: its spec
model (`type: Literal[kind]`) and the facts the passes read (`style`, `category`, `arity`,
...). A class that fails is refused loudly, never given a default."""

from __future__ import annotations

from typing import Literal

from .base import CATEGORIES, LayerSpec, Op


def checked_spec(op_cls: type[Op], kind: str) -> type[LayerSpec]:
    spec = getattr(op_cls, "spec", None)
    if not (isinstance(spec, type) and issubclass(spec, LayerSpec)):
        raise TypeError(f"{op_cls.__name__}: `spec` must subclass archspec.ops.LayerSpec")
    type_field = spec.model_fields.get("type")
    if type_field is None or type_field.annotation != Literal[kind]:  # type: ignore[valid-type]
        raise TypeError(f"{op_cls.__name__}: spec needs `type: Literal[{kind!r}]`")
    return spec


def check_made_spec(op_cls: type[Op], kind: str) -> None:
    """What `register` checks of a spec model, for one made after registration."""
    check_facts(op_cls, kind, checked_spec(op_cls, kind))


def check_facts(op_cls: type[Op], kind: str, spec: type[LayerSpec] | None) -> None:
    """The per-kind facts the passes read are valid, or the kind is refused now (those
    that read the spec model, once there is one)."""
    fields = {} if spec is None else spec.model_fields
    where = f"{op_cls.__name__} ({kind})"
    if op_cls.style not in ("module", "function", "tensor"):
        raise TypeError(f"{where}: `style` must be one of module, function, tensor")
    inferred = op_cls.inferred
    if not isinstance(inferred, tuple) or not all(isinstance(a, str) for a in inferred):
        raise TypeError(f"{where}: `inferred` must be a tuple of attribute names")
    if op_cls.category not in CATEGORIES:
        raise TypeError(f"{where}: `category` must be one of {', '.join(CATEGORIES)}")
    nd = op_cls.window_dims
    if isinstance(nd, bool) or not isinstance(nd, int) or not 0 <= nd <= 3:
        raise TypeError(f"{where}: `window_dims` must be 0, 1, 2 or 3")
    missing = [f for f in ("kernel_size", "padding") if f not in fields]
    if nd and missing and spec is not None:
        raise TypeError(f"{where}: a windowed layer needs the spec field(s) {', '.join(missing)}")
    label = op_cls.label_field
    if label is not None and label not in fields and spec is not None:
        raise TypeError(f"{where}: `label_field` {label!r} is not a field of its spec")
    if not isinstance(op_cls.join_sign, str):
        raise TypeError(f"{where}: `join_sign` must be a string")
    arity = op_cls.arity
    if op_cls.style == "tensor":
        if arity != 0:
            raise TypeError(f"{where}: a tensor op reads no input: `arity` must be 0")
    elif arity != "many" and (isinstance(arity, bool) or not isinstance(arity, int) or arity < 1):
        raise TypeError(f"{where}: `arity` must be a positive int or 'many'")
    more = op_cls.optional_inputs
    if type(more) is not int or more < 0 or (more and arity == "many"):
        raise TypeError(f"{where}: `optional_inputs` must be an int >= 0, and 0 for `arity` many")
    f = op_cls.names_field
    if f and spec is not None and (f not in fields or op_cls.style != "function"):
        raise TypeError(f"{where}: `names_field` must name a field of a function op's spec")
    if type(op_cls.flow_piece) is not int or op_cls.flow_piece not in (0, -1):
        raise TypeError(f"{where}: `flow_piece` must be 0 (the first output) or -1 (the last)")
    optional = op_cls.optional_tensors
    if not isinstance(optional, tuple) or not set(optional) <= {"weight", "bias"}:
        raise TypeError(f"{where}: `optional_tensors` must be a tuple of 'weight' and 'bias'")
