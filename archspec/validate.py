"""Run the schema over loaded YAML: the spec model on the data, the names pydantic cannot
judge alone (node and block names, module names), blocks named like kinds (E304), and a
family's variants validated once for what they share. Pydantic's own errors become located
diagnostics in schema_errors.py, one per mistake, at its line and column.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from .compose import family_store, shares_family_data
from .compose.imports import MODULE_KEYS
from .constructs import CONSTRUCTS, NameWalk, shadowed_blocks
from .errors import Diagnostic, SchemaError
from .loader import LoadedDoc, PathKey, copy_data
from .schema import EXPRESSION_NAMES, check_name, module_name_problem, spec_model
from .schema_inputs import header_form_diagnostics

#: The parts of a spec its family's variants have in common (a block param's choice aside).
SHARED_PARTS = ("blocks", "layers")


def validate_spec(doc: LoadedDoc) -> BaseModel:
    """The validated Spec model, or a SchemaError listing every problem with its location."""
    if not isinstance(doc.data, dict):
        from .schema_errors import type_name

        raise SchemaError(
            f"a spec is a mapping with `archspec`, `name`, `input` and `layers`; "
            f"this file holds a {type_name(doc.data)}",
            span=doc.span_of(()),
            code="E202",
            hint="start from `archspec new NAME`",
            sources=doc.sources,
        )
    if "blocks" in doc.data and doc.data.keys() <= MODULE_KEYS:
        raise _library_error(doc)
    store = family_store(doc)
    if store is None:
        return _validated(doc)
    model, data = spec_model(), doc.data
    given, kept = dict(data), []
    for part in SHARED_PARTS:
        found = store.get(("validated", part))
        if part in data and found and found[0] is model and same_data(data[part], found[1]):
            given[part] = found[2]  # pydantic takes each model instance as it is
            kept.append(part)
    spec = _with_kept_parts(doc, given, kept) if kept else None
    if spec is None:
        spec, kept = _validated(doc), []
    # copied, unless the data is the family's (never edited): the caller may edit doc.data
    keep = (lambda part: part) if shares_family_data(doc) else copy_data
    for part in SHARED_PARTS:
        if part in data and part not in kept:
            store[("validated", part)] = (model, keep(data[part]), getattr(spec, part))
    return spec


def _library_error(doc: LoadedDoc) -> SchemaError:
    """E116 for a file of blocks checked as a spec: one error that says what the file is,
    rather than `name`, `input` and `layers` missing, as if it were a broken network."""
    return SchemaError(
        f"{doc.file} is a block library (`blocks:` without `layers`), not a spec: it "
        "builds no network of its own",
        span=doc.span_of(("blocks",), key=True),
        code="E116",
        hint="its blocks are checked in the specs that import them (`use: [{from: FILE, "
        "blocks: [...]}]`): check those; `archspec check DIR` passes over block libraries",
        sources=doc.sources,
    )


def _with_kept_parts(doc: LoadedDoc, given: dict[str, Any], kept: list[str]) -> BaseModel | None:
    """A variant validated with the parts (`kept`) an earlier variant of its family validated
    from the same data: the same model objects (which the lowering memo's keys can then hold
    by id), and pydantic checks only the rest. None when the rest has a problem: validating
    the whole spec then reports it as ever."""
    try:
        spec = spec_model().model_validate(given)
    except (ValidationError, RecursionError):
        return None
    # the names the kept parts give were checked with them; the rest's are checked here
    rest = {k: v for k, v in doc.data.items() if k not in kept}
    if header_form_diagnostics(doc):
        return None
    return None if name_diagnostics(LoadedDoc(rest, doc.file, doc.text)) else spec


def same_data(a: Any, b: Any) -> bool:
    """Whether two pieces of plain spec data are the same, types and key order included
    (`==` takes 1, 1.0 and True, or 0.0 and -0.0, for one value)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        if list(a) != list(b):
            return False
        a, b = a.values(), b.values()  # the keys alike, each value beside its twin
    elif kind is list:
        if len(a) != len(b):
            return False
    else:
        return bool(a == b) and (kind is not float or repr(a) == repr(b))
    for x, y in zip(a, b):  # noqa: SIM110  (not all() over a generator: most items are shared)
        if x is not y and not same_data(x, y):
            return False
    return True


def _validated(doc: LoadedDoc) -> BaseModel:
    """`validate_spec` of the whole spec."""
    try:
        spec = spec_model().model_validate(doc.data)
    except ValidationError as exc:
        from .schema_errors import errors_to_diagnostics  # (what only a broken spec needs)

        diags = errors_to_diagnostics(exc, doc) + name_diagnostics(doc) + shadowed_blocks(doc)
        diags += header_form_diagnostics(doc)
        diags.sort(key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
        raise SchemaError(diagnostics=diags, sources=doc.sources) from None
    except RecursionError:
        raise SchemaError(
            "the spec is nested too deeply to validate", code="E104", span=doc.span_of(())
        ) from None
    diags = header_form_diagnostics(doc) + name_diagnostics(doc)
    if diags:
        raise SchemaError(diagnostics=diags, sources=doc.sources)
    return spec


def name_diagnostics(doc: LoadedDoc) -> list[Diagnostic]:
    """E204 for every name a spec gives that the modules or expressions cannot take.

    Names of nodes, `parallel` branches and shortcuts become attributes of nn.Modules (see
    `module_name_problem`); param names and repeat indices are names in expressions, where
    `in_channels` is taken. Which param a repeat index would hide depends on where the
    repeat stands; lowering checks that. Walks the YAML data, so that these errors come
    with the schema's own; a name the schema refuses already (`__x`, `forward`) is left to it.
    """
    walk = _NameChecks(doc)
    data = doc.data
    for pname in _mapping(data.get("params")):
        walk.expression_name(pname, ("params", pname), "param")
    for lname in _mapping(data.get("let")):
        walk.expression_name(lname, ("let", lname), "let")
    for bname, block in _mapping(data.get("blocks")).items():
        for pname in _mapping(block.get("params") if isinstance(block, dict) else None):
            walk.expression_name(pname, ("blocks", bname, "params", pname), "param")
        for lname in _mapping(block.get("let") if isinstance(block, dict) else None):
            walk.expression_name(lname, ("blocks", bname, "let", lname), "let")
        if isinstance(block, dict):
            walk.nodes(block.get("layers"), ("blocks", bname, "layers"))
    walk.nodes(data.get("layers"), ("layers",))
    return walk.out


class _NameChecks(NameWalk):
    """The walk of `name_diagnostics`; each construct says what it names or nests."""

    def __init__(self, doc: LoadedDoc) -> None:
        self.doc = doc
        self.out: list[Diagnostic] = []

    def refuse(self, message: str, path: PathKey, hint: str, key: bool = False) -> None:
        self.out.append(Diagnostic("E204", message, self.doc.span_of(path, key=key), hint))

    def path_text(self, path: PathKey) -> str:
        from .schema_errors import path_text  # (what only a refused name needs)

        return path_text(path)

    def module_name(self, name: Any, path: PathKey, key: bool = False) -> None:
        if not _schema_accepts_name(name):
            return
        problem = module_name_problem(name)
        if problem is not None:
            self.refuse(
                f"{self.path_text(path)}: {problem}",
                path,
                "rename it: names become module attributes and state_dict keys",
                key,
            )

    def expression_name(self, name: Any, path: PathKey, what: str) -> None:
        # a name that is not a str (a mapping, a list: unhashable) is the schema's to report
        if isinstance(name, str) and name in EXPRESSION_NAMES:
            self.refuse(
                f"{self.path_text(path)}: a {what} cannot be named `{name}`: in expressions "
                f"`{name}` is always {EXPRESSION_NAMES[name]}",
                path,
                f"rename the {what}; read {EXPRESSION_NAMES[name]} as `{name}`",
                key=what in ("param", "let"),
            )

    def nodes(self, items: Any, path: PathKey) -> None:
        if isinstance(items, list):
            for i, item in enumerate(items):
                self.node(item, path + (i,))

    def node(self, item: Any, path: PathKey) -> None:
        if not isinstance(item, dict):
            return
        if "name" in item:
            self.module_name(item["name"], path + ("name",))
        kind = item.get("type")
        construct = CONSTRUCTS.get(kind) if isinstance(kind, str) else None
        if construct is not None:
            construct.names(item, path, self)


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _schema_accepts_name(name: Any) -> bool:
    """True for a name the schema's own check lets through (so its error is not doubled)."""
    try:
        check_name(name)
    except (ValueError, TypeError):
        return False
    return True
