"""`pass_in_eval: true`: a step training takes and eval skips, its first input passed on in
its place (a VAE that samples `z = mu + eps * std` in training and returns `mu` in eval):
compile, emit, the summary and import agree with torch in both modes, and a step eval
cannot skip is E315."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec import graph as pictures
from archspec.errors import ArchSpecError, ImportFailure
from tests.ops_cases import same_as_emitted

VAE = """\
archspec: 1
name: vae
input: [N, 784]
layers:
  - {name: enc, type: linear, out_features: 64}
  - {name: act, type: relu}
  - {name: mu, type: linear, out_features: 16, from: act}
  - {name: logvar, type: linear, out_features: 16, from: act}
  - {name: halved, type: scale, factor: 0.5, train_only: true}
  - {name: std, type: elementwise, fn: exp}
  - {name: eps, type: randn_like}
  - {name: noise, type: mul, from: [eps, std]}
  - {name: z, type: add, from: [mu, noise], pass_in_eval: true}
  - {name: dec, type: linear, out_features: 784}
  - {name: recon, type: sigmoid}
outputs: [recon, mu, logvar]
"""


def test_training_samples_and_eval_reads_mu() -> None:
    model = archspec.compile(VAE)
    x = torch.rand(3, 784)
    recon, mu, _ = model.eval()(x)
    torch.testing.assert_close(recon, torch.sigmoid(model.dec(mu)), rtol=0, atol=0)
    torch.manual_seed(0)
    trained, mu2, logvar2 = model.train()(x)
    torch.manual_seed(0)
    z = mu2 + torch.randn_like(mu2) * torch.exp(0.5 * logvar2)
    torch.testing.assert_close(trained, torch.sigmoid(model.dec(z)), rtol=0, atol=0)


@pytest.mark.parametrize("train", [False, True])
def test_emitted_code_computes_what_compile_does(train: bool) -> None:
    same_as_emitted(VAE, torch.rand(2, 784), train=train)


SWITCHED = """\
archspec: 1
name: switched
input: [N, 8]
blocks:
  b:
    params: {p: bool}
    layers:
      - {name: fc, type: linear, out_features: 8}
      - {name: noise, type: randn_like, train_only: true}
      - {name: z, type: add, from: [fc, noise], pass_in_eval: true, when: p}
      - {name: act, type: tanh, pass_in_eval: true, when: p}
      - {name: out, type: linear, out_features: 8, from: fc}
      - {name: o, type: add, from: [out, act]}
layers:
  - {type: b, p: true}
  - {type: b, p: true}
"""


@pytest.mark.parametrize("train", [False, True])
def test_a_switched_step_reads_its_first_input_in_eval(train: bool) -> None:
    """A join its `when` can leave out stands for another input when absent (`noise`);
    emitted, eval read that one too (`z = noise` before `if self.p and self.training:`),
    which eval never computes: UnboundLocalError."""
    same_as_emitted(SWITCHED, torch.rand(2, 8), train=train)
    source = archspec.emit(SWITCHED)
    assert "            if self.training:\n                z = fc + noise  # (N, 8)\n" in source
    assert "            else:\n                z = fc\n        else:\n            z = noise\n" in (
        source
    )


def test_emitted_code_reads_like_torch() -> None:
    source = archspec.emit(VAE)
    assert "        x = mu\n        if self.training:\n            x = mu + noise  # (N, 16)\n" in (
        source
    )
    assert "            eps = torch.randn_like(std)  # (N, 16)\n" in source


def test_the_summary_and_the_picture_mark_the_step() -> None:
    summary = archspec.summary(VAE, input=(1, 784))
    rows = {r.name: r for r in summary.rows}
    assert rows["z"].pass_in_eval and rows["z"].train_only and not rows["dec"].train_only
    assert "add (train)" in str(summary)
    tanh = "  - {name: t, type: tanh, pass_in_eval: true}\n  - {name: dec"
    dot = pictures.render(archspec.build_graph(VAE.replace("  - {name: dec", tanh)), "dot")
    lines = dot.decode().splitlines()
    assert (
        '  "t" [label="t: tanh [eval: z]", fillcolor="#d9ead3", style="rounded,filled,dashed"];'
        in (lines)
    )
    assert any(x.startswith('  "z" [label="+"') and x.endswith('dashed"];') for x in lines)


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ("{type: flatten, pass_in_eval: true}", "makes the shape (N, 768) from (N, 3, 16, 16)"),
        ("{type: relu, pass_in_eval: true, train_only: true}", "runs only in training"),
        ("{type: relu, pass_in_eval: true, eval_only: true}", "is eval_only too"),
        (
            "{type: repeat, flat: true, count: 2, layer: {type: relu}, pass_in_eval: true}",
            "pass_in_eval marks one step, and this `repeat` makes several nodes here",
        ),
        ("{type: parameter, shape: [3], pass_in_eval: true}", "reads no node"),
    ],
)
def test_a_step_eval_cannot_skip_is_e315_at_its_mark(layer: str, words: str) -> None:
    text = f"archspec: 1\nname: t\ninput: [N, 3, 16, 16]\nlayers:\n  - {layer}\n"
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    diag = exc.value.diagnostics[0]
    assert diag.code == "E315" and words in diag.message, diag.message
    assert diag.span is not None and diag.span.line == 5


def test_a_first_input_only_training_computes_is_e315() -> None:
    text = VAE.replace("from: [mu, noise], pass_in_eval", "from: [noise, mu], pass_in_eval")
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    diag = exc.value.diagnostics[0]
    assert diag.code == "E315" and "`noise`, the input eval reads in its place" in diag.message


class Vae(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(784, 64)
        self.mu = nn.Linear(64, 16)
        self.logvar = nn.Linear(64, 16)
        self.dec = nn.Linear(16, 784)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = torch.relu(self.enc(x))
        mu, logvar = self.mu(h), self.logvar(h)
        if self.training:
            std = torch.exp(0.5 * logvar)
            z = mu + torch.randn_like(std) * std
        else:
            z = mu
        return torch.sigmoid(self.dec(z)), mu, logvar


class Twice(nn.Module):
    """Two steps only training takes, one after the other, and an output only it returns."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.aux = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.fc(x)
        if self.training:
            x = x * 2
            x = x + 1
        y = torch.relu(x)
        if self.training:
            return y, self.aux(x)
        return y


def _twin_in_both_modes(model: nn.Module, shape: tuple[int, ...]) -> str:
    text = archspec.from_module(model, torch.rand(*shape))
    twin = archspec.compile(text)
    twin.load_state_dict(model.state_dict())
    assert list(twin.state_dict()) == list(model.state_dict())
    x = torch.rand(*shape)
    for train in (False, True):
        model.train(train), twin.train(train)
        torch.manual_seed(0)
        want = model(x)
        torch.manual_seed(0)
        got = twin(x)
        want, got = (w if isinstance(w, tuple) else (w,) for w in (want, got))
        for a, b in zip(want, got, strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=0)
    return text


def test_a_branch_on_the_mode_imports_as_a_step_eval_skips() -> None:
    """`if self.training: z = mu + eps * std else: z = mu` was E902 ('only training takes
    the operator `add`')."""
    text = _twin_in_both_modes(Vae(), (2, 784))
    assert "- {name: add, type: add, pass_in_eval: true, from: [mu, mul_1]}" in text
    assert "{name: randn_like, type: randn_like, train_only: true}" in text
    text = _twin_in_both_modes(Twice(), (2, 8))
    assert "{name: mul, type: scale, pass_in_eval: true, factor: 2}" in text
    assert "{name: add, type: scale, pass_in_eval: true, offset: 1}" in text
    assert "{name: aux, type: linear, train_only: true, out_features: 3}" in text


class BothModes(nn.Module):
    """A step only eval takes and one only training takes, read by one node: two graphs."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        if self.training:
            x = x * 2
        else:
            x = x.sigmoid()
        return self.fc(x)


def test_steps_of_each_mode_in_one_forward_are_refused() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(BothModes(), torch.rand(2, 8))
    assert info.value.diagnostics[0].code == "E902"


class Pooled(nn.Module):
    """A step only training takes that changes the shape eval hands on."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        if self.training:
            x = x.mean(1, keepdim=True)
        return torch.relu(x)


def test_a_training_step_that_changes_the_shape_is_refused_at_the_class() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Pooled(), torch.rand(2, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902"
    assert "takes a step in training mode only that a spec's pass_in_eval step" in diag.message
    assert "makes the shape (N, 1) from (N, 8)" in diag.message
    assert diag.span is not None and diag.span.file == __file__
