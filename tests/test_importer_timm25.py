"""Layouts of timm's models that `archspec import` refused, written here in plain torch as
timm writes them (timm is no dependency): ResMLP's and gMLP's transposes of a tensor whose
rank no step states. Each imports to a spec that compiles back exactly (state_dict keys,
shapes and order, eval outputs) and whose emitted source computes the same."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.emit_helpers import _load
from tests.test_importer import roundtrip


def round_trip_and_emit(model: nn.Module, shape: tuple[int, ...]) -> str:
    """tests/test_importer.py's `roundtrip`, and the emitted source's module beside it: the
    same state_dict (strict) and the same outputs. Returns the spec."""
    text = roundtrip(model, shape)
    source = archspec.emit(text)
    emitted = getattr(_load(source, "timm25"), type(model).__name__)().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    assert list(emitted.state_dict()) == list(model.state_dict())
    x = torch.randn(shape, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), model(x), rtol=1e-5, atol=1e-6)
    return text


# 1. a transpose of a tensor whose rank no step before it states (timm's mlp_mixer.py)


class Affine(nn.Module):
    """ResMLP's norm: a learned scale and shift of the channels (last dim)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones((1, 1, dim)))
        self.beta = nn.Parameter(torch.zeros((1, 1, dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta, self.alpha, x)


class ResBlock(nn.Module):
    """ResMLP's block: the tokens mixed by a Linear over the transposed sequence."""

    def __init__(self, dim: int, seq_len: int) -> None:
        super().__init__()
        self.norm1 = Affine(dim)
        self.linear_tokens = nn.Linear(seq_len, seq_len)
        self.norm2 = Affine(dim)
        self.mlp_channels = nn.Sequential(
            nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)
        )
        self.ls1 = nn.Parameter(0.1 * torch.ones(dim))
        self.ls2 = nn.Parameter(0.1 * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1 * self.linear_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.ls2 * self.mlp_channels(self.norm2(x))
        return x


class SpatialGatingUnit(nn.Module):
    """gMLP's gate: negative dims, `v.transpose(-1, -2)`, after a chunk."""

    def __init__(self, dim: int, seq_len: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim // 2)
        self.proj = nn.Linear(seq_len, seq_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = x.chunk(2, dim=-1)
        v = self.norm(v)
        v = self.proj(v.transpose(-1, -2))
        return u * v.transpose(-1, -2)


class ResMLP(nn.Module):
    def __init__(self, dim: int = 8, patch: int = 4, size: int = 16) -> None:
        super().__init__()
        seq_len = (size // patch) ** 2
        self.stem = nn.Conv2d(3, dim, patch, stride=patch)
        self.blocks = nn.Sequential(ResBlock(dim, seq_len), ResBlock(dim, seq_len))
        self.gate = SpatialGatingUnit(dim, seq_len)
        self.norm = Affine(dim // 2)
        self.head = nn.Linear(dim // 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).flatten(2).transpose(1, 2)
        x = self.gate(self.blocks(x))
        return self.head(self.norm(x).mean(1))


def test_a_transpose_of_a_block_output_takes_its_rank_from_the_example_input() -> None:
    text = round_trip_and_emit(ResMLP(), (2, 3, 16, 16))
    # the stem's (after a flatten), and two in each block (ResBlock written once)
    assert text.count("type: permute, dims: [0, 2, 1]") == 5
    assert "{name: permute, type: permute, dims: [0, 2, 1]}\n      - {name: proj," in text
    assert text.count("ResBlock:") == 1


class Swapped(nn.Module):
    """A transpose of the input of a module: the rank is the tensor's on the example."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, -2)


@pytest.mark.parametrize(
    ("shape", "dims"),
    [((2, 3, 4, 5), [0, 2, 1, 3]), ((2, 3, 4), [0, 1, 2]), ((2, 3, 4, 5, 6), [0, 3, 2, 1, 4])],
)
def test_a_transpose_is_a_permute_of_the_rank_the_example_input_gives(
    shape: tuple[int, ...], dims: list[int]
) -> None:
    model = nn.Sequential(nn.Identity(), Swapped())
    text = archspec.from_module(model, torch.zeros(shape))
    assert f"type: permute, dims: {dims}" in text.replace("'", "")
    twin = archspec.compile(text).eval()
    x = torch.randn(shape)
    torch.testing.assert_close(twin(x), model(x))


class SwappedOutOfRange(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 5)


def test_a_transpose_of_a_dim_the_tensor_lacks_is_refused_at_its_statement() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(
            nn.Sequential(nn.Identity(), SwappedOutOfRange()), torch.zeros(1, 3, 4, 4)
        )
    diag = err.value.diagnostics[0]
    assert diag.code in ("E902", "E903")
    assert diag.span is not None and diag.span.file.endswith("test_importer_timm25.py")


# 2. a child given a list it appends its outputs to, then concatenates (timm's vovnet.py)


def conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class SequentialAppendList(nn.Sequential):
    """timm's: each item reads the one before; the list gets every output; all are joined."""

    def forward(self, x: torch.Tensor, concat_list: list[torch.Tensor]) -> torch.Tensor:
        for i, module in enumerate(self):
            if i == 0:
                concat_list.append(module(x))
            else:
                concat_list.append(module(concat_list[-1]))
        return torch.cat(concat_list, dim=1)


class OsaBlock(nn.Module):
    """VoVNet's one-shot aggregation: the input first in the list, its own item read after."""

    def __init__(self, cin: int, mid: int, cout: int, layers: int, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        convs = [conv_bn(cin if i == 0 else mid, mid) for i in range(layers)]
        self.conv_mid = SequentialAppendList(*convs)
        self.conv_concat = conv_bn(cin + layers * mid, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = [x]
        x = self.conv_mid(x, output)
        x = self.conv_concat(x)
        if self.residual:
            x = x + output[0]
        return x


class VoVNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 8)
        self.stages = nn.Sequential(
            OsaBlock(8, 4, 8, 3, residual=False),
            OsaBlock(8, 4, 8, 3, residual=True),
            OsaBlock(8, 6, 12, 3, residual=False),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def test_a_list_a_child_appends_to_and_concatenates_is_an_input_per_item() -> None:
    text = round_trip_and_emit(VoVNet(), (2, 3, 12, 10))
    # the list's item is an input of the block: the caller gives `x` twice
    assert "inputs: [x, concat_list_1]" in text
    assert "from: [input, input]" in text
    assert "from: [concat_list_1, '0', '1', '2']" in text  # three convs, the input first
    keys = list(archspec.compile(text).state_dict())
    assert keys[6] == "stages.0.conv_mid.0.0.weight"  # after the stem's conv and norm


# 3. DLA's trees: a list of children passed down, a root concatenating what it is given


class Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(
        self,
        x: torch.Tensor,
        shortcut: torch.Tensor | None = None,
        children: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if shortcut is None:
            shortcut = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Root(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x_children: list[torch.Tensor]) -> torch.Tensor:
        return self.relu(self.bn(self.conv(torch.cat(x_children, 1))))


class Tree(nn.Module):
    """timm's DlaTree: a tree of trees; the inner one given the outer one's `children`."""

    def __init__(
        self,
        levels: int,
        cin: int,
        cout: int,
        stride: int = 1,
        level_root: bool = False,
        root_dim: int = 0,
    ) -> None:
        super().__init__()
        root_dim = (root_dim or 2 * cout) + (cin if level_root else 0)
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else nn.Identity()
        self.project = nn.Identity()
        if levels == 1:
            self.tree1 = Basic(cin, cout, stride)
            self.tree2 = Basic(cout, cout, 1)
            if cin != cout:
                self.project = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)
                )
            self.root: Root | None = Root(root_dim, cout)
        else:
            self.tree1 = Tree(levels - 1, cin, cout, stride)
            self.tree2 = Tree(levels - 1, cout, cout, root_dim=root_dim + cout)
            self.root = None
        self.level_root = level_root

    def forward(
        self,
        x: torch.Tensor,
        shortcut: torch.Tensor | None = None,
        children: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if children is None:
            children = []
        bottom = self.downsample(x)
        shortcut = self.project(bottom)
        if self.level_root:
            children.append(bottom)
        x1 = self.tree1(x, shortcut)
        if self.root is not None:
            x2 = self.tree2(x1)
            return self.root([x2, x1] + children)
        children.append(x1)
        return self.tree2(x1, None, children)


class DLA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.level2 = Tree(1, 8, 8, 2, level_root=False)
        self.level3 = Tree(2, 8, 16, 2, level_root=True)
        self.level4 = Tree(2, 16, 16, 2, level_root=True)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.level4(self.level3(self.level2(self.stem(x)))))


def test_dla_trees_of_trees_given_lists_of_children_round_trip() -> None:
    text = round_trip_and_emit(DLA(), (2, 3, 16, 16))
    # the inner trees are given the outer one's list: one input per item
    assert "inputs: [x, children_1, children_2]" in text
    assert "from: [tree2, tree1, children_1, children_2]" in text
    # a tree holding trees is another block than those it holds
    assert "  Tree:" in text and "  Tree_2:" in text


# 4. a list read after a child changed it: what the child put there is no output of it


class Appends(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.conv2 = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        feats.append(self.conv(x))
        return self.conv2(feats[0] + feats[1])


class ReadsAfter(nn.Module):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.child = Appends()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        y = self.child(x, feats)
        return y + feats[self.index]  # -1: the child's conv, in the model; not in torch.fx


class Replaces(Appends):
    def forward(self, x: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        feats[0] = self.conv(feats[0])
        return self.conv2(feats[0])


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_a_list_read_after_a_child_changed_it_is_refused_where_it_is_read(device: str) -> None:
    model = ReadsAfter(-1).eval().to(device)
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4, device=device))
    (diag,) = err.value.diagnostics
    assert diag.code == "E904"
    assert "reads a list after `self.child` changed it" in diag.message
    assert diag.span is not None and diag.span.file.endswith("test_importer_timm25.py")
    with open(diag.span.file, encoding="utf-8") as fh:
        assert "y + feats[self.index]" in fh.read().splitlines()[diag.span.line - 1]
    assert diag.hint and "returns one tensor" in diag.hint


def test_items_of_a_list_a_child_only_appended_to_are_read_as_they_were() -> None:
    model = ReadsAfter(0)
    text = round_trip_and_emit(model, (2, 3, 4, 4))
    assert "- {name: add, type: add, from: [child, input]}" in text


def test_a_list_whose_items_a_child_replaced_is_not_read_after() -> None:
    model = ReadsAfter(0)
    model.child = Replaces()
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    assert "changed it" in err.value.diagnostics[0].message


class Nested(nn.Module):
    """A class holding an instance of itself, called with one tensor."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.inner = Nested(depth - 1) if depth > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inner(torch.relu(self.conv(x)))


class NestedNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.body = Nested(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x))


def test_a_class_holding_instances_of_itself_is_a_block_per_depth() -> None:
    """Each block is merged after the ones it calls (it was a KeyError traceback)."""
    text = round_trip_and_emit(NestedNet(), (2, 3, 8, 8))
    assert "{name: inner, type: Nested}" in text  # the middle one calls the innermost
    assert "{name: inner, type: Nested_2}" in text
    assert "{name: body, type: Nested_3}" in text


# 5. a ModuleList walked in a chain, every output gathered by one torch.cat (timm's hgnet.py)


class HighPerfBlock(nn.Module):
    """HGNet's block: `output = [x]`, each layer's output appended, then concatenated."""

    def __init__(self, cin: int, mid: int, cout: int, layers: int, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.layers = nn.ModuleList(conv_bn(cin if i == 0 else mid, mid) for i in range(layers))
        self.aggregation = conv_bn(cin + layers * mid, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        output = [x]
        for layer in self.layers:
            x = layer(x)
            output.append(x)
        x = torch.cat(output, dim=1)
        x = self.aggregation(x)
        if self.residual:
            x = x + identity
        return x


class OutputsOnly(HighPerfBlock):
    """The items' outputs alone, without the tensor the first one read."""

    def __init__(self, cin: int, mid: int, cout: int, layers: int) -> None:
        super().__init__(cin, mid, cout, layers, residual=False)
        self.aggregation = conv_bn(layers * mid, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = []
        for layer in self.layers:
            x = layer(x)
            output.append(x)
        return self.aggregation(torch.cat(output, 1))


class HGNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 8)
        self.stages = nn.Sequential(
            HighPerfBlock(8, 4, 8, 3, residual=False), HighPerfBlock(8, 4, 8, 3, residual=True)
        )
        self.tail = OutputsOnly(8, 4, 6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.stages(self.stem(x))).mean((2, 3))


def test_a_chain_whose_outputs_one_concat_gathers_ends_its_sequence_in_that_concat() -> None:
    text = round_trip_and_emit(HGNet(), (2, 3, 10, 12))
    assert "- {type: concat, from: [input, '0', '1', '2']}" in text
    assert "- {type: concat, from: ['0', '1']}" in text
    keys = list(archspec.compile(text).state_dict())
    assert "stages.0.layers.2.0.weight" in keys and "tail.layers.1.0.weight" in keys


class GathersPart(HighPerfBlock):
    """The concatenation skips an item: no sequence states it, its entries do."""

    def __init__(self, cin: int, mid: int, cout: int, layers: int) -> None:
        super().__init__(cin, mid, cout, layers, residual=False)
        self.aggregation = conv_bn(cin + (layers - 1) * mid, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = [x]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i != 1:
                output.append(x)
        return self.aggregation(torch.cat(output, dim=1))


def test_a_concat_of_some_items_of_a_chain_is_stated_entry_by_entry() -> None:
    """It was E904 at the loop ('a concatenation read besides the items joins every item's
    output'): an item's output read besides the next item keys the list's entries."""
    text = roundtrip(GathersPart(8, 4, 8, 3), (1, 8, 6, 6))
    assert "from: [input, layers.0, layers.2]" in text


class GathersFirst(HighPerfBlock):
    """The concatenation of the first items, made before the last one is called."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = [x]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < 2:
                output.append(x)
            if i == 1:
                y = torch.cat(output, dim=1)
        return x + y[:, :4]


@pytest.mark.parametrize("cls", [GathersFirst])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_a_concat_of_some_items_of_a_chain_stays_refused_at_the_loop(cls, device) -> None:
    model = cls(8, 4, 8, 3, False).to(device)
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.zeros(1, 8, 6, 6, device=device))
    diag = err.value.diagnostics[0]
    assert diag.code == "E904" and "self.layers" in diag.message
    assert "joins every item's output, in order" in diag.message
    assert diag.span is not None and diag.span.file.endswith("test_importer_timm25.py")
