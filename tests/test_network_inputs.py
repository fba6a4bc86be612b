"""A network of several inputs (the header's `inputs:`): a conditional GAN's `G(z, label)` and
a Siamese pair through one shared tower, checked (every input printed, the domain over all of
them), compiled against torch modules written here (same keys, same numbers), and refused
where a spec gets the form wrong, each error at its line."""

from __future__ import annotations

import ast
import inspect
import json
import pickle
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import archspec
from archspec.backends.pysource import render_module
from archspec.cli import app
from archspec.errors import ArchSpecError

from .emit_helpers import _load

runner = CliRunner()

CGAN = textwrap.dedent(
    """\
    archspec: 1
    name: cgan_generator
    class_name: Generator
    inputs:
      z: [N, 100]
      label: {shape: [N], dtype: int64}
    params:
      num_classes: 10
    layers:
      - {name: embed, type: embedding, num_embeddings: num_classes, embedding_dim: num_classes,
         from: label}
      - {name: cat, type: concat, from: [z, embed], dim: 1}
      - {name: fc1, type: linear, out_features: 256}
      - {type: relu}
      - {name: fc2, type: linear, out_features: 784}
      - {type: tanh}
      - {name: image, type: unflatten, dim: 1, unflattened_size: [1, 28, 28]}
    """
)

SIAMESE = textwrap.dedent(
    """\
    archspec: 1
    name: siamese
    inputs:
      x1: [N, 3, H, W]
      x2: [N, 3, H, W]
    layers:
      - name: tower
        type: sequential
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2}
          - {type: relu}
          - {type: adaptive_avgpool2d, output_size: 1}
          - {type: flatten}
      - {name: tower2, type: reuse, node: tower, from: x2}
      - {name: diff, type: sub, from: [tower, tower2]}
      - {name: head, type: linear, out_features: 1}
    """
)


class Generator(nn.Module):
    """The conditional GAN's generator as one writes it in torch."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 10)
        self.fc1 = nn.Linear(110, 256)
        self.fc2 = nn.Linear(256, 784)

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        x = torch.cat([z, self.embed(label)], 1)
        x = torch.tanh(self.fc2(torch.relu(self.fc1(x))))
        return x.unflatten(1, (1, 28, 28))


class Siamese(nn.Module):
    """The Siamese pair: one tower called on each view."""

    def __init__(self) -> None:
        super().__init__()
        self.tower = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(8, 1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.head(self.tower(x1) - self.tower(x2))


def _same_as(ours: nn.Module, theirs: nn.Module, *inputs: torch.Tensor) -> None:
    """Same state_dict keys and shapes; with the same weights, the same outputs."""
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    ours.load_state_dict(theirs.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(*inputs), theirs.eval()(*inputs))


# -- check -----------------------------------------------------------------------------------


def _file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return str(path)


def test_check_prints_every_input_and_the_domain_over_them(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", _file(tmp_path, CGAN)])
    assert result.exit_code == 0, result.output
    assert "  input   z (N, 100)\n  input   label (N) int64\n" in result.stdout
    assert "cgan_generator accepts z (N, 100), label (N) int64" in result.stdout
    report = archspec.check(CGAN)
    assert report.input_names == ("z", "label")
    assert report.outputs == ((archspec.api.Dim.of("N"), *map(archspec.api.Dim.of, (1, 28, 28))),)


def test_check_json_carries_each_input_by_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--json", _file(tmp_path, CGAN)])
    assert result.exit_code == 0, result.output
    (data,) = json.loads(result.stdout)
    assert data["inputs"] == {
        "z": {"shape": "(N, 100)", "symbolic": "(N, 100)", "dtype": "float32"},
        "label": {"shape": "(N)", "symbolic": "(N)", "dtype": "int64"},
    }
    assert data["input"] == "(N, 100)"  # the first input, which is also `input`


def test_a_symbol_two_inputs_share_is_one_size() -> None:
    """The Siamese pair's H and W are the one pair of sizes both towers take."""
    report = archspec.check(SIAMESE)
    assert report.ok, report.render()
    assert report.domain_text == ("siamese accepts x1 (N, 3, H, W), x2 (N, 3, H, W) with H, W >= 3")


def test_the_domain_ties_the_sizes_of_two_inputs_a_layer_joins() -> None:
    """A mask at half the image's size: the domain says how their sizes must agree, and a
    declared pair that breaks the join is an error whose hint leads with that domain."""
    text = textwrap.dedent(
        """\
        archspec: 1
        name: two
        inputs:
          img: [N, 3, 64, 64]
          mask: [N, 1, 32, 32]
        layers:
          - {name: pool, type: maxpool2d, kernel_size: 2}
          - {name: cat, type: concat, from: [pool, mask]}
          - {type: conv2d, out_channels: 8, kernel_size: 3}
        """
    )
    report = archspec.check(text)
    assert report.ok, report.render()
    assert report.domain_text == (
        "two accepts img (N, 3, H, W), mask (N, 1, H2, W2) with H, W >= 6 and H2, W2 >= 1, "
        "where also H2 == H//2 and W2 == W//2"
    )
    broken = archspec.check(text.replace("[N, 1, 32, 32]", "[N, 1, 31, 32]"))
    (error,) = broken.errors
    assert (error.code, error.span.line) == ("E403", 8)
    assert error.hint.startswith("two accepts img (N, 3, H, W), mask (N, 1, H2, W2) with")


def test_one_input_shape_given_to_a_network_of_several_is_refused_at_its_inputs() -> None:
    report = archspec.check(SIAMESE, input=(1, 3, 32, 32))
    (error,) = report.errors
    assert error.code == "E407" and error.span.line == 4
    assert "takes 2 inputs (x1, x2)" in error.message


# -- errors ----------------------------------------------------------------------------------


def _error(text: str) -> tuple[str, int, int, str, str]:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    d = info.value.diagnostics[0]
    assert d.span is not None
    return d.code, d.span.line, d.span.col, d.message, d.hint or ""


def test_an_input_named_like_a_layer_is_refused_at_the_layer() -> None:
    text = CGAN.replace("{name: fc1,", "{name: z,")
    code, line, _, message, hint = _error(text)
    assert (code, line) == ("E304", 13)
    assert "duplicate name `z`" in message and "the network's `inputs:`" in hint


def test_an_unknown_name_in_from_lists_the_inputs() -> None:
    text = CGAN.replace("from: [z, embed]", "from: [zz, embed]")
    code, line, col, message, hint = _error(text)
    assert (code, line, col) == ("E305", 12, 38)
    assert message == "unknown reference `zz`" and "did you mean `z`" in hint


def test_an_int64_input_into_a_conv_is_refused_where_it_is_read() -> None:
    text = textwrap.dedent(
        """\
        archspec: 1
        name: net
        inputs:
          img: [N, 3, 8, 8]
          ids: {shape: [N, 3, 8, 8], dtype: int64}
        layers:
          - {name: a, type: conv2d, out_channels: 4, kernel_size: 3}
          - {name: b, type: conv2d, out_channels: 4, kernel_size: 3, from: ids}
          - {name: s, type: add, from: [a, b]}
        """
    )
    code, line, _, message, _ = _error(text)
    assert (code, line) == ("E401", 8)
    assert "reads `ids`, an int64 tensor" in message


def test_a_float_input_into_an_embedding_says_how_to_give_its_dtype() -> None:
    code, line, _, message, hint = _error(CGAN.replace("{shape: [N], dtype: int64}", "[N]"))
    assert (code, line) == ("E401", 10)
    assert "`label` is a float tensor" in message
    assert "`label: {shape: [N], dtype: int64}`" in hint


@pytest.mark.parametrize(
    ("header", "code", "line", "words"),
    [
        ("input: [N, 100]\ninputs: {z: [N, 100], y: [N]}", "E204", 3, "`input` and `inputs`"),
        ("input_dtype: int64\ninputs: {z: [N, 100], y: [N]}", "E204", 3, "`input_dtype` and"),
        ("inputs: {z: [N, 100]}", "E204", 3, "at least 2 items"),
        ("description: no input", "E203", 1, "missing required field `input`"),
        ("inputs: {z: [N, 100], y: {shape: [N], dtype: int32}}", "E204", 3, "int32"),
        ("inputs: {z: [N, 100], y: [N, 0]}", "E204", 3, "greater than or equal to 1"),
        ("params: {y: 3}\ninputs: {z: [N, 100], y: [N]}", "E304", 4, "a param of the spec"),
        ("inputs: {z: [N, 100], y: [N, nz]}\nparams: {nz: 4}", "E304", 3, "not the param"),
    ],
)
def test_a_header_of_the_wrong_form_is_one_located_error(
    header: str, code: str, line: int, words: str
) -> None:
    text = f"archspec: 1\nname: net\n{header}\nlayers:\n  - {{type: relu}}\n"
    got = _error(text)
    assert got[:2] == (code, line), got
    assert words in got[3], got


def test_an_input_no_layer_reads_is_a_warning_at_the_input() -> None:
    text = SIAMESE.replace("from: x2}", "from: x1}")
    report = archspec.check(text)
    (warning,) = report.warnings
    assert (warning.code, warning.span.line) == ("W401", 5)
    assert warning.message == "input `x2` of the network is never used"


# -- compile -------------------------------------------------------------------------------


def test_compile_matches_a_hand_written_conditional_generator() -> None:
    model = archspec.compile(CGAN)
    assert list(inspect.signature(model.forward).parameters) == ["z", "label"]
    assert list(inspect.signature(type(model).forward).parameters) == ["self", "z", "label"]
    torch.manual_seed(0)
    z, label = torch.randn(4, 100), torch.tensor([0, 3, 9, 3])
    _same_as(model, Generator(), z, label)
    with torch.no_grad():  # called by keyword, as the hand-written one is
        torch.testing.assert_close(model(z=z, label=label), model(z, label))


def test_compile_matches_a_hand_written_siamese_pair() -> None:
    model = archspec.compile(SIAMESE)
    torch.manual_seed(0)
    x1, x2 = torch.randn(2, 3, 17, 17), torch.randn(2, 3, 17, 17)
    _same_as(model, Siamese(), x1, x2)


def test_a_compiled_network_of_several_inputs_pickles_and_traces() -> None:
    """Its class (named after the spec) comes back with its forward's names; torch.fx
    traces it, reading `forward(self, z, label)` from the class."""
    model = archspec.compile(CGAN).eval()
    z, label = torch.randn(2, 100), torch.tensor([1, 2])
    again = pickle.loads(pickle.dumps(model))
    assert list(inspect.signature(again.forward).parameters) == ["z", "label"]
    traced = torch.fx.symbolic_trace(model)
    assert "def forward(self, z, label)" in traced.code
    with torch.no_grad():
        torch.testing.assert_close(again(z, label), model(z, label))
        torch.testing.assert_close(traced(z, label), model(z, label))


def test_a_variant_and_an_extending_spec_change_the_inputs(tmp_path: Path) -> None:
    folder = tmp_path
    family = SIAMESE.replace(
        "layers:\n  - name: tower",
        "variants:\n  pair: {}\n  fixed:\n    inputs: {x1: [N, 3, 32, 32], x2: [N, 3, 32, 32]}\n"
        "  one:\n    input: [N, 3, 16, 16]\nlayers:\n  - name: tower",
        1,
    )
    (folder / "siamese.yaml").write_text(family)
    fixed = archspec.check(folder / "siamese.yaml", variant="fixed")
    assert fixed.ok and fixed.inputs_text(symbolic=False) == "x1 (N, 3, 32, 32), x2 (N, 3, 32, 32)"
    one = archspec.check(folder / "siamese.yaml", variant="one")  # x2 is no input any more
    assert [(d.code, d.message) for d in one.errors] == [("E305", "unknown reference `x2`")]
    (folder / "big.yaml").write_text(
        "archspec: 1\nextends: {from: siamese.yaml, variant: pair}\nname: big\n"
        "inputs: {x1: [N, 3, 64, 64], x2: [N, 3, 64, 64]}\n"
    )
    big = archspec.check(folder / "big.yaml")
    assert big.ok, big.render()
    assert big.inputs_text(symbolic=False) == "x1 (N, 3, 64, 64), x2 (N, 3, 64, 64)"
    assert archspec.compile(folder / "big.yaml")(
        torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    ).shape == (1, 1)


def test_the_json_schema_takes_one_form_of_input_or_the_other() -> None:
    import jsonschema
    import yaml

    from archspec.schema import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    spec = yaml.safe_load(CGAN)
    assert validator.is_valid(spec)
    assert not validator.is_valid({**spec, "input": [1, 100]})
    assert not validator.is_valid({**spec, "input_dtype": "int64"})
    assert not validator.is_valid({k: v for k, v in spec.items() if k != "inputs"})


# -- emit ------------------------------------------------------------------------------------


def _emitted(text: str) -> tuple[str, nn.Module]:
    """The emitted source of `text` (parsed with ast before anything runs it) and an
    instance of its network class."""
    graph = archspec.build_graph(text)
    source = render_module(graph)
    ast.parse(source)
    return source, getattr(_load(source, graph.name), graph.class_name)()


@pytest.mark.parametrize(
    ("text", "inputs"),
    [
        (CGAN, (torch.randn(3, 100), torch.tensor([4, 0, 9]))),
        (SIAMESE, (torch.randn(2, 3, 19, 23), torch.randn(2, 3, 19, 23))),
    ],
    ids=["cgan", "siamese"],
)
def test_emitted_source_computes_what_compile_computes(text: str, inputs: tuple) -> None:
    _, ours = _emitted(text)
    reference = archspec.compile(text)
    _same_as(ours, reference, *inputs)
    assert list(inspect.signature(ours.forward).parameters) == list(
        inspect.signature(reference.forward).parameters
    )


def test_emitted_source_reads_like_the_hand_written_one() -> None:
    source, _ = _emitted(SIAMESE)
    assert "    Inputs: x1 (N, 3, H, W), x2 (N, 3, H, W). Output: (N, 1).\n" in source
    assert "    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:\n" in source
    assert "        # x1: (N, 3, H, W)\n        # x2: (N, 3, H, W)\n" in source
    assert "        tower = self.tower(x1)  # (N, 8)\n" in source
    assert "        tower2 = self.tower(x2)  # (N, 8)\n" in source
    source, _ = _emitted(CGAN)
    assert "Inputs: z (N, 100), label (N) int64. Output: (N, 1, 28, 28)." in source
    assert "        embed = self.embed(label)  # (N, num_classes)\n" in source
    assert "        self.fc1 = nn.Linear(100 + num_classes, 256)\n" in source


def test_inputs_named_like_the_files_names_are_renamed_in_emitted_source() -> None:
    """`torch`, `F` and a builtin as inputs: the compiled forward takes them as written,
    emitted source with a `_` (as a block's inputs are), and both compute alike."""
    text = textwrap.dedent(
        """\
        archspec: 1
        name: clash
        inputs: {torch: [N, 4], F: [N, 4], len: [N, 4], x: [N, 4]}
        layers:
          - {name: a, type: add, from: [torch, F]}
          - {name: b, type: add, from: [len, x]}
          - {name: c, type: mul, from: [a, b]}
          - {name: fc, type: linear, out_features: 2}
        """
    )
    source, ours = _emitted(text)
    assert "def forward(self, torch_: torch.Tensor, F_: torch.Tensor, len_: torch.Tensor, x:" in (
        source
    )
    model = archspec.compile(text)
    assert list(inspect.signature(model.forward).parameters) == ["torch", "F", "len", "x"]
    _same_as(ours, model, *(torch.randn(2, 4) for _ in range(4)))


# -- summary, graph, diff, ONNX ----------------------------------------------------------------


def test_summary_names_each_input_and_totals_at_all_of_them() -> None:
    text = archspec.summary(SIAMESE.replace("[N, 3, H, W]", "[N, 3, 32, 32]", 1)).to_text(200)
    head = text.splitlines()[0]
    # x1's declared sizes become symbols of their own, which x2's `H`, `W` have taken
    assert head == "siamese  input x1 (N, 3, H2, W2), x2 (N, 3, H, W)"
    data = archspec.summary(CGAN).to_dict()
    assert data["inputs"] == {
        "z": {"shape": "(N, 100)", "dtype": "float32"},
        "label": {"shape": "(N)", "dtype": "int64"},
    }
    assert data["example"]["inputs"] == {"z": "(1, 100)", "label": "(1)"}
    cgan = archspec.summary(CGAN).to_text(200)
    assert "MACs x N at z (N, 100), label (N) (" in cgan.replace("\n", " ")


def test_summary_at_declared_sizes_of_both_inputs_counts_both_towers() -> None:
    """x1 at 32x32, x2 at 64x64: the example's MACs put each input's sizes in its own
    symbols (x2's `H2`, `W2`), so the total is both towers' at their own sizes."""
    text = SIAMESE.replace("x1: [N, 3, H, W]", "x1: [N, 3, 32, 32]").replace(
        "x2: [N, 3, H, W]", "x2: [N, 3, 64, 64]"
    )
    summary = archspec.summary(text)
    tower = 8 * 3 * 3 * 3  # MACs per output position of the conv
    assert summary.example_macs == tower * (15 * 15 + 31 * 31) + 8
    assert "at x1 (N, 3, 32, 32), x2 (N, 3, 64, 64)" in summary.to_text(300)


def test_graph_draws_one_input_box_per_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["graph", _file(tmp_path, CGAN)])
    assert result.exit_code == 0, result.output
    assert '":input" [label="input z\\n(N, 100)"' in result.stdout
    assert '":input:label" [label="input label\\n(N) int64"' in result.stdout
    assert '":input:label" -> "embed" [label=" (N)"];' in result.stdout


def test_diff_of_networks_of_several_inputs(tmp_path: Path) -> None:
    wider = CGAN.replace("out_features: 256}", "out_features: 512}")
    result = archspec.diff(CGAN, wider)
    assert [k for k, _, _ in result.changed] == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert result.a.macs == 100 * 0 + 110 * 256 + 256 * 784


def test_onnx_export_takes_one_example_per_input(tmp_path: Path) -> None:
    import onnx

    from archspec.interop import export_onnx

    model = archspec.compile(SIAMESE).eval()
    views = (torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16))
    path = export_onnx(model, views, tmp_path / "siamese.onnx")
    inputs = onnx.load(path).graph.input
    assert [i.name for i in inputs] == ["x1", "x2"]
    assert [d.dim_param for d in inputs[0].type.tensor_type.shape.dim][:1] == ["batch"]


def test_a_packaged_network_of_several_inputs_loads_and_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`archspec.load` of a spec an installed package ships, and `archspec list`'s size line."""
    from archspec import spec_plugins

    from .test_discovery import install, package

    monkeypatch.delenv("ARCHSPEC_NO_PLUGINS", raising=False)
    spec_plugins.reset()
    try:
        package(tmp_path, "pair_pkg", {"pairnet.yaml": SIAMESE.replace("siamese", "pairnet")})
        install(tmp_path, "zoo = pair_pkg", name="pair_specs")
        monkeypatch.syspath_prepend(str(tmp_path))
        model = archspec.load("pairnet")
        assert list(inspect.signature(model.forward).parameters) == ["x1", "x2"]
        x = torch.randn(1, 3, 9, 9)
        assert model(x, x).shape == (1, 1)
        result = runner.invoke(app, ["list", "pairnet"])
        assert result.exit_code == 0, result.output
        assert "pairnet" in result.stdout
    finally:
        spec_plugins.reset()


# -- import ----------------------------------------------------------------------------------


def test_import_writes_a_forward_of_several_tensors_as_inputs() -> None:
    """`from_module(model, (z, label))`: one example per input, each input by its forward
    argument's name and shape, the int64 one with its dtype; the spec compiles back to the
    model's keys and outputs (from_module checks both), and to the same numbers here."""
    model = Generator().eval()
    z, label = torch.randn(2, 100), torch.tensor([1, 7])
    text = archspec.from_module(model, (z, label))
    assert "inputs:\n  z: [N, 100]\n  label: {shape: [N], dtype: int64}\n" in text
    assert "from: label" in text
    _same_as(archspec.compile(text), model, z, label)
    siamese = Siamese().eval()
    views = (torch.randn(1, 3, 20, 20), torch.randn(1, 3, 20, 20))
    text = archspec.from_module(siamese, views)
    assert "inputs:\n  x1: [N, 3, 20, 20]\n  x2: [N, 3, 20, 20]\n" in text
    assert "{name: tower_1, type: reuse, from: x2, node: tower}" in text
    _same_as(archspec.compile(text), siamese, *views)


@pytest.mark.parametrize(
    ("model", "example", "said"),
    [
        (Generator(), torch.randn(1, 100), "takes 2 inputs (z, label), and 1 example was given"),
        (
            nn.Sequential(nn.Linear(4, 2)),
            (torch.randn(1, 4), torch.randn(1, 4)),
            "takes 1 input, and 2 examples were given",
        ),
    ],
)
def test_import_refuses_another_number_of_examples_than_forward_takes(
    model: nn.Module, example: object, said: str
) -> None:
    from archspec.errors import ImportFailure

    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model.eval(), example)
    assert info.value.error_code == "E904" and said in str(info.value), info.value.render()


def test_cli_import_takes_one_input_option_per_input(tmp_path: Path) -> None:
    (tmp_path / "gan_nets.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class G(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.embed = nn.Embedding(10, 10)\n"
        "        self.fc = nn.Linear(110, 16)\n\n"
        "    def forward(self, z, label):\n"
        "        return self.fc(torch.cat([z, self.embed(label)], 1))\n"
    )
    factory = f"{tmp_path / 'gan_nets.py'}:G"
    args = ["import", factory, "--input", "1,100", "--input", "1"]
    result = runner.invoke(app, [*args, "--input-dtype", "float32", "--input-dtype", "int64"])
    assert result.exit_code == 0, result.output
    assert "  label: {shape: [N], dtype: int64}\n" in result.stdout
    assert "domain  G accepts z (N, 100), label (N) int64" in result.stderr
    one = runner.invoke(app, ["import", factory, "--input", "1,100"])
    assert one.exit_code == 1 and "takes 2 inputs (z, label), and 1 example" in one.output
    three = runner.invoke(app, [*args, *["--input-dtype", "int64"] * 3])
    assert three.exit_code == 1 and "2 input shapes and 3 dtypes were given" in three.output


# -- other input sizes -------------------------------------------------------------------------


def test_check_and_summary_take_one_input_shape_per_input(tmp_path: Path) -> None:
    """`--input` once per input (`input=` a list of shapes in Python): each walked at its
    own sizes, a join that breaks there located; another count, rank or channel count of
    one input is E407 naming that input."""
    text = SIAMESE.replace("x1: [N, 3, H, W]", "x1: [N, 3, 32, 32]").replace(
        "x2: [N, 3, H, W]", "x2: [N, 3, 32, 32]"
    )
    path = _file(tmp_path, text)
    result = runner.invoke(app, ["check", path, "--input", "2,3,40,40", "--input", "2,3,24,24"])
    assert result.exit_code == 0, result.output
    assert "  input   x1 (2, 3, 40, 40)\n  input   x2 (2, 3, 24, 24)\n  output  (2, 1)\n" in (
        result.stdout
    )
    summary = archspec.summary(text, input=[(2, 3, 40, 40), (2, 3, 24, 24)])
    assert (
        summary.to_text(200).splitlines()[0]
        == "siamese  input x1 (2, 3, 40, 40), x2 (2, 3, 24, 24)"
    )
    assert summary.macs.value == 2 * (216 * (19 * 19 + 11 * 11) + 8)  # each tower at its size
    for given, said in [
        ([(2, 3, 40, 40)], "1 input shape was given, but siamese takes 2 inputs (x1, x2)"),
        ([(2, 3, 40, 40), (2, 4, 24, 24)], "input `x2`: the input has 4 channels"),
        ([(2, 3, 40), (2, 3, 24, 24)], "input `x1`: the input (2, 3, 40) has rank 3"),
    ]:
        (error,) = archspec.check(text, input=given if len(given) > 1 else given[0]).errors
        assert error.code == "E407" and said in error.message, error.message
    (error,) = archspec.check(CGAN, input=[(1, 100), (1, 7)]).errors
    assert error.code == "E407" and "input `label`: the input (1, 7) has rank 2" in error.message
    two = archspec.check(
        "archspec: 1\nname: one\ninput: [N, 4]\nlayers: [{type: relu}]\n", input=[(1, 4), (1, 4)]
    )
    (error,) = two.errors
    assert "2 input shapes were given, but one takes 1 input" in error.message
    assert error.hint == "give one shape: the network takes one input (`--input` once)"


def test_a_batch_written_as_a_number_is_the_batch_another_input_names() -> None:
    """`[1, 100]` beside `[N]`: one batch, N (it was N2 beside N, two batches, so that the
    domain read as if the label's batch were another size than the noise's)."""
    text = CGAN.replace("z: [N, 100]", "z: [1, 100]")
    report = archspec.check(text)
    assert report.ok, report.render()
    assert report.domain_text == "cgan_generator accepts z (N, 100), label (N) int64"


def test_graph_names_an_output_that_is_an_input_by_its_name(tmp_path: Path) -> None:
    text = CGAN.replace("layers:\n", "outputs: [image, z]\nlayers:\n", 1)
    result = runner.invoke(app, ["graph", _file(tmp_path, text)])
    assert result.exit_code == 0, result.output
    assert '":output:input" [label="output 1: z"' in result.stdout
    assert '":input" -> ":output:input" [label=" (N, 100)"];' in result.stdout
