"""No block is defined twice across the shipped specs and the block library (issue 15): a
structure shared by two files belongs in archspec/library/blocks and is imported with `use:`."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import yaml

from .conftest import ROOT, spec_files

LIBRARY = ROOT / "archspec" / "library" / "blocks"
#: What makes a block's structure; `doc` and comments do not.
STRUCTURE = ("params", "let", "layers", "outputs")


def shipped_files() -> list[Path]:
    return [*spec_files(), *sorted(LIBRARY.glob("*.yaml"))]


def _normal_params(params: Any) -> Any:
    """`planes: int` and `planes: {type: int}` declare the same param."""
    if not isinstance(params, dict):
        return params
    return {k: {"type": v} if isinstance(v, str) else v for k, v in params.items()}


def structure(name: str, block: dict[str, Any]) -> str:
    """The block's structure as canonical text, its own name replaced by a placeholder (so a
    renamed copy, recursive calls included, compares equal)."""
    body = {k: block.get(k) for k in STRUCTURE}
    body["params"] = _normal_params(body["params"])
    text = json.dumps(body, sort_keys=True)
    return text.replace(json.dumps(name), json.dumps("<self>"))


def block_definitions(paths: list[Path]) -> list[tuple[str, str, str]]:
    """(file, block name, structure) of every block a file defines (an `extends:` swap, a
    block name given as text, defines nothing)."""
    found = []
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, block in (data.get("blocks") or {}).items():
            if isinstance(block, dict):
                found.append(
                    (path.relative_to(path.parents[1]).as_posix(), name, structure(name, block))
                )
    return found


def duplicates(paths: list[Path]) -> list[tuple[str, str]]:
    """Pairs of `file:block` that define the same structure."""
    defs = block_definitions(paths)
    return [
        (f"{fa}:{na}", f"{fb}:{nb}")
        for (fa, na, sa), (fb, nb, sb) in combinations(defs, 2)
        if sa == sb
    ]


def test_no_block_is_defined_twice_in_the_shipped_files() -> None:
    paths = shipped_files()
    defs = block_definitions(paths)
    assert len(defs) >= 20 and any(f.startswith("blocks/") for f, _, _ in defs)
    assert duplicates(paths) == []


def test_a_renamed_copy_of_a_library_block_is_found(tmp_path: Path) -> None:
    library = yaml.safe_load((LIBRARY / "resnet.yaml").read_text(encoding="utf-8"))
    block = dict(library["blocks"]["BasicBlock"], doc="a copy under another name")
    params = dict(block["params"], planes={"type": "int"})  # the long form of `planes: int`
    copy = {"archspec": 1, "blocks": {"MyBlock": {**block, "params": params}}}
    spec = tmp_path / "specs" / "mine.yaml"
    spec.parent.mkdir()
    spec.write_text(yaml.safe_dump(copy), encoding="utf-8")
    assert duplicates([LIBRARY / "resnet.yaml", spec]) == [
        ("blocks/resnet.yaml:BasicBlock", "specs/mine.yaml:MyBlock")
    ]
    copy["blocks"]["MyBlock"]["params"] = dict(params, stride={"type": "int", "default": 2})
    spec.write_text(yaml.safe_dump(copy), encoding="utf-8")
    assert duplicates([LIBRARY / "resnet.yaml", spec]) == []
