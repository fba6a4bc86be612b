"""Drop-in parity of every shipped spec with a torchvision twin, read from the zoo fixture.

tests/parity/zoo.json records, for torchvision 0.29.1's 68 CNN classifiers, what a drop-in
must reproduce (tests/parity/README.md says how each figure was taken): the param count, the
ordered state_dict (keys, shapes, dtypes), the `_version`s torchvision's loaders read, the
MACs at the crop size of the default weights (torchvision's `_ops`), the smallest square input
a forward accepts, and a float64 eval output under weights that are a formula of each key.
A spec is checked as soon as it ships under torchvision's name; nothing here needs torchvision.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import archspec
from archspec.report import Summary

from .parity.weights import (
    deterministic_input,
    fill_deterministic,
    output_summary,
    summary_matches,
)

HERE = Path(__file__).resolve().parent / "parity"
ZOO = json.loads((HERE / "zoo.json").read_text())["models"]
STATE_DICTS = json.loads(gzip.decompress((HERE / "zoo_state_dicts.json.gz").read_bytes()))

#: torchvision names that archspec ships under another name (archspec's `alexnet` is the
#: original 227x227 network with LRN; torchvision's is `alexnet_torchvision`)
RENAMED = {"alexnet": "alexnet_torchvision"}

#: per model, the spec params that make torchvision's builder call (`@DEFAULT` records the
#: model torchvision builds when it is given weights)
CALL_PARAMS = {"googlenet@DEFAULT": {"aux_logits": False, "transform_input": True}}
CALL_PARAMS["inception_v3@DEFAULT"] = {"transform_input": True}

#: float64 against float64: only the order of sums differs
OUTPUT_RTOL = 1e-9


def _declared_params(spec: str) -> set[str]:
    path, _ = archspec.builtin_index()[spec]
    return _params_of_file(path)


@functools.cache
def _params_of_file(path: Path) -> frozenset[str]:
    """The params a spec file declares (read once per file: a family's variants share it, and
    reading every variant's file again cost seconds of the suite's collection)."""
    data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return frozenset(data.get("params") or {})


def _twins() -> dict[str, tuple[str, dict[str, Any]]]:
    """zoo model -> (built-in name, params) for every model a shipped spec covers (a plain
    spec file or a variant of a family file)."""
    shipped = archspec.builtin_index()
    twins = {}
    for model in ZOO:
        base = model.split("@")[0]
        spec = RENAMED.get(base, base)
        params = CALL_PARAMS.get(model, {})
        if spec in shipped and set(params) <= _declared_params(spec):
            twins[model] = (spec, params)
    return twins


TWINS = _twins()


def _cheapest_per_family() -> set[str]:
    """The model of each family with the fewest MACs: the default run's forward sample."""
    best: dict[str, str] = {}
    for model in TWINS:
        family = ZOO[model]["family"]
        macs = min(m["total"] for m in ZOO[model]["macs"].values())
        if family not in best or macs < min(m["total"] for m in ZOO[best[family]]["macs"].values()):
            best[family] = model
    return set(best.values())


#: Families whose float64 output is left to `--all` even for their cheapest model: VGG's
#: 133M weights cost the default run ten seconds for layers AlexNet's sample already covers.
FORWARD_SAMPLE_SKIPS = {"vgg"}


def _sampled(models: list[str]) -> list[object]:
    sample = {m for m in _cheapest_per_family() if ZOO[m]["family"] not in FORWARD_SAMPLE_SKIPS}
    return [m if m in sample else pytest.param(m, marks=pytest.mark.heavy) for m in models]


#: issue 17's families (the other records are issue 14's 68 CNNs and two `@DEFAULT` records)
ATTENTION = {"vit", "swin", "maxvit"}


def test_every_zoo_model_ships() -> None:
    """All 80 of torchvision's classifiers ship (68 CNNs, 12 attention models, and the two
    `@DEFAULT` builds): every record of the fixture has its twin."""
    attention = {m for m, r in ZOO.items() if r["family"] in ATTENTION}
    assert len(attention) == 12 and len(ZOO) == 82 and len(STATE_DICTS) == 82
    assert set(ZOO) == set(TWINS), set(ZOO) - set(TWINS)


@pytest.mark.parametrize("model", sorted(TWINS))
def test_state_dict_params_and_versions(model: str) -> None:
    spec, params = TWINS[model]
    net = archspec.compile(spec, device="meta", **params)
    state = net.state_dict()
    ours = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in state.items()]
    assert ours == STATE_DICTS[model]
    record = ZOO[model]
    assert sum(p.numel() for p in net.parameters()) == record["param_count"]
    assert _summary(model).params == record["param_count"]
    versions = {p: m.get("version") for p, m in state._metadata.items()}  # type: ignore[attr-defined]
    for prefix, version in record["versions"]["prefixes"].items():
        assert versions.get(prefix) == version, (prefix, versions.get(prefix))


@pytest.mark.parametrize("model", sorted(TWINS))
def test_default_input_and_macs_are_torchvisions(model: str) -> None:
    """The spec's input is the crop size of torchvision's default weights, and the MACs
    there are what torchvision's `_ops` counts (conv and linear multiply-accumulates)."""
    spec, params = TWINS[model]
    weights = ZOO[model]["weights"]
    (crop,) = weights["entries"][weights["default"]]["crop_size"]
    summary = _summary(model)
    side = ZOO[model]["smallest_square"]["side"]
    target: Any = spec
    if "image_size" in _declared_params(spec) and crop != side:
        # a ViT takes one size, its `image_size`, which torchvision's builder sets to the
        # weights' min_size (vit_h_14's default weights are SWAG's, at 518): the spec built
        # for it is an `extends` of the default one with that input and image_size
        target = {"archspec": 1, "extends": spec, "name": f"{spec}_{crop}"}
        target.update(input=["N", 3, crop, crop], params={"image_size": crop})
    else:
        side = crop
    assert tuple(d.value for d in summary.example_input) == (1, 3, side, side)
    macs = _eval_macs(archspec.summary(target, input=(1, 3, crop, crop), **params))
    assert macs == ZOO[model]["macs"][str(crop)]["total"]
    gflops = weights["entries"][weights["default"]]["ops_gflops"]
    assert round(macs / 1e9, 3) == pytest.approx(gflops, abs=1e-3)


@functools.cache
def _summary(model: str) -> Summary:
    """The summary of `model`'s twin at its default input (two tests read it)."""
    spec, params = TWINS[model]
    return archspec.summary(spec, **params)


def _eval_macs(summary: Summary) -> int:
    """MACs of an eval forward: the layers outside training-only branches (GoogLeNet's
    auxiliary classifiers run only in training, and torchvision's `_ops` leaves them out)."""
    skipped = [r.path + "." for r in summary.rows if r.train_only]
    leaves = [r for r in summary.rows if not r.is_heading and r.macs is not None]
    total = sum(
        r.macs.value
        for r in leaves
        if not r.train_only and not any(r.path.startswith(p) for p in skipped)
    )
    assert total <= summary.macs.value
    return total


@pytest.mark.parametrize("model", sorted(TWINS))
def test_smallest_square_input_is_torchvisions(model: str) -> None:
    """The derived domain admits the smallest square a torchvision forward accepts, and not
    the side below it (found by forward passes when the fixture was made)."""
    spec, params = TWINS[model]
    domain = archspec.check(spec, **params).domain
    side = ZOO[model]["smallest_square"]["side"]
    assert domain.contains({"N": 1, "H": side, "W": side})
    if side > 1:
        assert not domain.contains({"N": 1, "H": side - 1, "W": side - 1})


@pytest.mark.parametrize("model", _sampled(sorted(TWINS)))
def test_float64_output_matches_torchvision(model: str) -> None:
    """Same weights (a formula of key and shape), same odd non-square input, in float64: the
    outputs agree to the order of summation, far below the input's own effect on them."""
    spec, params = TWINS[model]
    record = ZOO[model]
    # Built on meta and given storage only: every value is then set from the formula (a CPU
    # build would first initialise all weights at random, seconds of CPU for nothing). Buffers
    # the constructor computes (a relative position index) need the CPU build and keep
    # their values, as the fixture's model did.
    computed = record.get("computed_buffers", [])
    if computed:
        net = archspec.compile(spec, **params)
    else:
        net = archspec.compile(spec, device="meta", **params).to_empty(device="cpu")
    state = net.state_dict()
    named = {n for n, _ in net.named_parameters()} | {n for n, _ in net.named_buffers()}
    assert named <= set(state)  # nothing outside the state_dict is left uninitialised
    net.load_state_dict(fill_deterministic(state, keep=computed), strict=True)
    net = net.double().eval()
    x = deterministic_input(tuple(record["output"]["input_shape"])).double()
    with torch.no_grad():
        out = net(x)
    ours = output_summary(out)
    assert summary_matches(ours, record["output64"], rtol=OUTPUT_RTOL) == []
    assert record["input_sensitivity"] / 100 > OUTPUT_RTOL  # the check can see the input
