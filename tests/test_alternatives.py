"""Alternatives under `when`: same-named nodes of which one is there, a reader left out with
the node it reads, `for_each` rows that call different blocks, and `str` block arguments
written as expressions; values, errors at file:line:col, emitted code equal to compile."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError
from tests.emit_helpers import _load


def spec(body: str, header: str = "input: [N, 8, 16, 16]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


def err(text: str, **params: object) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text, params)
    return info.value


def emitted_equals_compiled(text: str, shape: tuple[int, ...] = (2, 8, 16, 16)) -> None:
    graph = archspec.build_graph(text)
    emitted = getattr(_load(archspec.emit(text), "t"), graph.class_name)().eval()
    torch.manual_seed(0)
    compiled = archspec.compile(text).eval()
    emitted.load_state_dict(compiled.state_dict(), strict=True)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), compiled(x))


GATE = spec(
    """
    blocks:
      Gate:
        params:
          act: {type: str, default: relu, choices: [relu, silu]}
          stride: 1
        let:
          use_res: stride == 1 and in_channels == 8
        layers:
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, stride: stride, padding: 1}
          - {name: activation, type: relu, when: "act == 'relu'"}
          - {name: activation, type: silu, inplace: true, when: "act == 'silu'"}
          - {name: scale, type: sigmoid, from: activation}
          - {name: drop_path, type: stochastic_depth, p: 0.5, mode: row, when: use_res}
          - {name: residual, type: add, from: [drop_path, input], when: use_res}
    layers:
      - {name: a, type: Gate}
      - {name: b, type: Gate, act: silu, stride: 2}
    """
)


def test_same_named_alternatives_take_the_name_and_are_read() -> None:
    model = archspec.compile(GATE)
    assert type(model.a.activation) is torch.nn.ReLU
    assert type(model.b.activation) is torch.nn.SiLU
    assert [n for n, _ in model.a.named_children()] == ["conv", "activation", "scale", "drop_path"]
    assert [n for n, _ in model.b.named_children()] == ["conv", "activation", "scale"]
    x = torch.randn(2, 8, 16, 16)
    model.eval()
    with torch.no_grad():
        a = model.a(x)
        ref = torch.sigmoid(torch.relu(model.a.conv(x))) + x
        torch.testing.assert_close(a, ref)
        b = model.b(a)
        torch.testing.assert_close(b, torch.sigmoid(torch.nn.functional.silu(model.b.conv(a))))
    emitted_equals_compiled(GATE)


def test_a_reader_with_a_true_when_still_may_not_read_a_left_out_node() -> None:
    e = err(
        spec(
            """
            layers:
              - {name: a, type: relu, when: false}
              - {name: b, type: add, from: [a, input], when: in_channels == 8}
            """
        )
    )
    assert (e.error_code, e.span.line, e.span.col) == ("E305", 7, 33)


BRANCHES = spec(
    """
    blocks:
      MobileOneBlock:
        params: {branches: int}
        layers:
          - name: conv_kxk
            type: sequential
            layers:
              - type: repeat
                count: branches
                flat: true
                layer: {type: conv2d, key: "{i}", out_channels: 8, kernel_size: 3, padding: 1,
                        from: input}
              - {type: add, from: ["0", "1", "2"], when: branches == 3}
              - {type: identity, when: branches == 1}
          - {name: act, type: relu}
    layers:
      - {name: one, type: MobileOneBlock, branches: 1}
      - {name: three, type: MobileOneBlock, branches: 3}
    """
)


def test_a_reader_left_out_with_names_this_instance_never_made_is_not_there() -> None:
    """timm's MobileOne sums `conv_kxk.0` to `conv_kxk.{n-1}`: with one branch the sum of
    three is switched off, and its `from` naming copies the repeat did not make was E305
    ("unknown reference `1`"), though a reader left out is simply not there."""
    model = archspec.compile(BRANCHES)
    assert list(model.one.conv_kxk.state_dict()) == ["0.weight", "0.bias"]
    c = dict(model.three.conv_kxk.named_children())
    assert list(c) == ["0", "1", "2"]
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        y = model.one(x)
        ref = torch.relu(c["0"](y) + c["1"](y) + c["2"](y))
        torch.testing.assert_close(model(x), ref)
    emitted_equals_compiled(BRANCHES)


def test_a_reader_left_out_still_may_not_read_a_later_node_nor_a_kept_one_a_missing_one() -> None:
    later = err(
        spec(
            """
            params: {flag: false}
            layers:
              - {name: a, type: add, from: [b, input], when: flag}
              - {name: b, type: relu}
            """
        )
    )
    assert later.error_code == "E305" and "declared later" in later.render()
    typo = err(BRANCHES.replace('from: ["0", "1", "2"]', 'from: ["0", "1", "22"]'))
    assert typo.codes == ["E305"] and "unknown reference `22`" in typo.render()


def test_a_node_read_by_a_later_alternative_is_the_one_that_is_there() -> None:
    text = spec(
        """
        params: {wide: false}
        layers:
          - {name: x, type: conv2d, out_channels: 4, kernel_size: 1, when: not wide}
          - {name: x, type: conv2d, out_channels: 16, kernel_size: 1, when: wide}
          - {name: y, type: relu, from: x}
        """
    )
    assert archspec.build_graph(text).output_shapes[0][1].value == 4
    assert archspec.build_graph(text, {"wide": True}).output_shapes[0][1].value == 16
    e = err(text.replace("when: wide}", "when: true}"))
    assert e.error_code == "E304"


MIXED = spec(
    """
    params:
      rows: [[A, 8, 2], [B, 12, 1], [A, 16, 1]]
    blocks:
      A:
        params: {out: int}
        layers:
          - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}
      B:
        params: {out: int}
        layers:
          - {name: proj, type: conv2d, out_channels: out, kernel_size: 1}
          - {name: act, type: relu}
    layers:
      - name: stages
        type: for_each
        rows: rows
        fields: [kind, out, n]
        count: n
        group_rows: true
        layer:
          - {type: A, out: out, when: "kind == 'A'"}
          - {type: B, out: out, when: "kind == 'B'"}
    """
)


def test_for_each_rows_choose_among_alternative_layers() -> None:
    model = archspec.compile(MIXED)
    keys = list(model.state_dict())
    assert keys == [
        "stages.0.0.conv.weight",
        "stages.0.0.conv.bias",
        "stages.0.1.conv.weight",
        "stages.0.1.conv.bias",
        "stages.1.0.proj.weight",
        "stages.1.0.proj.bias",
        "stages.2.0.conv.weight",
        "stages.2.0.conv.bias",
    ]
    emitted_equals_compiled(MIXED)
    flat = MIXED.replace("group_rows: true", "flat: true")
    flat = flat.replace("  - name: stages\n    type: for_each", "  - type: for_each")
    assert [n for n, _ in archspec.compile(flat).named_children()] == ["0", "1", "2", "3"]


def test_two_alternatives_that_hold_for_one_copy_are_a_duplicate_name() -> None:
    e = err(MIXED.replace("when: \"kind == 'B'\"", "when: \"kind != 'C'\""))
    assert e.error_code == "E304"


STR_ARGS = spec(
    """
    params:
      table: [[RE, 8], [HS, 16]]
    blocks:
      Act:
        params:
          out: int
          act: {type: str, choices: [relu, hardswish]}
          mode: {type: str, default: plain}
        layers:
          - {name: conv, type: conv2d, out_channels: out, kernel_size: 1}
          - {name: act, type: relu, when: "act == 'relu'"}
          - {name: act, type: hardswish, when: "act == 'hardswish'"}
          - {name: extra, type: identity, when: "mode == 'nearest-exact'"}
    layers:
      - type: for_each
        rows: table
        fields: [nl, out]
        flat: true
        layer: {type: Act, out: out, act: "'hardswish' if nl == 'HS' else 'relu'"}
      - {type: Act, out: 8, act: relu, mode: nearest-exact}
      - {type: Act, out: 8, act: "'relu'", mode: "nl"}
    """
)


def test_str_block_arguments_may_be_expressions() -> None:
    model = archspec.compile(STR_ARGS.replace('mode: "nl"', "mode: x-y"))
    assert [type(model[i].act).__name__ for i in range(4)] == [
        "ReLU",
        "Hardswish",
        "ReLU",
        "ReLU",
    ]
    # names not in scope are text as written, not an unknown name
    assert [hasattr(model[i], "extra") for i in range(4)] == [False, False, True, False]
    e = err(STR_ARGS.replace("act: relu, mode: nearest-exact", "act: \"'gelu'\""))
    assert e.error_code == "E309" and "gelu" in str(e)
