"""archspec import, reviewed with models the first tests did not have: each either round-trips
exactly (tests/test_importer.py's `roundtrip`) or is refused at its place in the source,
never with a traceback and never approximated (a tie untied, a subclass's own forward
replaced by its base's, a training-only step dropped)."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


def _line_of(diag_span, text: str) -> bool:
    with open(diag_span.file, encoding="utf-8") as fh:
        return text in fh.read().splitlines()[diag_span.line - 1]


class SqueezeExcite(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // 4, 1)
        self.fc2 = nn.Conv2d(c // 4, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class SEBlock(nn.Module):
    """The common CIFAR ResNet: an empty nn.Sequential as the identity shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.se = SqueezeExcite(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.se(self.conv(x)) + self.shortcut(x))


class SENet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(SEBlock(3, 8, 2), SEBlock(8, 8))
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.layer1(x), 1)
        return self.fc(x.view(x.size(0), -1))


def test_an_empty_sequential_shortcut_round_trips() -> None:
    text = roundtrip(SENet(), (2, 3, 8, 8))
    assert "layers: []" in text


class Training(nn.Module):
    """Its class name gives the spec name `training`, an nn.Module attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_a_class_name_a_spec_cannot_take_gets_a_prefix() -> None:
    text = roundtrip(Training(), (2, 4))
    assert "name: m_training\n" in text


class TiedPair(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8, bias=False)
        self.b = nn.Linear(8, 8, bias=False)
        self.b.weight = self.a.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(F.relu(self.a(x)))


def test_tied_weights_are_tied_not_untied() -> None:
    # the untied twin would have the same keys and outputs but twice the parameters: the
    # spec's `tied:` states the tie (it was refused, E904, before a spec could)
    text = archspec.from_module(TiedPair(), torch.zeros(1, 8))
    assert text.endswith("tied:\n  b.weight: a.weight\n")
    model = archspec.compile(text)
    assert model.b.weight is model.a.weight
    assert sum(p.numel() for p in model.parameters()) == 64


class TiedRecurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.GRU(8, 8, batch_first=True)
        self.b = nn.GRU(8, 8, batch_first=True)
        self.b.weight_hh_l0 = self.a.weight_hh_l0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)[0])[0]


def test_tied_weights_no_spec_can_name_are_refused_not_untied() -> None:
    pattern = r"`a\.weight_hh_l0` and `b\.weight_hh_l0` are one tensor"
    with pytest.raises(ImportFailure, match=pattern) as info:
        archspec.from_module(TiedRecurrent(), torch.zeros(1, 3, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and "a tensor of a gru layer" in diag.message
    assert diag.span is not None and _line_of(diag.span, "class TiedRecurrent")


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def test_a_model_of_another_dtype_is_refused_not_imported_as_float32() -> None:
    # the spec would compile to float32: a float64 model's twin would be less precise
    with pytest.raises(ImportFailure, match=r"`conv\.weight` is float64") as info:
        archspec.from_module(Head().double(), torch.zeros(1, 3, 8, 8, dtype=torch.float64))
    (diag,) = info.value.diagnostics  # one per dtype, not one per tensor
    assert diag.code == "E904" and "float32" in diag.message and ".double()" in diag.hint
    assert diag.span is not None and _line_of(diag.span, "class Head")
    # the integer counter of BatchNorm is no other dtype: the float32 model imports
    assert "type: batchnorm2d" in archspec.from_module(Head(), torch.zeros(1, 3, 8, 8))


def test_what_no_spec_states_is_listed_at_once() -> None:
    # a hook and another dtype: both are said in one failure, not the second after a fix
    model = Head().double()
    model.conv.register_forward_hook(lambda module, args, out: out * 2)
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.zeros(1, 3, 8, 8, dtype=torch.float64))
    messages = [d.message for d in info.value.diagnostics]
    assert len(messages) == 2
    assert "has a forward hook" in messages[0] and "is float64" in messages[1]


class Conv2d(nn.Conv2d):
    """Weight standardisation (BiT) under torch's own class name and repr."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight - self.weight.mean((1, 2, 3), keepdim=True)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


class Conv3DSimple(nn.Conv3d):
    """torchvision's video ResNet conv: a subclass that only changes construction."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, (3, 3, 3), 1, 1, bias=False)

    @staticmethod
    def get_downsample_stride(stride: int) -> tuple[int, int, int]:
        return stride, stride, stride


def test_a_subclass_of_a_layer_is_read_only_when_it_computes_the_same() -> None:
    model = nn.Sequential(Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(ImportFailure) as info:  # not a plain conv2d: its forward is its own
        archspec.from_module(model, torch.zeros(1, 3, 8, 8))
    assert set(info.value.codes) == {"E903"}
    assert all(d.span is not None for d in info.value.diagnostics)
    text = roundtrip(nn.Sequential(Conv3DSimple(3, 4), nn.ReLU()), (2, 3, 4, 6, 6))
    assert "{type: conv3d, out_channels: 4, kernel_size: 3, padding: 1, bias: false}" in text


class TrainingStep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        h = x.sigmoid()
        if self.training:
            h = x * h  # only in training
        return self.head(h)


class CachedInEval(nn.Module):
    """LeViT's attention biases: gathered afresh in training, kept per device in eval."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bias = nn.Parameter(torch.zeros(8))
        self.cache: dict[str, torch.Tensor] = {}

    def biases(self, device: torch.device) -> torch.Tensor:
        if self.training:
            return self.bias * 1
        key = str(device)
        if key not in self.cache:  # the device read in eval only
            self.cache[key] = self.bias * 1
        return self.cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + self.biases(x.device)


def test_a_value_cached_in_eval_only_is_named_as_written() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(CachedInEval(), torch.zeros(1, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902"
    assert "only eval takes the tensor attribute `.device`" in diag.message
    assert "cached in eval only" in diag.hint
    assert diag.span is not None and _line_of(diag.span, "key = str(device)")


class PassesTheMode(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.dropout(self.fc(x), 0.25, training=self.training))


def test_a_forward_that_differs_in_training_is_refused_at_the_statement() -> None:
    with pytest.raises(ImportFailure, match="another graph in training mode") as info:
        archspec.from_module(TrainingStep(), torch.zeros(1, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902" and "only training takes the operator `mul`" in diag.message
    assert diag.span is not None and _line_of(diag.span, "h = x * h  # only in training")
    # the mode passed on is a dropout in training too, not the identity eval mode traces
    text = roundtrip(PassesTheMode(), (2, 8))
    assert "{name: dropout, type: dropout, p: 0.25}" in text
    model, twin = PassesTheMode(), archspec.compile(text)
    twin.load_state_dict(model.state_dict())
    x = torch.rand(64, 8)
    torch.manual_seed(3)
    want = model.train()(x)
    torch.manual_seed(3)
    torch.testing.assert_close(twin.train()(x), want)


class Splits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:  # the import calls forward with its input alone
            x = x * mask
        a, b, c = torch.split(self.conv(x), 4, dim=1)
        _head, tail = torch.cat([c, a, b], 1).split([4, 8], 1)
        return self.fc(tail.mean((2, 3)))


def test_split_and_a_defaulted_forward_argument_round_trip() -> None:
    text = roundtrip(Splits(), (2, 3, 8, 8))
    assert "{type: split, names: [split_0, split_1, split_2], split_size: 4}" in text
    assert "split_size: [4, 8]" in text
    assert "mask" not in text


def test_an_example_input_too_small_is_refused_located_not_raised() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 5), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ImportFailure, match=r"refuses the example input \(1, 3, 3, 3\)") as info:
        archspec.from_module(model, torch.zeros(1, 3, 3, 3))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and diag.span is not None
    assert diag.span.file == inspect.getsourcefile(nn.Sequential)
    # the model itself refuses it: torch's own words, and no "report this" (no importer bug)
    assert "Kernel size can't be greater than actual input size" in diag.message
    assert "report" not in (diag.hint or "") and "--input" in (diag.hint or "")


class Stepwise(nn.Module):
    """An nn.ModuleList walked with an activation after each item."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)])
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.head(x)


def test_a_module_list_with_parameter_free_steps_between_its_items_round_trips() -> None:
    text = roundtrip(Stepwise(), (2, 8))  # keys layers.0, layers.1, layers.2, head
    assert "  - name: layers\n    type: sequential\n" in text
    assert text.count("type: activation") == 3


class Residual(nn.Sequential):
    """A Sequential subclass whose forward calls its children by their keys 0, 1, 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + x


class StagesWithOwnTensors(nn.Module):
    def __init__(self, keep_unread: bool = False) -> None:
        super().__init__()
        self.body = Residual(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1))
        self.fc = nn.Linear(4, 2)
        if keep_unread:
            self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).mean([-2, -1]))


def test_children_keyed_by_numbers_and_negative_mean_dims_round_trip() -> None:
    text = roundtrip(StagesWithOwnTensors(), (2, 4, 6, 6))
    assert "{key: '0', type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}" in text
    assert "dim: [-2, -1]" in text
    # a tensor of its own that forward never reads: the twin would lack the key
    with pytest.raises(ImportFailure, match="holds the tensor `steps`") as info:
        archspec.from_module(StagesWithOwnTensors(keep_unread=True), torch.zeros(1, 4, 6, 6))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and _line_of(diag.span, "class StagesWithOwnTensors")


class ReturnsNothing(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> None:
        self.fc(x)  # a twin returning fc's output would not be the same model


def test_a_forward_returning_none_is_refused() -> None:
    with pytest.raises(ImportFailure, match="returns None, not one tensor") as info:
        archspec.from_module(ReturnsNothing(), torch.zeros(1, 8))
    assert info.value.error_code == "E904" and info.value.span is not None


def _scripted() -> torch.nn.Module:
    return torch.jit.script(Training())


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("make", "example", "words"),
    [
        (lambda: lambda x: x, torch.zeros(1, 8), "the model is a function, not an nn.Module"),
        (TiedPair, (torch.zeros(1, 8),), "the example input is a tuple"),
        (TiedPair, torch.tensor(1.0), "the example input is a 0-d tensor"),
        (_scripted, torch.zeros(1, 4), "scripted"),
    ],
)
def test_wrong_arguments_are_import_failures_not_attribute_errors(make, example, words) -> None:
    with pytest.raises(ImportFailure, match=words) as info:
        archspec.from_module(make(), example)
    assert info.value.error_code == "E901"


class AliasedSum(nn.Module):
    """`y += x` changes the tensor `identity` also names: torch.fx's graph shows `y + x`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        identity = y
        y += x
        return y + identity


class AliasedRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = F.relu(y, inplace=True)
        return z + y


class InPlaceChain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y += x
        return self.conv2(F.relu(y, inplace=True))


@pytest.mark.parametrize("model", [AliasedSum, AliasedRelu])
def test_an_in_place_step_on_a_tensor_read_again_reads_its_result(model) -> None:
    """These were E904: nothing else shares `y`'s storage, so a later read of `y` reads the
    step's result (tests/test_importer_inplace_reads.py)."""
    roundtrip(model(), (2, 4, 6, 6))


def test_in_place_steps_in_a_chain_import() -> None:
    roundtrip(InPlaceChain(), (2, 4, 6, 6))


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 10)
        self.fc3 = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), (2, 2))
        x = x.view(-1, 16 * 4 * 4)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1) + self.fc3(x.relu()).softmax(-1)


def test_lenet_with_literal_view_sizes_and_functional_softmax_round_trips() -> None:
    text = roundtrip(LeNet(), (2, 1, 28, 28))
    assert "{name: reshape, type: reshape, shape: [-1, 256]}" in text
    assert "type: log_softmax" in text and "type: softmax, from: fc3, dim: -1" in text


def _doubled(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
    return output * 2  # changes what the layer computes: a twin without it differs


def test_hooks_and_per_instance_forwards_are_refused_at_their_source() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    handle = model[0].register_forward_hook(_doubled)
    with pytest.raises(
        ImportFailure, match=r"`0` \(torch.nn.modules.linear.Linear\) has a forward hook"
    ) as info:
        archspec.from_module(model, torch.zeros(1, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and _line_of(diag.span, "def _doubled(")
    handle.remove()
    model[2].forward = lambda x: nn.Linear.forward(model[2], x) * 2
    with pytest.raises(ImportFailure, match="has a forward of its own instance"):
        archspec.from_module(model, torch.zeros(1, 8))
    del model[2].forward
    roundtrip(model, (2, 8))


class FunctionalSettings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.fc(x), approximate="tanh")
        return F.elu(F.leaky_relu(self.fc2(y), 0.2), alpha=0.5)


class PositionalInPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return F.relu(y, True) + y


def test_functional_activations_with_settings_read_as_their_module_kinds() -> None:
    text = roundtrip(FunctionalSettings(), (2, 8))
    assert "{name: gelu, type: gelu, approximate: tanh}" in text
    assert "type: leaky_relu, negative_slope: 0.2}" in text and "type: elu, alpha: 0.5}" in text
    # inplace by position: `+ y` reads the changed `y`, relu(y) + relu(y), not relu(y) + y
    roundtrip(PositionalInPlace(), (2, 8))


class Permute(nn.Module):
    """Named like torchvision's Permute (which a kind rebuilds), but scales its output."""

    def __init__(self, dims: list[int], scale: float = 1.0) -> None:
        super().__init__()
        self.dims, self.scale = dims, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims) * self.scale


def test_a_class_sharing_a_mirrored_library_class_name_is_not_read_as_it() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Permute([0, 2, 3, 1], 3.0))
    text = roundtrip(model, (2, 3, 8, 8))  # traced as a class of its own
    assert "Permute:" in text and "type: scale, factor: 3.0}" in text

    class Permute2(nn.Module):  # a copy of torchvision's forward reads as the kind
        def __init__(self, dims: list[int]) -> None:
            super().__init__()
            self.dims = dims

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.permute(x, self.dims)

    Permute2.__name__ = "Permute"
    text = roundtrip(nn.Sequential(nn.Conv2d(3, 4, 3), Permute2([0, 2, 3, 1])), (2, 3, 8, 8))
    assert "{type: permute, dims: [0, 2, 3, 1]}" in text


class Grandchild(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features[0](x)


class QuantAdd(nn.Module):
    """A FloatFunctional join once `prepare` has put an observer in its
    `activation_post_process` (before, an nn.Identity: it imports, test_importer_quantizable)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.skip_add = torch.ao.nn.quantized.FloatFunctional()
        self.skip_add.activation_post_process = torch.ao.quantization.MinMaxObserver()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_add.add(self.conv(x), x)


@pytest.mark.parametrize(
    ("model", "reached", "statement"),
    [
        (Grandchild, "self.features.0", "return self.features[0](x)"),
        (QuantAdd, "self.skip_add.activation_post_process", "return self.skip_add.add("),
    ],
)
def test_reaching_inside_a_child_names_the_child_and_the_statement(
    model: type[nn.Module], reached: str, statement: str
) -> None:
    with pytest.raises(ImportFailure, match=f"reaches `{reached}` inside its child") as info:
        archspec.from_module(model(), torch.zeros(1, 3, 8, 8))
    diag = info.value.diagnostics[0]
    assert diag.code == "E904" and "call the child itself" in (diag.hint or "")
    assert diag.span is not None and _line_of(diag.span, statement)
