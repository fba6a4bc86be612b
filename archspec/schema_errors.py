"""Pydantic's validation errors as located diagnostics: its `loc` mixes data keys with union
tags (`layers.0.conv2d.kernel_size.int`); `data_path` walks it against the data to recover the
YAML path, and `errors_to_diagnostics` merges the alternatives of a union into one message, so
a user reads one error per mistake, at its line and column, with a hint (validate.py runs the
schema; this module words what it refused)."""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import VALIDATOR_HINT, Diagnostic
from .expr import ExprError, cut_tail_hint, parse_expr
from .loader import LoadedDoc, PathKey
from .ops import REGISTRY
from .ops.fromspec import KEYWORD_FIELDS
from .schema import check_name, models, spec_model
from .schema_inputs import NetworkInput

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "string_type": "a string (an expression)",
    "bool_type": "true or false",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "literal_error": None,
    "none_required": "nothing (null)",
}


_BOUND_ERRORS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "too_short",
    "too_long",
    "string_too_long",
    "string_too_short",
}


#: a bare item that reads as a layer kind or block name (`- relu`)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


def data_path(
    loc: tuple[Any, ...], data: Any, missing: bool = False
) -> tuple[PathKey, tuple[str, ...]]:
    """Split a Pydantic loc into the YAML path and the union tags passed through.

    A part that is not a key of the data is a union tag (`int`, `list[...]`, a layer kind),
    except the last part of a `missing` error, which names the absent field.
    """
    path: list[str | int] = []
    tags: list[str] = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and isinstance(part, str):
            key = KEYWORD_FIELDS[part] if KEYWORD_FIELDS.get(part) in cur else part
            if key in cur:
                path.append(key)
                cur = cur[key]
                continue
            if missing and i == len(loc) - 1 and part not in REGISTRY:
                path.append(key)
                cur = None
                continue
            tags.append(part)
            continue
        if isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            path.append(part)
            cur = cur[part]
            continue
        tags.append(str(part))
    return tuple(path), tuple(tags)


def errors_to_diagnostics(exc: ValidationError, doc: LoadedDoc) -> list[Diagnostic]:
    """One diagnostic per YAML place, alternatives of a union merged."""
    groups: dict[PathKey, list[dict[str, Any]]] = {}
    tags_at: dict[PathKey, tuple[str, ...]] = {}
    for err in exc.errors(include_url=False):
        path, tags = data_path(tuple(err["loc"]), doc.data, err["type"] == "missing")
        groups.setdefault(path, []).append(err)
        tags_at.setdefault(path, tags)
    # When the user wrote a list and an element is wrong, the "expected an int" alternative
    # at the list itself is noise: keep the deeper error. So is "no `type`" where a list of
    # alternatives (a repeat's `layer:`) was also a single layer's alternative.
    # (Both passes index the paths first: a file can hold thousands of errors.)
    has_deeper = {p[:k] for p in groups for k in range(len(p))}
    for p in list(groups):
        if p in has_deeper and all(_other_alternative(e) for e in groups[p]):
            del groups[p]
    # A misspelt required field shows up twice (unknown `out_channel`, missing
    # `out_channels`); the unknown-field error with its "did you mean" says it all.
    unknown_at: dict[PathKey, list[str]] = {}
    for q, errs in groups.items():
        if q and any(e["type"] == "extra_forbidden" for e in errs):
            unknown_at.setdefault(q[:-1], []).append(str(q[-1]))
    for p in list(groups):
        if p and all(e["type"] == "missing" for e in groups[p]):
            unknown = unknown_at.get(p[:-1], [])
            if unknown and difflib.get_close_matches(str(p[-1]), unknown, n=1):
                del groups[p]
    diags = []
    for path, errs in groups.items():
        diag = _one(path, errs, tags_at.get(path, ()), doc)
        if _several_inputs(path, doc):
            diag = dataclasses.replace(diag, hint=SEVERAL_INPUTS)
        elif path == ("inputs",) and any(e["type"] == "too_short" for e in errs):
            diag = dataclasses.replace(diag, hint=ONE_INPUT)
        diags.append(diag)
    diags.sort(key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
    return diags


#: The hint of a network's `input:` written as several tensors (a conditional GAN's noise
#: and label, a Siamese pair), or of a top-level `inputs:` (a block's field).
SEVERAL_INPUTS = (
    "`input: [N, C, H, W]` is a network's one input tensor; a network of several names each "
    "with its shape under `inputs:` (in place of `input`), in the order forward takes them: "
    "`inputs: {z: [N, 100], label: {shape: [N], dtype: int64}}` (a block's `inputs: [x, "
    "skip]` lists names only: its caller gives the tensors)"
)


#: The hint of a network's `inputs:` of one entry.
ONE_INPUT = (
    "`inputs:` names two or more; a network of one input writes its shape as `input: [N, "
    "C, H, W]` (and `input_dtype: int64` for indices)"
)


def _several_inputs(path: PathKey, doc: LoadedDoc) -> bool:
    """A header's `input` (the spec's or a variant's) given as a mapping of shapes, or as a
    list of them (every element a list): the writer meant a network of several inputs."""
    if path[:1] == ("inputs",) and len(path) <= 2:  # the network's, written as a block's
        return isinstance(doc.data.get("inputs") if isinstance(doc.data, dict) else None, list)
    at = [i for i, key in enumerate(path) if key == "input"]
    if not at or len(path) > at[-1] + 2:
        return False
    head = path[: at[-1]]
    if head not in ((), ("variants", head[-1] if head else "")):
        return False
    given = _value_at(doc.data, path[: at[-1] + 1])
    return isinstance(given, dict) or (
        isinstance(given, list) and all(isinstance(g, list) for g in given)
    )


def _other_alternative(err: dict[str, Any]) -> bool:
    """An error of a union's alternative that the value's form already rules out: a type
    the value is not, or a single layer's missing `type` where a list was written."""
    if err["type"] == "missing_layer_type":
        return isinstance(err.get("input"), list)
    return err["type"] in _TYPE_WORDS


def path_text(path: PathKey) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the spec"


def _no_type_hint(item: Any) -> str:
    """E205's hint: a bare word (`- relu`, as torch's Sequential reads) is a layer written
    without its mapping; a list is layers without a container."""
    if isinstance(item, list):
        return "a list is no layer: nest layers as `{type: sequential, layers: [...]}`"
    if isinstance(item, str) and _WORD.fullmatch(item):
        return f"a layer is a mapping: write `{{type: {item}}}`"
    return "each layer needs a `type`: a layer kind (conv2d, linear, ...) or a block name"


def _missing_hint(path: PathKey, doc: LoadedDoc) -> str:
    """E203's hint. A param written as a mapping without `type` is the common case: say
    what `type` takes (the one its default has), and the shorter forms that declare it."""
    if not (len(path) >= 3 and path[-1] == "type" and path[-3] == "params"):
        return "add it; see docs/spec-language.md for the fields of each layer"
    name, decl = path[-2], _value_at(doc.data, path[:-1])
    default = decl.get("default") if isinstance(decl, dict) else None
    intro = "a param written as a mapping names its type (int, float, bool, str or list)"
    if default is None:
        return (
            f"{intro}: `{name}: {{type: int}}`, a param the caller must give, or the type "
            f"alone (`{name}: int`)"
        )
    kind = _PARAM_TYPES.get(type(default))
    if kind is None:  # a default no param takes (E202 says so)
        return f"{intro}: `{name}: {{type: ..., default: ...}}`"
    shown = _short(default)
    hint = f"{intro}: `{name}: {{type: {kind}, default: {shown}}}`"
    if default in _PARAM_TYPES.values():  # alone, such a text declares a type
        return hint
    return f"{hint}, or the default alone (`{name}: {shown}`), whose value gives the type"


#: The param type a default of each Python type declares.
_PARAM_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list"}


def _value_at(data: Any, path: PathKey) -> Any:
    """The value the document holds at `path` (None where it holds none)."""
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _one(
    path: PathKey, errs: list[dict[str, Any]], tags: tuple[str, ...], doc: LoadedDoc
) -> Diagnostic:
    where = path_text(path)
    kinds = {e["type"] for e in errs}
    first = errs[0]
    if "extra_forbidden" in kinds:
        return _unknown_field(path, tags, doc, first.get("input"))
    if "missing" in kinds:
        field = str(path[-1]) if path else "?"
        return Diagnostic(
            "E203",
            f"missing required field `{field}` in {path_text(path[:-1])}",
            doc.span_of(path[:-1]),
            _missing_hint(path, doc),
        )
    if "missing_layer_type" in kinds:
        item = first.get("input")
        given = item.get("type") if isinstance(item, dict) else None
        return Diagnostic(
            "E205",
            "this item has no `type`"
            if given is None
            else f"`type` must name a layer kind or a block, got {type_name(given)} "
            f"{_short(given)}",
            doc.span_of(path + ("type",) if given is not None else path),
            _no_type_hint(item),
        )
    # A value of the right type that breaks a bound (`input: [N, 0]`, an empty list) says
    # more than the type errors of the union's other alternatives.
    bounds = [e for e in errs if e["type"] in _BOUND_ERRORS]
    if bounds:
        b = bounds[0]
        msg = b["msg"].replace(" after validation", "")
        if msg.startswith("Input should"):
            msg = f"{_short(b.get('input'))} should" + msg.removeprefix("Input should")
        return Diagnostic("E204", f"{where}: {msg}", doc.span_of(path), _bound_hint(b["type"]))
    value_errors = [e for e in errs if e["type"] in ("value_error", "assertion_error")]
    if value_errors:
        return _value_error(path, value_errors[0], tags, doc)
    if "literal_error" in kinds and len(kinds) <= 2:
        lit = next(e for e in errs if e["type"] == "literal_error")
        expected = lit.get("ctx", {}).get("expected", "")
        given = lit.get("input")
        choices = re.findall(r"'([^']*)'", expected)
        close = difflib.get_close_matches(given, choices, n=1) if isinstance(given, str) else []
        return Diagnostic(
            "E204",
            f"{where}: {_short(given)} is not allowed here; expected {expected}",
            doc.span_of(path),
            f"did you mean `{close[0]}`?" if close else _literal_hint(given),
        )
    words = []
    for e in errs:
        w = _TYPE_WORDS.get(e["type"])
        if e["type"] == "literal_error":
            w = str(e.get("ctx", {}).get("expected", ""))
        if w and w not in words:
            words.append(w)
    if words == [_TYPE_WORDS["string_type"]]:
        words = ["a string"]  # a text field (`description`, `doc`): no expression either way
    if words:
        got = first.get("input")
        hint = _type_hint(words, got)
        if isinstance(got, list) and "a mapping" in words and _takes_layers(path, doc):
            name = path[-1]  # `shortcut: [...]` for `shortcut: {layers: [...]}`
            hint = (
                f"`{name}` is a mapping: its list of layers goes under `layers:` "
                f"(`{name}: {{layers: [...]}}`)"
            )
        return Diagnostic(
            "E202",
            f"{where}: expected {' or '.join(words)}, got {type_name(got)} {_short(got)}",
            doc.span_of(path),
            hint,
        )
    hint = _other_hint(path, first.get("input"))
    return Diagnostic(
        "E204", f"{where}: {first['msg']}", doc.span_of(path), hint or "see docs/spec-language.md"
    )


def _other_hint(path: PathKey, got: Any) -> str | None:
    """The hint of a value no other rule words: YAML's boolean where a name was meant
    (`from: [x, off]`), or a bare position where an unnamed item is read (`from: 1`)."""
    if isinstance(got, bool) or got is None:
        return _type_hint(["a string"], got)
    if isinstance(got, int) and "from" in path:
        return (
            f'an item without a `name` is read by its position written as text, "{got}" '
            f"(YAML reads a bare {got} as a number); or give that item a `name` and read it"
        )
    return None


def _unknown_field(
    path: PathKey, tags: tuple[str, ...], doc: LoadedDoc, value: Any = None
) -> Diagnostic:
    """E201, with the field meant, the fields allowed, a layer written as a field of
    another, or an expression cut at a comma."""
    field = str(path[-1]) if path else "?"
    allowed = _allowed_fields(path[:-1], tags, doc)
    close = difflib.get_close_matches(field, allowed, n=1)
    near = bool(close) or any(field in a for a in allowed)  # `scale` for `scale_factor`
    hint = _layer_as_field(path, field, value, near) or (
        f"did you mean `{close[0]}`?"
        if close
        else (
            f"allowed here: {', '.join(sorted(allowed))}"
            if allowed
            else "remove it; docs/spec-language.md lists the fields each item takes"
        )
    )
    hint = cut_tail_hint(field) or hint  # the tail of `f: max(8, c)` inside {...}
    if path == ("inputs",):  # a block's field, written at the top
        hint = SEVERAL_INPUTS
    return Diagnostic("E201", f"unknown field `{field}`", doc.span_of(path, key=True), hint)


def _layer_as_field(path: PathKey, field: str, value: Any, near: bool) -> str | None:
    """The hint of a layer written as a field of another (Keras's `Conv2D(...,
    activation="relu")`, a `dropout: 0.5` beside a linear's fields): each layer is an item
    of its own. An `activation:` says so even where a field is spelt alike (`dilation`);
    another kind's name only where no field is (`near`: `scale` beside `scale_factor`)."""
    if not any(p in ("layers", "layer", "body", "branches") for p in path[:-1]):
        return None
    if field in ("activation", "act") and isinstance(value, str) and _WORD.fullmatch(value):
        return (
            f"a layer takes no activation of its own: write it as the next item, "
            f"`{{type: {value}}}` (or `{{type: activation, fn: {value}}}`, computed in forward)"
        )
    if field in REGISTRY and not near:
        return (
            f"`{field}` is a layer kind, not a field of this layer: write it as an item of its "
            f"own after this one (`{{type: {field}, ...}}`)"
        )
    return None


def _literal_hint(given: Any) -> str:
    """A word field takes its word as written: a param's name there is not read (a new user's
    `fn: act`), so say how a spec chooses by a param."""
    if isinstance(given, str) and given.isidentifier():
        return (
            "use one of the values listed, as written: a word field reads no param or "
            "expression; to choose by a param, write one layer per value, each with a `when`"
        )
    return "use one of the values listed"


def _bound_hint(kind: str) -> str:
    """What to do about a value of the right type outside the language's bounds."""
    if kind.startswith("string"):
        return "shorten it: the limit keeps a spec, and the code emitted from it, readable"
    if kind in ("too_short", "too_long"):
        return "change the number of items to one the message allows"
    return "use a value within the bound the message names (docs/spec-language.md)"


def _type_hint(words: list[str], got: Any) -> str:
    """What to write instead of a value of the wrong type."""
    quoted = any("expression" in w for w in words)
    if isinstance(got, float) and any("integer" in w for w in words):
        return "sizes and counts are whole numbers: write 8, or an expression that gives one" + (
            ' in quotes ("c // 2")' if quoted else ""
        )
    if isinstance(got, (list, dict)) and not any(
        w.startswith(("a list", "a mapping")) for w in words
    ):
        return f"one value here, not a {type_name(got)}; see docs/spec-language.md for this field"
    text_only = bool(words) and all(w.startswith("a string") for w in words)
    if (isinstance(got, bool) or got is None) and text_only:
        # `name: yes`, `{name: off}`: the writer meant the word
        return (
            "YAML reads a bare yes, no, on, off, true, false or null as a boolean or null: "
            "quote the word ('off') to mean text"
        )
    if words == ["a list"] and type(got) in (int, float, str):
        # `dim: 1` of a `mean`, where torch's `x.mean(1)` takes one dim bare
        return f"a list here, even of one item: `[{got}]`"
    if quoted:
        return 'write a value of that type, or an expression in quotes ("2 * c")'
    if words == ["true or false"] and isinstance(got, (str, int, float)):
        # `train_only: "yes"`, `flat: 1`: a flag takes YAML's booleans, never text or 1
        return "write true or false, unquoted (a flag reads no expression)"
    return "see docs/spec-language.md for what this field takes"


def _value_error(
    path: PathKey, err: dict[str, Any], tags: tuple[str, ...], doc: LoadedDoc
) -> Diagnostic:
    """A validator's refusal: an expression (E206, or the evaluator's own code), an init
    argument, a name, or another value (E204)."""
    where = path_text(path)
    msg = err["msg"].removeprefix("Value error, ")
    # a validator may say how to fix it after VALIDATOR_HINT (ops/split.py's `name:` rule)
    msg, _, own_hint = msg.partition(VALIDATOR_HINT)
    code, hint = "E206" if "expression" in msg else "E204", own_hint or None
    expr_error = _expression_error(err.get("input"))
    if expr_error is not None and expr_error.message == msg:  # E308 for `2 // 0`, ...
        code, hint = expr_error.code, expr_error.hint
    elif hint is not None:
        pass
    elif path == ("init",):  # too many rules or patterns
        hint = "merge rules: a rule's `layers:` and `paths:` each take several kinds and patterns"
    elif path[:1] == ("init",):
        hint = (
            "torch.nn.init takes std >= 0 (trunc_normal: std > 0), a <= b, gain >= 0, "
            "numbers within 10^15"
        )
    elif name_error(err.get("input")) == msg:
        hint = _name_hint(err.get("input"), path)
    if hint is None:
        hint = "docs/spec-language.md says what this field takes"
    # `[key]`: the mapping key itself is wrong (a block or param name), point at it
    return Diagnostic(code, f"{where}: {msg}", doc.span_of(path, key="[key]" in tags), hint)


def _name_hint(value: Any, path: PathKey) -> str:
    """How to fix a name; a number (`"0"`: a child numbered as nn.Sequential and
    nn.ModuleList number theirs) is what an item without a name gets, or `key:` gives."""
    # the spec's own `name:` (path ("name",), a variant's too) names a class, no child
    child = len(path) > 1 and (path[-1] == "name" or path[-2] == "branches")
    if child and isinstance(value, str) and "." in value and path[-1] == "name":
        return (  # timm's `patch_embed.0`: an entry of a module list, which `key:` makes
            f'a dotted path into a module list or dict of the module is a key: `key: "{value}"` '
            "in place of `name:` (docs/spec-language.md, 'Entries of a module list')"
        )
    if not (child and isinstance(value, str) and value.isdigit()):
        return (
            "rename it: a name is an ASCII identifier (letters, digits, _) that is no "
            "Python keyword and no nn.Module attribute"
        )
    hint = (
        "a numbered child is an item without a `name` (items are numbered by position, as "
        f'nn.Sequential numbers its children) or one with `key: "{value}"`; `from:` reads '
        "it by that number"
    )
    if "branches" in path:
        hint += (
            ". A parallel's branches are named: for numbered ones (an nn.ModuleList of "
            "branches on one input), write a sequential or block of items with "
            '`from: input`, joined by a concat or add `from: ["0", "1", ...]` '
            "(docs/porting.md)"
        )
    return hint


def _expression_error(value: Any) -> ExprError | None:
    """Why an expression text was refused, with the code the evaluator gives it."""
    if not isinstance(value, str):
        return None
    try:
        parse_expr(value)
    except ExprError as exc:
        return exc
    return None


def type_name(v: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _typed_model(parent: PathKey, doc: LoadedDoc) -> type[BaseModel] | None:
    """The model of the item at `parent`, found through its `type` key (a layer kind's or
    a construct's); None when the path or the kind leads nowhere."""
    cur = _value_at(doc.data, parent)
    t = cur.get("type") if isinstance(cur, dict) else None
    if not isinstance(t, str):
        return None
    return REGISTRY[t].spec if t in REGISTRY else models()["compound"].get(t)


def _takes_layers(path: PathKey, doc: LoadedDoc) -> bool:
    """Whether the field at `path` of a typed item is a model with a `layers` list (a
    residual's `shortcut`), so that a list written there belongs under its `layers:`."""
    if not path or not isinstance(path[-1], str):
        return False
    model = _typed_model(path[:-1], doc)
    field = None if model is None else model.model_fields.get(path[-1])
    if field is None:
        return False
    inner = [field.annotation, *typing.get_args(field.annotation)]
    return any(
        isinstance(a, type) and issubclass(a, BaseModel) and "layers" in a.model_fields
        for a in inner
    )


def _allowed_fields(parent: PathKey, tags: tuple[str, ...], doc: LoadedDoc) -> list[str]:
    """Field names of the model at `parent`, found through the tag or the `type` key."""
    model = _typed_model(parent, doc)
    if model is not None:
        return [f.alias or k for k, f in model.model_fields.items()]
    if not parent:
        return [f.alias or k for k, f in spec_model().model_fields.items()]
    if len(parent) == 2 and parent[0] == "inputs":  # an input of several, with its dtype
        return list(NetworkInput.model_fields)
    if len(parent) == 2 and parent[0] == "blocks":  # a block's definition: BlockDef's
        block = typing.get_args(spec_model().model_fields["blocks"].annotation)[-1]
        return [f.alias or k for k, f in block.model_fields.items()]
    return []


def name_error(name: Any) -> str | None:
    """The schema's message refusing `name` as a name, if it does."""
    try:
        check_name(name)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None
