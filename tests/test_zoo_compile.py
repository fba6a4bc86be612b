"""Today's CNNs stay plain nn.Modules for torch's compilers (issue 14): torch.compile with
fullgraph=True equals eager, and torch.export gives the same outputs, for MobileNetV3,
EfficientNet and ConvNeXt (SE gates, stochastic depth, layer scale, permutes, chunk)."""

from __future__ import annotations

import pytest
import torch

import archspec

#: one per modern building style. The default run checks mobilenet_v3_small's whole-graph
#: capture with dynamo and AOTAutograd (backend `aot_eager`: a graph break fails
#: fullgraph=True there as under inductor); inductor's C++ code generation costs a minute of
#: compiler runs per model on two cores, so inductor and the other styles run with --all.
MODELS = [
    pytest.param("mobilenet_v3_small", "aot_eager"),
    pytest.param("mobilenet_v3_small", "inductor", marks=pytest.mark.heavy),
    pytest.param("efficientnet_b0", "inductor", marks=pytest.mark.heavy),
    pytest.param("convnext_tiny", "inductor", marks=pytest.mark.heavy),
    pytest.param("shufflenet_v2_x0_5", "inductor", marks=pytest.mark.heavy),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,backend", MODELS)
def test_torch_compile_fullgraph_and_export_equal_eager(name: str, backend: str) -> None:
    torch.manual_seed(0)
    model = archspec.load(name).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        want = model(x)
        compiled = torch.compile(model, fullgraph=True, backend=backend)
        torch.testing.assert_close(compiled(x), want, rtol=1e-4, atol=1e-5)
        program = torch.export.export(model, (x,))
        torch.testing.assert_close(program.module()(x), want, rtol=1e-5, atol=1e-6)
    assert want.shape == (2, 1000)
