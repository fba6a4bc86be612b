"""How a shape rule reports what it requires of its inputs: a failure now (`ShapeFailure`),
or a constraint over the input symbols (`ShapeContext`) that lowering checks against the
declared input and the domain pass collects. Re-exported by ops/base.py."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from ..dims import Dim
from ..lazymethods import dataclass

#: A rule's message template (`{a}`, `{b}`, `{d}` are filled in), or a function making it:
#: a message that names the whole input shape is then only built if someone reads it.
Message = str | Callable[[], str]


def _template(message: Message) -> str:
    return message() if callable(message) else message


def _filled(message: Message, values: dict[str, Dim]) -> str:
    return _template(message).format(**values)


#: The hint of a rule's failure that states none, by code: every error says what to look at
#: (a rule's own hint, which knows the layer, is always preferred).
DEFAULT_HINTS = {
    "E204": "see the layer kind's fields in docs/spec-language.md (the layer vocabulary)",
    "E401": "check the layers before it: this layer takes another rank or layout of input "
    "(docs/spec-language.md lists what each kind takes)",
    "E402": "make the joined tensors agree in that dim, or broadcast one of them from size 1",
    "E403": "make the joined tensors agree in every dim but the one they are joined along",
    "E404": "check the layers before it, and the sizes this layer states",
    "E405": "use a larger input, less downsampling before it, or padding",
    "E406": "declare a concrete input size (--input), or give sizes that do not depend on it",
    "E409": "make the layer's arguments agree with each other and with its input "
    "(docs/errors.md, E409)",
    "E412": "give the layer an input whose size, after the layers before it, fits its sizes",
}


class ShapeFailure(Exception):
    """A shape rule found the input impossible; becomes a diagnostic with the node's span.

    The message may be a function: the emitter probes rules with perturbed inputs and
    discards the failures, so a message naming every input of a wide concat is only
    built when a diagnostic shows it.
    """

    def __init__(
        self, code: str, message: Message, hint: str | None = None, field: str | None = None
    ):
        super().__init__(code)
        self.code = code
        self._message = message
        self.hint = hint or DEFAULT_HINTS.get(code)
        self.field = field

    @property
    def message(self) -> str:
        if callable(self._message):
            self._message = self._message()
        return self._message

    def __str__(self) -> str:
        return self.message


def check_declared(kind: str, field: str, given: Any, actual: int, unit: str = "channels") -> None:
    """E402 when a spec states a size archspec infers (`in_channels`, `num_features`,
    `embed_dim` ...) and it is not the size the input has: one wording for every kind."""
    if given is not None and given != actual:
        raise ShapeFailure(
            "E402",
            f"{kind} declares {field}={given} but receives {actual} {unit}",
            f"drop {field}: archspec infers it",
            field,
        )


def unknown_features(
    kind: str,
    x: tuple[Dim, ...],
    what: str,
    hint: str | None,
    instead: str = "",
    permute: bool = True,
) -> ShapeFailure:
    """E406 for a layer that reads its features from the last dim (a linear, a recurrent
    layer, attention, a layer norm) when that dim is a size: where the input is a conv's
    (N, C, L), its channels a number at dim 1, the hint says to permute them last, which
    a concrete input size would not fix (the layer would read C as the sequence), or to do
    what `instead` says (`permute`: False for a layer that reads more than the last dim)."""
    from ..dims import format_shape

    message = f"{kind} needs {what}, got {format_shape(x)}"
    if permute and len(x) == 3 and x[1].is_const and not x[2].is_const:
        hint = (
            f"{kind} reads its features from the last dim, here the length {x[2]}: the input "
            f"looks like a conv's (N, C, L), its {x[1]} channels at dim 1; put a `permute` "
            f"with dims [0, 2, 1] before it, so each of the L steps has {x[1]} features{instead}"
        )
    return ShapeFailure("E406", message, hint)


@dataclass(frozen=True)
class Constraint:
    """A requirement on the input symbols: `lhs == rhs`, `lhs >= 1`, or `lhs == rhs or lhs
    == 1` (`eq_or1`: torch broadcasting a size that may be 1), and who made it."""

    kind: Literal["eq", "ge1", "eq_or1"]
    lhs: Dim
    rhs: Dim | None
    code: str
    message: Message
    hint: str | None
    node: str

    @property
    def template(self) -> str:
        """The message template, built now if the rule gave a function."""
        return _template(self.message)


class ShapeContext:
    """Default context: decide what can be decided, record the rest as constraints."""

    def __init__(self) -> None:
        self.constraints: list[Constraint] = []
        self.node: str = ""

    def require_equal(
        self,
        a: Dim,
        b: Dim | int,
        code: str,
        message: Message,
        hint: str | None = None,
        field: str | None = None,
    ) -> None:
        """`a == b`: a failure now when they differ by a number (at `field`, the field that
        asked for it, when given, else at the node), else a constraint on the input."""
        a, b = Dim.of(a), Dim.of(b)
        if a == b:
            return
        diff = a - b
        if diff.is_const:
            raise ShapeFailure(code, partial(_filled, message, {"a": a, "b": b}), hint, field)
        if self.wants("eq", a, b):
            self.constraints.append(Constraint("eq", a, b, code, message, hint, self.node))

    def require_equal_or_one(self, a: Dim, b: Dim, code: str, message: Message, hint: str) -> None:
        """`a == b or a == 1`: sizes torch broadcasts where `a` may be 1 (a learned position
        embedding of L tokens added to (H//8)*(W//8) patch tokens: equal, or one token). A
        failure now when neither can hold, else a constraint on the input: the inputs that
        take it are the union of the two cases'."""
        a, b = Dim.of(a), Dim.of(b)
        if a == b or (a.is_const and a.value == 1):
            return
        if a.is_const or (b.is_const and b.value == 1):  # one case left: a == b
            self.require_equal(a, b, code, message, hint)
            return
        self.record_either_or(Constraint("eq_or1", a, b, code, message, hint, self.node))

    def record_either_or(self, c: Constraint) -> None:
        """Keep an `eq_or1` requirement (a context that cannot state one refuses it here)."""
        if self.wants(c.kind, c.lhs, c.rhs):
            self.constraints.append(c)

    def require_positive(
        self, d: Dim, code: str, message: Message, hint: str | None = None, field: str | None = None
    ) -> None:
        """`d >= 1`: a failure now when it is a number below 1 (at `field`, when given, as for
        `require_equal`), else a constraint on the input."""
        d = Dim.of(d)
        if d.is_const:
            if d.value < 1:
                raise ShapeFailure(code, partial(_filled, message, {"d": d}), hint, field)
            return
        if self.wants("ge1", d, None):
            self.constraints.append(Constraint("ge1", d, None, code, message, hint, self.node))

    #: whether `require_in_training` keeps anything (a rule need not work one out otherwise)
    follows_training = False

    def require_in_training(self, d: Dim, message: Message, hint: str) -> None:
        """`d >= 1` in training mode only (a batch norm's more than one value per channel,
        which eval mode, normalising with running statistics, does not need). The shape
        pass (passes/shapes.py) keeps it for the training-mode domain, and a number below 1
        is its W404; the declared-input check of lowering is eval mode's, so here it is no
        requirement at all."""

    def wants(self, kind: str, lhs: Dim, rhs: Dim | None) -> bool:
        """Whether to record a requirement the input does not settle (this context keeps
        every one; a RecordOnce keeps each once)."""
        return True

    def pinned(self, d: Dim) -> int | None:
        """The number a requirement made so far fixes `d` to, or None: after MLP-Mixer's
        token MLP reads (N, D, L) with 196 in-features, L is 196 for every accepted input."""
        for c in self.in_force():
            if c.kind == "eq" and c.rhs is not None:
                if c.lhs == d and c.rhs.is_const:
                    return c.rhs.value
                if c.rhs == d and c.lhs.is_const:
                    return c.lhs.value
        return None

    def in_force(self) -> list[Constraint]:
        """The requirements that hold where the current node runs (here: every one)."""
        return self.constraints


class RecordOnce(ShapeContext):
    """A context that records each requirement once: a stage's extent is required positive
    by every layer that reads it (a ResNet-50 makes the same few requirements hundreds of
    times), and lowering and the shape pass both keep only the first, as the domain solver
    would. `once_key` says which requirements are the same."""

    def __init__(self) -> None:
        super().__init__()
        #: once_key of every requirement recorded
        self.seen: set[tuple[object, ...]] = set()

    def once_key(self, kind: str, lhs: Dim, rhs: Dim | None) -> tuple[object, ...]:
        """Requirements with equal keys are one: here the same kind, lhs and rhs."""
        return (kind, lhs, rhs)

    def wants(self, kind: str, lhs: Dim, rhs: Dim | None) -> bool:
        key = self.once_key(kind, lhs, rhs)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True
