"""What a new user porting torchvision models from the docs alone tripped on (issue 14's last
check): a param whose bare default looks like arithmetic is text, and the error at its use
says so and where to move it; a warning inside a block or repeat is reported once with the
count of instances, as errors are; torchvision's empty `nn.Sequential()` placeholder is no
warning; a concrete size (`summary.macs`) converts with `int()` and `float()`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

import archspec
from archspec.dims import Dim
from archspec.errors import ArchSpecError


def spec(body: str) -> str:
    return "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n" + textwrap.dedent(body).lstrip("\n")


def test_a_param_default_that_looks_like_arithmetic_is_text_and_the_hint_says_use_let() -> None:
    text = spec(
        """
        params:
          bn_momentum: 1 - 0.9997
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: batchnorm2d, momentum: bn_momentum}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (d,) = info.value.diagnostics
    assert d.code == "E309"
    assert d.span is not None and (d.span.line, d.span.col) == (8, 35)
    assert d.hint is not None
    assert "`bn_momentum` holds the text '1 - 0.9997'" in d.hint
    assert "from `params:` to `let:`" in d.hint


def test_the_same_value_under_let_is_a_number() -> None:
    text = spec(
        """
        let:
          bn_momentum: 1 - 0.9997
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: batchnorm2d, momentum: bn_momentum}
        """
    )
    graph = archspec.build_graph(text)
    assert graph.root.nodes[1].attrs["momentum"] == pytest.approx(1 - 0.9997)


def test_plain_text_params_keep_the_usual_hint() -> None:
    text = spec(
        """
        params:
          mode: fast
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: batchnorm2d, momentum: mode}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (d,) = info.value.diagnostics
    assert d.code == "E309" and d.hint is not None and "let:" not in d.hint


def test_an_unread_node_in_every_copy_is_one_warning_with_the_count() -> None:
    text = spec(
        """
        blocks:
          B:
            layers:
              - {name: side, type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: main, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
        layers:
          - {name: stage, type: repeat, count: 3, layer: {type: B}}
        """
    )
    warnings = [d for d in archspec.build_graph(text).diagnostics if d.code == "W401"]
    assert len(warnings) == 1, [w.message for w in warnings]
    w = warnings[0]
    assert w.message == "the output of stage.0.side is never used (in 3 instances)"
    assert w.span is not None and (w.span.line, w.span.col) == (7, 9)


def test_an_empty_sequential_placeholder_is_no_warning() -> None:
    """ShuffleNetV2 keeps `self.branch1 = nn.Sequential()` at stride 1 and never calls it."""
    text = spec(
        """
        layers:
          - {name: branch1, type: sequential, layers: []}
          - {name: branch2, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
        """
    )
    result = archspec.check(text)
    assert result.ok and not [d for d in result.diagnostics if d.code == "W401"]
    model = archspec.compile(text, device="meta")
    assert "branch1" in dict(model.named_children())


def test_an_unread_conv_is_still_a_warning() -> None:
    text = spec(
        """
        layers:
          - name: branch1
            type: sequential
            layers: [{type: conv2d, out_channels: 8, kernel_size: 1}]
          - {name: branch2, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
        """
    )
    assert [d.code for d in archspec.build_graph(text).diagnostics] == ["W401"]


def test_a_concrete_size_converts_to_int_and_float() -> None:
    table = archspec.summary("lenet5", input=(1, 1, 32, 32))
    assert int(table.macs) == table.macs.value
    assert float(table.macs) / 1e6 == table.macs.value / 1e6
    with pytest.raises(TypeError, match="symbolic in H, N, W"):
        int(archspec.summary("lenet5").macs * Dim.of("H") * Dim.of("W"))


def test_a_gate_sized_by_in_channels_inside_the_block_hints_at_the_let() -> None:
    """The SE block's fc2 written `out_channels: in_channels` reads fc2's own input (the
    squeeze width), not the block's: the gate then cannot multiply the block's input."""
    text = spec(
        """
        blocks:
          SE:
            layers:
              - {name: avgpool, type: adaptive_avgpool2d, output_size: 1}
              - {name: fc1, type: conv2d, out_channels: 2, kernel_size: 1}
              - {name: fc2, type: conv2d, out_channels: in_channels, kernel_size: 1}
              - {name: gate, type: sigmoid}
              - {name: scaled, type: mul, from: [gate, input]}
        layers:
          - {type: conv2d, out_channels: 16, kernel_size: 1}
          - {name: se, type: SE}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (d,) = info.value.diagnostics
    assert d.code == "E402"
    assert d.span is not None and (d.span.line, d.span.col) == (11, 9)
    assert d.hint is not None and "let: {channels: in_channels}" in d.hint


def test_a_summary_says_how_many_macs_run_only_in_training() -> None:
    """A spec's summary counts the training forward (GoogLeNet's auxiliary heads included);
    torchvision's `_ops` count the eval forward, so the footer gives both."""
    text = spec(
        """
        layers:
          - {name: conv1, type: conv2d, out_channels: 4, kernel_size: 1}
          - {name: pool, type: adaptive_avgpool2d, output_size: 1}
          - {name: flatten, type: flatten}
          - {name: fc, type: linear, out_features: 10}
          - name: aux
            type: sequential
            from: conv1
            train_only: true
            layers:
              - {type: conv2d, out_channels: 2, kernel_size: 1}
              - {type: flatten}
              - {type: linear, out_features: 10}
        outputs: [fc, aux]
        """
    )
    table = archspec.summary(text, input=(1, 3, 8, 8))
    # conv1 3*4*64 = 768, fc 40; aux: conv 4*2*64 = 512, linear 128*10 = 1,280
    assert int(table.macs) == 768 + 40 + 512 + 1280
    words = " ".join(table.to_text(200).split())
    assert "of which 1,792 in train-only nodes: 808 (0.81 K) in eval mode" in words
    folded = " ".join(archspec.summary(text, input=(1, 3, 8, 8), depth=1).to_text(200).split())
    assert "of which 1,792 in train-only nodes" in folded
    plain = archspec.summary("lenet5", input=(1, 1, 32, 32)).to_text(200)
    assert "train-only" not in plain


def test_names_meant_for_the_groups_of_group_rows_point_at_the_nested_repeat() -> None:
    text = spec(
        """
        params:
          stages: [[1, 8], [2, 16]]
        layers:
          - type: for_each
            rows: stages
            fields: [depth, width]
            row_index: r
            count: depth
            group_rows: true
            flat: true
            names: "block{r + 1}"
            layer: {type: conv2d, key: "block{r + 1}-{i}", out_channels: width, kernel_size: 1}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (d,) = info.value.diagnostics
    assert d.code == "E204"
    assert d.span is not None and (d.span.line, d.span.col) == (15, 32)
    assert d.hint is not None and "Stages with names of their own" in d.hint


class _ZippedLists(torch.nn.Module):
    """timm-style stages: two ModuleLists walked together, `stage(down(x))` per step."""

    def __init__(self) -> None:
        super().__init__()
        self.downs = torch.nn.ModuleList([torch.nn.Identity(), torch.nn.Conv2d(4, 8, 2, 2)])
        self.stages = torch.nn.ModuleList([torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(8, 8, 1)])
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downs, self.stages, strict=True):
            x = stage(down(x))
        return self.head(x.mean((2, 3)))


def test_two_module_lists_walked_together_import_entry_by_entry() -> None:
    """`zip(self.downs, self.stages)` was six errors, four of them wrong ("calls 1 of the 2
    items", "never calls `head`", "returns Node"), then one E904 ("walks `self.downs` and
    `self.stages` together"); each call is now a node keyed as the list's entry."""
    from .test_importer_gaps import exact

    text = exact(_ZippedLists(), (1, 3, 8, 8))
    keys = [line.split("key: ")[1].split(",")[0] for line in text.splitlines() if "key: " in line]
    assert keys == ["downs.0", "stages.0", "downs.1", "stages.1"]


TOKEN_MLP = """
archspec: 1
name: token_mlp
input: [N, 17, 64]
blocks:
  Mlp:
    layers:
      - {name: fc1, type: linear, out_features: 128}
      - {name: act, type: gelu}
      - {name: fc2, type: linear, out_features: in_features}
      - {name: out, type: add, from: [fc2, input]}
layers:
  - {name: mlp, type: Mlp}
"""


def test_tokens_whose_width_differs_get_a_token_hint_not_a_1x1_conv() -> None:
    """A transformer MLP's second linear reading `in_features` (the hidden width) was told to
    "add a projection shortcut (1x1 conv ...)", which means nothing for (N, L, D) tokens."""
    result = archspec.check(TOKEN_MLP)
    (diag,) = result.errors
    assert diag.code == "E402" and "1x1 conv" not in diag.hint
    assert "let: {dim: in_features}" in diag.hint and "out_features" in diag.hint
    conv = archspec.check(
        TOKEN_MLP.replace("[N, 17, 64]", "[N, 64, 8, 8]")
        .replace("linear, out_features: 128", "conv2d, out_channels: 128, kernel_size: 1")
        .replace("linear, out_features: in_features", "conv2d, out_channels: 32, kernel_size: 1")
    )
    assert "1x1 conv" in conv.errors[0].hint  # a feature map keeps the projection hint


def test_a_failed_check_names_the_spec_not_its_file(tmp_path: Path) -> None:
    path = tmp_path / "some_file.yaml"
    path.write_text(TOKEN_MLP)
    result = archspec.check(str(path))
    assert not result.ok and result.name == "token_mlp"


UNET = """
archspec: 1
name: tiny_unet
input: [N, 3, H, W]
layers:
  - {name: enc, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: pool1, type: maxpool2d, kernel_size: 2}
  - {name: pool2, type: maxpool2d, kernel_size: 2}
  - {name: up2, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}
  - {name: up1, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}
  - {name: cat, type: concat, from: [up1, enc]}
  - {name: head, type: conv2d, out_channels: 2, kernel_size: 1}
"""


def test_a_unet_output_reads_as_its_input_size_on_the_domain() -> None:
    """The domain says H % 4 == 0; the output was `(N, 2, 4*(H//4), 4*(W//4))`, which is H."""
    result = archspec.check(UNET)
    assert result.ok and "H % 4 == 0 and W % 4 == 0" in result.domain_text
    assert str(result.outputs[0]) == str((Dim.of("N"), Dim.of(2), Dim.of("H"), Dim.of("W")))
    assert [str(d) for d in result.symbolic_outputs[0]] == ["N", "2", "H", "W"]


def test_simplify_on_multiples_keeps_what_it_cannot_write() -> None:
    from archspec.passes.multiples import on_multiples

    h = Dim.of("H")
    assert str(on_multiples(h.floordiv(16) * 2, "H", 16)) == "H//8"
    assert str(on_multiples(h.floordiv(16) * 16 + 3, "H", 16)) == "H + 3"
    assert str(on_multiples(h.floordiv(16) * 3, "H", 16)) == "3*(H//16)"  # 3 H / 16: kept
    assert str(on_multiples(h.floordiv(32) * 32, "H", 16)) == "32*(H//32)"  # not H at 16


def test_a_requirement_true_on_every_accepted_input_is_not_in_the_domain() -> None:
    """group_norm's "more than one value per group" was shown as `where also
    16*N*(H//4)*(W//4) - 1 >= 1`, which no accepted input breaks."""
    text = """
archspec: 1
name: gn
input: [N, 3, H, W]
layers:
  - {type: conv2d, out_channels: 16, kernel_size: 4, stride: 4}
  - {type: group_norm, num_groups: 1}
"""
    result = archspec.check(text)
    assert result.ok and result.domain_text.endswith("with H, W >= 4"), result.domain_text
    # one whose floors can be negative at the least input is kept: it is not monotone there
    from archspec.ops.base import Constraint
    from archspec.passes.intset import IntSet
    from archspec.passes.multiples import holds_everywhere

    h, w = Dim.of("H"), Dim.of("W")
    box = {"H": IntSet.at_least(1), "W": IntSet.at_least(1)}
    grows = Constraint("ge1", h.floordiv(4) * w + 1, None, "E405", "m", None, "n")
    shrinks = Constraint("ge1", (h - 5).floordiv(4) * w + 2, None, "E405", "m", None, "n")
    assert holds_everywhere(grows, [box]) and not holds_everywhere(shrinks, [box])


class _Decoder(torch.nn.Module):
    """A U-Net-style decoder step resized with F.interpolate (by a factor, then to a size)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.down = torch.nn.Conv2d(8, 8, 2, stride=2)
        self.fuse = torch.nn.Conv2d(16, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.enc(x)
        y = torch.nn.functional.interpolate(
            self.down(e), scale_factor=2, mode="bilinear", align_corners=False
        )
        z = self.fuse(torch.cat([y, e], dim=1))
        return torch.nn.functional.interpolate(z, size=(20, 20))


def test_f_interpolate_imports_as_the_interpolate_kind() -> None:
    """`F.interpolate` was E903 ("no layer kind computes it"), though `interpolate` does."""
    model = _Decoder().eval()
    text = archspec.from_module(model, torch.zeros(1, 3, 16, 16))
    assert "type: interpolate, mode: bilinear, scale_factor: 2.0, align_corners: false}" in text
    assert "type: interpolate, size: [20, 20]}" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x))


class _ListEncoder(torch.nn.Module):
    """A U-Net encoder as a ModuleList with a pool between its items."""

    def __init__(self) -> None:
        super().__init__()
        self.downs = torch.nn.ModuleList([torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 4, 1)])
        self.pool = torch.nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down in self.downs:
            x = self.pool(down(x))
        return x


def test_a_module_list_with_a_module_between_its_items_imports_entry_by_entry() -> None:
    """It was E904 "`self.downs` with other steps between them": the pool is a child of the
    encoder, not of the list, so each item is a node keyed `downs.0`, `downs.1`."""
    from .test_importer_gaps import exact

    text = exact(_ListEncoder(), (1, 3, 8, 8))
    assert "{key: downs.0, type: conv2d" in text and "{key: downs.1, type: conv2d" in text


class _DroppedList(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.downs = torch.nn.ModuleList([torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 4, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down in self.downs:
            x = torch.nn.functional.dropout(down(x), 0.1, self.training)
        return x


def test_a_module_list_with_steps_between_its_items_says_so() -> None:
    from archspec.errors import ImportFailure

    with pytest.raises(ImportFailure) as info:
        archspec.from_module(_DroppedList(), torch.zeros(1, 3, 8, 8))
    (diag,) = info.value.diagnostics
    assert "`self.downs` with other steps between them" in diag.message
    assert "nn.Sequential(block, nn.Dropout(p))" in (diag.hint or "")


def test_emitted_unet_reads_its_shapes_on_the_accepted_inputs() -> None:
    """The emitted docstring and comments said `Output: (N, 2, 4*(H//4), 4*(W//4))` for a
    U-Net that only takes multiples of 4, where `check` says `(N, 2, H, W)`."""
    source = archspec.emit(UNET)
    assert "Output: (N, 2, H, W)." in source
    assert "x = self.head(x)  # (N, 2, H, W)" in source
    assert "# (N, 4, H//2, W//2)" in source  # up2: 2*(H//4) on multiples of 4


def test_compile_says_the_output_check_says(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from archspec.cli import app

    spec = tmp_path / "tiny_unet.yaml"
    spec.write_text(UNET)
    result = CliRunner().invoke(app, ["compile", str(spec), "-o", str(tmp_path / "u.py")])
    assert result.exit_code == 0, result.output
    assert "input (N, 3, H, W) -> output (N, 2, H, W)" in result.output


def test_a_dropped_piece_of_a_split_is_no_warning() -> None:
    """timm's `x[:, 4:]` is the second piece of a split; the first, unread, is no mistake.
    A split none of whose pieces is read still warns."""
    kept = spec(
        """
        layers:
          - {type: split, split_size: [1, 2], dim: 1, names: [prefix, rest]}
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1, from: rest}
        """
    )
    assert not [d for d in archspec.build_graph(kept).diagnostics if d.code == "W401"]
    unread = spec(
        """
        layers:
          - {type: split, split_size: [1, 2], dim: 1, names: [prefix, rest]}
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
        """
    )
    codes = [d.code for d in archspec.build_graph(unread).diagnostics]
    assert codes == ["W401"]  # once per place: the pieces share the split's line


CORPORA = Path(__file__).resolve().parent


def test_every_error_of_the_broken_and_hostile_corpora_says_what_to_do() -> None:
    """Each diagnostic `check` gives for the broken and hostile files carries a hint: a type
    error (E202), a bound or choice (E204), an unknown field (E201), a complex key (E101)."""
    seen = 0
    for path in sorted([*CORPORA.glob("broken/*.yaml"), *CORPORA.glob("hostile/*.yaml")]):
        for d in archspec.check(path).diagnostics:
            assert d.hint, (path.name, d.code, d.message)
            seen += 1
    assert seen >= 190


@pytest.mark.parametrize(
    ("layer", "hint"),
    [
        ("{type: conv2d, out_channels: 4.5, kernel_size: 3}", "whole numbers"),
        ("{type: conv2d, out_channels: 4, kernel_size: 3, padding_mode: zero}", "`zeros`"),
        ("{type: conv2d, out_channels: [4], kernel_size: 3}", "not a list"),
    ],
)
def test_type_and_choice_errors_hint_at_the_fix(layer: str, hint: str) -> None:
    result = archspec.check(f"archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nlayers:\n  - {layer}\n")
    (d,) = result.errors
    assert hint in d.hint, d.render() if hasattr(d, "render") else d


def test_a_numbered_name_says_how_children_get_numbers() -> None:
    """Porting timm's selective kernel (`paths`, an nn.ModuleList of convs on one input,
    keys `paths.0`, `paths.1`) a new user keyed a parallel's branches "0" and "1": the hint
    only said to rename them. A number is what an unnamed item or `key:` gives, and numbered
    branches are items reading `input`, joined by name."""
    branches = spec(
        """
        layers:
          - name: paths
            type: parallel
            join: add
            branches:
              "0": {type: conv2d, out_channels: 8, kernel_size: 1}
              "1": {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(branches)
    hints = [d.hint or "" for d in info.value.diagnostics]
    assert len(hints) == 2 and all('`key: "' in h and "`from: input`" in h for h in hints)
    named = spec('layers:\n  - {name: "0", type: relu}\n')
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(named)
    (d,) = info.value.diagnostics
    assert d.code == "E204" and d.hint is not None
    assert "an item without a `name`" in d.hint and '`key: "0"`' in d.hint
    assert "parallel" not in d.hint
    # a number where no child is named (a param, a block, a repeat index) is just renamed
    others = spec(
        """
        params: {"0": 1}
        blocks:
          "1": {layers: [{type: relu}]}
        layers:
          - {type: repeat, count: 2, index: "2", layer: {type: relu}}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(others)
    hints = [d.hint or "" for d in info.value.diagnostics]
    assert len(hints) == 3 and all(h.startswith("rename it") for h in hints), hints
    # the way the hint points to builds the keys the ModuleList has
    fixed = spec(
        """
        blocks:
          Paths:
            layers:
              - {type: conv2d, out_channels: 8, kernel_size: 1, from: input}
              - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, from: input}
              - {name: out, type: add, from: ["0", "1"]}
        layers:
          - {name: paths, type: Paths}
        """
    )
    keys = list(archspec.compile(fixed, device="meta").state_dict())
    assert keys == ["paths.0.weight", "paths.0.bias", "paths.1.weight", "paths.1.bias"]
