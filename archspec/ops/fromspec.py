"""The `from:` field every node has, and the entries that let a spec compute it.

A `from` is a node name or a list of entries. An entry is a name, a name template whose
`{expression}` parts are evaluated where the node is (`"layer{k - 1}"`, the templates of
`names:`), or a computed entry, `{each: TEMPLATE, for: j, in: COUNT_OR_LIST, when: COND}`,
which gives one name per value of `j` whose `when` holds. VoVNet's OSA concatenates its
input and every one of `n` convs (`[input, {each: "conv{j}", for: j, in: n}]`); HarDNet's
layer k reads layer k - 2**j for each j that divides it. Kept apart from ops/base.py (which
holds NodeBase) so the entry's model and checks read on their own.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    model_validator,
)
from pydantic_core import core_schema

from ..expr import ExprError, parse_kept
from .lazyspec import Reuse
from .names import NAME_RE
from .templates import MAX_TEMPLATE_LEN, template_parts

#: fields whose YAML key is a Python keyword: a node's `from`, an entry's `for` and `in`
KEYWORD_FIELDS = {"from_": "from", "for_": "for", "in_": "in"}
#: names an entry's `for` may not take: in expressions they are the input's sizes
_INPUT_SIZES = ("in_channels", "in_features")


def is_template(text: str) -> bool:
    """Whether a `from` text is a template (a node name never holds a brace)."""
    return "{" in text or "}" in text


def check_ref(text: str) -> str:
    """A `from` entry's text: a node name as written, or a template of one whose parts
    parse as expressions (schema validator)."""
    if not is_template(text):
        return text
    too_long = f"a `from` template is at most {MAX_TEMPLATE_LEN} characters"
    template_parts(text, "`from` template", text[:60], too_long)
    return text


def _check_expr(text: str) -> str:
    try:
        parse_kept(text)
    except ExprError as exc:
        raise ValueError(exc.message) from None
    return text


def _check_for(name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(f"`for` names the entry's index: {name[:40]!r} is no identifier")
    if name in _INPUT_SIZES:
        raise ValueError(f"`{name}` is the input's size in expressions; name the index `j`")
    return name


RefText = Annotated[str, AfterValidator(check_ref), Reuse()]
_Expr = Annotated[
    str,
    AfterValidator(_check_expr),
    Field(description="an expression over the names in scope, e.g. `n + 1`"),
]


class FromEach(BaseModel):
    """A computed `from` entry: the names `each` gives for each value of `for` in `in`
    whose `when` holds (without `for`, one name, when `when` holds)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    each: RefText = Field(
        description="a node name or a name template (`conv{j}`, `layer{k - 2 ** j}`)"
    )
    for_: Annotated[str, AfterValidator(_check_for)] | None = Field(
        None, alias="for", description="the name of the entry's index, in scope in `each`"
    )
    in_: StrictInt | _Expr | list[StrictInt] | None = Field(
        None,
        alias="in",
        description="the index's values: a count n (0 .. n-1) or a list of ints",
    )
    when: StrictBool | _Expr | None = Field(
        None, description="keep this entry (for this index) only when this is true"
    )

    @model_validator(mode="after")
    def _for_with_in(self) -> FromEach:
        if (self.for_ is None) != (self.in_ is None):
            raise ValueError(
                '`for` and `in` go together: `{each: "conv{j}", for: j, in: n}` gives '
                "conv0 .. conv{n-1}"
            )
        return self


def _form(value: Any) -> str | None:
    """Which form a `from` (or one entry of its list) is written in: a name, a computed
    entry, a list; None for anything else (one error that says what it takes)."""
    if isinstance(value, str):
        return "name"
    if isinstance(value, (dict, FromEach)):
        return "entry"
    return "list" if isinstance(value, list) else None


_WHAT = (
    "a `from` entry is a node name, a name template (`layer{k - 1}`) or a computed entry "
    '(`{each: "conv{j}", for: j, in: n}`)'
)


class _Inline:
    """A computed entry validated by FromEach's own validator: a `from` schema holding it is
    self-contained, so every layer model copies it (`Reuse`) rather than generating it, where
    a reference to the model would point at a definition only its first model holds. Not
    FromEach's core schema itself: written twice in every `from` (alone and in a list), it
    was most of what each layer model copied and compiled; pydantic merges the
    errors the entry's validator raises with their locations prefixed, as inline
    (tests/test_ops_lazy.py compares the two)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return core_schema.no_info_plain_validator_function(FromEach.model_validate)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        # the JSON Schema refers to one definition of the entry (`$defs/FromEach`), as for
        # any model, through the generator pydantic's handler holds; inline without one
        generator = getattr(handler, "generate_json_schema", None)
        if generator is None:  # pragma: no cover - a pydantic without it
            return handler(schema)
        return generator.generate_inner(FromEach.__pydantic_core_schema__)


_Each = Annotated[FromEach, _Inline(), Tag("entry")]
_Entry = Annotated[
    Annotated[RefText, Tag("name")] | _Each,
    Discriminator(_form, custom_error_type="from_entry", custom_error_message=_WHAT),
]
#: a `from:` as written: a name (or template), one computed entry, or a list of them
FromList = Annotated[
    Annotated[RefText, Tag("name")] | _Each | Annotated[list[_Entry], Tag("list")],
    Discriminator(
        _form,
        custom_error_type="from_entry",
        custom_error_message="`from` is a node name, a computed entry or a list of them",
    ),
]


#: one computed entry and the form of a value, for other fields that name nodes as `from`
#: does (a chunk's `names`, ops/split.py)
ComputedEntry = _Each
entry_form = _form


def entries_of(raw: Any) -> list[Any]:
    """A `from` as validated, as a list of entries (none without it)."""
    if raw is None:
        return []
    return raw if isinstance(raw, list) else [raw]


def is_computed(raw: Any) -> bool:
    """Whether a `from` as validated has a part evaluated where the node is."""
    if raw is None:
        return False
    if isinstance(raw, str):
        return is_template(raw)
    return any(not isinstance(e, str) or is_template(e) for e in entries_of(raw))


def static_refs(raw: Any) -> list[str]:
    """The names a `from` reads as written (its templates and computed entries left out)."""
    return [e for e in entries_of(raw) if isinstance(e, str) and not is_template(e)]


_OUTPUT_WHAT = (
    "an `outputs` entry is a node name, a name template (`stage{k}`) or a computed entry "
    '(`{each: "stage{j}", for: j, in: n}`)'
)
#: a network's `outputs:` as a list: names, templates and computed entries
_OutputSeq = list[
    Annotated[
        Annotated[RefText, Tag("name")] | _Each,
        Discriminator(_form, custom_error_type="output_entry", custom_error_message=_OUTPUT_WHAT),
    ]
]
#: the longest key of an `outputs:` mapping
MAX_OUTPUT_KEY = 100


def check_output_key(key: str) -> str:
    """A key of an `outputs:` mapping, the key forward's dict holds: any text a line shows
    as it is (torchvision's `out`, `aux`; an FPN's `"0"`), none empty or unprintable."""
    if not key or len(key) > MAX_OUTPUT_KEY:
        raise ValueError(f"an `outputs` key is 1 to {MAX_OUTPUT_KEY} characters")
    if not key.isprintable():
        raise ValueError(f"an `outputs` key is printable text: {key[:40]!r} is not")
    return key


OutputKey = Annotated[str, AfterValidator(check_output_key)]
#: what the JSON Schema says of the keys (the validator above words the errors)
_KEYS_SCHEMA = {"propertyNames": {"minLength": 1, "maxLength": MAX_OUTPUT_KEY}}


def _outputs_form(value: Any) -> str | None:
    """A network's `outputs:` as a list (forward returns a tuple) or a mapping (a dict)."""
    if isinstance(value, list):
        return "list"
    return "map" if isinstance(value, dict) else None


#: a network's `outputs:` as written: a list of entries, or a mapping of keys to node names
#: (or templates), in order, which makes forward return an OrderedDict of those keys
OutputList = Annotated[
    Annotated[_OutputSeq, Tag("list")]
    | Annotated[dict[OutputKey, RefText], Field(json_schema_extra=_KEYS_SCHEMA), Tag("map")],
    Discriminator(
        _outputs_form,
        custom_error_type="outputs_form",
        custom_error_message="`outputs` is a list of node names (forward returns a tuple) or a "
        "mapping of keys to node names (forward returns an OrderedDict)",
    ),
]


def _block_outputs(value: Any) -> Any:
    """A block's `outputs:` is a list: a mapping is the network's form alone (schema)."""
    if isinstance(value, dict):
        raise ValueError(
            "a block's `outputs` is a list of node names (its callers' `names:` name them); "
            "only the network's `outputs:` takes a mapping of keys, which forward returns as "
            "an OrderedDict"
        )
    return value


#: a block's `outputs:`: the names it returns, in order (several: a tuple), each a name, a
#: template or a computed entry, as the network's list takes them
BlockOutputs = Annotated[_OutputSeq, BeforeValidator(_block_outputs)]
