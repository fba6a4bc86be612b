"""Hand-written reference models ("twins") of built-in specs, and how to load emitted ones.

A twin is what a user would write by hand: torchvision's own constructor when torchvision
is importable, or, for LeNet-5 (not in torchvision), the class below written the way
torchvision writes AlexNet and VGG. Twins share the spec's state_dict keys, so the same
weights load into both and the benchmarks compare the same computation.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn


class LeNet5(nn.Module):
    """LeNet-5 as specs/lenet5.yaml describes it, written by hand in torchvision's style."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                c1=nn.Conv2d(1, 6, kernel_size=5),
                act1=nn.Tanh(),
                s2=nn.AvgPool2d(kernel_size=2),
                c3=nn.Conv2d(6, 16, kernel_size=5),
                act3=nn.Tanh(),
                s4=nn.AvgPool2d(kernel_size=2),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                c5=nn.Linear(16 * 5 * 5, 120),
                act5=nn.Tanh(),
                f6=nn.Linear(120, 84),
                act6=nn.Tanh(),
                output=nn.Linear(84, num_classes),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class Bottleneck(nn.Module):
    """ResNet's bottleneck block, written as torchvision writes it (stride on the 3x3 conv)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != width:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, width, 1, stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 written by hand without torchvision (its modules and state_dict keys are
    torchvision's): what a user summarises with torchinfo, or with archspec.summary."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes, stages = 64, []
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            layers = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * Bottleneck.expansion
            layers += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torchvision_available() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or built against another torch: either way not usable
        return False
    return True


def _torchvision(name: str, **kwargs: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None, **kwargs)

    return build


#: spec name -> (label, constructor of the twin with the spec's default params and init).
#: googlenet keeps init_weights=True: the spec's init is torchvision's trunc_normal init.
_TORCHVISION: dict[str, tuple[str, Callable[[], nn.Module]]] = {
    "resnet18": ("torchvision", _torchvision("resnet18")),
    "resnet34": ("torchvision", _torchvision("resnet34")),
    "resnet50": ("torchvision", _torchvision("resnet50")),
    "googlenet": (
        "torchvision",
        _torchvision("googlenet", aux_logits=True, init_weights=True),
    ),
    "vgg16": ("torchvision", _torchvision("vgg16")),
    "mobilenet_v2": ("torchvision", _torchvision("mobilenet_v2")),
    "efficientnet_b0": ("torchvision", _torchvision("efficientnet_b0")),
    "convnext_tiny": ("torchvision", _torchvision("convnext_tiny")),
    "alexnet_torchvision": ("torchvision", _torchvision("alexnet")),
}


def twin(spec: str) -> tuple[str, Callable[[], nn.Module]] | None:
    """(label, constructor) of the hand-written twin of a built-in spec, if there is one."""
    if spec == "lenet5":
        return "hand-written", LeNet5
    if spec in _TORCHVISION and torchvision_available():
        return _TORCHVISION[spec]
    return None


def constructors_only(spec: str) -> tuple[str, Callable[[], nn.Module]] | None:
    """The twin built without its init loop, where torchvision allows it: on the meta
    device this is torch's own floor for building the spec's modules."""
    if spec == "vgg16" and torchvision_available():
        return "torchvision vgg16(init_weights=False)", _torchvision("vgg16", init_weights=False)
    return None


_EMITTED_DIR: Path | None = None


def load_emitted(source: str, class_name: str, tag: str) -> type[nn.Module]:
    """Import the source that `archspec.emit` produced, from a real file, and return its class.

    The file is written under a temporary directory and imported like any user module
    (so the functions carry real filenames and line numbers, as in a user's project).
    The class is the one named like the spec's class; failing that, the last nn.Module
    subclass the file defines.
    """
    global _EMITTED_DIR
    if _EMITTED_DIR is None:
        _EMITTED_DIR = Path(tempfile.mkdtemp(prefix="archspec-bench-"))
        atexit.register(shutil.rmtree, _EMITTED_DIR, ignore_errors=True)
    mod_name = f"archspec_bench_emitted_{tag}"
    path = _EMITTED_DIR / f"{mod_name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import emitted source from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if isinstance(cls, type) and issubclass(cls, nn.Module):
        return cls
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == mod_name
    ]
    if not classes:
        raise ImportError(f"emitted source for {tag} defines no nn.Module class")
    return classes[-1]
