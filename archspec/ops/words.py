"""Word fields: a layer's field that names a function or a mode (`activation`'s `fn`, a
resize's `mode`) takes one of its words as written, or text that gives one where the layer
is (a param's name, an expression, a `{...}` template), checked against the words there
(`lowering/values.py`)."""

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from ..errors import VALIDATOR_HINT
from .base import Final, _expr_problem
from .templates import MAX_TEMPLATE_LEN, template_parts

#: How a word field is written, for the hints of the words it refuses.
WORD_HINT = (
    "write one of the words as listed, or the name of a param or let that holds one "
    '(`fn: act`), or a `{...}` template that gives one (`mode: "{up}"`)'
)


def listed_words(words: Sequence[str]) -> str:
    """`'a', 'b' or 'c'`: the words a field takes, as a message lists them."""
    quoted = [repr(w) for w in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _word_text_check(words: tuple[str, ...]) -> Callable[[str], str]:
    """The check of text in a word field that is none of its words: an expression that
    gives one (a param's name, `'gelu' if exact else 'relu'`) or a template of
    `{expression}` parts, evaluated where the layer is and checked against the words there
    (lowering). Anything else is refused with the words listed."""

    def check(text: str) -> str:
        if "{" in text or "}" in text:
            too_long = f"a word template is at most {MAX_TEMPLATE_LEN} characters with its parts"
            template_parts(text, "word template", text[:60], too_long)
            return text
        problem = _expr_problem(text)
        if problem is not None:
            raise ValueError(
                f"{text[:60]!r} is not allowed here; expected {listed_words(words)}, or a "
                f"param's name or a template that gives one{VALIDATOR_HINT}{WORD_HINT}"
            )
        return text

    return check


def Word(words: tuple[str, ...]) -> Any:
    """A word field (a mode, a function's name): one of `words` as written, or text that
    chooses one where the layer is (a block's `act`), checked against them there. A word
    is read as itself even where a param has its name."""
    text = Annotated[
        str,
        AfterValidator(_word_text_check(words)),
        Field(
            description="a param's name, an expression or a `{expression}` template that "
            "gives one of the words where the layer is"
        ),
    ]
    return Annotated[Literal[words] | text, Final("word", choices=words)]  # type: ignore[valid-type]
