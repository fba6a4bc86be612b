"""Networks archspec does not ship, written from the docs alone by a new user (session 44,
helper h44b: tests/h44b/*.yaml), each against the same network written by hand in plain
PyTorch as its public code writes it (tests/h44b/references.py): PyTorch's translation
tutorial's Seq2SeqTransformer (two int64 inputs, nn.Transformer's keys, one positional
encoding module called on both sequences by `reuse`, a causal target mask), AntixK's
VanillaVAE (sampling at every forward, `[recons, input, mu, log_var]` returned), an
Attention U-Net (additive gates, blocks of two inputs, one max pool called twice), a FiLM
network (a conditioning vector's gammas and betas split, selected per block and broadcast
over the map) and a non-local block (matmuls over positions, `unflatten_as` back to the
map, a zero-initialised norm), pyGAT's graph attention network (parameters multiplied by
`matmul`, its attention vector cut in two by a `slice` of dim 0, the adjacency a mask), a
dense mixture of experts (an nn.ModuleList of expert MLPs keyed `experts.{i}`, stacked and
weighed by a softmax gate), and CBAM's ResNet (its authors' BasicBlock, a shared MLP over
the average and the max pooled map by `reuse`, the average a `global_avgpool2d`: their
`F.avg_pool2d(x, x.size()[2:])`, which an adaptive pool equals only to the last bit but one).
Each spec is checked, compiled and emitted and compared with
its reference: parameter count, state_dict keys, shapes and dtypes in order, strict loads
both ways, float64 outputs equal to the bit at each call (the RNG seeded alike before each)
and the record of reference.json (make_fixture.py); a call outside the domain is refused by
check and by torch."""

from __future__ import annotations

import json

import pytest
import torch

import archspec
from tests.h44b import references
from tests.h44b.cases import CASES, FIXTURE, HERE, make_input
from tests.reference_nets import ReferenceFolder

FOLDER = ReferenceFolder(references, CASES, FIXTURE, HERE, make_input, seeded=True)

#: nn.Transformer built sequence first (as the tutorial builds it) warns of its fast path
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")


def test_every_spec_of_the_folder_has_a_case() -> None:
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(CASES)
    assert sorted(json.loads(FIXTURE.read_text(encoding="utf-8"))) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_spec_is_the_hand_written_network(name: str) -> None:
    FOLDER.assert_is_reference(name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_input_agrees_with_torch_at_the_edges(name: str) -> None:
    """Each call's shapes are accepted by `check --input`, and the call outside is refused
    by check with an error and by torch."""
    case = FOLDER.cases[name]
    expected = len(case["calls"]) + (case["outside"] is not None)
    assert FOLDER.assert_edges(name, (RuntimeError, IndexError)) == expected


def test_the_non_local_blocks_output_norm_starts_at_zero_as_the_originals() -> None:
    """The spec's `init` rule zeroes `W.1` as the original's constructor does, so the
    block starts as the identity; other norms keep torch's ones."""
    ours = archspec.compile(FOLDER.spec("nonlocal_net"))
    reference = references.NonLocalNet()
    for model in (ours, reference):
        state = model.state_dict()
        assert torch.count_nonzero(state["features.4.W.1.weight"]) == 0
        assert torch.count_nonzero(state["features.4.W.1.bias"]) == 0
        assert torch.equal(state["features.1.weight"], torch.ones(16))
