"""Pretrained weights: torchvision's published checkpoints for the built-in specs that are
drop-in twins of torchvision's models (the same state_dict, key for key).

The tables are data: archspec/library/weights.json holds, for each such spec, torchvision's
weights enum as it is in torchvision 0.29.1 (names, file names, metadata, the preset
transform), written by tests/parity/make_weights.py. This module reads it and names things;
it imports no torch, so `archspec check` lists the weights without it. Fetching and loading
are archspec/hub.py's, the transform archspec/transforms.py's.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

from .errors import ArchSpecError
from .lazymethods import dataclass

if TYPE_CHECKING:  # pragma: no cover
    from .transforms import ImageClassification

TABLE = Path(__file__).resolve().parent / "library" / "weights.json"
#: The environment variable that replaces torchvision's download address (a mirror, or a
#: `file://` folder for offline use); the `base_url=` argument overrides it.
BASE_URL_ENV = "ARCHSPEC_WEIGHTS_URL"


class WeightsError(ArchSpecError):
    """Pretrained weights that do not exist, cannot be fetched, or do not fit the model."""

    code = "E801"


@dataclass(frozen=True)
class Weights:
    """One pretrained checkpoint of a built-in spec: torchvision's `<Model>_Weights.<NAME>`.

    The fields are torchvision's metadata under plain names; `meta` gives them in
    torchvision's own layout, `transforms()` the preprocessing the weights were trained with.
    """

    spec: str
    name: str
    #: torchvision's enum, e.g. `ResNet50_Weights`; `DEFAULT` is `is_default`'s member
    enum: str
    file: str
    categories: tuple[str, ...] | None
    num_params: int
    min_size: tuple[int, int]
    #: ImageNet-1K top-1 and top-5 accuracy in percent (None where torchvision has none)
    acc1: float | None
    acc5: float | None
    #: torchvision's `_ops`: GFLOPS (giga multiply-accumulates) of one image at `crop_size`
    gflops: float
    file_size_mb: float
    recipe: str
    crop_size: int
    resize_size: int
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    is_default: bool

    @property
    def full_name(self) -> str:
        """`ResNet50_Weights.IMAGENET1K_V2`, as torchvision prints the enum member."""
        return f"{self.enum}.{self.name}"

    @property
    def hash_prefix(self) -> str | None:
        """The sha256 prefix in the file name, which a download must match (torch.hub's rule)."""
        from re import search

        found = search(r"-([a-f0-9]*)\.", self.file)
        return found.group(1) if found else None

    @property
    def meta(self) -> dict[str, Any]:
        """The metadata in torchvision's `Weights.meta` layout."""
        return {
            "categories": None if self.categories is None else list(self.categories),
            "num_params": self.num_params,
            "min_size": self.min_size,
            "recipe": self.recipe,
            "_metrics": {"ImageNet-1K": {"acc@1": self.acc1, "acc@5": self.acc5}},
            "_ops": self.gflops,
            "_file_size": self.file_size_mb,
        }

    def url(self, base_url: str | None = None) -> str:
        """Where the file is fetched from: `base_url`, else $ARCHSPEC_WEIGHTS_URL, else
        torchvision's address; the file name is always torchvision's (the cache key). An
        empty `base_url=""` is no URL (fetch refuses it), not "use the default": a mirror left
        blank must not turn into a download from the internet. An empty variable is unset.
        The name goes at the end of the URL's path, before a `?query` (a mirror's access
        token) or `#fragment`: after them it named no file (`file:///dir?q#frag` read the
        folder `/dir`, "it is a directory")."""
        if base_url is not None and not isinstance(base_url, str):
            raise TypeError(
                f"base_url must be a URL (a str) or None, got {type(base_url).__name__}"
            )
        given = base_url if base_url is not None else os.environ.get(BASE_URL_ENV)
        base = given if base_url is not None or given else _table()["base_url"]
        try:
            parts = urlsplit(base)
        except ValueError:  # not a URL (an unclosed IPv6 bracket): fetch says so
            return base.rstrip("/") + "/" + self.file
        if relative_file_url(base):  # urlunsplit would put it at the root: fetch refuses it
            return base.rstrip("/") + "/" + self.file
        return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + self.file))

    def transforms(self) -> ImageClassification:
        """The preprocessing these weights expect (torchvision's ImageClassification preset:
        resize with antialias, center crop, float, normalize), as a torch module."""
        from .transforms import ImageClassification

        return ImageClassification(
            crop_size=self.crop_size,
            resize_size=self.resize_size,
            mean=self.mean,
            std=self.std,
            interpolation=self.interpolation,
        )

    def __str__(self) -> str:
        return self.full_name


@functools.cache
def relative_file_url(url: str) -> bool:
    """True for a `file:` URL whose path is relative (`file:mirror`, `file:./models`): file
    URLs name absolute paths only, and urllib reads such a one from the root (`/mirror`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() == "file" and not parts.netloc and not url[5:].startswith("/")


@functools.cache
def _table() -> dict[str, Any]:
    """The weights table, read once: `archspec check` of the 84 shipped specs asked for it
    167 times (a 67 KB JSON parse each, ~6% of the check). Read only: callers copy."""
    return json.loads(TABLE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def weights_specs() -> list[str]:
    """The built-in specs that have pretrained weights."""
    return list(_table()["models"])


def _record(spec: str) -> dict[str, Any]:
    if not isinstance(spec, str):  # the calling code's mistake, as the api's others
        raise TypeError(f"spec must be a built-in spec's name (a str), got {type(spec).__name__}")
    models = _table()["models"]
    if spec not in models:
        from .catalog import builtin_index

        # a built-in spec without weights (lenet5) is not a typo of one with them (resnet50)
        close = (
            [] if spec in builtin_index() else difflib.get_close_matches(spec, list(models), n=3)
        )
        raise WeightsError(
            f"{_shown(spec)} has no pretrained weights",
            code="E801",
            hint=(f"did you mean {', '.join(close)}? " if close else "")
            + f"pretrained weights exist for the {len(models)} built-in specs that are "
            "torchvision's models (`archspec.list_weights()` with no argument lists them); "
            "pass weights=<path or state_dict> for a checkpoint of your own",
        )
    return models[spec]  # type: ignore[no-any-return]


def _shown(text: str) -> str:
    if text.isidentifier():
        return text
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "..."


def list_weights(spec: str | None = None) -> list[str]:
    """The weights names of a built-in spec in torchvision's order (`IMAGENET1K_V1`, ...);
    without a spec, the specs that have weights. `DEFAULT` names `get_weights`' default."""
    if spec is None:
        return weights_specs()
    return list(_record(spec)["weights"])


def default_weights(spec: str) -> str:
    """The name `DEFAULT` stands for, as in torchvision's enum."""
    return _record(spec)["default"]  # type: ignore[no-any-return]


def _wrong_type(name: Any) -> NoReturn:
    raise TypeError(f"weights must be a name, a path or a state_dict, got {type(name).__name__}")


def check_strict(strict: Any) -> None:
    """`strict=` is True or False: a text such as "no" is truthy, so the load it asked to be
    lenient would be strict; the calling code's mistake is a TypeError before any work."""
    if not isinstance(strict, bool):
        raise TypeError(f"strict must be True or False, got {type(strict).__name__} {strict!r}")


def get_weights(spec: str, name: Any = "DEFAULT") -> Weights:
    """The `Weights` of a built-in spec by torchvision's name: `IMAGENET1K_V2`, `DEFAULT`,
    `ResNet50_Weights.IMAGENET1K_V2`, or torchvision's enum member itself.

    An unknown name is a WeightsError (E801) that lists the names there are.
    """
    if not isinstance(name, str) and not isinstance(getattr(name, "name", None), str):
        _wrong_type(name)  # the calling code's mistake, whichever spec it names
    record = _record(spec)
    enum = record["enum"]
    if not isinstance(name, str) and type(name).__name__ == enum and hasattr(name, "name"):
        name = name.name  # torchvision's own enum member, when the caller has torchvision
    if not isinstance(name, str):
        _wrong_type(name)
    short = name.removeprefix(f"{enum}.")
    if short == "DEFAULT":
        short = record["default"]
    entries = record["weights"]
    if short not in entries:
        names = [*entries, "DEFAULT"]
        close = difflib.get_close_matches(short.upper(), names, n=1)
        raise WeightsError(
            f"{spec} has no weights named {name[:60]!r}",
            code="E801",
            hint=(f"did you mean {close[0]}? " if close else "")
            + f"{spec}'s weights ({enum}): {', '.join(entries)}; DEFAULT is {record['default']}",
        )
    return _weights(spec, short)


def _weights(spec: str, name: str) -> Weights:
    record = _record(spec)
    e = record["weights"][name]
    cats = e["categories"]
    return Weights(
        spec=spec,
        name=name,
        enum=record["enum"],
        file=e["file"],
        categories=None if cats is None else tuple(_table()["categories"][cats]),
        num_params=e["num_params"],
        min_size=tuple(e["min_size"]),  # type: ignore[arg-type]
        acc1=e["acc1"],
        acc5=e["acc5"],
        gflops=e["gflops"],
        file_size_mb=e["file_size_mb"],
        recipe=e["recipe"],
        crop_size=e["crop_size"],
        resize_size=e["resize_size"],
        interpolation=e["interpolation"],
        mean=tuple(e["mean"]),
        std=tuple(e["std"]),
        is_default=name == record["default"],
    )


#: file suffixes that make a `weights=` string a path rather than a weights name
_CHECKPOINT_SUFFIXES = frozenset({".pth", ".pt", ".bin", ".ckpt", ".pkl", ".tar"})


def named_weights(spec: str, weights: Any) -> Weights | None:
    """The torchvision weights `weights` names, or None for a state_dict or a file: a
    str is a name unless it looks like a path (a separator, a suffix such as `.pth`)."""
    if isinstance(weights, Weights):
        return weights
    if isinstance(weights, str) and not (
        "/" in weights
        or os.sep in weights
        or Path(weights).suffix.lower() in _CHECKPOINT_SUFFIXES
        or Path(weights).exists()
    ):
        return get_weights(spec, weights)
    if isinstance(weights, (str, os.PathLike, Mapping)):
        return None
    return get_weights(spec, weights)  # torchvision's enum member, or a TypeError


@dataclass(frozen=True)
class BuilderRule:
    """What torchvision's builder does with weights, besides setting num_classes: params it
    sets when the caller did not, checkpoint keys it discards when a bool param is false,
    the warning it gives when one is true, DenseNet's renaming of old keys, and the param
    set to the weights' `min_size` (ViT's `image_size`: the model takes that size only)."""

    set: Mapping[str, Any]
    drop: Mapping[str, tuple[str, ...]]
    warn: Mapping[str, str]
    rename: tuple[str, str] | None
    size: str | None = None


def builder_rule(spec: str) -> BuilderRule:
    """The builder's rule for a spec with weights (empty for most)."""
    b = _record(spec).get("builder", {})
    rename = b.get("rename")
    return BuilderRule(
        set=dict(b.get("set", {})),
        drop={k: tuple(v) for k, v in b.get("drop", {}).items()},
        warn=dict(b.get("warn", {})),
        rename=None if rename is None else (rename[0], rename[1]),
        size=b.get("size"),
    )


def weights_params(w: Weights, params: Mapping[str, Any]) -> dict[str, Any]:
    """The spec params torchvision's builder uses with these weights, the caller's first:
    num_classes from the categories, then the builder's own (GoogLeNet's and Inception's
    `transform_input=True`, GoogLeNet without its aux heads, ViT's `image_size` from the
    weights' min_size, as torchvision's builder overwrites it)."""
    out = dict(params)
    if w.categories is not None:
        out.setdefault("num_classes", len(w.categories))
    rule = builder_rule(w.spec)
    for key, value in rule.set.items():
        out.setdefault(key, value)
    if rule.size is not None:
        out[rule.size] = w.min_size[0]
    return out


def weights_line(spec: str) -> str | None:
    """One line naming a spec's weights, the default marked (`IMAGENET1K_V1,
    IMAGENET1K_V2 (default)`), or None when it has none: what `check` and `summary` print."""
    if spec not in _table()["models"]:
        return None
    record = _record(spec)
    return ", ".join(
        n + (" (default)" if n == record["default"] else "") for n in record["weights"]
    )


def weights_line_for(
    spec: Any, name: str, index: Mapping[str, tuple[Path, str | None]] | None = None
) -> str | None:
    """`weights_line(name)` when `spec` (what the command line was given) is the built-in
    spec `name` or its file: a spec of one's own that is also called resnet50 has none.
    `index`: `builtin_index()` as the caller already has it (one for many specs)."""
    if index is None:
        from .catalog import builtin_index

        index = builtin_index()
    entry = index.get(name)
    if entry is None or not isinstance(spec, str):
        return None
    if spec != name:
        try:
            if not Path(spec).resolve().samefile(entry[0]):
                return None
        except OSError:
            return None
    return weights_line(name)


__all__ = [
    "BASE_URL_ENV",
    "BuilderRule",
    "Weights",
    "WeightsError",
    "builder_rule",
    "default_weights",
    "get_weights",
    "list_weights",
    "named_weights",
    "weights_line",
    "weights_line_for",
    "weights_params",
    "weights_specs",
]
