"""`extends:` a base spec with overrides: params, `replace`, `remove`, `insert`, block swaps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ArchSpecError

runner = CliRunner()

USER = """\
archspec: 1
extends: resnet50
params: {num_classes: 10}
replace:
  fc: {type: linear, out_features: num_classes, bias: false}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(source: object) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(source, device="meta")  # type: ignore[arg-type]
    return info.value


def test_a_short_user_spec_extends_a_builtin(tmp_path: Path) -> None:
    spec = write(tmp_path / "mine.yaml", USER)
    model, base = archspec.compile(spec), archspec.load("resnet50")
    assert model._get_name() == "ResNet50" and model.fc.out_features == 10
    assert model.fc.bias is None
    keys = [k for k in base.state_dict() if not k.startswith("fc.")]
    assert [k for k in model.state_dict() if not k.startswith("fc.")] == keys
    assert archspec.compile(spec, num_classes=3).fc.out_features == 3  # still a param
    result = runner.invoke(app, ["show", str(spec)])
    assert result.exit_code == 0 and "extends" not in result.stdout
    shown = write(tmp_path / "shown.yaml", result.stdout)
    again = archspec.compile(shown)
    assert str(again) == str(model)
    again.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(model.eval()(x), again.eval()(x))


def test_errors_point_into_the_file_that_caused_them(tmp_path: Path) -> None:
    spec = write(tmp_path / "mine.yaml", USER.replace("bias: false", "bais: false"))
    err = error_of(spec)
    assert err.error_code == "E201" and err.span is not None
    assert (err.span.file, err.span.line) == (str(spec), 5)
    spec = write(tmp_path / "mine.yaml", USER.replace("num_classes: 10", "num_classes: 0"))
    diag = archspec.check(spec).diagnostics[0]
    assert diag.code == "E309" and (diag.span.file, diag.span.line) == (str(spec), 3)


def test_swap_insert_remove(tmp_path: Path) -> None:
    spec = write(
        tmp_path / "se.yaml",
        """\
        archspec: 1
        extends: resnet18
        name: se_resnet18
        use:
          - {from: "archspec:blocks/se", blocks: [SqueezeExcitation]}
        blocks:
          BasicBlock: SEBasicBlock
          SEBasicBlock:
            params: {planes: int, stride: {type: int, default: 1}}
            layers:
              - {name: block, type: BasicBlock, planes: planes, stride: stride}
              - {name: se, type: SqueezeExcitation, input_channels: in_channels,
                 squeeze_channels: in_channels // 16}
        remove: [maxpool]
        insert:
          - {after: avgpool, layers: [{name: drop, type: dropout, p: 0.2}]}
          - {before: conv1, layers: [{name: pre, type: identity}]}
        """,
    )
    model = archspec.compile(spec)
    names = [n for n, _ in model.named_children()]
    assert names == [
        "pre",
        "conv1",
        "bn1",
        "relu",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "drop",
        "fc",
    ]  # fmt: skip (the named flatten is computed in forward)
    assert model._get_name() == "SeResnet18"
    block = model.layer2[0]
    assert block._get_name() == "SEBasicBlock"
    assert block.block._get_name() == "BasicBlock" and block.se.fc1.out_channels == 8
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize(
    ("edit", "code", "message", "line"),
    [
        ("replace:\n  fcc: {type: relu}\n", "E114", "did you mean `fc`", 4),
        ("remove: [nope]\n", "E114", "no top-level layer named `nope`", 3),
        ("insert:\n  - {after: fc}\n", "E114", "`before` or `after`", 4),
        ("blocks: {Bottleneck: Nope}\n", "E114", "there is no block `Nope`", 3),
        ("blocks: {Nope: Bottleneck}\n", "E114", "the base has no block `Nope`", 3),
        ("replce: {}\n", "E201", "replce", 3),
    ],
)
def test_bad_overrides_are_located(
    edit: str, code: str, message: str, line: int, tmp_path: Path
) -> None:
    spec = write(tmp_path / "mine.yaml", "archspec: 1\nextends: resnet50\n" + edit)
    err = error_of(spec)
    assert err.error_code == code and message in err.render(), err.render()
    assert err.span is not None and (err.span.file, err.span.line) == (str(spec), line)


@pytest.mark.parametrize(
    ("ref", "code"),
    [("resnet51", "E114"), ("/etc/passwd", "E110"), ("../x.yaml", "E110"), ("3", "E114")],
)
def test_bad_bases_are_located(ref: str, code: str, tmp_path: Path) -> None:
    spec = write(tmp_path / "mine.yaml", f"archspec: 1\nextends: {ref}\n")
    err = error_of(spec)
    assert err.error_code == code and err.span is not None
    assert (err.span.file, err.span.line, err.span.col) == (str(spec), 2, 10)


def test_a_file_base_and_cycles(tmp_path: Path) -> None:
    write(
        tmp_path / "base.yaml",
        """\
        archspec: 1
        name: base
        input: [N, 3, 8, 8]
        layers:
          - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3, paddin: 1}
        """,
    )
    spec = write(tmp_path / "child.yaml", "archspec: 1\nextends: base.yaml\nname: child\n")
    err = error_of(spec)
    assert err.error_code == "E201" and Path(err.span.file).name == "base.yaml"
    assert err.span.line == 5 and f"= note: extended at {spec}:2:10" in err.render()
    assert "imported at" not in err.render()  # an extends is no use:
    write(tmp_path / "base.yaml", "archspec: 1\nextends: child.yaml\n")
    err = error_of(spec)
    assert err.error_code == "E111" and "cycle" in str(err)
    assert Path(err.span.file).name == "base.yaml"
    err = error_of("archspec: 1\nextends: base.yaml\n")
    assert err.error_code == "E110"


def test_a_chain_of_bases_parses_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 specs, each extending the next and importing the same blocks: every file is parsed
    once, and the chain's spans still point at the spec that wrote each piece."""
    from archspec.compose import sources

    parsed: list[str] = []
    real_load = sources.load_yaml
    monkeypatch.setattr(
        sources, "load_yaml", lambda t, f, **kw: parsed.append(f) or real_load(t, f, **kw)
    )
    write(tmp_path / "blocks.yaml", "archspec: 1\nblocks: {B: {layers: [{type: relu}]}}\n")
    use = (
        "use: [{from: blocks.yaml, blocks: [B]},"
        ' {from: "archspec:blocks/resnet", blocks: [BasicBlock]}]\n'
    )
    write(
        tmp_path / "e29.yaml",
        "archspec: 1\nname: e29\ninput: [N, 8, 8, 8]\n" + use + "layers: [{name: l29, type: B}]\n",
    )
    for i in range(28, -1, -1):
        write(
            tmp_path / f"e{i}.yaml",
            f"archspec: 1\nextends: e{i + 1}.yaml\nname: e{i}\n{use}"
            f"insert: [{{after: l{i + 1}, layers: "
            f"[{{name: l{i}, type: BasicBlock, planes: 8}}]}}]\n",
        )
    model = archspec.compile(tmp_path / "e0.yaml")
    assert len(list(model.children())) == 30
    assert sorted(parsed) == sorted({*parsed}) and len(parsed) == 29 + 2  # e1..e29, 2 libraries
    spec = write(
        tmp_path / "e5.yaml", (tmp_path / "e5.yaml").read_text().replace("planes: 8", "planes: x")
    )
    err = archspec.check(tmp_path / "e0.yaml").diagnostics[0]
    assert (Path(err.span.file).name, err.span.line) == (spec.name, 5)


def test_the_editor_schema_knows_the_composition_keys() -> None:
    """`archspec schema` accepts composed specs and still refuses a malformed import."""
    import jsonschema
    import yaml

    from archspec.schema import json_schema

    validator = jsonschema.Draft202012Validator(json_schema())
    specs = Path(__file__).resolve().parent.parent / "specs"
    for path in (specs / "resnet.yaml", specs / "vgg.yaml", specs / "vgg_custom.yaml"):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []
    user = yaml.safe_load(USER)
    assert validator.is_valid(user)
    assert validator.is_valid({**user, "blocks": {"Bottleneck": "Other"}, "remove": ["fc"]})
    assert not validator.is_valid({**user, "use": [{"from": "x.yaml"}]})
    assert not validator.is_valid({k: v for k, v in user.items() if k != "extends"})


def test_lets_join_the_bases(tmp_path: Path) -> None:
    """An extending spec's `let:` adds to the base's bindings and may replace one in place;
    the base's layers keep reading theirs, and errors point into the file that wrote them."""
    write(
        tmp_path / "base.yaml",
        """\
        archspec: 1
        name: base
        input: [N, 3, 8, 8]
        params: {width: 4}
        let: {inner: width * 2, outer: inner + 1}
        layers:
          - {name: a, type: conv2d, out_channels: inner, kernel_size: 1}
          - {name: b, type: conv2d, out_channels: outer, kernel_size: 1}
        """,
    )
    spec = write(
        tmp_path / "child.yaml",
        """\
        archspec: 1
        extends: base.yaml
        name: child
        let: {inner: width * 3, extra: outer * 2}
        insert:
          - {after: b, layers: [{name: c, type: conv2d, out_channels: extra, kernel_size: 1}]}
        """,
    )
    model = archspec.compile(spec)
    # inner replaced where it stood (outer, written after it in the base, reads the new one)
    assert (model.a.out_channels, model.b.out_channels, model.c.out_channels) == (12, 13, 26)
    assert list(archspec.api.resolve(spec)["let"]) == ["inner", "outer", "extra"]
    bad = write(
        tmp_path / "bad.yaml",
        (tmp_path / "child.yaml").read_text().replace("outer * 2", "nope * 2"),
    )
    diag = archspec.check(bad).diagnostics[0]
    assert diag.span is not None and (diag.span.file, diag.span.line) == (str(bad), 4)


@pytest.mark.parametrize(
    ("edits", "words"),
    [
        ("remove: [maxpool, maxpool]", "`maxpool` is listed twice in `remove`"),
        (
            "replace:\n  fc: {type: linear, out_features: 10}\nremove: [fc]",
            "`fc` is both replaced (`replace:`) and removed",
        ),
        (
            "remove: [maxpool]\ninsert:\n  - {after: maxpool, layers: [{type: relu}]}",
            "`maxpool` is removed (`remove:`)",
        ),
    ],
)
def test_edits_that_contradict_each_other_say_so(edits: str, words: str) -> None:
    """They said the base had no such layer (it has), or, for a layer both replaced and
    removed, nothing: the replacement was dropped."""
    result = archspec.check(f"archspec: 1\nextends: resnet18\n{edits}\n")
    assert [d.code for d in result.errors] == ["E114"]
    assert words in result.errors[0].message and result.errors[0].hint


def test_every_bad_override_is_reported_not_only_the_first(tmp_path: Path) -> None:
    """One run shows each edit that cannot be made, in the file's order, each at its place;
    the edits that can be made still are (no cascade: `drop` is inserted after `avgpool`)."""
    spec = write(
        tmp_path / "mine.yaml",
        "archspec: 1\nextends: resnet18\nremove: [maxpol, avgpol]\n"
        "replace:\n  conv: {type: relu}\n"
        "insert:\n  - {after: nope, layers: [{type: relu}]}\n"
        "  - {after: avgpool, layers: [{name: drop, type: dropout}]}\n"
        "blocks: {BasicBlock: Nope}\n",
    )
    err = error_of(spec)
    where = [(d.code, d.span.line, d.span.col) for d in err.diagnostics if d.span]
    assert where == [
        ("E114", 3, 10),
        ("E114", 3, 18),
        ("E114", 5, 9),
        ("E114", 7, 13),
        ("E114", 9, 22),
    ], err.render()
    assert "did you mean `maxpool`?" in err.render() and "there is no block `Nope`" in err.render()
    result = CliRunner().invoke(app, ["check", str(spec)])
    assert result.exit_code == 1 and "5 errors" in result.output


def test_a_name_an_insert_duplicates_points_at_both_files(tmp_path: Path) -> None:
    """The duplicate is found at the base's layer (the later one in the list); the hint
    names the inserted one, in the extending file, which is the one to rename."""
    write(
        tmp_path / "base.yaml",
        """\
        archspec: 1
        name: base
        input: [N, 8]
        layers:
          - {name: fc, type: linear, out_features: 4}
          - {name: head, type: linear, out_features: 2}
        """,
    )
    spec = write(
        tmp_path / "mine.yaml",
        """\
        archspec: 1
        extends: base.yaml
        name: mine
        insert:
          - {after: fc, layers: [{name: head, type: relu}]}
        """,
    )
    err = error_of(spec)
    assert err.error_code == "E304" and err.span is not None
    assert (Path(err.span.file).name, err.span.line) == ("base.yaml", 6)
    assert f"the other `head` is at {spec}:5:" in err.render()


@pytest.mark.parametrize("how", ["use", "blocks"])
def test_a_base_call_of_a_block_the_extension_replaced_names_the_new_block(
    tmp_path: Path, how: str
) -> None:
    """The base's call is right for the base's block; the errors say which block it now
    calls and where that came from, since the call's own line cannot show it."""
    write(
        tmp_path / "base.yaml",
        """\
        archspec: 1
        name: base
        input: [N, 8]
        blocks:
          Head:
            params: {out: int}
            layers: [{name: fc, type: linear, out_features: out}]
        layers:
          - {name: head, type: Head, out: 2}
        """,
    )
    write(
        tmp_path / "heads.yaml",
        """\
        archspec: 1
        blocks:
          Head:
            params: {hidden: int}
            layers: [{name: fc, type: linear, out_features: hidden}]
        """,
    )
    override = {
        "use": "use:\n  - {from: heads.yaml, blocks: [Head]}\n",
        "blocks": "blocks:\n  Head:\n    params: {hidden: int}\n    layers: [{type: relu}]\n",
    }[how]
    spec = write(tmp_path / "mine.yaml", "archspec: 1\nextends: base.yaml\nname: mine\n" + override)
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(spec, device="meta")
    text = info.value.render()
    assert "block Head has no param `out`" in text and "block Head needs param `hidden`" in text
    where = "heads.yaml:3:3, imported at " if how == "use" else "mine.yaml:5:3"
    assert text.count(f"(`Head` here is the block at {tmp_path / where}") == 2, text


def test_a_note_says_how_each_file_came_in(tmp_path: Path) -> None:
    """A base's error is under "extended at" (the child's `extends:`), a block the base
    imports under "imported at" (the base's `use:`) and then "extended at"."""
    write(
        tmp_path / "lib.yaml",
        "archspec: 1\nblocks:\n  Unit:\n    layers:\n"
        "      - {type: conv2d, out_channels: 4, kernel_size: 3, paddin: 1}\n",
    )
    write(
        tmp_path / "base.yaml",
        "archspec: 1\nname: base\ninput: [N, 3, 8, 8]\nuse: [{from: lib.yaml, blocks: [Unit]}]\n"
        "layers:\n  - {type: Unit}\n",
    )
    spec = write(tmp_path / "child.yaml", "archspec: 1\nextends: base.yaml\nname: child\n")
    notes = [line for line in error_of(spec).render().splitlines() if "= note:" in line]
    assert notes == [
        f"  = note: imported at {tmp_path / 'base.yaml'}:4:33",
        f"  = note: extended at {spec}:2:10",
    ], notes


FLAT_BASE = """\
archspec: 1
name: flat_base
input: [N, 3, 16, 16]
layers:
  - {name: block1, type: conv2d, out_channels: 8, kernel_size: 1}
  - {type: repeat, count: 3, flat: true, names: "block{i + 2}",
     layer: {type: conv2d, out_channels: 8, kernel_size: 1}}
  - {name: head, type: conv2d, out_channels: 4, kernel_size: 1}
"""


@pytest.mark.parametrize(
    "edit",
    [
        "insert:\n  - {after: block3, layers: [{type: relu}]}\n",
        "remove: [block4]\n",
        "replace:\n  block2: {type: relu}\n",
    ],
)
def test_a_copy_of_a_flat_repeat_is_named_as_such(edit: str, tmp_path: Path) -> None:
    """Xception's middle flow is a flat repeat named `block{i + 4}`: `insert: {after:
    block11}` said the base had no `block11` and asked "did you mean `block1`?", though the
    built model has one. The error now says where the name comes from and what to edit."""
    write(tmp_path / "base.yaml", FLAT_BASE)
    spec = write(tmp_path / "mine.yaml", "archspec: 1\nextends: base.yaml\n" + edit)
    (diag,) = error_of(spec).diagnostics
    assert diag.code == "E114"
    assert "is a copy the base's flat `repeat` makes (`names: block{i + 2}`, base.yaml:6)" in (
        diag.message
    )
    assert diag.hint is not None and "(around the copies: `block1`, `head`)" in diag.hint
    assert "did you mean" not in diag.hint
    other = write(tmp_path / "other.yaml", "archspec: 1\nextends: base.yaml\nremove: [blok1]\n")
    assert "did you mean `block1`?" in (error_of(other).diagnostics[0].hint or "")
