"""Families (`variants:`), `--variant`, built-in variant names, and `archspec show`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
import archspec.catalog
import archspec.compose
from archspec import api
from archspec.cli import app
from archspec.errors import ArchSpecError

runner = CliRunner()

FAMILY = """\
archspec: 1
name: tiny_family
class_name: TinyFamily
description: A family of tiny nets.
input: [N, 3, 32, 32]
params:
  width: {type: int, default: 16, ge: 1}
  depth: int
  drop: 0.0
variants:
  tiny_s: {class_name: TinyS, params: {width: 8, depth: 1}}
  tiny_l:
    description: The large one.
    params: {width: 32, depth: 3, drop: 0.25}
layers:
  - {name: body, type: repeat, count: depth,
     layer: {type: conv2d, out_channels: width, kernel_size: 3, padding: 1}}
  - {name: drop, type: dropout, p: drop}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: 10}
"""


@pytest.fixture
def family(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_family.yaml"
    path.write_text(FAMILY, encoding="utf-8")
    return path


def test_a_variant_sets_the_family_params(family: Path) -> None:
    small = archspec.compile(family, variant="tiny_s")
    large = archspec.compile(family, variant="tiny_l", width=24)  # --set still wins
    assert small._get_name() == "TinyS" and len(small.body) == 1 and small.fc.in_features == 8
    # tiny_l gives no class_name: the family's is its default, as description and input are
    assert large._get_name() == "TinyFamily" and len(large.body) == 3 and large.fc.in_features == 24
    graph = api.build_graph(family, variant="tiny_l")
    assert graph.name == "tiny_l" and graph.description == "The large one."
    assert graph.params["drop"] == 0.25
    assert api.build_graph(family, variant="tiny_s").description == "A family of tiny nets."


@pytest.mark.parametrize(
    ("variant", "edit", "message", "line"),
    [
        (None, None, "is a family of 2 variants; choose one", 10),
        ("tiny_m", None, "has no variant `tiny_m`", 10),
        ("tiny_s", ("width: 8", "widht: 8"), "does not declare", 11),
        ("tiny_s", ("class_name: TinyS", "klass: TinyS"), "unknown key `klass`", 11),
        # a param set beside `params:`: the hint says where it goes (it listed the keys)
        ("tiny_s", ("params: {width: 8, depth: 1}", "width: 8"), "set it under the variant", 11),
        ("tiny_s", ("{class_name: TinyS, params: {width: 8, depth: 1}}", "3"), "is a mapping", 11),
    ],
)
def test_variant_errors_are_located(
    family: Path, variant: str | None, edit: tuple[str, str] | None, message: str, line: int
) -> None:
    if edit is not None:
        family.write_text(FAMILY.replace(*edit), encoding="utf-8")
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(family, variant=variant, device="meta")
    err = info.value
    assert err.error_code == "E113" and message in err.render(), err.render()
    assert err.span is not None and (err.span.file, err.span.line) == (str(family), line)


def test_a_plain_spec_has_no_variants() -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.compile("lenet5", variant="x", device="meta")
    assert info.value.error_code == "E113"


def test_a_wrong_value_in_a_variant_points_at_the_variant(family: Path) -> None:
    family.write_text(FAMILY.replace("width: 32", "width: 0"), encoding="utf-8")
    result = archspec.check(family, variant="tiny_l")
    assert not result.ok
    diag = result.diagnostics[0]
    assert diag.code == "E309" and diag.span is not None and diag.span.line == 14, diag


def test_builtin_families_give_each_variant_a_name(
    family: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archspec.catalog, "builtin_dir", lambda: family.parent)
    index = api.builtin_index()
    assert index == {"tiny_s": (family, "tiny_s"), "tiny_l": (family, "tiny_l")}
    assert "tiny_family" not in api.builtin_specs()
    assert archspec.load("tiny_l").fc.in_features == 32
    assert archspec.check("tiny_s").ok
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "tiny_s" in result.stdout and "tiny_l" in result.stdout
    result = runner.invoke(app, ["check", "tiny_l", "--variant", "tiny_s"])
    assert result.exit_code == 1 and "E113" in result.stderr
    result = runner.invoke(app, ["list", "--names"])
    assert result.exit_code == 0 and result.stdout.split() == ["tiny_s", "tiny_l"]


def test_shipped_names_are_unique() -> None:
    """No variant of a family file shadows a plain spec or another family's variant (the
    index would keep only one of them)."""
    seen: list[str] = []
    for path in sorted(api.builtin_dir().glob("*.yaml")):
        data = archspec.loader.load_yaml(path.read_text(encoding="utf-8"), str(path)).data
        seen.extend(archspec.compose.variant_names(data) or [path.stem])
    assert len(seen) == len(set(seen)) == len(api.builtin_index())


def test_emitted_variant_says_how_to_regenerate_it(family: Path) -> None:
    source = archspec.emit(family, variant="tiny_l")
    lines = source.splitlines()
    assert lines[0].startswith("# Generated by archspec ")
    header = " ".join(ln.removeprefix("# ") for ln in lines[1:4] if ln.startswith("#"))
    # an absolute path: the file's name, the command run in the spec's folder
    assert header.endswith(
        "Regenerate, in the spec's folder: archspec compile tiny_family.yaml --variant tiny_l"
    )
    assert api.build_graph(family, variant="tiny_l").variant == "tiny_l"
    assert api.build_graph(family, variant="tiny_l", params={}).variant == "tiny_l"


def test_cli_takes_a_variant(family: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(family), "--variant", "tiny_l"])
    assert result.exit_code == 0, result.output
    assert "tiny_l (" in result.stdout and "(N, 10)" in result.stdout
    result = runner.invoke(app, ["check", str(family)])  # a family file: each variant
    assert result.exit_code == 0, result.output
    assert "tiny_s (" in result.stdout and "tiny_l (" in result.stdout
    assert "checked 2 specs: 2 ok" in result.stdout
    result = runner.invoke(app, ["compile", str(family), "-o", str(tmp_path / "all.py")])
    assert result.exit_code == 0, result.output  # a family file: one module of every variant
    assert "wrote " in result.stdout and "2 variants" in result.stdout
    assert "def tiny_l(" in (tmp_path / "all.py").read_text()
    out = tmp_path / "tiny_s.py"
    result = runner.invoke(app, ["compile", str(family), "--variant", "tiny_s", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "class TinyS(nn.Module)" in out.read_text() or "class TinyS(" in out.read_text()
    for command in (["emit"], ["summary"], ["graph"]):
        result = runner.invoke(app, [*command, str(family), "--variant", "tiny_s"])
        assert result.exit_code == 0, (command, result.output)


def test_show_prints_a_spec_that_compiles_to_the_same_module(family: Path, tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            archspec: 1
            name: net
            input: [N, 64, 16, 16]
            use:
              - {from: "archspec:blocks/resnet", blocks: [{Bottleneck: Bneck}]}
              - {from: "archspec:blocks/inception", blocks: [Inception]}
            blocks:
              BasicConv2d: {layers: [{type: relu}]}
            layers:
              - {name: b, type: Bneck, planes: 16, stride: 2}
              - {name: i, type: Inception, ch1x1: 8, ch3x3red: 8, ch3x3: 8, ch5x5red: 8,
                 ch5x5: 8, pool_proj: 8}
              - {name: own, type: BasicConv2d}
            """
        ),
        encoding="utf-8",
    )
    for source, variant in ((spec, None), (family, "tiny_l")):
        result = runner.invoke(
            app, ["show", str(source), *(["--variant", variant] * bool(variant))]
        )
        assert result.exit_code == 0, result.output
        assert "use:" not in result.stdout and "variants:" not in result.stdout
        shown = tmp_path / "shown.yaml"
        shown.write_text(result.stdout, encoding="utf-8")
        a = archspec.compile(source, variant=variant)
        b = archspec.compile(shown)
        assert str(a) == str(b)
        assert list(a.state_dict()) == list(b.state_dict())
        b.load_state_dict(a.state_dict())
        x = torch.randn(2, *a_input(source))
        assert torch.equal(a.eval()(x), b.eval()(x))


def a_input(source: Path) -> tuple[int, ...]:
    return (64, 16, 16) if source.name == "net.yaml" else (3, 32, 32)


FAMILY_FILE = Path(__file__).resolve().parent.parent / "specs" / "resnet.yaml"


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_the_resnet_family_zero_inits_the_last_bn_of_its_block(name: str) -> None:
    """One init rule per block choice: `zero_init_residual` zeroes BasicBlock's bn2 in
    resnet18 and Bottleneck's bn3 in resnet50, and the file's variant is the built-in name."""
    torch.manual_seed(0)
    builtin = archspec.load(name, zero_init_residual=True)
    torch.manual_seed(0)
    family = archspec.compile(FAMILY_FILE, variant=name, zero_init_residual=True)
    last = "bn2" if name == "resnet18" else "bn3"
    assert not getattr(family.layer1[0], last).weight.any()
    assert family.layer1[0].bn1.weight.all()
    assert name == "resnet18" or family.layer1[0].bn2.weight.all()
    assert all(torch.equal(v, builtin.state_dict()[k]) for k, v in family.state_dict().items())
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(builtin.eval()(x), family.eval()(x))


def test_a_block_param_names_a_block(family: Path) -> None:
    text = FAMILY.replace(
        "  drop: 0.0\n", "  drop: 0.0\n  unit: {type: block, default: Conv}\n"
    ).replace(
        "layer: {type: conv2d, out_channels: width, kernel_size: 3, padding: 1}",
        "layer: {type: unit, c: width}",
    ) + (
        "blocks:\n  Conv: {params: {c: int}, layers: [{type: conv2d, out_channels: c, "
        "kernel_size: 3, padding: 1}]}\n"
    )
    family.write_text(text, encoding="utf-8")
    model = archspec.compile(family, variant="tiny_l")
    assert model.body[2]._get_name() == "Conv" and model.fc.in_features == 32
    assert api.build_graph(family, variant="tiny_s").params["unit"] == "Conv"
    result = archspec.check(family, variant="tiny_s", unit="Other")
    assert [d.code for d in result.diagnostics] == ["E309"]  # fixed when composed
    family.write_text(text.replace("default: Conv}", "default: Conw}"), encoding="utf-8")
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(family, variant="tiny_s")
    assert info.value.error_code == "E115" and "did you mean `Conv`" in info.value.render()
    assert info.value.span is not None and info.value.span.line == 10


VGG_FILE = FAMILY_FILE.parent / "vgg.yaml"


def test_vgg_custom_extends_the_vgg_family() -> None:
    """vgg_custom.yaml is vgg11 with its own cfg: the features change, the rest is vgg11's."""
    custom = archspec.compile("vgg_custom", device="meta")
    vgg11 = archspec.compile(VGG_FILE, variant="vgg11", device="meta")
    assert custom._get_name() == "VGGCustom"
    convs = [m.out_channels for m in custom.features if isinstance(m, torch.nn.Conv2d)]
    assert convs == [64, 64, 64, 128, 128, 128, 256, 256, 256]
    assert custom.classifier[0].in_features == 256 * 7 * 7
    assert [str(m) for m in custom.classifier][1:] == [str(m) for m in vgg11.classifier][1:]


BLOCK_FAMILY = """\
archspec: 1
name: units
input: [N, 8, 8, 8]
params:
  unit: {type: block, default: Plain}
variants:
  units_plain: {}
  units_res: {params: {unit: Res}}
blocks:
  Plain:
    layers: [{name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}]
  Res:
    layers:
      - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {name: out, type: add, from: [conv, input]}
layers:
  - {name: b1, type: unit}
  - {name: b2, type: unit}
"""


@pytest.mark.parametrize(
    ("override", "want"),
    [
        ("params: {unit: Res}", "Res"),  # a value for the base's block param
        ("params: {unit: {type: block, default: Res}}", "Res"),  # a declaration
        ("blocks: {Plain: Res}", "Res"),  # a swap moves the choice too
        ("description: no change", "Plain"),
    ],
)
def test_an_extends_chooses_the_block_of_a_block_param(
    tmp_path: Path, override: str, want: str
) -> None:
    """The docs: the choice is made by the default, a variant or an `extends:`. The base was
    resolved before the extension applied, so `params: {unit: Res}` was E309 "not one of
    ['Plain']" with a hint that the param is `type: str`."""
    (tmp_path / "units.yaml").write_text(BLOCK_FAMILY, encoding="utf-8")
    spec = tmp_path / "mine.yaml"
    head = "archspec: 1\nextends: {from: units.yaml, variant: units_plain}\nname: mine\n"
    spec.write_text(head + override + "\n", encoding="utf-8")
    model = archspec.compile(spec)
    assert [type(model.b1).__name__, type(model.b2).__name__] == [want, want]
    assert api.build_graph(spec).params["unit"] == want
    spec.write_text(head + "params: {unit: Rez}\n", encoding="utf-8")
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(spec)
    assert info.value.error_code == "E115" and "did you mean `Res`" in info.value.render()
    assert info.value.span is not None and (info.value.span.file, info.value.span.line) == (
        str(spec),
        4,
    )


def test_set_of_a_block_param_says_what_chooses_a_block(tmp_path: Path) -> None:
    """--set cannot switch blocks (documented); the hint said the param was declared
    `type: str`, which the spec never wrote."""
    family = tmp_path / "units.yaml"
    family.write_text(BLOCK_FAMILY, encoding="utf-8")
    result = archspec.check(family, variant="units_plain", unit="Res")
    (diag,) = result.diagnostics
    assert diag.code == "E309" and "'Res' is not one of ['Plain']" in diag.message
    assert diag.hint is not None and "type: str" not in diag.hint
    assert "`unit` is a block param" in diag.hint and "--set cannot switch blocks" in diag.hint
