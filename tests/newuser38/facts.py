"""What tests/test_newuser38.py compares: the networks of this folder written from the docs
alone (session 38's acceptance check), each against its reference. torchvision's video
networks and timm's cspdarknet53 are recorded by make_fixture.py (reference.json, so the test
needs neither); the hand-written references (references.py) are compared directly."""

from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

import archspec
from tests.newuser36.facts import state_dict_facts
from tests.parity.weights import deterministic_input, fill_deterministic, output_summary

HERE = Path(__file__).parent
FIXTURE = HERE / "reference.json"

#: each recorded case: its spec file, the variant, the reference (`torchvision.models.video`'s
#: or timm's function of that name) and its input shapes: small clips and maps where the
#: network takes them (the edge of the domain `archspec check` derives, for S3D)
RECORDED: dict[str, dict[str, Any]] = {
    "r3d_18": {"spec": "video_resnet.yaml", "variant": "r3d_18", "torchvision": "r3d_18",
               "inputs": [(1, 3, 4, 32, 40), (2, 3, 1, 1, 1)]},
    "mc3_18": {"spec": "video_resnet.yaml", "variant": "mc3_18", "torchvision": "mc3_18",
               "inputs": [(1, 3, 4, 32, 40)]},
    "r2plus1d_18": {"spec": "video_resnet.yaml", "variant": "r2plus1d_18",
                    "torchvision": "r2plus1d_18", "inputs": [(1, 3, 4, 32, 40)]},
    "s3d": {"spec": "s3d.yaml", "torchvision": "s3d", "inputs": [(1, 3, 13, 209, 215)]},
    "cspdarknet53": {"spec": "cspdarknet53.yaml", "timm": "cspdarknet53",
                     "inputs": [(1, 3, 64, 80), (1, 3, 1, 1)]},
}  # fmt: skip

#: each hand-written case: its spec file, variant, class of references.py with its
#: arguments, and input shapes (sizes the pools do not divide, for the U-Nets' padding)
LOCAL: dict[str, dict[str, Any]] = {
    "unet": {"spec": "unet.yaml", "variant": "unet", "reference": ("UNet", {}),
             "inputs": [(1, 3, 37, 50), (1, 3, 16, 16)]},
    "unet_bilinear": {"spec": "unet.yaml", "variant": "unet_bilinear",
                      "reference": ("UNet", {"bilinear": True}), "inputs": [(1, 3, 37, 50)]},
    "m5": {"spec": "m5.yaml", "reference": ("M5", {}), "inputs": [(2, 1, 8000), (1, 1, 6848)]},
    "tcn": {"spec": "tcn.yaml", "reference": ("TCN", {}), "inputs": [(2, 1, 784), (1, 1, 1)]},
    "crnn": {"spec": "crnn.yaml", "reference": ("CRNN", {}),
             "inputs": [(2, 1, 32, 100), (1, 1, 32, 4)]},
    "pointnet_seg": {"spec": "pointnet_seg.yaml", "reference": ("PointNetDenseCls", {}),
                     "inputs": [(2, 3, 500), (2, 3, 1)]},
    "seq_transformer": {"spec": "seq_transformer.yaml", "reference": ("SeqTransformer", {}),
                        "inputs": [(2, 30, 16), (1, 1, 16)]},
    "wavenet": {"spec": "wavenet.yaml", "reference": ("WaveNet", {}),
                "inputs": [(2, 1, 300), (1, 1, 1)]},
}  # fmt: skip


def options(case: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments that build the case's spec."""
    return {"variant": case["variant"]} if "variant" in case else {}


def outputs(
    model: torch.nn.Module, inputs: list[tuple[int, ...]], wide: bool = False
) -> list[dict[str, Any]]:
    """The eval outputs at each input shape, summarised (tests/parity/weights.py); `wide`:
    the model and the same inputs widened to float64 first (the model stays so)."""
    dtype = torch.float64 if wide else torch.float32
    model.eval().to(dtype)
    with torch.no_grad():
        return [output_summary(model(deterministic_input(tuple(s)).to(dtype))) for s in inputs]


def record(model: torch.nn.Module, inputs: list[tuple[int, ...]]) -> dict[str, Any]:
    """A reference's facts: parameter count, state_dict facts, and its outputs under the
    RNG-free weights of tests/parity/weights.py, run in float64: a float32 record of a deep
    network differs from one CPU's kernels to another's by more than the comparison allows,
    float64's do not (tests/newuser40/make_fixture.py)."""
    state = model.state_dict()
    facts = state_dict_facts(state)  # of the float32 network, before it is widened
    model.load_state_dict(fill_deterministic(state), strict=True)
    return {
        "param_count": sum(p.numel() for p in model.parameters()),
        **facts,
        "outputs": outputs(model, inputs, wide=True),
    }


def compiled_and_emitted(spec: str, **opts: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The spec compiled, and built from its emitted source, after a clean check (no
    warning either), each holding the same RNG-free weights, in eval mode."""
    report = archspec.check(spec, **opts)
    assert report.ok and not report.diagnostics, report.diagnostics
    ours = archspec.compile(spec, **opts).eval()
    module = types.ModuleType(f"emitted_{Path(spec).stem}")
    exec(compile(archspec.emit(spec, **opts), "<emitted>", "exec"), module.__dict__)
    emitted = getattr(module, type(ours).__name__)().eval()
    filled = fill_deterministic(ours.state_dict())
    ours.load_state_dict(filled, strict=True)
    emitted.load_state_dict(filled, strict=True)
    return ours, emitted
