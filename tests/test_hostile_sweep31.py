"""The hostile-input round of session 31: the calling code's careless arguments to the public
functions (a TypeError or ValueError naming the argument, never torch's or an internal
error from deep inside), and a file in torch.hub's cache that is not the one its name says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archspec
from archspec import api
from archspec.hub import read_file

from .test_weights import SPEC, _hashed

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("device", "error", "words"),
    [
        ("garbage", ValueError, "device 'garbage' is not a device torch knows"),
        ("cpu:x", ValueError, "device 'cpu:x' is not a device torch knows"),
        (-1, ValueError, "device -1"),
        ("fpga", ValueError, "device 'fpga' is not available"),  # a type no build here has
        (3.5, TypeError, "device must be a str, an int or a torch.device"),
        ([], TypeError, "got list"),
        (True, TypeError, "got bool"),
    ],
)
def test_compile_and_load_refuse_a_device_before_the_spec_is_read(
    device: object, error: type[Exception], words: str
) -> None:
    """It was torch's RuntimeError (or an AssertionError for a device this torch lacks) from
    the middle of the build, after the whole analysis."""
    with pytest.raises(error, match="device") as info:
        archspec.compile("no such spec", device=device)  # the argument comes first
    assert words in str(info.value)
    with pytest.raises(error, match="device"):
        archspec.load("lenet5", device=device)
    with pytest.raises(error, match="device"):
        archspec.load("resnet18", weights="DEFAULT", device=device)  # before any fetch


def test_compile_takes_the_devices_torch_reads() -> None:
    for device in ("meta", torch.device("meta"), "cpu"):
        model = archspec.compile("lenet5", device=device)
        assert next(model.parameters()).device.type == torch.device(device).type


def test_the_other_public_functions_name_the_argument(tmp_path: Path) -> None:
    """Each was an internal TypeError or AttributeError ("'int' object is not iterable",
    "'int' object has no attribute 'rstrip'") that named no argument."""
    cases = [
        (lambda: archspec.build_graph("lenet5", params=5), "params must be a mapping"),
        (lambda: archspec.list_models(5), "pattern string or an iterable of them, got int"),
        (lambda: archspec.list_models(b"res*"), "got bytes"),
        (lambda: archspec.load(SPEC, weights="DEFAULT", base_url=5), "base_url must be a URL"),
        (lambda: api.check_limits(None), "check_limits takes a Graph"),
        (lambda: archspec.load_plugin_files(None), "load_plugin_files takes a list of paths"),
        (lambda: archspec.load_weights(None, {}), "load_weights takes an nn.Module"),
        (lambda: archspec.load_weights("lenet5", {}), "load_weights takes an nn.Module"),
        (lambda: archspec.load_weights(torch.nn.Linear(2, 2), None), "weights must be a"),
        (lambda: archspec.load_weights(torch.nn.Linear(2, 2), b"x.pth"), "got bytes"),
        (lambda: archspec.diff("lenet5", "lenet5", params_a=5), "params_a must be a mapping"),
        (lambda: archspec.diff("lenet5", "lenet5", params_b=[1]), "params_b must be a mapping"),
        (lambda: archspec.get_weights("resnet50", None), "a state_dict, got NoneType"),
    ]
    for call, words in cases:
        with pytest.raises(TypeError) as info:
            call()
        assert words in str(info.value)


def test_an_empty_weights_path_is_named_as_given() -> None:
    """Path("") is the current folder: the message said `weights file '.'`."""
    with pytest.raises(archspec.ArchSpecError) as info:
        read_file("")
    assert "weights file '' does not exist" in str(info.value)


def test_a_symbolic_link_loop_is_named_as_one(tmp_path: Path) -> None:
    """E604 said the OS's "Too many levels of symbolic links" with the hint to check
    permissions, and "self.py is not a directory" for a looping folder on the path."""
    (tmp_path / "self.py").symlink_to(tmp_path / "self.py")
    (tmp_path / "a.py").symlink_to(tmp_path / "b.py")
    (tmp_path / "b.py").symlink_to(tmp_path / "a.py")
    (tmp_path / "out").symlink_to(tmp_path / "a.py")
    cases = {
        "self.py": "self.py: it is a symbolic link into a loop",
        "a.py": "a.py: it is a symbolic link into a loop",
        "self.py/x.py": "self.py is a symbolic link into a loop",
        "out/model.py": "out is a symbolic link into a loop",
    }
    before = sorted(p.name for p in tmp_path.iterdir())
    for name, words in cases.items():
        for attempt in (api.check_target, lambda t: api.write_atomic(t, "x = 1\n")):
            with pytest.raises(archspec.ArchSpecError) as info:
                attempt(tmp_path / name)
            assert info.value.error_code == "E604" and words in str(info.value), name
            assert "permissions" not in str(info.value.hint)
            assert "remove it" in str(info.value.hint)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh torch.hub cache; $ARCHSPEC_WEIGHTS_URL unset."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def test_a_swapped_cached_file_is_named_not_blamed_on_the_spec(hub: Path) -> None:
    """Another checkpoint saved under torchvision's name in torch.hub's cache: the E803 said
    only that torchvision's weights do not fit the spec; it now adds that the cached file is
    not that file (its hash), and the hint to delete it."""
    weights = archspec.get_weights(SPEC)
    torch.save(torch.nn.Linear(2, 2).state_dict(), hub / weights.file)
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.load(SPEC, weights="DEFAULT")
    err = info.value
    assert err.error_code == "E803"
    assert f"{hub / weights.file} is not {weights.full_name}'s file" in str(err)
    assert f"not {weights.hash_prefix}... as its name says" in str(err)
    assert str(err.hint).startswith("delete the cached file") and "strict=False" in str(err.hint)
    with pytest.warns(archspec.WeightsWarning, match="is not .*'s file") as caught:
        archspec.load_weights(archspec.compile(SPEC), weights, strict=False)
    assert "delete the cached file" in str(caught[0].message)


def test_a_cached_file_of_the_right_hash_that_does_not_fit_has_no_such_note(
    hub: Path,
) -> None:
    """A file that is what its name says (a download was checked) and does not fit is the
    spec's difference, said as before."""
    weights = _hashed(torch.nn.Linear(2, 2).state_dict(), hub)
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.load_weights(archspec.compile(SPEC), weights)
    assert info.value.error_code == "E803"
    assert "as its name says" not in str(info.value)
    assert not str(info.value.hint).startswith("delete")


def _closed(tmp_path: Path, fd: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m archspec ARGS` started with its file descriptor `fd` closed (`>&-`)."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    keep = subprocess.PIPE
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL if fd == 1 else keep,
        stderr=subprocess.DEVNULL if fd == 2 else keep,
        text=True,
        preexec_fn=lambda: os.close(fd),
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [("check", "lenet5"), ("list",), ("schema", "-o", "-"), ("compile", "lenet5", "-o", "-")],
)
def test_a_closed_stdout_is_a_write_failure_not_an_internal_error(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Python leaves sys.stdout None when fd 1 is closed: every command ended in "internal
    error (AttributeError)" and a traceback. Now it fails as `cat >&-` does, exit 1."""
    done = _closed(tmp_path, 1, *args)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert done.returncode == 1, done.stderr
    assert "Bad file descriptor" in done.stderr


def test_a_closed_stdout_is_never_given_to_a_file_archspec_writes(tmp_path: Path) -> None:
    """The module is written whole (fd 1 is not reused for its temporary file); only the
    report to stdout fails."""
    done = _closed(tmp_path, 1, "compile", "lenet5", "-o", "lenet5.py")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    text = (tmp_path / "lenet5.py").read_text()
    assert text.startswith("# Generated by archspec") and "wrote" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["lenet5.py"]


def test_a_closed_stderr_loses_only_the_diagnostics(tmp_path: Path) -> None:
    assert _closed(tmp_path, 2, "check", "lenet5").returncode == 0
    done = _closed(tmp_path, 2, "check", "no-such-spec")
    assert done.returncode == 1 and done.stdout.startswith("no-such-spec")


class _Reads(torch.nn.Module):
    """A forward that reads its input's values in one of several ways."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if self.how == "print":
            print(y.tolist())
        elif self.how == "cpu":
            y = y.to("cpu") + 1
        elif self.how == "numpy":
            y = torch.from_numpy(y.numpy())
        elif self.how == "item" and y.sum().item() > 0:
            y = -y
        return y


class _Recurses(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)


class _Refuses(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("this forward wants images")


def test_a_module_forward_that_fails_gets_the_hint_for_its_reason() -> None:
    """print(x.tolist()), .to('cpu') and .numpy() were told "an operator whose output shape
    depends on tensor values" or "makes a tensor on a device of its own"; a forward that
    calls itself, or raises an error of its own, "reads tensor values ... check the input
    size"."""
    from archspec.modsummary import ModuleSummaryError

    for how in ("print", "cpu", "numpy", "item"):
        with pytest.raises(ModuleSummaryError) as info:
            archspec.summary(_Reads(how), input_size=(2, 4))
        text = str(info.value)
        assert "the forward reads tensor values" in text, how
        assert "output shape depends" not in text and "device of its own" not in text, how
    with pytest.raises(ModuleSummaryError, match=r"calls itself without end"):
        archspec.summary(_Recurses(), input_size=(2, 4))
    with pytest.raises(ModuleSummaryError) as info:
        archspec.summary(_Refuses(), input_size=(2, 4))
    assert "ValueError: this forward wants images" in str(info.value)
    assert "the error is the forward's own, on inputs of these shapes" in str(info.value)


def test_a_spec_argument_with_a_line_break_is_the_specs_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What docs/cli.md says of SPEC: YAML text itself when it names no file, errors at
    `<string>`; a file of that name wins."""
    from typer.testing import CliRunner

    from archspec.cli import app

    text = "archspec: 1\nname: t\ninput: [N, 3]\nlayers:\n  - {type: linear, out_features: 2}\n"
    runner = CliRunner()
    done = runner.invoke(app, ["check", text])
    assert done.exit_code == 0 and done.stdout.startswith("t (<string>): ok"), done.output
    bad = runner.invoke(app, ["check", text.replace("linear", "lineer")])
    assert bad.exit_code == 1 and "<string>:5:12: error[E205]" in bad.stderr, bad.output
    named = tmp_path / text
    named.parent.mkdir(parents=True, exist_ok=True)
    named.write_text(text.replace("name: t", "name: from_file"))
    monkeypatch.chdir(tmp_path)
    done = runner.invoke(app, ["check", text])
    assert done.exit_code == 0 and done.stdout.startswith("from_file ("), done.output


def test_a_file_size_limit_is_said_with_its_fix_and_leaves_nothing(tmp_path: Path) -> None:
    """`ulimit -f`: E604 "File too large" had the hint to check the path and its permissions."""
    import resource

    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "archspec", "compile", "resnet50", "-o", "big.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)),
        check=False,
    )
    assert done.returncode == 1 and "error[E604]" in done.stderr, done.stderr
    assert "File too large" in done.stderr and "(ulimit -f)" in done.stderr
    assert "permissions" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_said_with_its_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(archspec.ArchSpecError) as info:
        api.write_atomic(tmp_path / "x.py", "x = 1\n")
    assert "No space left on device" in str(info.value)
    assert str(info.value.hint).startswith("free space on that disk")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_forward_of_many_inputs_lists_a_few_shapes() -> None:
    """input_data of 1000 tensors: the message listed all 1000 shapes."""
    from archspec.modsummary import ModuleSummaryError

    with pytest.raises(ModuleSummaryError) as info:
        archspec.summary(torch.nn.Linear(4, 4), input_data=[torch.zeros(1, 4)] * 1000)
    assert "(1, 4), (1, 4) and 992 more: TypeError" in str(info.value)
    assert len(str(info.value)) < 1000
