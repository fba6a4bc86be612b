"""einsum attention (importer/einsums.py): a batched matrix product written with
`torch.einsum` is the `matmul` kind, b transposed or not, and the heads cut by
`x.chunk(3, dim=-1)` then `.view(b, n, heads, -1)` keep the batch and token dims
(provenance.py follows a chunk's pieces). Round trips of keys, outputs and emitted source, at
a second token count too; other equations stay E903 at their line."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from archspec.importer.einsums import _product_form
from tests.test_importer_timm25 import round_trip_and_emit


class EinsumAttention(nn.Module):
    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        scores = torch.einsum("bhid,bhjd->bhij", q, k) * self.scale
        out = torch.einsum("b h i j, b h j d -> b h i d", [scores.softmax(-1), v])
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


def test_einsum_attention_imports_as_matmuls_for_every_token_count() -> None:
    model = EinsumAttention().eval()
    text = round_trip_and_emit(model, (2, 5, 16))
    products = [v for v in yaml.safe_load(text)["layers"] if v["type"] == "matmul"]
    assert [v.get("transpose", False) for v in products] == [True, False]
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(3, 9, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("equation", "form"),
    [
        ("ij,jk->ik", False),
        ("bij,bjk->bik", False),
        ("bhid,bhjd->bhij", True),
        ("bij,bkj->bik", True),
        ("bij,bjk->bk", None),  # a sum over i too
        ("bij,bjk->bki", None),  # the output transposed
        ("bij,cjk->bik", None),  # batch labels that differ
        ("bii,bij->bij", None),  # a diagonal
        ("...ij,...jk->...ik", None),  # an ellipsis
        ("ij,jk", None),  # no output written
        ("bij,bjk,bkl->bil", None),  # three operands
    ],
)
def test_which_equations_are_products(equation: str, form: bool | None) -> None:
    assert _product_form(equation) is form


class RowSums(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bij,bjk->bk", x, x)


def test_another_equation_is_refused_at_its_line() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(RowSums(), torch.rand(2, 3, 3))
    first = err.value.diagnostics[0]
    assert first.code == "E903" and "einsum" in first.message
    assert first.span is not None and first.span.file == __file__
