"""What the init method must know of each layer's module, asked of the op registry.

- Its class is the one the op's emitted constructor names (`nn.Conv2d(...)`, or a class of
  the op's support code), and what that class derives from is read without building
  anything: torch.nn's classes are looked up by name, support classes by the bases their
  source names (`class Gate(nn.Module)`).
- Which of `weight` / `bias` it holds comes from the op (`Op.init_tensors(attrs)`; a
  tensor it leaves out is an attribute set to None where `Op.optional_tensors` names it, as
  torch's layers do for `bias=False`, and no attribute otherwise), and the modules inside it
  from `Op.submodules(attrs)`. Every built-in op declares both, so emitting code builds no
  built-in layer; what a plugin does not declare is read off its module built on the meta
  device (`_built`), the one place the emitter still builds a module.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from ...ir import Node
from ...lazymethods import dataclass
from ...ops import REGISTRY
from ..pycode import lit
from ..pylayout import Group, parse_doc
from ..pyvalues import frozen

#: The attributes init rules set.
TARGETS = ("weight", "bias")


@dataclass(frozen=True)
class LayerFacts:
    """One layer's module as the init method sees it."""

    #: attribute -> whether it holds a tensor (False: the attribute is there, set to None)
    tensors: Mapping[str, bool]
    #: (path inside the layer, the classes that module is an instance of)
    inner: tuple[tuple[str, frozenset[str]], ...]


def class_text(node: Node) -> str:
    """The class the op's emitted constructor calls (`nn.Conv2d`), or "" for a non-call."""
    doc = parse_doc(REGISTRY[node.kind].emit(dict(node.attrs), lit))
    return doc.head[:-1] if isinstance(doc, Group) else ""


class ClassNames:
    """Which classes, as emitted code names them, an instance of a class is an instance of."""

    def __init__(self, support: Sequence[str]) -> None:
        #: support classes -> the names of their bases, as their source writes them
        self.bases: dict[str, list[str]] = {}
        for text in support:
            for stmt in ast.parse(text).body:
                if isinstance(stmt, ast.ClassDef):
                    self.bases[stmt.name] = [ast.unparse(b) for b in stmt.bases]

    def ancestors(self, text: str, _seen: frozenset[str] = frozenset()) -> frozenset[str]:
        """`text` and every class it derives from that emitted code could name."""
        if text in self.bases and text not in _seen:
            out = {text}
            for base in self.bases[text]:
                out |= self.ancestors(base, _seen | {text})
            return frozenset(out)
        name = text.removeprefix("torch.")
        if name.startswith("nn.") and name.count(".") == 1:
            return _torch_ancestors(name[3:]) or frozenset({text})
        return frozenset({text})


@lru_cache(maxsize=512)
def _torch_ancestors(name: str) -> frozenset[str]:
    """`nn.<name>` and the torch.nn classes it derives from (`nn.ReLU6` is a `nn.Hardtanh`)."""
    import torch.nn as nn

    cls = getattr(nn, name, None)
    return torch_class_names(cls) if isinstance(cls, type) else frozenset()


def torch_class_names(cls: type) -> frozenset[str]:
    """The `nn.X` names of a class and of the torch.nn classes it derives from."""
    import torch.nn as nn

    names = {f"nn.{c.__name__}" for c in cls.__mro__ if getattr(nn, c.__name__, None) is c}
    return frozenset(names or {f"<{cls.__qualname__}>"})


class LayerFactsCache:
    """`LayerFacts` by kind and attributes, each found once per emitted file; `names` resolves
    the classes a declared submodule is an instance of (support classes included)."""

    def __init__(self, names: ClassNames | None = None) -> None:
        self._names = names or ClassNames(())
        self._facts: dict[Any, LayerFacts] = {}

    def of(self, kind: str, attrs: Mapping[str, Any]) -> LayerFacts:
        key = (kind, frozen(attrs))
        facts = self._facts.get(key)
        if facts is None:
            facts = self._facts[key] = self._find(kind, attrs)
        return facts

    def _find(self, kind: str, attrs: Mapping[str, Any]) -> LayerFacts:
        """The op's declared facts; what it does not declare, read off its built module."""
        op = REGISTRY[kind]
        public = {k: v for k, v in attrs.items() if not k.startswith("_")}
        declared = op.init_tensors(public)
        inner = op.submodules(public)
        built = _built(kind, public) if declared is None or inner is None else None
        if declared is None:
            assert built is not None
            tensors = built.tensors
        else:
            optional = getattr(op, "optional_tensors", ())
            tensors = {t: t in declared for t in TARGETS if t in declared or t in optional}
        if inner is None:
            assert built is not None
            return LayerFacts(tensors, built.inner)
        classes = tuple((path, self._names.ancestors(text)) for path, text in inner)
        return LayerFacts(tensors, classes)


def _built(kind: str, attrs: Mapping[str, Any]) -> LayerFacts:
    """The facts read off the module built on the meta device (ops that declare none)."""
    import torch

    with torch.device("meta"):
        mod = REGISTRY[kind].build(attrs)
    tensors = {
        n: isinstance(getattr(mod, n, None), torch.Tensor) for n in TARGETS if hasattr(mod, n)
    }
    inner = tuple((name, torch_class_names(type(sub))) for name, sub in mod.named_modules() if name)
    return LayerFacts(tensors, inner)
