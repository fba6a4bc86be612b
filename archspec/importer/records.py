"""What reading one module's forward collects (trace.py): its items, its body (the items,
what it returns, what it takes) and the problems found over the whole model, one per place
and message. Held apart from the reading itself, which every other importer module calls."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic
from ..lazymethods import dataclass

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


@dataclass
class Item:
    """One node of a layer list, with literal values (before blocks get params)."""

    name: str | None  # None: positional (a Sequential child whose key is its index)
    kind: str  # a layer kind, "block" or "sequential"
    fields: dict[str, Any] = field(default_factory=dict)  # a layer's fields as written
    full: dict[str, Any] = field(default_factory=dict)  # every field (defaults filled)
    inputs: tuple[str, ...] = ()  # names read; () reads the previous item
    module: nn.Module | None = None  # a block call's instance
    body: list[Item] | None = None  # a sequential's items
    key: str | None = None  # a module key that is not an identifier
    is_module: bool = True  # takes a position (a child module)
    train_only: bool = False  # traced only in training mode (GoogLeNet's aux heads)
    eval_only: bool = False  # a step eval takes and training skips (evalsteps.py)
    pass_in_eval: bool = False  # a step training takes and eval skips (modes.py)
    outputs: list[str] | None = None  # a block call's names for the tensors it returns

    @property
    def one_mode(self) -> bool:
        """Whether one mode skips it (train_only, eval_only, pass_in_eval)."""
        return self.train_only or self.eval_only or self.pass_in_eval

    @property
    def ref(self) -> str | None:
        """What other items read it by: its name, or its module key (`block1-0`)."""
        return self.name or self.key


@dataclass
class Body:
    items: list[Item]
    #: the node(s) returned (a network's dict of them by key); None: the last item
    output: str | list[str] | dict[str, str] | None
    #: the dim along which forward concatenates a list it is given (DenseNet's layers take
    #: the list of all earlier features and start with `torch.cat(inputs, 1)`)
    list_input: int | None = None
    #: children holding tensors in registration order, when forward calls them in another
    #: (Swin V2's post-norm block calls `attn` before `norm1`): the block's `register_order:`
    register_order: list[str] | None = None
    #: the item that is the module's own layer, when it is fused (fused.py)
    fused: str | None = None
    #: a forward's tensors when it takes several: a block's `inputs:` (inputs.py)
    inputs: list[str] | None = None
    #: False when forward could not be traced (reported): nothing above is known of it
    traced: bool = True


class Problems:
    """Diagnostics collected over the whole model, one per distinct place and message."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self._seen: set[tuple[Any, ...]] = set()
        self.bodies: dict[int, Body] = {}  # id(module) -> its body, traced once
        self.readers: dict[int, Any] = {}  # id(module) -> what read its graph (childdims.py)
        self.example: tuple[Any, Any] | None = None  # (model, example input): slices.py
        self.network: Any = None  # the model imported, whose forward may return a dict
        self.input_shapes: dict[int, tuple[Any, ...]] | None = None  # found when needed
        self.other_runs: dict[Any, dict[int, tuple[Any, ...]]] = {}  # doubled sizes, by what
        self.run_error: tuple[str, str] | None = None  # (example's sizes, why it did not run)
        self.changes_input: set[int] = set()  # modules changing their input in place (ids)
        self.list_changes: dict[int, list[Any]] = {}  # what calls did to lists: appends.py
        self.notes: list[str] = []  # what the example input decided: the spec's header says
        #: id(module) -> its forward's arguments its caller gives tensors (inputs.py)
        self.passed: dict[int, dict[str, int | None]] = {}
        #: the network's assertions bounding a size of its input (bounds.py)
        self.bounds: list[Any] = []

    def add(self, diag: Diagnostic) -> None:
        key = (diag.code, diag.message, diag.span)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(diag)
