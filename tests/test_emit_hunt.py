"""Silent differences between emitted and compiled modules that a sweep of random blocks
found (`emit_helpers.sweep_classes`: every class of every emitted file, called with values
its instances use and others, against `archspec.compile` of one call of the block)."""

from __future__ import annotations

import random

from .emit_helpers import emitted, sweep_classes
from .test_emit_guards import SHAPE, _spec, _swept


def test_two_conditional_residuals_of_other_conditions_test_their_own() -> None:
    """Both adds stored their condition as `self.use_res_connect`, the second's (`... and
    not flag`) never written: `Blk(8, 8, flag=True)` added the input where the spec does not."""
    text = _spec(
        """
- {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}
- type: residual
  add_when: in_channels == out
  body: [{name: r0, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}]
- type: residual
  add_when: in_channels == out and not flag
  body: [{name: r1, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}]
""",
        "  - {name: a, type: Blk, out: 8, flag: true}\n  - {name: b, type: Blk, out: 16}\n",
        "{out: int, flag: {type: bool, default: false}}",
    )
    _, _, source = emitted(text)
    assert "self.use_res_connect = out == out\n" in source
    assert "self.use_res_connect_ = out == out and not flag\n" in source
    _swept(text)


def test_switched_nodes_of_two_groups_at_one_place_are_not_merged_out_of_order() -> None:
    """`n0` (stride > 1) and `n1` (out > 8), written in that order, each kept by one
    instance alone: the merged class ran `n1` on the conv and dropped `n0`'s output
    (`self.n0(conv)` assigned to nothing), for the very instance that keeps `n0`."""
    text = _spec(
        """
- {name: conv, type: conv2d, out_channels: out, kernel_size: 3, stride: stride, padding: 1}
- {name: n0, type: conv2d, out_channels: out, kernel_size: 1, when: "stride > 1"}
- {name: n1, type: conv2d, out_channels: out, kernel_size: 1, when: "out > 8"}
- {name: act, type: relu}
""",
        "  - {name: a, type: Blk, out: 8, stride: 2}\n  - {name: b, type: Blk, out: 16}\n",
        "{out: int, stride: {type: int, default: 1}}",
    )
    _, _, source = emitted(text)
    assert "        self.n0(" not in source
    _swept(text)


CONDITIONS = [
    "e != 1",
    "stride > 1",
    "flag",
    "act == 'silu'",
    "out > 8",
    "in_channels != out",
    "big",
    "not flag",
    "stride == 1 and in_channels == out",
    "out % 2 == 1",
]
CONV = "{name: %s, type: conv2d, out_channels: out, kernel_size: %d, padding: %d}"
PARAMS = """
  out: int
  stride: {type: int, default: 1, ge: 1, le: 2}
  e: {type: int, default: 1, ge: 1}
  act: {type: str, default: relu, choices: [relu, silu, gelu]}
  flag: {type: bool, default: false}"""
VALUES = {"stride": [1, 2], "e": [1, 2], "act": ["relu", "silu"], "flag": ["true", "false"]}


def _item(rng: random.Random, k: int) -> list[str]:
    """One item of a random block: switched (a norm, a conv), alternatives, a plain ReLU, a
    conditional residual or a residual with a switched shortcut."""
    kind, cond = rng.randrange(6), rng.choice(CONDITIONS)
    if kind == 0:
        return [f'- {{name: n{k}, type: batchnorm2d, when: "{cond}"}}']
    if kind == 1:
        return ["- " + CONV[:-1] % (f"n{k}", 1, 0) + f', when: "{cond}"}}']
    if kind == 2:
        return [
            f"- {{name: a{k}, type: {a}, when: \"act == '{a}'\"}}" for a in VALUES["act"] + ["gelu"]
        ]
    if kind == 3:
        return [f"- {{name: n{k}, type: relu}}"]
    body = f"  body: [{CONV % (f'r{k}', 3, 1)}]"
    if kind == 4:
        when = rng.choice(["in_channels == out", "in_channels == out and not flag"])
        return [f"- type: residual\n  add_when: {when}", body]
    when = rng.choice(["in_channels != out", "flag or in_channels != out"])
    shortcut = f"  shortcut:\n    name: sc{k}\n    when: {when}\n    layers: [{CONV % ('p', 1, 0)}]"
    return ["- type: residual", body, shortcut]


def _random_block(rng: random.Random) -> str:
    """A block of a conv and up to three items (switched ones at the start, in the middle
    and at the end) and up to three calls of it."""
    items = ["- {name: conv, type: conv2d, out_channels: out, kernel_size: 3, stride: stride, "
             "padding: 1}"]  # fmt: skip
    for k in range(rng.randint(1, 3)):
        items += _item(rng, k)
    calls = ""
    for i in range(rng.randint(1, 3)):
        args = [f"out: {rng.choice([4, 8, 16])}"]
        args += [f"{n}: {rng.choice(vs)}" for n, vs in VALUES.items() if rng.random() < 0.4]
        calls += f"  - {{name: b{i}, type: Blk, {', '.join(args)}}}\n"
    params = PARAMS.replace("\n", "\n    ")
    return _spec("\n".join(items), calls, params, "{big: out * e > 16}")


def test_random_blocks_compute_what_compile_does_or_refuse() -> None:
    """A sweep of random blocks (the hunt that found the bugs above): every class of every
    emitted file, called with values its instances use and others."""
    matched = refused = 0
    for seed in range(40):
        text = _random_block(random.Random(seed))
        found = sweep_classes(text, SHAPE, tries=8, seed=seed)
        matched, refused = matched + found.matched, refused + found.refused
    assert matched > 150 and refused >= 8, (matched, refused)
