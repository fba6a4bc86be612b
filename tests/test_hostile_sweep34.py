"""Session 34's independent hostile sweep: code and files the user names (a plugin file, a
model's module, torch.hub's cache) doing odd things, each said as a located error with exit 1,
never an internal error, a silent exit or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError

from .conftest import ROOT, plugins_restored

#: An exception whose own __str__ fails, as a stranger's code may raise.
MUTE = "class Mute(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n\n\n"


def test_a_plugin_raising_an_exception_that_cannot_be_said_is_e701(tmp_path: Path) -> None:
    """`archspec check s.yaml --plugins p.py`, p.py raising such an exception, was
    'internal error (RuntimeError)', exit 3: the E701's message quoted str(exc)."""
    plugin = tmp_path / "mute_plugin34.py"
    plugin.write_text(MUTE + "raise Mute()\n")
    with plugins_restored(), pytest.raises(ArchSpecError) as info:
        archspec.load_plugin_files([plugin])
    first = info.value.diagnostics[0]
    assert first.code == "E701"
    assert first.message.endswith("failed to import: Mute")
    assert first.span is not None and first.span.line == 6


def test_a_factory_raising_an_exception_that_cannot_be_said_is_e901(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`archspec import m.py:Net`, the factory or the module raising it: internal error."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mute_factory34.py").write_text(MUTE + "def Net():\n    raise Mute()\n")
    (tmp_path / "mute_module34.py").write_text(MUTE + "raise Mute()\n")
    with pytest.raises(ArchSpecError) as info:
        archspec.import_factory("mute_factory34.py:Net", [], input=(1, 3))
    assert info.value.diagnostics[0].message == "mute_factory34.py:Net() raised Mute"
    with pytest.raises(ArchSpecError) as info:
        archspec.import_factory("mute_module34.py:Net", [], input=(1, 3))
    assert info.value.diagnostics[0].message == "cannot import 'mute_module34.py': Mute"


class Quits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sys.exit(3)


def test_a_forward_that_calls_exit_is_e904_at_its_line() -> None:
    """`archspec import m.py:Net` of a forward calling sys.exit(3) ended archspec silently
    with status 3 (the SystemExit passed through), as if archspec had failed."""
    with pytest.raises(ArchSpecError) as info:
        archspec.from_module(Quits(), torch.zeros(1, 3))
    first = info.value.diagnostics[0]
    assert first.code == "E904"
    assert "raised SystemExit" in first.message
    assert first.span is not None and first.span.file == __file__
    assert "sys.exit(3)" in Path(__file__).read_text().splitlines()[first.span.line - 1]


class Chain(nn.Module):
    """A forward of `steps` elementwise steps, each reading the one before."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.steps):
            x = x + 1
        return self.fc(x)


def test_a_forward_of_a_long_chain_imports() -> None:
    """1,000 `x = x + 1` before a layer: RecursionError, an internal error (the importer's
    walk of what a step reads, and of the order its layers are registered in, recursed
    along the chain)."""
    text = archspec.from_module(Chain(1000), torch.zeros(1, 3))
    assert text.count("type: scale, offset: 1}") == 1000


def nested(depth: int) -> nn.Module:
    inner: nn.Module = nn.Linear(3, 3)
    for _ in range(depth):
        inner = nn.Sequential(inner)
    return inner


def test_a_model_nested_past_what_a_spec_holds_is_refused_first() -> None:
    """3,000 nested nn.Sequentials: torch's own named_modules recursed past Python's limit,
    an internal error; 40 imported a spec that did not compile ('please report this
    model'). Both are E901 now, naming the depth; 30 levels still import."""
    for depth in (40, 3000):
        with pytest.raises(ArchSpecError) as info:
            archspec.from_module(nested(depth), torch.zeros(1, 3))
        first = info.value.diagnostics[0]
        assert first.code == "E901", first.message
        assert "more than 31 levels deep" in first.message
    assert "linear" in archspec.from_module(nested(30), torch.zeros(1, 3))


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh torch.hub cache; $ARCHSPEC_WEIGHTS_URL unset (nothing is downloaded: each test
    puts the file in the cache first)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def deflated(file: Path, size: int) -> None:
    """A torch.save'd state_dict whose tensor data is `size` zero bytes, deflated."""
    torch.save({"w": torch.zeros(4)}, file)
    with zipfile.ZipFile(file) as zf:
        entries = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(file, "w") as zf:
        for info, data in entries:
            if info.filename.endswith("/data/0"):
                zf.writestr(info.filename, bytes(size), compress_type=zipfile.ZIP_DEFLATED)
            else:
                zf.writestr(info, data)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (5, "holds an int, not a state_dict"),
        (None, "holds a NoneType, not a state_dict"),
        ([torch.zeros(1)], "holds a list, not a state_dict"),
        (b"hello", "as a checkpoint (KeyError)"),
        ("deflated", "holds compressed entries that expand to 67,109,077 bytes"),
    ],
)
def test_a_cached_file_that_is_no_state_dict_is_e802(hub: Path, content: Any, said: str) -> None:
    """Another file in torch.hub's cache under torchvision's name was read as torch.hub reads
    it: one holding a number was TypeError "'int' object is not iterable", a text file a
    KeyError, a list was 'the checkpoint has a key tensor([0.])', and deflated entries were
    inflated before anything failed (1.5 GB of memory for a 1.5 MB file). Each is E802 now,
    read as a weights file is (archspec.checkpoints), with the hint to delete it."""
    weights = archspec.get_weights("resnet18")
    cached = hub / weights.file
    if content == "deflated":
        deflated(cached, 64 * 2**20)
    elif isinstance(content, bytes):
        cached.write_bytes(content)
    else:
        torch.save(content, cached)
    with pytest.raises(ArchSpecError) as info:
        archspec.load("resnet18", weights="DEFAULT")
    first = info.value.diagnostics[0]
    assert first.code == "E802"
    assert said in first.message
    assert "delete it, and it is downloaded again" in str(first.hint)


@pytest.mark.parametrize("target", ["/dev/stdin", "/proc/self/fd/0"])
@pytest.mark.parametrize(
    "args", [("schema",), ("compile", "lenet5"), ("graph", "lenet5", "--force")]
)
def test_standard_input_is_no_output(tmp_path: Path, target: str, args: tuple[str, ...]) -> None:
    """`archspec schema -o /dev/stdin < pipe` (a pipe that stays open, as a shell's or a CI
    runner's) wrote into the pipe that only archspec itself reads, and hung once it was
    full (the schema is more than a pipe holds). It is E604 before any work."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    reader, writer = os.pipe()  # the write end stays open: the pipe never ends
    try:
        done = subprocess.run(
            [sys.executable, "-m", "archspec", *args, "-o", target],
            cwd=tmp_path,
            env=env,
            stdin=reader,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(reader)
        os.close(writer)
    assert done.returncode == 1, done.stderr
    assert f"cannot write {target}: it is this command's standard input" in done.stderr
    assert "with -o -" in done.stderr
    assert list(tmp_path.iterdir()) == []


class Named(nn.Module):
    """A module whose child's name and class name hold terminal controls (and `extra`)."""

    def __init__(self, extra: str) -> None:
        super().__init__()
        kind = type(f"Evil{extra}\x1b]0;t\x07", (nn.Linear,), {})
        self.add_module("fc\x1b[31m\u202e", kind(3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, "fc\x1b[31m\u202e")(x)


@pytest.mark.parametrize("extra", ["", "\u00e9"])  # archspec's own layout, and rich's
def test_a_module_summary_shows_controls_in_names_as_escapes(extra: str) -> None:
    """print(archspec.summary(model)) wrote a child's name (add_module takes any text) and a
    class name into the table as they were: ESC sequences reached the terminal."""
    text = archspec.summary(Named(extra), input_size=(1, 3)).to_text(width=100)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "fc\\x1b[31m\\u202e" in text.replace("\n", "").replace("│", "").replace(" ", "")


def test_a_module_forward_raising_an_exception_that_cannot_be_said() -> None:
    """archspec.summary(model) whose forward raised such an exception raised the
    RuntimeError of its __str__ instead of the documented ModuleSummaryError."""
    namespace: dict[str, Any] = {}
    exec(MUTE, namespace)
    mute = namespace["Mute"]

    class Fails(nn.Linear):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise mute()

    from archspec.modsummary import ModuleSummaryError

    with pytest.raises(ModuleSummaryError, match="fails on meta tensors of shape"):
        archspec.summary(Fails(3, 3), input_size=(1, 3))
