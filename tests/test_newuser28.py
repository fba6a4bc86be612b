"""Networks written from the docs alone by session 28's new user, against references written
here in plain torch: what they needed. PointNet's T-Net adds `torch.eye(3)` to its learned
transform (no buffer fill made an identity)."""

from __future__ import annotations

import textwrap
import types

import pytest
import torch
from torch import nn

import archspec


def _spec(name: str, body: str) -> str:
    return f"archspec: 1\nname: {name}\n" + textwrap.dedent(body).lstrip("\n")


def _emitted(text: str, cls: str) -> nn.Module:
    """The emitted source's network class, built (the source is archspec's own output)."""
    module = types.ModuleType("emitted_newuser28")
    exec(compile(archspec.emit(text), "<emitted>", "exec"), module.__dict__)
    return getattr(module, cls)()


@pytest.mark.parametrize("shape", [[3, 3], [2, 3], [4, 2], [2, 2, 3], [1, 1]])
def test_an_eye_buffer_is_torch_eye_over_its_last_two_dims(shape: list[int]) -> None:
    text = _spec(
        "eyes",
        f"""
        input: [N, 4]
        layers:
          - {{name: e, type: buffer, shape: {shape}, fill: eye}}
        """,
    )
    expected = torch.eye(shape[-2], shape[-1]).expand(shape)
    assert torch.equal(archspec.compile(text).e, expected)
    assert torch.equal(_emitted(text, "Eyes").e, expected)


def test_an_eye_buffer_of_one_dim_is_refused_at_its_shape() -> None:
    text = _spec(
        "eye1",
        """
        input: [N, 4]
        layers:
          - {name: e, type: buffer, shape: [3], fill: eye}
        """,
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E409" and "two dims or more" in err.message
    assert (err.span.line, err.span.col) == (5, 36)  # the shape


def test_an_int64_eye_holds_zeros_and_ones_for_an_embedding() -> None:
    """An embedding looking up an int64 identity needs the rows 0 and 1."""
    text = _spec(
        "eye_ids",
        """
        input: [N, 4]
        layers:
          - {name: ids, type: buffer, shape: [3, 3], fill: eye, dtype: int64}
          - {name: emb, type: embedding, num_embeddings: ROWS, embedding_dim: 2,
             from: ids}
        """,
    )
    assert archspec.check(text.replace("ROWS", "2")).ok
    (err,) = archspec.check(text.replace("ROWS", "1")).errors
    assert err.code == "E409"


def test_a_non_persistent_identity_buffer_imports_as_an_eye_buffer() -> None:
    class Transform(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 9)
            self.register_buffer("iden", torch.eye(3), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x).view(-1, 3, 3) + self.iden

    model = Transform().eval()
    text = archspec.from_module(model, torch.randn(2, 4))
    assert "fill: eye" in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict())
    x = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.equal(ours(x), model(x))
