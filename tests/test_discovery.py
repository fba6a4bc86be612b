"""Finding specs: wildcards (`archspec list 'resnet*'`, `archspec.list_models`), shell completion
of names and variants, and spec folders that installed packages register (`archspec.specs`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec import spec_plugins
from archspec.cli import app
from archspec.errors import PluginError

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_models_matches_wildcards_like_timm() -> None:
    effnets = archspec.list_models("efficientnet*")
    assert effnets[:2] == ["efficientnet_b0", "efficientnet_b1"] and len(effnets) == 11
    assert archspec.list_models("efficientnet_v2_?") == [
        "efficientnet_v2_s",
        "efficientnet_v2_m",
        "efficientnet_v2_l",
    ]
    assert archspec.list_models("RESNET1[58]*") == ["resnet18", "resnet152"]  # family order
    assert archspec.list_models(["vgg11*", "lenet5"]) == ["lenet5", "vgg11", "vgg11_bn"]
    assert archspec.list_models("no_such_*") == []
    assert archspec.list_models() == list(archspec.builtin_index())
    with pytest.raises(TypeError):
        archspec.list_models(5)  # type: ignore[arg-type]


def test_list_command_filters_by_pattern() -> None:
    code, out, _ = run("list", "--names", "resnet*", "wide_*")
    assert code == 0
    assert out.split() == [
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "wide_resnet50_2",
        "wide_resnet101_2",
    ]
    code, out, _ = run("list", "lenet5*")
    names = [line.split()[1] for line in out.splitlines() if line.startswith("│ ")]
    names = [n for n in names if n != "│"]  # rows whose description folded
    assert code == 0 and names == ["lenet5", "lenet5_1998"]
    code, out, _ = run("list", "--layers", "conv?d")
    kinds = [line.split()[1] for line in out.splitlines() if line.startswith("│ ")]
    kinds = [k for k in kinds if k != "│"]
    assert code == 0 and kinds == ["conv1d", "conv2d", "conv3d"]


@pytest.mark.parametrize(
    ("args", "close"),
    [
        (["list", "resnx*"], "did you mean resnet"),
        (["list", "--names", "efficientnet_c*"], "did you mean efficientnet_b0"),
        (["list", "--layers", "convv*"], "did you mean conv"),
    ],
)
def test_a_pattern_that_matches_nothing_is_an_error_with_close_names(
    args: list[str], close: str
) -> None:
    code, out, err = run(*args)
    assert code == 1 and out == ""
    assert "error[E100]: no " in err and f"matches {args[-1]!r}" in err
    assert close in err and "Traceback" not in err


def complete(words: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the shell gets from archspec's completion (bash) for the last word of `words`."""
    monkeypatch.chdir(ROOT)
    env = {
        "_ARCHSPEC_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    result = CliRunner().invoke(app, [], env=env, prog_name="archspec")
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    return result.stdout.split()


def test_shell_completion_of_names_and_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    assert complete("archspec summary efficientnet_v2", monkeypatch) == [
        "efficientnet_v2_s",
        "efficientnet_v2_m",
        "efficientnet_v2_l",
    ]
    assert "resnext50_32x4d" in complete("archspec check resn", monkeypatch)
    assert complete("archspec new net --from googl", monkeypatch) == ["googlenet"]
    assert complete("archspec list vgg19", monkeypatch) == ["vgg19", "vgg19_bn"]
    # a path is left to the shell's own file completion
    assert complete("archspec compile specs/", monkeypatch) == []
    # --variant completes the variants of the family file named before it
    assert complete("archspec check specs/regnet.yaml --variant regnet_y_1", monkeypatch) == [
        "regnet_y_1_6gf",
        "regnet_y_16gf",
        "regnet_y_128gf",
    ]
    assert complete("archspec graph specs/resnet18.yaml --variant ", monkeypatch) == []


# --------------------------------------------------------------------------------------
# Spec folders of installed packages


@pytest.fixture
def spec_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ARCHSPEC_NO_PLUGINS", raising=False)
    spec_plugins.reset()
    yield
    spec_plugins.reset()


TINY = """\
archspec: 1
name: {name}
input: [N, 3, 16, 16]
layers:
  - {{name: conv, type: conv2d, out_channels: 4, kernel_size: 3}}
  - {{name: pool, type: adaptive_avgpool2d, output_size: 1}}
  - {{name: flatten, type: flatten}}
  - {{name: fc, type: linear, out_features: 2}}
"""

FAMILY = """\
archspec: 1
name: tinyfam
description: Two widths of one net.
input: [N, 3, 16, 16]
params: {width: {type: int, default: 4}}
variants:
  tinyfam_s: {params: {width: 4}}
  tinyfam_l: {params: {width: 8}}
layers:
  - {name: conv, type: conv2d, out_channels: width, kernel_size: 3}
"""


def install(root: Path, entry: str, name: str = "fake_specs") -> None:
    """A minimal installed distribution with an `archspec.specs` entry point."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[archspec.specs]\n{entry}\n")


def package(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text("from pathlib import Path\nHERE = Path(__file__).parent\n")
    for file, text in files.items():
        (folder / file).write_text(text)
    return folder


def test_an_installed_package_registers_a_spec_folder(
    spec_state: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package(tmp_path, "zoo_pkg", {"tinynet.yaml": TINY.format(name="tinynet"), "fam.yaml": FAMILY})
    install(tmp_path, "zoo = zoo_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = archspec.list_models("tiny*")
    assert names == ["tinyfam_s", "tinyfam_l", "tinynet"]
    assert list(archspec.builtin_index())[-3:] == ["tinyfam_s", "tinyfam_l", "tinynet"]
    model = archspec.load("tinynet")
    assert type(model).__name__ == "Tinynet" and model.fc.out_features == 2
    assert archspec.compile("tinyfam_l", device="meta").conv.out_channels == 8
    assert archspec.check("tinynet").ok
    code, out, _ = run("list", "--names", "tiny*")
    assert code == 0 and out.split() == names
    code, out, _ = run("check", "tinyfam_s")
    assert code == 0 and "tinyfam" in out


def test_an_entry_point_may_name_a_folder_path(
    spec_state: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = package(tmp_path, "zoo_pkg2", {})
    (folder / "specs").mkdir()
    (folder / "specs" / "pathnet.yaml").write_text(TINY.format(name="pathnet"))
    (folder / "__init__.py").write_text(
        "from pathlib import Path\nSPECS = Path(__file__).parent / 'specs'\n"
    )
    install(tmp_path, "zoo = zoo_pkg2:SPECS")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert archspec.list_models("pathnet") == ["pathnet"]


@pytest.mark.parametrize(
    ("entry", "files", "message"),
    [
        ("zoo = no_such_pkg_xyz", {}, "failed to load: ModuleNotFoundError"),
        ("zoo = zoo_bad:Missing", {}, "failed to load: AttributeError"),
        ("zoo = zoo_bad:HERE_NAME", {}, "names a str"),
        ("zoo = zoo_bad:NOT_A_DIR", {}, "which is no folder"),
        ("zoo = zoo_bad:NUMBER", {}, "names a int, not a folder"),
        ("zoo = zoo_bad", {"resnet18.yaml": TINY.format(name="x")}, "a built-in spec already"),
        ("zoo = zoo_bad", {"my-net.yaml": TINY.format(name="x")}, "which is no identifier"),
    ],
)
def test_a_broken_spec_folder_is_a_clear_error(
    spec_state: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entry: str,
    files: dict[str, str],
    message: str,
) -> None:
    pkg = "zoo_" + re.sub(r"\W", "_", tmp_path.name)  # a module name no other case imported
    entry = entry.replace("zoo_bad", pkg)
    folder = package(tmp_path, pkg, files)
    (folder / "__init__.py").write_text("HERE_NAME = 'specs'\nNOT_A_DIR = __file__\nNUMBER = 3\n")
    install(tmp_path, entry, name="bad_zoo")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        archspec.list_models()
    text = str(info.value)
    assert info.value.error_code == "E701"
    assert f"spec folder `{entry}` from bad_zoo 1.0" in text and message in text, text
    assert "ARCHSPEC_NO_PLUGINS" in (info.value.hint or "")
    code, out, err = run("list", "--names")
    assert code == 1 and out == "" and "error[E701]" in err and "Traceback" not in err
    # raised again until fixed, and the escape hatch works
    with pytest.raises(PluginError):
        archspec.load("lenet5")
    monkeypatch.setenv("ARCHSPEC_NO_PLUGINS", "1")
    spec_plugins.reset()
    assert "lenet5" in archspec.list_models()


def test_two_packages_may_not_give_the_same_name(
    spec_state: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for pkg, dist in (("zoo_a", "dist_a"), ("zoo_b", "dist_b")):
        package(tmp_path, pkg, {"samenet.yaml": TINY.format(name="samenet")})
        install(tmp_path, f"{pkg} = {pkg}", name=dist)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        archspec.list_models()
    assert "samenet" in str(info.value) and "the spec folder `zoo_a = zoo_a`" in str(info.value)


@pytest.mark.parametrize("shell", ["complete_bash", "complete_zsh"])
def test_completion_without_the_shell_s_variables_says_so(shell: str) -> None:
    """`_ARCHSPEC_COMPLETE` set by hand, without what the shell passes with it (bash's
    COMP_WORDS, zsh's _TYPER_COMPLETE_ARGS): typer's KeyError traceback was printed."""
    env = {k: v for k, v in os.environ.items() if k not in ("COMP_WORDS", "COMP_CWORD")}
    env.pop("_TYPER_COMPLETE_ARGS", None)
    env["_ARCHSPEC_COMPLETE"] = shell
    proc = subprocess.run(
        [sys.executable, "-m", "archspec"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert "Traceback" not in proc.stderr
    if shell == "complete_bash":  # zsh's reads its variable with a default: nothing to say
        assert proc.returncode == 1
        assert "shell completion (complete_bash) found no $COMP_WORDS" in proc.stderr
        assert "archspec --install-completion" in proc.stderr
