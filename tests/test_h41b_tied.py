"""`tied:`: one tensor held under two state_dict keys, as nanoGPT ties its token embedding to
its language-model head (`self.transformer.wte.weight = self.lm_head.weight`). A spec could
not state it (the newuser40 nanoGPT untied them, twice the parameters trained apart); now
compile and emitted code tie them, every count takes the tensor once as torch's
`parameters()` does, a checkpoint with either key or both loads, and `check` finds a name
that is no tensor (E305), a tie to itself, a chain or shapes that differ (E316)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.newuser36.facts import state_dict_facts
from tests.newuser40 import references
from tests.newuser40.cases import example
from tests.parity.weights import fill_deterministic

HERE = Path(__file__).parent / "h41b"

LM = """\
archspec: 1
name: tiny_lm
input: [N, T]
input_dtype: int64
params:
  vocab: 50
  dim: 8
layers:
  - {name: wte, type: embedding, num_embeddings: vocab, embedding_dim: dim}
  - {name: ln, type: layer_norm}
  - {name: lm_head, type: linear, out_features: vocab, bias: false}
tied:
"""


def _lm(tied: str) -> str:
    return LM + tied


class TiedGPT(references.GPT):
    """nanoGPT's GPT as karpathy/nanoGPT writes it: the embedding tied to the head."""

    def __init__(self) -> None:
        super().__init__()
        self.transformer.wte.weight = self.lm_head.weight


def _filled(model: nn.Module) -> dict[str, torch.Tensor]:
    """RNG-free weights for a model whose head is its embedding: one tensor at both keys."""
    state = fill_deterministic(model.state_dict())
    state["transformer.wte.weight"] = state["lm_head.weight"]
    return state


def _outputs(model: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(example(shape, "int64"))


def test_a_nanogpt_spec_with_tied_embeddings_is_nanogpt() -> None:
    spec = str(HERE / "nanogpt_tied.yaml")
    assert archspec.check(spec).ok
    reference = TiedGPT().eval()
    reference.load_state_dict(_filled(reference), strict=True)
    namespace: dict[str, object] = {}
    exec(compile(archspec.emit(spec), "nanogpt_tied.py", "exec"), namespace)
    emitted = namespace["NanogptTied"]()  # type: ignore[operator]
    for ours in (archspec.compile(spec), emitted):
        assert ours.transformer.wte.weight is ours.lm_head.weight
        count = sum(p.numel() for p in ours.parameters())
        assert count == sum(p.numel() for p in reference.parameters()) == 41_984
        assert state_dict_facts(ours.state_dict()) == state_dict_facts(reference.state_dict())
        ours.load_state_dict(reference.state_dict(), strict=True)
        reference.load_state_dict(ours.state_dict(), strict=True)
        for shape in [(2, 11), (1, 16), (1, 1)]:
            assert torch.equal(_outputs(ours, shape), _outputs(reference, shape))
    summary = archspec.summary(spec)
    assert summary.params == 41_984 == sum(r.params or 0 for r in summary.rows)


def test_the_counts_take_a_tied_tensor_once_where_torch_meets_it_first() -> None:
    text = _lm("  wte.weight: lm_head.weight\n")
    model = archspec.compile(text)
    assert model.wte.weight is model.lm_head.weight
    assert list(model.state_dict()) == ["wte.weight", "ln.weight", "ln.bias", "lm_head.weight"]
    assert sum(p.numel() for p in model.parameters()) == 416
    summary = archspec.summary(text)
    rows = {r.path: r.params for r in summary.rows}
    assert summary.params == 416 and rows == {"wte": 400, "ln": 16, "lm_head": 0}
    untied = archspec.diff(LM.removesuffix("tied:\n"), text)
    assert untied.compatible and (untied.a.params, untied.b.params) == (816, 416)


def test_a_learned_tensor_of_the_network_is_met_before_its_layers() -> None:
    # torch's named_parameters() yields the root's own tensors before its children's
    text = """\
archspec: 1
name: twin
input: [N, 4, 8, 8]
layers:
  - {name: a, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: scale, type: parameter, shape: [4, 4, 3, 3]}
  - {name: out, type: add, from: [a, input]}
tied:
  scale: a.weight
"""
    model = archspec.compile(text)
    assert model.scale is model.a.weight
    assert next(iter(dict(model.named_parameters()))) == "scale"
    rows = {r.path: r.params for r in archspec.summary(text).rows}
    assert rows["scale"] == 144 and rows["a"] == 4
    assert "self.scale = self.a.weight" in archspec.emit(text)


@pytest.mark.parametrize("dropped", ["lm_head.weight", "wte.weight", None])
def test_a_checkpoint_holding_either_key_of_a_tied_tensor_loads_strictly(
    dropped: str | None,
) -> None:
    text = _lm("  wte.weight: lm_head.weight\n")
    saved = archspec.compile(text).state_dict()
    state = {k: v for k, v in saved.items() if k != dropped}
    model = archspec.compile(text)
    diff = archspec.load_weights(model, state, strict=True)
    assert diff.compatible and diff.a.params == diff.b.params == 416
    assert torch.equal(model.lm_head.weight, saved["lm_head.weight"])


def test_emitted_code_ties_before_the_init_rules_as_compile_does() -> None:
    text = _lm("  wte.weight: lm_head.weight\n") + (
        "init:\n"
        "  - {layers: [embedding], weight: {normal: {std: 0.02}}}\n"
        "  - {layers: [linear], weight: {constant: 0.5}}\n"
    )
    source = archspec.emit(text)
    tie = source.index("self.wte.weight = self.lm_head.weight")
    assert tie < source.index("self._init_weights()", tie - 400)
    namespace: dict[str, object] = {}
    exec(compile(source, "tiny_lm.py", "exec"), namespace)
    torch.manual_seed(0)
    compiled = archspec.compile(text)
    torch.manual_seed(0)
    emitted = namespace["TinyLm"]()  # type: ignore[operator]
    assert torch.equal(compiled.wte.weight, emitted.wte.weight)
    # the head comes after the embedding in modules(): its rule is the one that holds
    assert bool((compiled.wte.weight == 0.5).all())


@pytest.mark.parametrize(
    ("tied", "code", "at", "words"),
    [
        ("  wte.weigth: lm_head.weight\n", "E305", (13, 3),
         "`tied:` names `wte.weigth`, which is no tensor of this network"),
        ("  wte.weight: lm_head.bias\n", "E305", (13, 15), "did you mean `lm_head.weight`?"),
        ("  wte.weight: lm_head\n", "E305", (13, 15), "did you mean `lm_head.weight`?"),
        ("  wte.weight: wte.weight\n", "E316", (13, 15), "ties `wte.weight` to itself"),
        ("  wte.weight: ln.weight\n", "E316", (13, 15),
         "ties `wte.weight` of shape (50, 8) to `ln.weight` of shape (8,)"),
        ("  ln.bias: lm_head.weight\n  lm_head.weight: wte.weight\n", "E316", (13, 12),
         "`lm_head.weight`, which is tied to `wte.weight` itself"),
    ],
)  # fmt: skip
def test_a_tie_that_cannot_hold_is_an_error_at_its_entry(
    tied: str, code: str, at: tuple[int, int], words: str
) -> None:
    report = archspec.check(_lm(tied))
    (diag,) = report.diagnostics
    assert not report.ok
    assert diag.code == code and words in f"{diag.message} {diag.hint}", diag
    assert diag.span is not None and (diag.span.line, diag.span.col) == at


def test_a_tensor_of_a_layer_whose_tensors_are_not_declared_says_so() -> None:
    text = """\
archspec: 1
name: rnn
input: [N, T, 8]
layers:
  - {name: a, type: lstm, hidden_size: 8}
  - {name: b, type: lstm, hidden_size: 8}
tied:
  b.weight_ih_l0: a.weight_ih_l0
"""
    key, value = archspec.check(text).diagnostics  # both names: each is reported
    assert "`a.weight_ih_l0`" in value.message
    diag = key
    with pytest.raises(ArchSpecError):
        archspec.compile(text)
    assert diag.code == "E305" and "a tensor of a lstm layer" in diag.message
    assert "`tied:` ties tensors of linear, embedding" in (diag.hint or "")


def test_an_extending_spec_replaces_the_ties(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(_lm("  wte.weight: lm_head.weight\n"), encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("archspec: 1\nextends: base.yaml\nname: untied\ntied: {}\n", "utf-8")
    assert sum(p.numel() for p in archspec.compile(str(child)).parameters()) == 816
    keep = tmp_path / "keep.yaml"
    keep.write_text("archspec: 1\nextends: base.yaml\nname: kept\n", encoding="utf-8")
    model = archspec.compile(str(keep))
    assert model.wte.weight is model.lm_head.weight


class TiedLM(nn.Module):
    """A head tied to its embedding, as nanoGPT ties them."""

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(50, 8)
        self.ln = nn.LayerNorm(8)
        self.head = nn.Linear(8, 50, bias=False)
        self.wte.weight = self.head.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.ln(self.wte(x)))


def test_the_import_of_a_tied_model_writes_the_tie() -> None:
    # it was refused (E904, 'a tie cannot be stated'): the untied twin trains twice the weights
    reference = TiedLM().eval()
    tokens = example((2, 7), "int64") % 50
    text = archspec.from_module(reference, tokens)
    assert text.endswith("tied:\n  head.weight: wte.weight\n")
    model = archspec.compile(text).eval()
    assert model.head.weight is model.wte.weight
    assert sum(p.numel() for p in model.parameters()) == 416
    model.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(model(tokens), reference(tokens))


def test_the_import_of_nanogpt_is_nanogpt_its_positions_a_cut_buffer() -> None:
    # `pos = torch.arange(0, t, dtype=torch.long, device=idx.device)` read by `wpe` was E903
    # 'no layer kind computes `torch.arange` as called here', and the tie E904
    reference = TiedGPT().eval()
    reference.load_state_dict(_filled(reference), strict=True)
    text = archspec.from_module(reference, example((2, 11), "int64"))
    assert "fill: arange, dtype: int64, persistent: false}" in text
    assert text.endswith("tied:\n  lm_head.weight: transformer.wte.weight\n")
    assert "accepts (N, L) int64 with 1 <= L <= 16" in archspec.check(text).domain_text
    model = archspec.compile(text).eval()
    assert model.transformer.wte.weight is model.lm_head.weight
    assert state_dict_facts(model.state_dict()) == state_dict_facts(reference.state_dict())
    assert sum(p.numel() for p in model.parameters()) == 41_984
    model.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(model.state_dict(), strict=True)
    for shape in [(2, 11), (1, 16), (1, 1)]:
        assert torch.equal(_outputs(model, shape), _outputs(reference, shape))


class Offsets(nn.Module):
    """Positions that start at 1: no cut of a table's positions gives them."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.wpe = nn.Embedding(16, 4)
        self.start = start

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.size(1)
        return self.wpe(torch.arange(self.start, t + self.start, device=idx.device))


class Summed(nn.Module):
    """Positions read as values, not looked up: no table bounds them."""

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(16, 4)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.wte(idx + torch.arange(idx.size(1), device=idx.device))


@pytest.mark.parametrize("model", [Offsets(1), Summed()], ids=["offset", "summed"])
def test_positions_no_cut_buffer_makes_are_still_refused(model: nn.Module) -> None:
    from archspec.errors import ImportFailure

    with pytest.raises(ImportFailure) as failure:
        archspec.from_module(model, example((2, 5), "int64") % 16)
    assert {d.code for d in failure.value.diagnostics} == {"E903"}


class LastDim(nn.Module):
    """`torch.arange(n)` of the last dim's size, looked up in two tables."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Embedding(12, 4)
        self.b = nn.Embedding(9, 4)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[-1])
        return self.a(pos) + self.b(pos)


def test_positions_of_the_last_dim_read_by_two_tables_are_cut_to_the_smaller() -> None:
    model = LastDim().eval()
    tokens = example((2, 5), "int64") % 9
    text = archspec.from_module(model, tokens)
    assert "shape: [9], fill: arange" in text and "like_dim: 1" in text
    assert "with 1 <= L <= 9" in archspec.check(text).domain_text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        for length in (1, 5, 9):
            assert torch.equal(
                twin(tokens[:1, :1].repeat(1, length)), model(tokens[:1, :1].repeat(1, length))
            )


@pytest.mark.parametrize("frozen", ["lm_head", "wte", "ln"])
def test_a_tied_tensor_is_frozen_when_either_of_its_layers_is(frozen: str) -> None:
    # summary counted the tensor in the row of the layer torch meets first only, so freezing
    # the head (whose row leaves it out) said 0 frozen where torch freezes 400
    text = _lm("  wte.weight: lm_head.weight\n") + f"frozen: [{frozen}]\n"
    model = archspec.compile(text)
    expected = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert expected == (16 if frozen == "ln" else 400)
    assert archspec.summary(text).frozen_params == expected


class BatchOfOne(nn.Module):
    """minGPT's positions: `torch.arange(0, t, dtype=torch.long, device=device).unsqueeze(0)`."""

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(50, 4)
        self.wpe = nn.Embedding(16, 4)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        _, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device).unsqueeze(0)
        return self.wte(idx) + self.wpe(pos)


def test_positions_unsqueezed_to_a_batch_of_one_are_a_cut_buffer_too() -> None:
    # it was E903 'no layer kind computes `torch.arange` as called here'
    model = BatchOfOne().eval()
    tokens = example((2, 7), "int64") % 50
    text = archspec.from_module(model, tokens)
    assert "shape: [16], fill: arange" in text and "type: unsqueeze" in text
    assert "with 1 <= L <= 16" in archspec.check(text).domain_text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        for length in (1, 7, 16):
            ids = example((2, length), "int64") % 50
            assert torch.equal(twin(ids), model(ids))


def test_int64_positions_unsqueezed_are_checked_against_the_table() -> None:
    # `unsqueeze` of an int64 buffer was E401 'computes in floating point' (torch keeps
    # int64), and its values are followed to the lookup: 16 positions in 12 rows are E409
    text = """\
archspec: 1
name: ids
input: [N, T]
input_dtype: int64
layers:
  - {name: positions, type: buffer, shape: [16], fill: arange, dtype: int64, persistent: false}
  - {name: batch, type: unsqueeze, dim: 0, from: positions}
  - {name: wpe, type: embedding, num_embeddings: ROWS, embedding_dim: 4}
  - {name: wte, type: embedding, num_embeddings: 16, embedding_dim: 4, from: input}
  - {name: summed, type: add, from: [wte, wpe]}
"""
    assert archspec.check(text.replace("ROWS", "16")).ok
    (diag,) = archspec.check(text.replace("ROWS", "12")).diagnostics
    assert diag.code == "E409" and "holds the index 15" in diag.message


def test_a_checkpoint_of_an_untied_model_loaded_into_a_tied_one_warns() -> None:
    # torch copies each key in turn into the one tensor: the head's values were kept silently
    from archspec.hub import WeightsWarning

    untied = archspec.compile(LM.removesuffix("tied:\n")).state_dict()
    model = archspec.compile(_lm("  wte.weight: lm_head.weight\n"))
    with pytest.warns(WeightsWarning, match=r"`lm_head\.weight`'s are kept"):
        assert archspec.load_weights(model, untied).compatible
    assert torch.equal(model.wte.weight, untied["lm_head.weight"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a tied model's own checkpoint: one value, no warning
        archspec.load_weights(
            model, archspec.compile(_lm("  wte.weight: lm_head.weight\n")).state_dict()
        )
