"""What tests/test_newuser36_models.py compares with timm's record (make_fixture.py)."""

from __future__ import annotations

import hashlib
import json
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

import archspec
from tests.parity.weights import (
    deterministic_input,
    fill_deterministic,
    output_summary,
    summary_matches,
)

HERE = Path(__file__).parent
FIXTURE = HERE / "timm.json"

#: each model's input sizes: the spec's own, then a non-square one
SIZES: dict[str, list[tuple[int, int]]] = {
    "lcnet_050": [(224, 224), (160, 200)],
    "mobileone_s0": [(224, 224), (160, 200)],
    "repghostnet_050": [(224, 224), (160, 200)],
    "starnet_s1": [(224, 224), (160, 200)],
    "inception_next_atto": [(224, 224), (160, 192)],
    "edgenext_xx_small": [(256, 256), (160, 192)],
    "fastvit_t8": [(256, 256), (160, 192)],
    # its attention reshapes to 7 x 7 tokens: sizes from 209 to 224 (`archspec check`)
    "efficientformerv2_s0": [(224, 224), (216, 220)],
}

#: the factor on every weight of two dims or more (tests/parity/weights.py's scale is for
#: networks whose blocks normalise their sums): MobileOne and FastViT add their branches
#: without one, StarNet multiplies two, so their outputs grow past 1e5 there, where float32's
#: rounding, which differs between torch builds, is no longer small beside the values
GAIN = {"mobileone_s0": 0.5, "starnet_s1": 0.5, "fastvit_t8": 0.5}


def weights(name: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The RNG-free weights of tests/parity/weights.py, times the model's `GAIN`."""
    gain = GAIN.get(name, 1.0)
    filled = fill_deterministic(state)
    return {k: v * gain if v.dim() >= 2 else v for k, v in filled.items()}


def state_dict_facts(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The state_dict's keys, shapes and dtypes in order, as their count, sha256 and ends."""
    listed = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in state.items()]
    text = json.dumps(listed, separators=(",", ":"))
    return {
        "state_dict_len": len(listed),
        "state_dict_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "state_dict_head": listed[:3],
        "state_dict_tail": listed[-3:],
    }


def record(
    model: torch.nn.Module,
    weights: Mapping[str, torch.Tensor],
    sizes: list[tuple[int, int]],
    version: str,
) -> dict[str, Any]:
    """One model's facts for a new-user fixture (each folder's make_fixture.py): timm's
    `version`, the parameter count, the state_dict's facts and the eval output under
    `weights` at each input size, run in float64: a float32 record of a deep network differs
    from one CPU's kernels to another's by more than the comparison allows, float64's do not."""
    state = model.state_dict()
    facts = state_dict_facts(state)  # of the float32 network, before it is widened
    model.load_state_dict(weights, strict=True)
    model.eval().double()
    with torch.no_grad():
        outputs = [output_summary(model(wide_input((1, 3, *size)))) for size in sizes]
    return {
        "timm": version,
        "param_count": sum(p.numel() for p in model.parameters()),
        **facts,
        "outputs": outputs,
    }


def wide_input(shape: tuple[int, ...]) -> torch.Tensor:
    """The float32 input of tests/parity/weights.py at `shape`, as float64 (same values)."""
    return deterministic_input(shape).double()


def write_timm_fixture(
    path: Path,
    sizes: Mapping[str, list[tuple[int, int]]],
    fill: Callable[[str, Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]] = weights,
) -> None:
    """The fixture of a folder of timm networks (its make_fixture.py): each model of `sizes`
    built by timm's registered name, filled by `fill(name, state_dict)` and recorded."""
    import timm  # only the scripts that regenerate a fixture have it

    records = {}
    for name, at in sizes.items():
        model = timm.create_model(name)
        records[name] = record(model, fill(name, model.state_dict()), at, timm.__version__)
    write_fixture(path, records)


def write_fixture(path: Path, records: Mapping[str, Any]) -> None:
    """The records as JSON, a model a line."""
    lines = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in records.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def compare_with_record(
    spec: str,
    record: Mapping[str, Any],
    weigh: Callable[[Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]],
    sizes: list[tuple[int, int]],
    options: Mapping[str, Any] | None = None,
    quiet: bool = True,
) -> int:
    """Assert that `spec` (compiled with `options`, and emitted) is the network `record`
    holds: clean check (`quiet`: no warning either), parameter count, state_dict facts, eval
    outputs equal to each other in float32 under the weights `weigh` makes, and run in float64
    (as `record` runs them) equal to the record's, at each size; the number of sizes
    compared."""
    options = dict(options or {})
    report = archspec.check(spec, **options)
    assert report.ok and not (quiet and report.diagnostics), report.diagnostics
    ours = archspec.compile(spec, **options).eval()
    assert sum(p.numel() for p in ours.parameters()) == record["param_count"]
    facts = state_dict_facts(ours.state_dict())
    assert facts == {k: record[k] for k in facts}
    filled = weigh(ours.state_dict())
    ours.load_state_dict(filled, strict=True)
    module = types.ModuleType(f"emitted_{Path(spec).stem}")
    exec(compile(archspec.emit(spec, **options), "<emitted>", "exec"), module.__dict__)
    emitted = getattr(module, type(ours).__name__)().eval()  # emitted with the params set
    emitted.load_state_dict(filled, strict=True)
    for size in sizes:
        x = deterministic_input((1, 3, *size))
        with torch.no_grad():
            assert torch.equal(emitted(x), ours(x))
    ours.double()  # the record is of float64 runs (`record`): it holds on any CPU's kernels
    compared = 0
    for size, expected in zip(sizes, record["outputs"], strict=True):
        with torch.no_grad():
            out = ours(wide_input((1, 3, *size)))
        assert str(out.dtype) == f"torch.{expected['dtype']}" == "torch.float64"
        assert summary_matches(output_summary(out), expected, rtol=1e-5) == []
        compared += 1
    return compared
