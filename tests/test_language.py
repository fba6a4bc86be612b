"""The spec language construct by construct: what each lowers to, and where errors point."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError


def spec(body: str, header: str = "input: [N, 3, 16, 16]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


def err(text: str, **params: object) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text, params)
    return info.value


def test_unnamed_items_are_indexed_like_nn_sequential() -> None:
    m = archspec.compile(
        spec("""
        layers:
          - {type: conv2d, out_channels: 4, kernel_size: 3}
          - {name: act, type: relu}
          - {type: conv2d, out_channels: 2, kernel_size: 1}
        """)
    )
    assert list(dict(m.named_children())) == ["0", "act", "2"]
    assert m[0].in_channels == 3 and m[2].in_channels == 4


def test_expressions_params_and_overrides() -> None:
    text = spec(
        """
        params:
          width: {type: int, default: 8}
          deep: false
        layers:
          - {name: a, type: conv2d, out_channels: width * 2, kernel_size: 3, padding: 1}
          - {name: b, type: conv2d, out_channels: "width if deep else 1", kernel_size: 1,
             when: deep}
          - {name: c, type: conv2d, out_channels: "max(width // 4, 1)", kernel_size: 1}
        """
    )
    m = archspec.compile(text)
    assert m.a.out_channels == 16 and not hasattr(m, "b") and m.c.out_channels == 2
    m = archspec.compile(text, width=4, deep=True)
    assert m.a.out_channels == 8 and m.b.out_channels == 4 and m.c.in_channels == 4
    # CLI-style text overrides are parsed by the declared type.
    g = archspec.build_graph(text, {"width": "12", "deep": "true"})
    assert g.params == {"width": 12, "deep": True}


def test_blocks_repeat_and_index_variable() -> None:
    m = archspec.compile(
        spec("""
        blocks:
          Stage:
            params: {c: int, stride: {type: int, default: 1}}
            layers:
              - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, stride: stride,
                 padding: 1}
              - {name: bn, type: batchnorm2d}
        layers:
          - {name: stages, type: repeat, count: 3, index: k,
             layer: {type: Stage, c: "8 * (k + 1)", stride: "2 if k == 0 else 1"}}
        """)
    )
    convs = [m.stages[i].conv for i in range(3)]
    assert [c.out_channels for c in convs] == [8, 16, 24]
    assert [c.in_channels for c in convs] == [3, 8, 16]
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1)]
    assert type(m.stages[0]).__name__ == "Stage" and isinstance(m.stages[0], torch.nn.Sequential)


def test_residual_identity_and_projection() -> None:
    text = spec(
        """
        params: {c: 3}
        layers:
          - type: residual
            name: block
            body:
              - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
            shortcut:
              when: in_channels != c
              layers: [{type: conv2d, out_channels: c, kernel_size: 1}]
            activation: relu
        """
    )
    same = archspec.compile(text).eval()
    assert not hasattr(same, "downsample")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(same(x), torch.relu(same.conv(x) + x))
    proj = archspec.compile(text, c=5).eval()
    with torch.no_grad():
        torch.testing.assert_close(proj(x), torch.relu(proj.conv(x) + proj.downsample(x)))


def test_parallel_branches_concat_and_add() -> None:
    text = spec(
        """
        params: {join: concat}
        layers:
          - type: parallel
            join: concat
            branches:
              left: {type: conv2d, out_channels: 2, kernel_size: 1}
              right:
                - {type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}
                - {type: relu}
        """
    )
    m = archspec.compile(text).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        y = m(x)
        torch.testing.assert_close(y, torch.cat([m.left(x), m.right(x)], 1))
    assert y.shape == (1, 5, 16, 16)


@pytest.mark.parametrize("use_id", [True, False])
def test_a_parallel_branch_under_when_is_left_out_of_the_join(use_id: bool) -> None:
    """RepVGG's identity branch: present, it is one more term of the sum; absent, the sum
    is the other branches'. Where one branch alone would be left, the error says so."""
    body = """
        params: {use_id: true, third: true}
        layers:
          - name: p
            type: parallel
            join: add
            branches:
              ident: {type: batchnorm2d, when: use_id}
              dense: {type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}
              one: {type: conv2d, out_channels: 3, kernel_size: 1, when: third}
        """
    m = archspec.compile(spec(body), use_id=use_id).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = m.dense(x) + m.one(x) + (m.ident(x) if use_id else 0)
        torch.testing.assert_close(m(x), want)
    assert hasattr(m, "ident") == use_id
    if use_id:
        return
    e = err(spec(body), use_id=False, third=False)
    assert e.error_code == "E305" and e.span is not None and e.span.line == 10, e.render()
    assert "parallel `p` has `dense` alone to join; the `when`s of `ident`, `one`" in e.render()


def test_dag_references_and_train_only_outputs() -> None:
    text = spec(
        """
        layers:
          - {name: stem, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
          - {name: head, type: conv2d, out_channels: 2, kernel_size: 1}
          - {name: aux, type: conv2d, out_channels: 1, kernel_size: 1, from: stem,
             train_only: true}
          - {name: both, type: concat, from: [head, stem]}
        outputs: [both, aux]
        """
    )
    m = archspec.compile(text)
    x = torch.randn(1, 3, 16, 16)
    both, aux = m.train()(x)
    assert both.shape == (1, 6, 16, 16) and aux.shape == (1, 1, 16, 16)
    assert m.eval()(x).shape == (1, 6, 16, 16)


def test_symbolic_input_keeps_symbols_in_shapes() -> None:
    g = archspec.build_graph(
        spec(
            """
            layers:
              - {name: c, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
              - {name: p, type: adaptive_avgpool2d, output_size: 1}
              - {name: f, type: flatten}
              - {name: fc, type: linear, out_features: 2}
            """,
            header="input: [N, 3, H, W]",
        )
    )
    conv = g.root.node("c")
    assert str(conv.shape[2]) == "(H + 1)//2"
    assert str(g.output_shapes[0][0]) == "N" and g.output_shapes[0][1] == 2


@pytest.mark.parametrize(
    "body,code,line,col",
    [
        # unknown field, pointing at the key
        ("layers:\n  - {type: conv2d, out_channel: 4, kernel_size: 3}\n", "E201", 5, 20),
        # wrong type
        ("layers:\n  - {type: conv2d, out_channels: [4], kernel_size: 3}\n", "E202", 5, 34),
        # bad expression syntax
        ("layers:\n  - {type: conv2d, out_channels: '4 +', kernel_size: 3}\n", "E206", 5, 34),
        # unknown layer type with a suggestion
        ("layers:\n  - {type: conv2dd, out_channels: 4, kernel_size: 3}\n", "E205", 5, 12),
        # unknown name in an expression
        ("layers:\n  - {type: conv2d, out_channels: widht, kernel_size: 3}\n", "E302", 5, 34),
        # unknown reference
        ("layers:\n  - {name: a, type: relu}\n  - {type: relu, from: b}\n", "E305", 6, 24),
        # duplicate names
        ("layers:\n  - {name: a, type: relu}\n  - {name: a, type: tanh}\n", "E304", 6, 12),
        # missing required field
        ("layers:\n  - {type: linear}\n", "E203", 5, 5),
    ],
)
def test_errors_point_at_the_yaml(body: str, code: str, line: int, col: int) -> None:
    e = err(spec(body))
    assert e.error_code == code, e.render()
    assert e.span is not None and (e.span.line, e.span.col) == (line, col), e.render()


def test_suggestions_in_hints() -> None:
    e = err(spec("layers:\n  - {type: conv2dd, out_channels: 4, kernel_size: 3}\n"))
    assert "conv2d" in (e.hint or "")
    e = err(spec("layers:\n  - {type: conv2d, out_channel: 4, kernel_size: 3}\n"))
    assert "out_channels" in (e.hint or "")


def test_several_independent_errors_in_one_run() -> None:
    e = err(
        spec(
            """
            layers:
              - {type: conv2d, out_channels: nope, kernel_size: 3}
              - {type: conv2d, out_channels: 4, kernel_size: 3, stride: zero}
            """
        )
    )
    assert e.codes == ["E302", "E302"]


def test_cycles_and_forward_references() -> None:
    e = err(
        spec("layers:\n  - {name: a, type: relu, from: b}\n  - {name: b, type: relu, from: a}\n")
    )
    assert e.error_code == "E306" and "a -> b -> a" in str(e)
    e = err(spec("layers:\n  - {name: a, type: relu, from: b}\n  - {name: b, type: relu}\n"))
    assert e.error_code == "E305" and "declared later" in str(e)
    # a node reading itself exists: it was "unknown reference `b`", hinting the names before
    e = err(spec("layers:\n  - {name: a, type: relu}\n  - {name: b, type: add, from: [a, b]}\n"))
    assert e.error_code == "E306" and "`b` reads itself" in str(e)


def test_recursive_blocks_are_refused() -> None:
    e = err(
        spec(
            """
            blocks:
              A: {layers: [{type: B}]}
              B: {layers: [{type: A}]}
            layers: [{type: A}]
            """
        )
    )
    assert e.error_code == "E307" and "A -> B -> A" in str(e)


def test_unknown_and_missing_params() -> None:
    text = spec(
        "params: {width: int}\nlayers: [{type: conv2d, out_channels: width, kernel_size: 1}]\n"
    )
    assert err(text).error_code == "E303"
    assert err(text, width=2, widht=3).error_code == "E302"
    assert err(text, width="two").error_code == "E309"


def test_inplace_on_a_shared_tensor_is_refused() -> None:
    e = err(
        spec(
            """
            layers:
              - {name: a, type: conv2d, out_channels: 3, kernel_size: 1}
              - {name: r, type: relu, inplace: true}
              - {name: s, type: add, from: [a, r]}
            """
        )
    )
    assert e.error_code == "E311"


def test_inplace_names_the_readers_in_node_order_each_read_once() -> None:
    """E311 names the first other readers in node order, a node that reads the tensor twice
    twice (the lint counts reads, and writes the names only for its errors)."""
    e = err(
        spec(
            """
            layers:
              - {name: a, type: conv2d, out_channels: 3, kernel_size: 1}
              - {name: m, type: mul, from: [a, a]}
              - {name: r, type: relu, inplace: true, from: a}
              - {name: s, type: add, from: [m, r]}
              - {name: t, type: add, from: [s, a]}
              - {name: u, type: add, from: [t, a]}
            outputs: [u, a]
            """
        )
    )
    (d,) = e.diagnostics
    assert d.message.endswith("works in place on `a`, which m, m, t, 2 more also read(s)")


def test_inplace_on_a_dag_modules_input_names_the_caller() -> None:
    """A module that is not a chain must not overwrite its input in place, read once or
    not: its caller may read it again (the lint looks for the writer there too)."""
    text = spec(
        """
        blocks:
          Skip:
            layers:
              - {name: r, type: relu, inplace: true}
              - {name: c, type: conv2d, out_channels: 3, kernel_size: 1}
              - {name: s, type: add, from: [r, c]}
          Plain:
            layers:
              - {name: r, type: relu, inplace: true}
              - {name: c, type: conv2d, out_channels: 3, kernel_size: 1}
        layers:
          - {name: a, type: conv2d, out_channels: 3, kernel_size: 1}
          - {name: b, type: Skip}
          - {name: p, type: Plain}
        """
    )
    (d,) = err(text).diagnostics
    assert d.code == "E311"
    assert d.message == "b.r works in place on `input`, which the caller also read(s)"
    archspec.build_graph(text.replace("{name: b, type: Skip}", "{name: b, type: Plain}"))


def test_inplace_first_layer_of_a_sequential_whose_input_is_read_again_is_refused() -> None:
    """timm's XceptionModule: a `stack` Sequential opening with a ReLU, its input also the
    skip. An in-place ReLU there overwrites the skip in the parent (timm's `act1` is not in
    place for this reason); the chain alone cannot see it, its parent does."""
    text = spec(
        """
        layers:
          - {name: a, type: conv2d, out_channels: 3, kernel_size: 1}
          - name: stack
            type: sequential
            layers:
              - name: inner
                type: sequential
                layers:
                  - {name: act1, type: relu, inplace: true}
                  - {name: conv1, type: conv2d, out_channels: 3, kernel_size: 1}
          - {name: s, type: add, from: [stack, a]}
        """
    )
    e = err(text)
    assert e.error_code == "E311", e.render()
    d = e.diagnostics[0]
    assert d.span.line == 13 and "stack.inner.act1" in d.message and "`a`" in d.message
    # read by nothing else, an in-place first layer is fine (torchvision's Sequentials)
    archspec.build_graph(text.replace("from: [stack, a]", "from: [stack, stack]"))
    archspec.build_graph(text.replace("inplace: true", "inplace: false"))


def test_a_repeated_layer_whose_size_grows_too_large_is_reported_once() -> None:
    """E411 once, at the layer's spec position, not once per repeat copy after it."""
    e = err(
        spec(
            """
            blocks:
              Grow:
                layers:
                  - {name: c, type: concat, dim: 2, from: [input, input, input]}
                  - {type: maxpool2d, kernel_size: 1, stride: 2}
            layers:
              - {type: repeat, count: 20, layer: {type: Grow}}
            """,
            header="input: [N, 3, H, W]",
        )
    )
    found = [(d.code, d.span.line, d.span.col) for d in e.diagnostics if d.span]
    assert found == [("E411", 9, 9)], found
    assert e.diagnostics[0].message.startswith("0.10.0: a size expression grows")


def test_lowering_keeps_each_attribute_expression_in_block_param_terms() -> None:
    """Node.exprs: the canonical text of what the spec states, and where its names are
    bound, so an emitter can write a block's class from the IR alone."""
    g = archspec.build_graph(
        spec(
            """
            params: {width: 4}
            blocks:
              Unit:
                params: {planes: int, stride: 1}
                layers:
                  - {name: conv, type: conv2d, out_channels: planes*2, kernel_size: [3, stride],
                     stride: stride, padding: 1}
                  - {name: fc, type: conv2d, out_channels: "in_channels + width", kernel_size: 1}
            layers:
              - name: stage
                type: repeat
                count: 2
                layer: {type: Unit, planes: width, stride: "2 if i == 0 else 1"}
            """
        )
    )
    copy = g.root.node("stage").child.node("0")
    assert {k: (e.text, e.names) for k, e in copy.exprs.items()} == {
        "planes": ("width", (("width", "spec"),)),
        "stride": ("2 if i == 0 else 1", (("i", "index"),)),
    }
    conv = copy.child.node("conv")
    assert {k: (e.text, e.names) for k, e in conv.exprs.items()} == {
        "out_channels": ("planes * 2", (("planes", "block"),)),
        "kernel_size": ("[3, stride]", (("stride", "block"),)),
        "stride": ("stride", (("stride", "block"),)),
    }
    assert conv.attrs["out_channels"] == 8 and conv.attrs["stride"] == 2
    fc = copy.child.node("fc")
    assert fc.exprs["out_channels"].names == (("in_channels", "input"), ("width", "spec"))
    assert "kernel_size" not in fc.exprs and "padding" not in conv.exprs  # literals
