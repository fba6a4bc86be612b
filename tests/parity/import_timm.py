"""A sweep of timm's models through `archspec import`, judged independently of the import.

Run from the repo root in a venv with timm (never a dependency of archspec or its tests):

    PYTHONPATH=$PWD /path/to/venv/bin/python -m tests.parity.import_timm [--only a,b]

For each model of MODELS, built with `pretrained=False`, seeded random weights and its norm
statistics perturbed (a dropped or swapped norm shows in the outputs), in eval mode, on a
1x3x64x64 input (or the model's own size when it refuses 64), `archspec.from_module` either
returns a spec or raises. The verdict, one line per model in `import_timm.json`:

- `exact`: the spec compiles, its state_dict keys, shapes and order are the model's, and with
  the model's weights its eval outputs equal the model's (1e-4 of the largest magnitude) at
  the example input and, when the model takes it, at a second size (2x3x72x88);
- `refused`: an ArchSpecError whose every diagnostic has a `file:line` (`why`, paths cut to
  the package); `unlocated`: one without;
- `wrong`: a spec came back and differs; `traceback`: any other exception (must be none).
"""

from __future__ import annotations

import argparse
import re
import traceback
from pathlib import Path
from typing import Any

import timm
import torch

import archspec
from archspec.errors import ArchSpecError
from tests.parity.sweeps import perturb

from .records import sweep

HERE = Path(__file__).resolve().parent
IMPORT_TIMM_JSON = HERE / "import_timm.json"

#: Small variants of most of timm's CNN families and a few token models.
_NAMES = """
resnet10t resnet14t resnet18 resnet18d resnet26 resnet26d resnet26t resnet34 resnet34d resnet50
resnet50d resnet50_gn resnetblur18 resnetaa34d resnetrs50 seresnet18 seresnext26d_32x4d
ecaresnet26t ecaresnet50d_pruned skresnet18 resnext26ts seresnext26ts eca_resnext26ts
gcresnext26ts res2net50_14w_8s res2next50 resnest14d resnetv2_50 resnetv2_50d resnetv2_50x1_bit
nf_resnet26 nf_regnet_b0 lambda_resnet26t botnet26t_256 halonet26t efficientnet_b0 efficientnet_b1
efficientnet_lite0 efficientnet_es efficientnet_em efficientnet_b0_gn efficientnetv2_rw_t
tf_efficientnet_b0 tf_efficientnet_lite0 tf_efficientnetv2_b0 efficientnet_cc_b0_4e tinynet_a
tinynet_e mobilenetv3_small_050 mobilenetv3_small_100 mobilenetv3_large_100 mobilenetv3_rw
tf_mobilenetv3_small_100 mobilenetv2_050 mobilenetv2_100 mobilenetv2_110d mobilenetv1_100
mobilenetv4_conv_small lcnet_050 lcnet_100 mnasnet_small mnasnet_100 semnasnet_050 spnasnet_100
fbnetc_100 hardcorenas_a mixnet_s tf_mixnet_s regnetx_002 regnetx_004 regnetx_006 regnety_002
regnety_004 regnety_006 regnetz_005 regnetz_b16 rexnet_100 rexnet_130 rexnetr_100 dla34 dla46_c
dla46x_c dla60x_c dla60 densenet121 densenetblur121d convnext_atto convnext_femto convnext_pico
convnext_nano convnext_tiny convnext_atto_ols convnextv2_atto convnextv2_femto cspresnet50
cspresnext50 cspdarknet53 cs3darknet_s cs3darknet_focus_s darknet17 darknet21 ghostnet_050
ghostnet_100 ghostnetv2_100 repghostnet_050 hrnet_w18_small hrnet_w18_small_v2
vit_tiny_patch16_224 vit_tiny_r_s16_p8_224 deit_tiny_patch16_224 deit_tiny_distilled_patch16_224
dpn48b dpn68 repvgg_a0 repvgg_b0 ese_vovnet19b_slim ese_vovnet19b_dw vovnet39a legacy_xception
selecsls42b gernet_s mobileone_s0 fastvit_t8 efficientvit_b0 efficientvit_m0 poolformer_s12
mobilevit_xxs mobilevitv2_050 edgenext_xx_small levit_128s pit_ti_224 inception_v3 vgg11
hgnet_tiny hgnetv2_b0 coat_tiny resmlp_12_224 mixer_s16_224 gmlp_ti16_224 visformer_tiny
tresnet_m inception_next_tiny starnet_s1 poolformerv2_s12 bat_resnext26ts regnetv_040
rdnet_tiny inception_v4 inception_resnet_v2 xception41 resnet33ts regnetz_d8 legacy_seresnet18
sedarknet21 fbnetv3_b repvit_m0_9 mambaout_femto cs3edgenet_x regnety_040_sgn inception_next_atto
seresnext26t_32x4d cait_xxs24_224 coat_lite_tiny efficientformer_l1 convit_tiny ghostnetv3_050
focalnet_tiny_srf hiera_tiny_224 gcvit_xxtiny sequencer2d_s convmixer_768_32 res2net50_26w_4s
resnest26d dm_nfnet_f0 pvt_v2_b0 twins_pcpvt_small nest_tiny xcit_nano_12_p16_224
deit3_small_patch16_224 swin_tiny_patch4_window7_224 crossvit_tiny_240 tnt_s_patch16_224
davit_tiny mobilenetv4_hybrid_medium tiny_vit_5m_224 eva02_tiny_patch14_224 ghostnetv2_160
lcnet_075
"""
MODELS = _NAMES.split()

RTOL = 1e-4
_SITE = re.compile(r"(?:/[^\s:]*)?/(?:site|dist)-packages/")


def _short(text: str) -> str:
    """Machine paths cut to the package (`timm/layers/padding.py:28`)."""
    return _SITE.sub("", text)


def _runs(model: torch.nn.Module, x: torch.Tensor) -> bool:
    try:
        with torch.no_grad():
            model(x)
        return True
    except Exception:
        return False


def _flat(y: Any) -> torch.Tensor:
    if isinstance(y, tuple | list):
        return torch.cat([_flat(v).flatten() for v in y])
    return y


def _rel(got: Any, want: Any) -> float:
    got, want = _flat(got), _flat(want)
    if got.shape != want.shape:
        return float("inf")
    return float((got - want).abs().max()) / (float(want.abs().max()) or 1.0)


def check_model(name: str) -> dict[str, Any]:
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    perturb(model)
    size = 64
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    if not _runs(model, x):
        size = model.pretrained_cfg.get("input_size", (3, 224, 224))[-1]
        x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2))
    record: dict[str, Any] = {"model": name, "input": size}
    try:
        text = archspec.from_module(model, x)
    except ArchSpecError as exc:
        located = all(d.span is not None and d.span.line >= 1 for d in exc.diagnostics)
        why = [_short(f"{d.span}: {d.code}: {d.message}")[:300] for d in exc.diagnostics[:4]]
        return {**record, "status": "refused" if located else "unlocated", "why": why}
    except Exception as exc:
        lines = traceback.format_exception(exc)[-3:]
        return {**record, "status": "traceback", "why": [_short(t) for t in lines]}
    record["lines"] = len(text.splitlines())
    twin = archspec.compile(text, max_params=None, max_activations=None).eval()
    ours = [(k, tuple(v.shape)) for k, v in twin.state_dict().items()]
    if ours != [(k, tuple(v.shape)) for k, v in model.state_dict().items()]:
        return {**record, "status": "wrong", "why": ["state_dict keys/shapes/order differ"]}
    twin.load_state_dict(model.state_dict())
    problems = []
    second = torch.randn(2, 3, size + 8, size + 24, generator=torch.Generator().manual_seed(3))
    for probe in (x, second) if _runs(model, second) else (x,):
        with torch.no_grad():
            err = _rel(twin(probe), model(probe))
        if not err <= RTOL:
            problems.append(f"outputs differ at {tuple(probe.shape)}: {err:.3g}")
    status = "wrong" if problems else "exact"
    return {**record, "status": status, **({"why": problems} if problems else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated model names")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else MODELS
    torch.set_num_threads(1)
    records = sweep(IMPORT_TIMM_JSON, MODELS, names, check_model)
    counts: dict[str, int] = {}
    for rec in records.values():
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
    print(f"{counts}; timm {timm.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
