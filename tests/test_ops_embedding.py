"""embedding against torch's nn.Embedding: a learned position embedding looked up by an int64
buffer of position ids, its values, counts, padding row and seeded initialisation (compiled and
emitted builds draw the same table); an embedding of a float tensor is E401, as torch refuses
it; a padding_idx outside the table is E409; the import round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from archspec.ops import REGISTRY
from archspec.ops.partition_modules import maxvit_relative_position_index

from .ops_cases import assert_located, emitted, param_count, same_as_emitted, spec, symbolic_out
from .test_importer import roundtrip

POSITIONS = """\
archspec: 1
name: positions
input: [N, 6, 8]
blocks:
  PositionEmbedding:
    params: {length: int, dim: int, pad: int}
    layers:
      - {name: position_ids, type: buffer, shape: [length], fill: arange, dtype: int64,
         persistent: false}
      - {name: position_embeddings, type: embedding, num_embeddings: length, embedding_dim: dim,
         padding_idx: pad, from: position_ids}
      - {name: out, type: add, from: [input, position_embeddings]}
layers:
  - {name: proj, type: linear, out_features: 16}
  - {name: pos, type: PositionEmbedding, length: 6, dim: 16, pad: -1}
"""


def test_position_embedding_is_torchs_lookup() -> None:
    model = archspec.compile(POSITIONS)
    table = model.pos.position_embeddings
    assert repr(table) == repr(nn.Embedding(6, 16, padding_idx=5))
    assert list(model.state_dict()) == [
        "proj.weight",
        "proj.bias",
        "pos.position_embeddings.weight",
    ]
    assert torch.equal(table.weight[5], torch.zeros(16))  # torch zeroes the padding row
    x = torch.randn(3, 6, 8)
    want = model.proj(x) + table.weight[torch.arange(6)]
    torch.testing.assert_close(model(x), want, rtol=0, atol=0)
    assert tuple(model(x).shape) == symbolic_out(POSITIONS, {"N": 3})
    counted, numel = param_count(POSITIONS)
    assert counted == numel == 8 * 16 + 16 + 6 * 16
    assert archspec.summary(POSITIONS, input=(2, 6, 8)).macs == 2 * 6 * 8 * 16
    same_as_emitted(POSITIONS, x)
    assert "self.position_embeddings = nn.Embedding(length, dim, padding_idx=pad)" in (
        archspec.emit(POSITIONS)
    )


def test_seeded_builds_draw_torchs_table() -> None:
    """nn.Embedding draws N(0, 1) in reset_parameters: compile and emitted code build it at
    the same point, so the same seed gives the same table, as torch's own module does."""
    torch.manual_seed(7)
    compiled = archspec.compile(POSITIONS)
    torch.manual_seed(7)
    written = emitted(POSITIONS)
    for (k, a), (_, b) in zip(compiled.state_dict().items(), written.state_dict().items()):
        assert torch.equal(a, b), k
    torch.manual_seed(7)
    nn.Linear(8, 16)
    reference = nn.Embedding(6, 16, padding_idx=5)
    assert torch.equal(compiled.pos.position_embeddings.weight, reference.weight)


def test_an_embedding_of_a_float_tensor_is_refused() -> None:
    text = spec([{"type": "embedding", "num_embeddings": 10, "embedding_dim": 4}], ("N", 7))
    exc = assert_located(text, "E401")
    assert "looks up int64 indices" in exc.diagnostics[0].message
    assert "fill: arange, dtype: int64" in (exc.diagnostics[0].hint or "")
    assert not archspec.check(text).ok
    with pytest.raises(RuntimeError):  # what torch says of the same lookup
        nn.Embedding(10, 4)(torch.randn(2, 7))


@pytest.mark.parametrize(("pad", "ok"), [(-6, True), (5, True), (6, False), (-7, False)])
def test_padding_idx_must_name_a_row(pad: int, ok: bool) -> None:
    text = POSITIONS.replace("pad: -1}", f"pad: {pad}}}")
    if ok:
        nn.Embedding(6, 16, padding_idx=pad)
        assert archspec.check(text).ok
    else:
        with pytest.raises(AssertionError):
            nn.Embedding(6, 16, padding_idx=pad)
        report = archspec.check(text)
        assert [d.code for d in report.diagnostics] == ["E409"]


def test_indices_of_any_shape_gain_the_vector_dim() -> None:
    op = REGISTRY["embedding"]
    from archspec.dims import Dim
    from archspec.ops.shapectx import ShapeContext

    attrs = {"num_embeddings": 4, "embedding_dim": 3, "padding_idx": None}
    for shape in [(5,), (2, 5), (2, 5, 7)]:
        dims = tuple(Dim.of(s) for s in shape)
        got = op.infer(dict(attrs), [dims], ShapeContext()).shape
        want = nn.Embedding(4, 3)(torch.zeros(shape, dtype=torch.int64)).shape
        assert tuple(d.value for d in got) == tuple(want)


class _Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 16)
        self.register_buffer("position_ids", torch.arange(5), persistent=False)
        self.position_embeddings = nn.Embedding(5, 16, padding_idx=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) + self.position_embeddings(self.position_ids)


def test_embedding_imports_and_round_trips() -> None:
    text = roundtrip(_Tokens(), (2, 5, 8))
    assert (
        "{name: position_embeddings, type: embedding, from: position_ids, num_embeddings: 5, "
        "embedding_dim: 16, padding_idx: 4}" in text
    ), text


def _lookup(buffer: str, rows: int, between: str = "", src: str = "ids") -> str:
    return f"""\
archspec: 1
name: lookup
input: [N, 4]
layers:
  - {{name: ids, type: buffer, dtype: int64, {buffer}}}
{between}  - {{name: table, type: embedding, num_embeddings: {rows}, embedding_dim: 3, from: {src}}}
"""


def _runs(ids: torch.Tensor, rows: int) -> bool:
    """Whether torch's lookup of `ids` in a table of `rows` runs."""
    try:
        nn.Embedding(rows, 3)(ids)
    except (IndexError, RuntimeError):
        return False
    return True


RESHAPED = (
    "  - {name: flat, type: reshape, shape: [-1], from: ids}\n"
    "  - {name: moved, type: permute, dims: [0]}\n"
)


@pytest.mark.parametrize(
    ("buffer", "between", "ids"),
    [
        ("shape: [16], fill: arange", "", torch.arange(16)),
        ("shape: [2, 8], fill: arange", RESHAPED, torch.arange(16).reshape(2, 8).reshape(-1)),
        ("shape: [3], fill: constant, value: 4", "", torch.full((3,), 4)),
        ("shape: [9, 9], fill: relative_position_index", "", maxvit_relative_position_index(3, 3)),
        (
            "shape: [6, 6], fill: relative_position_index, window: [2, 3]",
            "",
            maxvit_relative_position_index(2, 3),
        ),
    ],
)
def test_indices_a_buffer_holds_must_fit_the_table(
    buffer: str, between: str, ids: torch.Tensor
) -> None:
    """Where the spec knows every index (a buffer's own values, reshaped or permuted), a table
    without a row for the largest is E409 at the lookup, exactly where torch's lookup fails."""
    least = int(ids.max()) + 1
    for rows in (least - 1, least, least + 1):
        text = _lookup(buffer, rows, between, "moved" if between else "ids")
        report = archspec.check(text)
        assert report.ok == (rows >= least) == _runs(ids, rows), (buffer, rows)
        if report.ok:
            built = archspec.compile(text)
            torch.testing.assert_close(built(torch.randn(2, 4)), built.table.weight[ids])
        if not report.ok:
            assert [d.code for d in report.diagnostics] == ["E409"]
            assert f"holds the index {least - 1}" in report.diagnostics[0].message


def test_a_negative_index_is_refused() -> None:
    negative = _lookup("shape: [3], fill: constant, value: -1", 4)
    assert [d.code for d in archspec.check(negative).diagnostics] == ["E409"]
    assert not _runs(torch.full((3,), -1), 4)


ARANGE = torch.arange(24).reshape(2, 3, 4)
TWOS = torch.full((1, 4), 2)
EIGHT = torch.arange(8).reshape(2, 4)
#: Steps that keep part of a buffer's values, and the indices torch then looks up.
PARTS = [
    ("  - {name: part, type: select, dim: 1, index: 0, from: ids}\n", ARANGE[:, 0]),
    ("  - {name: part, type: select, dim: 2, index: -2, from: ids}\n", ARANGE[:, :, -2]),
    ("  - {type: chunk, dim: 0, names: [part, rest], from: ids}\n", ARANGE[:1]),
    ("  - {type: chunk, dim: 1, chunks: 2, names: [part, tail], from: ids}\n", ARANGE[:, :2]),
    ("  - {type: split, dim: 2, split_size: 3, names: [part, tail], from: ids}\n", ARANGE[..., :3]),
    (
        "  - {type: split, dim: -1, split_size: [1, 2, 1], names: [a, part, c], from: ids}\n",
        ARANGE[..., 1:3],
    ),
    (
        "  - {name: moved, type: permute, dims: [2, 0, 1], from: ids}\n"
        "  - {name: part, type: select, dim: 1, index: 0}\n",
        ARANGE.permute(2, 0, 1)[:, 0],
    ),
    (
        "  - {name: flat, type: reshape, shape: [6, 4], from: ids}\n"
        "  - {type: split, dim: 0, split_size: [5, 1], names: [part, last]}\n",
        ARANGE.reshape(6, 4)[:5],
    ),
]


@pytest.mark.parametrize(("between", "ids"), PARTS)
def test_indices_kept_in_part_are_followed(between: str, ids: torch.Tensor) -> None:
    """A select, chunk or split keeps some of a buffer's values: check lists them (a small
    buffer's values are known), so a table is E409 exactly where torch's lookup of the part
    fails, not where the whole buffer would."""
    least = int(ids.max()) + 1
    assert least < 24  # the part leaves the arange's largest value out
    for rows in (least - 1, least, least + 1):
        text = _lookup("shape: [2, 3, 4], fill: arange", rows, between, "part")
        report = archspec.check(text)
        assert report.ok == (rows >= least) == _runs(ids, rows), (between, rows)
        if report.ok:
            built = archspec.compile(text)
            torch.testing.assert_close(built(torch.randn(2, 4)), built.table.weight[ids])
        else:
            assert [d.code for d in report.diagnostics] == ["E409"]
            assert f"holds the index {least - 1}" in report.diagnostics[0].message


def test_a_part_of_a_window_index_and_a_constant_are_followed() -> None:
    """The values listed for a relative position index are torch's; a constant's part is the
    constant."""
    ids = maxvit_relative_position_index(2, 3).T[:, 4]
    least = int(ids.max()) + 1
    assert least < 15
    window = "shape: [6, 6], fill: relative_position_index, window: [2, 3]"
    flipped = "  - {name: flipped, type: permute, dims: [1, 0], from: ids}\n"
    select = "  - {name: part, type: select, dim: 1, index: 4, from: flipped}\n"
    for rows in (least - 1, least):
        report = archspec.check(_lookup(window, rows, flipped + select, "part"))
        assert report.ok == (rows >= least) == _runs(ids, rows)
    split = "  - {type: split, dim: 0, split_size: 1, names: [one, part], from: ids}\n"
    for rows in (3, 4):
        report = archspec.check(
            _lookup("shape: [2], fill: constant, value: 3", rows, split, "part")
        )
        assert report.ok == (rows == 4) == _runs(torch.full((1,), 3), rows)


#: Joins of int64 tensors, and the indices torch then looks up: a second buffer `more`
#: (shape [1, 4], constant 2) joined with the arange `ids` of shape [2, 4] (0 to 7).
JOINS = [
    ("{name: part, type: concat, dim: 0, from: [ids, more]}", torch.cat([EIGHT, TWOS])),
    ("{name: part, type: add, from: [ids, more, more]}", EIGHT + TWOS + TWOS),
    ("{name: part, type: sub, from: [ids, more]}", EIGHT - TWOS),
    ("{name: part, type: sub, from: [more, ids]}", TWOS - EIGHT),
    ("{name: part, type: mul, from: [more, ids]}", TWOS * EIGHT),
]


@pytest.mark.parametrize(("join", "ids"), JOINS)
def test_indices_joined_are_followed(join: str, ids: torch.Tensor) -> None:
    """concat, add, sub and mul of int64 tensors compute int64 values that check lists as
    torch computes them (broadcast, left to right): E409 exactly where the lookup fails,
    for an index past the table or below 0."""
    between = (
        "  - {name: more, type: buffer, shape: [1, 4], fill: constant, value: 2, dtype: int64}\n"
        f"  - {join}\n"
    )
    least = int(ids.max()) + 1
    for rows in (least - 1, least, least + 1):
        text = _lookup("shape: [2, 4], fill: arange", max(rows, 1), between, "part")
        report = archspec.check(text)
        assert report.ok == _runs(ids, max(rows, 1)), (join, rows)
        assert report.ok == (int(ids.min()) >= 0 and rows >= least), (join, rows)
        if report.ok:
            built = archspec.compile(text)
            torch.testing.assert_close(built(torch.randn(2, 4)), built.table.weight[ids])
        else:
            assert [d.code for d in report.diagnostics] == ["E409"]


TWO_INPUTS = """\
archspec: 1
name: lookups
input: [N, 4, 8]
blocks:
  AddPositions:
    inputs: [x, ids]
    layers:
      - {name: table, type: embedding, num_embeddings: ROWS, embedding_dim: 8, from: ids}
      - {name: out, type: add, from: [x, table]}
layers:
  - {name: position_ids, type: buffer, shape: [4], fill: arange, dtype: int64}
  - {name: add_positions, type: AddPositions, from: [input, position_ids]}
"""


def test_indices_passed_to_a_block_of_two_inputs_are_followed() -> None:
    """The indices reach the lookup as the block's second input: their values go with them
    (E409 when the table is short), and the block's first, float input stays float."""
    assert archspec.check(TWO_INPUTS.replace("ROWS", "4")).ok
    short = archspec.check(TWO_INPUTS.replace("ROWS", "3"))
    assert [d.code for d in short.diagnostics] == ["E409"]
    assert "holds the index 3" in short.diagnostics[0].message
    assert not _runs(torch.arange(4), 3)
    swapped = TWO_INPUTS.replace("ROWS", "4").replace("from: ids}", "from: x}")
    swapped = swapped.replace("      - {name: out, type: add, from: [x, table]}\n", "")
    assert [d.code for d in archspec.check(swapped).diagnostics] == ["E401"]
    model = archspec.compile(TWO_INPUTS.replace("ROWS", "4"))
    x = torch.randn(2, 4, 8)
    table = model.add_positions.table.weight
    torch.testing.assert_close(model(x), x + table)


class _Text(nn.Module):
    """A text model: token ids looked up, then classified."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embedding(ids))


def test_a_model_of_int32_inputs_is_refused_for_its_dtype() -> None:
    """A spec's input is float or int64 (`input_dtype`): int32 ids are refused with a hint
    to give them as int64, instead of a spec whose lookup of its input check then refuses."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(_Text(), torch.randint(0, 100, (2, 7), dtype=torch.int32))
    diag = info.value.diagnostics[0]
    assert diag.code == "E901" and "the example input is int32" in diag.message
    assert "int64" in (diag.hint or "")
