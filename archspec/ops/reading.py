"""Reading a torch module back into a layer kind's fields, for `archspec import`.

Each op answers for the modules it builds through `Op.read_module`; the default here reads
every spec field from the module's attribute of the same name when the module's class is the
one the op names (`torch_name`). The importer never trusts a reading blindly: it builds the
kind from the fields it read and compares class, `extra_repr` and tensor shapes with the
original (`importer/leaves.py`), so a kind whose fields do not map one to one simply reads
nothing and the module is reported, not approximated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import META_FIELDS

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from .base import Op


def plain(value: Any) -> Any:
    """A module attribute as spec data: tuples and sizes become lists, tensors None."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, tuple | list):
        items = [plain(v) for v in value]
        return None if any(v is None for v in items) else items
    try:
        import torch

        if isinstance(value, torch.Size):
            return list(value)
    except ImportError:  # pragma: no cover
        pass
    return None


def read_fields(op: Op, module: nn.Module) -> dict[str, Any] | None:
    """The default `Op.read_module`: each spec field from the module attribute of that name."""
    # the class the op names, or a subclass of it (the importer checks that the subclass
    # only changes construction: importer/leaves.py)
    names = {cls.__name__ for cls in type(module).__mro__}
    if not op.torch_name or op.torch_name.removeprefix("nn.") not in names:
        return None
    return read_attributes(op, module)


def read_attributes(op: Op, module: nn.Module) -> dict[str, Any] | None:
    """Each spec field of `op` from the module attribute of that name, whatever its class
    (a kind that reads a class of another name checks the class itself); None when a
    required one is missing or one is no plain value."""
    out: dict[str, Any] = {}
    for name, field in op.spec.model_fields.items():
        if name in META_FIELDS:
            continue
        if not hasattr(module, name):
            if field.is_required():
                return None
            continue
        raw = getattr(module, name)
        if name in ("bias", "weight") and not isinstance(raw, bool):
            value: Any = raw is not None  # a tensor, or None when built with bias=False
        else:
            value = plain(raw)
            if value is None and raw is not None:
                return None
        out[name] = value
    return out


def scaled_std_reading(op: Op, module: Any) -> dict[str, Any] | None:
    """A Conv2d with a float `eps` read as std_conv2d: scaled when it has a `gain` (the
    importer compares the forward graphs before it takes a reading)."""
    import math

    import torch.nn as nn

    gain, scale, eps = (getattr(module, k, None) for k in ("gain", "scale", "eps"))
    if not isinstance(module, nn.Conv2d) or type(eps) is not float or eps <= 0:
        return None
    fields = read_attributes(op, module) if module.padding_mode == "zeros" else None
    if fields is None:
        return None
    if gain is None:
        return fields | {"scaled": False, "gamma": 1.0}
    if not isinstance(gain, nn.Parameter) or tuple(gain.shape) != (module.out_channels, 1, 1, 1):
        return None
    if type(scale) is not float or not math.isfinite(scale) or scale <= 0:
        return None
    fan_in = module.weight[0].numel()
    guess = scale * fan_in**0.5
    for gamma in (round(guess, 12), guess):
        for _ in range(4):  # a neighbour of the quotient may be the one that gives it back
            if gamma * fan_in**-0.5 == scale:
                return fields | {"scaled": True, "gamma": gamma}
            gamma = math.nextafter(gamma, math.inf if gamma * fan_in**-0.5 < scale else 0.0)
    return None


#: the inputs a module of no tensors is run on to compare it with a kind's (reading by
#: running): several ranks, a batch large enough that a per-sample draw differs from one
#: per batch, each from several seeds of torch's generator
_RUN_SHAPES = ((8, 3, 4, 5), (8, 6, 5), (8, 7))
_RUN_SEEDS = (0, 1, 2)


def runs_alike(ours: nn.Module, theirs: nn.Module) -> bool:
    """Whether two modules of no tensors and no children return the same values, bit for
    bit, in training and in eval mode, on inputs of several ranks from several seeds, and
    leave torch's generator in the same state: they draw the same random numbers and do
    the same with them (timm's DropPath and torchvision's StochasticDepth). Both modules'
    modes and the caller's random state are left as they were."""
    import torch

    modules = (ours, theirs)
    if any(list(m.parameters()) or list(m.buffers()) or m._modules for m in modules):
        return False
    modes = [m.training for m in modules]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            return all(
                _alike(modules, shape, seed, training)
                for training in (True, False)
                for shape in _RUN_SHAPES
                for seed in _RUN_SEEDS
            )
    except Exception:  # a module that fails on one of the inputs computes something else
        return False
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def _alike(
    modules: tuple[nn.Module, ...], shape: tuple[int, ...], seed: int, training: bool
) -> bool:
    import torch

    x = torch.randn(shape, generator=torch.Generator().manual_seed(100 + seed))
    results = []
    for m in modules:
        m.train(training)
        torch.manual_seed(seed)
        out = m(x.clone())
        results.append((out, torch.get_rng_state()))
    (a, state_a), (b, state_b) = results
    same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    return same and a.dtype == b.dtype and torch.equal(a, b) and torch.equal(state_a, state_b)


def random_reading(
    op: Op, module: nn.Module, words: dict[str, tuple[str, ...]]
) -> dict[str, Any] | None:
    """The fields of a kind that draws random numbers (stochastic_depth) for a module of the
    model's own without tensors (timm's `DropPath(drop_prob)`): each of its float attributes
    in (0, 1] tried as the kind's one float field, with each of the `words` fields' words,
    until the kind's module runs alike (`runs_alike`); None when none does."""
    import itertools

    import torch

    if type(module).__module__.startswith("torch.") or list(module.parameters()):
        return None
    floats = [v for v in vars(module).values() if type(v) is float and 0.0 < v <= 1.0]
    (number,) = [
        n for n, f in op.spec.model_fields.items() if n not in META_FIELDS and n not in words
    ]
    for value in dict.fromkeys(floats):
        for choice in itertools.product(*words.values()):
            fields = {number: value, **dict(zip(words, choice))}
            with torch.device("cpu"):
                built = op.build(fields)
            if runs_alike(built, module):
                return fields
    return None
