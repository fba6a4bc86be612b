"""An imported spec must compute what the model computes, not only hold its tensors: the
spec, built with the model's own weights, runs the example input in eval mode beside the
model, and the outputs must agree (on the meta device, where nothing holds a value, their
shapes must). A difference is an ImportFailure, never a spec that silently computes another
function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ImportFailure
from .modes import SeveralInputs, cloned, eval_forward
from .where import span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch
    import torch.nn as nn

#: float32 sums in another order differ in the last bits; a wrong graph differs far more
RTOL, ATOL = 1e-4, 1e-5


def check_outputs(model: nn.Module, text: str, example_input: torch.Tensor) -> None:
    """Refuse (E904) an imported spec whose eval outputs differ from the model's."""

    from ..api import compile as compile_spec

    state = model.state_dict()
    first = example_input[0] if isinstance(example_input, SeveralInputs) else example_input
    device = next(iter(state.values())).device if state else first.device
    built = compile_spec(text, device=device, max_params=None, max_activations=None)
    if device.type != "meta":
        built.load_state_dict(state, strict=True)
    try:  # each from one seed: random steps (`torch.randn_like`) draw alike, in order
        theirs = _seeded(eval_forward, model, cloned(example_input))
        ours = _seeded(eval_forward, built, cloned(example_input))
    except Exception as exc:  # the model's own code: whatever it raises
        raise ImportFailure(
            f"running the model and its imported spec on the example input failed "
            f"({type(exc).__name__}: {str(exc)[:200]})",
            span=span_of_class(type(model)),
            hint="give an example input the model accepts; if it does, please report this model",
            code="E904",
        ) from None
    problem = _difference(ours, theirs)
    if problem is not None:
        raise ImportFailure(
            f"the imported spec computes other outputs than the model: {problem}",
            span=span_of_class(type(model)),
            hint="please report this model: the import should have refused it",
            code="E904",
        )


def _seeded(run: Any, model: nn.Module, x: torch.Tensor | SeveralInputs) -> Any:
    """`run(model, x)` from seed 0 of torch's CPU generator (and the inputs' GPUs'), which
    are left as they were."""
    import torch

    tensors = list(x) if isinstance(x, SeveralInputs) else [x]
    gpus = list(dict.fromkeys(t.device for t in tensors if t.device.type == "cuda"))
    with torch.random.fork_rng(devices=gpus):
        torch.manual_seed(0)
        return run(model, x)


def _difference(ours: Any, theirs: Any) -> str | None:
    """Where the two outputs part (leaves in order, a list and a tuple alike), or None."""
    import torch
    from torch.utils._pytree import tree_flatten

    if isinstance(theirs, Mapping) or isinstance(ours, Mapping):  # the same keys in order
        keys = (list(x) if isinstance(x, Mapping) else type(x).__name__ for x in (ours, theirs))
        mine_keys, want_keys = keys
        if mine_keys != want_keys:
            return f"the keys {mine_keys} where the model gives {want_keys}"
    mine, want = tree_flatten(ours)[0], tree_flatten(theirs)[0]
    if len(mine) != len(want):
        return f"{len(mine)} output values where the model gives {len(want)}"
    for i, (a, b) in enumerate(zip(mine, want)):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            if a != b:
                return f"output {i} is {a!r:.60} where the model gives {b!r:.60}"
            continue
        if a.shape != b.shape:
            return f"output {i} has shape {tuple(a.shape)} where the model's has {tuple(b.shape)}"
        if a.is_meta or b.is_meta:
            continue
        if a.dtype != b.dtype or not torch.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True):
            gap = (a.double() - b.double()).abs().max().item() if a.dtype == b.dtype else "dtype"
            return f"output {i} differs (largest difference {gap})"
    return None
