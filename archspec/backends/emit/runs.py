"""Runs of equal constructors in an emitted chain written once, as a comprehension: what
a hand-written file does with `[Block(...) for _ in range(k)]` (a ResNet stage's identical
blocks) or with names that count up (`(f"block3-{i}", Block(...)) for i in range(1, 11)`)."""

from __future__ import annotations

import re

from ..pycode import lit
from ..pylayout import Comp, Doc, Group, Prefixed, Text, flat


def compress(docs: list[Doc]) -> list[Doc]:
    """Runs of three or more equal constructors as `*[Block(...) for _ in range(k)]`."""
    out: list[Doc] = []
    i = 0
    while i < len(docs):
        j = i
        while j < len(docs) and flat(docs[j]) == flat(docs[i]):
            j += 1
        if j - i >= 3:
            out.append(Prefixed("*", Comp(docs[i], f"for _ in range({j - i})")))
        else:
            out += docs[i:j]
        i = j
    return out


#: a name that ends in its index (`block3-7`): the prefix, and the index without leading zeros
_INDEXED_NAME = re.compile(r"(.*?)(0|[1-9][0-9]*)")


def compress_named(names: list[str], docs: list[Doc]) -> list[Doc]:
    """A named chain's `(name, constructor)` pairs, with runs of three or more equal
    constructors whose names count up by one after a common prefix (RegNet's `block3-1` ...
    `block3-10`) as one `*[(f"block3-{i}", Block(...)) for i in range(1, 11)]`."""
    out: list[Doc] = []
    i = 0
    while i < len(docs):
        j = i + 1
        head = _INDEXED_NAME.fullmatch(names[i])
        if head is not None and not set(head[1]) & set("{}\\'\"\n\r"):
            first = int(head[2])
            while j < len(docs) and flat(docs[j]) == flat(docs[i]):
                if names[j] != f"{head[1]}{first + j - i}":
                    break
                j += 1
        if j - i >= 3:
            assert head is not None
            var = next(v for v in ("i", "j", "k", "idx") if v not in _words(flat(docs[i])))
            name = Text("f" + lit(f"{head[1]}{{{var}}}"))
            pair = Group("(", (name, docs[i]), ")")
            bounds = f"{first}, {j - i + first}" if first else f"{j - i}"
            out.append(Prefixed("*", Comp(pair, f"for {var} in range({bounds})")))
        else:
            out += [Group("(", (Text(lit(n)), d), ")") for n, d in zip(names[i:j], docs[i:j])]
        i = j
    return out


def _words(code: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", code))


def ordered_dict(pairs: list[Doc]) -> Doc:
    """`OrderedDict([...])` of `pairs`; of one run alone, `OrderedDict(pair for i in ...)`
    (torchvision's ViT encoder: `f"encoder_layer_{i}"` for each of its layers)."""
    if len(pairs) == 1 and isinstance(pairs[0], Prefixed) and isinstance(pairs[0].doc, Comp):
        run = pairs[0].doc
        return Comp(run.elt, run.clause, "OrderedDict(", ")")
    return Group("OrderedDict(", (Group("[", tuple(pairs), "]"),), ")")
