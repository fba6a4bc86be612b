"""archspec import of factories and models that misbehave while they are read: each is a
located ImportFailure (exit 1), never a traceback or an internal error (exit 3).

The factories are this module's own functions, named as `tests.test_importer_hostile:NAME`.
"""

from __future__ import annotations

import torch
from torch import nn
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ImportFailure

runner = CliRunner()


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class StateDictFails(Small):
    def state_dict(self, *args: object, **kwargs: object) -> dict:  # type: ignore[override]
        raise RuntimeError("state_dict is not available here")


class HoldsItself(Small):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Sequential(nn.ReLU())
        self.inner.add_module("back", self)  # a child whose child is the model


class ListsOthers(Small):
    def named_modules(self, *args: object, **kwargs: object):  # type: ignore[override]
        yield ("zz", 5)  # no module: the importer's walks took it for one


class ChildListsOthers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(ListsOthers())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class LongForward(nn.Module):
    """A forward of 4,500 steps: its spec would be past the YAML reader's node limit."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(4_500):
            x = x + 1
        return self.conv(x)


def many_layers() -> nn.Module:
    """10,001 modules in a row: past the layer items any spec may lower to."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), *[nn.ReLU() for _ in range(10_000)])


def generator_exit() -> nn.Module:
    raise GeneratorExit


def _refusal(factory: str) -> ImportFailure:
    try:
        archspec.import_factory(f"tests.test_importer_hostile:{factory}", input=(1, 3, 8, 8))
    except ImportFailure as exc:
        return exc
    raise AssertionError(f"{factory} was imported")


def test_a_factory_raising_a_base_exception_is_e901() -> None:
    """GeneratorExit is no Exception: it passed `except (Exception, SystemExit)` and
    reached the terminal as a traceback."""
    err = _refusal("generator_exit")
    assert err.codes == ["E901"] and "GeneratorExit" in str(err)


def test_an_exception_in_the_models_own_method_is_e904_at_its_line() -> None:
    """An overridden state_dict that raises was an internal error (exit 3)."""
    err = _refusal("StateDictFails")
    diag = err.diagnostics[0]
    assert diag.code == "E904" and "RuntimeError" in diag.message
    assert diag.span is not None and diag.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        line = fh.read().splitlines()[diag.span.line - 1]
    assert 'raise RuntimeError("state_dict is not available here")' in line


def test_a_model_that_holds_itself_is_e901_not_a_recursion_error() -> None:
    err = _refusal("HoldsItself")
    assert err.codes == ["E901"] and "inner.back" in str(err)
    assert err.diagnostics[0].span is not None


def test_a_class_overriding_a_walk_of_nn_module_is_e901_naming_it() -> None:
    """named_modules yielding ("zz", 5) was an internal error (TypeError in vars());
    archspec reads a model through nn.Module's walks, so a class listing others is refused,
    at its class, whether it is the model or a module inside it."""
    for factory in ("ListsOthers", "ChildListsOthers"):
        err = _refusal(factory)
        assert err.codes == ["E901"], factory
        assert "ListsOthers overrides nn.Module.named_modules" in str(err)
        assert err.diagnostics[0].span is not None
        assert err.diagnostics[0].span.file == __file__


def test_torchs_own_wrappers_are_left_to_the_layer_kinds() -> None:
    """torch's checkpoint wrapper overrides named_parameters within its contract: it stays
    a module no layer kind builds (E903, with the plugin hint), not a refused override."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
        checkpoint_wrapper,
    )

    model = nn.Sequential(checkpoint_wrapper(nn.Conv2d(3, 4, 3)), nn.ReLU())
    try:
        archspec.from_module(model, torch.randn(1, 3, 8, 8))
    except ImportFailure as exc:
        assert exc.codes == ["E903"], exc
    else:
        raise AssertionError("the checkpoint wrapper was imported")


def test_a_model_past_a_specs_limits_is_refused_for_its_size() -> None:
    """Its imported spec past E104's YAML nodes or E310's layer items was E904 'does not
    compile ... please report this model', as if the importer had failed."""
    for factory, said in (
        ("LongForward", "has more YAML nodes than a spec may"),
        ("many_layers", "lowers to more layers than a spec may"),
    ):
        err = _refusal(factory)
        assert err.codes == ["E901"], (factory, str(err))
        assert "is larger than a spec can be" in str(err) and said in str(err)
        assert "please report" not in str(err) and "a part of the model" in str(err.hint)


def test_a_model_that_shares_a_module_is_no_cycle() -> None:
    """A module used twice (a DAG, not a cycle) is still read: the walk marks what is done."""
    from archspec.importer import _module_cycle

    shared = nn.ReLU()
    model = nn.Sequential(nn.Sequential(shared), nn.Sequential(shared), shared)
    assert _module_cycle(model) is None
    model[0].add_module("loop", model)
    assert _module_cycle(model) == "0.loop"


def test_cli_exits_1_for_each() -> None:
    for factory in ("generator_exit", "StateDictFails", "HoldsItself", "ListsOthers"):
        res = runner.invoke(
            app, ["import", f"tests.test_importer_hostile:{factory}", "--input", "1,3,8,8"]
        )
        assert res.exit_code == 1, (factory, res.output)
        assert "Traceback" not in res.output and "internal error" not in res.output


def test_a_child_name_a_key_cannot_hold_is_e903_saying_why() -> None:
    # `{...}` in a key is a template part (an expression), so `{1/0}` failed as "division by
    # zero" in a spec the model never wrote; a space failed on the key's rules unexplained
    for key, why in (("{1/0}", "expression"), ("{7}", "expression"), ("a b", "spaces")):
        model = nn.Sequential()
        model.add_module(key, nn.Linear(4, 4))
        model.add_module("act", nn.ReLU())
        try:
            archspec.from_module(model, torch.zeros(1, 4))
        except ImportFailure as exc:
            (diag,) = exc.diagnostics
            assert diag.code == "E903" and repr(key) in diag.message and why in diag.message
            assert "add_module" in (diag.hint or "")
        else:
            raise AssertionError(f"{key!r} was imported")


def test_any_class_name_becomes_a_block_name_a_spec_takes() -> None:
    """A block is named after its class; a class named `Résumé` (legal Python), one longer
    than 64 letters, or a keyword (made with type()) gave a spec that did not compile, so the
    import failed (E904 'the imported spec ... does not compile'); others were cleaned up."""
    for name in NAMES:
        cls = type(name, (Small,), {})
        model = nn.Sequential(cls(), nn.ReLU())
        text = archspec.from_module(model, torch.zeros(1, 3, 9, 9))
        twin = archspec.compile(text)
        assert list(twin.state_dict()) == list(model.state_dict()), name
    model = nn.Sequential(type("Résumé", (Small,), {})())
    assert "  Resume:\n" in archspec.from_module(model, torch.zeros(1, 3, 9, 9))


#: class names a spec cannot take as they are
NAMES = ["Résumé", "x" * 200, "class", "forward", "É" * 70, "Weird\nName: !!x", "F", "nn"]


def test_any_class_name_of_the_model_gives_a_spec_that_emits() -> None:
    """The model's own class gives the spec's `name:` and `class_name:`: `Résumé` raised a
    bare ValueError out of from_module (exit 3 from `archspec import`), and `F`, `nn`,
    `print`, a keyword or a name over 64 letters failed the import (E904)."""
    for name in [*NAMES, "print"]:
        model = type(name, (Small,), {})()
        text = archspec.from_module(model, torch.zeros(1, 3, 9, 9))
        source = archspec.emit(text)
        assert "class Resume(nn.Module)" in source or name != "Résumé", source
        assert list(archspec.compile(text).state_dict()) == list(model.state_dict()), name


class _Strided(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.on = stride  # the attribute that names the block's param
        self.conv = nn.Conv2d(3, 3, 3, stride=stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_names_yaml_reads_otherwise_stay_text() -> None:
    """A class, block or param named `null`, `true`, `yes` or `on` was written bare (`name:
    null`, `  on: {type: int ...}`), which YAML reads as None or a boolean: the import failed
    with E904 'does not compile: mapping key 'on' is not a string'."""
    for name in ["null", "true", "yes", "on", "NULL"]:
        cls = type(name, (Small,), {})
        for model in (cls(), nn.Sequential(cls(), nn.ReLU())):
            text = archspec.from_module(model, torch.zeros(1, 3, 9, 9))
            assert archspec.check(text).ok, text
    model = nn.Sequential(_Strided(1), _Strided(2))
    text = archspec.from_module(model, torch.zeros(1, 3, 8, 8))
    assert "'on': {type: int, default: 1}" in text
    assert list(archspec.compile(text).state_dict()) == list(model.state_dict())
