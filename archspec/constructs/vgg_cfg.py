"""`vgg_cfg`: torchvision VGG's `make_layers(cfg, batch_norm)` as one construct."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import StrictInt

from ..lowering.context import Child, Item, Site, Skip, synth
from ..ops import REGISTRY
from ..ops.base import Bool, ExprStr, Final, LayerSpec, NodeBase
from .registry import Construct

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer


class VggCfgNode(NodeBase):
    """VGG's make_layers(cfg, batch_norm): ints are 3x3 convs + ReLU, "M" a 2x2 max pool."""

    type: Literal["vgg_cfg"]
    cfg: list[StrictInt | Literal["M"]] | ExprStr
    batch_norm: Bool = False


def lower(lw: Lowerer, site: Site) -> str:
    """A Sequential of the expanded cfg; expressions in it decide structure (switches)."""
    spec = site.spec
    site.scope.switches += [
        ("", raw) for raw in (spec.cfg, spec.batch_norm) if isinstance(raw, str)
    ]
    return lw.lower_child(site, Child(expand_cfg(lw, site.item, site.local), "Sequential"))


def expand_cfg(lw: Lowerer, item: Item, env: Any) -> list[Item]:
    """VGG make_layers: v -> conv3x3(pad 1) [+ BN] + ReLU(inplace); "M" -> MaxPool(2, 2)."""
    spec = item.spec
    cfg = spec.cfg
    if isinstance(cfg, str):
        cfg = lw.eval_value(cfg, Final("any"), env, item.ypath + ("cfg",))
        if not isinstance(cfg, list) or not all(
            (isinstance(v, int) and not isinstance(v, bool) and v >= 1) or v == "M" for v in cfg
        ):
            lw.error(
                "E309",
                'cfg must be a list of positive ints and "M"',
                item.ypath + ("cfg",),
                'e.g. [64, M, 128, M]: channel counts, and "M" for a 2x2 max pool',
            )
            raise Skip
    bn = lw.eval_value(spec.batch_norm, Final("bool"), env, item.ypath + ("batch_norm",))
    per_size = 3 if bn else 2  # conv [+ bn] + relu
    lw.charge(sum(1 if v == "M" else per_size for v in cfg), item.ypath + ("cfg",), reserve=True)
    # Specs are made once per distinct entry and shared: a cfg repeats a few sizes.
    made: dict[Any, list[LayerSpec]] = {}
    out: list[Item] = []
    for j, v in enumerate(cfg):
        yp = item.ypath + ("cfg", j)
        if isinstance(v, int) and v < 1:
            lw.error(
                "E309",
                f"cfg entry {v} must be a positive channel count",
                yp,
                'use a channel count >= 1, or "M" for a 2x2 max pool',
            )
            raise Skip
        if v not in made:
            made[v] = cfg_layers(v, bn)
        out.extend(Item(layer, yp) for layer in made[v])
    return out


def cfg_layers(v: Any, bn: bool) -> list[LayerSpec]:
    """The layers of one VGG cfg entry: "M" a 2x2 max pool, a size a conv3x3 [+ BN] + ReLU."""
    if v == "M":
        return [synth(REGISTRY["maxpool2d"].spec, type="maxpool2d", kernel_size=2, stride=2)]
    conv = synth(REGISTRY["conv2d"].spec, type="conv2d", out_channels=v, kernel_size=3, padding=1)
    relu = synth(REGISTRY["relu"].spec, type="relu", inplace=True)
    if bn:
        return [conv, synth(REGISTRY["batchnorm2d"].spec, type="batchnorm2d"), relu]
    return [conv, relu]


CONSTRUCT = Construct(
    kind="vgg_cfg",
    schema=VggCfgNode,
    lower=lower,
    summary='VGG\'s make_layers list: channel counts and "M" pools',
    description=(
        "torchvision VGG's `make_layers(cfg, batch_norm)`: each int of `cfg` is a 3x3 "
        "convolution with padding 1 (then a batch norm when `batch_norm`) and an in-place "
        'ReLU, each "M" a 2x2 max pool with stride 2, all in one nn.Sequential.'
    ),
    makes_module=True,
)
