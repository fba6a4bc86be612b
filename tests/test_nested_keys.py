"""Keys that are paths of containers, `key: fuse_layers.0.1`: a node registered in the
nn.ModuleLists (indices) and nn.ModuleDicts (names) its key names, as HRNet's fusion layers
(`self.fuse_layers[i][j]`, a ModuleList of ModuleLists); compiled and emitted modules hold
the same containers as PyTorch written by hand, and the keys that cannot be are refused
(tests/test_list_keys.py has the one-level lists and the located errors)."""

from __future__ import annotations

import ast
import textwrap

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.errors import ArchSpecError
from archspec.importer import ImportFailure

from .emit_helpers import matches_compile

# An HRNet fusion stage of three branches, as timm's HighResolutionModule fuses them:
# output i sums fuse_layers[i][j](x_j) over j, where [i][j] is a 1x1 conv, norm and
# upsample for a lower branch (j > i), an nn.Identity for its own (j == i), and a
# Sequential of stride-2 3x3 convs for a higher one (j < i).
HRNET = """
archspec: 1
name: hrfuse
input: [N, 3, 32, 32]
params: {branches: 3}
let: {widths: "[8, 16, 32]"}
layers:
  - {name: x0, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: x1, type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {name: x2, type: conv2d, out_channels: 32, kernel_size: 3, stride: 2, padding: 1}
  - type: repeat
    count: branches
    flat: true
    index: i
    names: [null, "y{i}", "a{i}"]
    layers:
      - type: repeat
        count: branches
        flat: true
        index: j
        layers:
          - type: sequential
            key: "fuse_layers.{i}.{j}"
            when: j > i
            from: "x{j}"
            layers:
              - {type: conv2d, out_channels: "widths[i]", kernel_size: 1, bias: false}
              - {type: batchnorm2d}
              - {type: upsample, scale_factor: "2 ** (j - i)", mode: nearest}
          - {type: identity, key: "fuse_layers.{i}.{j}", when: j == i, from: "x{j}"}
          - type: repeat
            key: "fuse_layers.{i}.{j}"
            when: j < i
            from: "x{j}"
            count: i - j
            index: k
            layer:
              type: sequential
              layers:
                - {type: conv2d, out_channels: "widths[i] if k == i - j - 1 else widths[j]",
                   kernel_size: 3, stride: 2, padding: 1, bias: false}
                - {type: batchnorm2d}
                - {type: relu, when: k < i - j - 1}
      - {type: add, from: {each: "fuse_layers.{i}.{j}", for: j, in: branches}}
      - {type: relu}
  - {name: u1, type: upsample, scale_factor: 2, mode: nearest, from: a1}
  - {name: u2, type: upsample, scale_factor: 4, mode: nearest, from: a2}
  - {name: out, type: concat, from: [a0, u1, u2]}
"""

WIDTHS = (8, 16, 32)


class RefFuse(nn.Module):
    """The same stage written as timm writes HighResolutionModule's `_make_fuse_layers` and
    its fusing `forward`."""

    def __init__(self) -> None:
        super().__init__()
        c = WIDTHS
        self.x0 = nn.Conv2d(3, c[0], 3, padding=1)
        self.x1 = nn.Conv2d(c[0], c[1], 3, 2, 1)
        self.x2 = nn.Conv2d(c[1], c[2], 3, 2, 1)
        fuse_layers = []
        for i in range(3):
            fuse_layer: list[nn.Module] = []
            for j in range(3):
                if j > i:
                    fuse_layer.append(
                        nn.Sequential(
                            nn.Conv2d(c[j], c[i], 1, 1, 0, bias=False),
                            nn.BatchNorm2d(c[i]),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    fuse_layer.append(nn.Identity())
                else:
                    convs = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        out = c[i] if last else c[j]
                        layers = [nn.Conv2d(c[j], out, 3, 2, 1, bias=False), nn.BatchNorm2d(out)]
                        convs.append(nn.Sequential(*layers, *([] if last else [nn.ReLU()])))
                    fuse_layer.append(nn.Sequential(*convs))
            fuse_layers.append(nn.ModuleList(fuse_layer))
        self.fuse_layers = nn.ModuleList(fuse_layers)
        self.up = nn.ModuleList([nn.Upsample(scale_factor=2**i) for i in (1, 2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.x0(x)
        x1 = self.x1(x0)
        xs = [x0, x1, self.x2(x1)]
        fused = []
        for fuse_outer in self.fuse_layers:
            y = None
            for j, f in enumerate(fuse_outer):
                y = f(xs[j]) if y is None else y + f(xs[j])
            fused.append(torch.relu(y))
        return torch.cat([fused[0], self.up[0](fused[1]), self.up[1](fused[2])], 1)


def _randomised(model: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith("running_var"):
                t.uniform_(0.5, 1.5, generator=gen)
            elif t.is_floating_point():
                t.normal_(0, 0.2, generator=gen)
    return model.eval()


def _containers(model: nn.Module) -> list[tuple[str, str]]:
    return [(n, type(m).__name__) for n, m in model.named_modules() if n.startswith("fuse")]


def test_an_hrnet_fusion_stage_has_timms_nested_lists_and_computes_what_it_does() -> None:
    ours, ref = _randomised(archspec.compile(HRNET)), _randomised(RefFuse())
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in ref.state_dict().items()
    ]
    assert "fuse_layers.2.0.1.0.weight" in ours.state_dict()
    # the same containers at the same paths: lists of lists, Identity at [i][i]
    assert [(n, t.replace("Spec", "")) for n, t in _containers(ours)] == _containers(ref)
    assert isinstance(ours.fuse_layers[1][1], nn.Identity)
    ref.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(_randomised(RefFuse()).state_dict(), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_the_hrnet_stage_emits_its_lists_and_indexes_them() -> None:
    source = matches_compile(HRNET, (2, 3, 32, 32))
    ast.parse(source)
    assert "self.fuse_layers = nn.ModuleList()" in source
    assert "self.fuse_layers.append(nn.ModuleList())" in source
    assert "self.fuse_layers[2].append(nn.Identity())" in source
    assert "self.fuse_layers[1][0](x0)" in source
    ns: dict[str, object] = {}
    exec(compile(source, "<emitted>", "exec"), ns)
    emitted = ns[build_graph(HRNET).class_name]()  # type: ignore[operator]
    ref = _randomised(RefFuse())
    emitted.load_state_dict(ref.state_dict(), strict=True)  # type: ignore[attr-defined]
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(emitted.eval()(x), ref(x))  # type: ignore[attr-defined]


def spec(body: str, header: str = "input: [N, 8, 4, 4]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


CONV = "type: conv2d, out_channels: 8, kernel_size: 1"


def test_a_skipped_index_holds_an_identity_and_a_name_makes_a_module_dict() -> None:
    text = spec(
        f"""
        layers:
          - {{key: fuse.0.1, {CONV}}}
          - {{key: heads.cls.0, {CONV}, from: input}}
          - {{key: block1-0.2, {CONV}, from: input}}
          - {{key: heads.box, {CONV}, from: input}}
          - {{key: fuse.2.0, {CONV}, from: input}}
          - {{name: s, type: add, from: [fuse.0.1, heads.cls.0, block1-0.2, heads.box, fuse.2.0]}}
        """
    )
    model = archspec.compile(text)
    assert [k for k in model.state_dict() if k.endswith("weight")] == [
        "fuse.0.1.weight",
        "fuse.2.0.weight",
        "heads.cls.0.weight",
        "heads.box.weight",
        "block1-0.2.weight",
    ]
    assert [type(m).__name__ for m in model.fuse] == ["ModuleList", "Identity", "ModuleList"]
    assert isinstance(model.fuse[0][0], nn.Identity) and isinstance(model.heads, nn.ModuleDict)
    source = matches_compile(text, (2, 8, 4, 4))
    assert 'self.heads["cls"] = nn.ModuleList()' in source
    assert 'self.heads["box"] = nn.Conv2d(' in source
    assert 'getattr(self, "block1-0").append(nn.Identity())' in source
    assert "self.fuse.append(nn.Identity())" in source
    assert 'self.heads["cls"][0](x)' in source


def test_a_summary_folded_at_depth_one_counts_what_each_keyed_module_holds() -> None:
    summary = archspec.summary(HRNET, depth=1)
    rows = {r.path: r for r in summary.rows}
    ref = RefFuse()
    for path in ("fuse_layers.0.1", "fuse_layers.2.0", "fuse_layers.1.1"):
        held = sum(p.numel() for p in ref.get_submodule(path).parameters())
        assert rows[path].params == held, path
    assert summary.params == sum(p.numel() for p in ref.parameters())


def test_init_rules_reach_keyed_layers_not_their_containers_in_emitted_source() -> None:
    text = spec(
        f"""
        layers:
          - {{key: fuse.0.1, {CONV}}}
          - {{key: fuse.1.0, {CONV}, from: input}}
          - {{key: heads.cls, {CONV}, from: input}}
          - {{name: s, type: add, from: [fuse.0.1, fuse.1.0, heads.cls]}}
        init:
          - {{layers: [conv2d], weight: zeros, bias: zeros}}
          - {{paths: ["fuse*"], weight: ones}}
          - {{paths: ["heads*"], bias: ones}}
        """
    )
    graph = build_graph(text)
    ns: dict[str, object] = {}
    exec(compile(render_module(graph), "<emitted>", "exec"), ns)
    emitted = ns[graph.class_name]()  # type: ignore[operator]
    ours = archspec.compile(text)
    sums = {k: float(v.sum()) for k, v in ours.state_dict().items()}
    assert sums == {k: float(v.sum()) for k, v in emitted.state_dict().items()}  # type: ignore[attr-defined]
    assert sums["fuse.1.0.weight"] == 64 and sums["heads.cls.bias"] == 8


def test_an_entry_a_when_leaves_out_between_two_is_an_identity() -> None:
    text = spec(
        f"""
        layers:
          - {{type: repeat, count: 3, flat: true,
             layer: {{key: "convs.{{i}}", {CONV}, when: i != 1}}}}
        """
    )
    model = archspec.compile(text)
    assert [type(m).__name__ for m in model.convs] == ["Conv2d", "Identity", "Conv2d"]
    assert "convs.2.weight" in model.state_dict()
    matches_compile(text, (2, 8, 4, 4))


class DictOfLists(nn.Module):
    """Heads in an nn.ModuleDict of nn.ModuleLists, each entry called on its own input."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(8, 8, 1)
        self.heads = nn.ModuleDict(
            {
                "cls": nn.ModuleList([nn.Conv2d(8, 8, 1), nn.Conv2d(8, 4, 1)]),
                "box": nn.ModuleList([nn.Conv2d(8, 4, 3, padding=1)]),
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        cls = self.heads["cls"][1](torch.relu(self.heads["cls"][0](x)))
        return torch.cat([cls, self.heads["box"][0](x)], 1)


def _round_trip(model: nn.Module, shape: tuple[int, ...]) -> str:
    """The spec `from_module` writes of `model`: its compiled module loads the model's
    state_dict strictly and back, with the same keys in order, and computes the same."""
    model = _randomised(model)
    text = archspec.from_module(model, torch.zeros(shape))
    ours = _randomised(archspec.compile(text))
    assert list(ours.state_dict()) == list(model.state_dict())
    ours.load_state_dict(model.state_dict(), strict=True)
    model.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), model(x))
    return text


def test_the_importer_states_a_list_of_lists_and_a_dict_of_lists_entry_by_entry() -> None:
    text = _round_trip(RefFuse(), (1, 3, 32, 32))
    assert "key: fuse_layers.2.0" in text and "{key: fuse_layers.1.1, type: identity" in text
    text = _round_trip(DictOfLists(), (1, 8, 6, 6))
    assert "key: heads.cls.1" in text and "key: heads.box.0" in text


class NestedOutOfTurn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fuse = nn.ModuleList([nn.ModuleList([nn.Conv2d(8, 8, 1)]) for _ in range(2)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse[0][0](self.fuse[1][0](x))


class NestedLeftOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fuse = nn.ModuleList([nn.ModuleList([nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1)])])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse[0][0](x)


class UnkeyableEntry(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.ModuleDict({"_proj": nn.Conv2d(8, 8, 1)})])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks[0]["_proj"](x)


@pytest.mark.parametrize(
    ("model", "said"),
    [
        (NestedOutOfTurn(), "calls item `1` of `self.fuse` before item `0`"),
        (UnkeyableEntry(), 'calls `self.blocks[0]["_proj"]`, whose path no spec key states'),
        (NestedLeftOut(), "never calls item `1` of `self.fuse[0]`, which holds weights"),
    ],
)
def test_nested_entries_called_out_of_turn_or_left_out_are_refused(
    model: nn.Module, said: str
) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.zeros(1, 8, 4, 4))
    first = err.value.diagnostics[0]
    assert first.code == "E904" and said in first.message, first.message
    assert first.span is not None and first.span.file == __file__


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (f"layers:\n  - {{key: convs.999999999, {CONV}}}\n", (5, 11)),
        (  # each instance's skipped indices count: 3 x 4,000
            "blocks:\n  B:\n    layers:\n"
            f"      - {{key: convs.4000, {CONV}}}\n"
            "layers:\n  - {name: a, type: B}\n  - {name: b, type: B}\n  - {name: c, type: B}\n",
            (7, 15),
        ),
    ],
)
def test_indices_a_list_skips_count_against_the_layer_budget(
    body: str, where: tuple[int, int]
) -> None:
    """A key `convs.999999999` would have compile append a billion nn.Identity modules."""
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(spec(body))
    [diag] = info.value.diagnostics
    assert diag.code == "E310" and "indices, each an Identity" in diag.message
    assert diag.span is not None and (diag.span.line, diag.span.col) == where


def test_block_instances_keyed_by_paths_are_fsdp_units_checkpointed_and_diffed() -> None:
    text = spec(
        f"""
        shard: [Blk]
        checkpoint: [Blk]
        blocks:
          Blk:
            params: {{w: 8}}
            layers:
              - {{key: f.0.1, {CONV}}}
              - {{name: out, type: conv2d, out_channels: w, kernel_size: 1}}
        layers:
          - {{key: stages.0.0, type: Blk}}
          - {{key: stages.0.1, type: Blk}}
          - {{key: stages.1.0, type: Blk, w: 4}}
        """
    )
    model = archspec.compile(text)
    units = archspec.shard_units(model)
    assert [id(u) for u in units] == [
        id(model.stages[0][0]),
        id(model.stages[0][1]),
        id(model.stages[1][0]),
    ]
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    model.train()(x).sum().backward()  # checkpointed instances recompute in backward
    assert x.grad is not None
    wider = archspec.diff(text, text.replace("w: 4}", "w: 6}"))
    assert [k for k, _, _ in wider.changed] == ["stages.1.0.out.weight", "stages.1.0.out.bias"]


def _valid_paths(keys: list[tuple[str, ...]]) -> bool:
    """Whether torch code appending these entries in this order makes these keys: no key
    twice, none both an entry and a container, a container's entries all indices or all
    names, and a list's new index after the ones it holds."""
    entries: dict[tuple[str, ...], list[str]] = {}
    leaves = set(keys)
    if len(leaves) != len(keys):
        return False
    for key in keys:
        for k in range(1, len(key)):
            if key[:k] in leaves:
                return False
            held = entries.setdefault(key[:k], [])
            part = key[k]
            if part in held:
                continue
            if held and held[0].isdigit() != part.isdigit():
                return False
            if held and part.isdigit() and int(part) < int(held[-1]):
                return False
            held.append(part)
    return True


def _by_hand(keys: list[tuple[str, ...]]) -> nn.Module:
    """The model torch code makes appending a conv at each key in order: each container an
    nn.ModuleList (indices) or nn.ModuleDict (names) made at its first entry, a skipped
    index an nn.Identity."""
    root = nn.Module()
    for key in keys:
        holder = root
        for k, part in enumerate(key):
            child = holder._modules.get(part)
            if child is None:
                if k == len(key) - 1:
                    child = nn.Conv2d(8, 8, 1)
                else:
                    child = nn.ModuleList() if key[k + 1].isdigit() else nn.ModuleDict()
                if isinstance(holder, nn.ModuleList):
                    while len(holder) < int(part):
                        holder.append(nn.Identity())
                    holder.append(child)
                else:
                    holder.add_module(part, child)
            holder = child
    return root


_PART = st.sampled_from(["0", "1", "2", "3", "a", "b"])
_KEY = st.tuples(st.sampled_from(["f", "g"]), _PART) | st.tuples(
    st.sampled_from(["f", "g"]), _PART, _PART
)


def test_container_paths_are_refused_or_built_as_torch_code_appending_them() -> None:
    counts = {"built": 0, "refused": 0}

    @settings(max_examples=60, deadline=None, database=None)
    @given(keys=st.lists(_KEY, min_size=1, max_size=6))
    def run(keys: list[tuple[str, ...]]) -> None:
        dotted = [".".join(k) for k in keys]
        assume(len(set(dotted)) > 1 or len(dotted) == 1)  # one key many times: one case
        items = "".join(f"  - {{key: {d}, {CONV}, from: input}}\n" for d in dotted)
        joined = ", ".join(f"'{d}'" for d in dotted)
        join = f"  - {{name: s, type: add, from: [{joined}]}}\n" if len(dotted) > 1 else ""
        text = spec("layers:\n" + items + join)
        result = archspec.check(text)
        if not _valid_paths(keys):
            assert not result.ok and {d.code for d in result.errors} <= {"E204", "E304"}
            assert all(d.span is not None and d.span.line >= 5 for d in result.errors)
            counts["refused"] += 1
            return
        assert result.ok, [d.message for d in result.diagnostics]
        ours, ref = archspec.compile(text), _by_hand(keys)
        layout = [(k, v.shape) for k, v in ref.state_dict().items()]
        assert [(k, v.shape) for k, v in ours.state_dict().items()] == layout
        assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
        ref.load_state_dict(ours.state_dict(), strict=True)
        matches_compile(text, (1, 8, 2, 2))
        counts["built"] += 1

    run()
    assert counts["built"] >= 15 and counts["refused"] >= 10, counts


def test_a_keyed_node_that_fails_leaves_its_readers_quiet_in_every_instance() -> None:
    """The second instance reads the first's failed output, so its nodes fail quietly; the
    add reading `f.1` there was E305 'unknown reference `f.1`' besides the one mistake."""
    text = spec(
        f"""
        blocks:
          Blk:
            layers:
              - {{key: f.1, {CONV}}}
              - {{key: f.0, {CONV}, from: input}}
              - {{name: j, type: add, from: [f.1, f.0]}}
        layers:
          - {{key: stages.0, type: Blk}}
          - {{key: stages.1, type: Blk}}
        """
    )
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    assert [(d.code, d.span.line) for d in info.value.diagnostics if d.span] == [("E204", 9)]
