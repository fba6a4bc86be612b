"""`randn_like`: a standard normal sample of the input's shape, a VAE's reparameterisation
(`mu + torch.randn_like(std) * std`), drawn in eval too; compile and emit draw alike under
one seed, and import reads `torch.randn_like` (it was E903)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from tests.ops_cases import same_as_emitted

VAE = """\
archspec: 1
name: vae
input: [N, 20]
layers:
  - {name: enc, type: linear, out_features: 12}
  - {name: act, type: relu}
  - {name: mu, type: linear, out_features: 4, from: act}
  - {name: logvar, type: linear, out_features: 4, from: act}
  - {name: halved, type: scale, factor: 0.5}
  - {name: std, type: elementwise, fn: exp}
  - {name: eps, type: randn_like}
  - {name: noise, type: mul, from: [eps, std]}
  - {name: z, type: add, from: [mu, noise]}
  - {name: dec, type: linear, out_features: 20}
outputs: [dec, mu, logvar]
"""


def test_the_sample_is_torchs_under_a_seed_and_drawn_in_eval_too() -> None:
    model = archspec.compile(VAE).eval()
    x = torch.rand(3, 20)
    torch.manual_seed(7)
    out, mu, logvar = model(x)
    torch.manual_seed(7)
    std = torch.exp(0.5 * logvar)
    want = model.dec(mu + torch.randn_like(std) * std)
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    assert not torch.equal(model(x)[0], model(x)[0])  # eval samples as well
    assert tuple(out.shape) == (3, 20)
    rows = {r.name: r for r in archspec.summary(VAE, input=(3, 20)).rows}
    assert rows["eps"].params == 0 and int(rows["eps"].macs) == 0


@pytest.mark.parametrize("train", [False, True])
def test_emitted_code_draws_what_compile_draws(train: bool) -> None:
    same_as_emitted(VAE, torch.rand(3, 20), train=train)
    assert "eps = torch.randn_like(std)  # (N, 4)" in archspec.emit(VAE)


class TorchVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(20, 12)
        self.fc_mu, self.fc_logvar = nn.Linear(12, 4), nn.Linear(12, 4)
        self.dec = nn.Linear(4, 20)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = F.relu(self.enc(x))
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        return torch.sigmoid(self.dec(self.reparameterize(mu, logvar))), mu, logvar


def test_a_vae_imports_and_the_callers_generator_is_kept() -> None:
    model, example = TorchVAE(), torch.rand(2, 20)
    torch.manual_seed(3)
    before = torch.get_rng_state()
    text = archspec.from_module(model, example)
    assert torch.equal(torch.get_rng_state(), before)
    assert "{name: randn_like, type: randn_like}" in text
    twin = archspec.compile(text)
    twin.load_state_dict(model.state_dict())
    x = torch.rand(3, 20)
    torch.manual_seed(1)
    want = model(x)
    torch.manual_seed(1)
    got = twin(x)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
