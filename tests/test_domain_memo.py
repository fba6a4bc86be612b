"""The shape pass's domains are solved once per requirements (passes/solved.py): the variants
of a family mostly make the same ones. A kept domain is given back only where solving
again would give the same: for the same requirements in a budget of its own, and never
when it names requirements (its unsolved ones are the call's own constraints)."""

from __future__ import annotations

from archspec.dims import Dim
from archspec.ops import Constraint
from archspec.passes.solved import solved_domain as solve_domain
from archspec.passes.work import budget

H, W = Dim.of("H"), Dim.of("W")


def _c(kind: str, lhs: Dim, rhs: Dim | None = None, node: str = "a") -> Constraint:
    return Constraint(kind, lhs, rhs, "E405", "needs {d} >= 1", None, node)  # type: ignore[arg-type]


def test_the_same_requirements_give_the_domain_solved_before() -> None:
    first = solve_domain([_c("ge1", H.floordiv(4) - 3), _c("ge1", W - 2)], ["H", "W"], ["H", "W"])
    again = [_c("ge1", H.floordiv(4) - 3, node="b"), _c("ge1", W - 2, node="b")]
    assert solve_domain(again, ["H", "W"], ["H", "W"]) is first
    assert first.describe() == "H >= 16 and W >= 3"
    # another order, other symbols shown or preferred sizes are solved on their own
    assert solve_domain(again[::-1], ["H", "W"], ["H", "W"]) is not first
    assert solve_domain(again, ["H", "W"], ["H"]) is not first
    assert solve_domain(again, ["H", "W"], ["H", "W"], {"H": 16}) is not first


def test_a_domain_with_unsolved_requirements_names_the_callers() -> None:
    def stated(node: str) -> list[Constraint]:
        return [_c("eq", H.floordiv(2), W.floordiv(3), node)]

    first = solve_domain(stated("a"), ["H", "W"])
    second = solve_domain(stated("b"), ["H", "W"])
    assert not first.exact and not second.exact
    assert [r.constraint.node for r in second.unsolved] == ["b"]


def test_inside_another_budget_what_is_left_of_it_decides() -> None:
    requirements = [_c("ge1", H.floordiv(4) - 3), _c("ge1", W.floordiv(8) - 2)]
    assert solve_domain(requirements, ["H", "W"], ["H", "W"]).exact
    with budget(1):  # spent at once: the requirements are kept as stated
        starved = solve_domain(requirements, ["H", "W"], ["H", "W"])
    assert not starved.exact
    assert starved.describe().endswith("where also H//4 >= 4 and W//8 >= 3")
