"""Values: params from the spec, the CLI or Python, and layer fields after evaluation.

One ladder (`to_kind` then `check_bounds`) checks every value against what it must be, a
declared param type or a field's `Final`; `parse_text` is the front end for `--set` text.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import re
import sys
import typing
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..errors import ArchSpecError, shown_value
from ..expr import ExprError, parse_expr, parse_kept
from ..exprrun import unknown_name
from ..loader import MAX_INT, MAX_TEXT, shown_scalar
from ..ops.base import META_FIELDS, Final
from ..ops.templates import filled
from ..ops.words import WORD_HINT, listed_words
from .context import MAX_NODES

if TYPE_CHECKING:  # pragma: no cover
    from ..schema import ParamDecl

_TYPE_NAMES = ("int", "float", "bool", "str", "list")


def decl_of(entry: Any) -> ParamDecl:
    """A ParamDecl from the full form, a type name (required param) or a bare default."""
    if isinstance(entry, _decl_class()):
        return entry
    if isinstance(entry, (str, bool, int, float)):
        return _short_decl(type(entry), entry)  # the same few entries, in every block call
    return _decl_of(entry)


@lru_cache(maxsize=1)
def _decl_class() -> type[ParamDecl]:
    """schema.ParamDecl, imported at the first call: schema.py imports the constructs, and so
    this module (decl_of runs for every block argument: an import statement there is not free)."""
    from ..schema import ParamDecl

    return ParamDecl


@lru_cache(maxsize=1024)
def _short_decl(_type: type, entry: Any) -> ParamDecl:
    """decl_of for a hashable short form (keyed by type too: True == 1 == 1.0 as keys)."""
    return _decl_of(entry)


def _decl_of(entry: Any) -> ParamDecl:
    from ..schema import ParamDecl as decl

    if isinstance(entry, str) and entry in _TYPE_NAMES:
        return decl(type=entry)  # type: ignore[arg-type]
    if isinstance(entry, bool):
        return decl(type="bool", default=entry)
    if isinstance(entry, int):
        return decl(type="int", default=entry)
    if isinstance(entry, float):
        return decl(type="float", default=entry)
    if isinstance(entry, list):
        return decl(type="list", default=entry)
    return decl(type="str", default=entry)


def to_kind(value: Any, kind: str, *, floordiv_hint: bool = False) -> Any:
    """`value` as a value of `kind` (a whole float becomes an int), or ValueError.

    `floordiv_hint` says, for a fractional value where an int is wanted, that `//` divides
    whole numbers (the value came from an expression).
    """
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                # a whole float (1.0e+300 for an int param) is an integer only within the
                # integers' bound: int() made 300 digits of it, which reached range() and len()
                if abs(value) > MAX_INT:
                    raise ValueError(f"{value!r} is out of range (|n| <= 10^15)")
                return int(value)
            hint = " (use // for integer division)" if floordiv_hint else ""
            raise ValueError(
                f"expected an integer, got {shown_value(value)}"
                + (hint if isinstance(value, float) else "")
            )
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {shown_value(value)}")
        return float(value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {shown_value(value)}")
    elif kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {shown_value(value)}")
    elif kind == "list":
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {shown_value(value)}")
        if len(value) > MAX_NODES:
            raise ValueError("list too long")
    return value


def check_bounds(
    value: Any, ge: float | None = None, gt: float | None = None, le: float | None = None
) -> None:
    """ValueError when a number is outside its declared bounds."""
    if ge is not None and value < ge:
        raise ValueError(f"{shown_value(value)} is below the minimum {ge}")
    if gt is not None and value <= gt:
        raise ValueError(f"{shown_value(value)} must be greater than {gt}")
    if le is not None and value > le:
        raise ValueError(f"{shown_value(value)} is above the maximum {le}")


def coerce_param(value: Any, decl: ParamDecl, from_text: bool = False) -> Any:
    """Check (and for CLI text, parse) a param value against its declaration."""
    if from_text:
        value = parse_text(value, decl.type)
    kind = type(value)
    if (
        (kind is int and decl.type == "int" and abs(value) <= MAX_INT)
        or (kind is float and decl.type == "float" and math.isfinite(value))
        or (kind is bool and decl.type == "bool")
        or (kind is str and decl.type == "str" and len(value) <= MAX_TEXT)
    ):
        ge, le = decl.ge, decl.le  # the common cases of the checks below
        if (ge is not None and value < ge) or (le is not None and value > le):
            check_bounds(value, ge=ge, le=le)
        if decl.choices is not None and value not in decl.choices:
            raise ValueError(f"{shown_value(value)} is not one of {decl.choices}")
        return value
    check_numbers(value)
    value = to_kind(value, decl.type)
    check_bounds(value, ge=decl.ge, le=decl.le)
    if decl.choices is not None and value not in decl.choices:
        raise ValueError(f"{shown_value(value)} is not one of {decl.choices}")
    return value


def param_checker(decl: ParamDecl) -> Any:
    """`coerce_param(value, decl)` as a function of the value, made once per declaration
    (a block call checks each argument of every instance): an int or float of a param of
    that type, finite and within its bounds and MAX_INT, is returned at once; anything else
    goes through coerce_param, which converts or refuses it."""
    if decl.choices is None and decl.type in ("int", "float"):
        kind = int if decl.type == "int" else float
        # the same bounds as coerce_param's: |int| <= MAX_INT, a float finite, ge and le
        widest = MAX_INT if kind is int else sys.float_info.max
        lo = -widest if decl.ge is None else max(decl.ge, -widest)
        hi = widest if decl.le is None else min(decl.le, widest)

        def check(value: Any) -> Any:
            if type(value) is kind and lo <= value <= hi:
                return value
            return coerce_param(value, decl)

        return check
    return lambda value: coerce_param(value, decl)


_INT_KINDS = frozenset(("int", "ints", "any"))
#: the kinds that take a float as it is (`floats` wants a list, `int` a whole number)
_FLOAT_KINDS = frozenset(("float", "any"))
_ITEM_KIND = {"ints": "int", "floats": "float"}


def bind_value(raw: Any, final: Final, env: Mapping[str, Any]) -> Any:
    """Evaluate a field's raw value (literal or expression) and check it against `final`."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if final.choices and raw in final.choices:
            return raw
        if final.kind == "str":
            return raw
        text = raw
        try:
            word_template = final.kind == "word" and is_template(raw)
            raw = filled(raw, env) if word_template else parsed(raw).evaluate(env)
        except ExprError as exc:
            raise _as_choice(exc, text, final) from None
        if final.choices and isinstance(raw, str) and raw not in final.choices:
            raise ValueError(not_a_word(raw, final.choices, text))
    return checked_value(raw, final, env)


def is_template(text: str) -> bool:
    """Whether a word field's text is a template of `{expression}` parts (the schema checked
    its braces: `ops.words.Word`)."""
    return "{" in text


def not_a_word(value: str, words: tuple[str, ...], text: str | None = None) -> str:
    """The message of a text value a word field does not take: the value, where it came
    from (`text`, the field's expression) and the words it takes."""
    given = f"`{text}` gives {shown_value(value)}" if text and text != value else shown_value(value)
    return f"{given}, which is not one of the words this field takes: {listed_words(words)}"


#: torch's names of a tensor's fill (`torch.zeros`, `nn.init.ones_`) -> the word of a
#: `parameter`'s `init` or a `buffer`'s `fill` that makes it, and the fields to give beside
_TORCH_WORDS = {
    "zeros": ("constant", " (`value: 0`, its default)"),
    "zero": ("constant", " (`value: 0`, its default)"),
    "ones": ("constant", " with `value: 1`"),
    "full": ("constant", " with `value:`"),
    "randn": ("normal", " (`mean: 0`, `std: 1`, its defaults)"),
    "normal_": ("normal", ""),
    "trunc_normal_": ("trunc_normal", ""),
    "identity": ("eye", ""),
    "range": ("arange", ""),
}


def _as_choice(exc: ExprError, raw: str, final: Final) -> ExprError:
    """An unknown name in a field that also takes words (`padding: SAME`, `valid` where only
    `same` is one): say which words it takes, as they are written. In a word field, a bare
    word that is neither one of its words nor a name in scope (`padding_mode: mirror`) is
    E204, the value it is not, as the schema said of it before such a field read names."""
    if not final.choices or exc.code != "E302" or unknown_name(exc.message) is None:
        return exc
    if final.kind == "word" and raw.strip() == unknown_name(exc.message):
        close = difflib.get_close_matches(raw.strip(), final.choices, n=1)
        torch_word = _TORCH_WORDS.get(raw.strip())
        lead = f"did you mean `{close[0]}`? " if close else ""
        if torch_word is not None and torch_word[0] in final.choices:
            lead = f"torch's `{raw.strip()}` is `{torch_word[0]}` here{torch_word[1]}; "
        return ExprError(
            f"{raw.strip()!r} is not allowed here; expected {listed_words(final.choices)}, "
            "and no param or let in scope has that name",
            hint=lead + WORD_HINT,
            code="E204",
        )
    words = ", ".join(f"`{c}`" for c in final.choices)
    near = [c for c in final.choices if c == raw.strip().lower()]
    lead = f"write `{near[0]}`, lower case and without spaces; " if near else ""
    return ExprError(
        exc.message,
        hint=f"{lead}besides a number or an expression this field takes {words}; {exc.hint}",
        code="E302",
    )


def field_runner(raw: Any, final: Final) -> Any:
    """The closure of a field's expression when `bind_value` always evaluates it (text that
    is no choice, for a field that takes no text, and parses), else None: a layer's fields
    are bound per instance with `checked_value(run(env), final, env)`, bind_value without
    its calls. The caller takes a RecursionError (an expression nested too deeply) to
    bind_value, which reports it, as for any other failure."""
    if not isinstance(raw, str) or final.kind == "str" or (final.choices and raw in final.choices):
        return None
    if final.kind == "word" and is_template(raw):
        return None
    try:
        return parsed(raw).runner()
    except ExprError:
        return None


def checked_value(raw: Any, final: Final, env: Mapping[str, Any]) -> Any:
    """A field's value (an expression's already evaluated) checked against `final`; `env`
    evaluates the expressions a list holds."""
    kind = final.kind
    if (type(raw) is int and kind in _INT_KINDS) or (
        type(raw) is float and kind in _FLOAT_KINDS and math.isfinite(raw)
    ):  # the common cases, as the ladder below has them (check_bounds only to refuse)
        ge, gt, le = final.ge, final.gt, final.le
        if (ge is None or raw >= ge) and (gt is None or raw > gt) and (le is None or raw <= le):
            return raw
        check_bounds(raw, ge=ge, gt=gt, le=le)
        return raw
    if type(raw) is bool and kind in ("bool", "any"):
        return raw
    if final.choices and type(raw) is str:  # a word a param or an expression gave
        if raw in final.choices:
            return raw
        raise ValueError(not_a_word(raw, final.choices))
    if kind == "word":
        raise ValueError(
            f"expected one of {listed_words(final.choices or ())}, got {shown_value(raw)}"
        )
    if kind in ("ints", "floats") and isinstance(raw, list):
        item = Final("int" if kind == "ints" else "float", ge=final.ge)
        # a null item (a table's, from a param or --set) is no value: bind_value reads None
        # as a field not given, and it reached a shape rule's arithmetic (an internal error);
        # where the field takes null entries (an adaptive pool's None), it is kept
        if final.nulls:
            return [None if v is None else bind_value(v, item, env) for v in raw]
        return [to_kind(v, item.kind) if v is None else bind_value(v, item, env) for v in raw]
    kind = _ITEM_KIND.get(kind, kind)
    value = to_kind(raw, kind, floordiv_hint=True) if kind in ("int", "float", "bool") else raw
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        check_bounds(value, ge=final.ge, gt=final.gt, le=final.le)
    return value


#: A list param (a config table) holds at most this many items at all levels together, and
#: nests at most this deep: YAML specs meet the loader's bounds first, Python callers these.
MAX_LIST_ITEMS = 100_000
MAX_LIST_DEPTH = 32
#: A block call, or a layer, counts one layer item more (E310) per this many items of the
#: lists its arguments or fields hold: each copy checks them again, so a list of 10,000 items
#: bound by thousands of copies took from 16 s to minutes under the layer limit.
LIST_ITEMS_PER_ITEM = 100


def check_numbers(value: Any) -> None:
    """Params from Python or --set meet the bounds YAML values meet (loader.MAX_INT, MAX_TEXT)
    and hold only what emitted source can write (no mapping, tuple or object in a table);
    a list is walked without recursion and within MAX_LIST_ITEMS / MAX_LIST_DEPTH, so a
    list that holds itself, or a million rows, is refused rather than walked."""
    kind = type(value)
    if (kind is int and -MAX_INT <= value <= MAX_INT) or kind is bool or value is None:
        return  # the common cases of the walk below, without it
    if kind is float and math.isfinite(value):
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = text = 0
    while stack:
        v, depth = stack.pop()
        if isinstance(v, list):
            if depth >= MAX_LIST_DEPTH:
                raise ValueError(f"a list nests deeper than {MAX_LIST_DEPTH} levels")
            seen += len(v)
            if seen > MAX_LIST_ITEMS:
                raise ValueError(f"a list param holds more than {MAX_LIST_ITEMS:,} items")
            stack.extend((item, depth + 1) for item in v)
        elif isinstance(v, str):
            text += len(v)  # what a file could hold: a 100 MB text took minutes to emit
            if text > MAX_TEXT:
                raise ValueError(f"a param holds more than {MAX_TEXT:,} characters of text")
        elif isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{v} is not a finite number")
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
            bits = v.bit_length()
            text = str(v) if bits < 128 else f"an integer of {bits} bits"
            raise ValueError(f"{text} is out of range (|n| <= 10^15)")
        elif v is not None and not isinstance(v, (int, float)):
            # a mapping in a table (`[{a: 1}]`) was checked clean and then failed to emit
            raise ValueError(_not_a_value(v, depth))


def _not_a_value(v: Any, depth: int) -> str:
    """Why `v` is no param value: a table's item (`depth` > 0) or the param's own value,
    which a table was not (a numpy int given for an int param was 'a table holds ...')."""
    kind = type(v).__qualname__
    if type(v).__module__ != "builtins":  # numpy's int64 is no int: name whose it is
        kind = f"{type(v).__module__}.{kind}"
    what = "a mapping" if isinstance(v, Mapping) else f"{kind}"
    if depth:
        return f"a table holds numbers, booleans, text and lists of them, not {what}"
    return (
        f"a param's value is a number, a boolean, text or a list of them, not {what} "
        "(convert it to int, float, bool, str or list)"
    )


#: What `--set` reads as a number: ASCII decimal, as a spec's YAML writes it (Python's int()
#: and float() also take other scripts' digits).
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_INT_TEXT = re.compile(rf"[+-]?{_DIGITS}")
_FLOAT_TEXT = re.compile(
    rf"[+-]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?|inf|infinity|nan)",
    re.IGNORECASE,
)


def parse_text(text: str, t: str) -> Any:
    """A `--set name=text` value read as the declared type (YAML for lists)."""
    s = text.strip()
    shown = shown_scalar(text)
    if t == "int":
        if not _INT_TEXT.fullmatch(s):  # Python's int() also takes U+FF14, U+0663
            raise ValueError(f"expected an integer, got {shown}")
        if len(s) > 40:  # before Python parses thousands of digits
            raise ValueError(f"{shown} is out of range (|n| <= 10^15)")
        return int(s, 10)
    if t == "float":
        if not _FLOAT_TEXT.fullmatch(s):
            raise ValueError(f"expected a number, got {shown}")
        if len(s) > 40:
            raise ValueError(f"{shown} is out of range (|n| <= 10^15)")
        v = float(s)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {text!r}")
        return v
    if t == "bool":
        low = s.lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if t == "list":
        from ..loader import load_yaml

        try:
            return load_yaml(s, "<--set>").data
        except ArchSpecError as exc:  # its reason, where in the value: not only that it failed
            raise ValueError(
                f"expected a YAML list like [64, 64, M], got {text!r}: {_set_reason(exc)}"
            ) from None
        except Exception:
            raise ValueError(f"expected a YAML list like [64, 64, M], got {text!r}") from None
    return text


def _set_reason(exc: ArchSpecError) -> str:
    """Why the loader refused a `--set` list, and where in the value (one line of text)."""
    first = exc.diagnostics[0]
    span = first.span
    if span is None or span.line > 1:
        return f"{first.message} (at its end)" if span is not None else first.message
    return f"{first.message} (at character {span.col})"


#: The parsed expression of a text, kept: a repeated block reads the same texts, and the
#: schema parsed them first (expr.parse_kept).
parsed = parse_kept


@lru_cache(maxsize=4096)
def canonical(text: str) -> str:
    """An expression's canonical Python text (`planes*4` -> `planes * 4`)."""
    return parse_kept(text).to_python()


#: the names of an input's sizes (context.channels_env: a site's `local`, not its `env`)
INPUT_SIZES = frozenset(("in_channels", "in_features"))


def reads_input(raw: Any) -> bool:
    """Whether a written value could read `in_channels` or `in_features`: a text, or a list
    holding one at any depth, whose expression names one (text that does not parse cannot
    be evaluated, so reads nothing)."""
    if isinstance(raw, list):
        return any(reads_input(v) for v in raw)
    try:
        return isinstance(raw, str) and not INPUT_SIZES.isdisjoint(parsed(raw).names)
    except ExprError:
        return False


def reads_failed(raw: Any, failed: set[str]) -> bool:
    """True when an expression, or an item of a list written in place (a parameter's
    `shape: [1, in_channels]`), reads a name whose own binding already failed."""
    if isinstance(raw, list):
        return any(reads_failed(item, failed) for item in raw)
    if not isinstance(raw, str):
        return False
    try:
        return bool(parsed(raw).names & failed)
    except ExprError:
        return False


def value_hint(final: Final, raw: Any = None) -> str:
    """What a field takes, for a value it refused (`raw`: as written; a number written out
    needs no word on what `//` gives), and what the field is where its bounds have a
    reason (`select`'s dim: the batch dim 0 stays)."""
    # a number written out needs no word on what `//` gives
    division = (
        ""
        if isinstance(raw, int | float) and not isinstance(raw, bool)
        else (" (// divides whole numbers)")
    )
    kinds = {
        "int": f"an integer{division}",
        "ints": f"an integer or a list of integers{division}",
        "float": "a number",
        "floats": "a list of numbers",
        "bool": "true or false",
        "word": "one of the words the message lists, as written: a param or expression "
        "must give one (a param's `choices:` refuses any other where it is given)",
    }
    bounds = [
        f"{word} {v:g}"
        for word, v in (("at least", final.ge), ("above", final.gt), ("at most", final.le))
        if v is not None
    ]
    what = kinds.get(final.kind, "a value of its kind")
    text = f"this field takes {what}" + (f", {' and '.join(bounds)}" if bounds else "")
    return text + (f" ({final.why})" if bounds and final.why else "")


def text_value_hint(raw: Any, env: Mapping[str, Any]) -> str | None:
    """A hint for a field that reads a name holding text that looks like arithmetic: a
    param's bare default `bn_momentum: 1 - 0.9997` declares a `str` param (a param's value
    is never evaluated), so the number the user meant is text where it is used."""
    if not (isinstance(raw, str) and raw.isidentifier()):
        return None
    value = env.get(raw)
    if not isinstance(value, str):
        return None
    try:
        expr = parse_expr(value)
    except ExprError:
        return None
    if isinstance(expr.tree.body, ast.Name | ast.Constant):
        return None
    return (
        f"`{raw}` holds the text {value!r}, not a number: a param's value is never evaluated, "
        f"so a bare default like that declares a `str` param. Write the number, or move "
        f"`{raw}` from `params:` to `let:`, where values are expressions"
    )


def param_hint(decl: ParamDecl, value: Any = None) -> str:
    """What a param takes, for a value it refused; for a number given to a `list` param or
    a list to an `int` one, how a block passes a size that a layer takes either way (one
    `kernel_size` for every dim, or one per dim)."""
    bounds = [f"{k}: {v}" for k, v in (("ge", decl.ge), ("le", decl.le)) if v is not None]
    if decl.choices is not None:
        bounds.append(f"choices: {decl.choices}")
    where = f" with {', '.join(bounds)}" if bounds else ""
    hint = f"the param is declared `type: {decl.type}`{where}; give a value that fits"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if (decl.type == "int" and isinstance(value, list)) or (decl.type == "list" and number):
        hint += (
            ". A param holds one type: for a size a layer takes as one number or one per dim "
            "(kernel_size: [1, 7]), declare a `list` param and pass every dim ([3, 3]), or "
            "two `int` params the block writes as [kh, kw]"
        )
    return hint


_FIELD_PLANS: dict[type[BaseModel], tuple[tuple[str, str, Final | None], ...]] = {}


def field_plan(model: type[BaseModel]) -> tuple[tuple[str, str, Final | None], ...]:
    """A layer model's attribute fields as (name, YAML key, Final), worked out once per
    model: binding runs for every layer of every spec."""
    plan = _FIELD_PLANS.get(model)
    if plan is None:
        plan = tuple(
            (fname, finfo.alias or fname, final_of(model, fname))
            for fname, finfo in model.model_fields.items()
            if fname not in META_FIELDS
        )
        _FIELD_PLANS[model] = plan
    return plan


@lru_cache(maxsize=1024)
def final_of(model: type[BaseModel], fname: str) -> Final | None:
    """What field `fname` of a layer model must evaluate to (None: taken as written)."""
    finfo = model.model_fields[fname]
    found = next((m for m in finfo.metadata if isinstance(m, Final)), None)
    found = found or _search_final(finfo.annotation)
    if found is None or not finfo.description:
        return found
    return dataclasses.replace(found, why=finfo.description)  # the hint says what it is


def _search_final(ann: Any) -> Final | None:
    if typing.get_origin(ann) is typing.Annotated:
        for m in ann.__metadata__:
            if isinstance(m, Final):
                return m
    for a in typing.get_args(ann):
        f = _search_final(a)
        if f is not None:
            return f
    return None
