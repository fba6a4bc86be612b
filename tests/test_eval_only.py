"""`eval_only: true`: a step eval mode takes and training skips, its input passed on in its
place (a classifier's `if not self.training: x = x.softmax(1)`): compile, emit, the summary
and import agree with torch in both modes, and a step training cannot skip is E315."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec import graph as pictures
from archspec.errors import ArchSpecError, ImportFailure
from tests.ops_cases import same_as_emitted

PROBS = """\
archspec: 1
name: eval_probs
input: [N, 3, H, W]
layers:
  - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: 10}
  - {name: probs, type: softmax, dim: 1, eval_only: true}
"""

MIXED = """\
archspec: 1
name: eval_mixed
input: [N, 8, H, W]
blocks:
  head:
    params: {p: bool}
    layers:
      - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: act, type: sigmoid, eval_only: true, when: p}
      - {name: out, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: skip, type: add, from: [out, input]}
layers:
  - {type: head, p: true}
  - {type: head, p: false}
  - name: post
    type: sequential
    eval_only: true
    layers:
      - {type: relu}
      - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: t, type: tanh, eval_only: true, from: input}
outputs: [post, t]
"""


def test_training_skips_the_step_and_eval_takes_it() -> None:
    model = archspec.compile(PROBS)
    x = torch.rand(2, 3, 9, 7)
    logits = model.train()(x)
    torch.testing.assert_close(model.eval()(x), logits.softmax(1))
    assert not torch.allclose(logits.sum(1), torch.ones(2))
    mixed = archspec.compile(MIXED)
    y = torch.rand(2, 8, 5, 6)
    assert torch.equal(mixed.train()(y)[1], y)
    assert torch.equal(mixed.eval()(y)[1], y.tanh())


@pytest.mark.parametrize("train", [False, True])
def test_emitted_code_computes_what_compile_does(train: bool) -> None:
    same_as_emitted(PROBS, torch.rand(2, 3, 9, 7), train=train)
    same_as_emitted(MIXED, torch.rand(2, 8, 5, 6), train=train)


def test_emitted_code_reads_like_torch() -> None:
    source = archspec.emit(PROBS)
    assert "        if not self.training:\n            x = self.probs(x)  # (N, 10)\n" in source
    source = archspec.emit(MIXED)
    assert "if self.act is not None and not self.training:" in source
    assert "        if not self.training:\n            out = self.post(out)" in source


def test_the_summary_and_the_picture_mark_the_step() -> None:
    rows = {r.name: r for r in archspec.summary(PROBS, input=(1, 3, 8, 8)).rows}
    assert rows["probs"].eval_only and not rows["fc"].eval_only
    assert "Softmax (eval)" in str(archspec.summary(PROBS, input=(1, 3, 8, 8)))
    dot = pictures.render(archspec.build_graph(MIXED), "dot").decode()
    assert '"0.act" [label="act: sigmoid [eval only]"' in dot
    assert 'label="post  [eval only]"' in dot


TWO_HEADS = """\
archspec: 1
name: two_heads
input: [N, 5, 32]
layers:
  - {name: x_cls, type: select, index: 0}
  - {name: x_dist, type: select, index: 1, from: input}
  - {name: head, type: linear, out_features: 10, from: x_cls}
  - {name: head_dist, type: linear, out_features: 10, from: x_dist}
  - {name: summed, type: add, from: [head, head_dist], eval_only: true}
  - {name: averaged, type: scale, factor: 0.5, eval_only: true}
  - {name: dist_out, type: scale, from: head_dist, train_only: true}
outputs: [averaged, dist_out]
"""


class TwoHeads(nn.Module):
    """DeiT's distilled heads: both in training, their average in eval."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(32, 10)
        self.head_dist = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x, x_dist = self.head(x[:, 0]), self.head_dist(x[:, 1])
        if self.training:
            return x, x_dist
        return (x + x_dist) / 2


@pytest.mark.parametrize("train", [False, True])
def test_a_step_of_several_inputs_passes_its_first_on_in_training(train: bool) -> None:
    # DeiT's `return (x + x_dist) / 2` in eval: the sum's readers read `head` in training
    model, reference = archspec.compile(TWO_HEADS), TwoHeads()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.rand(3, 5, 32)
    got, want = model.train(train)(x), reference.train(train)(x)
    assert isinstance(got, tuple) == train
    for a, b in zip(got if train else [got], want if train else [want], strict=True):
        assert torch.equal(a, b)
    same_as_emitted(TWO_HEADS, x, train=train)


def test_import_reads_both_heads_in_training_and_their_average_in_eval() -> None:
    # DeiT's heads: import refused 'computes another graph in training mode: only eval takes
    # the operator `add`'; now the sum and the halving are eval_only steps, and head_dist,
    # returned in training only, a train_only step that passes it on
    reference, x = TwoHeads(), torch.rand(3, 5, 32)
    text = archspec.from_module(reference, x)
    assert "type: add, eval_only: true, from: [head, head_dist]}" in text
    assert "{name: head_dist_out, type: scale, train_only: true, from: head_dist}" in text
    model = archspec.compile(text)
    model.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), reference.eval()(x))
        got, want = model.train()(x), reference.train()(x)
    assert len(got) == len(want) == 2
    assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))


class SecondFirst(nn.Module):
    """A step only eval takes whose first input is not what training returns."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, z = self.a(x), self.b(x)
        if not self.training:
            z = y * z  # training returns z, which a spec's eval_only step cannot pass on
        return z


def test_a_step_whose_first_input_training_does_not_return_is_still_refused() -> None:
    with pytest.raises(ImportFailure) as failure:
        archspec.from_module(SecondFirst(), torch.rand(2, 4))
    assert "returns another value in training mode" in str(failure.value)


IN_BLOCKS = """\
archspec: 1
name: in_blocks
input: [N, 8, H, W]
blocks:
  B:
    layers:
      - {name: a, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: b, type: conv2d, out_channels: 8, kernel_size: 1, from: input}
      - {name: s, type: add, from: [a, b], eval_only: true}
      - {name: t, type: mul, from: [s, a]}
      - {name: u, type: sub, from: [t, b]}
layers:
  - {name: b1, type: B}
  - {name: b2, type: B}
  - {name: m, type: maximum, from: [b2, b1], eval_only: true}
  - {name: n, type: relu}
"""


@pytest.mark.parametrize("train", [False, True])
def test_steps_of_several_inputs_in_a_block_class_read_their_first_in_training(
    train: bool,
) -> None:
    # the sum's first input is read again after it, and the block is one emitted class
    model, x = archspec.compile(IN_BLOCKS).train(train), torch.rand(2, 8, 3, 3)
    state = model.state_dict()

    def block(prefix: str, y: torch.Tensor) -> torch.Tensor:
        a = F.conv2d(y, state[f"{prefix}.a.weight"], state[f"{prefix}.a.bias"])
        b = F.conv2d(y, state[f"{prefix}.b.weight"], state[f"{prefix}.b.bias"])
        return (a if train else a + b) * a - b

    with torch.no_grad():
        y1 = block("b1", x)
        y2 = block("b2", y1)
        assert torch.equal(model(x), torch.relu(y2 if train else torch.maximum(y2, y1)))
    same_as_emitted(IN_BLOCKS, x, train=train)


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ("{type: flatten, eval_only: true}", "makes the shape (N, 768) from (N, 3, 16, 16)"),
        (
            "{type: concat, from: [input, input], eval_only: true}",
            "makes the shape (N, 6, 16, 16) from (N, 3, 16, 16) (its first input, `input`)",
        ),
        ("{name: p, type: parameter, shape: [3], eval_only: true}", "reads no node"),
        ("{type: relu, eval_only: true, train_only: true}", "runs only in training"),
        (
            "{type: repeat, flat: true, count: 2, layer: {type: relu}, eval_only: true}",
            "eval_only marks one step, and this `repeat` makes several nodes here",
        ),
    ],
)
def test_a_step_training_cannot_skip_is_e315_at_its_mark(layer: str, words: str) -> None:
    text = f"archspec: 1\nname: t\ninput: [N, 3, 16, 16]\nlayers:\n  - {layer}\n"
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    diag = exc.value.diagnostics[0]
    assert diag.code == "E315" and words in diag.message, diag.message
    assert diag.span is not None and diag.span.line == 5
    assert text.splitlines()[4][diag.span.col - 1 :].startswith("true")


class Logits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.fc(torch.flatten(self.pool(self.conv(x)), 1))
        if self.training:
            return logits
        return F.softmax(logits, dim=1)


class Dropped(Logits):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.conv(x)), 1)
        x = self.fc(F.dropout(x, 0.5, training=self.training))
        if not self.training:
            x = x.softmax(1)
        return x


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        if not self.training:
            x = torch.sigmoid(x)
        return x


class WithAux(Logits):
    def __init__(self) -> None:
        super().__init__()
        self.head = Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = torch.flatten(self.pool(self.conv(x)), 1)
        out = self.head(x)
        if self.training:
            return out, self.fc(x)
        return out.softmax(1)


def _twin_in_both_modes(model: nn.Module) -> str:
    text = archspec.from_module(model, torch.rand(1, 3, 16, 16))
    twin = archspec.compile(text)
    twin.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 12, 10)
    for train in (False, True):
        model.train(train)
        twin.train(train)
        torch.manual_seed(0)
        want = model(x)
        torch.manual_seed(0)
        got = twin(x)
        for a, b in zip(
            want if isinstance(want, tuple) else (want,),
            got if isinstance(got, tuple) else (got,),
            strict=True,
        ):
            torch.testing.assert_close(b, a)
    return text


def test_a_step_only_eval_takes_imports_as_eval_only() -> None:
    text = _twin_in_both_modes(Logits())
    assert "- {name: softmax, type: softmax, eval_only: true}" in text
    text = _twin_in_both_modes(Dropped())  # the training graph read, the step put back in
    assert "{name: dropout, type: dropout}" in text
    assert "- {name: softmax, type: softmax, eval_only: true}" in text
    text = _twin_in_both_modes(WithAux())
    assert "{name: sigmoid, type: activation, eval_only: true, fn: sigmoid}" in text
    assert "{name: softmax, type: softmax, eval_only: true}" in text
    assert "train_only: true" in text


class Averaged(Logits):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.fc(torch.flatten(self.pool(self.conv(x)), 1))
        if self.training:
            return logits
        return logits.mean(1)


def test_a_step_only_eval_takes_that_changes_the_shape_is_refused() -> None:
    with pytest.raises(ArchSpecError) as exc:
        archspec.from_module(Averaged(), torch.rand(1, 3, 16, 16))
    assert exc.value.error_code == "E902"
    text = exc.value.render()
    assert "takes a step in eval mode only" in text and "`mean` is eval_only" in text


def test_each_block_instance_is_checked() -> None:
    """An instance that differs in a value-only param (rebound, not lowered again) or in
    its sizes (reshaped) met no E315 where its eval-only step changes the shape."""
    text = """\
archspec: 1
name: t
input: [N, 8]
blocks:
  b:
    params: {c: int}
    layers:
      - {name: fc, type: linear, out_features: 8}
      - {name: post, type: linear, out_features: c, eval_only: true}
layers:
  - {type: b, c: 8}
  - {type: b, c: 8}
  - {type: b, c: 4}
"""
    sized = text.replace("      - {name: fc, type: linear, out_features: 8}\n", "")
    sized = sized.replace("out_features: c, eval", "out_features: 8, eval")
    sized = sized.replace("  - {type: b, c: 4}\n", "  - {type: linear, out_features: 4}\n")
    sized += "  - {type: b, c: 8}\n"  # the kept instance's nodes, sized again
    for body, words in ((text, "(N, 4) from (N, 8)"), (sized, "(N, 8) from (N, 4)")):
        with pytest.raises(ArchSpecError) as exc:
            archspec.compile(body, device="meta")
        diag = exc.value.diagnostics[0]
        assert diag.code == "E315" and f"makes the shape {words}" in diag.message
