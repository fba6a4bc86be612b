"""archspec.lazymethods.dataclass makes the class the standard decorator makes: the same
fields, equality, hashing, repr, frozenness, errors and helpers (`fields`, `replace`,
`asdict`), with each method compiled on its first call and then put on the class."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from archspec import lazymethods
from archspec.lazymethods import dataclass

#: Whether this Python's dataclasses write each method by itself (3.11, 3.12), which
#: lazymethods defers; 3.13's compile a class's methods in one go and it is the standard
#: decorator there, every method compiled when the class is made.
LAZY = hasattr(dataclasses, "_create_fn")


def _pair(options: dict[str, Any], body: str) -> tuple[type, type]:
    """The class `body` defines, made by the standard decorator and by the lazy one."""
    made = []
    for decorator in (dataclasses.dataclass, lazymethods._dataclass):
        namespace: dict[str, Any] = {"field": dataclasses.field}
        exec(body, namespace)
        made.append(decorator(**options)(namespace["C"]))
    return made[0], made[1]


_BODY = '''
class C:
    """A sample."""
    a: int
    b: str = "x"
    c: list = field(default_factory=list)
    d: int = field(default=3, repr=False, compare=False)
'''

OPTIONS = [
    {},
    {"frozen": True},
    {"frozen": True, "eq": False},
    {"frozen": True, "repr": False},
    {"eq": False},
    {"order": True},
    {"unsafe_hash": True},
    {"kw_only": True},
]


def _observe(cls: type) -> list[Any]:
    """Everything a caller can see of the class's instances, errors included."""
    seen: list[Any] = []

    def attempt(action: Any) -> None:
        try:
            seen.append(action())
        except Exception as exc:
            seen.append((type(exc).__name__, str(exc).replace(cls.__qualname__, "C")))

    def shown(obj: object) -> str:  # without the address of a default repr
        return re.sub(r" at 0x[0-9a-f]+", "", repr(obj)).replace(cls.__qualname__, "C")

    one = cls(a=1)
    two = cls(a=1, b="y")
    attempt(lambda: shown(one))
    attempt(lambda: (one == cls(a=1), one == two, one != two, one == 1))
    attempt(lambda: hash(one) == hash(cls(a=1)))
    attempt(lambda: one < two)
    attempt(lambda: setattr(one, "a", 5) or one.a)
    attempt(lambda: delattr(two, "b") or vars(two))
    attempt(lambda: cls(1, 2, 3, 4, 5))
    attempt(lambda: cls())
    attempt(lambda: cls(a=1, z=2))
    attempt(lambda: [f.name for f in dataclasses.fields(cls)])
    attempt(lambda: dataclasses.asdict(cls(a=2)))
    attempt(lambda: shown(dataclasses.replace(cls(a=2), b="q")))
    attempt(lambda: str(cls.__dataclass_params__))
    attempt(lambda: cls.__match_args__)
    attempt(lambda: cls.__hash__ is None)
    return seen


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_a_lazy_class_behaves_as_the_standard_one(options: dict[str, Any]) -> None:
    standard, lazy = _pair(options, _BODY)
    assert _observe(lazy) == _observe(standard)
    assert lazy.__doc__ == standard.__doc__
    # once called, each method is the standard one's twin, on the class itself
    assert str(inspect.signature(lazy)) == str(inspect.signature(standard))


def test_methods_are_compiled_on_first_call_and_then_sit_on_the_class() -> None:
    @dataclass(frozen=True)
    class Point:
        """A point."""

        x: int
        y: int = 0

    stub = Point.__dict__["__eq__"]
    assert _compiled(Point, "__eq__") is not LAZY  # not compiled yet
    assert Point(1) == Point(1, 0) and Point(1) != Point(2)
    real = Point.__dict__["__eq__"]
    assert (real is not stub) is LAZY and real.__qualname__.endswith("<locals>.Point.__eq__")
    assert real.__code__.co_varnames[:2] == ("self", "other")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        Point(1).x = 2  # type: ignore[misc]
    assert {Point(1): "a"}[Point(1, 0)] == "a"


def test_an_undocumented_class_gets_the_standard_docstring() -> None:
    standard, lazy = _pair({"frozen": True}, "class C:\n    a: int\n    b: str = 'x'\n")
    assert lazy.__doc__ == standard.__doc__ == "C(a: 'int', b: 'str' = 'x')"


def test_the_standard_decorator_is_left_as_it_was() -> None:
    create = getattr(dataclasses, "_create_fn", None)
    with pytest.raises(TypeError, match="non-default argument"):

        @dataclass
        class Bad:
            """Fields out of order."""

            a: int = 1
            b: int  # type: ignore[misc]

    assert getattr(dataclasses, "_create_fn", None) is create


def test_another_thread_gets_the_standard_methods_meanwhile() -> None:
    """A class another thread makes while this one is inside the decorator is the standard
    decorator's: no stubs."""
    inside, done = threading.Event(), threading.Event()
    made: list[type] = []

    def other() -> None:
        inside.wait(5)

        @dataclasses.dataclass(frozen=True)
        class Other:
            """Made by another thread."""

            a: int

        made.append(Other)
        done.set()

    class WaitForOther:
        """A field's default, read while the decorator runs: the other thread makes its
        class then."""

        def __get__(self, obj: object, owner: type) -> int:
            inside.set()
            done.wait(5)
            return 0

    thread = threading.Thread(target=other)
    thread.start()

    @dataclass(frozen=True)
    class Meanwhile:
        """Decorated while the other thread makes its class."""

        a: int = WaitForOther()  # type: ignore[assignment]

    thread.join(5)
    assert _compiled(Meanwhile, "__eq__") is not LAZY
    assert made and made[0].__dict__["__eq__"].__code__.co_varnames[:2] == ("self", "other")
    assert Meanwhile() == Meanwhile(0)


def test_every_archspec_dataclass_is_made_here() -> None:
    """archspec's modules take `dataclass` from archspec.lazymethods, not from dataclasses."""
    package = Path(lazymethods.__file__).parent
    wrong = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            standard = (
                isinstance(node, ast.ImportFrom)
                and node.module == "dataclasses"
                and any(a.name == "dataclass" for a in node.names)
            ) or (
                ast.unparse(node) == "dataclasses.dataclass"
                if isinstance(node, ast.Attribute)
                else False
            )
            if standard and path.name != "lazymethods.py":
                wrong.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not wrong, wrong


def _compiled(cls: type, name: str) -> bool:
    return cls.__dict__[name].__code__.co_varnames[:1] == ("self",)


def test_inspect_sees_the_standard_signatures_before_any_call() -> None:
    standard, lazy = _pair({"frozen": True}, _BODY)
    assert _compiled(lazy, "__init__") is not LAZY
    assert str(inspect.signature(lazy)) == str(inspect.signature(standard))
    assert str(inspect.signature(lazy.__eq__)) == str(inspect.signature(standard.__eq__))
    assert lazy(a=1) == lazy(a=1) and _compiled(lazy, "__init__") and _compiled(lazy, "__eq__")


def test_deferring_covers_every_dataclass_made_inside_and_none_after() -> None:
    create = getattr(dataclasses, "_create_fn", None)
    with lazymethods.deferring(), lazymethods.deferring():

        @dataclasses.dataclass(frozen=True)
        class Inside:
            """Made inside."""

            a: int

    @dataclasses.dataclass(frozen=True)
    class After:
        """Made after."""

        a: int

    assert getattr(dataclasses, "_create_fn", None) is create
    assert _compiled(Inside, "__eq__") is not LAZY and _compiled(After, "__eq__")
    assert Inside(1) == Inside(1) and hash(Inside(2)) == hash(After(2))
    assert _compiled(Inside, "__eq__") and _compiled(Inside, "__hash__")
    assert _compiled(Inside, "__setattr__") is not LAZY


def test_the_command_line_defers_its_dependencies_methods() -> None:
    """typer's and pydantic's dataclasses, made while archspec.cli and its commands import,
    get their methods on first call too; a check's output is the same (the golden tests)."""
    code = (
        "import archspec.cli, typer._coercion\n"
        "archspec.cli._commands()\n"
        "import annotated_types\n"
        "print(annotated_types.Gt.__dict__['__setattr__'].__code__.co_varnames[0],\n"
        "      typer._coercion.TypeDescriptor.__dict__['__repr__'].__wrapped__.__code__"
        ".co_varnames[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    first = "a" if LAZY else "self"  # a stub's first argument, or the method's own
    assert out.stdout.split() == [first, first], out.stdout + out.stderr
