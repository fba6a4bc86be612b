"""`archspec diff` of a checkpoint against a spec: will my fine-tuned file load into this net?

Before: a side had to be a spec. `archspec diff run/best.pth resnet50` read the checkpoint as
YAML and said `error[E105]: ... is not UTF-8 text` (or E202 for a pickle of a few bytes), so
the question a torchvision/timm user asks most (which tensors of this file load into that
model, which do not) needed Python and `load_weights(..., strict=False)` on a real model.
Now either side may be a file saved with torch.save (found by its first bytes, whatever its
name), or in Python a state_dict; it is read as `load_weights` reads one, tensors only.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ArchSpecError

runner = CliRunner()

NET = """archspec: 1
name: net
input: [N, 3, 16, 16]
params:
  classes: {type: int, default: 10}
layers:
  - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: bn, type: batchnorm2d}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: classes}
"""


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "net.yaml"
    spec.write_text(NET)
    return spec


def test_a_training_checkpoint_is_compared_with_a_spec_on_the_command_line(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path)
    model = archspec.compile(str(spec), classes=3)
    ckpt = tmp_path / "best.ckpt"  # no .pth: the file's first bytes say what it is
    torch.save({"state_dict": model.state_dict(), "epoch": 7}, ckpt)

    result = runner.invoke(app, ["diff", str(ckpt), str(spec)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"a: best.ckpt ({ckpt})" in out
    assert "state_dict: 7 of 9 tensors of a load into b unchanged; 2 change shape" in out
    assert "changed  fc.weight  (3, 8) -> (10, 8)" in out
    # the checkpoint's parameters, not its BatchNorm statistics: the model's own count
    assert f"params: {sum(p.numel() for p in model.parameters()):,} -> " in out
    assert "MACs per sample" not in out  # a checkpoint has no MACs

    data = json.loads(runner.invoke(app, ["diff", str(spec), str(ckpt), "--json"]).stdout)
    assert data["b"]["name"] == "best.ckpt" and data["b"]["macs"] is None
    assert data["macs_delta"] is None
    assert [c["key"] for c in data["changed"]] == ["fc.weight", "fc.bias"]


def test_a_state_dict_of_another_dtype_loads_and_is_no_change(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    half = archspec.compile(str(spec)).half().state_dict()
    diff = archspec.diff(half, str(spec))
    assert diff.compatible, diff.text()
    assert diff.a.name == "the state_dict"
    wrapped = {f"module.{k}": v for k, v in half.items()}  # DDP's prefix: nothing loads
    diff = archspec.diff(wrapped, str(spec))
    assert not diff.unchanged and len(diff.removed) == len(half)


def test_params_for_a_checkpoint_side_are_refused_naming_the_side(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    ckpt = tmp_path / "w.pth"
    torch.save(archspec.compile(str(spec)).state_dict(), ckpt)
    result = runner.invoke(app, ["diff", str(ckpt), str(spec), "--set-a", "classes=3"])
    assert result.exit_code == 1
    assert "error[E805]: in A: w.pth is a checkpoint" in result.stderr
    assert "Traceback" not in result.output
    try:
        archspec.diff(str(spec), ckpt, variant_b="x")
    except ArchSpecError as err:
        assert err.error_code == "E805" and "in B:" in str(err)
    else:
        raise AssertionError("variant_b= for a checkpoint was taken")


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("ran code",))


def test_a_checkpoint_with_code_is_refused_unrun(tmp_path: Path, capfd) -> None:  # type: ignore[no-untyped-def]
    spec = _spec(tmp_path)
    ckpt = tmp_path / "evil.pth"
    ckpt.write_bytes(pickle.dumps({"fc.weight": _Boom()}, protocol=2))
    result = runner.invoke(app, ["diff", str(ckpt), str(spec)])
    assert result.exit_code == 1
    assert "error[E801]: in A:" in result.stderr
    assert "ran code" not in result.output + capfd.readouterr().out


def test_a_checkpoint_saved_in_a_wrapper_is_told_to_strip_its_prefix(tmp_path: Path) -> None:
    """A DistributedDataParallel checkpoint (`module.` before every key) against its spec:
    the report listed every tensor as added and removed and every module as a rename, and
    never said what load_weights says, that stripping the wrapper's name is the fix."""
    spec = _spec(tmp_path)
    state = archspec.compile(str(spec)).state_dict()
    ckpt = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, ckpt)
    for args, side in (([str(spec), str(ckpt)], "b"), ([str(ckpt), str(spec)], "a")):
        result = runner.invoke(app, ["diff", *args])
        assert result.exit_code == 0, result.output
        assert f"hint: every key of {side} starts with `module.`" in result.stdout
        assert "k.removeprefix('module.')" in result.stdout
    deep = {f"_orig_mod.net.{k}": v for k, v in state.items()}  # two names deep
    assert archspec.diff(str(spec), deep).wrapped == ("b", "_orig_mod.net.")
    # a checkpoint of another model (no key fits however stripped) gets no such hint
    other = {f"module.{k}_other": v for k, v in state.items()}
    assert archspec.diff(str(spec), other).wrapped is None
    assert archspec.diff(str(spec), dict(state)).wrapped is None


def test_a_key_of_any_size_is_shown_by_its_start_and_length(tmp_path: Path) -> None:
    """A checkpoint's key of 100,000 characters was printed whole, a line of 100,000
    characters per tensor; the text report quotes a key as messages quote a name, and
    --json keeps it whole."""
    spec = _spec(tmp_path)
    state = dict(archspec.compile(str(spec)).state_dict())
    long_key = "k" * 100_000
    state[long_key] = torch.zeros(2)
    ckpt = tmp_path / "odd.pt"
    torch.save(state, ckpt)

    result = runner.invoke(app, ["diff", str(ckpt), str(spec)])
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("  removed")]
    assert line == f"  removed  {'k' * 200}... (100,000 characters)  (2)", line[:300]
    assert max(len(x) for x in result.stdout.splitlines()) < 400
    listed = runner.invoke(app, ["diff", str(ckpt), str(spec), "--json"])
    assert [r["key"] for r in json.loads(listed.stdout)["removed"]] == [long_key]
