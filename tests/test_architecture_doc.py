"""docs/architecture.md matches the code: the files it names exist, and its lists of passes,
constructs and per-kind facts are the registries' own."""

from __future__ import annotations

import re
from pathlib import Path

from archspec.constructs import CONSTRUCTS
from archspec.ops.base import Op
from archspec.passes.pipeline import RULES

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "architecture.md").read_text()


def test_every_file_it_names_exists() -> None:
    names = set(re.findall(r"`([\w/]+\.py|\w+/)`", PAGE))
    assert len(names) > 20
    missing = []
    for name in sorted(names):
        candidates = [ROOT / "archspec" / name, ROOT / name, ROOT / "archspec" / "backends" / name]
        candidates += [ROOT / "archspec" / "backends" / "emit" / name]
        if not any(c.exists() for c in candidates):
            missing.append(name)
    assert not missing, missing


def test_its_pass_list_is_rules_in_order() -> None:
    m = re.search(r"`RULES = \(([^)]*)\)`", PAGE)
    assert m, "the page states RULES"
    assert [n.strip() for n in m.group(1).split(",")] == [r.__name__ for r in RULES]


def test_it_names_every_construct() -> None:
    for kind in CONSTRUCTS:
        assert f"`{kind}`" in PAGE, kind


def test_the_facts_it_names_are_declared_by_every_op() -> None:
    section = PAGE.split("## Registries", 1)[1].split("- **Constructs**", 1)[0]
    listed = section.split("instead of name tables:", 1)[1].split("`register`", 1)[0]
    facts = re.findall(r"`(\w+)`", listed)
    assert {"category", "window_dims", "init_tensors", "submodules"} <= set(facts)
    for fact in facts:
        assert hasattr(Op, fact), fact
