"""Built-in layer kinds make their spec models on first use (ops/lazyspec.py): a check makes
those its specs use, and a made model is checked as `register` checks a plugin's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Annotated, Any, Literal

import pytest

from archspec.ops import REGISTRY, LayerSpec, Op, register, unregister
from archspec.ops.base import LazySpec

from .conftest import ROOT


class _Toy(Op):
    def infer(self, attrs: Any, inputs: Any, ctx: Any) -> Any:
        raise NotImplementedError

    def build(self, attrs: Any) -> Any:
        raise NotImplementedError

    def emit(self, a: Any, lit: Any) -> str:
        return ""


def test_a_check_makes_only_the_models_its_specs_use() -> None:
    code = textwrap.dedent(
        """
        import sys
        from archspec.cli import main
        from archspec.ops import REGISTRY
        from archspec.ops.base import LazySpec
        sys.argv = ["archspec", "check", "specs/lenet5.yaml"]
        try:
            main()
        except SystemExit:
            pass
        lazy = [k for k, op in REGISTRY.items() if isinstance(vars(type(op)).get("spec"), LazySpec)]
        print(len(lazy), len(REGISTRY), "conv2d" in lazy, "conv3d" in lazy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    left, total, conv2d, conv3d = out.stdout.split()[-4:]
    assert int(left) > int(total) // 2 and (conv2d, conv3d) == ("False", "True"), out.stdout


def test_every_builtin_model_is_made_checked_and_kept() -> None:
    for kind, op in REGISTRY.items():
        spec = type(op).spec
        assert issubclass(spec, LayerSpec) and spec.model_fields["type"].annotation == Literal[kind]
        assert type(op).spec is spec and vars(type(op)).get("spec", spec) is spec, kind


def test_a_wrong_lazy_model_is_refused_when_made_and_each_time_after() -> None:
    class WrongSpec(LayerSpec):
        type: Literal["not_lazy_toy"]

    class LazyToy(_Toy):
        kind = "lazy_toy"
        spec = LazySpec(lambda: WrongSpec)

    register(LazyToy)  # the model is not made yet: nothing to refuse
    try:
        for _ in range(2):
            with pytest.raises(TypeError, match=r"spec needs `type: Literal\['lazy_toy'\]`"):
                REGISTRY["lazy_toy"].spec  # noqa: B018
    finally:
        unregister("lazy_toy")


def test_a_windowed_lazy_model_needs_its_window_fields_when_made() -> None:
    class WindowSpec(LayerSpec):
        type: Literal["lazy_window"]

    class LazyWindow(_Toy):
        kind = "lazy_window"
        spec = LazySpec(lambda: WindowSpec)
        window_dims = 2

    register(LazyWindow)
    try:
        with pytest.raises(TypeError, match="needs the spec field"):
            LazyWindow.spec  # noqa: B018
    finally:
        unregister("lazy_window")


def test_a_subclass_inheriting_a_lazy_model_is_refused_at_registration() -> None:
    """A lazy model is its own class's: a kind that inherits one is checked when it is
    registered, as before, and refused for the other kind's `type`."""
    conv = type(REGISTRY["conv2d"])

    class MyConv(conv):  # type: ignore[misc, valid-type]
        kind = "my_lazy_conv"

    with pytest.raises(TypeError, match=r"spec needs `type: Literal\['my_lazy_conv'\]`"):
        register(MyConv)
    assert "my_lazy_conv" not in REGISTRY


def test_a_kept_field_schema_is_copied_as_deepcopy_copies_it() -> None:
    """Reuse hands pydantic a copy of the kept schema: equal to copy.deepcopy's, with no
    dict or list shared (pydantic edits what it is given), functions and strings shared,
    and any other leaf deep-copied."""
    import copy

    from archspec.ops.lazyspec import schema_copy

    class Leaf:
        def __init__(self) -> None:
            self.items: list[int] = []

    leaf = Leaf()
    kept = {"type": "union", "choices": [{"type": "int", "strict": True}, {"f": len}], "x": leaf}
    made = schema_copy(kept)
    assert made == {**copy.deepcopy({k: v for k, v in kept.items() if k != "x"}), "x": made["x"]}
    assert made["choices"] is not kept["choices"] and made["choices"][0] is not kept["choices"][0]
    assert made["choices"][1]["f"] is len and made["x"] is not leaf
    made["choices"][0]["strict"] = False
    made["choices"].append({})
    assert kept["choices"] == [{"type": "int", "strict": True}, {"f": len}]


def test_the_fields_every_layer_model_shares_are_generated_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`name`, `from`, `key` and `when` (NodeBase) are in every layer model: a new one copies
    their schemas (`Reuse`) instead of generating their unions again, and the copies are
    what generating them gives (the layer models' core schemas are unchanged)."""
    from pydantic import create_model
    from pydantic._internal._generate_schema import GenerateSchema

    def model(kind: str) -> Any:
        return create_model(f"Toy{kind}Spec", __base__=LayerSpec, type=(Literal[kind], ...))

    model("first").model_rebuild()  # the shared fields generated (or already, by a kind)
    unions: list[Any] = []
    union_schema = GenerateSchema._union_schema

    def counted(self: Any, union_type: Any) -> Any:
        unions.append(union_type)
        return union_schema(self, union_type)

    monkeypatch.setattr(GenerateSchema, "_union_schema", counted)
    second = model("second")
    second.model_rebuild()
    assert unions == []
    fields = second.__pydantic_core_schema__["schema"]["fields"]
    assert set(fields) == {
        "name",
        "from_",
        "key",
        "when",
        "train_only",
        "eval_only",
        "pass_in_eval",
        "type",
    }
    assert fields["from_"]["validation_alias"] == "from"
    for bad, where in (({"name": 3}, "name"), ({"from": [1]}, "from"), ({"when": 2}, "when")):
        with pytest.raises(ValueError, match=where):
            second.model_validate({"type": "second", **bad})


def test_a_computed_from_entry_judges_as_its_model_inline() -> None:
    """A `from` entry is validated by FromEach's own validator (fromspec._Inline), not by
    its model's schema written inline into every layer model: the outcomes, errors and
    their locations included, are those of the inline schema, and the layer models' `from`
    schemas hold no model schema."""
    from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

    from archspec.ops import fromspec
    from archspec.ops.fromspec import _WHAT, FromEach, RefText, _form
    from archspec.ops.lazyspec import schema_copy

    class Inline:
        def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
            made = schema_copy(FromEach.__pydantic_core_schema__)
            del made["ref"]
            return made

    each = Annotated[FromEach, Inline(), Tag("entry")]
    entry = Annotated[
        Annotated[RefText, Tag("name")] | each,
        Discriminator(_form, custom_error_type="from_entry", custom_error_message=_WHAT),
    ]
    inline_from = Annotated[
        Annotated[RefText, Tag("name")] | each | Annotated[list[entry], Tag("list")],
        Discriminator(
            _form,
            custom_error_type="from_entry",
            custom_error_message="`from` is a node name, a computed entry or a list of them",
        ),
    ]

    class Written(BaseModel):
        model_config = ConfigDict(extra="forbid")
        from_: inline_from | None = Field(None, alias="from")  # type: ignore[valid-type]

    class Made(BaseModel):
        model_config = ConfigDict(extra="forbid")
        from_: fromspec.FromList | None = Field(None, alias="from")

    def outcome(model: type[BaseModel], value: Any) -> Any:
        try:
            return ("ok", model.model_validate({"from": value}).from_)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            for e in errors:  # an exception in ctx compares by identity: compare its repr
                e["ctx"] = {k: repr(v) for k, v in e.get("ctx", {}).items()}
            return ("error", errors)

    cases: list[Any] = [
        *(None, 1, "a", "a{", "x{1 +}", [], [[]], [{}], {}, {"from": 1}, {"each": None}),
        {"each": "c{j}", "for": "j", "in": 3},
        [{"each": "c{j}", "for": "j", "in": 3}, "input"],
        {"each": "c{j}", "for": "j"},
        {"each": "c", "for": "in_channels", "in": 2},
        {"each": "c", "when": "n >", "bogus": 1},
        {"each": "c", "for": "j", "in": [1, "x"]},
        {"each": "c", "for": "j", "in": 2.5, "when": 3},
        [{"each": "c{j}", "for": "1j", "in": "n +"}, {"x": 1}, 2.5, None],
        FromEach(each="a"),
        [FromEach(each="a"), "b"],
    ]
    for case in cases:
        assert outcome(Made, case) == outcome(Written, case), case
    assert outcome(Made, cases[-6])[0] == "error"  # the cases judge something
    conv = REGISTRY["conv2d"].spec
    conv.model_rebuild()
    made = str(conv.__pydantic_core_schema__["schema"]["fields"]["from_"])
    assert "'type': 'model'" not in made and "function-plain" in made
