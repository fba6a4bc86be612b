"""An acceptance sweep of `archspec import` over classic hand-written models (`models.py`),
judged independently of the import: the spec compiled and emitted, each checked against the
model (params, state_dict keys, shapes and order, strict loads both ways, eval outputs at two
input sizes where the model takes them).

    PYTHONPATH=$PWD python -m tests.h44c.sweep [NAME ...]
"""

from __future__ import annotations

import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.errors import ArchSpecError
from tests.h44c import models as m
from tests.parity.records import sweep
from tests.parity.sweeps import perturb, rel

SWEEP_JSON = Path(__file__).resolve().parent / "sweep.json"
_ROOT = str(Path(__file__).resolve().parents[2]) + "/"


def _short(text: str) -> str:
    """A record's text without this machine's paths: the repository's files by relative
    path (tests/h44c/models.py:12)."""
    return text.replace(_ROOT, "")


def _x(*shape: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _ids(*shape: int, high: int = 50, seed: int = 2) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed))


Case = tuple[Callable[[], nn.Module], tuple[torch.Tensor, ...], tuple[torch.Tensor, ...] | None]

CASES: dict[str, Case] = {
    "mnist_net": (m.MnistNet, (_x(1, 1, 28, 28),), (_x(3, 1, 28, 28, seed=3),)),
    "dcgan_generator": (m.DCGANGenerator, (_x(1, 16, 1, 1),), (_x(3, 16, 1, 1, seed=3),)),
    "dcgan_discriminator": (m.DCGANDiscriminator, (_x(1, 3, 64, 64),), (_x(3, 3, 64, 64, seed=3),)),
    "word_lm_lstm": (m.RNNModel, (_ids(7, 2),), (_ids(9, 3, seed=3),)),
    "word_lm_gru": (lambda: m.RNNModel("GRU"), (_ids(7, 2),), (_ids(9, 3, seed=3),)),
    "word_lm_rnn_tanh": (lambda: m.RNNModel("RNN_TANH"), (_ids(7, 2),), (_ids(9, 3, seed=3),)),
    "word_lm_gru_hidden": (
        lambda: m.RNNModelHidden("GRU"),
        (_ids(7, 2), _x(2, 2, 16)),
        (_ids(9, 3, seed=3), _x(2, 3, 16, seed=3)),
    ),
    "super_resolution": (m.SuperResolutionNet, (_x(1, 1, 16, 16),), (_x(2, 1, 20, 12, seed=3),)),
    "fast_neural_style": (m.TransformerNet, (_x(1, 3, 32, 32),), (_x(2, 3, 40, 48, seed=3),)),
    "vae": (m.VAE, (_x(1, 1, 28, 28),), (_x(3, 1, 28, 28, seed=3),)),
    "siamese": (
        m.SiameseNetwork,
        (_x(1, 1, 16, 16), _x(1, 1, 16, 16, seed=4)),
        (_x(2, 1, 20, 24, seed=3), _x(2, 1, 20, 24, seed=5)),
    ),
    "char_cnn": (m.CharCNN, (_x(1, 128, 20),), (_x(3, 128, 20, seed=3),)),
    "functional_conv": (m.FunctionalConv, (_x(1, 3, 8, 8),), (_x(2, 3, 10, 6, seed=3),)),
    "shape_arith": (m.ShapeArith, (_x(1, 4, 6, 6),), (_x(2, 4, 8, 10, seed=3),)),
    "kuangliu_shufflenet": (m.KuangShuffleNet, (_x(1, 3, 32, 32),), (_x(2, 3, 32, 32, seed=3),)),
    "preact_resnet18": (m.PreActResNet, (_x(1, 3, 32, 32),), (_x(2, 3, 32, 32, seed=3),)),
    "wide_resnet": (m.WideResNet, (_x(1, 3, 32, 32),), (_x(2, 3, 32, 32, seed=3),)),
    "annotated_layernorm": (
        lambda: m.LayerNormScratch(16),
        (_x(1, 5, 16),),
        (_x(2, 7, 16, seed=3),),
    ),
    "annotated_encoder_layer": (m.AnnotatedEncoderLayer, (_x(1, 5, 32),), (_x(2, 7, 32, seed=3),)),
    "annotated_encoder_lambda": (m.AnnotatedEncoderLayerLambda, (_x(1, 5, 32),), None),
    "highway": (m.Highway, (_x(1, 16),), (_x(4, 16, seed=3),)),
    "primary_caps": (m.PrimaryCaps, (_x(1, 1, 28, 28),), (_x(2, 1, 28, 28, seed=3),)),
    "rnn_from_scratch": (
        m.RNNFromScratch,
        (_x(1, 20), _x(1, 32, seed=4)),
        (_x(3, 20, seed=3), _x(3, 32, seed=5)),
    ),
    "pixelcnn": (m.PixelCNN, (_x(1, 1, 12, 12),), None),
    "conv_autoencoder": (m.ConvAutoencoder, (_x(1, 1, 28, 28),), (_x(3, 1, 28, 28, seed=3),)),
    "fsrcnn": (m.FSRCNN, (_x(1, 1, 16, 16),), (_x(2, 1, 20, 12, seed=3),)),
    "vdsr": (m.VDSR, (_x(1, 1, 16, 16),), (_x(2, 1, 20, 12, seed=3),)),
    "mnist_rnn": (m.MnistRNN, (_x(1, 1, 28, 28),), (_x(3, 1, 28, 28, seed=3),)),
    "cifar_tutorial": (m.CifarTutorialNet, (_x(1, 3, 32, 32),), (_x(3, 3, 32, 32, seed=3),)),
    "self_attention_lstm": (m.SelfAttentionClassifier, (_ids(1, 9),), (_ids(3, 11, seed=3),)),
    "nin": (m.NiN, (_x(1, 1, 64, 64),), (_x(2, 1, 72, 80, seed=3),)),
    "lenet_blitz": (m.LeNetBlitz, (_x(1, 1, 32, 32),), (_x(3, 1, 32, 32, seed=3),)),
    "bahdanau_attention": (
        m.BahdanauAttention,
        (_x(1, 8), _x(1, 5, 16, seed=4)),
        (_x(3, 8, seed=3), _x(3, 7, 16, seed=5)),
    ),
    "realnvp_coupling": (m.CouplingLayer, (_x(1, 4, 8, 8),), (_x(2, 4, 6, 10, seed=3),)),
    "sagan_attention": (m.SAGANAttention, (_x(1, 16, 6, 6),), (_x(2, 16, 5, 7, seed=3),)),
    "non_local_block": (m.NonLocalBlock, (_x(1, 8, 6, 6),), (_x(2, 8, 5, 7, seed=3),)),
    "srgan_generator": (m.SRGANGenerator, (_x(1, 3, 12, 12),), (_x(2, 3, 10, 14, seed=3),)),
    "dncnn": (m.DnCNN, (_x(1, 1, 16, 16),), (_x(2, 1, 20, 12, seed=3),)),
    "time_sequence": (m.TimeSequence, (_x(1, 12),), (_x(3, 12, seed=3),)),
    "seq2seq_encoder": (m.Seq2SeqEncoder, (_ids(1, 9),), (_ids(3, 11, seed=3),)),
    "triplet_net": (
        m.TripletNet,
        (_x(1, 1, 16, 16), _x(1, 1, 16, 16, seed=4), _x(1, 1, 16, 16, seed=5)),
        (_x(2, 1, 16, 16, seed=3), _x(2, 1, 16, 16, seed=6), _x(2, 1, 16, 16, seed=7)),
    ),
    "mdn": (m.MDN, (_x(1, 4),), (_x(5, 4, seed=3),)),
}


def _emitted(text: str) -> nn.Module:
    graph = build_graph(text)
    source = render_module(graph)
    module = types.ModuleType("emitted_sweep")
    exec(compile(source, "<emitted>", "exec"), module.__dict__)
    return getattr(module, graph.class_name)()


def _layout(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def _run(model: nn.Module, probe: tuple[torch.Tensor, ...]) -> Any:
    torch.manual_seed(7)
    with torch.no_grad():
        return model(*probe)


def check_case(name: str) -> dict[str, Any]:
    build, inputs, second = CASES[name]
    torch.manual_seed(0)
    model = build().eval()
    perturb(model)
    record: dict[str, Any] = {"model": name}
    try:
        text = archspec.from_module(model, inputs if len(inputs) > 1 else inputs[0])
    except ArchSpecError as exc:
        located = all(d.span is not None and d.span.line >= 1 for d in exc.diagnostics)
        why = [_short(f"{d.span}: {d.code}: {d.message}")[:400] for d in exc.diagnostics[:5]]
        hints = [(d.hint or "")[:300] for d in exc.diagnostics[:2]]
        status = "refused" if located else "unlocated"
        return {**record, "status": status, "why": why, "hints": hints}
    except Exception as exc:
        lines = traceback.format_exception(exc)[-4:]
        return {**record, "status": "traceback", "why": [_short(t) for t in lines]}
    record["lines"] = len(text.splitlines())
    problems = []
    for tag, twin in (
        ("compiled", archspec.compile(text).eval()),
        ("emitted", _emitted(text).eval()),
    ):
        n_ours = sum(p.numel() for p in twin.parameters())
        n_model = sum(p.numel() for p in model.parameters())
        if n_ours != n_model:
            problems.append(f"{tag}: {n_ours} params against {n_model}")
        if _layout(twin) != _layout(model):
            problems.append(f"{tag}: state_dict keys/shapes/order differ")
            continue
        twin.load_state_dict(model.state_dict(), strict=True)
        for probe in (inputs, second) if second is not None else (inputs,):
            err = rel(_run(twin, probe), _run(model, probe))
            if not err <= 1e-5:
                problems.append(
                    f"{tag}: outputs differ at {[tuple(p.shape) for p in probe]}: {err:.3g}"
                )
    status = "wrong" if problems else "exact"
    return {**record, "status": status, **({"why": problems} if problems else {})}


def main() -> None:
    """Check the models named (all of CASES without names), recording each in sweep.json."""
    torch.set_num_threads(1)
    names = sys.argv[1:] or list(CASES)
    records = sweep(SWEEP_JSON, list(CASES), names, check_case, crash="crash")
    counts: dict[str, int] = {}
    for rec in records.values():
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
    print(counts)


if __name__ == "__main__":
    main()
