"""A plugin's method that returns a value of the wrong kind is the plugin's E701, said where
the plugin gave it: a `params` that forgot its `return`, a `macs` computed with `/`, a shape
rule returning a bare tuple or leaving out an `inferred` attribute, a `build` returning a
tensor, support code that is None. Each was an internal error (exit 3) in archspec's code one
step later, a KeyError with no location, or a number silently taken as a symbol; and a
class declaring a `style` or `inferred` registration cannot use is refused when it loads.
A plugin's emitted code that fails compile's self-check gets a hint naming the plugin, not
"a bug in archspec's source emitter"."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec import plugins
from archspec.cli import app

from .conftest import plugins_restored

runner = CliRunner()

#: A layer that halves the channels by averaging pairs, with one learned gain per output
#: channel; each case below replaces one line of it.
PLUGIN = """\
import inspect
from typing import Literal

import torch
from torch import nn

import archspec


class PairMean(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels // 2))

    def forward(self, x):
        n, c, h, w = x.shape
        return x.reshape(n, c // 2, 2, h, w).mean(2) * self.gain.view(1, -1, 1, 1)


class PairMeanSpec(archspec.LayerSpec):
    type: Literal["pair_mean"]


class PairMeanOp(archspec.Op):
    kind = "pair_mean"
    spec = PairMeanSpec
    inferred = ("channels",)
    style = "module"

    def infer(self, attrs, inputs, ctx):
        (x,) = inputs
        attrs = dict(attrs, channels=x[1].value)
        return archspec.Inferred(attrs, (x[0], x[1] // 2, x[2], x[3]))

    def params(self, a):
        return a["channels"] // 2

    def macs(self, a, inputs, out):
        return inputs[0][0] * inputs[0][1] * inputs[0][2] * inputs[0][3]

    def build(self, a):
        return PairMean(a["channels"])

    def emit(self, a, lit):
        return f"PairMean({lit(a['channels'])})"

    def emit_support(self):
        return inspect.getsource(PairMean)
"""

SPEC = """\
archspec: 1
name: net
input: [N, 3, 8, 8]
layers:
  - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: pool, type: pair_mean}
  - {name: flatten, type: flatten}
"""

INFER_RETURN = "return archspec.Inferred(attrs, (x[0], x[1] // 2, x[2], x[3]))"


@pytest.fixture(autouse=True)
def isolated() -> Iterator[None]:
    """Each test starts with no plugin file loaded and leaves the registry as it found it."""
    with plugins_restored():
        yield


def files(tmp_path: Path, old: str, new: str) -> tuple[Path, Path]:
    assert old in PLUGIN
    plugin = tmp_path / "pair_mean.py"
    plugin.write_text(PLUGIN.replace(old, new, 1))
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC)
    return plugin, spec


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "400"})
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "command", "said"),
    [
        # a forgotten `return`: None reached the parameter sum (TypeError, exit 3)
        ('return a["channels"] // 2', 'a["channels"] // 2', "check", "`params` returned None"),
        ('return a["channels"] // 2', "return 'many'", "check", "`params` returned str 'many'"),
        ('return a["channels"] // 2', "return -4", "check", "`params` returned int -4"),
        # a float or None from macs was exit 3 in summary and compile; a str became a symbol
        ("return inputs[0][0] *", "return 1.5 or", "summary", "`macs` returned float 1.5"),
        ("return inputs[0][0] *", "inputs[0][0] *", "compile", "`macs` returned None"),
        ("return inputs[0][0] *", "return 'lots' or", "compile", "`macs` returned str 'lots'"),
        ("return PairMean(", "return torch.ones(3)  # ", "compile", "`build` returned Tensor"),
    ],
)
def test_a_method_returning_the_wrong_kind_of_value_is_e701(
    tmp_path: Path, old: str, new: str, command: str, said: str
) -> None:
    plugin, spec = files(tmp_path, old, new)
    target = tmp_path / "net.py"
    extra = ["-o", str(target)] if command == "compile" else []
    code, text = run(command, "--plugins", str(plugin), str(spec), *extra)
    assert code == 1, text
    assert "error[E701]" in text and "internal error" not in text, text
    assert f"layer kind `pair_mean` (plugin {plugin}): its {said}" in text, text
    assert "docs/plugins.md says what each method returns" in text, text
    assert not target.exists()  # refused before anything is written


@pytest.mark.parametrize(
    ("new", "said"),
    [
        ("return (x[0], x[1] // 2, x[2], x[3])", "its `infer` returned tuple (Dim(N), Dim(4),"),
        ("return archspec.Inferred(attrs, None)", "its `infer` returned None, not a shape"),
        ("return archspec.Inferred(attrs, (x[0], 'C', x[2], x[3]))", "returned tuple"),
        ("return archspec.Inferred({}, (x[0], x[1] // 2, x[2], x[3]))", "leaves out `channels`"),
        ("return archspec.Inferred(attrs, (x[0], x[1] - 9, x[2], x[3]))", "a size of -1"),
    ],
)
def test_a_shape_rule_returning_a_wrong_result_is_e701_at_the_layer(
    tmp_path: Path, new: str, said: str
) -> None:
    """Located at the layer's line, as the rule's own exceptions are."""
    plugin, spec = files(tmp_path, INFER_RETURN, new)
    code, text = run("check", "--plugins", str(plugin), str(spec))
    assert code == 1, text
    assert f"{spec}:6:5: error[E701]: pool: layer kind `pair_mean`" in text, text
    assert said in text and "internal error" not in text, text


def test_a_shape_rules_int_sizes_are_taken_as_dims(tmp_path: Path) -> None:
    """An output size written as a plain int (`4`, not a Dim) is that size: it was an
    AttributeError ('int' object has no attribute '_terms') past the rule."""
    new = "return archspec.Inferred(attrs, (x[0], 4, x[2], x[3]))"
    plugin, spec = files(tmp_path, INFER_RETURN, new)
    archspec.load_plugin_files([str(plugin)])
    result = archspec.check(str(spec))
    assert result.ok, result.diagnostics
    assert archspec.compile(str(spec), device="meta").pool.gain.shape == (4,)


def test_a_plugin_that_exits_or_raises_an_unprintable_exception_is_e701(tmp_path: Path) -> None:
    """`sys.exit(0)` in a shape rule ended `archspec check` with status 0 and no output; an
    exception whose `__str__` raises was exit 3."""
    for body, said in [
        ("raise SystemExit(0)", "failed in its `infer`: SystemExit: 0"),
        ("class E(Exception):\n            def __str__(self):\n                raise ValueError\n"
         "        raise E()", "failed in its `infer`: E"),
    ]:  # fmt: skip
        plugin, spec = files(tmp_path, "        (x,) = inputs\n", f"        {body}\n")
        plugins.reset()
        code, text = run("check", "--plugins", str(plugin), str(spec))
        assert code == 1, text
        assert f"error[E701]: pool: layer kind `pair_mean` (plugin {plugin}) {said}" in text, text
        archspec.unregister("pair_mean")
        del sys.modules[next(m for m in sys.modules if m.startswith("archspec_plugin_pair"))]


def test_support_code_that_is_not_text_is_an_error_at_the_layer(tmp_path: Path) -> None:
    plugin, spec = files(tmp_path, "return inspect.getsource(PairMean)", "return None")
    code, text = run("compile", "--plugins", str(plugin), str(spec), "-o", str(tmp_path / "n.py"))
    assert code == 1 and "internal error" not in text, text
    assert f"{spec}:6:5: error[E601]: layer kind `pair_mean` gave support code of type " in text


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ('style = "module"', 'style = "functional"', "`style` must be one of module, function"),
        ('inferred = ("channels",)', 'inferred = "channels"', "`inferred` must be a tuple"),
    ],
)
def test_a_class_declaring_what_registration_cannot_use_is_refused(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    """An unknown style was taken as a function op and failed at compile ('failed in its
    `function`: NotImplementedError'); `inferred` as a string was read letter by letter."""
    plugin, spec = files(tmp_path, old, new)
    code, text = run("check", "--plugins", str(plugin), str(spec))
    assert code == 1, text
    assert "error[E701]: plugin file" in text and "cannot be registered" in text, text
    assert f"PairMeanOp (pair_mean): {said}" in text, text


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        # a class name no support code defines
        ("return f\"PairMean({lit(a['channels'])})\"", "return 'PairMeen(8)'", "NameError"),
        # a constructor call that builds another module than `build`
        ("return f\"PairMean({lit(a['channels'])})\"", "return 'PairMean(4)'", "does not match"),
        ("return inspect.getsource(PairMean)", 'return ""', "NameError: name 'PairMean'"),
    ],
)
def test_a_plugins_emitted_code_that_fails_the_check_names_the_plugin_not_archspec(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    """The hint was 'this is a bug in archspec's source emitter; please report it' for every
    plugin mistake `compile`'s self-check found: it names the plugins' kinds and what to
    check in them first."""
    plugin, spec = files(tmp_path, old, new)
    code, text = run("compile", "--plugins", str(plugin), str(spec), "-o", str(tmp_path / "n.py"))
    assert code == 1 and "error[E601]" in text and said in text, text
    flat = " ".join(text.split())
    assert f"hint: plugins' layer kinds wrote part of this module: `pair_mean` ({plugin})" in flat
    assert "emit_support` defines every class" in flat, text


def test_a_self_check_failure_without_plugins_keeps_the_bug_report_hint() -> None:
    from archspec.backends.selfcheck import _plugins_hint

    assert _plugins_hint(archspec.api.build_graph("lenet5")) is None


def test_a_shape_rule_that_recurses_forever_is_its_e701_not_a_deep_spec(tmp_path: Path) -> None:
    """A rule that calls itself without end was 'E310: the spec nests too deeply to lower'
    at the spec's first line: the error of a deeply nested spec, of which this one is not."""
    body = "def again(n):\n            return again(n + 1)\n\n        again(0)"
    plugin, spec = files(
        tmp_path, "        (x,) = inputs\n", f"        {body}\n        (x,) = inputs\n"
    )
    code, text = run("check", "--plugins", str(plugin), str(spec))
    assert code == 1 and "E310" not in text, text
    said = f"{spec}:6:5: error[E701]: pool: layer kind `pair_mean` (plugin {plugin}) failed in its"
    assert said in text and "RecursionError" in text, text
