"""archspec import: hand-written models round-trip exactly (state_dict keys, shapes and order,
eval outputs under the same weights, params and MACs), and what cannot be stated is refused
with its place in the Python source."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ImportFailure
from tests import importer_models as hm


def _randomise(model: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.5)


def roundtrip(model: torch.nn.Module, shape: tuple[int, ...]) -> str:
    """Import, compile, load the model's weights, compare everything; returns the spec."""
    model.eval()
    _randomise(model)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    text = archspec.from_module(model, x)
    assert archspec.check(text).ok
    twin = archspec.compile(text).eval()
    ours, theirs = twin.state_dict(), model.state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == [(k, v.shape) for k, v in theirs.items()]
    twin.load_state_dict(theirs)
    with torch.no_grad():
        want, got = model(x), twin(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    spec_sum = archspec.summary(text, input=shape)
    mod_sum = archspec.summary(model, input_size=shape)
    assert spec_sum.params == mod_sum.params
    assert spec_sum.macs == mod_sum.macs
    return text


def test_sequential_model_round_trips() -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 5),
    )
    text = roundtrip(model, (2, 3, 8, 8))
    assert "- {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}" in text


def test_unet_with_skip_concatenations_round_trips() -> None:
    text = roundtrip(hm.UNet(), (2, 3, 32, 32))
    assert text.count("type: concat") == 2
    assert "from: [up1, inc]" in text  # the skip across scales reads the encoder's output
    assert text.count("DoubleConv:") == 1  # five instances, one block


def test_resnet_like_round_trips_as_one_block_and_repeats() -> None:
    text = roundtrip(hm.ResNetLike(), (2, 3, 32, 32))
    assert text.count("  BasicBlock:") == 1
    assert text.count("type: repeat") == 3
    assert "when: has_downsample" in text


def test_mobilenet_like_round_trips() -> None:
    text = roundtrip(hm.MobileNetLike(), (2, 3, 32, 32))
    assert "when: use_res_connect" in text  # the class's own attribute names the flag
    assert "padding: kernel_size // 2" in text


def test_a_training_only_head_registered_last_round_trips() -> None:
    text = roundtrip(hm.AuxNet(), (2, 3, 8, 8))
    assert "- name: aux\n    type: sequential\n    train_only: true\n    from: conv1\n" in text
    assert text.rstrip().endswith("outputs: [fc, aux]")
    model, twin = hm.AuxNet().train(), archspec.compile(text).train()
    twin.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 8, 8)
    for want, got in zip(model(x), twin(x), strict=True):
        torch.testing.assert_close(got, want)


def test_a_vit_like_forward_reading_sizes_round_trips() -> None:
    text = roundtrip(hm.TinyViT(), (2, 3, 16, 16))
    assert "{name: check_size, type: check_size, size: [16, 16]}" in text
    assert "shape: [0, 32, -1]" in text
    assert "type: expand" in text and "type: select" in text
    with pytest.raises(ImportFailure):  # a size used any other way stays unreadable
        archspec.from_module(hm.Branchy(), torch.zeros(1, 3, 8, 8))


def test_a_block_called_out_of_registration_order_states_register_order() -> None:
    text = roundtrip(hm.PostNormNet(), (2, 5, 8))  # same state_dict order, checked there
    assert text.count("register_order: [norm1, attn, norm2, mlp]") == 1
    # the whole network has no register_order: its own children must run in order
    with pytest.raises(ImportFailure, match="another order") as info:
        archspec.from_module(hm.Reordered(), torch.zeros(1, 4))
    assert info.value.error_code == "E904"
    with pytest.raises(ImportFailure, match="plain chain"):  # a chain is an nn.Sequential
        archspec.from_module(torch.nn.Sequential(hm.Reordered()), torch.zeros(1, 4))


def test_the_items_of_a_module_list_called_in_turn_are_a_sequence() -> None:
    text = roundtrip(hm.ListNet(), (2, 3, 8, 8))  # keys `blocks.0.conv1.weight`, ...
    assert "- name: blocks\n    type: repeat\n    count: 2\n" in text


def test_maxvit_partition_modules_read_as_partition_kinds() -> None:
    text = roundtrip(hm.PartitionNet(), (2, 8, 8, 8))
    assert "{name: partition_op, type: partition, size: 2, grid: grid}" in text
    assert "type: departition, from: [add, input], size: 2, grid: grid}" in text
    assert "{name: grid, type: PartitionLayer, grid: true}" in text


def test_relative_attention_reads_back_with_its_width() -> None:
    from archspec.importer.leaves import read_leaf
    from archspec.ops.base import REGISTRY

    module = REGISTRY["relative_attention"].build({"feat_dim": 64, "head_dim": 16, "size": 4})
    leaf = read_leaf(module)  # torchvision's keeps no feat_dim: read from `merge`
    assert leaf is not None and leaf.kind == "relative_attention"
    assert leaf.fields == {"head_dim": 16, "size": 4}


def test_a_single_layer_is_refused_not_renamed() -> None:
    with pytest.raises(ImportFailure, match="one layer") as info:
        archspec.from_module(torch.nn.Conv2d(3, 4, 3), torch.zeros(1, 3, 8, 8))
    assert info.value.error_code == "E904"


def test_data_dependent_control_flow_is_refused_at_the_statement() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(hm.Branchy(), torch.zeros(1, 3, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902"
    assert diag.span is not None and diag.span.file.endswith("importer_models.py")
    with open(diag.span.file, encoding="utf-8") as fh:
        line = fh.read().splitlines()[diag.span.line - 1]
    assert "if y.sum() > 0" in line
    assert "if y.sum() > 0" in info.value.render()  # the statement is quoted


def test_unknown_modules_and_calls_are_listed_with_their_places() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(hm.UsesNoKind(), torch.zeros(1, 3, 8, 8))
    codes = {d.code: d for d in info.value.diagnostics}
    assert set(codes) == {"E903"} or "E903" in codes
    messages = " ".join(d.message for d in info.value.diagnostics)
    assert "Softshrink" in messages
    assert "torch.sort" in messages or "sort" in messages
    for d in info.value.diagnostics:
        assert d.span is not None


def test_the_meta_device_needs_no_weights() -> None:
    with torch.device("meta"):
        model = hm.ResNetLike()
    text = archspec.from_module(model, torch.empty(1, 3, 32, 32, device="meta"))
    assert "BasicBlock" in text


runner = CliRunner()


def test_cli_writes_the_spec_and_prints_the_domain(tmp_path) -> None:
    out = tmp_path / "unet.yaml"
    res = runner.invoke(
        app,
        [
            "import",
            "tests.importer_models:UNet",
            "--args",
            "width=4",
            "--input",
            "1,3,32,32",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "accepts" in res.output
    assert archspec.check(out).ok


def test_cli_says_why_the_accepted_inputs_are_unknown(tmp_path) -> None:
    """The check of the written spec warned (W403) and only "unknown" was printed. HRNet's
    exchange (a map plus its half-size neighbour upsampled) has a domain now, both cases of
    its either-or; a sum whose sides may both be 1 (ceil(H/2) + H//2) is still unknown."""
    out = tmp_path / "hr.yaml"
    factory = "tests.importer_models:TwoResolutions"
    res = runner.invoke(app, ["import", factory, "--input", "1,3,8,8", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "(H = 1 or even H) and (W = 1 or even W)" in res.stderr
    res = runner.invoke(
        app,
        [
            "import",
            "tests.importer_models:BothMayBeOne",
            "--input",
            "1,3,8,8",
            "-o",
            str(out),
            "--force",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "domain  BothMayBeOne: the accepted inputs are unknown" in res.stderr
    assert f"{out}:" in res.stderr and ": warning[W403]: archspec cannot check" in res.stderr
    assert "for input sizes where one of them is 1 it broadcasts" in res.stderr


def test_a_size_that_fails_the_trace_is_the_one_the_failing_line_reads() -> None:
    """`torch.ones(T, T)` fails with `T` from `B, T, C = x.shape`; the note named the last
    size read before it (`k.size(-1)`, a line that traces), not the one the line uses."""
    import inspect

    with pytest.raises(ImportFailure) as info:
        archspec.from_module(hm.CausalMask(), torch.zeros(1, 5, 8))
    (d,) = info.value.diagnostics
    lines, first = inspect.getsourcelines(hm.CausalMask.forward)
    unpack = first + next(i for i, text in enumerate(lines) if "= x.shape" in text)
    assert d.code == "E902" and d.span is not None and d.span.line == unpack + 3
    note = "(after reading a size of a tensor as a number, `.shape[1]` at importer_models.py:"
    assert f"{note}{unpack})" in d.message


@pytest.mark.parametrize(
    ("factory", "words"),
    [
        ("no_colon", "is not MODULE_PATH:FACTORY"),
        ("no.such.module:f", "cannot import"),
        ("tests.importer_models:Missing", "has no attribute"),
        ("tests.importer_models:UNet", "raised TypeError"),
        ("tests.importer_models:Branchy", "E902"),
    ],
)
def test_cli_errors_exit_1_without_a_traceback(factory: str, words: str) -> None:
    args = ["import", factory]
    if factory.endswith("UNet"):
        args += ["--args", "nope=1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    assert words in res.output
    assert "Traceback" not in res.output


def test_help_teaches_and_warns_about_running_code() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "archspec", "import", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "MODULE_PATH:FACTORY" in res.stdout
    assert "only name code" in res.stdout


IMPORT_ZOO = Path(__file__).parent / "parity" / "import_zoo.json"
TRANSFORMER_PREFIXES = ("vit_", "swin_", "maxvit_")
_LOCATED = re.compile(r"^[\w./-]+\.py:\d+:\d+: E90[1-4]: ")


def _zoo() -> list[dict]:
    return json.loads(IMPORT_ZOO.read_text(encoding="utf-8"))


def test_the_zoo_sweep_covers_80_models_and_every_cnn_passes() -> None:
    records = _zoo()
    assert len({r["model"] for r in records}) == len(records) == 80
    cnns = [r for r in records if not r["model"].startswith(TRANSFORMER_PREFIXES)]
    assert len(cnns) == 68
    failed = [(r["model"], r.get("why")) for r in cnns if r["status"] != "pass"]
    assert not failed
    # Swin v2's post-norm block imports with `register_order:`, MaxViT with its partitions
    swin_v2 = [r for r in records if r["model"].startswith("swin_v2_")]
    assert all("SwinTransformerBlockV2" in r["blocks"] for r in swin_v2)
    assert [r["model"] for r in records if r["status"] != "pass"] == []
    for r in records:
        if r["status"] == "pass":
            assert r["output_rel_err"] <= 1e-5, r["model"]
            assert r["params"][0] == r["params"][1], r["model"]
            assert r["macs"][0] == r["macs"][1], r["model"]


def test_every_zoo_failure_says_where_and_why() -> None:
    for r in _zoo():
        if r["status"] != "pass":
            assert r["why"], r["model"]
            assert all(_LOCATED.match(why) for why in r["why"]), (r["model"], r["why"])
            assert not any(why.startswith("/") for why in r["why"])  # no machine paths


def test_resnet50_imports_readably() -> None:
    (r50,) = [r for r in _zoo() if r["model"] == "resnet50"]
    shipped = (Path(__file__).parent.parent / "specs" / "resnet.yaml").read_text().splitlines()
    assert r50["blocks"] == ["Bottleneck"]
    assert r50["repeats"] == 4
    assert r50["lines"] <= 2 * len(shipped)
