"""What a new user writing 1-d networks from the docs (session 38: M5, a TCN, a CRNN, a
WaveNet, tests/newuser38) tripped over. A conv1d's (N, C, L) fed to an `lstm` (or a `gru`,
`multihead_attention`, `linear`, `layer_norm`) without the permute between them was E406
"needs a known D" with the hint "declare a concrete input size", and with a concrete size the
spec checked clean while the LSTM read the channels as the sequence. A `maxpool2d` on a
conv1d's (N, C, L) pooled the channels (torch's unbatched (C, H, W)) with no word."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError


def _spec(input_: str, layers: str) -> str:
    body = textwrap.indent(textwrap.dedent(layers).strip("\n"), "  ")
    return f"archspec: 1\nname: net\ninput: {input_}\nlayers:\n{body}\n"


READERS = [
    "{type: lstm, hidden_size: 8}",
    "{type: gru, hidden_size: 8}",
    "{type: multihead_attention, num_heads: 4}",
    "{type: linear, out_features: 8}",
    "{type: layer_norm}",
]


@pytest.mark.parametrize("reader", READERS)
def test_a_features_last_layer_on_a_conv1d_output_says_to_permute(reader: str) -> None:
    text = _spec("[N, 16, L]", f"- {{type: conv1d, out_channels: 32, kernel_size: 3}}\n- {reader}")
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (diag,) = info.value.diagnostics
    assert diag.code == "E406" and diag.hint is not None
    assert "(N, 32, L - 2)" in diag.message
    assert "its 32 channels at dim 1" in diag.hint
    assert "`permute` with dims [0, 2, 1]" in diag.hint
    assert not diag.hint.startswith("declare a concrete input size")
    # the fix the hint names checks clean for every L
    fixed = _spec(
        "[N, 16, L]",
        "- {type: conv1d, out_channels: 32, kernel_size: 3}\n"
        f"- {{type: permute, dims: [0, 2, 1]}}\n- {reader}",
    )
    result = archspec.check(fixed)
    assert result.ok and not result.diagnostics, result.diagnostics
    assert result.domain_text.endswith("with L >= 3")


def test_a_linear_on_a_conv1d_output_names_the_global_pool_too() -> None:
    text = _spec("[N, 16, L]", "- {type: conv1d, out_channels: 32, kernel_size: 3}\n"
                 "- {type: linear, out_features: 8}")  # fmt: skip
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    hint = info.value.diagnostics[0].hint
    assert hint is not None and "global pool and a `flatten`" in hint


def test_an_unknown_feature_count_of_another_layout_keeps_its_hint() -> None:
    """A map (N, C, H, W) into a linear wants a flatten (or a pool), not a permute."""
    text = _spec("[N, 3, H, W]", "- {type: conv2d, out_channels: 8, kernel_size: 3}\n"
                 "- {type: linear, out_features: 8}")  # fmt: skip
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (diag,) = info.value.diagnostics
    assert diag.code == "E406" and diag.hint is not None
    assert "adaptive pool before the flatten" in diag.hint and "permute" not in diag.hint


@pytest.mark.parametrize("reader", ["lstm", "gru", "rnn"])
def test_a_recurrent_layer_reading_a_conv_output_of_a_known_length_is_w405(reader: str) -> None:
    text = _spec(
        "[N, 16, 100]",
        "- {name: conv, type: conv1d, out_channels: 32, kernel_size: 3}\n"
        "- {name: act, type: relu}\n"
        f"- {{name: seq, type: {reader}, hidden_size: 8}}",
    )
    result = archspec.check(text)
    assert result.ok
    (warning,) = [d for d in result.diagnostics if d.code == "W405"]
    assert warning.message == (
        f"{reader} `seq` reads the (N, C, L) output of conv1d `conv` as (N, L, D) tokens: its "
        "32 channels are the sequence and the 98 steps the features"
    )
    assert warning.hint is not None and "dims [0, 2, 1]" in warning.hint
    # what the warning says is what torch computes: 32 steps of 98 features
    model = archspec.compile(text).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 16, 100)).shape == (2, 32, 8)
    assert model.seq.input_size == 98
    permuted = text.replace(
        f"- {{name: seq, type: {reader}",
        f"- {{type: permute, dims: [0, 2, 1]}}\n- {{name: seq, type: {reader}",
    )
    assert not [d for d in archspec.check(permuted).diagnostics if d.code == "W405"]


def test_attention_reading_a_pool_output_of_a_known_length_is_w405() -> None:
    text = _spec(
        "[N, 16, 64]",
        "- {name: pool, type: maxpool1d, kernel_size: 2}\n"
        "- {name: attn, type: multihead_attention, num_heads: 4}",
    )
    (warning,) = [d for d in archspec.check(text).diagnostics if d.code == "W405"]
    assert warning.message.startswith("multihead_attention `attn` reads the (N, C, L) output of")


@pytest.mark.parametrize(
    ("input_", "pool", "out"),
    [
        ("[N, 1, L]", "{type: maxpool2d, kernel_size: 2}", (2, 8, 9)),
        ("[N, 1, L]", "{type: avgpool2d, kernel_size: 2}", (2, 8, 9)),
        ("[N, 1, L]", "{type: adaptive_avgpool2d, output_size: 1}", (2, 1, 1)),
        ("[N, 1, H, W]", "{type: maxpool3d, kernel_size: 2}", (2, 8, 9, 9)),
        ("[N, 1, H, W]", "{type: adaptive_maxpool3d, output_size: 2}", (2, 2, 2, 2)),
    ],
)
def test_a_pool_of_one_rank_more_than_its_input_is_w409(
    input_: str, pool: str, out: tuple[int, ...]
) -> None:
    conv = "conv1d" if input_.count(",") == 2 else "conv2d"
    text = _spec(input_, f"- {{type: {conv}, out_channels: 16, kernel_size: 3}}\n- {pool}")
    result = archspec.check(text)
    assert result.ok
    (warning,) = [d for d in result.diagnostics if d.code == "W410"]
    assert "PyTorch reads it as one unbatched map" in warning.message
    assert "dim 1 (16) among them" in warning.message
    kind = pool.split("type: ")[1].split(",")[0]
    nd = int(kind[-2])
    assert warning.hint is not None and f"`{kind.replace(f'{nd}d', f'{nd - 1}d')}`" in warning.hint
    # archspec computes what torch does: the channels are pooled too
    model = archspec.compile(text).eval()
    size = (2, 1, 20) if conv == "conv1d" else (2, 1, 20, 20)
    with torch.no_grad():
        assert model(torch.zeros(size)).shape == out


@pytest.mark.parametrize(
    ("input_", "pool"),
    [
        ("[N, 16, L]", "{type: maxpool1d, kernel_size: 2}"),
        ("[N, 16]", "{type: maxpool1d, kernel_size: 2}"),  # features pooled: torch's 1-d pool
        ("[N, 3, H, W]", "{type: maxpool2d, kernel_size: 2}"),
        ("[N, 3, D, H, W]", "{type: avgpool3d, kernel_size: 2}"),
    ],
)
def test_a_pool_of_its_inputs_rank_is_no_w409(input_: str, pool: str) -> None:
    result = archspec.check(_spec(input_, f"- {pool}"))
    assert result.ok and not result.diagnostics, result.diagnostics


DARK_BLOCK = """\
archspec: 1
name: dark
input: [N, 64, 16, 16]
blocks:
  DarkBlock:
    params: {mid: int}
    layers:
      - type: residual
        body:
          - {name: conv1, type: conv2d, out_channels: mid, kernel_size: 1}
          - {name: act, type: relu, when: in_channels > 0}
          - {name: conv2, type: conv2d, out_channels: in_channels, kernel_size: 3, padding: 1}
        SHORTCUT
layers:
  - {name: block, type: DarkBlock, mid: 32}
"""


@pytest.mark.parametrize(
    "shortcut",
    [
        "",
        "shortcut: {when: in_channels != 64, layers: [{type: conv2d, out_channels: 64, "
        "kernel_size: 1}]}",
    ],
)
def test_a_body_that_reads_in_channels_past_its_first_item_names_the_trap(shortcut: str) -> None:
    """timm's DarkBlock comes back to its input's width with `out: in_channels` at its second
    conv, where `in_channels` is the first conv's output: the sum's hint says so."""
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(DARK_BLOCK.replace("SHORTCUT", shortcut))
    (diag,) = info.value.diagnostics
    assert diag.code == "E402" and diag.hint is not None
    assert diag.hint.endswith(
        "`in_channels` in `conv2`'s `out_channels` is the width of that item's own input, not "
        "the block's: bind the block's once with `let: {cin: in_channels}` and read `cin`"
    )
    fixed = DARK_BLOCK.replace("SHORTCUT", shortcut).replace(
        "    params: {mid: int}\n", "    params: {mid: int}\n    let: {cin: in_channels}\n"
    )
    fixed = fixed.replace(
        "out_channels: in_channels, kernel_size: 3", "out_channels: cin, kernel_size: 3"
    )
    assert archspec.check(fixed).ok


def test_a_body_that_reads_in_channels_only_where_it_is_the_blocks_has_no_note() -> None:
    text = DARK_BLOCK.replace("SHORTCUT", "").replace(
        "out_channels: mid, kernel_size: 1}", "out_channels: in_channels // 2, kernel_size: 1}"
    )
    text = text.replace(
        "out_channels: in_channels, kernel_size: 3", "out_channels: 48, kernel_size: 3"
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    hint = info.value.diagnostics[0].hint
    assert hint is not None and "keep the input's shape" in hint and "`in_channels` in" not in hint


SEVERAL = "`input: [N, C, H, W]` is a network's one input tensor; a network of several names each"


@pytest.mark.parametrize(
    ("header", "places"),
    [
        ("input: {z: [N, 100], label: [N]}", 1),  # a conditional GAN's noise and label
        ("input: [[N, 3, 64, 64], [N, 3, 64, 64]]", 2),  # a Siamese pair
        ("input: [N, 3, 64, 64]\ninputs: [a, b]", 1),  # a block's field, at the top
        ("input: [N, 3, 64, 64]\nvariants:\n  v: {input: {a: [N, 3]}}", 1),
    ],
)
def test_a_network_of_several_inputs_is_told_it_takes_one(header: str, places: int) -> None:
    text = f"archspec: 1\nname: net\n{header}\nlayers:\n  - {{type: relu}}\n"
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    diags = info.value.diagnostics
    assert len(diags) == places
    assert all(d.hint is not None and d.hint.startswith(SEVERAL) for d in diags), diags


def test_a_wrong_input_of_one_tensor_keeps_its_hint() -> None:
    text = "archspec: 1\nname: net\ninput: [N, [3], 8]\nlayers:\n  - {type: relu}\n"
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (diag,) = info.value.diagnostics
    assert diag.hint is not None and not diag.hint.startswith(SEVERAL)


@pytest.mark.parametrize(("written", "meant"), [("input", "inputs"), ("parms", "params")])
def test_a_misspelt_field_of_a_block_definition_names_the_field(written: str, meant: str) -> None:
    text = (
        "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\nblocks:\n  B:\n"
        f"    {written}: [x]\n    layers:\n      - {{type: relu}}\nlayers:\n  - {{type: B}}\n"
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (diag,) = info.value.diagnostics
    assert diag.code == "E201" and diag.hint == f"did you mean `{meant}`?"


def test_a_size_the_input_declares_beside_a_symbol_stays_a_number_in_check() -> None:
    """A text recogniser's fixed height, `input: [N, 1, 32, W]`: `check` said `input (N, 1,
    H, W)` and gave every shape in H, the 32 written in the spec dropped (the domain, of every
    size, is still stated in H and W)."""
    text = _spec(
        "[N, 1, 32, W]",
        "- {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2}\n"
        "- {name: pool, type: maxpool2d, kernel_size: 3}",
    )
    report = archspec.check(text).to_dict()
    assert report["input"] == "(N, 1, 32, W)"
    assert report["outputs"] == ["(N, 8, 5, (W + 5)//6 - 1)"]
    assert report["shapes"]["conv"] == "(N, 8, 15, (W + 1)//2 - 1)"
    assert report["domain"] == "net accepts (N, 1, H, W) with H, W >= 7"
    model = archspec.compile(text).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 32, 40)).shape == (1, 8, 5, 6)


@pytest.mark.parametrize(("reads", "places"), [("from: 1", ["1"]), ("from: [0, 1]", ["0", "1"])])
def test_an_unnamed_item_read_by_a_bare_position_says_to_quote_it(
    reads: str, places: list[str]
) -> None:
    layers = (
        "- {type: linear, out_features: 8}\n- {type: linear, out_features: 8}\n"
        f"- {{name: out, type: {'add' if '[' in reads else 'relu'}, {reads}}}"
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(_spec("[N, 8]", layers))
    diags = info.value.diagnostics
    assert [d.code for d in diags] == ["E204"] * len(places)
    for diag, place in zip(diags, places, strict=True):
        assert diag.hint is not None
        assert diag.hint.startswith(
            f'an item without a `name` is read by its position written as text, "{place}"'
        )
    quoted = _spec("[N, 8]", layers.replace("from: 1", 'from: "1"').replace("[0, 1]", '["0", "1"]'))
    assert archspec.check(quoted).ok


class _MaxAfterARefusedStep(torch.nn.Module):
    """PointNet's `torch.max(x, 2, keepdim=True)[0]` after a step no kind computes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(3, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x).cumsum(2)
        return torch.max(x, 2, keepdim=True)[0]


def test_a_max_over_a_dim_after_a_refused_step_is_left_out_with_it() -> None:
    """Importing fxia22's PointNetDenseCls was an internal error (KeyError in
    importer/reductions.py, exit 3): the max read the name of its input, which a refused
    step before it had left out. Now the max and its `[0]` are left out with it, and the
    refusal is the one error."""
    with pytest.raises(ArchSpecError) as info:
        archspec.from_module(_MaxAfterARefusedStep(), torch.zeros(2, 3, 10))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "`.cumsum()`" in diag.message


def test_a_layer_norm_over_two_dims_of_a_conv1d_output_names_no_permute() -> None:
    """Over (C, L) a permute would not give it known sizes: the hint stays the general one."""
    text = _spec("[N, 16, L]", "- {type: conv1d, out_channels: 32, kernel_size: 3}\n"
                 "- {type: layer_norm, dims: 2}")  # fmt: skip
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (diag,) = info.value.diagnostics
    assert diag.code == "E406" and diag.hint == (
        "declare a concrete input size, or state normalized_shape"
    )


@pytest.mark.parametrize(
    "layer",
    [
        "{type: shifted_window_attention, num_heads: 3, window_size: [8, 7, 7]}",
        "{type: patch_merging}",
    ],
)
def test_swins_window_kinds_on_a_video_say_they_are_two_dimensional(layer: str) -> None:
    """torchvision's Swin3D on (N, D, H, W, C): the hint was to permute after the patch conv,
    which the input already was."""
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(_spec("[N, 8, 56, 56, 96]", f"- {layer}"))
    (diag,) = info.value.diagnostics
    assert diag.code == "E401" and diag.hint is not None
    assert "over the two dims of a map: a video's (N, D, H, W, C)" in diag.hint
    assert "permute" not in diag.hint
    # another rank keeps the permute hint
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(_spec("[N, 49, 96]", f"- {layer}"))
    assert "permute after the patch conv" in str(info.value.diagnostics[0].hint)


def test_checking_residuals_leaves_the_json_schema_as_committed() -> None:
    """The hint above read a body's items through pydantic's `model_dump`, for every
    residual checked: that built serializers which changed the JSON Schema built later in
    the process (test_schema.py's comparison with docs/archspec.schema.json failed after
    it). A fresh process checks a clean residual and the trap, then builds the schema."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    body = (  # sequentials in the body: their dump built the serializers
        "- type: residual\n  body:\n"
        "    - {name: conv1, type: sequential, layers: [{type: conv2d, out_channels: 8, "
        "kernel_size: 1}]}\n"
        "    - {name: conv2, type: sequential, layers: [{type: conv2d, out_channels: OUT, "
        "kernel_size: 1}]}"
    )
    clean = _spec("[N, 8, 8, 8]", body.replace("OUT", "8"))
    trap = _spec("[N, 8, 8, 8]", body.replace("OUT", "in_channels * 2"))
    script = (
        "import sys, archspec\n"
        "from archspec.schema import json_schema_text\n"
        "for text in sys.argv[1:]:\n"
        "    archspec.check(text)\n"
        "print(json_schema_text(), end='')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, clean, trap],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
        check=True,
    )
    assert done.stdout == (root / "docs" / "archspec.schema.json").read_text(encoding="utf-8")


def test_the_tcn_with_its_weight_norm_through_a_plugin_kind_is_the_reference() -> None:
    """Weight normalisation has no built-in form (docs/porting.md says to write the wrapped
    layer as a plugin kind): tests/plugins/wn_conv1d.py, written from docs/plugins.md, makes
    tests/newuser38/tcn.yaml locuslab's TCN with weight_norm on both convs of each block,
    keys `net.0.parametrizations.weight.original0` and `original1`, compiled and emitted."""
    from pathlib import Path

    from tests.newuser38 import references

    from .conftest import plugins_restored

    here = Path(__file__).parent
    tcn = (here / "newuser38" / "tcn.yaml").read_text(encoding="utf-8")
    text = tcn.replace(
        "type: conv1d, out_channels: out, kernel_size: kernel_size",
        "type: wn_conv1d, out_channels: out, kernel_size: kernel_size",
    )
    assert text.count("wn_conv1d") == 2
    reference = references.TCN().eval()
    for block in reference.tcn:
        for i in (0, 4):
            block.net[i] = torch.nn.utils.parametrizations.weight_norm(block.net[i])
    with plugins_restored():
        assert archspec.load_plugin_files([here / "plugins" / "wn_conv1d.py"]) == ["wn_conv1d"]
        ours = archspec.compile(text).eval()
        source = archspec.emit(text)
    keys = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    assert keys == [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    assert keys[1] == ("tcn.0.net.0.parametrizations.weight.original0", (25, 1, 1))
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(ours.state_dict(), strict=True)
    namespace: dict[str, object] = {}
    exec(compile(source, "<emitted>", "exec"), namespace)  # runs without the plugin
    emitted = namespace["TCN"]().eval()  # type: ignore[operator]
    emitted.load_state_dict(reference.state_dict(), strict=True)
    x = torch.sin(torch.arange(2 * 300, dtype=torch.float32) * 0.1).reshape(2, 1, 300)
    with torch.no_grad():
        expected = reference(x)
        assert torch.equal(ours(x), expected) and torch.equal(emitted(x), expected)
