"""Spec -> IR: bind params, expand blocks, repeats, VGG cfgs, residuals and branches.

This module is the entry point and the whole-spec steps (params, the root module, init
rules, the Graph); the walk itself is archspec/lowering/walker.py, and each compound
construct lowers itself in archspec/constructs/.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .constructs import CONSTRUCTS, shadowed_block
from .dims import Dim, Shape, format_shape
from .errors import ArchSpecError, Diagnostic, Severity
from .inputlayout import channel_dim
from .ir import Graph, NetInput, ParamInfo, replaced
from .loader import LoadedDoc
from .lowering.context import MAX_BLOCK_DEPTH, MAX_NESTING, MAX_NODES, Abort, Child, Item, Skip
from .lowering.fromlist import computed_outputs
from .lowering.init import lower_init, tensor_rank
from .lowering.initexprs import init_switches
from .lowering.legacy import legacy_formats
from .lowering.lets import bind_lets
from .lowering.ties import tied_tensors
from .lowering.training import frozen_paths, training_units
from .lowering.values import bind_value, coerce_param, decl_of, field_plan, final_of, param_hint
from .lowering.walker import Lowerer
from .ops.base import check_name
from .ops.names import is_free_name
from .schema import models
from .schema_inputs import DeclaredInput, declared_inputs

#: Former names, kept for the modules and tests that import them from here.
SpecErrorAbort = Abort
_field_plan = field_plan
_final_of = final_of  # docs/_gen_layers.py


def lower(
    spec: Any,
    doc: LoadedDoc,
    overrides: Mapping[str, Any] | None = None,
    max_layers: int = MAX_NODES,
) -> Graph:
    """Lower a validated spec to the IR, or raise SpecError with every problem found.

    `max_layers` bounds expansion (E310), so a few lines of YAML cannot ask for a billion
    layers; raise it for a network that really is that large.
    """
    if isinstance(max_layers, bool) or not isinstance(max_layers, int) or max_layers < 1:
        raise TypeError(f"max_layers must be a positive int, got {max_layers!r}")
    lowerer = Lowerer(spec, doc, overrides, max_layers)
    try:
        return lower_graph(lowerer)
    except Abort:
        # The limit that stopped lowering (recorded last) is the first thing to read, not
        # the thousandth copy of an error in a repeated layer.
        lowerer.bag.diagnostics.insert(0, lowerer.bag.diagnostics.pop())
        raise lowerer.fail() from None
    except RecursionError:  # a last resort: MAX_NESTING should stop any spec before this
        lowerer.error("E310", "the spec nests too deeply to lower", ())
        raise lowerer.fail() from None


def lower_graph(lw: Lowerer) -> Graph:
    """The whole spec: params, the root module, init rules; SpecError on any error."""
    spec = lw.spec
    _blocks_named_like_kinds(lw)
    _blocks_never_called(lw)
    _inputs_named_like_values(lw)
    declared = declared_inputs(spec)
    misread = _input_dims_named_like_values(lw, declared)
    info = bind_params(lw)
    switches: list[tuple[str, str]] = []
    try:
        taken = {p: "a param of the spec" for p in spec.params}
        lw.lets, switches = bind_lets(lw, spec.let, lw.globals, ("let",), taken)
    except Skip:
        pass
    # the memo (a family's shared one) now, its params and lets bound: the plans of the
    # items before the first child module are the shared ones too (memo.lend_plans)
    lw.memo = lw.memo.attached_to(lw)
    net = _net_inputs(lw, declared, misread)
    in_shape, several = net[0].shape, len(net) > 1  # several: the root is as a block of them
    class_name = spec.class_name or _class_name(spec.name)
    _check_class_name(lw, class_name)
    items = [Item(s, ("layers", i)) for i, s in enumerate(spec.layers)]
    outputs = computed_outputs(lw, spec.outputs, lw.spec_env) if spec.outputs is not None else None
    top = Child(
        items,
        class_name,
        outputs=outputs[0] if outputs else None,
        outputs_ypath=("outputs",),
        outputs_ypaths=outputs[1] if outputs else (),
        output_keys=outputs[2] if outputs else (),
        switches=switches,
        state_dict_version=spec.state_dict_version,
        register_order=spec.register_order or (),
        register_order_ypath=("register_order",),
        input_names=tuple(i.name for i in net) if several else (),
        more_inputs=[(i.shape, _features_axis(i.shape)) for i in net[1:]],
    )
    root = lw.lower_scope(top, lw.spec_env, in_shape, "", lw.span(()), _features_axis(in_shape))
    init = lower_init(lw, root)
    shard = training_units(lw)
    tensors = {"frozen": frozen_paths(lw, root), "tied": tied_tensors(lw, root)}
    legacy = legacy_formats(lw)
    # params an init expression reads are fixed in emitted code (it writes their values)
    root = replaced(root, switches=root.switches + tuple(init_switches(spec)))
    if not any(not o.train_only for o in root.outputs):
        lw.error(
            "E312",
            "every output is train_only: eval mode would return nothing",
            ("outputs",),
            "list at least one node that runs in eval mode in `outputs`",
        )
    lw.orders.flush(lw.bag)
    if lw.bag.errors:
        raise lw.fail()
    return Graph(
        name=spec.name,
        class_name=class_name,
        description=spec.description,
        file=lw.doc.file,
        variant=lw.doc.variant,
        input_shape=in_shape,
        input_dtype=net[0].dtype,
        params=dict(lw.globals),
        param_info=tuple(info),
        root=root,
        init=tuple(init),
        init_rules=tuple(lw.init_rules),
        constraints=tuple(lw.ctx.constraints),
        diagnostics=tuple(lw.bag.warnings),
        sources=lw.doc.sources,
        blocks={name: _block_infos(lw, b) for name, b in spec.blocks.items()},
        block_docs={name: b.doc for name, b in spec.blocks.items()},
        input_span=net[0].span,
        inputs=net if several else (),
        class_name_span=lw.span(("class_name",) if spec.class_name else ("name",)),
        shard=shard,
        **tensors,  # type: ignore[arg-type]
        legacy_formats=legacy,
    )


def legacy_errors(
    doc: LoadedDoc, spec: Any, graph: Graph, params: Mapping[str, Any], max_layers: int
) -> list[Diagnostic]:
    """The errors of each older layout a load would build for `graph`'s params (an entry of
    `legacy_versions:` that applies), lowered and shape-checked as `archspec check` checks
    the spec: a layout its params break is found by `check`, not by the load that meets such
    a checkpoint. `params` are the caller's; the entry's are added, as the load adds them."""
    from .passes.pipeline import Analysis, input_shapes, run

    out: list[Diagnostic] = []
    for older in graph.legacy_formats:
        if not older.applies or not older.params:
            continue
        try:
            # its errors, as check reports them: the pass after input_shapes adds warnings
            graph_then = lower(spec, doc, {**params, **older.params}, max_layers)
            lowered = Analysis(graph_then, symbolic_rows=False)  # check reads no rows
            errors = run(lowered, through=input_shapes).errors
        except ArchSpecError as exc:
            errors = [d for d in exc.diagnostics if d.severity is Severity.ERROR]
        given = ", ".join(f"{k}: {v!r}" for k, v in older.params.items())
        out += [
            dataclasses.replace(
                d, message=f"legacy version {older.version}'s layout ({given}): {d.message}"
            )
            for d in errors
        ]
    return out


def _block_infos(lw: Lowerer, bdef: Any) -> tuple[ParamInfo, ...]:
    """A block's param_infos, worked out once per block object (in the walk's plans, which
    a family's variants share: lowering/memo.py)."""
    kept = lw.plans.get(("param infos", id(bdef)))
    if kept is None or kept[0] is not bdef:
        kept = lw.plans[("param infos", id(bdef))] = (bdef, tuple(param_infos(bdef.params)))
    return kept[1]  # type: ignore[no-any-return]


def param_infos(decls: Mapping[str, Any]) -> list[ParamInfo]:
    """The declared params as the IR records them."""
    out = []
    for name, entry in decls.items():
        decl = decl_of(entry)
        fixed = decl.choices is not None and len(decl.choices) == 1
        choices = tuple(decl.choices) if decl.choices is not None else None
        required = decl.default is None
        out.append(
            ParamInfo(
                name, decl.type, decl.default, decl.doc, required, fixed, decl.ge, decl.le, choices
            )
        )
    return out


#: keywords of archspec's functions that reach a spec as params when passed to another one
_NOT_PARAMS = {
    "variant": "archspec.load takes a family's variant by its own name "
    "(archspec.load('resnet18')); compile and check take variant=",
    "input": "the input size is the spec's `input:`; check and summary take input=",
    "max_layers": "max_layers is an argument of compile and check, not of load",
}


def bind_params(lw: Lowerer) -> list[ParamInfo]:
    """Bind the spec's params (overrides first, then defaults) into `lw.globals`."""
    decls = lw.spec.params
    for key in lw.overrides:
        if key not in decls:
            close = lw.close_matches(key, list(decls))
            hint = (
                f"did you mean `{close[0]}`?"
                if close
                else (f"this spec's params: {', '.join(decls) or 'none'}")
            )
            if key in _NOT_PARAMS:  # a keyword of another call, passed on as a param
                hint = f"{hint}; {_NOT_PARAMS[key]}"
            lw.error("E302", f"unknown param `{key}`", ("params",), hint)
    for name, entry in decls.items():
        decl = decl_of(entry)
        yp = ("params", name)
        # Until bound, a param counts as failed: expressions that read it are skipped
        # quietly instead of each reporting "unknown name" after the real error.
        lw.failed.add(name)
        if name in lw.overrides:
            raw, what = lw.overrides[name], f"param `{name}`"
            from_text = isinstance(raw, str) and decl.type != "str"
        elif decl.default is None:
            lw.error(
                "E303",
                f"param `{name}` has no default and was not given",
                yp,
                f"give it: --set {name}=... or {name}=... in Python",
            )
            continue
        else:
            raw, what, from_text = decl.default, f"param `{name}` default", False
        try:
            lw.globals[name] = coerce_param(raw, decl, from_text=from_text)
        except ValueError as exc:
            # a value given by --set or in Python is checked against the declaration, whose
            # name it points at (the default's place may be a variant's value, which is fine)
            given = name in lw.overrides
            lw.error("E309", f"{what}: {exc}", yp, _param_hint(lw, name, decl), key=given)
            continue
        lw.failed.discard(name)
    return param_infos(decls)


def _param_hint(lw: Lowerer, name: str, decl: Any) -> str:
    """param_hint, or for a `block` param (composing made it a `str` whose one choice is the
    block it chose) what chooses a block instead: its declaration said `type: block`."""
    chosen = decl.choices[0] if decl.choices and len(decl.choices) == 1 else None
    if decl.type != "str" or chosen != decl.default or chosen not in lw.spec.blocks:
        return param_hint(decl)
    return (
        f"`{name}` is a block param: its block (`{chosen}`) is chosen when the spec is "
        "composed, by its default, a variant or an `extends:` (`params: "
        f"{{{name}: OtherBlock}}`), and --set cannot switch blocks"
    )


def _blocks_named_like_kinds(lw: Lowerer) -> None:
    """E304 for a block (of the spec's own, or imported under that name) named like a layer
    kind or construct: `type: relu` always means the kind, so the block could never be
    called, and a spec that meant to call it would silently get the kind instead."""
    for bname in lw.spec.blocks:
        shadowed = shadowed_block(bname)
        if shadowed is not None:
            lw.error("E304", shadowed[0], ("blocks", bname), shadowed[1], key=True)


def _blocks_never_called(lw: Lowerer) -> None:
    """W408 for a block the spec's own file defines and no file of the spec names anywhere
    else: it is never called, so nothing in it was checked (a new user's unused block with a
    misspelt name passed `check`). Any mention counts as a call (a `type:`, a block param's
    default or variant value, a comment): a block a variant or an extending spec chooses,
    or one an importer calls, is never reported."""
    texts = tuple(lw.doc.sources.values())
    for bname in lw.spec.blocks:
        span = lw.span(("blocks", bname), key=True)
        if span is None or span.file != lw.doc.file:
            continue  # imported: the file it comes from names it
        if sum(_words(t)[bname] for t in texts) <= 1:
            lw.bag.add(
                Diagnostic(
                    "W408",
                    f"block `{bname}` is never called: nothing in the spec names it, so its "
                    "layers are not checked",
                    span,
                    f"call it as a layer, `{{type: {bname}, ...}}`, or remove it",
                    Severity.WARNING,
                )
            )


@lru_cache(maxsize=16)
def _words(text: str) -> Counter[str]:
    """How often each word stands in `text` (a block's definition is one mention of its
    name): counted once per text, not searched once per block (a 1 MiB spec of 2,800
    blocks took 30 s of CPU in a regex per block)."""
    return Counter(re.findall(r"\w+", text))


def _inputs_named_like_values(lw: Lowerer) -> None:
    """E304 for a block input (`inputs:`) named like one of the block's params or lets: `from`
    would read the tensor and every expression the value, one name meaning two things."""
    for bname, bdef in lw.spec.blocks.items():
        for j, name in enumerate(getattr(bdef, "inputs", None) or ()):
            what = "param" if name in bdef.params else "let" if name in bdef.let else ""
            if what:
                lw.error(
                    "E304",
                    f"input `{name}` of block `{bname}` has the name of one of its {what}s: "
                    f"`from` would read the tensor and expressions the {what}'s value",
                    ("blocks", bname, "inputs", j),
                    f"rename the input or the {what}",
                )


def _net_inputs(
    lw: Lowerer, declared: list[DeclaredInput], misread: set[str]
) -> tuple[NetInput, ...]:
    """The declared inputs as the IR holds them; a dim E304 refused (`misread`) is read as
    the value it names, so its layers report nothing more."""
    values = {**lw.globals, **lw.lets}
    return tuple(
        NetInput(
            di.name,
            tuple(
                Dim.of(values[d] if d in misread and _is_size(values.get(d)) else d)
                for d in di.dims
            ),
            di.dtype,
            lw.span(di.ypath),
        )
        for di in declared
    )


def _features_axis(shape: Any) -> int:
    """The dim of a declared input that holds its channels, as `check` reads them: the last
    of tokens and channels-last maps (`[N, L, 32]`, `[L, N, 32]`, `[N, H, W, 3]`), else dim 1
    (inputlayout.channel_dim)."""
    at = channel_dim(shape)
    return 1 if at is None else at


def _is_size(value: Any) -> bool:
    return type(value) is int and value >= 1


def _input_dims_named_like_values(lw: Lowerer, declared: list[DeclaredInput]) -> set[str]:
    """E304 for a symbol of `input:` (or of an entry of `inputs:`) named like a param or let
    of the spec: `input` takes numbers and symbols and reads no params, so `[N, nz, 1, 1]`
    beside a param `nz` is a symbolic channel count (an E406 at the first conv, naming `nz`
    as if it had no value). The names refused. An input of several named like a param or
    let is E304 too: `from` would read the tensor and expressions the value."""
    spec = lw.spec
    misread: set[str] = set()
    for di in declared:
        field = "`input`" if di.ypath == ("input",) else f"input `{di.name}`"
        if len(declared) > 1 and (di.name in spec.params or di.name in spec.let):
            what = "param" if di.name in spec.params else "let"
            lw.error(
                "E304",
                f"input `{di.name}` has the name of a {what} of the spec: `from` would read "
                f"the tensor and expressions the {what}'s value",
                ("inputs", di.name),
                f"rename the input or the {what}",
                key=True,
            )
        for j, dim in enumerate(di.dims):
            what = "param" if dim in spec.params else "let" if dim in spec.let else ""
            if not isinstance(dim, str) or not what:
                continue
            default = decl_of(spec.params[dim]).default if what == "param" else None
            number = f" (`{default}`, its default)" if isinstance(default, int) else ""
            lw.error(
                "E304",
                f"`{dim}` in {field} is a symbol of the input's shape, not the {what} "
                f"`{dim}`: an input's shape takes numbers and symbols and reads no params or "
                "lets",
                (*di.ypath, j),
                f"write the number{number}, or give the symbol another name to keep the size open",
            )
            misread.add(dim)
    return misread


def _check_class_name(lw: Lowerer, class_name: str) -> None:
    """E602 for a class name the emitted module could not define, so that `archspec check`
    says what emit and `archspec compile` would: a builtin or a name the file uses, and for
    a family's variant `Any`, which a family's file imports from typing."""
    where = ("class_name",) if lw.spec.class_name else ("name",)
    if not is_free_name(class_name):
        lw.error(
            "E602",
            f"class name `{class_name}` would shadow a Python builtin or a name the emitted "
            "code uses",
            where,
            "set `class_name:` in the spec to another name",
        )
    elif class_name == "Any" and lw.doc.variant is not None:
        lw.error(
            "E602",
            "class name `Any` would hide `typing.Any`, which a family's file imports",
            where,
            "give the variant another `class_name:`",
        )


def spec_class_name(name: str, class_name: str | None = None) -> tuple[str, bool]:
    """The class a spec named `name` defines (`class_name:` when given, else one made from
    the name: `my_net` gives `MyNet`), and whether emitted code can define it (E602)."""
    chosen = class_name or _class_name(name)
    return chosen, is_free_name(chosen)


def _class_name(name: str) -> str:
    parts = [p for p in name.replace("-", "_").split("_") if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts) or "Net"
    return out if out[0].isalpha() else "Net" + out


def describe_shape(shape: Shape | None) -> str:
    return "?" if shape is None else format_shape(shape)


__all__ = [
    "CONSTRUCTS",
    "MAX_BLOCK_DEPTH",
    "MAX_NESTING",
    "MAX_NODES",
    "Lowerer",
    "bind_value",
    "check_name",
    "coerce_param",
    "lower",
    "models",
    "tensor_rank",
]
