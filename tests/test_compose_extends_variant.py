"""`extends: {from: family.yaml, variant: NAME}`: a spec, or a family, built on one variant of
a family file; and composition errors shown with their line, as every other error is."""

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

FAMILY = """\
archspec: 1
name: fam
input: [N, 3, 16, 16]
params:
  width: {type: int, default: 8, ge: 1}
  depth: {type: int, default: 1, ge: 1}
  stages: [[8, 1]]
variants:
  fam_s: {class_name: FamS, params: {width: 4}}
  fam_l: {class_name: FamL, params: {width: 16, depth: 3, stages: [[16, 1], [24, 2]]}}
layers:
  - {name: body, type: repeat, count: depth,
     layer: {type: conv2d, out_channels: width, kernel_size: 3, padding: 1}}
  - {name: stages, type: for_each, rows: stages, fields: [ch, s],
     layer: {type: conv2d, out_channels: ch, kernel_size: 3, stride: s, padding: 1}}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: 10}
"""

CHILD = """\
archspec: 1
extends: {from: fam.yaml, variant: fam_l}
name: kid
params: {width: 12}
variants:
  kid_a: {params: {depth: 2}}
  kid_b: {class_name: KidB, params: {stages: [[20, 2]]}}
replace:
  fc: {type: linear, out_features: 5}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(source: object, **kwargs: object) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(source, device="meta", **kwargs)  # type: ignore[arg-type]
    return info.value


class _Reference(torch.nn.Module):
    """What kid_a and kid_b are, in plain torch."""

    def __init__(self, depth: int, stages: list[tuple[int, int]]) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            *[torch.nn.Conv2d(3 if i == 0 else 12, 12, 3, padding=1) for i in range(depth)]
        )
        convs, cin = [], 12
        for ch, s in stages:
            convs.append(torch.nn.Conv2d(cin, ch, 3, stride=s, padding=1))
            cin = ch
        self.stages = torch.nn.Sequential(*convs)
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(cin, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.body(x))), 1))


@pytest.mark.parametrize(
    ("variant", "depth", "stages", "cls"),
    [("kid_a", 2, [(16, 1), (24, 2)], "KidA"), ("kid_b", 3, [(20, 2)], "KidB")],
)
def test_a_family_built_on_one_variant_of_a_family_file(
    tmp_path: Path, variant: str, depth: int, stages: list[tuple[int, int]], cls: str
) -> None:
    """The base variant's defaults, then the extending spec's, then its own variant's."""
    write(tmp_path / "fam.yaml", FAMILY)
    spec = write(tmp_path / "kid.yaml", CHILD)
    model = archspec.compile(spec, variant=variant).eval()
    ref = _Reference(depth, stages).eval()
    assert type(model).__name__ == cls
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [
        (k, v.shape) for k, v in ref.state_dict().items()
    ]
    model.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    # `archspec show` prints one plain spec that compiles to the same module
    shown = runner.invoke(app, ["show", str(spec), "--variant", variant])
    assert shown.exit_code == 0 and "extends" not in shown.stdout and "variants" not in shown.stdout
    again = archspec.compile(write(tmp_path / "shown.yaml", shown.stdout)).eval()
    again.load_state_dict(ref.state_dict())
    with torch.no_grad():
        assert type(again).__name__ == cls and torch.equal(again(x), ref(x))
    assert archspec.check(spec, variant=variant).ok


def test_a_plain_spec_on_a_family_variant_and_a_builtin_variant(tmp_path: Path) -> None:
    write(tmp_path / "fam.yaml", FAMILY)
    spec = write(tmp_path / "one.yaml", "archspec: 1\nextends: {from: fam.yaml, variant: fam_s}\n")
    assert archspec.compile(spec).body[0].out_channels == 4
    same = write(tmp_path / "r.yaml", "archspec: 1\nextends: {from: resnet18, variant: resnet18}\n")
    assert archspec.compile(same, device="meta").fc.in_features == 512
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("extends", "code", "message", "hint"),
    [
        ("fam.yaml", "E113", "`fam.yaml` is a family of 2 variants", "variant: fam_s}"),
        ("{from: fam.yaml}", "E113", "extend one of them", "variants: fam_s, fam_l"),
        ("{from: fam.yaml, variant: fam_m}", "E113", "has no variant `fam_m`", "variants:"),
        ("{from: plain.yaml, variant: a}", "E113", "has no variant `a`", "drop `variant`"),
        ("{from: lenet5, variant: a}", "E113", "has no variant `a`", "drop `variant`"),
        ("{from: resnet50, variant: resnet18}", "E114", "already a variant", "extends: resnet18"),
        ("{from: fam.yaml, variant: fam_s, x: 1}", "E114", "unknown key `x`", "variant: small"),
        ("{from: fam.yaml, variant: 3}", "E114", "`variant` is not a name", "variant: small"),
        ("{variant: fam_s}", "E114", "names one spec", "variant: small"),
        ("[fam.yaml]", "E114", "names one spec", "variant: small"),
    ],
)
def test_a_bad_choice_of_base_is_located_at_extends(
    tmp_path: Path, extends: str, code: str, message: str, hint: str
) -> None:
    """Located at the `extends:` that chose it (where the fix is written), with a hint; the
    family's own "choose one" (whose hint is `--variant`) is not what a user of it reads."""
    write(tmp_path / "fam.yaml", FAMILY)
    write(tmp_path / "plain.yaml", "archspec: 1\nname: p\ninput: [N, 3]\nlayers: [{type: relu}]\n")
    spec = write(tmp_path / "kid.yaml", f"archspec: 1\nextends: {extends}\nname: kid\n")
    err = error_of(spec)
    assert err.error_code == code and message in str(err), err.render()
    assert err.span is not None and (err.span.file, err.span.line, err.span.col) == (
        str(spec),
        2,
        10,
    )
    assert hint in (err.hint or "") and "--variant" not in (err.hint or "")
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 1 and f"error[{code}]" in result.stderr


def test_composition_errors_show_their_line_and_hint(tmp_path: Path) -> None:
    """An import or base that cannot be used is shown as every error is: the line, a caret
    under the `from`, a hint; in the file that names it, the spec's or an imported one's."""
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "big.yaml").write_text("archspec: 1\n" + "#" * (1 << 20) + "\n")
    write(tmp_path / "lib.yaml", "archspec: 1\nuse:\n  - {from: /etc/passwd, blocks: [B]}\n")
    cases = {
        "folder.yaml": ("E100", "  - {from: folder.yaml, blocks: [B]}", "regular .yaml file"),
        "big.yaml": ("E104", "  - {from: big.yaml, blocks: [B]}", "at most 1 MiB"),
        "lib.yaml": ("E110", "  - {from: /etc/passwd, blocks: [B]}", "relative path"),
    }
    for target, (code, line, hint) in cases.items():
        spec = write(
            tmp_path / "net.yaml",
            f"archspec: 1\nname: net\ninput: [N, 3, 8, 8]\nuse:\n  - {{from: {target}, "
            "blocks: [B]}\nlayers:\n  - {type: B}\n",
        )
        result = runner.invoke(app, ["check", str(spec)])
        assert result.exit_code == 1, result.output
        lines = result.stderr.splitlines()
        assert f"error[{code}]" in lines[0], result.stderr
        assert lines[1].endswith(line) and lines[2].strip().startswith("|") and "^" in lines[2]
        assert lines[3].startswith("  = hint:") and hint in lines[3], result.stderr
        assert "Traceback" not in result.output


def test_a_chain_of_bases_too_deep_says_how_to_shorten_it(tmp_path: Path) -> None:
    write(tmp_path / "e70.yaml", "archspec: 1\nname: e\ninput: [N, 3]\nlayers: [{type: relu}]\n")
    for i in range(70):
        write(tmp_path / f"e{i}.yaml", f"archspec: 1\nextends: e{i + 1}.yaml\n")
    err = error_of(tmp_path / "e0.yaml")
    assert err.error_code == "E111" and "nested deeper than 64" in str(err)
    assert "chain" in (err.hint or "") and "built-in" not in (err.hint or "")


def test_a_family_error_every_variant_shares_is_printed_once(tmp_path: Path) -> None:
    """Each variant is reported by its own name, also when the spec does not validate; an
    error in a layer every variant has is shown once, a variant's own error where it is."""
    spec = write(tmp_path / "fam.yaml", FAMILY.replace("fields: [ch, s]", "as: [ch, s]"))
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:2] == [
        f"fam_s ({spec}): 2 errors",
        f"fam_l ({spec}): 2 errors (2 shown above)",
    ]
    assert result.stderr.count("error[E201]: unknown field `as`") == 1
    assert result.stderr.count("error[E203]") == 1
    assert [d["name"] for d in _json(runner.invoke(app, ["check", str(spec), "--json"]))] == [
        "fam_s",
        "fam_l",
    ]
    assert archspec.check(spec, variant="fam_l").name == "fam_l"
    # a variant's own error is its own: shown, and no "shown above"
    spec.write_text(FAMILY.replace("{width: 16, depth: 3,", "{width: 0, depth: 3,"))
    result = runner.invoke(app, ["check", str(spec)])
    lines = result.stdout.splitlines()
    assert f"fam_s ({spec}): ok" in lines and f"fam_l ({spec}): 1 error" in lines
    assert result.stderr.count("error[E309]") == 1 and "shown above" not in result.stdout


def _json(result: object) -> list[dict[str, object]]:
    import json

    return json.loads(result.stdout)  # type: ignore[attr-defined]


@pytest.mark.parametrize("alias", ["relu", "conv2d", "repeat", "residual"])
def test_a_block_imported_under_a_layer_kinds_name_is_refused(tmp_path: Path, alias: str) -> None:
    """`{Net: relu}` made a block `type: relu` could never call (the layer kind won, and the
    model silently lacked the block): E304 at the alias in `use:`, where the name is written
    (it was at the block's line in the library, which is right as it stands)."""
    write(
        tmp_path / "lib.yaml",
        "archspec: 1\nblocks:\n  Wide: {layers: [{type: conv2d, "
        "out_channels: 5, kernel_size: 1}]}\n",
    )
    spec = write(
        tmp_path / "net.yaml",
        "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\nuse:\n"
        f"  - {{from: lib.yaml, blocks: [{{Wide: {alias}}}]}}\nlayers:\n  - {{type: relu}}\n",
    )
    result = archspec.check(spec)
    assert [d.code for d in result.diagnostics] == ["E304"], result.render()
    assert f"block `{alias}` has the name of a" in result.render()
    (diag,) = result.diagnostics
    assert diag.span is not None and (diag.span.file, diag.span.line) == (str(spec), 5)
    assert "another name" in (diag.hint or "")


@pytest.mark.parametrize(("alias", "says"), [("class", "Python keyword"), ("forward", "reserved")])
def test_an_import_alias_that_is_no_name_is_refused_where_it_is_written(
    tmp_path: Path, alias: str, says: str
) -> None:
    """The alias written in `use:` is what is wrong (it was reported at the block's line in
    the library file, which is right as it stands)."""
    write(tmp_path / "lib.yaml", "archspec: 1\nblocks:\n  Wide: {layers: [{type: relu}]}\n")
    spec = write(
        tmp_path / "net.yaml",
        "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\nuse:\n"
        f"  - {{from: lib.yaml, blocks: [{{Wide: {alias}}}]}}\nlayers:\n  - {{type: relu}}\n",
    )
    err = error_of(spec)
    assert err.error_code == "E204" and says in str(err) and "another name" in (err.hint or "")
    assert err.span is not None and (err.span.file, err.span.line) == (str(spec), 5)


@pytest.mark.parametrize(
    ("ref", "what"),
    [
        ("C:/x.yaml", "an absolute path"),  # was "a URL": a drive letter reads as a scheme
        ("'\\\\\\\\srv\\\\x.yaml'", "an absolute path"),
        ("'lib\\\\x.yaml'", "a path written with `\\`"),  # was "an absolute path"
        ("https://example.com/x.yaml", "a URL"),
        ("~/x.yaml", "an absolute path"),
    ],
)
def test_an_import_from_outside_the_tree_says_what_it_is(
    tmp_path: Path, ref: str, what: str
) -> None:
    spec = write(
        tmp_path / "net.yaml",
        f"archspec: 1\nname: net\ninput: [N, 3]\nuse:\n  - from: {ref}\n    blocks: [B]\n"
        "layers:\n  - {type: relu}\n",
    )
    err = error_of(spec)
    assert err.error_code == "E110" and f"is {what}" in str(err), str(err)


def test_an_error_in_a_block_the_base_imports_names_the_extending_spec(tmp_path: Path) -> None:
    """The notes follow the whole chain: the library file's line, each import site, then the
    `extends:` of the spec that was checked (which the notes used to leave out)."""
    (tmp_path / "lib").mkdir()
    write(
        tmp_path / "lib" / "deep.yaml",
        "archspec: 1\nblocks:\n"
        "  Deep: {layers: [{type: conv2d, out_channels: 4, kernel_sise: 3}]}\n",
    )
    write(
        tmp_path / "lib" / "mid.yaml",
        "archspec: 1\nuse:\n  - {from: deep.yaml, blocks: [Deep]}\nblocks:\n"
        "  Mid: {layers: [{type: Deep}]}\n",
    )
    top = write(
        tmp_path / "top.yaml",
        "archspec: 1\nname: top\ninput: [N, 3, 8, 8]\nuse:\n"
        "  - {from: lib/mid.yaml, blocks: [Mid]}\nlayers:\n  - {type: Mid}\n",
    )
    kid = write(tmp_path / "kid.yaml", "archspec: 1\nextends: top.yaml\nname: kid\n")
    mid = write(tmp_path / "mid2.yaml", f"archspec: 1\nextends: {kid.name}\nname: kid2\n")
    err = error_of(mid)
    assert err.error_code == "E201" and Path(err.span.file).name == "deep.yaml"
    sites = [str(s) for s in err.span.import_sites()]
    assert sites == [
        f"{tmp_path / 'lib' / 'mid.yaml'}:3:32",
        f"{top}:5:35",
        f"{kid}:2:10",
        f"{mid}:2:10",
    ], sites


@pytest.mark.parametrize("layers", ["", "layers: [{type: relu}]\n"])
def test_blocks_are_not_imported_from_a_spec_that_extends_another(
    tmp_path: Path, layers: str
) -> None:
    """Its blocks would be its base's and its own: without `layers` it was 'unknown key
    `extends` in a block library', with them the base's blocks were silently missing (E112)."""
    write(
        tmp_path / "base.yaml",
        "archspec: 1\nname: b\ninput: [N, 3]\nblocks:\n"
        "  B: {layers: [{type: relu}]}\nlayers: [{type: B}]\n",
    )
    write(tmp_path / "kid.yaml", f"archspec: 1\nextends: base.yaml\nname: k\n{layers}")
    spec = write(
        tmp_path / "net.yaml",
        "archspec: 1\nname: net\ninput: [N, 3]\nuse:\n  - {from: kid.yaml, blocks: [B]}\n"
        "layers:\n  - {type: B}\n",
    )
    err = error_of(spec)
    assert err.error_code == "E110" and "extends another spec" in str(err), err.render()
    assert err.span is not None and (Path(err.span.file).name, err.span.line) == ("kid.yaml", 2)
    assert [str(s) for s in err.span.import_sites()] == [f"{spec}:5:12"]
    assert "file that defines them" in (err.hint or "")


@pytest.mark.parametrize("ref", ['"archspec:blocks/resnet"', "lib.yaml"])
def test_extending_a_file_of_blocks_says_to_import_from_it(tmp_path: Path, ref: str) -> None:
    """Was E203 `missing input` located in the library file (an absolute path inside the
    installed package for a library module), with no word of the `extends:`."""
    write(tmp_path / "lib.yaml", "archspec: 1\nblocks:\n  B: {layers: [{type: relu}]}\n")
    spec = write(tmp_path / "kid.yaml", f"archspec: 1\nextends: {ref}\nname: kid\n")
    err = error_of(spec)
    assert err.error_code == "E114" and "a file of blocks, not a spec" in str(err)
    assert err.span is not None and (err.span.file, err.span.line) == (str(spec), 2)
    assert "use: [{from: " in (err.hint or "")


def test_variant_asked_of_a_spec_that_extends_one_is_located_in_that_spec(
    tmp_path: Path,
) -> None:
    """`--variant big` of a spec that extends a family's variant: the spec itself has no
    variants, so the error is at its own first line (it was at line 1 of the family file,
    the merged text's root, blaming the base)."""
    write(
        tmp_path / "fam.yaml",
        "archspec: 1\nname: fam\ninput: [N, 3, 8, 8]\nparams: {c: 4}\n"
        "layers:\n  - {type: conv2d, out_channels: c, kernel_size: 1}\n"
        "variants:\n  small: {params: {c: 2}}\n  big: {params: {c: 8}}\n",
    )
    spec = write(
        tmp_path / "net.yaml",
        "archspec: 1\nextends: {from: fam.yaml, variant: small}\nname: net\n",
    )
    result = archspec.check(spec, variant="big")
    (diag,) = result.diagnostics
    assert diag.code == "E113" and "has no variants" in diag.message
    assert diag.span is not None and (diag.span.file, diag.span.line) == (str(spec), 1)
