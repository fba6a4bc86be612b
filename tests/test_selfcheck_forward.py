"""compile's self-check runs the emitted forward (on the meta device), and what it caught:
a function node under a symbolic `when`, and a variable shadowing a support function."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch

import archspec
from archspec.backends.selfcheck import check_emitted_source, example_input, load_emitted
from archspec.errors import ArchSpecError

AFFINE = (
    "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\nparams:\n  transform_input: true\n"
    "layers:\n"
    "  - {type: channel_affine, when: transform_input, scale: [0.229 / 0.5, 0.224 / 0.5, "
    '0.225 / 0.5], shift: ["(0.485 - 0.5) / 0.5", "(0.456 - 0.5) / 0.5", "(0.406 - 0.5) / 0.5"]}\n'
    "  - {type: conv2d, out_channels: 4, kernel_size: 3}\n"
)


def _emitted(text: str) -> types.ModuleType:
    graph = archspec.build_graph(text)
    source = archspec.emit(text)
    check_emitted_source(source, graph)
    return load_emitted(source, "net")


@pytest.mark.parametrize("on", [True, False])
def test_a_function_node_under_a_param_when_is_a_flag_set_in_init(on: bool) -> None:
    text = (
        "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\nparams:\n  act: true\nlayers:\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 3}\n"
        "  - {type: activation, fn: relu, when: act}\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 3}\n"
    )
    source = archspec.emit(text)
    assert "self.act = act" in source and "if self.act:" in source
    net = _emitted(text).Net(act=on)
    ref = archspec.compile(text, act=on)
    net.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(net(x), ref(x), rtol=0, atol=0)


def test_channel_affine_is_torchvisions_transform_input_bit_for_bit() -> None:
    module = _emitted(AFFINE)
    x = torch.randn(2, 3, 8, 8)
    ch = [
        torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
        torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
        torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5,
    ]
    expected = torch.cat(ch, 1)
    got = module.channel_affine(
        x,
        (0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5),
        ((0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5),
    )
    assert torch.equal(got, expected)
    for on in (True, False):
        net, ref = module.Net(transform_input=on), archspec.compile(AFFINE, transform_input=on)
        net.load_state_dict(ref.state_dict())
        assert torch.equal(net(x), ref(x))
    # the local variable does not shadow the support function it calls
    assert "channel_affine = channel_affine(" not in archspec.emit(AFFINE)


def test_channel_affine_counts_must_match_the_channels() -> None:
    text = AFFINE.replace("0.225 / 0.5], shift", "0.225 / 0.5, 1.0], shift")
    result = archspec.check(text)
    assert not result.ok
    assert [d.code for d in result.diagnostics if d.severity.name == "ERROR"] == ["E404"]


def test_the_self_check_runs_the_emitted_forward() -> None:
    """A module whose `__init__` matches but whose forward breaks is refused (E601)."""
    text = AFFINE
    graph = archspec.build_graph(text)
    source = archspec.emit(text).replace("if self.transform_input:", "if self.missing_flag:")
    with pytest.raises(ArchSpecError) as info:
        check_emitted_source(source, graph)
    assert info.value.error_code == "E601" and "forward fails" in str(info.value)
    assert "missing_flag" in str(info.value)


def test_the_self_check_input_comes_from_the_domain_when_sizes_are_symbolic() -> None:
    text = (
        "archspec: 1\nname: net\ninput: [N, 3, H, W]\nlayers:\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 5, stride: 2}\n"
        "  - {type: maxpool2d, kernel_size: 3}\n  - {type: flatten}\n"
    )
    graph = archspec.build_graph(text)
    shape = example_input(graph)
    assert shape == (1, 3, 9, 9)
    assert archspec.check(text).domain.contains({"N": 1, "H": 9, "W": 9})
    assert not archspec.check(text).domain.contains({"N": 1, "H": 8, "W": 8})
    check_emitted_source(archspec.emit(text), graph)


def test_compile_cli_says_the_forward_was_checked(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(AFFINE)
    from typer.testing import CliRunner

    from archspec.cli import app

    result = CliRunner().invoke(app, ["compile", str(spec), "-o", str(tmp_path / "net.py")])
    assert result.exit_code == 0, result.output
    assert "state_dict tensors and the forward pass match archspec.compile" in result.stdout


def test_compile_cli_says_when_no_forward_pass_was_compared(tmp_path: Path) -> None:
    """Every input this network accepts is larger than a tensor can hold: the self-check
    compares the state_dicts only, and compile must not claim the forward pass matched."""
    spec = tmp_path / "big.yaml"
    side = 10**15
    spec.write_text(
        "archspec: 1\nname: big\n"
        f"input: [N, 3, {side}, {side}]\n"
        "layers:\n"
        f"  - {{type: check_size, size: [{side}, {side}]}}\n"
        "  - {type: relu}\n"
    )
    from typer.testing import CliRunner

    from archspec.cli import app

    result = CliRunner().invoke(app, ["compile", str(spec), "-o", str(tmp_path / "big.py")])
    assert result.exit_code == 0, result.output
    assert "forward pass match" not in result.stdout
    assert "no forward pass ran: every accepted input is larger than a tensor" in result.stdout
    graph = archspec.build_graph(spec)
    checked = check_emitted_source(archspec.emit(spec), graph)
    assert checked.forward_skipped is not None and checked.tensors == 0
