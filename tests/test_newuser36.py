"""Networks of timm written from the docs alone by a new user (session 36's acceptance check:
lcnet_050, mobileone_s0, repghostnet_050, starnet_s1, inception_next_atto, all exact), each
case here against a reference written in plain torch as timm writes it, or against facts of
timm's model recorded here: what broke on the way. One alternative of a `repeat`'s `layer:`
list with a mistake in it (a `name: "0"`, a misspelt field) added a second error at the
list, E205 "this item has no `type`", whose hint said that "a list is no layer" where a list
of alternatives is just what the field takes."""

from __future__ import annotations

import textwrap

import archspec


def _spec(name: str, body: str) -> str:
    return f"archspec: 1\nname: {name}\n" + textwrap.dedent(body).lstrip("\n")


ALTERNATIVES = _spec(
    "alternatives",
    """
    input: [N, 8, 16, 16]
    layers:
      - name: blocks
        type: repeat
        count: 3
        layer:
          - {type: conv2d, when: i < 2, out_channels: 8, kernel_size: 1}
          - {type: conv2d, when: i == 2, out_channels: 4, kernel_sise: 1}
    """,
)


def test_a_mistake_in_one_alternative_is_one_error_at_that_alternative() -> None:
    report = archspec.check(ALTERNATIVES)
    assert [(d.code, d.message, d.span.line if d.span else 0) for d in report.diagnostics] == [
        ("E201", "unknown field `kernel_sise`", 10)
    ]
    bad_name = ALTERNATIVES.replace("kernel_sise", "kernel_size").replace(
        "when: i == 2", 'name: "0", when: i == 2'
    )
    assert [d.code for d in archspec.check(bad_name).diagnostics] == ["E204"]
    assert archspec.check(ALTERNATIVES.replace("kernel_sise", "kernel_size")).ok


def test_a_list_where_one_layer_goes_still_says_how_to_nest_layers() -> None:
    nested = _spec(
        "nested",
        """
        input: [N, 8, 16, 16]
        layers:
          - [{type: conv2d, out_channels: 8, kernel_size: 1}]
        """,
    )
    (only,) = archspec.check(nested).diagnostics
    assert (only.code, only.message) == ("E205", "this item has no `type`")
    assert only.hint is not None and only.hint.startswith("a list is no layer")
