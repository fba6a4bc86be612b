"""Mutation fuzzer: mutated shipped specs either compile or fail with a located ArchSpecError.

Run it from the repository root::

    python -m tests.fuzz --examples 100000            # the long run (about 60 examples/s)
    python -m tests.fuzz --examples 2000 --seed 7     # another seed, shorter
    python -m tests.fuzz --replay 7:1234              # re-run one example, print its spec
    python -m tests.fuzz --save-dir fuzz-failures     # also write each failing spec there
    python -m tests.fuzz --more --examples 3000       # also from the specs users wrote in tests/

Each example starts from one of `specs/*.yaml`, applies one to four random mutations to its
data (drop, duplicate, add and rename keys; retype values; perturb numbers; splice subtrees
from any spec; rename layer types; rewire `from` and `name`; random expressions) and
sometimes to its text or bytes (duplicated lines, YAML tags and aliases, control bytes,
truncation), now and then spreads it over files as `use:` and `extends:` do (some of its
blocks in a library it imports, or the whole of it the base of a spec that extends it with
random overrides), and may override its params as `--set` would; free text (the description, a
block's or a param's doc, a str param's default) and names get hostile strings: docstring
closers, `Args:` lines, `\\N{...}` escapes, bidi controls, NUL and line breaks around a
payload that raises a canary flag if it ever runs. A few are passed as Python mappings
holding values only Python can (tuples, sets, objects, NaN, a cycle, a lone surrogate).
The result goes through the pipeline: load, validate, lower, verify, `check_limits`, the
symbolic shape check and input-domain solver of `archspec check`, and for a fraction of the
graphs what `archspec compile` does: emit the source and run it (`check_emitted_source`:
import it, build its class on the `meta` device, compare it with the compiled module). The
outcome must be a graph (or module) or an `ArchSpecError` whose every diagnostic has a
source span (a mapping has no text, so no span is asked of it). Anything else fails:
another exception, a diagnostic without a span, emitted source that fails its check, the
canary flag raised, or a case taking more than `--time-limit` seconds (default 1) of CPU
time. CPU time rather than wall time, so that a busy machine does
not fail a run; the slowest wall time is reported too, and a case that has used
`--hang-limit` seconds of CPU time (default 10), or six times that in wall time (a case
blocked without computing), is interrupted and counted as a failure.

Examples are numbered; example `i` of seed `s` is reproducible on its own (`--replay s:i`).
The exit status is 1 when any example failed. `tests/test_fuzz.py` runs the same mutator
under hypothesis in CI.
"""

from __future__ import annotations

import argparse
import base64
import builtins
import copy
import functools
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archspec import api
from archspec.compose.variants import variant_names
from archspec.constructs import CONSTRUCTS
from archspec.errors import ArchSpecError
from archspec.ir import iter_nodes
from archspec.loader import load_yaml
from archspec.lowering.values import decl_of
from archspec.ops import REGISTRY
from archspec.ops.base import RESERVED_NAMES
from archspec.passes.shapes import check_graph
from archspec.textdirection import BIDI_CONTROLS

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"

#: A case using more CPU time than this (seconds) is a failure.
TIME_LIMIT = 1.0
#: A case is interrupted after this many seconds of CPU time (process-wide, so a busy
#: machine does not trip it), or HANG_WALL_FACTOR times as many seconds of wall time.
HANG_LIMIT = 10.0
HANG_WALL_FACTOR = 6
#: CPU seconds allowed for running an emitted module (importing it and building its class
#: and the compiled one on meta, as `archspec compile` does). Torch's own construction cost,
#: so it is not part of TIME_LIMIT, which bounds archspec's analysis.
SELF_CHECK_LIMIT = 5.0
#: Graphs up to this many nodes are also built as modules on the meta device (building
#: costs torch ~0.2 ms per module, so bigger graphs would measure torch, not archspec).
COMPILE_MAX_NODES = 1500


# -- the corpus ------------------------------------------------------------------------------


@dataclass
class Corpus:
    """The shipped specs as text and data, plus the vocabulary mutations draw from."""

    texts: dict[str, str]
    data: dict[str, Any]
    names: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    layer_names: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    subtrees: list[Any] = field(default_factory=list)


#: The test folders whose specs `--more` adds to the shipped ones: networks users wrote from
#: the docs, exercising what the shipped zoo does not (several inputs, `outputs:` mappings,
#: `frozen:`, `tied:`, `pass_in_eval`, `reuse`, token models). Hostile fixtures are not bases.
MORE_DIRS = ("newuser*", "keyed*", "h4*")


def more_specs(time_limit: float = TIME_LIMIT) -> dict[str, str]:
    """The specs under tests/ MORE_DIRS names that check alone within half of `time_limit`
    CPU seconds (a slow base would fail every example drawn from it as a hang), by a
    name that says where each is."""
    tests = Path(__file__).resolve().parent
    found: dict[str, str] = {}
    for pattern in MORE_DIRS:
        for path in sorted(p for d in sorted(tests.glob(pattern)) for p in d.rglob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            start = time.process_time()
            try:
                data = load_yaml(text, str(path)).data
                api.check(text if "use:" not in text else path)
            except Exception:  # a base that does not load is no base
                continue
            if isinstance(data, dict) and time.process_time() - start < time_limit / 2:
                found[path.relative_to(tests).with_suffix("").as_posix()] = text
    return found


def load_corpus(
    specs_dir: Path = SPECS_DIR, more: bool = False, time_limit: float = TIME_LIMIT
) -> Corpus:
    """Read every shipped spec (and with `more`, the tests' user-written ones: more_specs)
    and collect their keys, names and subtrees."""
    texts = {p.stem: p.read_text(encoding="utf-8") for p in sorted(specs_dir.glob("*.yaml"))}
    if more:
        texts |= more_specs(time_limit)
    data = {name: load_yaml(text, f"specs/{name}.yaml").data for name, text in texts.items()}
    keys: set[str] = set()
    blocks: set[str] = set()
    layer_names: set[str] = set()
    params: set[str] = set()
    subtrees: list[Any] = []
    for spec in data.values():
        blocks |= set(spec.get("blocks", {}))
        params |= set(spec.get("params", {}))
        for block in spec.get("blocks", {}).values():
            params |= set(block.get("params", {}))
        for value in _walk(spec):
            if isinstance(value, dict):
                keys |= set(value)
                if isinstance(value.get("name"), str):
                    layer_names.add(value["name"])
            if isinstance(value, (dict, list)) and value:
                subtrees.append(value)
    return Corpus(
        texts=texts,
        data=data,
        names=tuple(texts),
        kinds=tuple(sorted({*REGISTRY, *CONSTRUCTS})),
        blocks=tuple(sorted(blocks)),
        keys=tuple(sorted(keys)),
        layer_names=tuple(sorted(layer_names)),
        params=tuple(sorted(params)),
        subtrees=subtrees,
    )


def shipped() -> list[tuple[Path, str | None]]:
    """(file, variant) of every shipped spec, in file order: each variant of a family file, a
    plain file once (the built-in index, which has parsed them already)."""
    return list(api.builtin_index().values())


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) pair in a tree: the places a mutation can touch."""
    out: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                out.append((cur, k))
                stack.append(v)
        elif isinstance(cur, list):
            for i, v in enumerate(cur):
                out.append((cur, i))
                stack.append(v)
    return out


def _containers(value: Any, kind: type) -> list[Any]:
    return [v for v in _walk(value) if isinstance(v, kind)]


# -- random values -----------------------------------------------------------------------------

_HOSTILE_STRINGS = (
    "",
    " ",
    "M",
    "same",
    "valid",
    "relu",
    "café",
    "конв",
    "a.b",
    "forward",
    "__class__",
    "lambda",
    "1e999",
    "-1e999",
    "nan",
    "10**10**10",
    "9**9**9**9",
    "__import__('os').system('true')",
    "(1).__class__",
    "lambda: 1",
    "[1, 2][0]",
    "max()",
    "abs(1, 2)",
    "1 // 0",
    "1 / 0.0",
    "'a' * 100",
    "x" * 600,
    "-" * 498 + "1",
    "(" * 300 + "1" + ")" * 300,
    "not " * 120 + "True",
    "in_channels",
    "i",
    "N",
)
#: Set on `builtins` by the payloads below if any spec text ever runs as code.
CANARY = "archspec_fuzz_canary_ran"
_TRIP = f"__import__('builtins').__setattr__('{CANARY}', 1)"
#: `_TRIP` between line breaks, as UTF-7 base64: code only in a file declaring `coding: utf-7`.
_UTF7_TRIP = "+" + base64.b64encode(f"\n{_TRIP}\n".encode("utf-16-be")).decode().rstrip("=") + "-"
#: Free text that broke out of emitted docstrings (issue 12) and its relatives: each payload
#: runs `_TRIP` if it is ever written as code.
_HOSTILE_TEXTS = (
    f'"""\n{_TRIP}\n"""',
    f"\n{_TRIP}\n",
    f'Args:\nx"""; {_TRIP}; """: y',
    f'Args:\n{_TRIP}: "',
    f'"""; {_TRIP} #',
    f"'''; {_TRIP}; '''",
    f'\\"""; {_TRIP} #\\',
    f'\r{_TRIP}\r"""',
    f"\x0c\n{_TRIP}",
    f'\u2028{_TRIP}\u2029"""',
    f"\\N{{SOME NAME}}{_TRIP}",
    "x \u2192 y \u2192 z, caf\u00e9 \u2014 na\u00efve " * 8,
    "\\N{BULLET} \\N{" + "x" * 120 + "\\N{RIGHTWARDS ARROW}" * 6,
    "\u202e\u2066bidi\u2069 \x00 NUL \x85 \ufeff \x7f",
    "{{ jinja }} {% if x %} # not a comment",
    '"',
    "\\",
    "Args:",
    f"coding:utf-7 {_UTF7_TRIP}#",
)
#: Lists are grown up to this length (just past the loader's limit of 10,000 items).
_MAX_LIST = 12_000
_BIG_INTS = (0, 1, -1, 2, 3, 7, 64, 1000, 10**6, 10**9, 10**12, 10**15, 10**15 + 1, -(10**15))
_FLOATS = (0.0, 0.5, 1.0, 1.5, -0.1, 1e-9, 1e300, float("nan"), float("inf"), -float("inf"))


def random_expr(rng: random.Random, corpus: Corpus, depth: int = 0) -> str:
    """A random expression over params, `in_channels`, `i` and numbers (often meaningful)."""
    r = rng.random()
    if depth > 2 or r < 0.3:
        if rng.random() < 0.5:
            return rng.choice((*corpus.params, "in_channels", "i", "planes", "stride"))
        return str(rng.choice((0, 1, 2, 3, 4, 64, -1, 1000, 10**9)))
    a = random_expr(rng, corpus, depth + 1)
    b = random_expr(rng, corpus, depth + 1)
    form = rng.randrange(6)
    if form == 0:
        return f"{a} {rng.choice(['+', '-', '*', '//', '/', '%', '**'])} {b}"
    if form == 1:
        return f"{a} {rng.choice(['==', '!=', '<', '>=', 'and', 'or'])} {b}"
    if form == 2:
        return f"{a} if {b} else {random_expr(rng, corpus, depth + 1)}"
    if form == 3:
        return f"{rng.choice(['min', 'max'])}({a}, {b})"
    if form == 4:
        return f"-({a})" if rng.random() < 0.5 else f"not {a}"
    return f"({a})"


def random_value(rng: random.Random, corpus: Corpus, depth: int = 0) -> Any:
    """A value of any type a spec can hold, biased towards edge cases."""
    r = rng.randrange(10 if depth < 2 else 7)
    if r == 0:
        return rng.choice(_BIG_INTS)
    if r == 1:
        return rng.randint(-10, 5000)
    if r == 2:
        return rng.choice(_FLOATS)
    if r == 3:
        return rng.choice((True, False, None))
    if r == 4:
        return rng.choice(_HOSTILE_STRINGS if rng.random() < 0.8 else _HOSTILE_TEXTS)
    if r == 5:
        return random_expr(rng, corpus)
    if r == 6:
        return rng.choice((*corpus.kinds, *corpus.blocks, *corpus.layer_names))
    if r == 7:
        return [random_value(rng, corpus, depth + 1) for _ in range(rng.randrange(4))]
    if r == 8:
        return {
            rng.choice(corpus.keys): random_value(rng, corpus, depth + 1)
            for _ in range(rng.randrange(3))
        }
    return copy.deepcopy(rng.choice(corpus.subtrees))


def perturb_number(rng: random.Random, n: Any) -> Any:
    """A number near, far from, or of another kind than `n`."""
    if isinstance(n, float):
        return rng.choice((n * 2, -n, n + 1, 0.0, n / 3, 1e308, *_FLOATS, round(n, 0)))
    return rng.choice(
        (
            n + 1,
            n - 1,
            -n,
            0,
            n * 2,
            n // 2,
            n * 1000,
            n * 10**6,
            n**2,
            rng.randint(-3, 3),
            rng.randint(0, 20_000),
            float(n),
            n + 0.5,
            *_BIG_INTS,
        )
    )


# -- mutations of the data ---------------------------------------------------------------------

Mutation = Callable[[random.Random, Any, Corpus], None]


def drop_key(rng: random.Random, data: Any, corpus: Corpus) -> None:
    dicts = [d for d in _containers(data, dict) if d]
    if dicts:
        d = rng.choice(dicts)
        d.pop(rng.choice(list(d)))


def add_key(rng: random.Random, data: Any, corpus: Corpus) -> None:
    dicts = _containers(data, dict)
    key = rng.choice(corpus.keys) if rng.random() < 0.8 else rng.choice(_HOSTILE_STRINGS[:12])
    rng.choice(dicts)[key] = random_value(rng, corpus)


def rename_key(rng: random.Random, data: Any, corpus: Corpus) -> None:
    dicts = [d for d in _containers(data, dict) if d]
    if not dicts:
        return
    d = rng.choice(dicts)
    old = rng.choice(list(d))
    new = rng.choice(
        (rng.choice(corpus.keys), old[:-1], old + "s", old.upper(), old.replace("_", ""))
    )
    if new and new not in d:
        d[new] = d.pop(old)


def retype_value(rng: random.Random, data: Any, corpus: Corpus) -> None:
    slots = _slots(data)
    if slots:
        container, key = rng.choice(slots)
        container[key] = random_value(rng, corpus)


def perturb_numbers(rng: random.Random, data: Any, corpus: Corpus) -> None:
    slots = [
        (c, k)
        for c, k in _slots(data)
        if isinstance(c[k], (int, float)) and not isinstance(c[k], bool)
    ]
    for container, key in rng.sample(slots, min(len(slots), rng.choice((1, 1, 2, 5)))):
        container[key] = perturb_number(rng, container[key])


def splice_subtree(rng: random.Random, data: Any, corpus: Corpus) -> None:
    # Always a copy: a piece of the corpus itself would be changed by later mutations.
    piece = copy.deepcopy(rng.choice(corpus.subtrees))
    # Sometimes placed twice: the dump then writes a YAML anchor and an alias. Never inside
    # the piece itself, which would make a cycle.
    inside = {id(v) for v in _walk(piece) if isinstance(v, (dict, list))}
    for _ in range(2 if rng.random() < 0.1 else 1):
        lists = [lst for lst in _containers(data, list) if id(lst) not in inside]
        if lists and rng.random() < 0.4:
            target = rng.choice(lists)
            target.insert(rng.randint(0, len(target)), piece)
            continue
        slots = [(c, k) for c, k in _slots(data) if id(c) not in inside]
        if slots:
            container, key = rng.choice(slots)
            container[key] = piece


def rename_type(rng: random.Random, data: Any, corpus: Corpus) -> None:
    typed = [d for d in _containers(data, dict) if "type" in d]
    if not typed:
        return
    d = rng.choice(typed)
    old = str(d["type"])
    d["type"] = rng.choice(
        (
            rng.choice(corpus.kinds),
            rng.choice(corpus.kinds),
            rng.choice(corpus.blocks or corpus.kinds),
            old + "x",
            old[:-1],
            old.capitalize(),
            rng.choice(_HOSTILE_STRINGS),
        )
    )


def rewire(rng: random.Random, data: Any, corpus: Corpus) -> None:
    """Set `from`, `name`, `when` or `train_only` of a layer to something plausible or not."""
    typed = [d for d in _containers(data, dict) if "type" in d]
    if not typed:
        return
    d = rng.choice(typed)
    names = [n for n in corpus.layer_names if rng.random() < 0.2] or ["input"]
    choice = rng.randrange(5)
    if choice == 0:
        d["from"] = rng.choice((rng.choice(names), names[:3], "input", "nowhere", []))
    elif choice == 1:
        d["name"] = rng.choice(
            (rng.choice(corpus.layer_names), *rng.sample(sorted(RESERVED_NAMES), 1), "0", "café")
        )
    elif choice == 2:
        d["when"] = random_expr(rng, corpus)
    elif choice == 3:
        d["train_only"] = rng.choice((True, False, "yes", 1))
    else:
        d["outputs"] = rng.choice((names, [], ["nowhere"], "fc"))


def reuse_node(rng: random.Random, data: Any, corpus: Corpus) -> None:
    """Insert a `reuse` into a layer list, of a node written above it (mostly), below it,
    in another list, of the input, of nothing, or of a number."""
    lists = [
        lst
        for lst in _containers(data, list)
        if any(isinstance(d, dict) and "type" in d for d in lst)
    ]
    if not lists:
        return
    lst = rng.choice(lists)
    at = rng.randrange(len(lst) + 1)
    names = [d.get("name") for d in lst if isinstance(d, dict)]
    above = [n for n in names[:at] if isinstance(n, str)]
    below = [n for n in names[at:] if isinstance(n, str)]
    target = rng.choice(
        (
            *(above[-1:] * 4),
            *above[:1],
            *below[:1],
            rng.choice(corpus.layer_names or ["x"]),
            "input",
            "nowhere",
            5,
        )
    )
    item: dict[str, Any] = {"type": "reuse", "node": target}
    if rng.random() < 0.5:
        item["from"] = rng.choice(("input", *above[-2:], *below[:1]))
    lst.insert(at, item)


def mutate_list(rng: random.Random, data: Any, corpus: Corpus) -> None:
    lists = [lst for lst in _containers(data, list) if lst]
    if not lists:
        return
    lst = rng.choice(lists)
    op = rng.randrange(5)
    if op == 0:
        lst.append(copy.deepcopy(rng.choice(lst)))
    elif op == 1:
        lst.pop(rng.randrange(len(lst)))
    elif op == 2:
        lst.reverse()
    elif op == 3:
        factor = min(rng.choice((2, 10, 100)), _MAX_LIST // len(lst))
        lst.extend(copy.deepcopy(lst) * factor)
    else:
        lst.clear()


def repeat_count(rng: random.Random, data: Any, corpus: Corpus) -> None:
    """Scale a repeat count or a cfg: expansion size is where hangs would hide."""
    repeats = [d for d in _containers(data, dict) if d.get("type") in ("repeat", "vgg_cfg")]
    if not repeats:
        perturb_numbers(rng, data, corpus)
        return
    d = rng.choice(repeats)
    if "count" in d:
        # one count in the list (3000) lowers up to the expansion limit: the slow case
        d["count"] = rng.choice((0, 1, 2, 5, 50, 100, 3000, 10_000, 10**6, "10**9", -1, "n"))
    elif isinstance(d.get("cfg"), list) and d["cfg"]:
        factor = rng.choice((2, 50, 500, 3000))
        d["cfg"] = d["cfg"] * min(factor, _MAX_LIST // len(d["cfg"]))


def _hostile(rng: random.Random) -> str:
    text = rng.choice(_HOSTILE_TEXTS)
    if rng.random() < 0.3:
        text = "".join(rng.choice(_HOSTILE_TEXTS) for _ in range(rng.randint(2, 4)))
    return text


def hostile_text(rng: random.Random, data: Any, corpus: Corpus) -> None:
    """A hostile string as free text: the description, a block's doc, a param's doc (at the
    root or in a block), or the default of a new str param that nothing uses."""
    if not isinstance(data, dict):
        return
    blocks = data.get("blocks")
    scopes = [data]
    if isinstance(blocks, dict):
        scopes += [b for b in blocks.values() if isinstance(b, dict)]
    scope = rng.choice(scopes)
    params = scope.get("params")
    where = rng.randrange(4)
    if where == 0 or (where == 1 and scope is data) or not isinstance(params, dict):
        data["description"] = _hostile(rng)
    elif where == 1:
        scope["doc"] = _hostile(rng)
    elif where == 2 and params:
        name = rng.choice(list(params))
        decl = params[name]
        if not isinstance(decl, dict):  # `planes: int` or `width: 64`, spelt out as the
            short = decl_of(decl)  # language reads it (a list default is a list param)
            decl = {"type": short.type}
            if short.default is not None:
                decl["default"] = short.default
            params[name] = decl
        decl["doc"] = _hostile(rng)
    else:
        params[f"note{rng.randrange(3)}"] = {"type": "str", "default": _hostile(rng)}


def hostile_name(rng: random.Random, data: Any, corpus: Corpus) -> None:
    """A hostile string as a name: of a layer, a block or a param (the schema refuses it)."""
    if not isinstance(data, dict):
        return
    named = [d for d in (data.get("blocks"), data.get("params")) if isinstance(d, dict) and d]
    layers = [d for d in _containers(data, dict) if "type" in d]
    if named and (not layers or rng.random() < 0.5):
        target = rng.choice(named)
        target[_hostile(rng)] = target.pop(rng.choice(list(target)))
    elif layers:
        rng.choice(layers)["name"] = _hostile(rng)


DATA_MUTATIONS: tuple[Mutation, ...] = (
    drop_key,
    add_key,
    rename_key,
    retype_value,
    perturb_numbers,
    perturb_numbers,
    splice_subtree,
    rename_type,
    rewire,
    reuse_node,
    mutate_list,
    repeat_count,
    hostile_text,
    hostile_text,
    hostile_name,
)


# -- mutations of the text and bytes --------------------------------------------------------------

_TOKENS = (
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!binary aGk=",
    "!custom",
    "&a ",
    "*a",
    "<<: *a",
    "\n---\n",
    "\t",
    "\x07",
    "\ufeff",
    "é",
    "{",
    "}",
    "[",
    "]",
    ": ",
    "- ",
    "'",
    '"',
    "#",
    "%YAML 1.1\n",
    "%YAML 1.2\n---\n",
    "! ",
    "? ",
    "|",
    ">",
    "~",
    ".nan",
    "1e999",
    "0x1F",
    "0o17",
    "1_000",
    "2024-01-01",
    "yes",
    "9" * 40,
)


def mutate_text(rng: random.Random, text: str) -> str:
    """A line- or character-level edit: duplicate keys, stray YAML syntax, truncation."""
    lines = text.split("\n")
    op = rng.randrange(7)
    i = rng.randrange(len(lines))
    if op == 0:
        lines.insert(i, lines[i])  # often a duplicate key
    elif op == 1:
        del lines[i]
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:
        lines[i] = (" " * rng.choice((1, 2, 4))) + lines[i]
    elif op == 4:
        pos = rng.randint(0, len(text))
        return text[:pos] + rng.choice(_TOKENS) + text[pos:]
    elif op == 5:
        return text[: rng.randint(0, len(text))]
    else:
        line = lines[i]
        if line:
            k = rng.randrange(len(line))
            lines[i] = line[:k] + rng.choice(_TOKENS) + line[k + 1 :]
    return "\n".join(lines)


class _Opaque:
    """An object that is no spec value at all."""


def python_only(rng: random.Random, data: Any) -> None:
    """Values only a Python caller can pass: tuples, sets, bytes, objects, NaN, huge ints,
    a container holding itself."""
    slots = _slots(data)
    if not slots:
        return
    container, key = rng.choice(slots)
    value = container[key]
    container[key] = rng.choice(
        (
            tuple(value) if isinstance(value, list) else (value,),
            {1, 2},
            b"bytes",
            _Opaque(),
            float("nan"),
            10**40,
            -(10**40),
            data,  # a cycle
            f"\ud800 a lone surrogate {_TRIP}",
            {3: "int key"},
            value,
        )
    )


def mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    """Encoding damage: invalid UTF-8, NUL bytes, UTF-16, a stray BOM."""
    op = rng.randrange(4)
    pos = rng.randint(0, len(raw))
    if op == 0:
        return raw[:pos] + rng.choice((b"\xff", b"\xe9", b"\xe2\x82", b"\xc0\xaf")) + raw[pos:]
    if op == 1:
        return raw[:pos] + b"\x00" + raw[pos:]
    if op == 2:
        return raw.decode("utf-8").encode("utf-16")
    return b"\xef\xbb\xbf" + raw


def random_params(rng: random.Random, data: Any, corpus: Corpus) -> dict[str, Any]:
    """Param overrides as Python values or as `--set` text."""
    params = data.get("params") if isinstance(data, dict) else None
    declared = list(params) if isinstance(params, dict) else []
    names = declared + [rng.choice(corpus.params), "nosuchparam"]
    out: dict[str, Any] = {}
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(names)
        if rng.random() < 0.5:
            out[key] = random_value(rng, corpus)
        else:
            out[key] = rng.choice(("12", "-3", "1e999", "nan", "true", "[64, M]", "[64, ", "", "0"))
    return out


#: The file a case's spec is read from when it comes with files of its own (`Case.files`).
MAIN_FILE = "fuzz.yaml"


def split_files(rng: random.Random, data: Any, corpus: Corpus) -> tuple[str, dict[str, str]]:
    """The spec spread over files as `use:` and `extends:` spread one: some of its blocks
    moved to a library it imports (`lib.yaml`, perhaps mutated itself, imported under
    aliases), or the whole spec made the base (`base.yaml`) of one that extends it (a
    variant of it, or one it lacks) with random overrides: params, `remove`, `replace`,
    `insert`, a block swap, lets, variants of its own, hostile text. Returns the text of
    MAIN_FILE and the other files' texts by name; errors must point into the right file."""
    files: dict[str, str] = {}
    blocks = data.get("blocks")
    if isinstance(blocks, dict) and blocks and rng.random() < 0.8:
        moved = rng.sample(list(blocks), rng.randint(1, len(blocks)))
        lib: dict[str, Any] = {"archspec": 1, "blocks": {n: blocks.pop(n) for n in moved}}
        if rng.random() < 0.3:
            lib["description"] = _hostile(rng)
        if rng.random() < 0.3:
            rng.choice(DATA_MUTATIONS)(rng, lib, corpus)
        names: list[Any] = [n if rng.random() < 0.8 else {n: f"{n}X"} for n in moved]
        if rng.random() < 0.1:
            names.append(rng.choice((*corpus.blocks, *corpus.kinds, "Nope")))
        uses = data.get("use")
        data["use"] = [{"from": "lib.yaml", "blocks": names}] + (
            uses if isinstance(uses, list) else []
        )
        if not blocks:
            del data["blocks"]
        files["lib.yaml"] = _dump(lib)
    if files and rng.random() < 0.5:
        return _dump(data), files
    files["base.yaml"] = _dump(data)
    variants = variant_names(data)
    child: dict[str, Any] = {"archspec": 1, "extends": "base.yaml"}
    if variants and rng.random() < 0.9:
        child["extends"] = {"from": "base.yaml", "variant": rng.choice([*variants, "nope"])}
    layers = data.get("layers")
    written = (
        [x.get("name") for x in layers if isinstance(x, dict)] if isinstance(layers, list) else []
    )
    names = [n for n in written if isinstance(n, str)] or ["nothing"]
    params = data.get("params")
    declared = list(params) if isinstance(params, dict) and params else ["nosuchparam"]
    for _ in range(rng.randint(1, 3)):
        what = rng.randrange(8)
        if what == 0:
            child.setdefault("params", {})[rng.choice(declared)] = random_value(rng, corpus)
        elif what == 1:
            child.setdefault("remove", []).append(rng.choice(names))
        elif what == 2:
            child.setdefault("replace", {})[rng.choice(names)] = copy.deepcopy(
                rng.choice(corpus.subtrees)
            )
        elif what == 3:
            where = {rng.choice(("before", "after")): rng.choice(names)}
            piece = copy.deepcopy(rng.choice(corpus.subtrees))
            child.setdefault("insert", []).append({**where, "layers": [piece]})
        elif what == 4 and corpus.blocks:
            child.setdefault("blocks", {})[rng.choice(corpus.blocks)] = rng.choice(corpus.blocks)
        elif what == 5:
            child["name"] = rng.choice(("child", _hostile(rng)))
            child["description"] = _hostile(rng)
        elif what == 6:
            child.setdefault("let", {})[rng.choice(declared)] = random_expr(rng, corpus)
        else:
            child["variants"] = {
                f"child{i}": {"params": {rng.choice(declared): random_value(rng, corpus)}}
                for i in range(rng.randint(1, 3))
            }
    return _dump(child), files


# -- cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    """One mutated spec: where it came from, what was done, and the source to compile."""

    origin: str
    mutations: tuple[str, ...]
    text: str
    raw: bytes | None = None
    params: dict[str, Any] = field(default_factory=dict)
    compile_meta: bool = False
    #: when set, the spec is given as this Python mapping instead of text (no spans then)
    data: Any = None
    #: the variant asked for (a family file's origin: one of its variants, or now and then
    #: none, which must be the located E113)
    variant: str | None = None
    #: other files the spec reads (`use:`, `extends:`), by name: the spec is then MAIN_FILE
    #: beside them in a folder of its own
    files: dict[str, str] = field(default_factory=dict)


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _dump(data: Any) -> str:
    """YAML text of `data`, non-ASCII characters raw; escaped all when a text holds one of the
    line breaks an editor does not show (U+2028, U+2029) or a bidi control, which the emitter
    writes raw in a quoted scalar and archspec refuses there (E105: a file would show other
    text than it holds); escaped, they reach the values as the hostile text they are."""
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    if "\u2028" in text or "\u2029" in text or "\x85" in text or BIDI_CONTROLS.search(text):
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=100)
    return text


def make_case(rng: random.Random, corpus: Corpus, compile_fraction: float = 0.1) -> Case:
    """Draw a spec and mutate it; all randomness comes from `rng`."""
    origin = rng.choice(corpus.names)
    steps: list[str] = []
    # Only a family draws its variant, so plain origins keep the sequence of earlier seeds.
    variants = variant_names(corpus.data[origin])
    variant = rng.choice(variants) if variants and rng.random() < 0.9 else None
    data: Any = None
    if rng.random() < 0.1:
        text = corpus.texts[origin]  # the original text, comments and flow style kept
    else:
        data = copy.deepcopy(corpus.data[origin])
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
            mutation = rng.choice(DATA_MUTATIONS)
            mutation(rng, data, corpus)
            steps.append(mutation.__name__)
        text = _dump(data)
        if rng.random() < 0.05:
            python_only(rng, data)
            steps.append("as_mapping")
            meta = rng.random() < compile_fraction
            return Case(origin, tuple(steps), text, None, {}, meta, data, variant)
    text_mutated = rng.random() < 0.2
    if text_mutated:
        text = mutate_text(rng, text)
        steps.append("mutate_text")
    raw = None
    if rng.random() < 0.05:
        raw = mutate_bytes(rng, text.encode("utf-8"))
        steps.append("mutate_bytes")
    params: dict[str, Any] = {}
    if rng.random() < 0.15:
        try:
            params = random_params(rng, yaml.load(text, Loader=_Loader), corpus)
        except yaml.YAMLError:
            params = {"nosuchparam": 1}
        steps.append("params")
    meta = rng.random() < compile_fraction
    files: dict[str, str] = {}
    # drawn last, so every case of an earlier seed that is not split stays as it was
    if rng.random() < 0.1 and isinstance(data, dict) and raw is None and not text_mutated:
        text, files = split_files(rng, data, corpus)
        steps.append("split_files")
        if "base.yaml" in files:
            variants = variant_names(yaml.load(text, Loader=_Loader))
            variant = rng.choice(variants) if variants else None
    return Case(origin, tuple(steps), text, raw, params, meta, None, variant, files)


# -- running a case -----------------------------------------------------------------------------


@dataclass
class Result:
    """What a case did: `outcome` is "ok", "compiled" or "error"; `failure` is why it failed."""

    outcome: str = ""
    codes: tuple[str, ...] = ()
    seconds: float = 0.0  # CPU time of this process, which machine load barely changes
    wall: float = 0.0
    nodes: int = 0
    failure: str | None = None
    self_check: float = 0.0  # CPU time of running the emitted module (not in `seconds`)


class _Hang(Exception):
    pass


#: True while a case runs under the hang timers: a timer that fires as the case ends (in
#: the `finally` that disarms it) must not raise there.
_ARMED = False


def _on_alarm(signum: int, frame: Any) -> None:
    """The first timer to fire interrupts the case; the other one, firing while the case's
    interruption is handled (the CPU timer after the wall one on a loaded machine: a CI run
    saw SIGPROF raise inside `_disarm`), is ignored."""
    global _ARMED
    if _ARMED:
        _ARMED = False
        raise _Hang


_TIMERS = (
    (
        (signal.SIGPROF, signal.ITIMER_PROF, 1.0),
        (signal.SIGALRM, signal.ITIMER_REAL, float(HANG_WALL_FACTOR)),
    )
    if hasattr(signal, "setitimer")
    else ()
)


def _arm(hang_limit: float) -> list[Any]:
    """Start the CPU-time and wall-time hang timers; returns the handlers they replaced."""
    global _ARMED
    previous = [signal.signal(sig, _on_alarm) for sig, _, _ in _TIMERS]
    _ARMED = True
    for _, which, factor in _TIMERS:
        signal.setitimer(which, hang_limit * factor)
    return previous


def _disarm(previous: list[Any]) -> None:
    global _ARMED
    _ARMED = False
    for (sig, which, _), handler in zip(_TIMERS, previous):
        signal.setitimer(which, 0)
        signal.signal(sig, handler)


def run_case(
    case: Case,
    time_limit: float = TIME_LIMIT,
    hang_limit: float = HANG_LIMIT,
    self_check_limit: float = SELF_CHECK_LIMIT,
) -> Result:
    """Run `case` through the pipeline and judge the outcome.

    A case over the time limit is run once more and the faster run counts: CPU time still
    inflates a little on a busy machine, while a real slow path is slow both times.
    """
    result = _run_once(case, hang_limit, self_check_limit)
    if result.failure is None and result.seconds > time_limit:
        again = _run_once(case, hang_limit, self_check_limit)
        result.seconds = min(result.seconds, again.seconds)
        result.wall = min(result.wall, again.wall)
    if result.failure is None and result.seconds > time_limit:
        result.failure = (
            f"took {result.seconds:.2f} s of CPU (limit {time_limit} s; "
            f"{result.wall:.2f} s wall), {result.nodes} nodes"
        )
    return result


def _run_once(case: Case, hang_limit: float, self_check_limit: float) -> Result:
    result = Result()
    tmp: tempfile.TemporaryDirectory[str] | None = None
    source: Any = case.text if case.text.endswith("\n") else case.text + "\n"
    if case.data is not None:
        source = case.data
    elif case.raw is not None:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "fuzz.yaml"
        path.write_bytes(case.raw)
        source = path
    elif case.files:
        tmp = tempfile.TemporaryDirectory()
        for name, text in {**case.files, MAIN_FILE: source}.items():
            (Path(tmp.name) / name).write_text(text, encoding="utf-8")
        source = Path(tmp.name) / MAIN_FILE
    previous = _arm(hang_limit)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        graph = api.build_graph(source, case.params, variant=case.variant)
        api.check_limits(graph)
        result.nodes = sum(1 for _ in iter_nodes(graph.root))
        result.outcome = "ok"
        # What `archspec check` adds: the symbolic shape pass and the input-domain solver.
        checked = check_graph(graph)
        unlocated = [d for d in checked.diagnostics if d.span is None]
        if unlocated and case.data is None:
            first = unlocated[0]
            result.failure = f"check diagnostic without a span: [{first.code}] {first.message}"
        checked.render()
        if case.compile_meta and result.nodes <= COMPILE_MAX_NODES:
            from archspec.backends.pysource import render_module
            from archspec.backends.selfcheck import check_emitted_source

            source = render_module(graph)  # the source `archspec emit` writes
            check_start = time.process_time()
            try:  # what `archspec compile` checks before writing it: it builds the same model
                check_emitted_source(source, graph)
            except ArchSpecError as exc:
                result.failure = f"the emitted module fails its check: {exc}"
            result.self_check = time.process_time() - check_start
            if result.self_check > self_check_limit:
                result.failure = f"running the emitted module took {result.self_check:.2f} s"
            result.outcome = "compiled"
    except ArchSpecError as exc:
        result.outcome = "error"
        result.codes = tuple(exc.codes)
        exc.render()  # what the CLI prints must not fail either
        unlocated = [d for d in exc.diagnostics if d.span is None]
        if unlocated and case.data is None:  # a mapping has no text to point into
            first = unlocated[0]
            result.failure = f"diagnostic without a span: [{first.code}] {first.message}"
    except _Hang:
        result.failure = (
            f"no result after {hang_limit:.0f} s of CPU or {hang_limit * HANG_WALL_FACTOR:.0f} s "
            "of wall time (interrupted)"
        )
    except Exception:
        result.failure = "".join(traceback.format_exc(limit=-6))
    finally:
        _disarm(previous)
        if hasattr(builtins, CANARY):  # set by a payload in `_HOSTILE_TEXTS` that ran
            delattr(builtins, CANARY)
            result.failure = "spec text ran as code"
        if tmp is not None:
            tmp.cleanup()
    result.seconds = time.process_time() - cpu_start - result.self_check
    result.wall = time.perf_counter() - start
    return result


def example_rng(seed: int, index: int) -> random.Random:
    """The random source of example `index` of run `seed` (replayable alone)."""
    return random.Random(seed * 1_000_003 + index)


@functools.cache
def warm_up() -> None:
    """Emit and self-check shipped specs once per process, so that one-time costs (importing
    torch, jinja2 and plugin modules, building the schema, loading the templates, each layer
    kind's first torch call) are not timed as part of the first cases. A few specs whose
    layer kinds cover every kind the shipped specs use are enough: self-checking all of
    them would cost a minute for nothing."""
    from archspec.backends.pysource import render_module
    from archspec.backends.selfcheck import check_emitted_source
    from archspec.ir import iter_nodes

    first: dict[Path, str | None] = {}
    for path, variant in shipped():
        first.setdefault(path, variant)  # one variant per file is enough to warm up
    graphs = [api.build_graph(path, variant=variant) for path, variant in first.items()]
    kinds = [{node.kind for _, node in iter_nodes(g.root)} for g in graphs]
    left = set().union(*kinds)
    while left:  # greedily, the spec that brings the most kinds not yet covered
        best = max(range(len(graphs)), key=lambda k: len(kinds[k] & left))
        check_emitted_source(render_module(graphs[best]), graphs[best])
        left -= kinds[best]


# -- command line ------------------------------------------------------------------------------


def _describe(case: Case) -> str:
    body = case.text if case.raw is None else repr(case.raw[:2000])
    body += "".join(f"\n--- {name}\n{text}" for name, text in case.files.items())
    if len(body) > 4000:
        body = body[:4000] + "\n... (truncated)"
    return (
        f"origin: {case.origin}; mutations: {', '.join(case.mutations) or 'none'}; "
        f"params: {case.params!r}\n{body}"
    )


def run(
    examples: int,
    seed: int,
    *,
    time_limit: float = TIME_LIMIT,
    hang_limit: float = HANG_LIMIT,
    compile_fraction: float = 0.1,
    save_dir: Path | None = None,
    out: Any = sys.stdout,
    more: bool = False,
) -> int:
    """Run `examples` cases; print a summary; return the number of failures."""
    corpus = load_corpus(more=more, time_limit=time_limit)
    warm_up()
    outcomes: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    failures = 0
    slowest = (0.0, -1)
    slowest_wall = (0.0, -1)
    slowest_check = (0.0, -1)
    hostile_emitted = 0
    started = time.perf_counter()
    for i in range(examples):
        case = make_case(example_rng(seed, i), corpus, compile_fraction)
        result = run_case(case, time_limit, hang_limit)
        outcomes[result.outcome or "failed"] += 1
        codes.update(set(result.codes))
        if result.seconds > slowest[0]:
            slowest = (result.seconds, i)
        if result.wall > slowest_wall[0]:
            slowest_wall = (result.wall, i)
        if result.self_check > slowest_check[0]:
            slowest_check = (result.self_check, i)
        if result.outcome == "compiled" and "hostile_text" in case.mutations:
            hostile_emitted += 1
        if result.failure is not None:
            failures += 1
            print(f"FAIL {seed}:{i} {result.failure}\n{_describe(case)}\n", file=out)
            if save_dir is not None:
                save_dir.mkdir(parents=True, exist_ok=True)
                (save_dir / f"fail-{seed}-{i}.yaml").write_bytes(
                    case.raw if case.raw is not None else case.text.encode("utf-8")
                )
        if (i + 1) % 5000 == 0:
            print(f"... {i + 1} examples, {failures} failures", file=out, flush=True)
    elapsed = time.perf_counter() - started
    print(
        f"{examples} examples (seed {seed}) in {elapsed:.0f} s: {failures} failures; "
        f"outcomes {dict(sorted(outcomes.items()))}; slowest {slowest[0]:.3f} s CPU "
        f"(example {seed}:{slowest[1]}), {slowest_wall[0]:.3f} s wall "
        f"(example {seed}:{slowest_wall[1]})",
        file=out,
    )
    print(
        f"emitted modules run: {outcomes['compiled']} ({hostile_emitted} with hostile text); "
        f"slowest self-check {slowest_check[0]:.3f} s CPU (example {seed}:{slowest_check[1]})",
        file=out,
    )
    print("error codes seen: " + ", ".join(f"{c} x{n}" for c, n in sorted(codes.items())), file=out)
    return failures


def main(argv: list[str] | None = None) -> int:
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=summary)
    parser.add_argument("--examples", type=int, default=10_000, help="how many cases to run")
    parser.add_argument("--seed", type=int, default=0, help="run seed (examples are seed:index)")
    parser.add_argument(
        "--time-limit", type=float, default=TIME_LIMIT, help="CPU seconds allowed per case"
    )
    parser.add_argument(
        "--hang-limit",
        type=float,
        default=HANG_LIMIT,
        help="CPU seconds before interrupting (wall: 6x)",
    )
    parser.add_argument(
        "--compile-fraction", type=float, default=0.1, help="share of cases built on meta"
    )
    parser.add_argument("--save-dir", type=Path, help="write failing specs here")
    parser.add_argument("--replay", metavar="SEED:INDEX", help="run and print one example")
    parser.add_argument(
        "--more",
        action="store_true",
        help="also start from the specs users wrote in tests/ (newuser*, ...): newer features",
    )
    args = parser.parse_args(argv)
    if args.replay:
        seed, _, index = args.replay.partition(":")
        corpus = load_corpus(more=args.more, time_limit=args.time_limit)
        warm_up()
        case = make_case(example_rng(int(seed), int(index)), corpus, args.compile_fraction)
        result = run_case(case, args.time_limit, args.hang_limit)
        print(_describe(case))
        print(
            f"-> {result.outcome or 'failed'} {' '.join(sorted(set(result.codes)))} "
            f"({len(result.codes)} diagnostics) in {result.seconds:.3f} s CPU, "
            f"{result.wall:.3f} s wall" + (f"\n{result.failure}" if result.failure else "")
        )
        return 1 if result.failure else 0
    failures = run(
        args.examples,
        args.seed,
        time_limit=args.time_limit,
        hang_limit=args.hang_limit,
        compile_fraction=args.compile_fraction,
        save_dir=args.save_dir,
        more=args.more,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
