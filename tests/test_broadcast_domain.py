"""A join where one side may be 1 (torch broadcasts it) is a case of the input domain: the
sizes torch takes are those where the sides are equal *or* that side is 1, and `check` states
both, exactly: membership agrees with a real forward at every size tried."""

from __future__ import annotations

import textwrap

import torch

import archspec

POS_EMBED = textwrap.dedent(
    """\
    archspec: 1
    name: pos_embed_sum
    input: [N, 3, H, W]
    layers:
      - {name: proj, type: conv2d, out_channels: 8, kernel_size: 4, stride: 4}
      - {name: flat, type: flatten, start_dim: 2}
      - {name: tokens, type: permute, dims: [0, 2, 1]}
      - {name: pos_embed, type: parameter, shape: [1, 4, 8]}
      - {name: embedded, type: add, from: [tokens, pos_embed]}
    """
)

HR_FUSE = textwrap.dedent(
    """\
    archspec: 1
    name: hr_fuse
    input: [N, 3, H, W]
    layers:
      - {name: stem, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
      - {name: low, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
      - {name: up, type: upsample, scale_factor: 2}
      - {name: fused, type: add, from: [stem, up]}
    """
)


def _runs(model: torch.nn.Module, h: int, w: int) -> bool:
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, h, w))
    except RuntimeError:
        return False
    return True


def test_position_embedding_added_to_patch_tokens_states_both_cases() -> None:
    result = archspec.check(POS_EMBED)
    assert result.ok and not result.warnings
    # (H//4)*(W//4) == 4 tokens, or one token broadcast to 4
    assert result.domain is not None and result.domain.contains({"N": 1, "H": 4, "W": 7})
    assert result.domain.contains({"N": 1, "H": 8, "W": 8})
    assert not result.domain.contains({"N": 1, "H": 8, "W": 12})
    model = archspec.compile(POS_EMBED).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 4, 4)).shape == (2, 4, 8)  # broadcast: the other side


def test_membership_agrees_with_a_forward_at_every_size() -> None:
    checked = 0
    for text in (POS_EMBED, HR_FUSE):
        result = archspec.check(text)
        assert result.ok and not result.warnings and result.domain is not None
        model = archspec.compile(text).eval()
        for h in range(1, 21):
            for w in (h, 4, 9):
                inside = result.domain.contains({"N": 1, "H": h, "W": w})
                assert inside == _runs(model, h, w), (text.splitlines()[1], h, w)
                assert inside == archspec.check(text, input=(1, 3, h, w)).ok
                checked += 1
    assert checked == 2 * 20 * 3
