"""An example input of the wrong width for the model (the CLI's default (1, 3, 224, 224)
under a DCGAN generator that takes (N, 100, 1, 1)) is said to be the input's fault, not
reported as an importer bug; with the right input the generator imports exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class Generator(nn.Module):
    """pytorch/examples' DCGAN generator, small."""

    def __init__(self, nz: int = 100, ngf: int = 4) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def test_a_model_that_refuses_the_example_input_says_so() -> None:
    with pytest.raises(ImportFailure, match=r"refuses the example input \(1, 3, 8, 8\)") as info:
        archspec.from_module(Generator(), torch.zeros(1, 3, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and diag.span is not None
    assert "100 channels" in diag.message and "--input" in (diag.hint or "")


def test_on_meta_the_difference_names_the_example_input() -> None:
    """torch's meta kernel of a transposed convolution does not check the channels, so the
    model runs; the state_dicts differ, and the hint names the input, not an importer bug."""
    with torch.device("meta"):
        model = Generator()
    with pytest.raises(ImportFailure, match="state_dict differs") as info:
        archspec.from_module(model, torch.empty(1, 3, 224, 224, device="meta"))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904"
    assert "example input (1, 3, 224, 224)" in (diag.hint or "")
    assert "--input" in (diag.hint or "")


def test_with_its_input_the_generator_imports_exactly() -> None:
    model = Generator().eval()
    text = archspec.from_module(model, torch.zeros(1, 100, 1, 1))
    twin = archspec.compile(text).eval()
    assert [(k, v.shape) for k, v in twin.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()
    ]
    twin.load_state_dict(model.state_dict(), strict=True)
    z = torch.randn(2, 100, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(twin(z), model(z), rtol=0, atol=0)


def test_an_argument_given_twice_with_two_values_is_refused() -> None:
    from archspec.importer.factory import parse_args

    assert parse_args(["depth=3", "depth=3"]) == {"depth": 3}
    with pytest.raises(ImportFailure, match=r"--args depth is given twice \('3' and '4'\)"):
        parse_args(["depth=3", "depth=4"])


class StarForward(nn.Module):
    """Inputs taken as `*xs`: several inputs, which a spec does not state."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.a(xs[0])


def test_a_forward_taking_star_args_is_several_inputs_not_an_operator() -> None:
    """It was "no layer kind computes the operator `getitem`" at `xs[0]`."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(StarForward(), torch.zeros(1, 3, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and "takes several inputs ('*xs')" in diag.message


def needs_none(weights: object = None) -> nn.Module:
    """A factory whose argument takes None or a known name, as torchvision's `weights=`."""
    if weights is not None and weights != "DEFAULT":
        raise KeyError(weights)
    return Generator()


def test_python_none_given_to_args_is_said_to_be_text() -> None:
    """`--args weights=None` passes the text 'None' (YAML's None is `null`), and the factory
    fails on it far from the cause: the hint says what to write."""
    path = "tests.test_importer_input:needs_none"
    with pytest.raises(ImportFailure) as info:
        archspec.import_factory(path, ["weights=None"], input=(1, 100, 1, 1))
    (diag,) = info.value.diagnostics
    assert diag.code == "E901" and "weights=null" in (diag.hint or "")
    assert "null" not in (_refusal_hint(path, "weights=DEFAULTS") or "")
    assert "type: conv_transpose2d" in archspec.import_factory(
        path, ["weights=null"], input=(1, 100, 1, 1)
    )


def _refusal_hint(path: str, arg: str) -> str | None:
    with pytest.raises(ImportFailure) as info:
        archspec.import_factory(path, [arg], input=(1, 100, 1, 1))
    return info.value.diagnostics[0].hint


class TokenMixer(nn.Module):
    """ResMLP's token mixing: a Linear over 4 tokens, after a transpose whose rank only the
    example's run tells (the step before states none)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.mix = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.norm(x).transpose(1, 2)).transpose(1, 2)


def test_a_transpose_that_needed_a_run_the_model_refused_says_why() -> None:
    """5 tokens where the model mixes 4: the transpose's rank comes from the model's run on
    the example, which fails; the refusal says so in torch's words and what to give."""
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(TokenMixer(), torch.rand(1, 5, 8))
    first = err.value.diagnostics[0]
    assert first.code == "E903" and "`.transpose(1, 2)`" in first.message
    assert "does not run on (1, 5, 8)" in first.message and "mat1 and mat2" in first.message
    assert "--input" in first.hint and first.span is not None and first.span.file == __file__
    text = archspec.from_module(TokenMixer(), torch.rand(1, 4, 8))  # the size it takes
    assert "permute" in text
