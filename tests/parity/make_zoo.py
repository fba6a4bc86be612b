"""Record torchvision's classification zoo as parity data (``zoo.json``): issue 14's 68 CNNs and
issue 17's 12 attention models (ViT, Swin, MaxViT).

Run through ``make_fixture.py --zoo`` in a venv with torchvision (see ``README.md``). No weights
are downloaded: every model is built with ``weights=None``; only the weights enums' metadata
(part of the torchvision package) is read. Three files are written next to this one:

``zoo.json``
    one line per model: constructor call, parameter count, a digest and length of the
    state_dict list, module ``_version`` metadata, weights metadata (``_ops``, ``min_size``,
    crop/resize sizes of every weights entry, which one is DEFAULT), conv/linear MACs at each
    crop size, the smallest square input a forward accepts, and :func:`output_summary` of the
    eval output on ``deterministic_input(INPUT_SHAPE)`` under ``fill_deterministic`` weights, in
    float32 (``output``) and float64 (``output64``), with the float64 ``input_sensitivity``.
``zoo_state_dicts.json.gz``
    ``{name: [[key, shape, dtype], ...]}`` in state_dict order (gzip, mtime 0, so reproducible).
The whole outputs are not kept: ``output64`` (its ``weighted_sum`` moves with any single
logit) is what tests/test_zoo_parity.py compares, in float64, at a tolerance of 1e-9.

Structure, MACs and the input domain come from a model built on the meta device (no memory, no
compute); only the output needs real weights, which go straight into ``to_empty`` storage.
Each finished model is merged into the files at once, so a run can be stopped and resumed
(``--only a,b`` redoes some models, ``--missing`` does the ones not recorded yet).
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .weights import deterministic_input, fill_deterministic, output_summary

HERE = Path(__file__).resolve().parent
ZOO_JSON = HERE / "zoo.json"
ZOO_STATE_DICTS = HERE / "zoo_state_dicts.json.gz"

#: Batch 1, non-square and odd, so a swapped H/W (after a permute) or an off-by-one in padding
#: or ceil_mode changes the output. Valid for all 68 CNNs (inception_v3 needs >= 75) and Swin.
INPUT_SHAPE = (1, 3, 83, 99)
#: Families whose forward takes only some sizes: ViT asserts its configured image size and
#: MaxViT's window and grid partitions must divide its feature maps, so their output is
#: recorded at the default crop (each record keeps its own ``output.input_shape``).
INPUT_SHAPES: dict[str, tuple[int, ...]] = {"vit": (1, 3, 224, 224), "maxvit": (1, 3, 224, 224)}
#: Largest square side tried when looking for the smallest input a forward accepts, and how
#: many sides above that minimum are checked too (ViT's only side is 224).
MAX_SIDE = 400
ABOVE_MIN = 16

_FAMILIES: dict[str, list[str]] = {
    "alexnet": ["alexnet"],
    "vgg": [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")],
    "resnet": [f"resnet{d}" for d in (18, 34, 50, 101, 152)],
    "resnext": ["resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"],
    "wide_resnet": ["wide_resnet50_2", "wide_resnet101_2"],
    "googlenet": ["googlenet"],
    "inception": ["inception_v3"],
    "squeezenet": ["squeezenet1_0", "squeezenet1_1"],
    "densenet": [f"densenet{d}" for d in (121, 161, 169, 201)],
    "mobilenet_v2": ["mobilenet_v2"],
    "mobilenet_v3": ["mobilenet_v3_small", "mobilenet_v3_large"],
    "mnasnet": ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"],
    "shufflenet_v2": [f"shufflenet_v2_{w}" for w in ("x0_5", "x1_0", "x1_5", "x2_0")],
    "efficientnet": [f"efficientnet_b{i}" for i in range(8)]
    + [f"efficientnet_v2_{s}" for s in ("s", "m", "l")],
    "regnet": [
        f"regnet_{k}_{s}"
        for k in ("x", "y")
        for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")
    ]
    + ["regnet_y_128gf"],
    "convnext": [f"convnext_{s}" for s in ("tiny", "small", "base", "large")],
    "vit": ["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14"],
    "swin": [f"swin_{v}{s}" for v in ("", "v2_") for s in ("t", "s", "b")],
    "maxvit": ["maxvit_t"],
}

#: record name -> (family, torchvision builder, kwargs after ``weights=None``). ``init_weights``
#: only silences a FutureWarning (the values are replaced). The two ``@DEFAULT`` records are the
#: module torchvision's builder makes when it is given weights: ``transform_input=True``, and
#: GoogLeNet's aux heads dropped (set to None after loading, which leaves the same state_dict
#: as ``aux_logits=False``).
ZOO: dict[str, tuple[str, str, dict[str, Any]]] = {
    name: (family, name, {}) for family, names in _FAMILIES.items() for name in names
}
ZOO["googlenet"] = ("googlenet", "googlenet", {"init_weights": True})
ZOO["inception_v3"] = ("inception", "inception_v3", {"init_weights": True})
ZOO["googlenet@DEFAULT"] = (
    "googlenet",
    "googlenet",
    {"aux_logits": False, "transform_input": True, "init_weights": True},
)
ZOO["inception_v3@DEFAULT"] = (
    "inception",
    "inception_v3",
    {"transform_input": True, "init_weights": True},
)

#: Attributes that change the forward without changing the state_dict.
_FORWARD_ATTRIBUTES = ("transform_input", "aux_logits")

COUNTING = (
    "macs: per sample, from torch.utils.flop_counter.FlopCounterMode (flops / 2) over an eval "
    "forward of a meta-device model at input (1, 3, crop, crop). conv = aten.convolution "
    "(out.numel() * (in_channels / groups) * kh * kw); linear = aten.addmm + aten.mm (a weight "
    "times activations: nn.Linear and attention's input/output projections, rows = all leading "
    "dims, so ConvNeXt's per-pixel Linear layers count once per pixel); matmul = aten.bmm "
    "(activations times activations: attention's q @ k^T and attn @ v; absent in the CNN "
    "records, where it is 0). Biases, norms, activations, pooling, elementwise add/mul, softmax "
    "and the input transform are not counted. torchvision's _ops is GFLOPS from a dispatch-level "
    "counter of convolution and matmul multiply-accumulates (pytorch/vision#6936), so it should "
    "equal total / 1e9 to its 3 decimals."
)


def constructor_text(fn: str, kwargs: dict[str, Any]) -> str:
    """Return the builder call as source text, e.g. ``torchvision.models.vgg11(weights=None)``."""
    args = ", ".join(["weights=None", *(f"{k}={v!r}" for k, v in kwargs.items())])
    return f"torchvision.models.{fn}({args})"


def build_meta(fn: str, kwargs: dict[str, Any]) -> nn.Module:
    """Build a torchvision model on the meta device (no storage, no init cost), in eval mode.

    RegNet's builder computes its widths with torch ops, which the meta device cannot read
    back; such models are built on the CPU and then moved to meta.
    """
    builder = getattr(torchvision.models, fn)
    try:
        with torch.device("meta"):
            model = builder(weights=None, **kwargs)
    except NotImplementedError:
        model = builder(weights=None, **kwargs).to("meta")
    return model.eval()


def state_dict_entries(model: nn.Module) -> list[list[Any]]:
    """Return the ordered ``[key, shape, dtype]`` list, as in ``fixture.json``."""
    return [
        [key, list(t.shape), str(t.dtype).removeprefix("torch.")]
        for key, t in model.state_dict().items()
    ]


def entries_digest(entries: list[list[Any]]) -> str:
    """Return the sha256 of the state_dict list's compact JSON (what the gz file holds)."""
    text = json.dumps(entries, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def version_metadata(model: nn.Module) -> dict[str, Any]:
    """Return the ``_version`` facts a drop-in must reproduce for strict two-way loading.

    ``classes``: every module class in the model whose ``_version`` is not ``nn.Module``'s 1.
    ``prefixes``: state_dict ``_metadata`` entries with a version other than 1 whose module
    class comes from torchvision (torch's own BatchNorm2d, version 2, is left out: archspec
    uses it too). ``read_by``: torchvision classes that override ``_load_from_state_dict``
    and so act on the version they are given.
    """
    metadata = model.state_dict()._metadata  # type: ignore[attr-defined]
    modules = dict(model.named_modules())
    classes: dict[str, int] = {}
    prefixes: dict[str, int] = {}
    read_by: set[str] = set()
    for prefix, module in modules.items():
        cls = type(module)
        version = getattr(cls, "_version", 1)
        if version != 1:
            classes[_qualname(cls)] = version
        own_loader = "_load_from_state_dict" in vars(cls)
        if cls.__module__.startswith("torchvision") and own_loader:
            read_by.add(_qualname(cls))
        recorded = metadata.get(prefix, {}).get("version")
        if recorded != 1 and cls.__module__.startswith("torchvision"):
            prefixes[prefix] = recorded
    return {"classes": classes, "prefixes": prefixes, "read_by": sorted(read_by)}


def computed_buffers(model: nn.Module) -> list[str]:
    """Return the state_dict buffers a constructor computes rather than learns: every
    persistent buffer outside a norm layer (whose running statistics are learned)."""
    persistent = set(model.state_dict())
    norms = (nn.modules.batchnorm._NormBase,)
    return [
        f"{prefix}.{name}" if prefix else name
        for prefix, module in model.named_modules()
        if not isinstance(module, norms)
        for name, _ in module.named_buffers(recurse=False)
        if (f"{prefix}.{name}" if prefix else name) in persistent
    ]


def module_classes(model: nn.Module) -> dict[str, int]:
    """Return how many modules of each class the model holds (root included)."""
    counts: dict[str, int] = {}
    for module in model.modules():
        name = _qualname(type(module))
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def non_identifier_names(entries: list[list[Any]]) -> list[str]:
    """Return the state_dict path parts that are neither identifiers nor list indices."""
    parts = {part for key, _, _ in entries for part in key.split(".")}
    return sorted(p for p in parts if not p.isidentifier() and not p.isdigit())


def weights_metadata(fn: str) -> dict[str, Any]:
    """Return every weights entry's metadata (no download) and which one is DEFAULT."""
    enum = torchvision.models.get_model_weights(fn)
    entries: dict[str, Any] = {}
    for weights in enum:
        meta = weights.meta
        preset = weights.transforms()
        entries[weights.name] = {
            "ops_gflops": meta.get("_ops"),
            "min_size": list(meta["min_size"]),
            "num_params": meta["num_params"],
            "crop_size": list(preset.crop_size),
            "resize_size": list(preset.resize_size) if preset.resize_size else None,
            "interpolation": preset.interpolation.value,
            "mean": list(preset.mean),
            "std": list(preset.std),
            "acc1": meta["_metrics"]["ImageNet-1K"]["acc@1"],
        }
    return {"default": enum.DEFAULT.name, "entries": entries}


def count_macs(model: nn.Module, side: int) -> dict[str, int]:
    """Return conv, linear and matmul MACs per sample at a square input (see ``COUNTING``).

    Forward hooks on nn.Linear miss the projections attention computes with ``F.linear``
    (nn.MultiheadAttention, Swin's windows), so the count is taken at the dispatcher.
    """
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, 3, side, side, device="meta"))
    ops = {str(op): flops // 2 for op, flops in counter.get_flop_counts()["Global"].items()}
    macs = {
        "conv": ops.pop("aten.convolution", 0),
        "linear": ops.pop("aten.addmm", 0) + ops.pop("aten.mm", 0),
        "matmul": ops.pop("aten.bmm", 0),
    }
    if ops:
        raise AssertionError(f"uncounted operators {sorted(ops)}: say how they count")
    if not macs["matmul"]:
        del macs["matmul"]  # the CNN records' format
    return {**macs, "total": sum(macs.values())}


def _at_crop(model: nn.Module, fn: str, kwargs: dict[str, Any], side: int) -> nn.Module:
    """Return the model torchvision builds for weights of crop ``side``: a model built for one
    ``image_size`` (ViT: SWAG weights at 384, 512, 518) is built again at the weights' size, as
    torchvision's builder does; the others are the same model at any size."""
    if getattr(model, "image_size", side) != side:
        return build_meta(fn, {**kwargs, "image_size": side})
    return model


def _forward_error(model: nn.Module, shape: tuple[int, ...], device: str) -> str | None:
    """Return None if an eval forward at ``shape`` works, else the error's first line."""
    x = (
        torch.empty(shape, device="meta")
        if device == "meta"
        else deterministic_input(shape).to(device)
    )
    try:
        with torch.no_grad():
            out = model(x)
    except (RuntimeError, ValueError, IndexError, AssertionError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    if out.numel() == 0:
        return "empty output"
    return None


def smallest_square(model: nn.Module) -> dict[str, Any]:
    """Return the smallest square side a meta forward accepts, and larger sides it rejects.

    Sides are tried from 1 up to the first accepted one, then ``ABOVE_MIN`` more, so a domain
    with holes just above its minimum shows in ``rejected_above``; ``error_below`` is the error
    at ``side - 1``.
    """
    side, error_below = 1, None
    while (error := _forward_error(model, (1, 3, side, side), "meta")) is not None:
        error_below = error
        side += 1
        if side > MAX_SIDE:
            raise AssertionError(f"no square side up to {MAX_SIDE} works")
    rejected = [
        s
        for s in range(side + 1, side + ABOVE_MIN + 1)
        if _forward_error(model, (1, 3, s, s), "meta") is not None
    ]
    return {"side": side, "rejected_above": rejected, "error_below": error_below}


def build_record(
    name: str,
) -> tuple[dict[str, Any], list[list[Any]], torch.Tensor, tuple[float, float]]:
    """Record one zoo model: its ``zoo.json`` record, state_dict list, output and timings.

    The timings (seconds on the meta device, seconds in all) are printed, not stored, so the
    files do not change from one run to the next.
    """
    started = time.perf_counter()
    family, fn, kwargs = ZOO[name]
    model = build_meta(fn, kwargs)
    entries = state_dict_entries(model)
    param_count = sum(p.numel() for p in model.parameters())
    persistent = {k for k, _, _ in entries}
    stray = [k for k, _ in model.named_buffers() if k not in persistent]
    if stray:
        raise AssertionError(f"{name}: non-persistent buffers {stray} would stay uninitialised")
    weights = weights_metadata(fn)
    crops = sorted({e["crop_size"][0] for e in weights["entries"].values()})
    record: dict[str, Any] = {
        "family": family,
        "builder": fn,
        "kwargs": kwargs,
        "constructor": constructor_text(fn, kwargs),
        "class": _qualname(type(model)),
        "param_count": param_count,
        "state_dict_len": len(entries),
        "state_dict_sha256": entries_digest(entries),
        "versions": version_metadata(model),
        "module_classes": module_classes(model),
        "non_identifier_names": non_identifier_names(entries),
        "attributes": {a: getattr(model, a) for a in _FORWARD_ATTRIBUTES if hasattr(model, a)},
        "weights": weights,
        "macs": {str(side): count_macs(_at_crop(model, fn, kwargs, side), side) for side in crops},
        "smallest_square": smallest_square(model),
    }
    meta_seconds = time.perf_counter() - started

    # Real weights. Buffers the constructor computes (Swin's and MaxViT's relative position
    # index, Swin V2's coordinate table) keep their values, so those models are built on the
    # CPU; the others get uninitialised storage. The rest is loaded from the formula with the
    # state_dict's _metadata kept (MNASNet refuses a state_dict without its version).
    computed = computed_buffers(model)
    if computed:
        record["computed_buffers"] = computed
        model = getattr(torchvision.models, fn)(weights=None, **kwargs)
    else:
        model = model.to_empty(device="cpu")
    state = model.state_dict()
    filled = OrderedDict(fill_deterministic(state, keep=computed))
    filled._metadata = state._metadata  # type: ignore[attr-defined]
    del state
    model.load_state_dict(filled, strict=True)
    del filled
    gc.collect()
    model.eval()
    side = record["smallest_square"]["side"]
    cpu_check = {
        str(side): _forward_error(model, (1, 3, side, side), "cpu"),
        str(side - 1): _forward_error(model, (1, 3, side - 1, side - 1), "cpu")
        if side > 1
        else None,
    }
    if cpu_check[str(side)] is not None or (side > 1 and cpu_check[str(side - 1)] is None):
        raise AssertionError(f"{name}: the CPU disagrees with the meta domain: {cpu_check}")
    input_shape = INPUT_SHAPES.get(family, INPUT_SHAPE)
    x = deterministic_input(input_shape)
    with torch.no_grad():
        out32 = model(x)
        # The same float32 weights and input, computed in float64: in the deepest nets these
        # weights make the output depend on the input only at the 1e-5 level, which float32
        # rounding hides and float64 resolves.
        model = model.double()
        out = model(x.double())
        out_zero = model(torch.zeros_like(x, dtype=torch.float64))
    std = out.std().item()
    if not torch.isfinite(out).all() or not 1e-3 < std < 1e3:
        raise AssertionError(f"{name}: degenerate output (std={std})")
    record["output"] = {"input_shape": list(input_shape), "std": std, **output_summary(out32)}
    record["output64"] = output_summary(out)
    record["input_sensitivity"] = (out - out_zero).std().item() / std
    seconds = (meta_seconds, time.perf_counter() - started)
    return record, entries, out.contiguous().clone(), seconds


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    if path.suffix == ".gz":
        return json.loads(gzip.decompress(path.read_bytes()))
    return json.loads(path.read_text())["models"]


def _ordered(records: dict[str, Any]) -> dict[str, Any]:
    return {name: records[name] for name in ZOO if name in records}


def write_zoo(records: dict[str, Any], state_dicts: dict[str, Any]) -> None:
    """Write the two files, models in ``ZOO`` order (JSON: one line per model)."""
    records, state_dicts = _ordered(records), _ordered(state_dicts)
    header = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "script": "python -m tests.parity.make_fixture --zoo",
        "input_shape": list(INPUT_SHAPE),
        "counting": COUNTING,
    }
    lines = [
        "{",
        f' "generator": {json.dumps(header, sort_keys=True)},',
        ' "models": {',
    ]
    body = [
        f"  {json.dumps(name)}: {json.dumps(rec, sort_keys=True, separators=(',', ':'))}"
        for name, rec in records.items()
    ]
    lines += [",\n".join(body), " }", "}"]
    ZOO_JSON.write_text("\n".join(lines) + "\n")
    text = "{\n" + ",\n".join(
        f"{json.dumps(name)}: {json.dumps(sd, separators=(',', ':'))}"
        for name, sd in state_dicts.items()
    )
    raw = (text + "\n}\n").encode()
    ZOO_STATE_DICTS.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))


def run_zoo(only: list[str] | None = None, missing: bool = False) -> None:
    """Record the named models (default: all), merging into the existing files after each."""
    unknown = sorted(set(only or []) - set(ZOO))
    if unknown:
        raise SystemExit(f"unknown zoo models: {', '.join(unknown)}")
    torch.set_num_threads(1)
    records = _read_json(ZOO_JSON)
    state_dicts = _read_json(ZOO_STATE_DICTS)
    names = [n for n in ZOO if only is None or n in only]
    if missing:
        names = [n for n in names if not (n in records and n in state_dicts)]
    start = time.perf_counter()
    for name in names:
        record, entries, _, (meta_seconds, seconds) = build_record(name)
        records[name], state_dicts[name] = record, entries
        write_zoo(records, state_dicts)
        gc.collect()
        out = record["output"]
        print(
            f"{name:22s} params={record['param_count']:>12,d} keys={len(entries):5d} "
            f"min_side={record['smallest_square']['side']:3d} std={out['std']:.3g} "
            f"sens={record['input_sensitivity']:.2g} "
            f"meta {meta_seconds:5.1f}s total {seconds:6.1f}s",
            flush=True,
        )
    elapsed = time.perf_counter() - start
    print(
        f"recorded {len(names)} models in {elapsed:.1f}s; {ZOO_JSON.name}: "
        f"{ZOO_JSON.stat().st_size} bytes, {ZOO_STATE_DICTS.name}: "
        f"{ZOO_STATE_DICTS.stat().st_size} bytes"
    )
