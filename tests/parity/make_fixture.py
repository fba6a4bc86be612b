"""Generate the torchvision parity fixture (``fixture.json`` and ``outputs.pt``).

Needs torchvision, which the main environment does not have. Create a separate venv once::

    python3 -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1

then, from the repository root::

    /tmp/tvenv/bin/python -m tests.parity.make_fixture

No pretrained weights are
downloaded: every model is built with ``weights=None`` and then loaded with the RNG-free weights
from :func:`tests.parity.weights.fill_deterministic`. For each model the script records the
constructor call, input shape, parameter count, ordered state_dict ``(key, shape, dtype)`` list
and output shape in ``fixture.json``, and the eval-mode output for
``deterministic_input(input_shape)`` in ``outputs.pt`` (``{name: float32 tensor}``). Running it
twice produces byte-identical ``fixture.json``.

``--zoo`` records issue 14's 68 torchvision CNNs instead, into ``zoo.json`` and
``zoo_state_dicts.json.gz`` (see :mod:`tests.parity.make_zoo`); no current test reads them.
``--only a,b`` limits a zoo run to some models and ``--missing`` to those not recorded yet; each
model is merged into the files as soon as it is done, so a long run can be done in parts.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torchvision

from .weights import deterministic_input, fill_deterministic

HERE = Path(__file__).resolve().parent
FIXTURE_JSON = HERE / "fixture.json"
OUTPUTS_PT = HERE / "outputs.pt"

BATCH = 2
CHANNELS = 3
SIZE = 224

# name -> (torchvision.models constructor, extra kwargs, expected parameter count)
MODELS: dict[str, tuple[str, dict[str, Any], int]] = {
    "alexnet": ("alexnet", {}, 61_100_840),
    "vgg11": ("vgg11", {}, 132_863_336),
    "vgg11_bn": ("vgg11_bn", {}, 132_868_840),
    "vgg13": ("vgg13", {}, 133_047_848),
    "vgg13_bn": ("vgg13_bn", {}, 133_053_736),
    "vgg16": ("vgg16", {}, 138_357_544),
    "vgg16_bn": ("vgg16_bn", {}, 138_365_992),
    "vgg19": ("vgg19", {}, 143_667_240),
    "vgg19_bn": ("vgg19_bn", {}, 143_678_248),
    "googlenet_aux": ("googlenet", {"aux_logits": True, "init_weights": True}, 13_004_888),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": True}, 6_624_904),
    "resnet18": ("resnet18", {}, 11_689_512),
    "resnet34": ("resnet34", {}, 21_797_672),
    "resnet50": ("resnet50", {}, 25_557_032),
    "resnet101": ("resnet101", {}, 44_549_160),
    "resnet152": ("resnet152", {}, 60_192_808),
}


def constructor_text(fn: str, kwargs: dict[str, Any]) -> str:
    """Return the torchvision constructor call as source text, e.g. ``...vgg11(weights=None)``."""
    args = ", ".join(["weights=None", *(f"{k}={v!r}" for k, v in kwargs.items())])
    return f"torchvision.models.{fn}({args})"


def dtype_name(dtype: torch.dtype) -> str:
    """Return ``'float32'`` for ``torch.float32`` etc."""
    return str(dtype).removeprefix("torch.")


def build_entry(name: str) -> tuple[dict[str, Any], torch.Tensor]:
    """Build one model, check it, and return its JSON record and eval output."""
    fn, kwargs, expected_params = MODELS[name]
    model = getattr(torchvision.models, fn)(weights=None, **kwargs)
    param_count = sum(p.numel() for p in model.parameters())
    if param_count != expected_params:
        raise AssertionError(f"{name}: {param_count} params, expected {expected_params}")

    state = model.state_dict()
    entries = [[key, list(t.shape), dtype_name(t.dtype)] for key, t in state.items()]
    model.load_state_dict(fill_deterministic(state), strict=True)
    model.eval()

    input_shape = [BATCH, CHANNELS, SIZE, SIZE]
    with torch.no_grad():
        out = model(deterministic_input(tuple(input_shape)))
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{name}: eval output is {type(out).__name__}, not a Tensor")
    out = out.detach().to(torch.float32).contiguous().clone()
    std = out.std().item()
    if not torch.isfinite(out).all() or not 1e-3 < std < 1e3:
        raise AssertionError(f"{name}: bad output (std={std})")

    record: dict[str, Any] = {
        "constructor": constructor_text(fn, kwargs),
        "input_shape": input_shape,
        "param_count": param_count,
        "state_dict": entries,
        "output_shape": list(out.shape),
    }
    if fn == "googlenet":
        # With weights=None torchvision leaves transform_input=False (it is only forced to True
        # for pretrained weights), so the input is fed to conv1 unchanged.
        record["transform_input"] = bool(model.transform_input)
        record["aux_logits"] = bool(model.aux_logits)
    print(f"{name:14s} params={param_count:>11,d} out={list(out.shape)} std={std:.4g}", flush=True)
    return record, out


def main() -> None:
    """Build every model and write ``fixture.json`` and ``outputs.pt`` next to this file."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    models: dict[str, Any] = {}
    outputs: dict[str, torch.Tensor] = {}
    for name in MODELS:
        models[name], outputs[name] = build_entry(name)
    fixture = {
        "generator": {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "script": "tests/parity/make_fixture.py",
        },
        "models": models,
    }
    FIXTURE_JSON.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
    torch.save(outputs, OUTPUTS_PT)
    total = sum(math.prod(o.shape) for o in outputs.values())
    elapsed = time.perf_counter() - start
    print(f"wrote {FIXTURE_JSON.name} and {OUTPUTS_PT.name} ({total} values) in {elapsed:.1f}s")


def cli(argv: list[str] | None = None) -> None:
    """Parse the command line: no flags writes the 16-model fixture, ``--zoo`` the zoo."""
    parser = argparse.ArgumentParser(prog="python -m tests.parity.make_fixture")
    parser.add_argument("--zoo", action="store_true", help="record the 68-model zoo")
    parser.add_argument("--only", help="zoo: comma-separated model names to (re)record")
    parser.add_argument("--missing", action="store_true", help="zoo: only unrecorded models")
    args = parser.parse_args(argv)
    if not args.zoo:
        if args.only or args.missing:
            parser.error("--only and --missing need --zoo")
        main()
        return
    from .make_zoo import run_zoo

    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    run_zoo(only=only, missing=args.missing)


if __name__ == "__main__":
    cli()
