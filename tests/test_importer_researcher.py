"""archspec import of small models written as researchers write them (no library), in the
forms they use: each either imports exactly, in eval and in training mode, or is refused
at its statement. A module setting that no kind states must never be dropped silently."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.emit_helpers import _load


def _same_in_both_modes(model: nn.Module, text: str, sizes: list[tuple[int, ...]]) -> int:
    """Compiles `text`, loads the model's weights, compares outputs at every size in eval
    and in training mode (dropout drawing the same numbers); returns how many compared."""
    twin = archspec.compile(text)
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict())
    compared = 0
    with torch.no_grad():
        for training in (False, True):
            model.train(training)
            twin.train(training)
            for shape in sizes:
                x = torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape)))
                torch.manual_seed(3)
                want = model(x)
                torch.manual_seed(3)
                got = twin(x)
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
                compared += 1
    return compared


class Resampled(nn.Module):
    """A resize by a factor whose output size torch works out again (`recompute_scale_factor`),
    which samples at another place than the factor given does."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=0.6, mode="bilinear", recompute_scale_factor=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.conv(x))


def test_a_module_setting_its_repr_does_not_show_is_not_dropped() -> None:
    """nn.Upsample's repr shows no `recompute_scale_factor`: the import read the module as an
    `upsample` without it, and the spec's outputs differed from the model's by 180% of
    their largest value, silently."""
    model = Resampled().eval()
    try:
        archspec.from_module(model, torch.zeros(1, 3, 16, 16))
    except ImportFailure as err:
        (diag,) = err.diagnostics
    else:
        raise AssertionError("imported a resize that samples elsewhere")
    assert diag.code == "E903" and diag.span is not None and diag.span.file == __file__
    assert "recompute_scale_factor=None where the model has True" in diag.message


def test_a_resize_built_as_the_kind_builds_it_still_imports() -> None:
    """Settings left at None on both sides compare equal: the stricter reading keeps these."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Upsample(size=(8, 8)),
        nn.BatchNorm2d(4, momentum=None),
    )
    text = archspec.from_module(model.eval(), torch.zeros(1, 3, 16, 16))
    assert _same_in_both_modes(model, text, [(2, 3, 16, 16), (2, 3, 9, 13)]) == 4


class DropInPlace(nn.Module):
    """Dropout in place, as a module or as the call: in eval it returns the tensor it is
    given, so its result shares that tensor's storage."""

    def __init__(self, functional: bool) -> None:
        super().__init__()
        self.functional = functional
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.drop = nn.Dropout(0.25, inplace=True)
        self.fc = nn.Conv2d(4, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.functional:
            x = F.dropout(x, 0.25, self.training, inplace=True)
        else:
            x = self.drop(x)
        return self.fc(x)


class DropInPlaceReadAgain(nn.Module):
    """The dropped tensor read again after the step: the model reads it dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = F.dropout(y, 0.25, self.training, inplace=True)
        return z + y


@pytest.mark.parametrize(
    "make", [lambda: DropInPlace(True), lambda: DropInPlace(False), DropInPlaceReadAgain]
)
def test_a_dropout_in_place_imports_in_both_modes(make) -> None:
    """`nn.Dropout(p, inplace=True)` and `F.dropout(x, p, self.training, inplace=True)` were
    E904 'changes `conv` in place (`drop`) and reads it again afterwards (`fc`)': the step
    counted as a view of its own input, so its own reader read that storage again."""
    model = make().eval()
    text = archspec.from_module(model, torch.zeros(1, 3, 8, 8))
    assert text.count("type: dropout") == 1
    assert _same_in_both_modes(model, text, [(2, 3, 8, 8), (3, 3, 5, 7)]) == 4


class OneBlockTwice(nn.Module):
    """`[block] * 2` puts one module in the list twice: its weights are shared."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())] * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x


def test_weights_shared_inside_a_torch_container_are_refused_at_the_users_class() -> None:
    """The tie was located at the class statement of torch's `nn.ModuleList`, in torch's
    own source: the class that built the container is where the tie is written."""
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(OneBlockTwice().eval(), torch.zeros(1, 3, 8, 8))
    diag = err.value.diagnostics[0]
    assert diag.code == "E904" and "`blocks.0` and `blocks.1` are one module" in diag.message
    assert "set up in tests.test_importer_researcher.OneBlockTwice" in diag.message
    assert diag.span is not None and diag.span.file == __file__
    line = Path(__file__).read_text().splitlines()[diag.span.line - 1]
    assert line.startswith("class OneBlockTwice")


class SlopeAsFlag(nn.Module):
    """`F.leaky_relu(x, True)`, meant as inplace=True: torch takes True as the slope."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), True)


def test_a_call_with_a_value_its_kind_does_not_take_is_refused_at_the_call() -> None:
    """It was E904 at the class statement, 'the imported spec ... does not compile:
    layers[1].output_size[1]: expected an integer' (of `F.adaptive_max_pool2d(x, (1, None))`,
    which imports now), asking to report the model: the reading is now checked against its
    kind's spec where the call is."""
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(SlopeAsFlag().eval(), torch.zeros(1, 3, 8, 8))
    (diag,) = err.value.diagnostics
    assert diag.code == "E903" and diag.span is not None and diag.span.file == __file__
    line = Path(__file__).read_text().splitlines()[diag.span.line - 1]
    assert "F.leaky_relu(self.conv(x), True)" in line
    assert "with negative_slope=True" in diag.message
    assert "`leaky_relu`" in (diag.hint or "")


class ClassAttentionBlock(nn.Module):
    """CaiT's class-attention block in small: the class token reads the patch tokens."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 0.5))

    def forward(self, x: torch.Tensor, x_cls: torch.Tensor) -> torch.Tensor:
        u = torch.cat((x_cls, x), dim=1)
        return x_cls + self.gamma * self.fc(self.norm(u))[:, :1]


class ClassTokenHead(nn.Module):
    def __init__(self, depth: int = 2) -> None:
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.blocks_token_only = nn.ModuleList([ClassAttentionBlock(8) for _ in range(depth)])
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        cls_tokens = self.cls_token.expand(x.shape[0], -1, -1)
        for blk in self.blocks_token_only:
            cls_tokens = blk(x, cls_tokens)
        return self.head(torch.cat((cls_tokens, x), dim=1))


def test_list_items_called_with_two_tensors_are_entries_of_several_inputs() -> None:
    """`for blk in self.blocks_token_only: cls_tokens = blk(x, cls_tokens)` (timm's CaiT)
    was E904 'calls item `0` of `self.blocks_token_only` with other than one tensor': a
    child called so is a block of several inputs, and now so is a list's item."""
    model = ClassTokenHead().eval()
    with torch.no_grad():
        model.cls_token.normal_()
    text = archspec.from_module(model, torch.zeros(1, 5, 4))
    assert "inputs: [x, x_cls]" in text
    assert "{key: blocks_token_only.0, type: ClassAttentionBlock, from: [embed, expand]}" in text
    assert "from: [embed, blocks_token_only.0]}" in text
    assert _same_in_both_modes(model, text, [(2, 5, 4), (3, 5, 4)]) == 4


class SqrtAttention(nn.Module):
    """Attention as the annotated Transformer writes it: scores over `math.sqrt(d_k)`."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.d_k = heads, dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.size()
        q = self.q(x).view(b, n, self.heads, self.d_k).transpose(1, 2)
        k = self.k(x).view(b, n, self.heads, self.d_k).transpose(1, 2)
        v = self.v(x).view(b, n, self.heads, self.d_k).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)
        out = torch.matmul(F.softmax(scores, dim=-1), v)
        return self.o(out.transpose(1, 2).contiguous().view(b, n, c))


class SqrtEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([SqrtAttention(24, h) for h in (2, 3, 4)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = x + layer(x)
        return x


def test_scores_divided_by_the_root_of_the_head_size_import_exactly() -> None:
    """`/ math.sqrt(self.d_k)` was E903 'no layer kind computes the operator `truediv`'
    (the hint: write the product, which is not the same number to the last bit); now it is
    a `scale` by that divisor, a param of the block where the instances' head sizes differ,
    and the emitted module computes it as the model does."""
    model = SqrtEncoder().eval()
    text = archspec.from_module(model, torch.zeros(1, 5, 24))
    assert "{name: truediv, type: scale, divisor: divisor}" in text  # a param: 3 head sizes
    assert _same_in_both_modes(model, text, [(2, 5, 24), (3, 5, 24)]) == 4
    source = archspec.emit(text)
    assert " / " in source
    emitted = _load(source, "sqrt_attention").SqrtEncoder()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 5, 24)
    with torch.no_grad():
        assert torch.equal(emitted.eval()(x), model(x))


class GPTAttention(nn.Module):
    """minGPT's attention without its mask: heads cut by `view`, the scores scaled by
    `1.0 / math.sqrt(k.size(-1))`, the tokens put back by `view(B, T, C)`."""

    def __init__(self, n_embd: int = 16, n_head: int = 2) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class PatchGPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.attn = GPTAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        return x + self.attn(x)


def test_a_scale_by_the_root_of_a_size_keeps_the_tokens_for_every_input() -> None:
    """`math.sqrt(k.size(-1))` was E903 'no layer kind computes `math.sqrt`'; a number
    computed from sizes then hid the token dim behind the scaled scores, so `view(B, T, C)`
    was E903 'takes sizes read from tensor shapes that no spec step states'. The head's
    width is a number, and the scores keep the tokens of any image size."""
    model = PatchGPT().eval()
    text = archspec.from_module(model, torch.zeros(1, 3, 16, 16))
    assert f"type: scale, factor: {1.0 / math.sqrt(8)}" in text
    assert _same_in_both_modes(model, text, [(2, 3, 16, 16), (2, 3, 8, 12)]) == 4
