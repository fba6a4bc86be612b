"""Errors met while writing networks from the docs alone (a GhostNet module, a U-Net, a ViT):
each points at its cause, once, and its hint fits the tensor it is about. Before, a block
whose only output a `when` left out failed far away ("output `fc` is not a node" at 1:1),
a parameter's `shape: [1, in_channels]` after a failed node was a second error, a ViT's
token count was called "channels" with a hint to add a 1x1 conv, and a concat of two token
tensors was told to check its strides."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError


def spec(body: str, header: str = "input: [N, 8, 16, 16]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body).lstrip("\n")


def err(text: str) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    return info.value


CUT = spec(
    """
    blocks:
      Cut:
        params: {cut: bool}
        layers:
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: split, split_size: [6, 2], names: [head, tail], when: cut}
        outputs: [head]
    layers:
      - {name: a, type: Cut, cut: true}
      - {name: b, type: Cut, cut: false}
      - {name: fc, type: conv2d, out_channels: 4, kernel_size: 1}
    """
)


def test_a_block_whose_only_output_is_switched_off_is_one_error_at_its_outputs() -> None:
    e = err(CUT)
    assert e.codes == ["E305"], e.render()
    d = e.diagnostics[0]
    assert "every output (`head`) is switched off by its `when`" in d.message
    assert (d.span.line, d.span.col) == (10, 15)  # `head` in `outputs: [head]`
    assert "complementary `when`s" in (d.hint or "")


def test_a_network_whose_outputs_are_all_switched_off_is_not_called_train_only() -> None:
    text = spec(
        """
        params: {aux: false}
        layers:
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1}
          - {name: head, type: conv2d, out_channels: 8, kernel_size: 1, when: aux}
        outputs: [head]
        """
    )
    e = err(text)
    assert e.codes == ["E305"], e.render()
    assert "train_only" not in e.render()
    assert archspec.build_graph(text, {"aux": True}).root.outputs[0].name == "head"


def test_the_output_named_under_complementary_whens_builds() -> None:
    """The form the hint suggests: GhostNet's `cat(x1, x2)[:, :out]` cut only when needed."""
    text = CUT.replace(
        "      - {type: split, split_size: [6, 2], names: [head, tail], when: cut}\n",
        "      - {name: head, type: identity, when: not cut}\n"
        "      - {type: split, split_size: [6, 2], names: [head, tail], when: cut}\n",
    )
    model = archspec.compile(text)
    assert model(torch.randn(2, 8, 16, 16)).shape == (2, 4, 16, 16)


def test_a_parameter_shape_list_reading_a_failed_input_is_no_second_error() -> None:
    text = spec(
        """
        blocks:
          B:
            layers:
              - {name: p, type: parameter, shape: [1, in_channels, 1, 1]}
              - {name: c, type: conv2d, out_channels: in_channels, kernel_size: 1}
              - {name: s, type: add, from: [c, p]}
        layers:
          - {name: a, type: conv2d, out_channels: 8, kernel_size: 1}
          - {name: b, type: conv2d, out_channels: 4, kernel_size: 1, from: input}
          - {name: j, type: concat, from: [a, b], dim: 2}
          - {name: d, type: B}
        """
    )
    e = err(text)
    assert e.codes == ["E403"], e.render()


def test_a_concat_names_its_sizes_in_the_order_of_its_inputs() -> None:
    text = spec(
        """
        layers:
          - {name: a, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, stride: 2}
          - {name: j, type: concat, from: [a, input]}
        """
    )
    msg = err(text).diagnostics[0].message
    assert "dim 2 differ: 8 vs 16 ((N, 8, 8, 8), (N, 8, 16, 16))" in msg, msg
    assert "spatial size" in (err(text).diagnostics[0].hint or "")


def test_a_concat_of_tokens_is_told_about_layout_not_strides() -> None:
    text = spec(
        """
        layers:
          - {name: conv, type: conv2d, out_channels: 16, kernel_size: 8, stride: 8}
          - {name: tokens, type: flatten, start_dim: 2}
          - {name: cls, type: parameter, shape: [1, 1, 16]}
          - {name: token, type: expand, from: [cls, tokens]}
          - {name: joined, type: concat, from: [token, tokens]}
        """
    )
    d = err(text).diagnostics[0]
    assert d.code == "E403"
    assert "permute" in (d.hint or "") and "strides" not in (d.hint or "")


def test_a_position_embedding_of_the_wrong_length_is_about_tokens() -> None:
    text = spec(
        """
        layers:
          - {name: conv, type: conv2d, out_channels: 16, kernel_size: 4, stride: 4}
          - {name: patches, type: flatten, start_dim: 2}
          - {name: tokens, type: permute, dims: [0, 2, 1]}
          - {name: pos, type: parameter, shape: [1, 15, 16]}
          - {name: embedded, type: add, from: [tokens, pos]}
        """
    )
    d = err(text).diagnostics[0]
    assert "dim 1 differ: 16 vs 15" in d.message, d.message
    assert "channels" not in d.message
    assert "tokens" in (d.hint or "") and "projection shortcut" not in (d.hint or "")


def test_maps_still_speak_of_channels() -> None:
    text = spec(
        """
        layers:
          - {name: a, type: conv2d, out_channels: 4, kernel_size: 1}
          - {name: s, type: add, from: [a, input]}
        """
    )
    assert "channels differ: 4 vs 8" in err(text).diagnostics[0].message


def test_from_into_another_module_says_names_are_local() -> None:
    text = spec(
        """
        layers:
          - name: enc
            type: sequential
            layers:
              - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
              - {type: relu}
          - {name: j, type: concat, from: [enc, enc.0]}
        """
    )
    d = err(text).diagnostics[0]
    assert d.code == "E305"
    assert "`enc.0` reaches into `enc`" in d.message
    assert (d.span.line, d.span.col) == (10, 41)
    assert "did you mean" not in (d.hint or "")
    # in `outputs` too, whose message spoke of `from` alone
    listed = text.replace("from: [enc, enc.0]}", "from: [enc, enc]}") + "outputs: [j, enc.0]\n"
    d = err(listed).diagnostics[0]
    assert d.code == "E305" and d.span.line == listed.count("\n")
    assert "`from` and `outputs` name only the nodes of this layer list" in d.message


TOKENS = spec(
    """
    layers:
      - {name: conv_proj, type: conv2d, out_channels: 16, kernel_size: 8, stride: 8}
      - {name: patches, type: flatten, start_dim: 2}
      - {name: tokens, type: permute, dims: [0, 2, 1]}
      - {name: class_token, type: parameter, shape: [1, 1, 16]}
      - {name: batch_class_token, type: expand, from: [class_token, tokens]}
      - {name: joined, type: concat, from: [batch_class_token, tokens]}
    """,
    "input: [N, 3, 32, 32]",
)


def test_a_layer_that_ties_the_batch_to_one_is_a_warning_at_it() -> None:
    """The class token's expand with its inputs swapped runs in torch at batch 1 only: the
    check passed it silently, with `N = 1` in the domain and an output of batch 1."""
    swapped = TOKENS.replace("from: [class_token, tokens]", "from: [tokens, class_token]")
    result = archspec.check(swapped)
    assert result.ok
    warned = [d for d in result.diagnostics if d.code == "W406"]
    assert len(warned) == 1, result.diagnostics
    assert warned[0].span.line == 9
    assert "runs only at a batch of N = 1" in warned[0].message
    assert "N = 1" in result.domain_text
    assert not [d for d in archspec.check(TOKENS).diagnostics if d.code == "W406"]


SIZED = spec(
    """
    params: {image_size: 32}
    layers:
      - {name: check, type: check_size, size: [image_size, image_size]}
      - {name: conv_proj, type: conv2d, out_channels: 16, kernel_size: 8, stride: 8}
    """,
    "input: [N, 3, 32, 32]",
)


def test_a_size_param_against_a_stated_input_says_to_write_symbols() -> None:
    """The hint named "its image_size param", a name only the built-in ViT has, and did not
    say why setting the param alone fails: the spec's input states 32."""
    d = err(SIZED.replace("image_size: 32}", "image_size: 48}")).diagnostics[0]
    assert d.code == "E413"
    assert "[N, 3, H, W]" in (d.hint or "")
    symbolic = SIZED.replace("input: [N, 3, 32, 32]", "input: [N, 3, H, W]")
    result = archspec.check(symbolic, image_size=48)
    assert result.ok and "H = 48 and W = 48" in result.domain_text


def test_names_under_group_rows_that_name_rows_get_the_repeat_form() -> None:
    """`names: "layer{r + 1}"` with `group_rows` gives two copies of a row one name: the
    hint said only to read the copy's index, not how to name the rows' Sequentials."""
    text = spec(
        """
        params: {stages: [[16, 2], [32, 1]]}
        layers:
          - type: for_each
            rows: stages
            fields: [c, n]
            count: n
            group_rows: true
            flat: true
            row_index: r
            names: "layer{r + 1}"
            layer: {type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
        """
    )
    d = err(text).diagnostics[0]
    assert d.code == "E304"
    assert "Stages with names of their own" in (d.hint or "")
    plain = text.replace("            group_rows: true\n", "").replace("{r + 1}", "{r}_{i}")
    assert archspec.build_graph(plain) is not None


def test_a_bare_word_item_is_told_to_be_a_mapping() -> None:
    """`- relu` (torch's Sequential and VGG's cfg read that way) is a layer without its
    mapping: the hint writes it for the user; other bare items keep the general hint."""
    e = err(spec("layers:\n  - relu\n  - 3\n  - [relu]\n"))
    assert e.codes == ["E205"] * 3, e.render()
    hints = [d.hint for d in e.diagnostics]
    assert hints[0] == "a layer is a mapping: write `{type: relu}`"
    assert "a layer kind (conv2d, linear, ...) or a block name" in (hints[1] or "")
    assert "{type: sequential, layers: [...]}" in (hints[2] or "")
    assert [d.span.line for d in e.diagnostics] == [5, 6, 7]


def test_a_reference_to_a_node_inside_an_earlier_module_names_where_it_is() -> None:
    """A U-Net whose encoder is a `sequential` reads the encoder's conv for its skip: the
    name exists, out of `from`'s reach; saying "unknown" with the list's names sent the
    writer looking for a typo."""
    e = err(
        spec(
            """
            layers:
              - name: enc
                type: sequential
                layers:
                  - {name: c1, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
                  - {name: p1, type: maxpool2d, kernel_size: 2}
              - {name: up, type: upsample, scale_factor: 2}
              - {name: cat, type: concat, from: [up, c1]}
            """
        )
    )
    assert e.codes == ["E305"], e.render()
    d = e.diagnostics[0]
    assert "`c1` is a node inside `enc` (`enc.c1`)" in d.message
    assert (d.span.line, d.span.col) == (11, 42)
    assert "read `enc` itself" in (d.hint or "")
    outputs = err(
        spec(
            """
            layers:
              - {name: enc, type: sequential, layers: [{name: c1, type: relu}]}
              - {name: up, type: upsample, scale_factor: 2}
            outputs: [up, c1]
            """
        )
    )
    assert "`c1` is a node inside `enc` (`enc.c1`): `from` and `outputs` name only" in (
        outputs.diagnostics[0].message
    )


def test_a_reference_into_a_block_instance_names_the_path_and_a_typo_still_gets_its_match() -> None:
    text = spec(
        """
        blocks:
          Down:
            layers:
              - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
              - {name: pool, type: maxpool2d, kernel_size: 2}
        layers:
          - {name: stage, type: sequential, layers: [{name: down1, type: Down}]}
          - {name: up, type: upsample, scale_factor: 2}
          - {name: cat, type: concat, from: [up, conv]}
          - {name: cat2, type: concat, from: [up, stagee]}
        """
    )
    e = err(text)
    assert e.codes == ["E305", "E305"], e.render()
    assert "`conv` is a node inside `stage` (`stage.down1.conv`)" in e.diagnostics[0].message
    assert e.diagnostics[1].hint == "did you mean `stage`?"


def test_many_references_into_modules_stay_fast() -> None:
    """The nested names are indexed once per list, not walked again for each bad reference."""
    from tests.cpu import GUARD, cpu_seconds

    n = 1000
    body = "layers:\n" + "".join(
        f"  - {{name: s{i}, type: sequential, layers: [{{name: r{i}, type: relu}}]}}\n"
        for i in range(n)
    )
    body += "".join(f"  - {{type: add, from: [s0, r{i}]}}\n" for i in range(n))

    def attempt() -> ArchSpecError:
        return err(f"archspec: 1\nname: t\ninput: [1, 3, 4, 4]\n{body}")

    e, seconds = cpu_seconds(attempt)
    assert len(e.codes) == n and "`r999` is a node inside `s999`" in e.diagnostics[-1].message
    assert seconds < GUARD, seconds


def test_a_join_kept_by_a_when_on_in_channels_is_told_whose_channels_it_read() -> None:
    """A TCN block's two adds under `when: in_channels != out` / `== out`: at the add,
    `in_channels` is its own first input's (the body's `out`), so the identity add was kept
    and failed; the hint now says why before the general one."""
    body = """
        blocks:
          Temporal:
            params: {out: int}
            layers:
              - {name: conv, type: conv2d, out_channels: out, kernel_size: 1}
              - {name: downsample, type: conv2d, out_channels: out, kernel_size: 1,
                 from: input, when: WHEN != out}
              - {name: sum, type: add, from: [conv, downsample], when: WHEN != out}
              - {name: sum, type: add, from: [conv, input], when: WHEN == out}
        layers:
          - {name: t, type: Temporal, out: 16}
        """
    e = err(spec(body.replace("WHEN", "in_channels")))
    assert e.codes == ["E402"], e.render()
    d = e.diagnostics[0]
    assert d.span.line == 12 and "t.sum: add joins inputs whose channels differ" in d.message
    assert (d.hint or "").startswith(
        "this node's `when` (in_channels == out) reads `in_channels`, which here is the "
        "channels of its own first input, not the block's: bind the block's once"
    )
    let = "params: {out: int}\n            let: {cin: in_channels}"
    fixed = spec(body.replace("params: {out: int}", let))
    model = archspec.compile(fixed.replace("WHEN", "cin"))
    assert model(torch.randn(1, 8, 4, 4)).shape == (1, 16, 4, 4)


# timm's XceptionModule: a projection shortcut where the width or stride changes, and the sum
# reading it under the same condition. The sum's `in_channels` is its own first input's (the
# stack's output, always `out` wide), as wherever a `when` reads it: where the shortcut is not
# there that `when` is read with the stack's width, so the first sum is left out and the
# second is kept; where the block's width changes, that second sum's join fails, and its hint
# says what the `when` read and to bind the block's width in a `let`.
SHORTCUT = spec(
    """
    blocks:
      Block:
        params: {out: int}
        layers:
          - {name: shortcut, type: conv2d, out_channels: out, kernel_size: 1,
             when: in_channels != out}
          - {name: stack, type: conv2d, out_channels: out, kernel_size: 3, padding: 1, from: input}
          - {name: sum, type: add, from: [stack, shortcut], when: in_channels != out}
          - {name: sum, type: add, from: [stack, input], when: in_channels == out}
    layers:
      - {name: a, type: Block, out: 8}
    """
)


def test_a_reader_whose_when_reads_its_own_input_width_reads_its_first_inputs() -> None:
    graph = archspec.build_graph(SHORTCUT)
    block = graph.root.nodes[0].child
    assert [(n.name, n.inputs) for n in block.nodes] == [
        ("stack", ("input",)),
        ("sum", ("stack", "input")),
    ]
    e = err(SHORTCUT.replace("out: 8}", "out: 16}"))
    assert e.codes == ["E402"], e.render()
    d = e.diagnostics[0]
    assert d.span.line == 12 and "a.sum: add joins inputs whose channels differ" in d.message
    assert "reads `in_channels`, which here is the channels of its own first input" in d.hint
    assert "let: {cin: in_channels}" in d.hint
    let = "params: {out: int}\n    let: {cin: in_channels}"
    fixed = SHORTCUT.replace("params: {out: int}", let).replace("when: in_channels", "when: cin")
    for out in (8, 16):
        model = archspec.compile(fixed.replace("out: 8}", f"out: {out}}}"))
        assert model(torch.randn(1, 8, 4, 4)).shape == (1, out, 4, 4)


def test_a_reference_to_a_node_of_an_enclosing_list_says_the_module_reads_only_its_own() -> None:
    """Res2Net's convs read the pieces of a chunk made beside them: written in a `sequential`
    below the chunk, "unknown reference `s0`" with "names defined before this point: none"
    contradicted the file, where `s0` is two lines up."""
    e = err(
        spec(
            """
            layers:
              - {type: chunk, chunks: 2, names: [s0, s1]}
              - name: convs
                type: sequential
                layers:
                  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, from: s0}
            """
        )
    )
    assert e.codes == ["E305"], e.render()
    d = e.diagnostics[0]
    assert "`s0` is a node of an enclosing layer list (`s0`)" in d.message
    assert (d.span.line, d.span.col) == (9, 75)
    assert "give the module itself `from: s0`" in (d.hint or "")
    # the same from inside a block's list, and the hint's way out works
    block = spec(
        """
        blocks:
          Head:
            layers:
              - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1, from: stem}
        layers:
          - {name: stem, type: conv2d, out_channels: 8, kernel_size: 1}
          - {name: head, type: Head}
        """
    )
    e = err(block)
    assert "`stem` is a node of an enclosing layer list (`stem`)" in e.diagnostics[0].message
    fixed = block.replace(", from: stem}", "}").replace("type: Head}", "type: Head, from: stem}")
    assert archspec.check(fixed).ok
    # a `parallel` branch cannot take a `from`: the hint names the parallel, and that works
    branch = spec(
        """
        layers:
          - {name: stem, type: conv2d, out_channels: 8, kernel_size: 1}
          - {name: other, type: relu}
          - name: mixed
            type: parallel
            branches:
              b1: {type: conv2d, out_channels: 4, kernel_size: 1}
              b2: [{type: conv2d, out_channels: 4, kernel_size: 1, from: stem}]
        """
    )
    assert "(a `parallel` branch: the parallel, whose branches all read it)" in (
        err(branch).diagnostics[0].hint or ""
    )
    fixed = branch.replace(", from: stem}", "}").replace(
        "type: parallel", "type: parallel\n    from: stem"
    )
    assert archspec.check(fixed).ok, archspec.check(fixed).render()
    # a name that is nowhere is still "unknown", with the list's names
    e = err(spec("layers:\n  - {name: a, type: relu}\n  - {type: concat, from: [a, zz]}\n"))
    assert "unknown reference `zz`" in e.diagnostics[0].message


def test_an_expression_written_as_a_from_entry_is_told_to_go_in_braces() -> None:
    """ShuffleNetV2's branch2 reads the second half of a chunk at stride 1 and the input at
    stride 2: a new user wrote the choice as `from: "'x2' if stride == 1 else 'input'"` and
    got "unknown reference" with a list of node names, nothing about computing a name."""
    text = spec(
        "params: {stride: 1}\n"
        "layers:\n"
        "  - {type: chunk, chunks: 2, names: [x1, x2]}\n"
        "  - {name: b, type: relu, from: \"'x2' if stride == 1 else 'input'\"}\n"
    )
    e = err(text)
    assert e.codes == ["E305"], e.render()
    d = e.diagnostics[0]
    assert "not an expression" in d.message
    assert "`\"{'x2' if stride == 1 else 'input'}\"`" in (d.hint or "")
    fixed = text.replace(
        "from: \"'x2' if stride == 1 else 'input'\"", "from: \"{'x2' if stride == 1 else 'input'}\""
    )
    assert archspec.check(fixed).ok, archspec.check(fixed).render()
