"""Networks archspec does not ship, written from the docs alone by a new user (session 40's
acceptance check, tests/newuser40/*.yaml), each against the same network written by hand in
plain PyTorch as its public repo writes it (tests/newuser40/references.py): pix2pix's U-Net
generator (nested UnetSkipConnectionBlocks whose in-place LeakyReLU changes the skip they
concatenate, written with `key: model.0` entries) and its conditional PatchGAN of two inputs,
CycleGAN's ResNet generator (reflection pads, instance norm, transposed convs), MLP-Mixer,
PoolFormer (pool(x) - x, (dim,) layer scales), a cut-down GhostNet (Ghost modules cut to
their width, a hard-sigmoid SE), RepVGG's training-time blocks (three branches summed in the
order RepVGG sums them, registered in its order), NeRF's MLP with its positional encoding
and skip concatenation, nanoGPT over token ids (causal attention, position ids cut to the
tokens' length; its tied embeddings untied), a 3-D U-Net and a small SE-ResNeXt. Each spec
is compiled and emitted and compared with its reference: parameter count, the state_dict's
keys, shapes and dtypes in order, strict loads both ways, the eval outputs at each case's
inputs (the edge of the domain `archspec check` states among them) and the record of
tests/newuser40/reference.json (make_fixture.py). `archspec import` of each reference is
that network, or a refusal that says why."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.conftest import sample_params
from tests.newuser36.facts import state_dict_facts
from tests.newuser38.facts import compiled_and_emitted
from tests.newuser40 import references
from tests.newuser40.cases import CASES, FIXTURE, HERE, example, wide_example
from tests.parity.weights import (
    fill_deterministic,
    output_summary,
    summary_matches,
)


def _outputs(
    model: nn.Module, shapes: list[tuple[int, ...]], dtype: str = "float32"
) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(*(example(s, dtype) for s in shapes))
    return list(out) if isinstance(out, list | tuple) else [out]


def _reference(case: dict[str, Any]) -> nn.Module:
    """The case's reference, holding the RNG-free weights of tests/parity/weights.py."""
    reference = getattr(references, case["reference"])().eval()
    reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
    return reference


def _same_network(ours: nn.Module, reference: nn.Module, case: dict[str, Any]) -> int:
    """Assert `ours` is `reference` (keys, counts, loads, outputs); the inputs compared."""
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert state_dict_facts(ours.state_dict()) == state_dict_facts(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(ours.state_dict(), strict=True)
    for shapes in case["inputs"]:
        dtype = case.get("dtype", "float32")
        got, expected = _outputs(ours.eval(), shapes, dtype), _outputs(reference, shapes, dtype)
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert torch.equal(a, b)
    return len(case["inputs"])


def test_every_spec_of_the_folder_has_a_case() -> None:
    assert sorted(p.name for p in HERE.glob("*.yaml")) == sorted(c["spec"] for c in CASES.values())
    assert sorted(json.loads(FIXTURE.read_text(encoding="utf-8"))) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_spec_is_the_hand_written_network(name: str) -> None:
    case = CASES[name]
    report = archspec.check(str(HERE / case["spec"]))
    assert report.ok and not report.diagnostics, report.diagnostics
    ours, emitted = compiled_and_emitted(str(HERE / case["spec"]))
    assert _same_network(ours, _reference(case), case) == len(case["inputs"]) >= 2
    emitted.load_state_dict(ours.state_dict(), strict=True)
    record = json.loads(FIXTURE.read_text(encoding="utf-8"))[name]
    assert sum(p.numel() for p in ours.parameters()) == record["param_count"]
    for shapes in case["inputs"]:
        (out,) = _outputs(ours, shapes, case.get("dtype", "float32"))
        (again,) = _outputs(emitted.eval(), shapes, case.get("dtype", "float32"))
        assert torch.equal(out, again)
    # the record is of float64 runs (make_fixture.py): it holds on any CPU's kernels
    ours.double()
    for shapes, expected in zip(case["inputs"], record["outputs"], strict=True):
        with torch.no_grad():
            out = ours(*(wide_example(s, case) for s in shapes))
        assert out.dtype == torch.float64
        assert summary_matches(output_summary(out), expected, rtol=1e-5) == []


IMPORTED = sorted(set(CASES) - {"pix2pix_unet"})


@pytest.mark.parametrize("name", sample_params(IMPORTED, stride=2))
def test_the_import_of_the_hand_written_network_is_that_network(name: str) -> None:
    case = CASES[name]
    reference = _reference(case)
    given = [example(s, case.get("dtype", "float32")) for s in case["inputs"][0]]
    text = archspec.from_module(reference, given[0] if len(given) == 1 else tuple(given))
    assert _same_network(archspec.compile(text), reference, case) >= 2


@pytest.mark.parametrize(
    ("name", "domain", "outside"),
    [
        ("pix2pix_unet", "(N, 3, H, W) with H >= 64 with H % 64 in {0, 1} and W >= 64 with W % 64 "
         "in {0, 1}", [(1, 3, 66, 64)]),
        ("patchgan", "a (N, 3, H, W), b (N, 3, H, W) with H, W >= 24",
         [(1, 3, 23, 24), (1, 3, 23, 24)]),
        ("cyclegan_resnet", "(N, 3, H, W) with H, W >= 5", [(1, 3, 4, 5)]),
        ("mlp_mixer", "(N, 3, H, W) with 32 <= H <= 39 and 32 <= W <= 39, or 8 <= H <= 15 and "
         "128 <= W <= 135, or 16 <= H <= 23 and 64 <= W <= 71, or 64 <= H <= 71 and 16 <= W <= "
         "23, or 128 <= H <= 135 and 8 <= W <= 15", [(1, 3, 31, 32)]),
        ("poolformer", "(N, 3, H, W) with H, W >= 3", [(1, 3, 2, 3)]),
        ("ghostnet", "(N, 3, H, W) with H, W >= 1", None),
        ("repvgg", "(N, 3, H, W) with H, W >= 1", None),
        ("nerf", "(N, 6)", [(1, 7)]),
        ("nanogpt", "(N, T) int64 with 1 <= T <= 16", [(1, 17)]),
        ("unet3d", "(N, 1, D, H, W) with D % 4 == 0 and H % 4 == 0 and W % 4 == 0",
         [(1, 1, 4, 6, 4)]),
        ("se_resnext", "(N, 3, H, W) with H, W >= 3", [(1, 3, 2, 3)]),
    ],
)  # fmt: skip
def test_the_domain_check_states_is_where_the_network_runs(
    name: str, domain: str, outside: list[tuple[int, ...]] | None
) -> None:
    # the smallest inputs of each case run in the reference (above); one size less does not
    case = CASES[name]
    spec = str(HERE / case["spec"])
    assert f"accepts {domain}" in archspec.check(spec).domain_text
    if outside is None:
        return
    given = outside[0] if len(outside) == 1 else outside
    assert not archspec.check(spec, input=given).ok
    for model in (archspec.compile(spec).eval(), _reference(case)):
        with pytest.raises((RuntimeError, IndexError)):  # a position past wpe's 16 rows
            _outputs(model, outside, case.get("dtype", "float32"))


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        # the skip pix2pix concatenates is x changed in place by the inner block's LeakyReLU
        ("pix2pix_unet", "changes `x` in place (`model`, whose forward changes what it is given) "
         "and reads it again afterwards (`cat`)"),
    ],
)  # fmt: skip
def test_a_reference_import_cannot_state_is_refused_saying_why(name: str, refusal: str) -> None:
    case = CASES[name]
    given = example(case["inputs"][0][0], case.get("dtype", "float32"))
    with pytest.raises(ImportFailure) as failure:
        archspec.from_module(_reference(case), given)
    assert refusal in str(failure.value)


IN_PLACE_SKIP = """\
archspec: 1
name: skip
input: [N, 8, H, W]
blocks:
  Inner:
    layers:
      - name: model
        type: sequential
        layers:
          - {type: leaky_relu, negative_slope: 0.2, inplace: true}
          - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {name: out, type: concat, from: [input, model]}
layers:
  - {name: block, type: Inner}
"""


def test_an_in_place_step_read_again_says_how_to_port_what_torch_computes() -> None:
    # pix2pix's block concatenates x after its in-place LeakyReLU changed it: E311's hint only
    # said `set inplace: false`, which gives a network whose skip is x before the LeakyReLU
    (only,) = archspec.check(IN_PLACE_SKIP).diagnostics
    assert only.code == "E311" and only.hint is not None
    assert "read the step's output" in only.hint and "`key: model.0`" in only.hint
    ported = IN_PLACE_SKIP.replace(
        """      - name: model
        type: sequential
        layers:
          - {type: leaky_relu, negative_slope: 0.2, inplace: true}
          - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {name: out, type: concat, from: [input, model]}""",
        """      - {key: model.0, type: leaky_relu, negative_slope: 0.2}
      - {key: model.1, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {name: out, type: concat, from: [model.0, model.1]}""",
    )
    reference = nn.Sequential(nn.LeakyReLU(0.2, True), nn.Conv2d(8, 8, 3, padding=1))
    ours = archspec.compile(ported)
    ours.block.load_state_dict({"model." + k: v for k, v in reference.state_dict().items()})
    x = torch.randn(2, 8, 5, 6)
    with torch.no_grad():
        y = x.clone()
        expected = torch.cat([y, reference(y)], 1)  # y is changed in place before the cat
        assert not torch.equal(y, x)
        assert torch.equal(ours(x), expected)


BRANCHES = """\
archspec: 1
name: rep
input: [N, 3, H, W]
blocks:
  RepBlock:
    params: {out: int, stride: 1}
    layers:
      - name: summed
        type: parallel
        join: add
        branches:
          rbr_dense: {type: conv2d, out_channels: out, kernel_size: 3, stride: stride, padding: 1}
          rbr_1x1: {type: conv2d, out_channels: out, kernel_size: 1, stride: stride}
          rbr_identity: {type: batchnorm2d, when: out == in_channels and stride == 1}
layers:
  - {name: a, type: RepBlock, out: 16}
  - {name: b, type: RepBlock, out: 16}
  - {name: c, type: RepBlock, out: 16, stride: 2}
"""

FROM_INPUT = """\
archspec: 1
name: rep2
input: [N, 3, H, W]
blocks:
  B:
    params: {out: int}
    layers:
      - {name: conv, type: conv2d, out_channels: out, kernel_size: 1}
      - {name: bn, type: batchnorm2d, from: input, when: in_channels == out}
layers:
  - {name: a, type: B, out: 16}
  - {name: b, type: B, out: 16}
outputs: [a, b]
"""


def _emitted_class(text: str, name: str) -> Any:
    module: dict[str, Any] = {}
    exec(compile(archspec.emit(text), "<emitted>", "exec"), module)
    return module[name]


def test_a_branch_switched_off_by_its_width_emits_one_class_for_every_width() -> None:
    # RepVGG's identity branch, a `parallel` branch under `when: out == in_channels`: the
    # emitter read `in_channels` of the branch left out in `a` as the branch before's output
    # (`out == out`) and refused the spec (E601 'internal: ... gives True, not False'), which
    # compile and check took
    assert archspec.check(BRANCHES).ok
    block = _emitted_class(BRANCHES, "RepBlock")
    compiled = archspec.compile(BRANCHES)
    for args, ours in (((3, 16), compiled.a), ((16, 16), compiled.b), ((16, 16, 2), compiled.c)):
        emitted = block(*args)
        assert [(k, v.shape) for k, v in emitted.state_dict().items()] == [
            (k, v.shape) for k, v in ours.state_dict().items()
        ]
    # a width the spec's instances never change at stride 1 is no refusal either: the class
    # holds both cases, and wrote a guard that could never hold
    assert "raise ValueError" not in archspec.emit(BRANCHES)
    assert block(16, 32).rbr_identity is None and block(32, 32).rbr_identity is not None


def test_a_node_switched_off_by_the_width_it_reads_from_elsewhere_emits() -> None:
    # the same for a node whose `from` is not the node before it: `bn` reads the block's
    # input, and its `when` was rendered with `conv`'s width (`out == out`), E601
    assert archspec.check(FROM_INPUT).ok
    block = _emitted_class(FROM_INPUT, "B")
    assert block(3, 16).bn is None and block(16, 16).bn is not None
    assert "raise ValueError" not in archspec.emit(FROM_INPUT)
    compiled, x = archspec.compile(FROM_INPUT).eval(), torch.randn(2, 3, 4, 5)
    emitted = _emitted_class(FROM_INPUT, "Rep2")().eval()
    emitted.load_state_dict(compiled.state_dict(), strict=True)
    with torch.no_grad():
        for a, b in zip(emitted(x), compiled(x), strict=True):
            assert torch.equal(a, b)


def test_contradictions_of_comparisons_between_params_are_unsatisfiable() -> None:
    from archspec.backends.emit.satisfy import satisfiable

    assert not satisfiable("in_channels != out and in_channels == out")
    assert not satisfiable("(out == in_channels and stride == 1) and not (out == in_channels "
                           "and stride == 1)")  # fmt: skip
    assert not satisfiable("a >= b and a < b")
    assert satisfiable("in_channels != out and stride == 1")
    assert satisfiable("a == b and b != c")


def test_a_parallel_adds_its_branches_in_the_order_written() -> None:
    # docs/spec-language.md: RepVGG's identity branch written first gives RepVGG's keys
    # without register_order, and outputs that are not RepVGG's to the bit
    case = CASES["repvgg"]
    spec = (HERE / case["spec"]).read_text(encoding="utf-8")
    ident = (
        "          rbr_identity: {type: batchnorm2d, when: out == in_channels and stride == 1}\n"
    )
    first = spec.replace(ident, "").replace("        branches:\n", "        branches:\n" + ident)
    first = first.replace(
        "    register_order: [nonlinearity, se, rbr_identity, rbr_dense, rbr_1x1]\n", ""
    )
    assert first != spec and "register_order" not in first and first.count(ident) == 1
    reference, ours = _reference(case), archspec.compile(first).eval()
    assert state_dict_facts(ours.state_dict()) == state_dict_facts(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    shapes = case["inputs"][0]
    (got,), (expected,) = _outputs(ours, shapes), _outputs(reference, shapes)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert not torch.equal(got, expected)


NAMED_ROWS = """\
archspec: 1
name: named_rows
input: [N, 8, 16, 16]
params:
  stages: [[8, 2], [16, 1], [16, 3]]
layers:
  - type: for_each
    name: body
    rows: stages
    fields: [width, n]
    count: n
    group_rows: true
    row_index: r
    group_names: "layer{r + 1}"
    global_index: k
    layer: {type: conv2d, out_channels: width, kernel_size: 1, groups: "2 if k % 2 == 1 else 1"}
"""


def test_a_tables_rows_are_named_and_keep_an_index_over_every_block() -> None:
    # RepVGG's stage1, stage2, ... whose even-numbered layers are grouped: a repeat of a
    # repeat names the stages but has no index over all the blocks, and for_each's rows
    # (which have one) were numbered; `group_names` names them
    model = archspec.compile(NAMED_ROWS)
    assert [name for name, _ in model.body.named_children()] == ["layer1", "layer2", "layer3"]
    groups = [m.groups for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert groups == [1, 2, 1, 2, 1, 2]
    flat = NAMED_ROWS.replace("    name: body\n", "    flat: true\n")
    assert list(archspec.compile(flat).state_dict())[:2] == ["layer1.0.weight", "layer1.0.bias"]
    ours, emitted = compiled_and_emitted(flat)
    assert list(ours.state_dict()) == list(emitted.state_dict())
    # RepVGG with its table of stages set to three stages builds as RepVGG's code would
    spec = str(HERE / CASES["repvgg"]["spec"])
    three = archspec.compile(spec, stages=[[16, 1], [24, 2], [32, 2]])
    assert [n for n, _ in three.named_children()][:4] == ["stage0", "stage1", "stage2", "stage3"]
    assert [b.rbr_dense.conv.groups for s in (three.stage1, three.stage2, three.stage3)
            for b in s] == [1, 4, 1, 4, 1]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "code", "words"),
    [
        (("    group_rows: true\n", ""), "E204", "only `group_rows: true` makes"),
        (('"layer{r + 1}"', '"layer{width}"'), "E304", "gives `layer16` to two rows"),
        (('"layer{r + 1}"', '"{r}layer"'), "E204", "gives '0layer' here"),
        (('"layer{r + 1}"', '"layer"'), "E206", "each row's with `group_names`) would be"),
    ],
)
def test_group_names_that_cannot_name_the_rows_are_located(
    edit: tuple[str, str], code: str, words: str
) -> None:
    text = NAMED_ROWS.replace(*edit)
    assert text != NAMED_ROWS
    (only,) = archspec.check(text).diagnostics
    assert only.code == code and words in only.message, only
    line = next(k for k, t in enumerate(text.splitlines(), 1) if "group_names" in t)
    assert only.span is not None and only.span.line == line


class _Scaled(nn.Module):
    """`y * c` for a tensor `c` made in forward, as NeRF's Embedder multiplies by its
    frequencies (0-d tensors of `2.0 ** torch.linspace`)."""

    def __init__(self, made: Any) -> None:
        super().__init__()
        self.fc, self.made = nn.Linear(4, 4), made

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.made(self.fc(x))


@pytest.mark.parametrize(
    ("made", "scale"),
    [
        (lambda y: y * torch.tensor(0.3), "factor: 0.30000001192092896"),
        (lambda y: torch.tensor(0.3) * y, "factor: 0.30000001192092896"),
        (lambda y: y / torch.tensor(6.0), "divisor: 6.0"),
        (lambda y: torch.tensor(0.5) - y, "factor: -1, offset: 0.5"),
        (lambda y: y * torch.tensor([0.3, 0.2, 0.1, 0.0]), None),  # values no spec states
        (lambda y: y * torch.tensor(0.3, dtype=torch.float64), None),
        (lambda y: torch.maximum(y, torch.tensor(0.3)), None),
    ],
)
def test_a_number_made_as_a_tensor_in_forward_is_a_scale(made: Any, scale: str | None) -> None:
    # NeRF's positional encoding: E903 'forward makes a tensor of its own' for `x * freq`
    model, x = _Scaled(made).eval(), torch.randn(3, 4)
    if scale is None:
        with pytest.raises(ImportFailure, match="forward makes a tensor of its own"):
            archspec.from_module(model, x)
        return
    text = archspec.from_module(model, x)
    (line,) = [t for t in text.splitlines() if "type: scale" in t]
    assert line.endswith(scale + "}")
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(ours(x), model(x))


POSITIONS = """\
archspec: 1
name: positions
input: [N, T]
input_dtype: int64
layers:
  - {name: wte, type: embedding, num_embeddings: 100, embedding_dim: 8}
  - {name: table, type: buffer, shape: [1, 16], fill: arange, dtype: int64, persistent: false}
  - {name: pos, type: slice_as, dim: 1, from: [table, input]}
  - {name: wpe, type: embedding, num_embeddings: ROWS, embedding_dim: 8}
  - {name: summed, type: add, from: [wte, wpe]}
"""


@pytest.mark.parametrize(
    ("cut", "rows", "ok"),
    [
        ("{name: pos, type: slice_as, dim: 1, from: [table, input]}", 16, True),
        ("{name: pos, type: slice, dim: 1, start: 4, end: 12, from: table}", 12, True),
        ("{name: pos, type: slice, dim: 1, start: 4, end: 12, from: table}", 11, False),
        ("{name: pos, type: slice, dim: 1, start: -3, from: table}", 16, True),
        ("{name: pos, type: slice, dim: 1, start: -3, from: table}", 15, False),
        ("{name: pos, type: slice, dim: 1, step: 2, from: table}", 15, True),
    ],
)
def test_position_ids_cut_to_the_tokens_length_stay_indices(cut: str, rows: int, ok: bool) -> None:
    # nanoGPT's wpe(pos[:t]): slice_as (and slice) of an int64 buffer was E401 'computes in
    # floating point: torch refuses it at run time', though torch slices int64 tensors as any
    text = POSITIONS.replace(
        "{name: pos, type: slice_as, dim: 1, from: [table, input]}", cut
    ).replace("ROWS", str(rows))
    report = archspec.check(text)
    if not ok:  # the indices the cut keeps are known: one past the table is E409
        (only,) = report.diagnostics
        assert only.code == "E409" and only.message.startswith("wpe: embedding has")
        return
    assert report.ok and not report.diagnostics, report.diagnostics
    ours = archspec.compile(text).eval()
    table = torch.arange(16).reshape(1, 16)
    pos = {"slice_as": table[:, :10], "start: 4": table[:, 4:12], "start: -3": table[:, -3:]}
    pos["step: 2"] = table[:, ::2]
    cut_pos = pos[next(k for k in pos if k in cut)]
    x = torch.arange(2 * cut_pos.shape[1]).reshape(2, -1)
    with torch.no_grad():
        assert torch.equal(ours(x), ours.wte(x) + ours.wpe(cut_pos))
    if "slice_as" in cut:  # the table has 16 positions
        assert report.domain_text.endswith("accepts (N, T) int64 with 1 <= T <= 16")


KEYED_COPIES = """\
archspec: 1
name: keyed
input: [N, L, 8]
layers:
  - {key: "transformer.h.{i}", type: repeat, count: 2, flat: true,
     layer: {type: linear, out_features: 8}}
"""


def test_a_key_on_a_flat_repeat_points_at_its_layer() -> None:
    # nanoGPT's transformer.h.0, transformer.h.1 written as the repeat's key: the hint said
    # 'give it a `name` instead', which a flat repeat refuses too (E204)
    (only,) = archspec.check(KEYED_COPIES).diagnostics
    assert only.code == "E204" and only.hint is not None
    assert '`layer: {..., key: "transformer.h.{i}"}`' in only.hint
    fixed = KEYED_COPIES.replace('{key: "transformer.h.{i}", type: repeat', "{type: repeat")
    fixed = fixed.replace("out_features: 8}", 'out_features: 8, key: "transformer.h.{i}"}')
    assert list(archspec.compile(fixed).state_dict())[::2] == [
        "transformer.h.0.weight",
        "transformer.h.1.weight",
    ]


WHEN_PAIR = """\
archspec: 1
name: when_pair
input: [N, 3, H, W]
blocks:
  B:
    params: {out: int}
    layers:
      - {name: conv, type: conv2d, out_channels: out, kernel_size: 1}
      - {name: bn, type: batchnorm2d, from: input, when: in_channels == out}
      - {name: sum, type: add, from: [conv, bn], when: in_channels == out}
layers:
  - {name: a, type: B, out: 16}
  - {name: b, type: B, out: 16}
"""


def test_a_reader_given_the_same_when_over_another_width_is_told_why() -> None:
    # RepVGG's identity branch joined by hand: `sum` has bn's `when`, as E305's hint asked,
    # and still reads it where it is off: its in_channels is conv's width, not the block's
    (only,) = archspec.check(WHEN_PAIR).diagnostics
    assert only.code == "E305" and only.hint is not None
    assert "give this node the same `when`" not in only.hint
    assert "reads `in_channels` of its first input, not the block's" in only.hint
    fixed = WHEN_PAIR.replace(
        "    params: {out: int}\n", "    params: {out: int}\n    let: {cin: in_channels}\n"
    )
    fixed = fixed.replace("when: in_channels == out", "when: cin == out")
    assert archspec.check(fixed).ok
    model = archspec.compile(fixed)
    assert not hasattr(model.a, "bn") and hasattr(model.b, "bn")


class _Positions(nn.Module):
    """GPT-2's learned positions as a buffer of position ids cut to the tokens' length."""

    def __init__(self) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(50, 8), nn.Embedding(16, 8)
        self.register_buffer("pos", torch.arange(16), persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        return self.wte(idx) + self.wpe(self.pos[:t])


def test_a_table_cut_to_the_size_of_another_dim_of_another_tensor() -> None:
    # `pos[: idx.size(1)]`, a (16,) table and (N, T) ids: slice_as cut a dim to the size of
    # the same dim of `like`, so the import refused it ('slices with a bound worked out from
    # a size of a tensor'); `like_dim` names the other dim
    model, idx = _Positions().eval(), torch.arange(12).reshape(2, 6)
    text = archspec.from_module(model, torch.arange(10).reshape(1, 10))
    assert "type: slice_as, from: [pos, input], dim: 0, like_dim: 1}" in text
    assert "input: [N, L]" in text  # token ids: their length is named (h40b's headers)
    ours, emitted = compiled_and_emitted(text)
    ours.load_state_dict(model.state_dict(), strict=True)
    emitted.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(ours(idx), model(idx)) and torch.equal(emitted(idx), model(idx))
    source = archspec.emit(text)
    assert "self.pos[: x.shape[1]]" in source
    wider = text  # any length the table holds
    assert archspec.check(wider).domain_text.endswith("accepts (N, L) int64 with 1 <= L <= 16")
    (over,) = archspec.check(wider, input=(1, 17)).diagnostics
    assert over.code == "E405" and "to dim 1 of (1, 17), which is longer" in over.message
    (out,) = archspec.check(wider.replace("like_dim: 1", "like_dim: 2")).diagnostics
    assert out.code == "E401" and "to the size of dim 2 of (N, L), is out of range" in out.message
