"""A checkpoint's pickle is data from elsewhere, and torch's weights_only unpickler runs no
code but still builds whatever the stream says: a dict key that is a tuple nested a million
levels deep crashed the process in the key's hash (a segmentation fault, from a 1 MB file),
and a key of 40 tuples each holding the one before twice (a 300-byte file) hashed 2^40
items, forever. Both reached torch.load through `archspec.load_weights`, `archspec.load(...,
weights=)` and either side of `archspec diff`. The stream is now read first, opcode by
opcode, without building anything (archspec.picklescan), and one nested past any
checkpoint's depth or sharing its parts past what its length can build is E801.
"""

from __future__ import annotations

import struct
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import archspec
from archspec.hub import WeightsError
from archspec.picklescan import pickle_problem
from tests.cpu import GUARD, cpu_seconds

SPEC = """\
archspec: 1
name: tiny
input: [N, 3, 8, 8]
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3}
"""


def _deep_key(depth: int) -> bytes:
    """{((((...),),),): 1}: a tuple key nested `depth` levels (TUPLE1 after TUPLE1)."""
    return b"\x80\x02})" + b"\x85" * depth + b"K\x01s."


def _shared_key(depth: int) -> bytes:
    """{t: 1} where t_0 = () and t_i+1 = (t_i, t_i), by memo: 2^depth items to hash."""
    ops = [b"\x80\x02}", b")"]
    for i in range(depth):
        ops += [b"r" + struct.pack("<I", i), b"j" + struct.pack("<I", i), b"\x86"]
    return b"".join(ops) + b"K\x01s."


def _as_zip(pickled: bytes, path: Path) -> Path:
    """A torch.save zip whose data.pkl is `pickled` (stored, as torch.save stores it)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickled)
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/version", "3\n")
    return path


def _hostile(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name, pickled in (("deep", _deep_key(1_000_000)), ("shared", _shared_key(40))):
        raw = tmp_path / f"{name}.pth"
        raw.write_bytes(pickled)
        files[f"{name} pickle"] = raw
        files[f"{name} zip"] = _as_zip(pickled, tmp_path / f"{name}_zip.pth")
    return files


def test_a_checkpoint_pickle_nested_or_shared_past_its_length_is_e801(tmp_path: Path) -> None:
    model = archspec.compile(SPEC)
    for what, path in _hostile(tmp_path).items():
        with pytest.raises(WeightsError) as caught:
            archspec.load_weights(model, path)
        err = caught.value
        assert err.code == "E801", what
        assert str(path) in str(err) and "weights_only=False" not in str(err), what
        with pytest.raises(WeightsError) as diffed:
            archspec.diff(path, SPEC)
        assert diffed.value.code == "E801", what


def test_the_scan_of_a_hostile_stream_is_fast_and_says_what_it_found() -> None:
    (problem, seconds) = cpu_seconds(lambda: pickle_problem(_shared_key(10_000)))
    assert problem is not None and "shares" in problem and seconds < GUARD
    (problem, seconds) = cpu_seconds(lambda: pickle_problem(_deep_key(1_000_000)))
    assert problem is not None and "nested" in problem and seconds < GUARD


def test_real_checkpoints_pass_the_scan(tmp_path: Path) -> None:
    """torch.save's own files, a training checkpoint whose parts share one state_dict
    included, are read as before."""
    model = archspec.compile(SPEC)
    state = model.state_dict()
    shared = OrderedDict(state)
    checkpoint = {"model": shared, "ema": shared, "best": shared, "epoch": 3}
    checkpoint["optimizer"] = {"state": {0: {"step": torch.tensor(1.0)}}, "param_groups": []}
    path = tmp_path / "train.pth"
    torch.save(checkpoint, path)
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        assert pickle_problem(zf.read(name)) is None
    archspec.load_weights(model, path)
    path = tmp_path / "legacy.pth"
    with warnings.catch_warnings():  # torch's own TypedStorage deprecation, for this format
        warnings.simplefilter("ignore", UserWarning)
        torch.save(state, path, _use_new_zipfile_serialization=False)
    archspec.load_weights(model, path)
    assert archspec.diff(path, SPEC).compatible
