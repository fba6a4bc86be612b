"""Block calls: `{type: BlockName, param: value}` makes one instance of a block of `blocks:`.

This is the fallback construct: any `type:` that names neither a layer kind nor a
registered construct is a block call, and an unknown block name is E205 here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ConfigDict, Field, field_validator

from ..dims import shape_key
from ..expr import ExprError, cut_tail_hint
from ..lowering.context import (
    FAILED_INPUT,
    MAX_BLOCK_DEPTH,
    MOVED_CHANNELS,
    OPEN_SIZES,
    RAISE_LIMIT,
    Abort,
    Child,
    Item,
    Site,
    Skip,
    moved_channels_hint,
    quiet_names,
)
from ..lowering.exprs import attr_expr
from ..lowering.lets import bind_lets
from ..lowering.memo import args_key
from ..lowering.outputs import call_names, check_call_inputs, check_call_names, instance_outputs
from ..lowering.values import (
    LIST_ITEMS_PER_ITEM,
    coerce_param,
    decl_of,
    param_checker,
    param_hint,
    parsed,
    reads_failed,
    reads_input,
)
from ..ops import REGISTRY
from ..ops.base import Final, NodeBase
from ..ops.names import kind_spelled_like, torch_spelling_hint
from ..ops.split import Names
from .registry import CONSTRUCTS, Construct, fallback

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer


#: At most this many outputs a block call names (each a node and a variable of emitted code).
MAX_BLOCK_OUTPUTS = 64


def _not_a_kind(schema: dict[str, Any]) -> None:
    """A block name is no layer kind or construct (read when the JSON Schema is made)."""
    schema["not"] = {"enum": sorted({*REGISTRY, *CONSTRUCTS})}


class BlockCall(NodeBase):
    """An instance of a block from `blocks:`; its params are given as extra fields."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    #: the field naming the outputs of a block of several (lowering.context.piece_names)
    names_field: ClassVar[str] = "names"
    type: str = Field(
        ...,
        description="the name of a block defined under `blocks:`",
        json_schema_extra=_not_a_kind,
    )
    names: Names | None = Field(
        None,
        description="for a block whose `outputs:` lists several nodes: a name for each, in "
        "order, which later items read by `from` (the call's `name` stays its module's key); "
        'entries may be templates (`"hi{i}"`) or computed, as a chunk\'s',
    )

    @field_validator("names", mode="after")
    @classmethod
    def _distinct_names(cls, names: Any) -> Any:
        if not isinstance(names, list):
            return names
        if len(names) > MAX_BLOCK_OUTPUTS:
            raise ValueError(f"List should have at most {MAX_BLOCK_OUTPUTS} items")
        written = [n for n in names if isinstance(n, str)]
        if len(set(written)) != len(written):
            raise ValueError(f"`names` {written} repeat a name: each output needs its own")
        return names


def lower(lw: Lowerer, site: Site) -> str:
    """A child module of the block's layers, its params bound from the call."""
    spec = site.spec
    bname = spec.type
    _check_callable(lw, site, bname)
    bdef = lw.spec.blocks[bname]
    check_call_inputs(lw, site, bname, bdef.inputs)
    names = call_names(lw, site)
    check_call_names(lw, site, bname, bdef.outputs, names)
    call = call_plan(lw, spec, bdef)
    if call.weight:
        lw.charge(call.weight, site.ypath, why=_WEIGHT_WHY)
    args = bind_args(lw, site, bname, bdef, call)
    if call.lists and (listed := _list_items(args, call.lists)):
        lw.charge(listed // LIST_ITEMS_PER_ITEM, site.ypath, why=_LIST_WHY)
    _check_size(lw, site, bname)
    if call.str_args:
        exprs = call.exprs_at(lw, site.local if call.reads_input else site.env)
    else:
        exprs = call.exprs
    lw.block_stack.append(bname)
    try:
        env = {**lw.globals, **lw.lets, **args}  # lw.spec_env and the arguments, in one dict
        lets, _ = _block_lets(lw, site, bname, bdef, env)
        children = lw.block_items.get(bname)
        if children is None:  # one list for every instance: Items are never changed
            children = lw.block_items[bname] = [
                Item(s, ("blocks", bname, "layers", i)) for i, s in enumerate(bdef.layers)
            ]
        if lets:
            env.update(lets)
        outputs, at = instance_outputs(lw, site, bname, bdef.outputs, env, names)
        child = Child(
            children,
            bname,
            env=env,
            lets=[(n, bdef.let[n], v) for n, v in lets.items()] if lets else [],
            block=bname,
            args=args,
            outputs=outputs,
            outputs_ypath=("blocks", bname, "outputs"),
            outputs_ypaths=at,
            src=call.given,
            exprs=exprs,
            state_dict_version=bdef.state_dict_version,
            checkpoint=bdef.checkpoint or bname in lw.spec.checkpoint,
            call=_call_key(bname, args_key(args), site, bdef.inputs),
            register_order=bdef.register_order or (),
            register_order_ypath=("blocks", bname, "register_order"),
            input_names=bdef.inputs or (),
            more_inputs=[
                (shape, site.scope.axes.get(name, 1))
                for name, shape in zip(site.inputs[1:], site.in_shapes[1:])
            ]
            if bdef.inputs
            else (),
            output_names=names or (),
        )
        return lw.lower_child(site, child)
    finally:
        lw.block_stack.pop()


def _call_key(
    bname: str, args: tuple[Any, ...] | None, site: Site, inputs: list[str] | None
) -> tuple[Any, ...] | None:
    """The instance memo's key of a call (lowering/memo.py): the block and its bound
    arguments, and for a block of several inputs every input after the first's shape and
    channel axis (the memo's own key holds the first's); None: lowered every time."""
    if args is None:
        return None
    if not inputs:
        return (bname, args)
    more = []
    for name, shape in zip(site.inputs[1:], site.in_shapes[1:]):
        if shape is None:
            return None
        more.append((shape_key(shape), site.scope.axes.get(name, 1)))
    return (bname, args, "inputs", tuple(more))


class CallPlan:
    """How one call spec's arguments bind, worked out once per spec object (and enclosing
    block, which tags the names its expressions read): every copy of the call writes the
    same arguments. A literal argument is checked here once (one its param refuses is left
    to each instance, which reports it); expressions are evaluated per instance, and a
    `str` param's text is an expression or not by the names in scope there."""

    __slots__ = (
        "checks",
        "exprs",
        "given",
        "lists",
        "params",
        "reads_input",
        "runs",
        "spec",
        "str_args",
        "unknown",
        "weight",
    )

    def __init__(self, lw: Lowerer, spec: Any, bdef: Any) -> None:
        self.spec = spec  # held: the plan is found by id(spec)
        self.given: dict[str, Any] = dict(spec.model_extra or {})
        self.unknown = any(key not in bdef.params for key in self.given)
        #: whether an argument could read `in_channels` or `in_features` (its texts' names)
        self.reads_input = any(reads_input(raw) for raw in self.given.values())
        #: layer items charged per call for the expression text it evaluates (_WEIGHT_WHY)
        self.weight = (_text_size(self.given) + _text_size(bdef.let)) // EXPR_CHARS_PER_ITEM
        #: (param, decl, how it binds, the literal's value or the raw argument)
        self.params: list[tuple[str, Any, int, Any]] = []
        #: the `list` params, whose items each call is charged for (LIST_ITEMS_PER_ITEM)
        self.lists: tuple[str, ...] = ()
        #: the closure of each argument that is an expression and parses (_EXPR: Expr.runner)
        self.runs: dict[str, Any] = {}
        #: each param's value check (values.param_checker), for the arguments bound per call
        self.checks: dict[str, Any] = {}
        for pname, entry in bdef.params.items():
            decl = decl_of(entry)
            self.checks[pname] = param_checker(decl)
            if decl.type == "list":
                self.lists += (pname,)
            if pname not in self.given:
                self.params.append((pname, decl, _DEFAULT, None))
                continue
            raw = self.given[pname]
            if isinstance(raw, str):
                self.params.append((pname, decl, _STR if decl.type == "str" else _EXPR, raw))
                if decl.type != "str":
                    with contextlib.suppress(ExprError):  # evaluated (and reported) per call
                        self.runs[pname] = parsed(raw).runner()
                continue
            if isinstance(raw, list) and _has_text(raw):
                # items may be names of the caller (`[window, window]`): bound per instance
                self.params.append((pname, decl, _ITEMS, raw))
                continue
            try:
                self.params.append((pname, decl, _BOUND, coerce_param(raw, decl)))
            except ValueError:
                self.params.append((pname, decl, _LITERAL, raw))
        #: the expressions among the arguments; `str_args`: those of `str` params, which
        #: are expressions or text by the names in scope (exprs_at)
        self.exprs: dict[str, Any] = {}
        self.str_args: list[tuple[str, Any, Any]] = []
        if self.unknown:
            return  # never lowered: bind_args refuses the call
        for pname, raw in self.given.items():
            decl = decl_of(bdef.params[pname])
            if decl.type == "str" and isinstance(raw, str):
                self.str_args.append((pname, raw, decl))
            elif decl.type != "str" and (expr := attr_expr(lw, raw, _ANY)) is not None:
                self.exprs[pname] = expr

    def exprs_at(self, lw: Lowerer, env: Mapping[str, Any]) -> dict[str, Any]:
        """The expressions among the arguments where `env` is in scope (in call order)."""
        dynamic = {
            pname for pname, raw, decl in self.str_args if str_expression(raw, decl.choices, env)
        }
        return {
            pname: expr
            for pname, raw in self.given.items()
            if (pname in self.exprs or pname in dynamic)
            and (expr := self.exprs.get(pname) or attr_expr(lw, raw, _ANY)) is not None
        }


#: how an argument binds (CallPlan.params)
_DEFAULT, _STR, _EXPR, _BOUND, _LITERAL, _ITEMS = range(6)


def _has_text(items: list[Any]) -> bool:
    """Whether a list written in place holds text at any depth."""
    return any(isinstance(v, str) or (isinstance(v, list) and _has_text(v)) for v in items)


def list_items(raw: list[Any], env: Mapping[str, Any]) -> list[Any]:
    """A list argument's items, each text item read as `str_expression` reads a `str`
    argument: an expression over the caller's names (`[window, window]`) is its value, other
    text (a table's `HS`) stays text."""
    return [
        list_items(v, env)
        if isinstance(v, list)
        else parsed(v).evaluate(env)
        if isinstance(v, str) and str_expression(v, None, env)
        else v
        for v in raw
    ]


def call_plan(lw: Lowerer, spec: Any, bdef: Any) -> CallPlan:
    """The call's CallPlan in the enclosing block, made at its first instance."""
    key = ("call", id(spec), lw.block_stack[-1] if lw.block_stack else None)
    kept = lw.plans.get(key)
    if kept is None or kept.spec is not spec:
        kept = lw.plans[key] = CallPlan(lw, spec, bdef)
    return kept


_ANY = Final("any")

#: A block call counts one more layer item per this many characters of expression text in
#: its arguments and its block's lets, which every call evaluates: a few lines of YAML calling
#: a block of long lets thousands of times would otherwise take minutes, not the half second
#: `max_layers` keeps a check under. A block's lets and arguments rarely reach 1,000.
EXPR_CHARS_PER_ITEM = 1000
_WEIGHT_WHY = (
    f"a block call counts one more per {EXPR_CHARS_PER_ITEM:,} characters of its arguments' "
    "and its block's lets' text, which every call evaluates"
)


_LIST_WHY = (
    f"a block call counts one more per {LIST_ITEMS_PER_ITEM:,} list items in its arguments, "
    "which every call checks"
)


def _list_items(args: Mapping[str, Any], names: tuple[str, ...]) -> int:
    """The items of the lists `args` holds under `names`, at every depth."""
    total = 0
    for name in names:
        value = args.get(name)
        if type(value) is list:
            stack = [value]
            while stack:
                v = stack.pop()
                total += len(v)
                stack.extend(item for item in v if type(item) is list)
    return total


def _text_size(values: Mapping[str, Any]) -> int:
    """The characters of text in `values` (lists at any depth included)."""
    total = 0
    stack = list(values.values())
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, list):
            stack.extend(v)
    return total


def _check_size(lw: Lowerer, site: Site, bname: str) -> None:
    """E310 before expanding a block whose least expansion is already over the limit."""
    least = lw.least.block(bname)
    if lw.count + least > lw.max_layers:
        lw.error(
            "E310",
            (
                f"block `{bname}` expands to more than {lw.max_layers:,} layer items"
                if least > lw.max_layers
                else f"block `{bname}` expands to at least {least:,} layer items; with the "
                f"{lw.count:,} counted so far, the spec expands to more than "
                f"{lw.max_layers:,} layer items"
            )
            + " (layers, blocks and repeats, counted before the block is expanded)",
            site.ypath,
            f"lower the repeat counts or the nesting of repeats and blocks; {RAISE_LIMIT}",
        )
        raise Abort


def _block_lets(
    lw: Lowerer, site: Site, bname: str, bdef: Any, env: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The block's `let:` values for this instance; `in_channels` and `in_features` are the
    block's input's."""
    if not bdef.let:
        return {}, []
    scope = dict(env)
    for size in ("in_channels", "in_features"):  # a token block's width is its last dim
        if size in site.local:
            scope[size] = site.local[size]
    for mark in (FAILED_INPUT, MOVED_CHANNELS, OPEN_SIZES):  # why a size is missing (errors)
        if mark in site.local:
            scope[mark] = site.local[mark]
    taken = lw.plans.get(("taken", bname))
    if taken is None:  # the same for every instance
        taken = {p: f"a param of block {bname}" for p in bdef.params}
        taken |= {p: "a param of the spec" for p in lw.spec.params}
        taken |= {p: "a let of the spec" for p in lw.spec.let}
        lw.plans[("taken", bname)] = taken
    return bind_lets(lw, bdef.let, scope, ("blocks", bname, "let"), taken, own_env=True)


#: The ways a plugin's layer kinds are loaded, for E205's hints.
PLUGIN_WAYS = (
    "`--plugins FILE.py` or ARCHSPEC_PLUGINS (command line), archspec.load_plugin_files "
    "(Python), or an installed `archspec.layers` entry point"
)
#: E205's hint for a name that is no typo of a known one: it may be a plugin's layer kind.
UNKNOWN_KIND_HINT = (
    "define it under `blocks:` or use a layer kind (`archspec list --layers`); a plugin's kind "
    "is loaded first: " + PLUGIN_WAYS
)


def _near_typo(name: str, known: str) -> bool:
    """Whether `name` is so close to `known` (`reluu`, `batchnorm2`) that a typo is the only
    likely reading; a looser match leaves room for a plugin's kind not loaded."""
    import difflib

    return difflib.SequenceMatcher(None, name.lower(), known.lower()).ratio() >= 0.85


def _check_callable(lw: Lowerer, site: Site, bname: str) -> None:
    """E205 for an unknown block, E307 for a recursive one, E310 past the nesting bound."""
    blocks = lw.spec.blocks
    where = site.ypath + ("type",)
    if bname not in blocks:
        spelled = kind_spelled_like(bname, REGISTRY)
        close = (
            [spelled]
            if spelled
            else lw.close_matches(bname, sorted({*REGISTRY, *blocks, *CONSTRUCTS}))
        )
        hint = f"did you mean `{close[0]}`?" if close else UNKNOWN_KIND_HINT
        if not spelled and torch_spelling_hint(bname):  # `transpose`: no typo of `conv_transpose3d`
            hint = str(torch_spelling_hint(bname))
        elif close and not spelled and not _near_typo(bname, close[0]):
            # `channel_scale` for `channel_shuffle`: as likely a plugin's kind not loaded
            hint += f" If `{bname}` is a plugin's layer kind, load it first: " + PLUGIN_WAYS
        lw.error("E205", f"unknown layer type or block `{bname}`", where, hint)
        raise Skip
    if bname in lw.block_stack:
        chain = " -> ".join([*lw.block_stack[lw.block_stack.index(bname) :], bname])
        lw.error(
            "E307",
            f"block `{bname}` contains itself ({chain})",
            where,
            "a block cannot call itself: to nest it a fixed number of levels deep (an "
            "hourglass's `low2`, a U-Net's inner block), write a block of its own for each "
            f"level that calls the level below (`{bname}2` calling `{bname}1`); for copies "
            "one after another, use `repeat`",
        )
        raise Skip
    if len(lw.block_stack) >= MAX_BLOCK_DEPTH:
        lw.error(
            "E310",
            f"blocks nest deeper than {MAX_BLOCK_DEPTH}",
            site.ypath,
            "flatten the structure: call fewer blocks inside blocks",
        )
        raise Skip


def str_expression(raw: str, choices: list[Any] | None, env: Mapping[str, Any]) -> bool:
    """Whether a `str` argument is an expression rather than text as written: it reads only
    names in scope (a row field `act`, `"'hardswish' if use_hs else 'relu'"`) or quotes text.
    One of the param's choices, text that does not parse, or that reads a name not in
    scope (`relu`, `nearest-exact`) is taken as written."""
    if choices and raw in choices:
        return False
    try:
        names = parsed(raw).names
    except ExprError:
        return False
    return (bool(names) and names <= env.keys()) or (not names and ("'" in raw or '"' in raw))


def bind_args(lw: Lowerer, site: Site, bname: str, bdef: Any, call: CallPlan) -> dict:
    """The block's params bound from the call (expressions read the caller's names). A call
    whose arguments read no size of its input by name is bound in the site's `env` (the
    same values as in its `local`, without making that); one that fails is bound again in
    `local`, whose names its messages list, and reported."""
    if not call.unknown and not call.reads_input:
        try:
            args = _args_in(lw, bname, call, site.env)
        except (ExprError, ValueError, RecursionError):  # bound again below, and reported
            args = None
        if args is not None:
            return args
    bad = call.unknown and _unknown_args(lw, site, bname, bdef, call.given)
    args = {}
    for pname, decl, how, given in call.params:
        if how == _BOUND:
            args[pname] = given
            continue
        yp = site.ypath + (pname,)
        if how != _DEFAULT:
            raw = value = given
            try:
                value = _evaluated(how, raw, decl, site.local)
                args[pname] = coerce_param(value, decl)
            except ExprError as exc:
                if not reads_failed(raw, quiet_names(lw.failed, site.local)):
                    hint = moved_channels_hint(exc, site.local)
                    lw.error(exc.code, f"{bname}.{pname}: {exc.message}", yp, hint)
                bad = True
            except ValueError as exc:
                lw.error("E309", f"{bname}.{pname}: {exc}", yp, param_hint(decl, value))
                bad = True
        elif decl.default is not None:
            try:
                args[pname] = _default(lw, bname, pname, decl)
            except ValueError as exc:
                where = ("blocks", bname, "params", pname)
                lw.error("E309", f"{bname}.{pname} default: {exc}", where, param_hint(decl))
                bad = True
        else:
            lw.error(
                "E303",
                f"block {bname} needs param `{pname}`",
                site.ypath,
                f"add `{pname}: ...` to this layer" + _defined_elsewhere(lw, site, bname),
            )
            bad = True
    if bad:
        raise Skip
    return args


def _args_in(lw: Lowerer, bname: str, call: CallPlan, env: Mapping[str, Any]) -> dict | None:
    """bind_args where nothing fails (ExprError, ValueError or RecursionError otherwise; None
    for a param with no argument and no default)."""
    args: dict[str, Any] = {}
    runs, checks = call.runs, call.checks
    for pname, decl, how, given in call.params:
        if how == _BOUND:
            args[pname] = given
        elif how == _EXPR and pname in runs:  # _evaluated's, without its calls
            args[pname] = checks[pname](runs[pname](env))
        elif how != _DEFAULT:
            args[pname] = checks[pname](_evaluated(how, given, decl, env))
        elif decl.default is not None:
            args[pname] = _default(lw, bname, pname, decl)
        else:
            return None
    return args


def _evaluated(how: int, raw: Any, decl: Any, env: Mapping[str, Any]) -> Any:
    """An argument the call writes, evaluated where `env` is in scope: an expression's
    value, a list's items (list_items), text as written (ExprError)."""
    if how == _ITEMS:
        return list_items(raw, env)
    if how == _EXPR or (how == _STR and str_expression(raw, decl.choices, env)):
        return parsed(raw).evaluate(env)
    return raw


def _default(lw: Lowerer, bname: str, pname: str, decl: Any) -> Any:
    """A param's default, checked against its declaration once per block (ValueError)."""
    key = (bname, pname)
    if key in lw.block_defaults:
        return lw.block_defaults[key]
    value = lw.block_defaults[key] = coerce_param(decl.default, decl)
    return value


def _unknown_args(lw: Lowerer, site: Site, bname: str, bdef: Any, given: dict[str, Any]) -> bool:
    """E302 for each argument the block has no param for; True when there was one."""
    bad = False
    for key in given:
        if key not in bdef.params:
            close = lw.close_matches(key, list(bdef.params))
            hint = cut_tail_hint(key) or (
                (
                    f"did you mean `{close[0]}`?"
                    if close
                    else (f"{bname} takes: {', '.join(bdef.params) or 'no params'}")
                )
                + _defined_elsewhere(lw, site, bname)
            )
            lw.error(
                "E302", f"block {bname} has no param `{key}`", site.ypath + (key,), hint, key=True
            )
            bad = True
    return bad


def _defined_elsewhere(lw: Lowerer, site: Site, bname: str) -> str:
    """Where the block a call names is written, when that is another file than the call:
    an import or an `extends:` may have put a block of that name in place of the one the
    caller was written for (an extending spec's `use:` replaces a base's block)."""
    defined, called = lw.span(("blocks", bname), key=True), lw.span(site.ypath)
    if defined is None or called is None or defined.file == called.file:
        return ""
    via = next(defined.import_sites(), None)
    if via is not None and via.file == called.file:
        return ""  # the caller's own file imports it: the block it was written for
    brought = "" if via is None else f", {via.how} at {via}"
    return f" (`{bname}` here is the block at {defined}{brought})"


CONSTRUCT = fallback(
    Construct(
        kind="block",
        schema=BlockCall,
        lower=lower,
        summary="an instance of a block defined under `blocks:`",
        description=(
            "Any `type:` that is neither a layer kind nor a construct calls a block of "
            "`blocks:`: the call's other fields are the block's params, checked against their "
            "declarations, and the instance is one child module of the block's class. A "
            "block whose `outputs:` lists several nodes is called with `names:`, one name per "
            "output, which later items read by `from`."
        ),
        makes_module=True,
    )
)
