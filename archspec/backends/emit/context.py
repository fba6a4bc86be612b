"""What the emitter's stages share while they render one graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import SourceSpan
from ...ir import Graph
from ..pycode import Namespace
from ..pyvalues import HELPERS, MATH_NAMES, Env, Val
from .loops import LoopRecord
from .model import ClassInfo
from .optional import Optional


class EmitContext:
    """The graph being rendered and what the stages learn about it on the way.

    `classes.py` fills `classes`/`class_of` (innermost first), `scope.py` records which
    attributes came out symbolic, `init.py` reads the network's `root_env`. `at` is the
    spec position being rendered, for errors that do not know their own.
    """

    def __init__(self, graph: Graph, renames: Mapping[str, str] | None = None) -> None:
        self.graph = graph
        #: class name -> the name to write instead (a family file's names for this graph's
        #: classes, `family.py`)
        self.renames: Mapping[str, str] = dict(renames or {})
        self.class_of: dict[int, ClassInfo] = {}
        self.classes: list[ClassInfo] = []
        params = set(graph.params) | {"in_channels"}
        for decls in graph.blocks.values():
            params |= {p.name for p in decls}
        # Class names and argument names must never meet (a class named like an argument
        # would be shadowed inside __init__): each side avoids the other's candidates.
        self.class_names = Namespace(params | {f"{p}_" for p in params})
        self.global_names = {graph.class_name, *HELPERS, *MATH_NAMES}
        #: the class names handed out so far: an argument named later avoids them, as a
        #: class named later avoids the arguments handed out before it (`class_names`)
        self.classes_named: set[str] = set()
        for block in graph.blocks:
            self.global_names |= {block, block + "Block"}
        self.escaped: set[str] = set()
        #: id(node) -> the attributes rendered in block-param terms
        self.symbolic_attrs: dict[int, list[str]] = {}
        #: id(node) -> what a `reuse` of it works its output out again from
        #: (`scope.output_again`): a layer's rendered attributes, a block call's class and
        #: arguments
        self.rendered: dict[int, Any] = {}
        #: a block call of several outputs, by its node's name -> each output's dims in the
        #: caller's terms (`scope.render_call`), read by its `block_output` nodes
        self.outs_of: dict[str, list[Any]] = {}
        self.at: SourceSpan | None = None
        #: chain items a `when` switches, as the instances that kept them render them, by
        #: where they are written; the spans an instance asked for before any was recorded,
        #: with the names their conditions read (structure, if no instance keeps the item)
        self.optional: dict[SourceSpan | None, list[Optional]] = {}
        #: the spans of switched items computed in `forward` (a conditional residual's add)
        #: that an instance kept under a `when` the class writes: an `if` of the class
        #: (`classes.combine`), so an instance that left one out does not fix what it reads
        self.kept_calls: set[SourceSpan | None] = set()
        #: the conditions of the items the class body being rendered left out, by where
        #: they are written (`Body.absent`)
        self.absent_conds: dict[SourceSpan | None, Val] = {}
        self.missing: dict[SourceSpan | None, Val] = {}
        #: the spans an instance switched off whose only records came from instances with
        #: other literals (`Optional.fixed`), with their conditions
        self.foreign: dict[SourceSpan | None, Val] = {}
        #: loops as an instance with copies wrote them, by where they are written, for an
        #: instance with none (`loops.borrow`); the spans such an instance asked for before
        #: any was recorded; the outputs of the body being rendered that are such a loop's
        #: output (by id of the module: position -> the last copy's name of the record)
        self.loop_records: dict[SourceSpan | None, LoopRecord] = {}
        self.loop_wanted: set[SourceSpan | None] = set()
        self.loop_outputs: dict[int, dict[int, str]] = {}
        self.chain_depth = 0
        #: while a block is rendered as one class with cases (`cases.py`): the params whose
        #: `when`s pick a case (a node reading one is a case's, not an `if` of its own), and
        #: the conditions of the case nodes the instance being rendered keeps
        self.case_names: frozenset[str] = frozenset()
        #: the channel axis of a block's instances that know it (`Classes.classify`)
        self.fallback_axis: int | None = None
        self.case_conds: list[Val] = []
        #: whether the calls in `forward` of the block class being rendered read its
        #: arguments and lets as attributes `__init__` stores (`self.radix`, `cases.py`),
        #: and the names they read (`self.oup`)
        self.store_reads = False
        self.forward_reads: set[str] = set()
        #: whether the class being rendered writes its modules' loops (`loops.py`) as `for`
        #: statements: on for a block whose instances allow it, off after a failed try
        self.loops_on = False
        #: the network class's rendering environment and the params fixed in it
        self.root_env: Env | None = None
        self.root_fixed: dict[str, Any] = {}
        #: the support code ops' emitted code needs (`files.Emitter.support`)
        self.support_texts: list[str] = []

    def argument_names(self) -> Namespace:
        """The namespace of one class's arguments: the file's names and every class named
        so far taken, and each argument it names taken from the classes named later (a
        param `Blk` beside a block `Blk`, whose class is `Blk_2`, is `Blk_3`: both were
        `Blk_2`, and emit refused its own clash, E602)."""
        return Namespace(self.global_names | self.classes_named, self.class_names.reserve)
