"""Recurrent layers over token sequences: `lstm`, `gru` and `rnn` (torch's nn.LSTM, nn.GRU and
nn.RNN, batch first, or sequence first with `batch_first: false`, (L, N, D), as torch's
default and a CRNN read), each returning the output sequence (N, L, H * directions), as a
text model's `out, _ = self.lstm(x)` keeps it; the final states are not returned.

A layer `k` of `num_layers` reads the features D (layer 0) or the previous layer's
H * directions and keeps, per direction, `weight_ih_l{k}` (G*H, in), `weight_hh_l{k}`
(G*H, H) and with `bias` `bias_ih_l{k}`, `bias_hh_l{k}` (G*H), the reverse direction's with
the suffix `_reverse`, where G is the gate count: 4 for an LSTM, 3 for a GRU, 1 for a plain
RNN. MACs per sample are the gates' matrix products at every step: L * G*H * (in + H) per
layer and direction; the gates' elementwise products are not counted (as a linear layer's
activation is not).
"""

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..dims import Dim, Shape
from .base import (
    Bool,
    Float,
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .emitting import emit_call
from .shapectx import check_declared, unknown_features
from .support import definitions

#: The most stacked layers one module takes: torch builds them one by one in Python (even on
#: the meta device, where compile's self-check builds the emitted module), so a spec's
#: `num_layers: 2147483647` would be a hang, not a model.
MAX_LAYERS = 1024


def _recurrent_spec(kind: str) -> type[LayerSpec]:
    class RecurrentSpec(LayerSpec):
        """A recurrent layer over (N, L, D) tokens, batch first: the output sequence."""

        type: Literal[kind]  # type: ignore[valid-type]
        hidden_size: Int(ge=1)  # type: ignore[valid-type]
        num_layers: Int(ge=1, le=MAX_LAYERS) = Field(  # type: ignore[valid-type]
            1,
            description="stacked layers, each reading the last; torch makes each one in a "
            f"loop, so {MAX_LAYERS} at most",
        )
        bias: Bool = True
        bidirectional: Bool = False
        dropout: Float(ge=0, le=1) = Field(  # type: ignore[valid-type]
            0.0, description="dropout on the outputs of each layer but the last, in training"
        )
        input_size: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked against the input's D if given"
        )
        batch_first: Bool = Field(
            True, description="false: the sequence comes first, (L, N, D), torch's default"
        )

    if kind == "rnn":

        class RNNSpec(RecurrentSpec):
            nonlinearity: Literal["tanh", "relu"] = "tanh"

        RNNSpec.__name__ = RNNSpec.__qualname__ = "RnnSpec"
        return RNNSpec
    RecurrentSpec.__name__ = RecurrentSpec.__qualname__ = f"{kind.capitalize()}Spec"
    return RecurrentSpec


class _Recurrent(Op):
    inferred = ("input_size",)
    module_class: ClassVar[str] = ""
    #: how many (G*H, ...) blocks its weights stack: 4 for an LSTM, 3 for a GRU, 1 for an RNN
    gates: ClassVar[int] = 1

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 3:
            form = "(N, L, D)" if attrs["batch_first"] else "(L, N, D)"
            one = "[1, L, D]" if attrs["batch_first"] else "[L, 1, D]"
            dims = "[0, 2, 1]" if attrs["batch_first"] else "[2, 0, 1]"
            raise ShapeFailure(
                "E401",
                f"{self.kind} reads tokens {form}, got rank {len(x)} {fmt(x)}",
                f"a sequence is {form}, the features last: an embedding's output, or a "
                f"map's (N, C, L) after a permute {dims}"
                + (
                    f"; archspec has no unbatched input (dim 0 is the batch unless a dim is "
                    f"named N or B): declare one sequence with a batch of one, `input: {one}`"
                    if len(x) == 2
                    else ""
                ),
            )
        d = x[2]
        if not d.is_const:
            raise unknown_features(self.kind, x, "a known D", None)
        check_declared(self.kind, "input_size", attrs.get("input_size"), d.value, "features")
        seq = x[1] if attrs["batch_first"] else x[0]  # the output keeps both in place
        ctx.require_positive(seq, "E405", f"{self.kind} reads an empty sequence: L is {{d}}")
        out = attrs["hidden_size"] * (2 if attrs["bidirectional"] else 1)
        return Inferred(dict(attrs, input_size=d.value), (x[0], x[1], Dim.of(out)))

    def _products(self, a: Mapping[str, Any]) -> tuple[int, int]:
        """The weights' elements of all layers and directions, and how many of them are
        biases: the first layer reads D, each later one H * directions (worked out without
        a list of layers: `num_layers` is a spec's number, as large as it says)."""
        g, h = self.gates * a["hidden_size"], a["hidden_size"]
        dirs = 2 if a["bidirectional"] else 1
        later = a["num_layers"] - 1
        weights = dirs * (g * (a["input_size"] + h) + later * g * (h * dirs + h))
        return weights, dirs * a["num_layers"] * 2 * g

    def params(self, a: Mapping[str, Any]) -> int:
        weights, biases = self._products(a)
        return weights + (biases if a["bias"] else 0)

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        n, seq, _ = out
        return n * seq * self._products(a)[0]

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}  # torch initialises each weight_ih/weight_hh/bias uniformly in 1/sqrt(H)

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()  # a leaf: its tensors are its own, per layer and direction

    def _kwargs(self, a: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        given = {
            "num_layers": (a["num_layers"], 1),
            "bias": (a["bias"], True),
            "batch_first": (a["batch_first"], None),
            "dropout": (a["dropout"], 0.0),
            "bidirectional": (a["bidirectional"], False),
        }
        if self.kind == "rnn":
            given["nonlinearity"] = (a["nonlinearity"], "tanh")
        return given

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """torch's module of the kind without an LSTM's projection (the layouts a spec's
        module computes, batch first or not); None for any other."""
        if getattr(module, "proj_size", 0):
            return None
        return super().read_module(module)

    def build(self, a: Mapping[str, Any]) -> Any:
        from . import recurrent_modules

        cls = getattr(recurrent_modules, self.module_class)
        kwargs = {k: v for k, (v, _) in self._kwargs(a).items()}
        return cls(a["input_size"], a["hidden_size"], **kwargs)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            self.module_class, [a["input_size"], a["hidden_size"]], self._kwargs(a), lit
        )

    def emit_support(self) -> str:
        return definitions("recurrent_modules.py", self.module_class)


@register
class LSTM(_Recurrent):
    kind = "lstm"
    spec = LazySpec(lambda: _recurrent_spec("lstm"))
    torch_name = "LSTM"
    category = "linear"
    module_class = "SequenceLSTM"
    gates = 4
    summary = "LSTM over (N, L, D) tokens, batch first: the output sequence (nn.LSTM's keys)"


@register
class GRU(_Recurrent):
    kind = "gru"
    spec = LazySpec(lambda: _recurrent_spec("gru"))
    torch_name = "GRU"
    category = "linear"
    module_class = "SequenceGRU"
    gates = 3
    summary = "GRU over (N, L, D) tokens, batch first: the output sequence (nn.GRU's keys)"


@register
class RNN(_Recurrent):
    kind = "rnn"
    spec = LazySpec(lambda: _recurrent_spec("rnn"))
    torch_name = "RNN"
    category = "linear"
    module_class = "SequenceRNN"
    summary = "Elman RNN over (N, L, D) tokens, batch first: the output sequence (nn.RNN's keys)"
