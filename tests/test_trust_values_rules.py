"""Spec values never cause an internal error (issue 12, section 4), continued: init rules
torch refuses, names that hide other names, the API's own arguments, `archspec.load`.

Expressions and the names nn.Module owns are in tests/test_trust_values.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import archspec
from archspec.errors import ArchSpecError
from tests.test_trust_values import refused, spec_text, write

# --------------------------------------------------------------------------------------
# Init rules torch refuses

INIT_LAYERS = (
    "{name: c, type: conv2d, out_channels: 4, kernel_size: 3}",
    "{name: bn, type: batchnorm2d}",
    "{type: flatten}",
    "{name: fc, type: linear, out_features: 2}",
)


@pytest.mark.parametrize(
    ("rule", "code", "col"),
    [
        ("{layers: [conv2d], weight: {normal: {std: -1}}}", "E204", 47),
        ("{layers: [conv2d], weight: {uniform: {a: 2, b: 1}}}", "E204", 52),
        ("{layers: [conv2d], weight: {trunc_normal: {a: 2, b: -2}}}", "E204", 57),
        ("{layers: [conv2d], weight: {trunc_normal: {std: 0}}}", "E204", 53),
        ("{layers: [conv2d], weight: {xavier_normal: {gain: -1}}}", "E204", 55),
        ("{layers: [conv2d], weight: {uniform: {a: -1.0e+300}}}", "E204", 46),
        ("{layers: [conv2d], weight: {constant: 1.0e+300}}", "E204", 43),
        ("{layers: [conv2d], bias: {kaiming_normal: {}}}", "E313", 30),
        ("{layers: [batchnorm2d], weight: {xavier_uniform: {}}}", "E313", 37),
        ("{paths: ['*'], weight: {kaiming_uniform: {}}}", "E313", 28),
        ("{layers: [linear], when: false, bias: {xavier_normal: {}}}", "E313", 43),
    ],
)
def test_init_rules_torch_refuses_are_located(
    tmp_path: Path, rule: str, code: str, col: int
) -> None:
    path = write(tmp_path, spec_text(*INIT_LAYERS, extra=f"init:\n  - {rule}\n"))
    refused(path, code, 10, col)


@pytest.mark.parametrize(
    "rule",
    [
        "{layers: [conv2d], weight: {uniform: {a: 1, b: 1}}}",  # torch accepts a == b
        "{layers: [conv2d], weight: {trunc_normal: {a: 1, b: 1}}}",
        "{layers: [conv2d], weight: {normal: {std: 0}}}",
        "{layers: [conv2d, linear], weight: {kaiming_normal: {mode: fan_out}}, bias: zeros}",
        "{paths: [c, fc], weight: {xavier_uniform: {gain: 0}}}",
        "{layers: [batchnorm2d], weight: ones, bias: {uniform: {a: -1, b: 1}}}",
    ],
)
def test_init_rules_torch_accepts_still_build(rule: str) -> None:
    torch = pytest.importorskip("torch")
    text = spec_text(*INIT_LAYERS, extra=f"init:\n  - {rule}\n")
    assert archspec.check(text).ok
    model = archspec.compile(text)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)
    namespace: dict[str, Any] = {}
    exec(compile(archspec.emit(text), "net.py", "exec"), namespace)
    assert namespace["Net"]()(torch.zeros(1, 3, 32, 32)).shape == (1, 2)


def test_tensor_ranks_known_without_torch_match_torch() -> None:
    """The ranks lowering uses to refuse fan-based init (each op's `init_tensors`) agree with
    the modules torch builds, for every built-in layer kind with parameters."""
    pytest.importorskip("torch")
    from archspec.ir import iter_nodes
    from archspec.lower import tensor_rank
    from archspec.ops import REGISTRY
    from archspec.ops.base import Op

    with_params = {
        kind
        for kind, op in REGISTRY.items()
        if type(op).params is not Op.params and type(op).__module__.startswith("archspec.ops.")
    }  # plugins' layers may leave it to torch, which decides when building them
    specs = [
        spec_text(
            "{type: conv2d, out_channels: 4, kernel_size: 3, bias: false}",
            "{type: batchnorm2d, affine: false}",
            "{type: batchnorm2d}",
            "{type: conv2d, out_channels: 4, kernel_size: 1}",
            "{type: flatten}",
            "{type: linear, out_features: 4}",
            "{type: linear, out_features: 4, bias: false}",
            "{type: batchnorm1d}",
        ),
        "archspec: 1\nname: net\ninput: [N, 2, 16]\nlayers:\n"
        "  - {type: conv1d, out_channels: 4, kernel_size: 3}\n  - {type: batchnorm1d}\n",
        "archspec: 1\nname: net\ninput: [N, 2, 8, 8, 8]\nlayers:\n"
        "  - {type: conv3d, out_channels: 4, kernel_size: 3, bias: false}\n"
        "  - {type: batchnorm3d}\n",
    ]
    checked = Counter()
    for text in specs:
        graph = archspec.build_graph(text)
        modules = dict(archspec.compile(text, device="meta").named_modules())
        for path, node in iter_nodes(graph.root):
            if node.kind not in with_params:
                continue
            for which in ("weight", "bias"):
                tensor = getattr(modules[path], which, None)
                assert tensor_rank(node, which) == (None if tensor is None else tensor.dim())
                checked[node.kind] += 1
    assert set(checked) == {
        "conv1d",
        "conv2d",
        "conv3d",
        "linear",
        "batchnorm1d",
        "batchnorm2d",
        "batchnorm3d",
    }, checked


# --------------------------------------------------------------------------------------
# Names that shadow others


def test_a_param_named_in_channels_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        spec_text(
            "{type: conv2d, out_channels: in_channels, kernel_size: 3}",
            params="  in_channels: 16\n",
        ),
    )
    refused(path, "E204", 5, 3)


def test_a_block_param_named_in_channels_is_refused(tmp_path: Path) -> None:
    blocks = (
        "  B:\n    params: {in_channels: 8}\n    layers:\n"
        "      - {type: conv2d, out_channels: in_channels, kernel_size: 3}\n"
    )
    refused(write(tmp_path, spec_text("{type: B}", blocks=blocks)), "E204", 6, 14)


def test_a_repeat_index_that_hides_a_root_param_is_refused(tmp_path: Path) -> None:
    """`i` is the default index: check used to read the index, emit the param."""
    path = write(
        tmp_path,
        spec_text(
            '{type: repeat, count: 2, layer: {type: conv2d, out_channels: "i + 4", '
            "kernel_size: 1}}",
            params="  i: 16\n",
        ),
    )
    err = refused(path, "E304", 7, 5)
    assert "index: k" in (err.hint or "")


@pytest.mark.parametrize(("index", "line", "col"), [("k", 10, 31), ("w", 11, 31)])
def test_a_repeat_index_in_a_block_is_checked_against_its_scope(
    tmp_path: Path, index: str, line: int, col: int
) -> None:
    blocks = (
        "  B:\n    params: {k: 2}\n    layers:\n"
        "      - {type: repeat, index: k, count: 2, layer: {type: relu}}\n"
        "      - {type: repeat, index: w, count: 2, layer: {type: relu}}\n"
    )
    path = write(tmp_path, spec_text("{type: B}", params="  w: 4\n", blocks=blocks))
    result = archspec.check(path)
    found = {(d.code, d.span.line, d.span.col) for d in result.diagnostics}
    assert ("E304", line, col) in found
    assert len(found) == 2


@pytest.mark.parametrize(
    "text",
    [
        # nested repeats may reuse an index: the inner one hides the outer in emitted code too
        spec_text(
            "{type: repeat, count: 2, layer: {type: repeat, count: 2, layer: {type: conv2d, "
            'out_channels: "i + 4", kernel_size: 1}}}'
        ),
        # a block param may share a spec param's name: inside the block it is the block's
        spec_text(
            "{type: B}",
            "{type: conv2d, out_channels: w, kernel_size: 1}",
            params="  w: 16\n",
            blocks="  B:\n    params: {w: 8}\n    layers:\n"
            "      - {type: conv2d, out_channels: w, kernel_size: 1}\n",
        ),
    ],
)
def test_scoping_that_check_and_emit_agree_on_is_kept(text: str) -> None:
    torch = pytest.importorskip("torch")
    assert archspec.check(text).ok
    model = archspec.compile(text)
    namespace: dict[str, Any] = {}
    exec(compile(archspec.emit(text), "net.py", "exec"), namespace)
    emitted = namespace["Net"]()
    assert [p.shape for p in model.parameters()] == [p.shape for p in emitted.parameters()]
    x = torch.zeros(1, 3, 8, 8)
    assert model(x).shape == emitted(x).shape


# --------------------------------------------------------------------------------------
# The API's own arguments


def test_compile_takes_none_for_either_size_limit() -> None:
    for limits in ({"max_params": None}, {"max_activations": None}, {"max_params": 0}):
        if limits.get("max_params") == 0:
            with pytest.raises(ArchSpecError) as info:
                archspec.compile("lenet5", device="meta", **limits)
            assert info.value.codes == ["E501"]
        else:
            assert archspec.compile("lenet5", device="meta", **limits) is not None


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ({"max_params": -1}, ValueError),
        ({"max_params": 1.5}, TypeError),
        ({"max_params": True}, TypeError),
        ({"max_activations": "10"}, TypeError),
        ({"max_layers": None}, TypeError),
        ({"max_layers": 0}, TypeError),
    ],
)
def test_bad_limit_arguments_are_programmer_errors(limits: dict, error: type) -> None:
    with pytest.raises(error):
        archspec.compile("lenet5", device="meta", **limits)


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("1,1,32,32", (1, 1, 32, 32)),
        (" 1, 1 ,32 ,32 ", (1, 1, 32, 32)),
        ("1x1x32x32", (1, 1, 32, 32)),
        ((1, 1, 32, 32), (1, 1, 32, 32)),
        ([2, 1, 35, 35], (2, 1, 35, 35)),
    ],
)
def test_check_input_as_a_sequence_or_text(value: Any, shape: tuple) -> None:
    result = archspec.check("lenet5", input=value)
    assert result.ok
    assert tuple(d.value for d in result.input_shape) == shape


def test_check_input_takes_a_torch_size() -> None:
    torch = pytest.importorskip("torch")
    assert archspec.check("lenet5", input=torch.Size([1, 1, 32, 32])).ok


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ((1, 1, 32.5, 32), TypeError),
        ((1, 1, True, 32), TypeError),
        (32, TypeError),
        (b"1,1,32,32", TypeError),
        ({"N": 1}, TypeError),
        ("1,1,,32", ValueError),
        ("", ValueError),
        ("1,1,-32,32", ValueError),
        ("1,1,32.5,32", ValueError),
        ("1,1," + "9" * 5000 + ",32", ValueError),  # never parsed as a 5000-digit int
        ((1, 0, 32, 32), ValueError),
        ((1,) * 9, ValueError),
        ((), ValueError),
        (range(10**12), ValueError),
    ],
)
def test_bad_input_arguments_raise_before_the_spec_is_read(value: Any, error: type) -> None:
    for call in (archspec.check, archspec.summary):
        with pytest.raises(error):
            call("no such spec", input=value)


def test_check_reports_a_bad_spec_and_bad_params_as_results() -> None:
    """Nothing in the spec or its params makes check raise; a shape of the wrong rank
    for this spec is a result too."""
    cases = [
        ("lenet5", {"input": (1, 1, 32)}),
        ("lenet5", {"num_classes": "ten"}),
        ("lenet5", {"no_such_param": 1}),
        ("no such spec", {}),
        (spec_text('{type: conv2d, out_channels: "0 ** -1", kernel_size: 3}'), {}),
        (spec_text("{name: _modules, type: relu}"), {}),
        (12, {}),
    ]
    for source, kwargs in cases:
        result = archspec.check(source, **kwargs)  # type: ignore[arg-type]
        assert not result.ok and result.diagnostics, (source, kwargs)


# --------------------------------------------------------------------------------------
# archspec.load takes built-in names only


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "specs/lenet5.yaml", "lenet5.yaml", "resnet5"]
)
def test_load_takes_built_in_names_only(name: str, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    secret = tmp_path / "lenet5.yaml"
    secret.write_text("archspec: 1\nname: SECRET-LINE\n")
    with pytest.raises(ArchSpecError) as info:
        archspec.load(name)
    assert info.value.codes == ["E100"]
    assert "archspec.compile" in (info.value.hint or "")
    assert "SECRET" not in info.value.render()


def test_load_suggests_close_names_and_refuses_non_text() -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.load("resnet5")
    assert "did you mean resnet50" in (info.value.hint or "")
    with pytest.raises(TypeError):
        archspec.load(Path("specs/lenet5.yaml"))  # type: ignore[arg-type]
    torch = pytest.importorskip("torch")
    assert archspec.load("lenet5", num_classes=3)(torch.zeros(1, 1, 32, 32)).shape == (1, 3)
