"""Runtime classes named after the spec: `type(model).__name__` is `ResNet50`, a block's
`Bottleneck`.

Tools that show a model by its class (torchinfo, Lightning's ModelSummary, `type(m).__name__`)
then show the architecture, as they do for torchvision's classes. Each class is a bare subclass
of archspec's runtime base (`SpecModule`, `SpecSequential`): it adds a name, no behaviour,
and is made once per (base, spec class, class name). Such a class cannot be found by import,
so instances pickle through `spec_instance`, which makes (or finds) the class again: pickling,
`copy.deepcopy` and `torch.save(model)` work as they do for the base classes.
"""

from __future__ import annotations

import keyword
import threading
from typing import Any

from ..ops.names import NAME_RE

_CLASSES: dict[tuple[Any, ...], type] = {}
_LOCK = threading.Lock()


def is_class_name(name: object) -> bool:
    """Whether `name` may be a class's `__name__`: an ASCII identifier, not a keyword."""
    return isinstance(name, str) and NAME_RE.match(name) is not None and not keyword.iskeyword(name)


def runtime_class(base: type, spec: str, name: str, inputs: tuple[str, ...] = ()) -> type:
    """The subclass of `base` named `name` for the spec whose class is `spec` (made once).

    A name that is no identifier (which validation never lets through) gives `base` itself,
    so no text from a spec becomes anything but an identifier. `inputs`: a network of several
    inputs' names, which its class's `forward` takes (`base.named_forward` writes it).
    """
    key: tuple[Any, ...] = (base, spec, name, inputs) if inputs else (base, spec, name)
    cls = _CLASSES.get(key)  # a key is only kept once its names were found identifiers
    if cls is None:
        if not all(map(is_class_name, (name, spec, *inputs))):
            return base
        with _LOCK:
            cls = _CLASSES.get(key)
            if cls is None:
                doc = f"`{name}` of the spec `{spec}`, built by archspec (a {base.__name__})."
                namespace = {
                    "__module__": base.__module__,
                    "__qualname__": name if name == spec else f"{spec}.{name}",
                    "__doc__": doc,
                    "_spec_key": key,
                }
                if inputs:
                    namespace["forward"] = base.named_forward(inputs)
                cls = type(base)(name, (base,), namespace)
                _CLASSES[key] = cls
    return cls


def spec_instance(base: type, spec: str, name: str, inputs: tuple[str, ...] = ()) -> Any:
    """An empty instance of the runtime class, for unpickling (state is set after)."""
    cls = runtime_class(base, spec, name, inputs)
    return cls.__new__(cls)


class NamedBySpec:
    """Mixin of the runtime bases: pickles an instance of a named class through
    `spec_instance` (an instance of the base itself pickles as any object does)."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        key = type(self).__dict__.get("_spec_key")
        if key is None:
            return super().__reduce_ex__(protocol)
        return spec_instance, key, self.__getstate__()
