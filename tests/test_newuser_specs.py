"""Networks archspec does not ship, written from the docs alone by a new user (issue 14's
independent check), each against a reference module written here in plain torch: what broke
on the way. A shortcut switched by `when` whose own entries are switched (ResNet-D's avg-pool
downsample) emitted unparsable source; `mean` and `permute` refused dims such as -2 that torch
takes; a `repeat` could not alternate layers as `for_each` does (PoolFormer's stage,
downsampling, stage list), and the error named the wrong thing; a spec param named like an
argument of `check` or `summary` (`depth`, shipped in specs/regnet.yaml) made `--set` an
internal error; an expression or description cut by YAML had a hint that did not say why."""

from __future__ import annotations

import textwrap
import types
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ArchSpecError

runner = CliRunner()


def _spec(name: str, body: str) -> str:
    return f"archspec: 1\nname: {name}\n" + textwrap.dedent(body).lstrip("\n")


def _emitted(text: str, cls: str) -> nn.Module:
    """The emitted source's network class, built (the source is archspec's own output)."""
    module = types.ModuleType("emitted_newuser")
    exec(compile(archspec.emit(text), "<emitted>", "exec"), module.__dict__)
    return getattr(module, cls)()


def _same(ours: nn.Module, ref: nn.Module, x: torch.Tensor, metadata: bool = False) -> None:
    """Keys, shapes and order (and with `metadata`, the per-module metadata in order); strict
    loads both ways; equal eval outputs."""
    theirs, mine = ref.state_dict(), ours.state_dict()
    assert [(k, v.shape) for k, v in mine.items()] == [(k, v.shape) for k, v in theirs.items()]
    if metadata:
        assert list(mine._metadata.items()) == list(theirs._metadata.items())  # type: ignore[attr-defined]
    torch.manual_seed(1)
    weights = OrderedDict(
        (k, 0.2 * torch.randn_like(v) if v.is_floating_point() else v) for k, v in theirs.items()
    )
    for k in weights:
        if k.endswith("running_var"):
            weights[k] = weights[k].abs() + 1.0
    ref.load_state_dict(weights, strict=True)
    ours.load_state_dict(weights, strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), ref.eval()(x))


# ResNet-D: the shortcut exists when the shape changes, and pools only when it strides.
RESNET_D = _spec(
    "resnet_d_blocks",
    """
    input: [N, 8, 16, 16]
    blocks:
      Block:
        params: {planes: int, stride: 1}
        layers:
          - type: residual
            body:
              - {name: conv1, type: conv2d, out_channels: planes, kernel_size: 3,
                 stride: stride, padding: 1, bias: false}
              - {name: bn1, type: batchnorm2d}
            shortcut:
              when: stride != 1 or in_channels != planes
              layers:
                - {type: avgpool2d, kernel_size: 2, stride: stride, ceil_mode: true,
                   count_include_pad: false, when: stride != 1}
                - {type: identity, when: stride == 1}
                - {type: conv2d, out_channels: planes, kernel_size: 1, bias: false}
                - {type: batchnorm2d}
            activation: relu
    layers:
      - {name: same, type: Block, planes: 8}
      - {name: wider, type: Block, planes: 16}
      - {name: down, type: Block, planes: 16, stride: 2}
    """,
)


class _BlockD(nn.Module):
    def __init__(self, inp: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inp != planes:
            pool = (
                nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
                if stride != 1
                else nn.Identity()
            )
            self.downsample = nn.Sequential(
                pool, nn.Conv2d(inp, planes, 1, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.bn1(self.conv1(x)) + identity)


class _NetD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.same = _BlockD(8, 8)
        self.wider = _BlockD(8, 16)
        self.down = _BlockD(16, 16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.wider(self.same(x)))


def test_a_switched_shortcut_whose_entries_are_switched_emits_one_class() -> None:
    source = archspec.emit(RESNET_D)
    assert "<if" not in source
    assert "            if stride != 1:\n                layers.append(" in source
    x = torch.randn(2, 8, 15, 15)  # odd: the pool's ceil_mode and count_include_pad count
    _same(archspec.compile(RESNET_D), _NetD(), x)
    _same(_emitted(RESNET_D, "ResnetDBlocks"), _NetD(), x)


NEGATIVE_DIMS = _spec(
    "negative_dims",
    """
    input: [N, 8, 6, 5]
    layers:
      - {name: p, type: permute, dims: [0, -1, 1, -2]}
      - {name: m, type: mean, dim: [-2, -1], keepdim: true}
      - {name: f, type: flatten, start_dim: -3}
    """,
)


def test_mean_and_permute_take_dims_counted_from_the_end_as_torch_does() -> None:
    x = torch.randn(2, 8, 6, 5)
    expected = x.permute(0, -1, 1, -2).mean([-2, -1], keepdim=True).flatten(-3)
    assert archspec.check(NEGATIVE_DIMS).ok
    assert torch.equal(archspec.compile(NEGATIVE_DIMS)(x), expected)
    assert torch.equal(_emitted(NEGATIVE_DIMS, "NegativeDims")(x), expected)


@pytest.mark.parametrize("dims", [[0, -5, 1, 2], [0, 4, 1, 2]])
def test_a_dim_out_of_range_is_still_refused_by_the_shape_rule(dims: list[int]) -> None:
    text = _spec("bad_dims", f"input: [N, 8, 6, 5]\nlayers:\n  - {{type: permute, dims: {dims}}}")
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E401" and "out of range" in d.message


# PoolFormer's layout: one list alternating stages (Sequentials of blocks) and downsamplings.
ALTERNATING = _spec(
    "alternating",
    """
    input: [N, 3, 16, 16]
    params:
      widths: [8, 16]
    blocks:
      Mixer:
        layers:
          - {name: pool, type: avgpool2d, kernel_size: 3, stride: 1, padding: 1,
             count_include_pad: false}
          - {name: out, type: add, from: [pool, input]}
      Down:
        params: {out: int}
        layers:
          - {name: proj, type: conv2d, out_channels: out, kernel_size: 3, stride: 2, padding: 1}
      Trunk:
        layers:
          - name: network
            type: repeat
            count: 2 * len(widths) - 1
            index: j
            layer:
              - {type: repeat, count: 2, when: j % 2 == 0, layer: {type: Mixer}}
              - {type: Down, when: j % 2 == 1, out: "widths[j // 2 + 1]"}
    layers:
      - {name: stem, type: conv2d, out_channels: "widths[0]", kernel_size: 1}
      - {name: trunk, type: Trunk}
    """,
)


class _Mixer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) + x


class _Down(nn.Module):
    def __init__(self, inp: int, out: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(inp, out, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class _Trunk(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.network = nn.Sequential(
            nn.Sequential(_Mixer(), _Mixer()), _Down(8, 16), nn.Sequential(_Mixer(), _Mixer())
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


class _Alternating(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1)
        self.trunk = _Trunk()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(self.stem(x))


def test_a_repeat_alternates_layers_chosen_by_their_when() -> None:
    x = torch.randn(2, 3, 16, 16)
    _same(archspec.compile(ALTERNATING), _Alternating(), x)
    _same(_emitted(ALTERNATING, "Alternating"), _Alternating(), x)
    result = archspec.check(ALTERNATING)
    assert result.ok and result.domain_text == "alternating accepts (N, 3, H, W) with H, W >= 1"


def test_a_copy_whose_alternatives_are_all_off_is_left_out() -> None:
    text = _spec(
        "none_on",
        """
        input: [N, 3, 8, 8]
        blocks:
          Body:
            layers:
              - name: body
                type: repeat
                count: 3
                layer:
                  - {type: relu, when: i > 5}
                  - {type: conv2d, out_channels: 4, kernel_size: 1, when: i > 5}
        layers:
          - {name: b, type: Body}
        """,
    )
    model = archspec.compile(text)
    assert len(model.b.body) == 0
    assert torch.equal(model(torch.ones(1, 3, 8, 8)), torch.ones(1, 3, 8, 8))


# A spec param named like an argument of `check` or `summary`.
DEPTH = _spec(
    "deep",
    """
    input: [N, 3, 8, 8]
    params:
      depth: 2
      variant: plain
    layers:
      - name: body
        type: repeat
        count: depth
        layer: {type: conv2d, out_channels: 4, kernel_size: 1}
    """,
)


def test_cli_sets_a_param_named_depth_or_variant(tmp_path: Path) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text(DEPTH)
    out = runner.invoke(app, ["summary", str(spec), "--set", "depth=3", "--depth", "1"])
    assert out.exit_code == 0, out.output
    assert "56 parameters" in out.output.replace("\n", " ")  # 1x1 convs 3 -> 4, 4 -> 4, 4 -> 4
    out = runner.invoke(app, ["check", str(spec), "--set", "variant=other", "--set", "depth=0"])
    assert out.exit_code == 0, out.output


def test_api_takes_params_as_a_mapping_and_refuses_one_given_twice() -> None:
    table = archspec.summary(DEPTH, params={"depth": 3}, depth=1)
    assert table.params == 16 + 20 + 20  # 3*4 + 4 (bias), then 4*4 + 4 twice
    assert archspec.check(DEPTH, params={"depth": 1, "variant": "x"}).ok
    with pytest.raises(TypeError, match="'depth' is given both"):
        archspec.check(DEPTH, params={"depth": 1}, depth=2)
    with pytest.raises(TypeError, match="mapping"):
        archspec.check(DEPTH, params=[("depth", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="params= is for specs"):
        archspec.summary(nn.Linear(3, 4), input_size=(1, 3), params={"depth": 1})


def test_summary_warns_that_its_depth_is_not_the_specs(recwarn: pytest.WarningsRecorder) -> None:
    """`summary(spec, depth=3)` of a spec with a param `depth` folds the table, as it does for
    any spec, where a WRN's author meant the network's depth (as compile, check and emit
    read it) and got the default network's parameters and MACs without a word. It warns,
    at the caller's line, naming `params=`, which sets the spec's."""
    with pytest.warns(UserWarning, match=r"param `depth` stays 2; to set it, give params=") as got:
        assert archspec.summary(DEPTH, depth=3).params == 16 + 20  # the default depth, 2
    assert got[0].filename == __file__
    recwarn.clear()
    assert archspec.summary(DEPTH, params={"depth": 3}).params == 16 + 20 + 20
    assert archspec.summary(DEPTH, params={"depth": 3}, depth=1).params == 16 + 20 + 20
    assert archspec.summary("lenet5", depth=1).params == archspec.summary("lenet5").params
    assert not recwarn.list


def test_an_expression_cut_at_its_comma_says_to_quote_it() -> None:
    text = _spec(
        "cut",
        """
        input: [N, 16, 8, 8]
        layers:
          - {type: conv2d, out_channels: max(8, in_channels // 4), kernel_size: 1}
        """,
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    first, second = info.value.diagnostics
    assert first.code == "E206" and first.hint is not None
    assert "inside a `{...}` mapping, an expression ends at its first comma" in first.hint
    assert second.code == "E201" and second.hint is not None
    assert "looks like the end of an expression cut at its comma" in second.hint


def test_a_description_with_a_colon_says_to_quote_it() -> None:
    text = "archspec: 1\nname: t\ndescription: ResNet-D (tricks): deep\ninput: [N, 3, 8, 8]\n"
    (d,) = archspec.check(text + "layers:\n  - {type: relu}\n").diagnostics
    assert d.code == "E101" and d.span is not None and (d.span.line, d.span.col) == (3, 31)
    assert d.hint is not None and "text holding `: ` is quoted" in d.hint


def test_a_failed_unnamed_item_is_not_followed_by_errors_about_its_guessed_output() -> None:
    # CIFAR ResNet's option-A shortcut with `in_channels` read where a permute moved the
    # channels: one error, not also the sum's channels (the skipped pad passed 16 on)
    text = _spec(
        "one_error",
        """
        input: [N, 16, 8, 8]
        layers:
          - type: residual
            body:
              - {name: conv1, type: conv2d, out_channels: 32, kernel_size: 1}
            shortcut:
              layers:
                - {type: permute, dims: [0, 2, 3, 1]}
                - {type: zero_pad2d, padding: "[in_channels // 2, in_channels // 2, 0, 0]"}
                - {type: permute, dims: [0, 3, 1, 2]}
        """,
    )
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E302" and d.span is not None and (d.span.line, d.span.col) == (11, 39)
    fixed = text.replace("in_channels // 2", "in_features // 2")
    assert archspec.check(fixed).ok


# PoolFormer's block: GroupNorm(1, C), the token mixer pool(x) - x, learned layer scales of
# shape (C,) unsqueezed to (C, 1, 1), an MLP of 1x1 convs.
POOLFORMER = _spec(
    "poolformer_block",
    """
    input: [N, 8, 7, 7]
    blocks:
      Pooling:
        layers:
          - {name: pool, type: avgpool2d, kernel_size: 3, stride: 1, padding: 1,
             count_include_pad: false}
          - {name: out, type: sub, from: [pool, input]}
      Block:
        params: {dim: int}
        layers:
          - {name: norm1, type: group_norm, num_groups: 1}
          - {name: token_mixer, type: Pooling}
          - {name: layer_scale_1, type: parameter, shape: [dim], value: 1.0e-5}
          - {name: ls1, type: reshape, shape: [0, 1, 1], from: layer_scale_1}
          - {name: mixed, type: mul, from: [ls1, token_mixer]}
          - {name: x1, type: add, from: [input, mixed]}
          - {name: norm2, type: group_norm, num_groups: 1}
          - name: mlp
            type: sequential
            layers:
              - {type: conv2d, out_channels: 4 * dim, kernel_size: 1}
              - {type: gelu}
              - {type: conv2d, out_channels: dim, kernel_size: 1}
          - {name: layer_scale_2, type: parameter, shape: [dim], value: 1.0e-5}
          - {name: ls2, type: reshape, shape: [0, 1, 1], from: layer_scale_2}
          - {name: mlp_out, type: mul, from: [ls2, mlp]}
          - {name: x2, type: add, from: [x1, mlp_out]}
    layers:
      - {name: block, type: Block, dim: 8}
    """,
)


class _Pooling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) - x


class _PoolFormerBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(1, dim)
        self.token_mixer = _Pooling()
        self.norm2 = nn.GroupNorm(1, dim)
        self.mlp = nn.Sequential(nn.Conv2d(dim, 4 * dim, 1), nn.GELU(), nn.Conv2d(4 * dim, dim, 1))
        self.layer_scale_1 = nn.Parameter(1e-5 * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(1e-5 * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.layer_scale_1.unsqueeze(-1).unsqueeze(-1) * self.token_mixer(self.norm1(x))
        return x + self.layer_scale_2.unsqueeze(-1).unsqueeze(-1) * self.mlp(self.norm2(x))


class _PoolFormer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = _PoolFormerBlock(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def test_sub_is_the_elementwise_difference_poolformer_mixes_tokens_with() -> None:
    x = torch.randn(2, 8, 7, 7)
    _same(archspec.compile(POOLFORMER), _PoolFormer(), x)
    _same(_emitted(POOLFORMER, "PoolformerBlock"), _PoolFormer(), x)
    assert "x = pool - x" in archspec.emit(POOLFORMER)
    bad = POOLFORMER.replace("from: [pool, input]}", "from: [pool, input, pool]}")
    (d,) = archspec.check(bad).diagnostics
    assert d.code == "E305" and "sub takes 2 inputs" in d.message


# MLP-Mixer's token MLP reads (N, D, L) tokens: its linear fixes L to its in-features, so the
# residual add after it cannot broadcast a 1 and the domain is what the reference accepts.
MIXER = _spec(
    "mixer",
    """
    input: [N, 3, 32, 32]
    layers:
      - {name: proj, type: conv2d, out_channels: 8, kernel_size: 8, stride: 8}
      - {name: tokens, type: flatten, start_dim: 2}
      - {name: nlc, type: permute, dims: [0, 2, 1]}
      - {name: t1, type: permute, dims: [0, 2, 1]}
      - {name: mlp_tokens, type: linear, out_features: 16}
      - {name: fc2, type: linear, out_features: 16}
      - {name: t2, type: permute, dims: [0, 2, 1]}
      - {name: mixed, type: add, from: [nlc, t2]}
    """,
)


def test_a_dim_an_earlier_layer_fixed_is_no_broadcast_and_the_domain_is_exact() -> None:
    result = archspec.check(MIXER)
    assert result.ok and not result.diagnostics
    domain = result.domain_text
    assert domain is not None and "32 <= H <= 39 and 32 <= W <= 39" in domain
    model = archspec.compile(MIXER).eval()
    for hw in [(32, 39), (8, 128), (135, 8), (40, 32), (16, 16), (8, 8)]:
        fits = (hw[0] // 8) * (hw[1] // 8) == 16
        assert archspec.check(MIXER, input=(1, 3, *hw)).ok == fits, hw
        if fits:
            assert model(torch.randn(1, 3, *hw)).shape == (1, 16, 8)
        else:
            with pytest.raises(RuntimeError):
                model(torch.randn(1, 3, *hw))


def test_compile_emit_and_load_take_params_as_a_mapping_too() -> None:
    """A spec param named like an argument of compile (`device`, `variant`) is set through
    `params=`; keywords and the mapping together give the same module."""
    spec = DEPTH.replace("variant: plain", "device: 4")
    spec = spec.replace("out_channels: 4", "out_channels: device")
    model = archspec.compile(spec, params={"device": 6}, depth=1)
    assert [m.out_channels for m in model.body] == [6]
    source = archspec.emit(spec, params={"depth": 5, "device": 3})
    assert "Emitted with depth=5" in source and "range(4)" in source
    assert "device: int = 3" in source
    lenet = archspec.load("lenet5", params={"num_classes": 7})
    assert lenet.state_dict()["classifier.output.weight"].shape[0] == 7
    with pytest.raises(TypeError, match="'depth' is given both"):
        archspec.compile(spec, params={"depth": 1}, depth=2)
