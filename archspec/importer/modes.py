"""A forward traced in both modes: a spec states one graph, which must be the model's in
training as in eval.

A module's forward may read `self.training`. Three cases are exact: the same graph in both
modes; a mode flag passed on (`F.dropout(x, p, training=self.training)`, traced False in
eval, True in training, read from the training graph as the kind that follows the mode);
nodes only training runs that no eval node reads (GoogLeNet's auxiliary heads, marked
`train_only`); torch's dropout modules called in training only (`if self.training: x =
self.drop(x)`), which return their input in eval, so the call taken in both modes is the
model's graph in both (a `dropout` node); and other steps only training takes where eval
reads their first input in their place (`if self.training: x = x * 2`, a VAE's `z = mu +
eps * std` where eval takes `z = mu`), marked `pass_in_eval`. Any other difference (`if
self.training: h = x * h`, where eval reads `h`) would make the twin compute something else
in training, so it is refused at the statement (E902).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..lazymethods import dataclass
from .where import describe, diagnostic, span_from_stack, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from ..errors import Diagnostic
    from .trace import Problems


@contextlib.contextmanager
def kept_modes(model: nn.Module) -> Iterator[None]:
    """Every submodule's training flag as it was, after the block: `model.train(was)` would
    set a whole mixed model (a frozen norm in eval inside a training model) to one mode."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@contextlib.contextmanager
def kept_buffers(model: nn.Module) -> Iterator[None]:
    """Every buffer of the model as it was, after the block, the same tensor with the same
    values: a run of a forward that counts (`self.count += 1`, `self.avg.mul_(0.9)`) leaves
    the model as the import found it, as docs/import.md promises."""
    import torch

    held = [(m._buffers, dict(m._buffers)) for m in model.modules()]
    values = [
        (t, t._version, t.clone()) for _, before in held for t in before.values() if t is not None
    ]
    try:
        yield
    finally:
        for store, before in held:
            store.clear()
            store.update(before)
        with torch.no_grad():
            for tensor, version, value in values:
                if tensor._version != version:
                    tensor.copy_(value)


class SeveralInputs(tuple):  # type: ignore[type-arg]
    """The example inputs of a network whose forward takes several tensors (the spec's
    `inputs:`), one per argument, given to it positionally: a tuple of this class, not any
    tuple, since a forward may take one tuple."""


def called(model: Any, example_input: Any) -> Any:
    """`model(example_input)`, or `model(*example_input)` for SeveralInputs."""
    if isinstance(example_input, SeveralInputs):
        return model(*example_input)
    return model(example_input)


def cloned(example_input: Any) -> Any:
    """A copy of the example input (each of SeveralInputs)."""
    if isinstance(example_input, SeveralInputs):
        return SeveralInputs(t.clone() for t in example_input)
    return example_input.clone()


def eval_forward(model: nn.Module, example_input: Any) -> Any:
    """`model(example_input)` in eval mode without gradients, every training flag and
    buffer kept (SeveralInputs: each an argument)."""
    import torch

    with kept_modes(model), kept_buffers(model), torch.no_grad():
        model.eval()
        return called(model, example_input)


def training_forward(model: nn.Module, example_input: Any) -> Any:
    """`model` run in training mode on the example input with its batch doubled (a batch
    norm in training refuses one value per channel, which says nothing of sizes), without
    gradients, every training flag, buffer and the random state kept."""
    import torch

    doubled = (
        SeveralInputs(torch.cat([t, t]) if t.dim() else t for t in example_input)
        if isinstance(example_input, SeveralInputs)
        else torch.cat([example_input, example_input])
        if example_input.dim()
        else example_input
    )
    with kept_modes(model), kept_buffers(model), torch.no_grad(), torch.random.fork_rng([]):
        model.train()
        return called(model, doubled)


_HINT = (
    "a spec states one graph for training and eval: compute the same steps in both modes "
    "(a branch on `self.training`, or a value cached in eval only, is another graph), use a "
    "module whose own behaviour follows the mode (nn.Dropout), or pass the mode on "
    "(`training=self.training`)"
)

#: Which mode takes the step a message names (modes differ where one takes it).
_STEP_WORDS = {
    "eval": "only eval takes",
    "training": "only training takes",
    "each mode": "the modes compute otherwise",
}


def _written(node: Any) -> str:
    """A step of an fx graph as the forward writes it (`self.head`, the tensor attribute
    `.device`, `torch.sigmoid`)."""
    from .functions import describe_target

    if node.op in ("call_module", "get_attr"):
        return f"`self.{node.target}`"
    if node.op in ("call_function", "call_method"):
        return describe_target(node.op, node.target, node.args)
    return f"the input `{node.name}`"


def _plain(value: Any, idle: dict[Any, Any] | None = None) -> Any:
    """An argument with every fx node replaced by its name (in lists, dicts and slices);
    a node of `idle` by the name of the node it reads, as eval mode computes it."""
    from torch.fx.node import map_arg

    def name(n: Any) -> tuple[str, str]:
        while idle and n in idle:
            n = idle[n]
        return "node", n.name

    return map_arg(value, name)


_EVAL_DROP_HINT = (
    "F.dropout's `training` defaults to True, so it drops in eval mode too, and a spec's "
    "dropout is the identity in eval: pass the mode on (`training=self.training`) or use "
    "nn.Dropout"
)


def drops_in_eval(module: nn.Module, graph: Any) -> list[Diagnostic]:
    """One located E903 per `F.dropout` that the eval graph calls with `training` True and
    p > 0 (the default `F.dropout(x, 0.3)`): the model drops in eval, which no kind does,
    and the trace of training agrees with it, so nothing else would tell."""
    import inspect

    import torch.nn.functional as F

    out = []
    for node in graph.nodes:
        if node.op != "call_function" or node.target is not F.dropout:
            continue
        try:
            bound = inspect.signature(F.dropout).bind(*node.args, **node.kwargs)
        except TypeError:
            continue  # the reader refuses the call as it is
        bound.apply_defaults()
        training, p = bound.arguments["training"], bound.arguments["p"]
        if training is True and not (isinstance(p, int | float) and p == 0):
            span = span_from_stack(node.stack_trace) or span_of_class(type(module))
            message = f"{describe(type(module))}.forward drops in eval mode (`{node.name}`)"
            out.append(diagnostic("E903", message, span, _EVAL_DROP_HINT))
    return out


def _agree(ev: Any, tr: Any) -> bool | None:
    """True: equal; None: equal but for flags False in eval and True in training (the mode
    passed on); False: different."""
    if type(ev) is bool and type(tr) is bool:
        return True if ev == tr else (None if tr else False)
    if isinstance(ev, tuple | list) and isinstance(tr, tuple | list):
        if type(ev) is not type(tr) or len(ev) != len(tr):
            return False
        found = [_agree(a, b) for a, b in zip(ev, tr, strict=True)]
    elif isinstance(ev, dict) and isinstance(tr, dict):
        if list(ev) != list(tr):
            return False
        found = [_agree(ev[k], tr[k]) for k in ev]
    elif isinstance(ev, float) and isinstance(tr, float) and ev != ev and tr != tr:
        return True  # NaN in both modes (`torch.full(s, float("nan"))`): one constant
    else:
        return ev == tr
    return False if False in found else (None if None in found else True)


def _output(graph: Any, idle: dict[Any, Any] | None = None) -> Any:
    from .calls import unpacked

    (out,) = [n.args[0] for n in graph.nodes if n.op == "output"]
    return _plain(unpacked(out), idle)


def _first_eval_output(
    eval_graph: Any, train_graph: Any, idle: dict[Any, Any], steps: dict[Any, Any]
) -> bool:
    """Training returns what eval returns, or that first (`GoogLeNetOutputs(logits, ...)`),
    eval's own `steps` (eval_steps) read as the nodes they read."""
    ev, tr = _output(eval_graph, steps), _output(train_graph, idle)
    return ev == tr or (isinstance(tr, tuple | list) and bool(tr) and tr[0] == ev)


def _eval_identities(module: nn.Module, train: Any, names: set[str]) -> dict[Any, Any]:
    """The training graph's calls of torch's dropout modules that eval does not take (`if
    self.training: x = self.drop(x)`), each -> the node it reads. Such a module returns its
    input in eval mode, so the call taken in both modes is the model in both: a spec's
    `dropout` node, which drops in training and is the identity in eval."""
    import torch.nn as nn

    kinds = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
    idle = {}
    for node in train.nodes:
        if node.op != "call_module" or node.name in names or node.kwargs or len(node.args) != 1:
            continue
        child = module.get_submodule(str(node.target))
        if type(child) in (*kinds, nn.FeatureAlphaDropout) and hasattr(node.args[0], "op"):
            idle[node] = node.args[0]
    return idle


def _eval_passes(train: Any, names: set[str], idle: dict[Any, Any]) -> dict[Any, Any]:
    """The training graph's calls that eval does not take, each -> the first node it reads:
    where eval reads that node in the call's place (a VAE's `z = mu + eps * std` in
    training, `z = mu` in eval), the call is a `pass_in_eval` step (`_used_passes`)."""
    passes = {}
    for node in train.nodes:
        if node.op not in _CALLS or node.name in names or node in idle:
            continue
        ins = node.all_input_nodes
        if ins and node.target is not getattr:
            passes[node] = ins[0]
    return passes


def _used_passes(graph: Any, train: Any, passes: dict[Any, Any]) -> set[str]:
    """The names of the `passes` that a node of both modes, or an output of eval's, reads
    in training (directly, or through a chain of them): the steps eval skips. Outputs
    only training returns (GoogLeNet's auxiliary heads, after eval's) are train_only."""
    from torch.fx.node import map_arg

    from .calls import unpacked

    names = {n.name for n in graph.nodes}
    reads = [
        r for n in train.nodes if n.op != "output" and n.name in names for r in n.all_input_nodes
    ]
    (out,) = [unpacked(n.args[0]) for n in train.nodes if n.op == "output"]
    if _output(graph) != _plain(out, passes) and isinstance(out, tuple | list):
        out = out[0]  # training returns eval's output first, and more
    map_arg(out, reads.append)
    used: set[str] = set()
    for read in reads:
        while read in passes and read.name not in used:
            used.add(read.name)
            read = passes[read]
    return used


_CALLS = ("call_module", "call_function", "call_method")


@dataclass(frozen=True)
class Modes:
    """The names of a traced graph's nodes that one mode skips (with_training): computed
    in training only, in eval only, and in training only with eval reading the node's first
    input in its place."""

    train_only: frozenset[str] = frozenset()
    eval_only: frozenset[str] = frozenset()
    pass_in_eval: frozenset[str] = frozenset()

    def mark(self, item: Any, node: Any) -> None:
        """Mark `item` (a trace.Item), made of the fx `node`, with the mode that skips it."""
        name = node.name
        item.train_only, item.eval_only = name in self.train_only, name in self.eval_only
        item.pass_in_eval = name in self.pass_in_eval


def with_training(
    module: nn.Module,
    graph: Any,
    problems: Problems,
    trace: Callable[[nn.Module, Problems], Any],
) -> tuple[Any, Modes]:
    """The graph to read (eval's, or training's when it states both modes) and the names of
    its nodes one mode skips; (None, Modes()) after a located refusal."""
    from .evalsteps import eval_steps, mark_training_outputs, spliced
    from .trace import Problems

    quiet = Problems()  # the example input's shapes and notes are the same in training
    quiet.example, quiet.input_shapes, quiet.notes, quiet.changes_input = (
        problems.example,
        problems.input_shapes,
        problems.notes,
        problems.changes_input,
    )
    quiet.passed = problems.passed  # the tensors its caller gives (inputs.py)
    quiet.list_changes = problems.list_changes  # what calls did to lists (appends.py)
    quiet.__dict__["held"] = problems.__dict__.setdefault("held", {})  # ranks.opened
    module.training = True
    try:
        train = trace(module, quiet)
    finally:
        module.training = False
    problems.input_shapes = quiet.input_shapes
    if train is None:
        for diag in quiet.items:
            problems.add(dataclasses.replace(diag, message=diag.message + " (in training mode)"))
        return None, Modes()
    names = {n.name for n in graph.nodes}
    idle = _eval_identities(module, train, names)
    # eval's steps training skips, each -> the node it reads (`if not self.training: ...`)
    steps = eval_steps(graph, {n.name for n in train.nodes})
    # training's steps eval may skip, each -> its first input (a VAE's sampling); not
    # beside eval's own steps, where a node reading one in each mode would be two graphs
    unread = idle if steps else {**idle, **_eval_passes(train, names, idle)}
    passed_on = _compared(module, graph, train, unread, steps, problems)
    if passed_on is False:
        return None, Modes()
    if not _first_eval_output(graph, train, unread, steps):
        _another_output(module, train, names, problems)
        return None, Modes()
    if steps:  # `return x, x_dist` in training, a step of them in eval
        mark_training_outputs(train, names)
    passes = _used_passes(graph, train, {n: r for n, r in unread.items() if n not in idle})
    extra = {n.name for n in train.nodes if n.op != "output" and n not in idle} - names - passes
    skipped = {n.name for n in steps}
    if not extra and not passed_on and not passes:
        return graph, Modes(eval_only=frozenset(skipped))
    modes = Modes(frozenset(extra), frozenset(skipped), frozenset(passes))
    return spliced(train, graph, steps), modes


def _compared(
    module: nn.Module,
    graph: Any,
    train: Any,
    idle: dict[Any, Any],
    steps: dict[Any, Any],
    problems: Problems,
) -> bool | None:
    """Whether the training graph passes a mode flag on (None: no; True: yes) where every
    node of `graph` but eval's own `steps` is the same in training; False after a located
    E902 for the first that is not."""
    names = {n.name for n in graph.nodes}
    by_name = {n.name: n for n in train.nodes if n.op != "output"}
    passed_on = bool(idle)  # the training graph, with its dropouts taken in both modes
    for node in graph.nodes:
        if node.op == "output" or node in steps:
            continue
        twin = by_name.get(node.name)
        same = None if twin is None else (twin.op, twin.target) == (node.op, node.target)
        agree = (
            _agree(_plain((node.args, node.kwargs), steps), _plain((twin.args, twin.kwargs), idle))
            if same
            else False
        )
        if agree is False:
            at = twin if twin is not None else node
            # the step only training takes, where the twin reads one (`x = x * 2`)
            at = next((a for a in getattr(at, "all_input_nodes", ()) if a.name not in names), at)
            side = "eval" if twin is None else "training" if at is not twin else "each mode"
            span = span_from_stack(at.stack_trace) or span_of_class(type(module))
            problems.add(
                diagnostic(
                    "E902",
                    f"{describe(type(module))}.forward computes another graph in training "
                    f"mode: {_STEP_WORDS[side]} {_written(at)} (`{at.name}` in torch.fx's graph)",
                    span,
                    _HINT,
                )
            )
            return False
        passed_on = passed_on or agree is None
    return passed_on or None


def _another_output(module: nn.Module, train: Any, names: set[str], problems: Problems) -> None:
    """E902 where training returns another value than eval (and not it first)."""
    out = next(n for n in train.nodes if n.op == "output")
    # the step only training takes that it returns (`if self.training: x = self.drop(x)`)
    only = [a for a in out.all_input_nodes if a.name not in names]
    what = f" (`{only[0].name}`, a step eval does not take)" if only else ""
    span = span_from_stack((only or [out])[0].stack_trace) or span_of_class(type(module))
    problems.add(
        diagnostic(
            "E902",
            f"{describe(type(module))}.forward returns another value in training mode{what}",
            span,
            _HINT,
        )
    )
