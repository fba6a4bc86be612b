"""Pretrained weights, offline: `archspec.load(spec, weights=...)` finds torchvision's file in
torch.hub's cache or downloads it from a `file://` base URL, checks its hash, loads it
strictly (or reports the state_dict diff with strict=False) and sets the params
torchvision's builder sets. The checkpoints are made here from the specs themselves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import urllib.request
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch

import archspec
from archspec.hub import _renamed, cache_dir
from archspec.weights import builder_rule

from .parity.weights import deterministic_input

ZOO = json.loads((Path(__file__).parent / "parity" / "zoo.json").read_text())["models"]
SPEC = "squeezenet1_1"  # 1.2 M params: the cheapest twin to build and save


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh torch.hub cache; $ARCHSPEC_WEIGHTS_URL unset."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL opened is recorded and refused."""
    opened: list[str] = []

    def refuse(url: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(getattr(url, "full_url", url))
        raise AssertionError(f"no network in tests: {opened[-1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "urlopen", refuse)
    return opened


def _checkpoint(spec: str = SPEC, **params: Any) -> OrderedDict[str, torch.Tensor]:
    """A state_dict of the spec with values unlike any fresh initialisation: seeded normal
    weights scaled by fan-in (a forward stays finite), positive variances, zero counters."""
    file, variant = archspec.builtin_index()[spec]
    model = archspec.compile(file, device="meta", variant=variant, **params)
    gen = torch.Generator().manual_seed(0)
    state = OrderedDict()
    for key, t in model.state_dict().items():
        if not t.is_floating_point():
            state[key] = torch.zeros(t.shape, dtype=t.dtype)
            continue
        x = torch.randn(t.shape, generator=gen)
        if key.endswith("running_var"):
            x = 1 + 0.25 * x.abs()
        elif t.ndim >= 2:
            x = x / t[0].numel() ** 0.5
        else:
            x = (1.0 if key.endswith("weight") else 0.0) + 0.05 * x
        state[key] = x
    return state


def _hashed(state: dict[str, torch.Tensor], folder: Path, spec: str = SPEC) -> archspec.Weights:
    """Save `state` in `folder` under `<spec>-<sha256 prefix>.pth`; that file's Weights."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    weights = dataclasses.replace(archspec.get_weights(spec), file=f"{spec}-{digest[:10]}.pth")
    tmp.rename(folder / weights.file)
    return weights


def _same(model: torch.nn.Module, state: dict[str, torch.Tensor], skip: tuple[str, ...] = ()):
    ours = model.state_dict()
    return all(torch.equal(ours[k], v) for k, v in state.items() if not k.startswith(skip))


def test_a_cached_file_is_used_without_any_url(hub: Path, offline: list[str]) -> None:
    """torchvision's own file name in torch.hub's cache: no URL is opened (the base URL
    given would fail), the weights load, and DEFAULT is the same file."""
    state = _checkpoint()
    hub.mkdir(parents=True)
    torch.save(state, hub / archspec.get_weights(SPEC, "IMAGENET1K_V1").file)
    for name in ("IMAGENET1K_V1", "DEFAULT", "SqueezeNet1_1_Weights.IMAGENET1K_V1"):
        model = archspec.load(SPEC, weights=name, base_url="http://127.0.0.1:9/none")
        assert _same(model, state)
    assert offline == []
    assert cache_dir() == hub


def test_a_file_url_download_is_verified_and_cached(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _checkpoint()
    weights = _hashed(state, tmp_path / "mirror")
    monkeypatch.setenv("ARCHSPEC_WEIGHTS_URL", (tmp_path / "mirror").as_uri())
    assert weights.url() == (tmp_path / "mirror" / weights.file).as_uri()
    model = archspec.load(SPEC, weights=weights)
    assert _same(model, state)
    assert [p.name for p in hub.iterdir()] == [weights.file]
    assert (hub / weights.file).read_bytes() == (tmp_path / "mirror" / weights.file).read_bytes()
    # base_url= wins over the environment; the cached copy is used from now on
    assert weights.url("https://mirror.example/models/") == (
        f"https://mirror.example/models/{weights.file}"
    )
    (tmp_path / "mirror" / weights.file).unlink()
    assert _same(archspec.load(SPEC, weights=weights), state)


def test_torchvisions_address_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    w = archspec.get_weights("resnet50", "IMAGENET1K_V2")
    assert w.url() == "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
    assert w.hash_prefix == "11ad3fa6"
    assert archspec.get_weights("mnasnet0_5").hash_prefix == "3ffadce67e"


def test_a_file_whose_hash_does_not_match_its_name_is_refused(hub: Path, tmp_path: Path) -> None:
    state = _checkpoint()
    good = _hashed(state, tmp_path / "mirror")
    bad = dataclasses.replace(good, file=f"{SPEC}-0123456789.pth")
    (tmp_path / "mirror" / good.file).rename(tmp_path / "mirror" / bad.file)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights=bad, base_url=(tmp_path / "mirror").as_uri())
    assert err.value.error_code == "E802"
    assert "0123456789" in str(err.value) and "nothing was written" in str(err.value)
    assert not hub.exists() or list(hub.iterdir()) == []


def test_an_unreachable_file_is_a_clear_error(hub: Path, tmp_path: Path) -> None:
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT", base_url=(tmp_path / "empty").as_uri())
    assert err.value.error_code == "E802"
    assert "squeezenet1_1-b8a52dc0.pth" in str(err.value.hint)
    assert str(hub) in str(err.value.hint)


def test_a_damaged_cached_file_says_so(hub: Path) -> None:
    hub.mkdir(parents=True)
    (hub / archspec.get_weights(SPEC).file).write_bytes(b"not a checkpoint")
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT")
    assert err.value.error_code == "E802" and "delete it" in str(err.value.hint)


class _RunsCode:
    """A pickle that would create a file when unpickled with weights_only=False."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_a_cached_file_with_code_is_refused_unrun_and_never_advised(
    hub: Path, tmp_path: Path, offline: list[str]
) -> None:
    marker = tmp_path / "ran"
    hub.mkdir(parents=True)
    torch.save({"x": _RunsCode(marker)}, hub / archspec.get_weights(SPEC).file)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT")
    assert err.value.error_code == "E802" and "delete it" in str(err.value.hint)
    # torch's message tells how to load the file anyway (weights_only=False, which runs the
    # code), with terminal escapes: never repeated
    message = str(err.value)
    assert "Weights only load failed" not in message and "weights_only" not in message
    assert "\x1b" not in message and "as a checkpoint (UnpicklingError)" in message
    assert not marker.exists() and offline == []


def test_a_cache_entry_that_is_no_file_is_named_not_fetched(
    hub: Path, tmp_path: Path, offline: list[str]
) -> None:
    name = archspec.get_weights(SPEC).file
    (hub / name).mkdir(parents=True)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT")
    assert err.value.error_code == "E802" and "not a regular file" in str(err.value)
    (hub / name).rmdir()
    (hub / name).symlink_to(tmp_path / "missing.pth")  # a dangling link
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT")
    assert "not a regular file" in str(err.value) and offline == []


def test_a_server_that_never_answers_is_an_error_not_a_hang(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mirror or proxy that accepts the connection and sends nothing: torch.hub's urlopen
    has no timeout of its own, so without archspec's the load would wait forever."""
    import socket
    import time

    import archspec.download

    monkeypatch.setattr(archspec.download, "READ_TIMEOUT", 0.5)
    with socket.create_server(("127.0.0.1", 0)) as server:  # listens, never accepts
        port = server.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(archspec.ArchSpecError) as err:
            archspec.load(SPEC, weights="DEFAULT", base_url=f"http://127.0.0.1:{port}/models")
    assert time.monotonic() - start < 30
    assert err.value.error_code == "E802" and "timed out" in str(err.value)
    assert not hub.exists() or list(hub.iterdir()) == []  # no partial file left
    assert socket.getdefaulttimeout() is None  # the process's default is never set


@pytest.mark.parametrize("base", ["{folder}", "relative/folder", "http://[::1", ""])
def test_a_base_url_that_is_no_url_is_refused_and_leaves_no_partial_file(
    hub: Path, tmp_path: Path, offline: list[str], base: str
) -> None:
    """torch.hub opens its `.partial` file before it parses the URL, and leaks it when the
    URL does not parse (a folder's path given for a file:// URL)."""
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT", base_url=base.format(folder=tmp_path))
    assert err.value.error_code == "E802" and "not a URL" in str(err.value)
    assert "as_uri()" in str(err.value.hint)
    assert not hub.exists() or list(hub.iterdir()) == []  # no .partial file
    assert offline == []


def test_strict_load_names_the_tensors_that_do_not_fit(hub: Path) -> None:
    state = _checkpoint()
    hub.mkdir(parents=True)
    torch.save(state, hub / archspec.get_weights(SPEC).file)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT", num_classes=10)
    assert err.value.error_code == "E803"
    message = str(err.value)
    assert "classifier.1.weight (1000, 512, 1, 1) -> (10, 512, 1, 1)" in message
    assert "classifier.1.bias (1000) -> (10)" in message
    assert "strict=False" in str(err.value.hint)


def test_strict_false_loads_what_fits_and_reports_the_diff(hub: Path) -> None:
    state = _checkpoint()
    hub.mkdir(parents=True)
    torch.save(state, hub / archspec.get_weights(SPEC).file)
    with pytest.warns(archspec.WeightsWarning) as caught:
        model = archspec.load(SPEC, weights="DEFAULT", num_classes=10, strict=False)
    head = ("classifier.1.",)
    assert _same(model, state, skip=head)
    assert model.state_dict()["classifier.1.weight"].shape == (10, 512, 1, 1)
    assert not torch.equal(model.state_dict()["classifier.1.bias"], state["classifier.1.bias"][:10])
    text = str(caught[0].message)
    assert "2 change shape, 0 appear, 0 vanish" in text
    assert "  changed  classifier.1.weight  (1000, 512, 1, 1) -> (10, 512, 1, 1)" in text
    # the same diff as archspec.diff between the two specs
    spec_diff = archspec.diff(SPEC, SPEC, params_b={"num_classes": 10})
    fresh = archspec.load(SPEC, num_classes=10)
    with pytest.warns(archspec.WeightsWarning):
        diff = archspec.load_weights(fresh, archspec.get_weights(SPEC), strict=False)
    assert diff.changed == spec_diff.changed
    assert diff.added == spec_diff.added == () and diff.removed == spec_diff.removed == ()
    assert diff.unchanged == spec_diff.unchanged


def test_missing_and_unexpected_tensors(tmp_path: Path) -> None:
    state = _checkpoint()
    del state["features.0.bias"]
    state["extra.weight"] = torch.zeros(3)
    model = archspec.load(SPEC)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load_weights(model, state)
    assert err.value.error_code == "E803"
    assert "features.0.bias missing from the checkpoint" in str(err.value)
    assert "extra.weight not in the model" in str(err.value)
    path = tmp_path / "mine.pth"
    torch.save(state, path)
    with pytest.warns(archspec.WeightsWarning):
        diff = archspec.load_weights(model, path, strict=False)
    assert [k for k, _ in diff.added] == ["features.0.bias"]
    assert [k for k, _ in diff.removed] == ["extra.weight"]
    assert diff.changed == ()
    assert _same(model, {k: v for k, v in state.items() if k != "extra.weight"})


def test_a_path_or_a_state_dict(tmp_path: Path) -> None:
    state = _checkpoint()
    assert _same(archspec.load(SPEC, weights=state), state)
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    assert _same(archspec.load(SPEC, weights=str(path)), state)
    assert _same(archspec.load(SPEC, weights=path), state)
    # a spec without torchvision weights takes a state_dict too
    small = _checkpoint("lenet5")
    assert _same(archspec.load("lenet5", weights=small), small)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights=str(tmp_path / "nope.pth"))
    assert err.value.error_code == "E801" and "does not exist" in str(err.value)
    # a file:// URL is no path: the hint says where a URL goes
    with pytest.raises(archspec.ArchSpecError, match="URL's folder goes in base_url="):
        archspec.load(SPEC, weights=(tmp_path / "nope.pth").as_uri())


def test_old_checkpoints_without_num_batches_tracked_load_strictly() -> None:
    """torchvision's 2017 files predate BatchNorm's counter; torch fills it in."""
    state = _checkpoint("mnasnet0_5")
    old = OrderedDict((k, v) for k, v in state.items() if "num_batches_tracked" not in k)
    model = archspec.load("mnasnet0_5")
    diff = archspec.load_weights(model, old)
    assert diff.compatible and _same(model, old)


def test_unknown_weights_list_the_ones_there_are() -> None:
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load("resnet50", weights="IMAGENET1K_V3")
    assert err.value.error_code == "E801"
    assert "resnet50 has no weights named 'IMAGENET1K_V3'" in str(err.value)
    assert "IMAGENET1K_V1, IMAGENET1K_V2; DEFAULT is IMAGENET1K_V2" in str(err.value.hint)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load("lenet5", weights="DEFAULT")
    assert err.value.error_code == "E801" and "lenet5 has no pretrained weights" in str(err.value)
    # a built-in spec without weights is not a misspelt one with them (it suggested resnet50)
    assert "did you mean" not in str(err.value.hint)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.get_weights("resnet5", "DEFAULT")
    assert "did you mean resnet50" in str(err.value.hint)
    with pytest.raises(TypeError):
        archspec.load(SPEC, weights=3)
    # the calling code's mistake whatever the spec (one without weights said it had none)
    with pytest.raises(TypeError, match="weights must be a name, a path or a state_dict"):
        archspec.load("lenet5", weights=3)


@pytest.mark.parametrize("strict", ["no", "False", 0, None])
def test_strict_that_is_no_bool_is_a_type_error(strict: object) -> None:
    """strict="no" is truthy: the lenient load it asked for was strict. The calling code's
    mistake is a TypeError before anything is read or built."""
    with pytest.raises(TypeError, match="strict must be True or False"):
        archspec.load(SPEC, weights={}, strict=strict)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="strict must be True or False"):
        archspec.load_weights(torch.nn.Linear(2, 2), {}, strict=strict)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", [3, b"resnet50", ("resnet50",)])
def test_a_spec_that_is_no_name_is_a_type_error_that_says_so(spec: object) -> None:
    """The calling code's mistake, raised before any lookup (was "'int' object is not
    iterable" from difflib, or AttributeError for bytes)."""
    for call in (archspec.list_weights, archspec.get_weights):
        with pytest.raises(TypeError, match="spec must be a built-in spec's name"):
            call(spec)  # type: ignore[arg-type]


def test_default_resolves_as_torchvisions() -> None:
    for model, record in ZOO.items():
        if "@" in model:
            continue
        spec = "alexnet_torchvision" if model == "alexnet" else model
        weights = archspec.get_weights(spec, "DEFAULT")
        assert weights.name == record["weights"]["default"], spec
        assert weights.is_default and weights.full_name.endswith("." + weights.name)


def test_metadata_for_every_twin_with_weights() -> None:
    """Every zoo model has weights with the metadata the zoo fixture recorded on its own."""
    twins = {("alexnet_torchvision" if m == "alexnet" else m): m for m in ZOO if "@" not in m}
    assert len(twins) == 80 and sorted(archspec.list_weights()) == sorted(twins)
    assert set(twins) <= set(archspec.builtin_index())
    for spec, model in twins.items():
        entries = ZOO[model]["weights"]["entries"]
        assert sorted(archspec.list_weights(spec)) == sorted(entries), spec
        for name, expected in entries.items():
            w = archspec.get_weights(spec, name)
            assert w.num_params == expected["num_params"]
            assert [w.crop_size] == expected["crop_size"]
            assert [w.resize_size] == expected["resize_size"]
            assert list(w.mean) == expected["mean"] and list(w.std) == expected["std"]
            assert w.gflops == expected["ops_gflops"]
            assert list(w.min_size) == expected["min_size"]
            assert w.interpolation == expected["interpolation"].lower().split(".")[-1]
            assert w.acc1 == expected["acc1"] or (w.acc1 is None and math.isnan(expected["acc1"]))
            assert w.file.startswith(model[:5])
            assert w.meta["_metrics"]["ImageNet-1K"]["acc@1"] == w.acc1
            if name != "IMAGENET1K_FEATURES":
                assert w.categories is not None and len(w.categories) == 1000
                assert w.acc5 is not None and w.acc5 > w.acc1  # type: ignore[operator]
    w = archspec.get_weights("resnet50", "IMAGENET1K_V2")
    assert (w.acc1, w.acc5, w.gflops, w.resize_size) == (80.858, 95.434, 4.089, 232)
    assert w.categories is not None and (w.categories[0], w.categories[-1]) == (
        "tench",
        "toilet tissue",
    )
    assert archspec.get_weights("vgg16", "IMAGENET1K_FEATURES").categories is None


@pytest.fixture(scope="module")
def googlenet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torch.hub cache holding a GoogLeNet checkpoint with its aux heads, as
    torchvision's file has them."""
    home = tmp_path_factory.mktemp("torch")
    state = _checkpoint("googlenet", aux_logits=True)
    assert any(k.startswith("aux1.") for k in state)
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, home / "hub" / "checkpoints" / archspec.get_weights("googlenet").file)
    return home


def _like(model: torch.nn.Module, **params: Any) -> torch.nn.Module:
    """GoogLeNet without aux heads with `params`, holding `model`'s weights (built on the
    meta device: no init)."""
    other = archspec.compile("googlenet", device="meta", aux_logits=False, **params)
    other = other.to_empty(device="cpu")
    other.load_state_dict(model.state_dict())
    return other.eval()


def _transform_input(x: torch.Tensor) -> torch.Tensor:
    """torchvision's GoogLeNet._transform_input: ImageNet's normalisation to (x - 0.5) / 0.5."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return torch.cat(
        [x[:, i : i + 1] * (s / 0.5) + (m - 0.5) / 0.5 for i, (m, s) in enumerate(zip(mean, std))],
        1,
    )


def test_googlenet_gets_transform_input_and_drops_its_aux_heads(
    googlenet_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GoogLeNet with weights: transform_input=True, and the aux heads, which are in
    torchvision's file, dropped after the load, as torchvision's builder does."""
    monkeypatch.setenv("TORCH_HOME", str(googlenet_file))
    state = torch.load(next((googlenet_file / "hub" / "checkpoints").iterdir()))
    model = archspec.load("googlenet", weights="DEFAULT").eval()
    assert not any(k.startswith("aux") for k in model.state_dict())
    assert _same(model, state, skip=("aux1.", "aux2."))
    plain = _like(model, transform_input=False)
    x = deterministic_input((1, 3, 64, 64))
    with torch.no_grad():
        out = model(x)
        assert torch.allclose(out, plain(_transform_input(x)), rtol=1e-5, atol=1e-6)
        assert not torch.allclose(out, plain(x), rtol=1e-3)
    rule = builder_rule("inception_v3")
    assert rule.set == {"transform_input": True, "aux_logits": True}
    assert rule.drop == {"aux_logits": ("AuxLogits.",)}
    assert archspec.api.weights_params(archspec.get_weights("inception_v3"), {}) == {
        "num_classes": 1000,
        "transform_input": True,
        "aux_logits": True,
    }


@pytest.mark.heavy
def test_googlenet_with_weights_keeps_the_callers_params(
    googlenet_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aux_logits=True keeps the (untrained) aux heads with torchvision's warning;
    transform_input=False stands."""
    monkeypatch.setenv("TORCH_HOME", str(googlenet_file))
    state = torch.load(next((googlenet_file / "hub" / "checkpoints").iterdir()))
    with pytest.warns(UserWarning, match="NOT pretrained") as caught:
        with_aux = archspec.load("googlenet", weights="DEFAULT", aux_logits=True)
    assert {w.filename for w in caught} == {__file__}  # the caller's line
    assert _same(with_aux, state)
    kept = archspec.load("googlenet", weights="DEFAULT", transform_input=False).eval()
    plain = _like(kept, transform_input=False)
    x = deterministic_input((1, 3, 64, 64))
    with torch.no_grad():
        assert torch.equal(kept(x), plain(x))


def test_densenet_keys_are_renamed_as_torchvision_does() -> None:
    state = archspec.compile("densenet121", device="meta").state_dict()
    keys = [k for k in state if not k.endswith("num_batches_tracked")]  # as in the old files
    old = OrderedDict()
    for k in keys:
        for part in ("norm1", "conv1", "norm2", "conv2"):
            k = k.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
        old[k] = torch.zeros(1)
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    assert "features.norm5.weight" in old  # not a dense layer's: kept as it is
    renamed = _renamed(old, archspec.get_weights("densenet121"))
    assert list(renamed) == keys


def test_compile_cli_refuses_weights() -> None:
    from typer.testing import CliRunner

    from archspec.cli import app

    result = CliRunner().invoke(app, ["compile", "resnet50", "--weights", "IMAGENET1K_V2"])
    assert result.exit_code == 1
    out = result.output
    assert "written source carries no weights" in out
    assert 'archspec.load("resnet50", weights="IMAGENET1K_V2")' in out


def test_warnings_are_quiet_for_a_strict_load(hub: Path) -> None:
    state = _checkpoint()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert archspec.load_weights(archspec.load(SPEC), state).compatible


def test_check_and_summary_list_the_weights(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from archspec.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["check", "resnet50", "lenet5"]).output
    assert "  weights IMAGENET1K_V1, IMAGENET1K_V2 (default)\n" in out
    assert out.count("weights") == 1  # lenet5 has none
    family = runner.invoke(app, ["check", "--json", str(archspec.builtin_index()["vgg16"][0])])
    listed = {r["name"]: r.get("weights") for r in json.loads(family.output)}
    assert listed["vgg16"] == ["IMAGENET1K_V1", "IMAGENET1K_FEATURES"]
    assert listed["vgg11"] == ["IMAGENET1K_V1"]
    # a spec of one's own called resnet50 is not torchvision's
    mine = tmp_path / "resnet50.yaml"
    mine.write_text(
        "archspec: 1\nname: resnet50\ninput: [N, 4]\nlayers:\n  - {type: linear, out_features: 2}\n"
    )
    assert "weights" not in runner.invoke(app, ["check", str(mine)]).output
    table = runner.invoke(app, ["summary", "squeezenet1_1", "--input", "1,3,224,224"]).output
    assert (  # wrapped at the width (80 here) as the footer is: compared as words
        'pretrained weights: IMAGENET1K_V1 (default); in Python: archspec.load("squeezenet1_1"'
        in " ".join(table.split())
    )


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_file_mirror_entry_that_is_no_regular_file_is_refused_unread(
    hub: Path, tmp_path: Path, kind: str
) -> None:
    """torch.hub opened a FIFO and waited for a writer forever, and copied a link to
    /dev/zero into the cache until the disk was full; the alarm bounds a regression."""
    import signal

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    entry = mirror / archspec.get_weights(SPEC).file
    {"fifo": os.mkfifo, "device": lambda p: p.symlink_to("/dev/zero"), "folder": Path.mkdir}[kind](
        entry
    )

    def stop(*_: object) -> None:
        raise TimeoutError("the fetch did not end")

    before = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 10)
    try:
        with pytest.raises(archspec.ArchSpecError) as err:
            archspec.load(SPEC, weights="DEFAULT", base_url=mirror.as_uri())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert err.value.error_code == "E802" and "nothing was read" in str(err.value.hint)
    assert not hub.exists() or list(hub.iterdir()) == []  # no .partial file


def test_a_cached_file_is_used_whatever_the_mirror_holds_under_its_name(
    hub: Path, tmp_path: Path, offline: list[str]
) -> None:
    """A file already in torch.hub's cache is used as it is (docs/pretrained.md); a
    `file://` mirror holding a folder under its name made every load E802 ('it is a
    directory'), the mirror checked before the cache was looked at."""
    mirror = tmp_path / "mirror"
    (mirror / archspec.get_weights(SPEC).file).mkdir(parents=True)
    hub.mkdir(parents=True)
    state = _checkpoint()
    torch.save(state, hub / archspec.get_weights(SPEC).file)
    model = archspec.load(SPEC, weights="DEFAULT", base_url=mirror.as_uri())
    key = next(k for k in state if k.endswith("weight"))
    assert torch.equal(model.state_dict()[key], state[key]) and offline == []
