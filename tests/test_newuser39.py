"""Networks that are not image classifiers, written from the docs alone by a new user (session
39's acceptance check, tests/newuser39/*.yaml), each against the same network written by hand
in plain PyTorch as its public repo writes it (tests/newuser39/references.py): a DeepLabV3+
decoder over a small backbone (atrous ASPP, a low-level skip, bilinear upsampling to another
tensor's size), PSPNet's pyramid pooling module, EDSR and ESRGAN's RRDBNet (pixel shuffle,
scaled residuals, one LeakyReLU module called after every conv), a Conformer block over
(N, L, D) features, Kim's text CNN and a BiLSTM tagger over int64 token ids, a GRU over
features, a 1-d ResNet for ECG signals, a YOLO-style head (outputs viewed as (N, A, 5 + C, H,
W)), a feature pyramid returning four maps, and a small HRNet whose stage is written
with dotted keys through its module's containers (`stage2.0.branches.1`), timm's and HRNet's
own keys. Each spec is compiled and emitted and compared
with its reference: parameter count, the state_dict's keys, shapes and dtypes in order,
strict loads both ways, and the eval outputs at each case's inputs, the edge of the domain
`archspec check` derives among them. `archspec import` of each reference is compared the
same way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspec
from tests.conftest import sample_params
from tests.newuser36.facts import state_dict_facts
from tests.newuser38.facts import compiled_and_emitted
from tests.newuser39 import references
from tests.newuser39.fpn_case import FIXTURE, RECORDED
from tests.parity.weights import (
    deterministic_input,
    fill_deterministic,
    output_summary,
    summary_matches,
)

HERE = Path(__file__).parent / "newuser39"

#: each case: its spec file, the class of references.py, its input shapes (the smallest the
#: domain takes among them) and, for token ids, `int64`
CASES: dict[str, dict[str, Any]] = {
    "deeplabv3plus": {"spec": "deeplabv3plus.yaml", "reference": "DeepLab",
                      "inputs": [(2, 3, 37, 50), (1, 3, 1, 1)]},
    "psp_head": {"spec": "psp_head.yaml", "reference": "PSPHead",
                 "inputs": [(2, 64, 7, 9), (1, 64, 1, 1)]},
    "edsr": {"spec": "edsr.yaml", "reference": "EDSR", "inputs": [(2, 3, 5, 7), (1, 3, 1, 1)]},
    "rrdbnet": {"spec": "rrdbnet.yaml", "reference": "RRDBNet",
                "inputs": [(2, 3, 5, 7), (1, 3, 1, 1)]},
    "conv2d_subsampling": {"spec": "conv2d_subsampling.yaml", "reference": "Conv2dSubsampling",
                           "inputs": [(2, 100, 80), (1, 7, 80)]},
    "conformer": {"spec": "conformer.yaml", "reference": "ConformerBlock",
                  "inputs": [(2, 20, 32), (1, 1, 32)]},
    "textcnn": {"spec": "textcnn.yaml", "reference": "TextCNN", "inputs": [(2, 20), (1, 5)],
                "dtype": "int64"},
    "bilstm_tagger": {"spec": "bilstm_tagger.yaml", "reference": "BiLSTMTagger",
                      "inputs": [(2, 11), (1, 1)], "dtype": "int64"},
    "gru_net": {"spec": "gru_net.yaml", "reference": "GRUNet", "inputs": [(2, 15, 12), (1, 1, 12)]},
    "resnet1d_ecg": {"spec": "resnet1d_ecg.yaml", "reference": "ResNet1d",
                     "inputs": [(2, 12, 500), (1, 12, 1)]},
    "tiny_yolo": {"spec": "tiny_yolo.yaml", "reference": "TinyYOLO",
                  "inputs": [(2, 3, 37, 50), (1, 3, 1, 1)]},
    "hrnet": {"spec": "hrnet.yaml", "reference": "SmallHRNet",
              "inputs": [(2, 3, 31, 28), (1, 3, 1, 2)]},
    "small_fpn": {"spec": "small_fpn.yaml", "reference": "SmallFPN",
                  "inputs": [(2, 3, 37, 50), (1, 3, 1, 1)]},
}  # fmt: skip


def _input(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """A deterministic input: token ids below the references' vocabulary of 500, or floats."""
    if dtype == "int64":
        return torch.arange(torch.Size(shape).numel()).reshape(shape) * 7 % 500
    return deterministic_input(shape)


def _outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(x)
    if isinstance(out, Mapping):  # deeplabv3_resnet50's OrderedDict of `out` and `aux`
        return list(out.values())
    return list(out) if isinstance(out, list | tuple) else [out]


def _reference(case: dict[str, Any]) -> nn.Module:
    """The case's reference, holding the RNG-free weights of tests/parity/weights.py."""
    reference = getattr(references, case["reference"])().eval()
    reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
    return reference


def _same_network(ours: nn.Module, reference: nn.Module, case: dict[str, Any]) -> None:
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert state_dict_facts(ours.state_dict()) == state_dict_facts(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(ours.state_dict(), strict=True)
    for shape in case["inputs"]:
        x = _input(shape, case.get("dtype", "float32"))
        got, expected = _outputs(ours.eval(), x), _outputs(reference, x)
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_every_spec_of_the_folder_has_a_case() -> None:
    specs = [c["spec"] for c in (*CASES.values(), *RECORDED.values())]
    assert sorted(p.name for p in HERE.glob("*.yaml")) == sorted(specs)
    assert sorted(json.loads(FIXTURE.read_text(encoding="utf-8"))) == sorted(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_spec_is_the_recorded_torchvision_network_with_its_keys(name: str) -> None:
    # docs/porting.md said BackboneWithFPN's keys had no spec form with their `body.` and
    # `fpn.` prefixes, and that DeepLabV3's aux head could not read `backbone.layer3`;
    # dotted keys give both (recorded by make_fixture.py)
    case, record = RECORDED[name], json.loads(FIXTURE.read_text(encoding="utf-8"))[name]
    ours, emitted = compiled_and_emitted(str(HERE / case["spec"]))
    assert sum(p.numel() for p in ours.parameters()) == record["param_count"]
    facts = state_dict_facts(ours.state_dict())
    assert facts == {k: record[k] for k in facts}
    for shape in case["inputs"]:
        x = deterministic_input(shape)
        for a, b in zip(_outputs(emitted, x), _outputs(ours, x), strict=True):
            assert torch.equal(a, b)
    # the record is of float64 runs (make_fixture.py): it holds on any CPU's kernels
    ours.double()
    for shape, expected in zip(case["inputs"], record["outputs"], strict=True):
        got = _outputs(ours, deterministic_input(shape).double())
        assert len(got) == len(expected)
        for out, summary in zip(got, expected, strict=True):
            assert out.dtype == torch.float64
            assert summary_matches(output_summary(out), summary, rtol=1e-5) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_spec_is_the_hand_written_network(name: str) -> None:
    case = CASES[name]
    ours, emitted = compiled_and_emitted(str(HERE / case["spec"]))
    reference = _reference(case)
    _same_network(ours, reference, case)
    x = _input(case["inputs"][0], case.get("dtype", "float32"))
    emitted.load_state_dict(ours.state_dict(), strict=True)
    for a, b in zip(_outputs(emitted, x), _outputs(ours, x), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "name", sample_params(sorted(set(CASES) - {"hrnet"}), stride=2)
)  # hrnet: its stage takes a list
def test_the_import_of_the_hand_written_network_is_that_network(name: str) -> None:
    case = CASES[name]
    reference = _reference(case)
    dtype = case.get("dtype", "float32")
    text = archspec.from_module(reference, _input(case["inputs"][0], dtype))
    _same_network(archspec.compile(text), reference, case)


@pytest.mark.parametrize(
    ("name", "domain", "outside"),
    [
        ("textcnn", "(N, L) int64 with L >= 5", (1, 4)),
        ("resnet1d_ecg", "(N, 12, L) with L >= 1", None),
        ("conformer", "(N, L, 32) with L >= 1", None),
        ("conv2d_subsampling", "(N, T, 80) with T >= 7", (1, 6, 80)),
        ("deeplabv3plus", "(N, 3, H, W) with H, W >= 1 (in training mode, N >= 2 and H, W >= 1)",
         None),
        ("tiny_yolo", "(N, 3, H, W) with H, W >= 1", None),
        ("hrnet", "(N, 3, H, W) with (1 <= H <= 2 or H % 4 in {0, 3}) and (1 <= W <= 2 or W % 4 "
         "in {0, 3})", (1, 3, 30, 30)),
    ],
)  # fmt: skip
def test_the_domain_check_derives_is_where_the_network_runs(
    name: str, domain: str, outside: tuple[int, ...] | None
) -> None:
    case = CASES[name]
    spec = str(HERE / case["spec"])
    assert archspec.check(spec).domain_text.endswith(f"accepts {domain}")
    if outside is None:  # the smallest input of the case runs in the reference (above)
        return
    assert not archspec.check(spec, input=outside).ok
    x = _input(outside, case.get("dtype", "float32"))
    for model in (archspec.compile(spec).eval(), _reference(case)):
        with torch.no_grad(), pytest.raises(RuntimeError):
            model(x)


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        ("gru_net", (2, 5, 13), "the input has 13 features, but gru_net declares (N, L, 12)"),
        ("conformer", (2, 5, 16), "the input has 16 features, but conformer_block declares"),
        ("resnet1d_ecg", (2, 13, 100), "the input has 13 channels, but resnet1d_ecg declares"),
    ],
)
def test_another_feature_count_is_refused_at_the_input(
    name: str, given: tuple[int, ...], message: str
) -> None:
    # tokens (N, L, 12) take their features last: another count is E407 at `input:`, where
    # it was E402 at the first layer with a hint to drop an `input_size` no one wrote
    result = archspec.check(str(HERE / CASES[name]["spec"]), input=given)
    [diag] = result.diagnostics
    assert diag.code == "E407" and diag.message.startswith(message)
    assert diag.span is not None and diag.span.line == 5


VIEWED = """\
archspec: 1
name: yolo_view
input: [N, 3, H, W]
layers:
  - {name: conv, type: conv2d, out_channels: 27, kernel_size: 1}
  - VIEW
"""


def test_a_detection_heads_view_by_the_inputs_sizes_points_at_unflatten() -> None:
    # YOLO's `y.view(bs, na, no, ny, nx)` written as a reshape with the input's symbols: the
    # hint told only how to fold tokens back into a map (a departition), which it is not
    view = "{name: view, type: reshape, shape: [0, 3, 9, H, W]}"
    (only,) = archspec.check(VIEWED.replace("VIEW", view)).diagnostics
    assert (only.code, only.span.line if only.span else 0) == ("E302", 6)
    assert only.hint is not None and "`unflatten` that dim alone" in only.hint
    fixed = "{name: view, type: unflatten, dim: 1, unflattened_size: [3, 9]}"
    report = archspec.check(VIEWED.replace("VIEW", fixed))
    assert report.ok and report.domain_text.endswith("accepts (N, 3, H, W) with H, W >= 1")


PASSES = """\
archspec: 1
name: xception_rep
input: [N, 16, H, W]
params: {reps: 3, start_with_relu: false}
layers:
  - name: rep
    type: sequential
    layers:
      - type: repeat
        count: reps
        flat: true
        layers:
          - {type: relu, when: start_with_relu or i > 0}
          - {type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
          - {type: batchnorm2d}
"""


@pytest.mark.parametrize("start_with_relu", [False, True])
def test_a_loop_appending_several_modules_per_pass_has_its_keys(start_with_relu: bool) -> None:
    # porting.md said a flat nn.Sequential built by a loop of several appends per pass
    # (Xception's `rep.append(relu); rep.append(conv); rep.append(bn)`, then `rep[1:]`) had
    # no spec form, `repeat` adding one item per copy; its `layers:` add several
    rep: list[nn.Module] = []
    for _ in range(3):
        rep += [nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)]
    reference = nn.Sequential(*(rep if start_with_relu else rep[1:])).eval()
    ours = archspec.compile(PASSES, start_with_relu=start_with_relu).eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        ("rep." + k, v.shape) for k, v in reference.state_dict().items()
    ]
    ours.rep.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 16, 5, 7)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


def test_tokens_declared_with_their_count_say_how_to_name_it() -> None:
    # `archspec import` writes the example's sizes, `input: [N, 15, 12]`, which reads as
    # (N, C, L): the GRU then needs a known D and W403's hint only said to check with --input
    text = CASES["gru_net"]["spec"]
    spec = (HERE / text).read_text(encoding="utf-8").replace("[N, L, 12]", "[N, 15, 12]")
    (warning,) = archspec.check(spec).diagnostics
    assert warning.code == "W403" and warning.hint is not None
    assert warning.hint.startswith("`input: [N, 15, 12]` reads as (N, C, L), 15 channels")
    assert "`input: [N, L, 12]`" in warning.hint
    assert archspec.check(spec.replace("[N, 15, 12]", "[N, L, 12]")).ok


def test_torchs_batch_first_copied_onto_a_recurrent_layer_is_its_default() -> None:
    # `nn.GRU(12, 32, batch_first=True)` ported field by field: the field was unknown (E201);
    # recurrent kinds take torch's batch_first now (false reads the sequence first)
    spec = (HERE / CASES["gru_net"]["spec"]).read_text(encoding="utf-8")
    wrong = spec.replace("num_layers: n_layers,", "num_layers: n_layers, batch_first: true,")
    assert wrong != spec
    report = archspec.check(wrong)
    assert report.ok, report.diagnostics
    assert report.outputs == archspec.check(spec).outputs
