"""`archspec show --set NAME=VALUE`: the params given are checked as compile checks them
(E302, E309, at the same place) and written as their defaults, so the text shown compiles to
the module compile builds with them; without --set the output is what it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import archspec
from archspec import api
from archspec.cli import app

runner = CliRunner()

FAMILY = """\
archspec: 1
name: tiny_family
input: [N, 3, 32, 32]
params:
  width: {type: int, default: 16, ge: 1}
  depth: int
  drop: 0.0
  mode: {type: str, default: a, choices: [a, b]}
variants:
  tiny_s: {class_name: TinyS, params: {width: 8, depth: 1}}
layers:
  - {name: body, type: repeat, count: depth,
     layer: {type: conv2d, out_channels: width, kernel_size: 3, padding: 1}}
  - {name: drop, type: dropout, p: drop}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: 10}
"""


@pytest.fixture
def family(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_family.yaml"
    path.write_text(FAMILY, encoding="utf-8")
    return path


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})
    return result.exit_code, result.output


def _shapes(model: object) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}  # type: ignore[attr-defined]


def test_the_params_given_become_defaults_and_compile_alike(family: Path) -> None:
    sets = {"width": "4", "depth": "3", "drop": "1", "mode": "b"}
    code, text = cli(
        "show", str(family), "--variant", "tiny_s", *[f"--set={k}={v}" for k, v in sets.items()]
    )
    assert code == 0, text
    params = yaml.safe_load(text)["params"]
    assert params["width"] == {"type": "int", "default": 4, "ge": 1}
    assert params["depth"] == {"type": "int", "default": 3}  # short forms written in full
    assert params["drop"] == {"type": "float", "default": 1.0}
    assert params["mode"] == {"type": "str", "default": "b", "choices": ["a", "b"]}
    shown = archspec.compile(text, device="meta")
    built = archspec.compile(family, variant="tiny_s", device="meta", **sets)
    assert _shapes(shown) == _shapes(built) and len(shown.body) == 3
    assert shown.drop.p == 1.0 and type(shown).__name__ == "TinyS"


def test_without_set_the_output_is_unchanged(family: Path) -> None:
    code, text = cli("show", str(family), "--variant", "tiny_s")
    assert code == 0 and text == api.resolved_text(family, variant="tiny_s")
    assert api.shown_text(family, variant="tiny_s", params={}) == text


def test_a_required_param_not_given_stays_required(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        FAMILY.replace(
            "variants:\n  tiny_s: {class_name: TinyS, params: {width: 8, depth: 1}}\n", ""
        )
    )
    code, text = cli("show", str(plain), "--set", "width=5")
    assert code == 0, text
    params = yaml.safe_load(text)["params"]
    assert params["depth"] == "int" and params["width"]["default"] == 5


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("widht=4", "error[E302]: unknown param `widht`"),
        ("width=0", "error[E309]: param `width`: 0 is below the minimum 1"),
        ("mode=c", "error[E309]: param `mode`"),
        ("width=x", "error[E309]: param `width`: expected an integer"),
    ],
)
def test_a_param_that_does_not_fit_is_compiles_error_at_its_place(
    family: Path, given: str, said: str
) -> None:
    code, shown = cli("show", str(family), "--variant", "tiny_s", "--set", given)
    assert code == 1 and said in shown, shown
    _, checked = cli("check", str(family), "--variant", "tiny_s", "--set", given)
    first = next(line for line in checked.splitlines() if "error[" in line)
    assert first in shown.splitlines()  # the same words at the same file:line:col


def test_set_text_is_usage_checked_as_elsewhere(family: Path) -> None:
    code, text = cli("show", str(family), "--set", "width")
    assert code == 2 and "is not key=value" in text


@pytest.mark.parametrize("name", ["residual_channels", "cycle", "several_errors"])
def test_a_spec_check_refuses_is_shown_and_refused_alike(name: str, tmp_path: Path) -> None:
    """show checks form, not shapes (as its help says): a broken spec is shown with exit 0,
    and the text shown is refused by check with the same error codes."""
    broken = Path(__file__).parent / "broken" / f"{name}.yaml"
    code, text = cli("show", str(broken))
    assert code == 0 and "error[" not in text
    shown = tmp_path / "shown.yaml"
    shown.write_text(text)
    codes = []
    for path in (broken, shown):
        checked_code, checked = cli("check", str(path))
        assert checked_code == 1
        codes.append(sorted(w for w in checked.split() if w.startswith("error[E")))
    assert codes[0] == codes[1] and codes[0], codes


def test_show_help_says_it_does_not_check_shapes() -> None:
    code, text = cli("show", "--help")
    assert code == 0 and "not its shapes" in " ".join(text.split())
