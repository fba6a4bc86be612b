"""Networks of timm written from the docs alone by a new user (session 31's independent
check: res2net50_26w_4s, deit_tiny_distilled_patch16_224, cait_xxs24_224, ...): what broke
on the way. A chunk's or split's `names` had to be written out, so a Res2Net block whose
`scale` is a param (timm's res2net50_14w_8s cuts 8 pieces, 26w_4s 4) could not say how many
pieces it cuts: `names: {each: "sp{j}", for: j, in: scale}`, the form a `from` list takes,
was E202 ("expected a list")."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.test_newuser_specs import _emitted, _spec
from tests.test_newuser_specs import _same as same

# timm's Bottle2neck (res2net.py) without its stride and downsample: conv1, the split into
# `scale` pieces, conv i on piece i plus the previous output, the last piece passed on.
RES2NET = _spec(
    "res2net_scales",
    """
    input: [N, 32, 8, 8]
    blocks:
      Bottle2neck:
        params: {planes: int, scale: int}
        let: {width: floor(planes * 26 / 64)}
        register_order: [conv1, bn1, convs, bns, conv3, bn3, relu]
        layers:
          - {name: conv1, type: conv2d, out_channels: width * scale, kernel_size: 1, bias: false}
          - {name: bn1, type: batchnorm2d}
          - {name: relu, type: relu, inplace: true}
          - {type: split, split_size: width, names: {each: "sp{j}", for: j, in: scale}}
          - type: repeat
            count: scale - 1
            flat: true
            names: ["sum{i}", null, null, "out{i}"]
            layers:
              - {type: add, when: i > 0, from: ["out{i - 1}", "sp{i}"]}
              - {type: conv2d, key: "convs.{i}", from: "{'sum' if i > 0 else 'sp'}{i}",
                 out_channels: width, kernel_size: 3, padding: 1, bias: false}
              - {type: batchnorm2d, key: "bns.{i}"}
              - {type: reuse, node: relu}
          - {name: cat, type: concat,
             from: [{each: "out{j}", for: j, in: scale - 1}, "sp{scale - 1}"]}
          - {name: conv3, type: conv2d, out_channels: planes * 4, kernel_size: 1, bias: false}
          - {name: bn3, type: batchnorm2d}
          - {name: sum, type: add, from: [bn3, input]}
          - {name: act, type: reuse, node: relu}
    layers:
      - {name: four, type: Bottle2neck, planes: 8, scale: 4}
      - {name: eight, type: Bottle2neck, planes: 8, scale: 8}
    """,
)


class _Bottle2neck(nn.Module):
    """timm's Bottle2neck at stride 1 with the input added as it is."""

    def __init__(self, cin: int, planes: int, scale: int) -> None:
        super().__init__()
        self.width = width = math.floor(planes * 26 / 64)
        self.conv1 = nn.Conv2d(cin, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, padding=1, bias=False) for _ in range(scale - 1)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale - 1))
        self.conv3 = nn.Conv2d(width * scale, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spx = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, 1)
        spo, sp = [], spx[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            sp = spx[i] if i == 0 else sp + spx[i]
            sp = self.relu(bn(conv(sp)))
            spo.append(sp)
        out = self.bn3(self.conv3(torch.cat([*spo, spx[-1]], 1)))
        return self.relu(out + x)


def test_split_names_computed_from_a_block_param_cut_as_many_pieces_as_it_says() -> None:
    ref = nn.Sequential()
    ref.add_module("four", _Bottle2neck(32, 8, 4))
    ref.add_module("eight", _Bottle2neck(32, 8, 8))
    assert archspec.check(RES2NET).ok
    x = torch.randn(2, 32, 8, 8)
    same(archspec.compile(RES2NET), ref, x, metadata=True)
    source = archspec.emit(RES2NET)
    assert "sp0, sp1, sp2, sp3 = " in source and "sp4, sp5, sp6, sp7 = " in source
    same(_emitted(RES2NET, "Res2netScales"), ref, x, metadata=True)
    assert archspec.summary(RES2NET).params == sum(p.numel() for p in ref.parameters())


CHUNK = _spec(
    "computed_pieces",
    """
    input: [N, 16, 8, 8]
    params: {n: 4}
    layers:
      - {type: chunk, names: NAMES}
      - {name: out, type: concat, from: [{each: "p{j}", for: j, in: n}]}
    """,
)


def test_chunk_names_mix_written_names_templates_and_computed_entries() -> None:
    text = CHUNK.replace("NAMES", '[p0, {each: "p{j}", for: j, in: [1, 2]}, "p{n - 1}"]')
    model = archspec.compile(text)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(model(x), x)
    assert "p0, p1, p2, p3 = x.chunk(4, dim=1)" in archspec.emit(text)


@pytest.mark.parametrize(
    ("names", "at", "code", "words"),
    [
        ('{each: "p", for: j, in: n}', '"p"', "E304", "gives `p` twice"),
        ('[{each: "p{j}", for: j, in: n}, p1]', "p1]", "E304", "gives `p1` twice"),
        ('{each: "{j}", for: j, in: n}', '"{j}"', "E204", "'0' is not a valid name"),
        ('{each: "p{j}", for: j, in: 1}', "{each", "E309", "gives 1 name here"),
        ('{each: "p{j}", for: j, in: 300}', "{each", "E309", "over the limit of 256"),
        ('{each: "p{k}", for: j, in: n}', '"p{k}"', "E302", "unknown name 'k'"),
    ],
)
def test_computed_names_that_give_no_pieces_are_located_errors(
    names: str, at: str, code: str, words: str
) -> None:
    text = CHUNK.replace("NAMES", names)
    line = text.splitlines()[5]
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    first = err.value.diagnostics[0]
    assert (first.code, first.span.line, first.span.col) == (code, 6, line.index(at) + 1)
    assert words in first.message
    # the pieces it did name are not reported again where the concat reads them
    if code == "E304" and "p{j}" in names:
        assert len(err.value.diagnostics) == 1


def test_a_chunk_whose_computed_piece_fails_leaves_its_readers_quiet() -> None:
    text = CHUNK.replace("NAMES", '{each: "p{j}", for: j, in: n}').replace(
        "  - {type: chunk",
        "  - {name: p1, type: conv2d, out_channels: 16, kernel_size: 1}\n  - {type: chunk",
    )
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    assert [(d.code, d.span.line) for d in err.value.diagnostics] == [("E304", 7)]


@pytest.mark.parametrize(
    "names",
    ['{each: "p{j}", for: j, in: n}', '[p0, {each: "p{j}", for: j, in: [1, 2]}, "p{n - 1}"]'],
)
def test_pieces_a_when_switches_off_are_switched_off_for_their_readers(names: str) -> None:
    """A chunk whose computed `names` a `when` leaves out: its readers heard "unknown
    reference" (as if the names were never written), and a reader with the same `when` was
    an error too, though docs/spec-language.md allows it."""
    text = CHUNK.replace("NAMES", names).replace("{type: chunk,", "{type: chunk, when: n > 4,")
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    messages = [(d.code, d.message) for d in err.value.diagnostics]
    assert messages == [
        ("E305", "`from` template 'p{j}' gives `p0` here, a node its `when` switches off here")
    ]
    reader = text.replace("{name: out, type: concat,", "{name: out, type: concat, when: n > 4,")
    assert archspec.check(reader).ok


def test_written_names_keep_their_schema_errors() -> None:
    for names, words in (("[a]", "at least 2 items"), ("[a, a]", "repeat a name")):
        with pytest.raises(ArchSpecError) as err:
            archspec.compile(CHUNK.replace("NAMES", names))
        assert err.value.diagnostics[0].code == "E204"
        assert words in err.value.diagnostics[0].message


def test_a_name_on_a_chunk_is_refused_with_its_own_hint() -> None:
    """A validator's refusal may carry its hint (errors.VALIDATOR_HINT): the `name:` of a
    chunk ended in the generic "docs/spec-language.md says what this field takes"."""
    text = CHUNK.replace("{type: chunk, names: NAMES}", "{name: parts, type: chunk, names: [a, b]}")
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    first = err.value.diagnostics[0]
    assert first.code == "E204"
    assert first.message.endswith("named by `names`, and no node of its own")
    assert first.hint == "drop `name: parts`; its readers read the pieces by their names"


ORDERED = _spec(
    "ordered",
    """
    input: [N, 8, 8, 8]
    params: {pieces: 2}
    blocks:
      B:
        register_order: [conv1, convs, ORDER]
        layers:
          - {name: conv1, type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: chunk, names: [a, b], chunks: pieces}
          - {type: conv2d, key: convs.0, from: a, out_channels: 4, kernel_size: 1}
          - {name: conv3, type: conv2d, out_channels: 8, kernel_size: 1}
    layers:
      - {name: blk, type: B}
    """,
)


def test_register_order_is_not_blamed_for_modules_an_earlier_error_left_unmade() -> None:
    assert archspec.check(ORDERED.replace("ORDER", "conv3")).ok
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(ORDERED.replace("ORDER", "conv3").replace("pieces: 2", "pieces: 4"))
    assert [d.code for d in err.value.diagnostics] == ["E409"]


def test_register_order_naming_no_module_says_which_ones_it_may_name() -> None:
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(ORDERED.replace("ORDER", "conv4"))
    (only,) = err.value.diagnostics
    assert "`conv4`, which is no module or tensor of this block" in only.message
    assert only.hint is not None and "(here: conv1, conv3, convs)" in only.hint
    assert "at most once" not in only.hint


REUSED_IN_PLACE = _spec(
    "reused_in_place",
    """
    input: [N, 4, 8, 8]
    layers:
      - {name: conv0, type: conv2d, out_channels: 4, kernel_size: 1}
      - {name: relu, type: relu, inplace: true}
      - {name: act1, type: reuse, node: relu, from: READ}
      - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
      - {name: sum, type: add, from: [conv, input]}
    """,
)


def test_a_reuse_of_an_in_place_module_on_a_tensor_others_read_is_e311() -> None:
    # called on the input the sum adds back, the ReLU overwrote it: a wrong sum, no error
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(REUSED_IN_PLACE.replace("READ", "input"))
    (only,) = err.value.diagnostics
    assert (only.code, only.span.line) == ("E311", 7)
    assert "act1 (a call of relu) works in place on `input`" in only.message
    assert only.hint is not None and "inplace: false on `relu`" in only.hint
    # on a tensor nobody else reads it is fine, and computes the relu
    model = archspec.compile(REUSED_IN_PLACE.replace("READ", "relu")).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        expected = model.conv(torch.relu(model.conv0(x))) + x
        assert torch.equal(model(x), expected)


SHARED_MEMORY = _spec(
    "shared_memory",
    """
    input: [N, 4, 8, 8]
    blocks:
      Scaled:
        layers:
          - {name: w, type: parameter, shape: [6, 1, 1], value: 1.0}
          - {name: wv, type: reshape, shape: [1, 6, 1, 1], from: w}
          - {name: act, type: relu, inplace: INPLACE}
          - {name: out, type: mul, from: [input, act]}
    layers:
      - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
      - {type: chunk, names: [a, b]}
      - {name: act, type: relu, inplace: INPLACE, from: a}
      - {name: cat, type: concat, from: [act, conv]}
      - {name: skip, type: identity}
      - {name: act2, type: relu, inplace: INPLACE}
      - {name: sum, type: add, from: [act2, cat]}
      - {name: scaled, type: Scaled}
    """,
)


def test_in_place_on_a_view_an_identity_or_a_parameter_is_e311() -> None:
    """A relu in place on a chunk's piece overwrote the conv output the concat read (and in
    training torch refuses it); on an identity's output, the tensor the sum read; on a
    reshape of a parameter, the parameter: all silently, with no E311."""
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(SHARED_MEMORY.replace("INPLACE", "true"))
    found = sorted((d.span.line, d.message) for d in err.value.diagnostics)
    assert [(d.code) for d in err.value.diagnostics] == ["E311"] * 3
    assert found == [
        (
            9,
            "scaled.act works in place on `wv`, whose memory is `w`'s: that overwrites the "
            "block's tensor `w`",
        ),
        (14, "act works in place on `a`, whose memory is `conv`'s, which cat also read(s)"),
        (17, "act2 works in place on `skip`, whose memory is `cat`'s, which sum also read(s)"),
    ]
    model = archspec.compile(SHARED_MEMORY.replace("INPLACE", "false")).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        conv = model.conv(x)
        cat = torch.cat([torch.relu(conv[:, :2]), conv], 1)
        total = torch.relu(cat) + cat
        assert torch.equal(model(x), total * torch.relu(model.scaled.w).reshape(1, 6, 1, 1))


CHILD_HEAD = """\
archspec: 1
name: child_alias
input: [N, 4, 8, 8]
blocks:
  Act:
    layers:
      - {type: relu, inplace: INPLACE}
      - {type: conv2d, out_channels: 4, kernel_size: 1}
layers:
  - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1}
  - {type: chunk, names: [a, b]}
"""
CHILD_CALLS = {
    "sequential": """\
  - name: seq
    type: sequential
    from: a
    layers:
      - {type: relu, inplace: INPLACE}
      - {type: conv2d, out_channels: 4, kernel_size: 1}
""",
    "block": "  - {name: seq, type: Act, from: a}\n",
}


@pytest.mark.parametrize("child", sorted(CHILD_CALLS))
def test_a_child_that_starts_in_place_on_a_view_others_read_is_e311(child: str) -> None:
    """A sequential (or a block instance) whose first layer works in place, called on a
    chunk's piece: it overwrote the conv output a concat also read, silently."""
    text = CHILD_HEAD + CHILD_CALLS[child] + "  - {name: out, type: concat, from: [conv, seq, b]}\n"
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text.replace("INPLACE", "true"))
    (only,) = err.value.diagnostics
    assert only.code == "E311" and only.message.startswith("seq.")
    assert only.message.endswith(
        "works in place on `a`, whose memory is `conv`'s, which out also read(s)"
    )
    model = archspec.compile(text.replace("INPLACE", "false")).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x)[:, :8], model.conv(x))


PASS_ON = """\
archspec: 1
name: passes_on
input: [N, 4, 8, 8]
blocks:
  Keep:
    layers:
      - {type: identity}
      - {type: dropout, p: 0.1}
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
  - CHILD
  - {name: act, type: relu, inplace: true, from: seq}
  - {name: out, type: concat, from: [conv, act]}
"""


@pytest.mark.parametrize(
    "child",
    [
        "{name: seq, type: sequential, layers: [{type: identity}, {type: flatten, start_dim: 2},"
        " {type: unflatten, dim: 2, unflattened_size: [8, 8]}]}",
        "{name: seq, type: Keep}",
        # nested: the child's first node is itself a child made of views
        "{name: seq, type: sequential, layers: [{type: sequential, layers: [{type: identity}]}]}",
        "{name: seq, type: sequential, layers: [{type: Keep}, {type: flatten, start_dim: 1},"
        " {type: unflatten, dim: 1, unflattened_size: [4, 8, 8]}]}",
    ],
)
def test_in_place_after_a_child_made_of_views_only_is_e311(child: str) -> None:
    """A sequential (or block) of identities, dropouts and views returns its input's memory:
    a relu in place after it overwrote the conv output the concat also read."""
    text = PASS_ON.replace("CHILD", child)
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    (only,) = err.value.diagnostics
    assert only.code == "E311"
    assert (
        only.message
        == "act works in place on `seq`, whose memory is `conv`'s, which out also read(s)"
    )
    fixed = archspec.compile(text.replace("inplace: true", "inplace: false")).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(fixed(x)[:, :4], fixed.conv(x))
    # a child that computes anything makes memory of its own
    own = child.replace("{type: identity}", "{type: conv2d, out_channels: 4, kernel_size: 1}")
    if own != child:
        assert archspec.check(PASS_ON.replace("CHILD", own)).ok


AFTER_VIEWS = """\
archspec: 1
name: after_views
input: [N, 4, 8, 8]
blocks:
  Act:
    layers:
      - {type: identity}
      - {type: relu, inplace: true}
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
  - CHILD
  - {name: out, type: add, from: [conv, seq]}
"""


@pytest.mark.parametrize(
    ("child", "writer"),
    [
        (
            "{name: seq, type: sequential, layers: [{type: identity},"
            " {type: relu, inplace: true}]}",
            "seq.1",
        ),
        (
            "{name: seq, type: sequential, layers: [{type: flatten, start_dim: 2},"
            " {type: unflatten, dim: 2, unflattened_size: [8, 8]}, {type: relu, inplace: true}]}",
            "seq.2",
        ),
        ("{name: seq, type: Act}", "seq.1"),
        (
            "{name: seq, type: sequential, layers: [{type: sequential, layers: [{type: identity}]},"
            " {type: Act}]}",
            "seq.1.1",
        ),
    ],
)
def test_a_child_in_place_after_views_of_its_input_is_e311(child: str, writer: str) -> None:
    """A chain's in-place layer after views and identities of the chain's input overwrites
    the tensor the chain was called on: here the conv output the add also reads (it was
    `conv + relu(conv)` computed as `2 * relu(conv)`, silently)."""
    text = AFTER_VIEWS.replace("CHILD", child)
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    (only,) = err.value.diagnostics
    assert only.code == "E311"
    assert only.message == f"{writer} works in place on `conv`, which out also read(s)"
    fixed = archspec.compile(text.replace("inplace: true", "inplace: false")).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        conv = fixed.conv(x)
        assert torch.equal(fixed(x), conv + conv.relu())
    # a layer that makes memory of its own first: the chain's in-place layer is fine
    conv = "{type: conv2d, out_channels: 4, kernel_size: 1}"
    own = text.replace("layers: [{type:", f"layers: [{conv}, {{type:", 1)
    own = own.replace("      - {type: identity}\n", f"      - {conv}\n      - {{type: identity}}\n")
    assert own != text
    assert archspec.check(own).ok


BRANCHES = """\
archspec: 1
name: branches
input: [N, 4, 8, 8]
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
  - name: par
    type: parallel
    join: JOIN
    branches:
      a: BRANCH
      b: {type: conv2d, out_channels: 4, kernel_size: 1}
"""


@pytest.mark.parametrize(
    ("join", "branch"),
    [
        ("concat", "[{type: identity}, {type: relu, inplace: true}]"),
        (
            "add",
            "[{type: flatten, start_dim: 2}, {type: relu, inplace: true},"
            " {type: unflatten, dim: 2, unflattened_size: [8, 8]}]",
        ),
    ],
)
def test_a_branch_in_place_after_views_of_the_shared_input_is_e311(join: str, branch: str) -> None:
    """Branch `a` overwrote, through a view, the input branch `b` reads after it."""
    text = BRANCHES.replace("JOIN", join).replace("BRANCH", branch)
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    (only,) = err.value.diagnostics
    assert (only.code, only.message) == (
        "E311",
        "a.1 works in place on `conv`, which b also read(s)",
    )
    fixed = archspec.compile(text.replace("inplace: true", "inplace: false")).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        conv = fixed.conv(x)
        a, b = conv.relu(), fixed.b(conv)
        assert torch.equal(fixed(x), torch.cat([a, b], 1) if join == "concat" else a + b)


def test_in_place_on_its_own_tensor_or_a_view_nobody_else_reads_is_fine() -> None:
    text = _spec(
        "own_memory",
        """
        input: [N, 4, 8, 8]
        layers:
          - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
          - {name: flat, type: flatten, start_dim: 2}
          - {name: act, type: relu, inplace: true}
          - {name: drop, type: dropout, p: 0.1, inplace: true}
          - {name: fc, type: linear, out_features: 3}
        """,
    )
    assert archspec.check(text).ok


def test_in_place_on_a_parameter_read_directly_is_e311() -> None:
    text = SHARED_MEMORY.replace("INPLACE", "false").replace(
        "{name: wv, type: reshape, shape: [1, 6, 1, 1], from: w}",
        "{name: wv, type: relu, inplace: true, from: w}",
    )
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    (only,) = err.value.diagnostics
    assert only.message == "scaled.wv works in place on `w`: that overwrites the block's state `w`"
