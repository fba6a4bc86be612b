"""torchvision's Vision Transformers as specs/vit.yaml: the figures issue 17 names, the
exact domain and its located error, emitted source like torchvision's, torch.compile and
torch.export. Parity with torchvision itself (params, keys, outputs, MACs, domain) is
tests/test_zoo_parity.py's, from the fixture."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app

ROOT = Path(__file__).resolve().parent.parent

#: vit_b_16's structure at a size a test can run: 32x32 images of 8x8 patches, 2 blocks
TINY = {
    "image_size": 32,
    "patch_size": 8,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 32,
    "mlp_dim": 64,
}


def _tiny() -> dict:
    spec = {"archspec": 1, "extends": "vit_b_16", "name": "vit_tiny"}
    spec.update(input=["N", 3, 32, 32], params=dict(TINY))
    return spec


def test_vit_b_16_summary_gives_issue_17s_figures() -> None:
    result = CliRunner().invoke(app, ["summary", "vit_b_16", "--input", "1,3,224,224"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "86,567,656 parameters" in text  # 86.6 M
    assert "17.56 G" in text
    assert "Attention: its projections plus both matmuls" in text
    s = archspec.summary("vit_b_16", input=(1, 3, 224, 224))
    assert s.params == 86_567_656 and s.macs.value == 17_563_828_224


def test_the_domain_is_the_image_size_and_other_sizes_fail_at_the_check() -> None:
    result = archspec.check("vit_b_16")
    assert result.ok and result.domain.describe().endswith("H = 224 and W = 224")
    run = CliRunner().invoke(app, ["check", "vit_b_16", "--input", "1,3,240,240"])
    assert run.exit_code == 1
    assert "specs/vit.yaml:" in run.output and "error[E413]: check:" in run.output
    (err,) = archspec.check("vit_b_32", input=(1, 3, 224, 232)).errors
    assert err.code == "E413" and "232" in err.message


def test_each_variant_is_torchvisions_shape() -> None:
    expected = {  # torchvision 0.29.1's param counts
        "vit_b_16": 86_567_656,
        "vit_b_32": 88_224_232,
        "vit_l_16": 304_326_632,
        "vit_l_32": 306_535_400,
        "vit_h_14": 632_045_800,
    }
    for name, count in expected.items():
        assert archspec.summary(name).params == count, name


def test_emitted_vit_b_16_reads_like_torchvisions() -> None:
    source = (ROOT / "generated" / "vit_b_16.py").read_text()
    for line in [
        "class EncoderBlock(nn.Module):",
        "class Encoder(nn.Module):",
        "class MLPBlock(nn.Sequential):",
        "self.self_attention = MultiheadSelfAttention(768, num_heads, dropout=attention_dropout)",
        "self.class_token = nn.Parameter(torch.zeros(1, 1, 768))",
        "self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, 768).normal_(std=0.02))",
        "x = check_size(x, [224, 224])",
        "x = x[:, 0]",
    ]:
        assert line in source, line


def _emitted_tiny() -> tuple[torch.nn.Module, torch.nn.Module]:
    spec = _tiny()
    model = archspec.compile(spec).eval()
    module = types.ModuleType("vit_tiny")
    exec(compile(archspec.emit(spec), "<vit_tiny>", "exec"), module.__dict__)
    other = module.VitTiny().eval()
    other.load_state_dict(model.state_dict(), strict=True)
    model.load_state_dict(other.state_dict(), strict=True)
    return model, other


def test_emitted_source_equals_compile() -> None:
    model, other = _emitted_tiny()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)
    with pytest.raises(AssertionError, match="spatial size"):
        other(torch.randn(1, 3, 32, 40))


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.heavy)]
)
def test_torch_compile_fullgraph_and_export_with_a_dynamic_batch(backend: str) -> None:
    torch.manual_seed(0)
    model, emitted = _emitted_tiny()
    x = torch.randn(3, 3, 32, 32)
    batch = torch.export.Dim("batch", min=1, max=64)
    for net in (model, emitted):
        with torch.no_grad():
            want = net(x)
            compiled = torch.compile(net, fullgraph=True, backend=backend)
            torch.testing.assert_close(compiled(x), want, rtol=1e-4, atol=1e-5)
            program = torch.export.export(net, (x,), dynamic_shapes=({0: batch},))
            torch.testing.assert_close(program.module()(x), want, rtol=1e-5, atol=1e-6)
            y = torch.randn(5, 3, 32, 32)
            torch.testing.assert_close(program.module()(y), net(y), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.heavy
def test_vit_b_16_itself_compiles_and_exports_with_a_dynamic_batch() -> None:
    torch.manual_seed(0)
    model = archspec.load("vit_b_16").eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        want = model(x)
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(compiled(x), want, rtol=1e-4, atol=1e-5)
        batch = torch.export.Dim("batch", min=1, max=64)
        program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
        torch.testing.assert_close(program.module()(x), want, rtol=1e-5, atol=1e-6)
        one = x[:1]
        torch.testing.assert_close(program.module()(one), model(one), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "weights", "side", "params"),
    [
        ("vit_b_16", "IMAGENET1K_V1", 224, 86_567_656),
        ("vit_b_16", "IMAGENET1K_SWAG_E2E_V1", 384, 86_859_496),
        ("vit_h_14", "DEFAULT", 518, 633_470_440),
    ],
)
def test_weights_set_the_image_size_as_torchvisions_builder(
    name: str, weights: str, side: int, params: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SWAG's weights are for 384 or 518 pixels: the model is built for the weights'
    min_size (torchvision's `_ovewrite_named_param(kwargs, "image_size", ...)`), on the meta
    device here, with the file's loading left out (nothing is downloaded)."""
    import archspec.hub

    loaded: list[object] = []
    monkeypatch.setattr(archspec.hub, "fetch", lambda weights, base_url=None: {})
    monkeypatch.setattr(archspec.hub, "load_fetched", lambda model, state, **k: loaded.append(k))
    with torch.device("meta"):
        model = archspec.load(name, weights=weights)
    assert loaded and sum(p.numel() for p in model.parameters()) == params
    assert archspec.get_weights(name, weights).num_params == params
    assert model.encoder.pos_embedding.shape[1] == (side // int(name[-2:])) ** 2 + 1
    with pytest.raises(AssertionError, match="spatial size"):
        model(torch.empty(1, 3, 224 if side != 224 else 256, 224 if side != 224 else 256))
    model(torch.empty(1, 3, side, side, device="meta"))
