"""Hostile and broken specs: each is refused fast with its error code at its line and column.

The corpus is `tests/hostile/*.yaml`, one case per file. The first line of each file records
what must happen, `# expect: E104 at 8:7` (the code, and the line and column of the
diagnostic with that code); the second line says what the case is. Files that must stay
binary or non-UTF-8 still start with that ASCII line. Cases too large to keep as files are
generated below. Nothing in a spec may run code, so `os.system` and `subprocess` are
replaced by tripwires while the corpus runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec import api
from archspec.cli import app
from archspec.cli.app import STATE
from archspec.errors import ArchSpecError
from archspec.loader import MAX_BYTES, MAX_LIST, MAX_NODES, load_yaml
from tests.cpu import GUARD, cpu_seconds

from .conftest import sample_params

HOSTILE = Path(__file__).resolve().parent / "hostile"
HEADER = re.compile(rb"^(?:\xef\xbb\xbf)?# expect: (E\d{3}) at (\d+):(\d+)\r?$")
#: Resource-limit codes: raised by compile, after the shape check `archspec check` runs.
COMPILE_STAGE = {"E501", "E502"}


def expectation(path: Path) -> tuple[str, int, int]:
    first = path.read_bytes().split(b"\n", 1)[0]
    m = HEADER.match(first)
    assert m, f"{path.name}: the first line must be `# expect: EXXX at LINE:COL`"
    return m.group(1).decode(), int(m.group(2)), int(m.group(3))


CASES = sorted(HOSTILE.glob("*.yaml"))


def refuse(source: object, **kwargs: object) -> tuple[ArchSpecError, float]:
    """Compile on the meta device; return the error and the CPU seconds it took."""

    def attempt() -> ArchSpecError:
        with pytest.raises(ArchSpecError) as info:
            archspec.compile(source, device="meta", **kwargs)  # type: ignore[arg-type]
        return info.value

    return cpu_seconds(attempt)


@pytest.fixture
def tripwires(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to start a process while a spec is read."""

    def tripped(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a spec ran a command: {args!r}")

    monkeypatch.setattr(os, "system", tripped)
    monkeypatch.setattr(os, "popen", tripped)
    monkeypatch.setattr(subprocess, "Popen", tripped)


def test_corpus_covers_the_issue() -> None:
    """The kinds of hostile input the issue names each have at least one case."""
    names = {p.stem for p in CASES}
    required = {
        "python_tag_os_system",
        "duplicate_top_level_key",
        "billion_laughs",
        "deep_flow_nesting",
        "huge_int",
        "non_utf8_latin1",
        "binary_nul",
        "multi_document",
        "deep_block_chain",
        "deep_nesting_through_blocks",
        "self_recursive_block",
        "mutually_recursive_blocks",
        "huge_channels",
        "zero_out_channels",
        "negative_kernel",
        "nan_float",
        "inf_float",
        "out_channels_list",
        "unknown_layer_field",
        "unicode_layer_name",
        "expr_import",
        "expr_attribute",
        "expr_lambda",
        "expr_huge_power",
        "expr_too_long",
        "repeat_count_over_limit",
        "nested_repeats",
    }
    assert required <= names, sorted(required - names)
    assert len(CASES) >= 100


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
@pytest.mark.usefixtures("tripwires")
def test_hostile_spec_is_refused_with_code_and_position(path: Path) -> None:
    code, line, col = expectation(path)
    err, seconds = refuse(path)
    assert code in err.codes, f"expected {code}, got {err.codes}: {err}"
    diag = next(d for d in err.diagnostics if d.code == code)
    assert diag.span is not None
    assert (diag.span.file, diag.span.line, diag.span.col) == (str(path), line, col), diag
    assert all(d.span is not None for d in err.diagnostics), "every diagnostic has a location"
    assert all(d.hint for d in err.diagnostics), "every diagnostic has a hint"
    assert f"{path}:{line}:{col}: error[{code}]: " in err.render()
    assert seconds < GUARD, f"took {seconds:.2f} s of CPU"


@pytest.mark.usefixtures("tripwires")
def test_python_tags_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = "archspec: 1\nname: x\ninput: [1]\n"
    text += f"layers: !!python/object/apply:os.system ['touch {marker}']\n"
    err, _ = refuse(text)
    assert err.codes == ["E103"] and not marker.exists()


def test_billion_laughs_is_rejected_fast() -> None:
    err, seconds = refuse(HOSTILE / "billion_laughs.yaml")
    assert err.codes == ["E104"] and seconds < GUARD
    # the same bomb written out by hand as text, in one line per level
    lol = ['a0: &a0 "lol"'] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)
    ]
    start = time.process_time()
    with pytest.raises(ArchSpecError) as info:
        load_yaml("\n".join(lol) + "\n")
    assert info.value.codes == ["E104"] and time.process_time() - start < GUARD


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("archspec: 1\ndescription: " + "a" * MAX_BYTES + "\n")
    err, seconds = refuse(path)
    assert err.codes == ["E104"] and err.span is not None and seconds < GUARD
    assert str(MAX_BYTES) in str(err)
    err, _ = refuse("archspec: 1\ndescription: " + "a" * MAX_BYTES + "\n")
    assert err.codes == ["E104"]


def test_endless_stream_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    """A pipe (or /dev/zero) never ends: a spec path that is not a regular file is E100 before
    anything opens it, so no writer is ever connected and nothing waits or reads forever."""
    fifo = tmp_path / "endless.yaml"
    os.mkfifo(fifo)
    start = time.process_time()
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(fifo, device="meta")
    assert info.value.codes == ["E100"] and "FIFO" in str(info.value)
    assert time.process_time() - start < GUARD
    # Nobody opened the FIFO for reading: a writer that does not wait finds no reader.
    with pytest.raises(OSError):
        os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)


def test_long_list_is_refused() -> None:
    text = "archspec: 1\nname: x\ninput: [1, 3, 8, 8]\nlayers:\n" + "- {type: relu}\n" * 10
    text = text.replace(
        "layers:\n", "params:\n  cfg: [" + ", ".join(["1"] * (MAX_LIST + 1)) + "]\nlayers:\n"
    )
    err, seconds = refuse(text)
    assert err.codes == ["E104"] and err.span is not None and seconds < GUARD
    assert (err.span.line, err.span.col) == (5, 8)


def test_too_many_yaml_nodes_are_refused_before_building() -> None:
    layers = "".join("  - {type: identity}\n" for _ in range(MAX_NODES // 2 + 1))
    err, seconds = refuse(f"archspec: 1\nname: x\ninput: [1, 3]\nlayers:\n{layers}")
    assert err.codes == ["E104"] and err.span is not None and seconds < GUARD
    assert f"{MAX_NODES:,} YAML nodes" in str(err)


def test_huge_channels_are_refused_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not on meta: a real compile must stop at the limit, before building any module."""
    from archspec.backends import torch_module

    def build_module(*args: object, **kwargs: object) -> None:
        raise AssertionError("the module was built despite the limit")

    monkeypatch.setattr(torch_module, "build_module", build_module)
    start = time.perf_counter()
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(HOSTILE / "huge_channels.yaml")
    assert time.perf_counter() - start < 5 * GUARD
    err = info.value
    assert err.codes == ["E501"]
    assert "9,000,029,000,000 parameters" in str(err)  # the figure is stated
    assert err.hint is not None and "max_params" in err.hint
    assert err.span is not None and err.span.line == 8  # the heaviest layer


def test_limits_are_configurable() -> None:
    path = HOSTILE / "huge_channels.yaml"
    model = archspec.compile(path, device="meta", max_params=10**13)
    assert sum(p.numel() for p in model.parameters()) == 9_000_029_000_000
    err, _ = refuse(path, max_params=1_000_000)
    assert err.codes == ["E501"]
    # activation memory: a small net on an enormous image
    big = HOSTILE / "huge_activations.yaml"
    assert refuse(big)[0].codes == ["E502"]
    assert archspec.compile(big, device="meta", max_activations=None) is not None
    # nothing can be raised past what torch can index
    linear = "archspec: 1\nname: x\ninput: [N, 1000000000000]\nlayers:\n"
    linear += "  - {type: linear, out_features: 1000000000000000}\n"
    err, _ = refuse(linear, max_params=10**40)
    assert err.codes == ["E501"] and f"{api.MAX_TENSOR_ELEMENTS:,}" in str(err)


def test_buffers_count_towards_the_parameter_limit() -> None:
    err, _ = refuse(HOSTILE / "huge_batchnorm_buffers.yaml")
    assert err.codes == ["E501"] and "200,000,000,001 buffer elements" in str(err)


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "vgg11_bn"])
def test_footprint_counts_what_torch_allocates(name: str) -> None:
    fp = api.check_limits(archspec.build_graph(name))
    model = archspec.compile(name, device="meta")
    assert fp.params == sum(p.numel() for p in model.parameters())
    assert fp.buffers == sum(b.numel() for b in model.buffers())  # BatchNorm running stats
    assert fp.activations is not None and 10**6 < fp.activations < 10**9


def test_footprint_figures() -> None:
    fp = api.check_limits(archspec.build_graph("resnet50"))
    assert fp.activations == 37_561_832  # output elements of every layer, one 224x224 image
    assert fp.largest is not None
    assert (fp.largest[0], fp.largest[2]) == ("layer4.0.conv2", 512 * 512 * 3 * 3)
    symbolic = "archspec: 1\nname: x\ninput: [N, 3, H, W]\nlayers:\n  - {type: relu}\n"
    assert api.check_limits(archspec.build_graph(symbolic)).activations is None


def test_expansion_limits_hold_for_every_construct() -> None:
    """Each way of multiplying layers stops at the node budget, fast."""
    from archspec.lower import MAX_NODES as LAYERS

    header = "archspec: 1\nname: x\ninput: [1, 3, 8, 8]\n"
    bombs = {
        "repeat": "layers:\n  - {type: repeat, count: 9999, layer: "
        "{type: sequential, layers: [{type: relu}]}}\n",
        "blocks": "blocks:\n  A: {layers: [{type: relu}, {type: relu}, {type: relu}]}\n"
        "  B: {layers: [{type: repeat, count: 60, layer: {type: A}}]}\n"
        "layers:\n  - {type: repeat, count: 60, layer: {type: B}}\n",
        "vgg_cfg": "params:\n  n: 1\nlayers:\n  - {type: vgg_cfg, cfg: [" + "4, " * 6000 + "M]}\n",
        "parallel": "blocks:\n  P: {layers: [{type: parallel, join: add, branches: "
        "{a: {type: relu}, b: {type: relu}, c: {type: relu}}}]}\n"
        "layers:\n  - {type: repeat, count: 4000, layer: {type: P}}\n",
    }
    for name, body in bombs.items():
        err, seconds = refuse(header + body)
        assert "E310" in err.codes, (name, err.codes)
        assert f"{LAYERS:,} layer items" in str(err), name
        assert seconds < GUARD, (name, seconds)


DEEP = "archspec: 1\nname: deep\ninput: [N, 3, 8, 8]\nlayers:\n"
DEEP += "  - {type: repeat, count: 1500, layer: {type: sequential, layers: [{type: relu}]}}\n"


def test_expansion_limit_is_a_setting_of_every_entry_point() -> None:
    """A network that really is that large passes with max_layers raised; the default and a
    lowered limit refuse it, with a hint that names the setting."""
    for limit in (1000, None):
        kwargs = {} if limit is None else {"max_layers": limit}
        spec = DEEP.replace("1500", "15000") if limit is None else DEEP
        err, _ = refuse(spec, **kwargs)
        assert err.codes == ["E310"] and "--max-layers N (max_layers=N)" in err.diagnostics[0].hint
        result = api.check(spec, **kwargs)
        assert [d.code for d in result.diagnostics] == ["E310"]
    assert api.check(DEEP, max_layers=3001).ok
    assert api.check(DEEP, max_layers=3000).diagnostics[0].code == "E310"  # 1,500 x 2 items
    model = archspec.compile(DEEP, device="meta", max_layers=3001)
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.modules()) == 1500
    assert "for _ in range(1500)" in archspec.emit(DEEP, max_layers=3001)
    assert len(archspec.summary(DEEP, max_layers=3001).rows) == 3001
    with pytest.raises(TypeError):
        archspec.build_graph(DEEP, max_layers=0)


@pytest.mark.parametrize("command", ["check", "summary", "emit", "compile", "graph"])
def test_cli_max_layers(command: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(DEEP)
    extra = ["-o", str(tmp_path / "deep.py")] if command == "compile" else []
    refused = runner.invoke(app, [command, str(path), "--max-layers", "1000", *extra])
    assert refused.exit_code == 1, refused.output
    assert "error[E310]" in refused.stderr and "--max-layers N" in refused.stderr
    assert not (tmp_path / "deep.py").exists()
    done = runner.invoke(app, [command, str(path), "--max-layers", "5000", *extra])
    assert done.exit_code == 0, done.output
    assert runner.invoke(app, [command, str(path), "--max-layers", "0"]).exit_code == 2


def test_thousands_of_errors_stay_fast() -> None:
    """One mistake repeated in a big scope: each error's "did you mean" must not scan every
    name again (that was quadratic: 1,300 bad references took 3.6 s)."""
    header = "archspec: 1\nname: x\ninput: [1, 3, 8, 8]\nlayers:\n"
    names = "".join(f"  - {{name: n{i}, type: relu}}\n" for i in range(1300))
    bombs = {
        "E305": "".join(f"  - {{type: add, from: [n1, zz{i}]}}\n" for i in range(1300)),
        "E302": "".join(f"  - {{type: linear, out_features: n{i}x}}\n" for i in range(1300)),
        "E205": "".join(f"  - {{type: Block{i}}}\n" for i in range(1300)),
    }
    for code, body in bombs.items():
        err, seconds = refuse(header + names + body)
        assert set(err.codes) == {code} and len(err.codes) == 1300
        assert seconds < GUARD, (code, seconds)


def test_many_init_globs_stay_fast() -> None:
    """Init rules are matched once per module, not once per module and glob (300 modules
    and 9,000 globs took 2.7 s matched one glob at a time; a spec now holds at most 1,000)."""
    globs = ", ".join(f'"zz{i}*"' for i in range(999))
    text = "archspec: 1\nname: x\ninput: [1, 3, 8, 8]\nlayers:\n"
    text += "  - {type: conv2d, out_channels: 3, kernel_size: 1}\n" * 300
    text += f"init:\n  - {{paths: [{globs}, '9*'], weight: zeros}}\n"
    archspec.compile("lenet5")  # one-time costs out of the measurement
    seconds = []
    for _ in range(2):
        start = time.process_time()
        model = archspec.compile(text)  # on the CPU: init runs
        seconds.append(time.process_time() - start)
    assert min(seconds) < GUARD, seconds
    weights = [m.weight.detach() for m in model]
    assert not weights[9].any() and not weights[90].any()  # "9*" matched
    assert weights[1].any() and weights[10].any()


# -- specs and params from Python --------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"dropout": float("nan")}, "E309"),
        ({"dropout": float("inf")}, "E309"),
        ({"dropout": 10**400}, "E309"),  # float(10**400) would raise OverflowError
        ({"num_classes": 10**30}, "E309"),
        ({"num_classes": True}, "E309"),
        ({"num_classes": "12"}, None),  # text, as --set gives it, is parsed
        ({"num_classes": "1e999"}, "E309"),
        ({"nosuchparam": 1}, "E302"),
    ],
)
def test_params_from_python_meet_the_yaml_bounds(params: dict, code: str | None) -> None:
    if code is None:
        assert archspec.build_graph("alexnet", params).params["num_classes"] == 12
        return
    err, seconds = refuse("alexnet", **params)
    assert err.codes == [code] and err.span is not None and seconds < GUARD


def _mapping(**fields: object) -> dict:
    return {"archspec": 1, "name": "x", "input": [1, 3, 8, 8], **fields}


def test_mapping_specs_meet_the_yaml_bounds() -> None:
    looped = _mapping()
    looped["layers"] = [looped]
    deep: list = []
    for _ in range(200):
        deep = [deep]
    cases = {
        "E104": [
            _mapping(layers=[{"type": "dropout", "p": float("nan")}]),
            _mapping(layers=[{"type": "conv2d", "out_channels": 10**40, "kernel_size": 1}]),
            _mapping(layers=[{"type": "relu"}] * (MAX_LIST + 1)),
            _mapping(layers=deep),
            looped,
        ],
        "E103": [_mapping(layers=[{"type": "relu", "inplace": object()}])],
        "E101": [{**_mapping(layers=[{"type": "relu"}]), 5: "five"}],
    }
    for code, sources in cases.items():
        for source in sources:
            err, seconds = refuse(source)
            assert err.codes == [code], (code, str(err))
            assert seconds < GUARD
    assert "layers[0].p: nan is not a finite number" in str(refuse(cases["E104"][0])[0])
    # tuples are lists, as in YAML
    assert archspec.build_graph(_mapping(input=(1, 3, 8, 8), layers=({"type": "relu"},)))


# -- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "googlenet"])
def test_compile_twice_gives_the_same_weights(name: str) -> None:
    torch.manual_seed(1234)
    first = archspec.compile(name).state_dict()
    torch.manual_seed(1234)
    second = archspec.compile(name).state_dict()
    assert list(first) == list(second)
    for key, tensor in first.items():
        assert torch.equal(tensor, second[key]), key


@pytest.mark.parametrize("name", ["lenet5", "resnet50", "googlenet", "vgg16_bn"])
def test_build_graph_twice_gives_equal_ir(name: str) -> None:
    assert archspec.build_graph(name) == archspec.build_graph(name)
    # equality is not vacuous: a different param gives a different graph
    assert archspec.build_graph(name) != archspec.build_graph(name, {"num_classes": 7})


# -- the command line -------------------------------------------------------------------------

runner = CliRunner()


@pytest.mark.parametrize(
    "path",
    sample_params(
        [p for p in CASES if expectation(p)[0] not in COMPILE_STAGE],
        family=lambda p: expectation(p)[0],
        ids=lambda p: p.stem,
    ),
)
def test_cli_check_prints_a_located_error_and_exits_1(path: Path) -> None:
    """The command prints what the API raises (every file is refused through the API above,
    and through emit and summary below): the default run samples the files, the first of
    each error code and every fourth; `--all` runs each."""
    code, line, col = expectation(path)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}:{line}:{col}: error[{code}]: " in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr


@pytest.mark.parametrize(
    "path",
    [p for p in CASES if expectation(p)[0] in COMPILE_STAGE],
    ids=lambda p: p.stem,
)
def test_cli_check_warns_where_compile_would_refuse(path: Path) -> None:
    """check allocates nothing, so a limit is a warning there, at compile's location."""
    code, line, col = expectation(path)
    warning = "W" + code[1:]
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}:{line}:{col}: warning[{warning}]: too large to build" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "name", ["a" * 5000, "bad\x01name.yaml", "/dev/null/x.yaml", "nul\x00byte"]
)
def test_cli_odd_spec_names_are_e100(name: str) -> None:
    """A name too long for the file system, with control bytes, under a file, or a NUL."""
    result = runner.invoke(app, ["check", name])
    assert result.exit_code == 1, result.output
    assert "error[E100]" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["compile", "emit"])
def test_source_writers_warn_about_a_model_too_large_to_build(command: str, tmp_path: Path) -> None:
    args = [command, "lenet5", "--set", "num_classes=99999999999"]
    if command == "compile":
        args += ["-o", str(tmp_path / "big.py")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning[W501]: too large to build" in result.stderr
    assert "8,500,000,060,771 parameters" in result.stderr


def test_cli_internal_error_is_one_line_and_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(api, "check", broken)
    result = runner.invoke(app, ["check", "lenet5"])
    assert result.exit_code == 3
    assert "internal error (KeyError)" in result.stderr and "--debug" in result.stderr
    assert "Traceback" not in result.stderr
    # where --debug goes: after the command (`archspec check --debug`) it is a usage error
    assert "Run again as `archspec --debug check ...` to see the traceback" in result.stderr
    try:
        result = runner.invoke(app, ["--debug", "check", "lenet5"])
        assert result.exit_code == 3
        assert "Traceback" in result.stderr and "KeyError: 'a bug'" in result.stderr
    finally:
        STATE["debug"] = False


def test_import_args_are_read_within_the_spec_limits() -> None:
    """`archspec import --args` values are YAML read by the spec loader: a tag, an alias
    bomb or cycle, or an integer of thousands of digits is E901 at once, never exit 3 or a
    minute spent printing the expanded value back."""
    hostile = {
        "!!python/object/apply:os.system [id]": "is not allowed",
        "&a [*a]": "recursive value",
        "9" * 5000: "out of range",
        "[&a [1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], "
        "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c], "
        "&e [*d,*d,*d,*d,*d,*d,*d,*d,*d]]": "alias expansions",
    }
    for value, words in hostile.items():
        result, seconds = cpu_seconds(
            lambda v=value: CliRunner().invoke(
                app, ["import", "torch.nn:Linear", "--args", f"in_features={v}", "--input", "1,3"]
            )
        )
        assert result.exit_code == 1, (value[:40], result.output)
        assert "error[E901]" in result.output and words in result.output, result.output
        assert len(result.output) < 1000 and seconds < GUARD


def test_import_name_must_be_a_name() -> None:
    """--name is written into the spec's text: a newline in it would add keys of its own."""
    result = CliRunner().invoke(
        app,
        [
            "import",
            "torch.nn:Linear",
            "--args",
            "in_features=3",
            "--args",
            "out_features=2",
            "--input",
            "1,3",
            "--name",
            "x\ndescription: injected",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "error[E901]" in result.output and "is not a valid name" in result.output


def test_a_message_quoting_a_huge_name_stays_short(tmp_path: Path) -> None:
    """An unknown type or reference of 100,000 characters was quoted whole in the message
    (100 KB on stderr); messages and hints are cut at MAX_MESSAGE characters."""
    from archspec.errors import MAX_MESSAGE

    name = "k" * 100_000
    for field in ("type: " + name, "type: relu, from: " + name):
        spec = tmp_path / "long.yaml"
        spec.write_text(f"archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nlayers:\n  - {{{field}}}\n")
        result = CliRunner().invoke(app, ["check", str(spec)])
        assert result.exit_code == 1 and re.search(r"long\.yaml:5:\d+: error\[E", result.output)
        assert len(result.output) < 2 * MAX_MESSAGE + 1_000, len(result.output)
        assert "..." in result.output


@pytest.mark.usefixtures("tripwires")
def test_what_check_refuses_emit_and_summary_refuse_with_the_same_code() -> None:
    """compile, emit, summary (and the CLI commands over them) refuse every case check
    refuses, with its code: none writes or prints a network that no input can run."""
    checked = 0
    for path in CASES:
        code, _, _ = expectation(path)
        if code in COMPILE_STAGE:
            continue
        for command in (api.emit, archspec.summary):
            with pytest.raises(ArchSpecError) as info:
                command(path)  # type: ignore[operator]
            assert code in info.value.codes, (path.name, command.__name__, info.value.codes)
        checked += 1
    assert checked >= 150
