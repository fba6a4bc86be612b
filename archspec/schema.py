"""Pydantic models of the spec language; `spec_model().model_json_schema()` describes it all.

Layer kinds come from the op registry and compound constructs from the construct registry
(each construct's model lives in its module under archspec/constructs/), so the node union
is built on demand and rebuilt when a plugin registers either. The union is discriminated on
`type`: a registered kind selects its own model (errors then speak only of that layer or
construct), any other name is a block call.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import core_schema
from typing_extensions import TypeAliasType

from .constructs import BLOCK_CALL, CONSTRUCTS, on_change
from .errors import VALIDATOR_HINT
from .ops import REGISTRY
from .ops.base import RESERVED_NAMES, Bool, ExprStr, Name, Op, check_name, on_register
from .ops.fromspec import BlockOutputs, OutputList
from .plugins import load_plugins
from .schema_inputs import (
    INPUT_DOC,
    INPUT_DTYPE_DOC,
    InputDtype,
    InputEntry,
    InputShape,
    inputs_field,
)
from .schema_training import (
    BLOCK_CHECKPOINT_DOC,
    BLOCK_FROZEN_DOC,
    CHECKPOINT_DOC,
    FROZEN_DOC,
    SHARD_DOC,
    FrozenPath,
    TensorPath,
    list_field,
    tied_field,
)
from .schema_training import no_items as _no_items

FORMAT_VERSION = 1

ParamType = Literal["int", "float", "bool", "str", "list"]
Scalar = StrictBool | StrictInt | StrictFloat | str
ParamValue = Scalar | list[Any]


class ParamDecl(BaseModel):
    """A typed parameter with an optional default (no default: the caller must give it)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: ParamType
    default: ParamValue | None = None
    doc: str = Field("", max_length=2000)
    ge: StrictInt | StrictFloat | None = None
    le: StrictInt | StrictFloat | None = None
    choices: list[Scalar] | None = None

    @model_validator(mode="after")
    def _bounds_are_numeric(self) -> ParamDecl:
        if (self.ge is not None or self.le is not None) and self.type not in ("int", "float"):
            raise ValueError(f"`ge` and `le` bound int and float params, not {self.type} ones")
        return self


ParamEntry = ParamDecl | ParamValue


#: What a block's `register_order:` is for (schema description).
REGISTER_ORDER_DOC = (
    "the layer names in the order the block's module registers them (its state_dict order), "
    "when that is not the order of `layers`; names not listed follow in layer order"
)

#: The same for the spec's own `register_order:`, the network class's.
_NET_ORDER = REGISTER_ORDER_DOC.replace("block", "network")
#: What the network's `outputs:` is for (schema description).
OUTPUTS_DOC = (
    "the nodes the network returns, in order (default: the last): names, name templates "
    '(`"stage{n - 1}"`) or computed entries (`{each: "stage{j}", for: j, in: n}`); or a '
    "mapping of keys to node names (`{out: head, aux: aux_head}`), in order, when forward "
    "returns an OrderedDict of them"
)
#: What a block's `outputs:` is for (schema description).
BLOCK_OUTPUTS_DOC = (
    "the nodes the block returns, in order (default: the last; a call of several names them "
    "with `names`): names, name templates or computed entries worked out per instance"
)


#: What a block's `inputs:` is for (schema description), and how many it may name.
INPUTS_DOC = (
    "the names of the block's inputs, two or more, in the order a call's `from` gives them; "
    "inside the block each is a name `from` reads, and the first is also `input`"
)
MAX_BLOCK_INPUTS = 16


def check_block_inputs(inputs: list[str] | None) -> list[str] | None:
    """A block's `inputs:` names each input once (`input`, the first's other name, is no
    legal name: `Name` refuses it)."""
    if inputs is None:
        return None
    for j, name in enumerate(inputs):
        if name in inputs[:j]:
            raise ValueError(f"`{name}` is named twice: each input needs its own name")
    return inputs


def state_dict_version_field() -> Any:
    """The `state_dict_version:` field of a block and of the spec: the class's `_version`,
    which torch records per module in `state_dict()._metadata[prefix]["version"]` and hands
    to `_load_from_state_dict` (DenseNet's `_DenseBlock` and MNASNet declare 2)."""
    return Field(
        1,
        ge=1,
        le=10**6,
        description="the class's `_version`, recorded in state_dict metadata (torch's default 1)",
    )


#: A `let:` binding: an expression (text) or a literal value.
LetValue = StrictBool | StrictInt | StrictFloat | str | list[Any]

#: Names an expression reads that a param (or a repeat index) may not take, and what they
#: always are: a param of that name would never be read.
EXPRESSION_NAMES = {
    "in_channels": "the channel count of the node's input",
    "in_features": "the last dim of the node's input",
}


def module_name_problem(name: str) -> str | None:
    """Why `name` cannot name a child module (None when it can).

    A node's name becomes an attribute of its parent module and a state_dict key, in the
    compiled module and in emitted source alike. nn.Module keeps its own state in attributes
    starting with `_` (`_modules`, `_parameters`, `_version`, ...; a torch release may add
    more), so every such name is refused, with every public attribute nn.Module has.
    """
    if name.startswith("_"):
        return (
            f"`{name}` starts with `_`: nn.Module keeps its own state in such attributes "
            "(`_modules`, `_parameters`, ...), so a layer may not take one"
        )
    if name in RESERVED_NAMES:
        return f"`{name}` is an attribute of nn.Module (it would hide it or be refused by torch)"
    return None


def _init_number(value: float) -> float:
    """Initialiser arguments are finite and within the language's value bound."""
    if not abs(value) <= 10**15:
        raise ValueError(f"{value!r} is out of range (|x| <= 10^15)")
    return value


#: An initialiser argument: a number, or an expression over the spec's params and lets and
#: the layer's sizes (`1 / sqrt(out_features)`), evaluated for each module it initialises.
InitNumber = Annotated[StrictFloat | StrictInt, AfterValidator(_init_number)] | ExprStr


def _not_negative(value: float) -> float:
    if isinstance(value, str):
        return value  # an expression: checked for each module (lowering/init.py)
    if value < 0:
        raise ValueError(f"{value!r} is negative: torch refuses it")
    return value


def _positive(value: float) -> float:
    if isinstance(value, str):
        return value
    if value <= 0:
        raise ValueError(f"{value!r} must be above 0 (trunc_normal divides by it)")
    return value


def _at_least_a(b: float, info: ValidationInfo) -> float:
    """`b` bounds the range from above: torch's uniform_ and trunc_normal_ refuse a > b."""
    a = info.data.get("a")
    if a is not None and not isinstance(a, str) and not isinstance(b, str) and b < a:
        raise ValueError(f"b ({b!r}) is below a ({a!r}): the range [a, b] is empty")
    return b


def _written_1(version: Any) -> Any:
    """The format version as written: YAML's `true` and `1.0` equal 1 in Python, and the
    literal, compared by equality, took them."""
    if isinstance(version, (bool, float)):
        raise ValueError(
            f"the format version is written 1, not {version!r}"
            f"{VALIDATOR_HINT}start the spec with `archspec: 1`"
        )
    return version


#: `archspec: 1`, as written (never `true` or `1.0`).
FormatVersion = Annotated[Literal[1], BeforeValidator(_written_1)]


class InitArgs(BaseModel):
    """Arguments of one torch.nn.init function, restricted to what torch accepts."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class KaimingArgs(InitArgs):
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Literal["relu", "leaky_relu", "linear", "tanh", "sigmoid", "selu"] = "leaky_relu"
    a: InitNumber = 0


class NormalArgs(InitArgs):
    mean: InitNumber = 0.0
    std: Annotated[InitNumber, AfterValidator(_not_negative)] = 1.0


class TruncNormalArgs(InitArgs):
    mean: InitNumber = 0.0
    std: Annotated[InitNumber, AfterValidator(_positive)] = 1.0
    a: InitNumber = -2.0
    b: Annotated[InitNumber, AfterValidator(_at_least_a)] = 2.0


class UniformArgs(InitArgs):
    a: InitNumber = 0.0
    b: Annotated[InitNumber, AfterValidator(_at_least_a)] = 1.0


class XavierArgs(InitArgs):
    gain: Annotated[InitNumber, AfterValidator(_not_negative)] = 1.0


class InitFn(BaseModel):
    """One initialiser: exactly one of its fields is set."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    kaiming_normal: KaimingArgs | None = None
    kaiming_uniform: KaimingArgs | None = None
    normal: NormalArgs | None = None
    trunc_normal: TruncNormalArgs | None = None
    uniform: UniformArgs | None = None
    xavier_normal: XavierArgs | None = None
    xavier_uniform: XavierArgs | None = None
    constant: StrictFloat | StrictInt | ExprStr | None = None

    @field_validator("constant", mode="after")
    @classmethod
    def _constant_in_range(cls, v: Any) -> Any:
        return v if v is None or isinstance(v, str) else _init_number(v)

    def chosen(self) -> tuple[str, Any]:
        """(initialiser name, its arguments)."""
        set_fields = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_fields) != 1:
            raise ValueError("give exactly one initialiser, e.g. {normal: {std: 0.01}}")
        return set_fields[0], getattr(self, set_fields[0])


#: Init rules in a spec, and glob patterns (`paths:`) in all of them together: each rule is
#: tested against every module (in the model and in emitted source), so 3,000 rules on a
#: 9,000-layer spec took 70 s to emit and 300 took 20 s to compile, and one rule of 9,000
#: patterns a minute to emit; real networks write a handful of each.
MAX_INIT_RULES = 32
MAX_INIT_PATHS = 1000


class InitRule(BaseModel):
    """Initialise matching modules; rules apply in module order, later rules override."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    layers: list[str] = Field(default_factory=_no_items, description="layer kinds, e.g. conv2d")
    paths: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=_no_items, description="glob patterns over module paths, e.g. layer*.*.bn2"
    )
    when: Bool | None = None
    weight: InitFn | Literal["zeros", "ones"] | None = None
    bias: InitFn | Literal["zeros", "ones"] | None = None


def _few_init_paths(rules: list[InitRule]) -> list[InitRule]:
    """The rules' `paths:` patterns, counted together, stay within MAX_INIT_PATHS."""
    paths = sum(len(rule.paths) for rule in rules)
    if paths > MAX_INIT_PATHS:
        raise ValueError(
            f"the init rules hold {paths:,} path patterns, past the limit of "
            f"{MAX_INIT_PATHS:,}: a pattern such as `layer*.*.bn2` selects many modules"
        )
    return rules


InitRules = Annotated[list[InitRule], AfterValidator(_few_init_paths)]


class LegacyVersion(BaseModel):
    """An older state_dict format of the network class that a loader still reads, as
    torchvision's MNASNet reads version-1 checkpoints: a state_dict whose root `_version`
    is `version` is loaded into the model built with `params` added (when `when` holds),
    with `warning` shown (docs/spec-language.md#older-state_dict-formats-legacy_versions)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    version: StrictInt = Field(..., ge=1, le=10**6, description="the older `_version`")
    when: Bool | None = Field(
        None, description="an expression over the spec's params: the older format differs"
    )
    params: dict[Name, ParamValue] = Field(
        ..., description="the params that build the older layout (they override the caller's)"
    )
    warning: str = Field("", max_length=2000, description="a UserWarning shown on such a load")


_CACHE: dict[str, Any] = {}


def _invalidate() -> None:
    _CACHE.clear()


on_register(_invalidate)
on_change(_invalidate)


def _tag_of(value: Any) -> str | None:
    t = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(t, str):
        return None
    if t in REGISTRY or t in CONSTRUCTS:
        return t
    return "block"


class _ValidatedBy:
    """A node union member that validates with its layer model's own validator, built the
    first time a spec uses that kind (the layer models are `defer_build`).

    The spec model that validates specs holds each layer kind this way instead of inline:
    generating every kind's core schema was most of `archspec check`'s start-up, and a spec
    uses a few of the ~70 kinds. The union still picks the member by its tag, and pydantic
    merges the errors a member's validator raises into the spec's with their locations
    prefixed, so the errors are those of the inline member (tests/test_schema_lazy.py compares
    them). Not for the JSON Schema: `json_schema` builds the spec model with the layer
    models inline.
    """

    def __init__(self, op: Op) -> None:
        self.op = op

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        op = self.op

        def validate(value: Any) -> Any:
            # read at each use: a built-in kind's model is made the first time (LazySpec)
            return op.spec.model_validate(value)

        return core_schema.no_info_plain_validator_function(validate)


def _layer_members(inline: bool) -> list[Any]:
    """One node union member per layer kind, tagged with its kind: the layer model inline
    (the JSON Schema), or validated by the model's own validator (`_ValidatedBy`)."""
    return [
        Annotated[op.spec, Tag(kind)] if inline else Annotated[Any, _ValidatedBy(op), Tag(kind)]
        for kind, op in sorted(REGISTRY.items())
    ]


#: The error of a node whose `type` is missing or no str (pydantic error type, message).
_NO_TYPE = ("missing_layer_type", "each layer needs a `type` (a layer kind or a block name)")


class _Nodes:
    """The validating spec model's node union, made as a core schema directly: what pydantic
    makes of `_node_union`'s union of tagged members with its `Discriminator` (a tagged
    union of the same members, in the same order), without running its annotation handling
    over the ~90 members, a fifth of building the spec model that every command builds
    (tests/test_schema_lazy.py compares the two)."""

    def __init__(self, compound: dict[str, type[BaseModel]]) -> None:
        self.compound = compound

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        choices: dict[str, Any] = {}
        for kind, op in sorted(REGISTRY.items()):
            choices[kind] = _ValidatedBy(op).__get_pydantic_core_schema__(Any, handler)
        for kind, model in [*self.compound.items(), ("block", BLOCK_CALL.schema)]:
            choices[kind] = handler.generate_schema(model)
        for kind, choice in choices.items():  # as Tag(kind) marks its member
            choice.setdefault("metadata", {})["pydantic_internal_union_tag_key"] = kind
        return core_schema.tagged_union_schema(
            choices, _tag_of, custom_error_type=_NO_TYPE[0], custom_error_message=_NO_TYPE[1]
        )


def _node_union(inline: bool, compound: dict[str, type[BaseModel]], direct: bool = True) -> Any:
    """The union of every layer kind, construct and the block call, chosen by `type`
    (`direct`: the validating union made by `_Nodes`)."""
    if not inline and direct:
        # One definition that every layer list refers to: the union's ~90 members are
        # generated once, not again for the spec, blocks and each construct.
        return TypeAliasType("Node", Annotated[Any, _Nodes(compound)])
    members = _layer_members(inline)
    members += [Annotated[m, Tag(k)] for k, m in compound.items()]
    members.append(Annotated[BLOCK_CALL.schema, Tag("block")])
    node = Annotated[
        _union(members),
        Discriminator(_tag_of, custom_error_type=_NO_TYPE[0], custom_error_message=_NO_TYPE[1]),
    ]
    return node if inline else TypeAliasType("Node", node)


def _build(inline: bool = False, direct: bool = True) -> dict[str, Any]:
    """Build the node union and the spec model from the current registry (`inline`: with
    the layer models inline, for the JSON Schema; `direct`: see `_node_union`)."""

    compound = {kind: c.schema for kind, c in CONSTRUCTS.items()}
    node = _node_union(inline, compound, direct)

    class BlockDef(BaseModel):
        """A reusable, parameterised module; instances are written `{type: BlockName, ...}`."""

        model_config = ConfigDict(extra="forbid")
        params: dict[Name, ParamEntry] = Field(default_factory=dict)
        let: dict[Name, LetValue] = Field(
            default_factory=dict, description="derived values, evaluated in order per instance"
        )
        layers: list[Node]  # noqa: F821
        outputs: BlockOutputs | None = Field(None, description=BLOCK_OUTPUTS_DOC)
        doc: str = Field("", max_length=5000)
        state_dict_version: StrictInt = state_dict_version_field()
        checkpoint: StrictBool = Field(False, description=BLOCK_CHECKPOINT_DOC)
        frozen: StrictBool = Field(False, description=BLOCK_FROZEN_DOC)
        register_order: list[Name] | None = Field(
            None, max_length=256, description=REGISTER_ORDER_DOC
        )
        inputs: list[Name] | None = Field(
            None, min_length=2, max_length=MAX_BLOCK_INPUTS, description=INPUTS_DOC
        )

        @field_validator("inputs", mode="after")
        @classmethod
        def _distinct_inputs(cls, inputs: list[str] | None) -> list[str] | None:
            return check_block_inputs(inputs)

    class Spec(BaseModel):
        """An archspec architecture spec."""

        model_config = ConfigDict(extra="forbid", title="archspec spec")
        archspec: FormatVersion = Field(..., description="spec format version")
        name: Name
        class_name: Name | None = Field(None, description="Python class name (default: from name)")
        description: str = Field("", max_length=10_000)
        input: InputShape | None = Field(None, description=INPUT_DOC)
        input_dtype: InputDtype = Field("float32", description=INPUT_DTYPE_DOC)
        inputs: dict[Name, InputEntry] | None = inputs_field()
        params: dict[Name, ParamEntry] = Field(default_factory=dict)
        let: dict[Name, LetValue] = Field(
            default_factory=dict, description="derived values, evaluated in order after params"
        )
        blocks: dict[Name, BlockDef] = Field(default_factory=dict)
        layers: list[Node]  # noqa: F821
        outputs: OutputList | None = Field(None, description=OUTPUTS_DOC)
        init: InitRules = Field(default_factory=_no_items, max_length=MAX_INIT_RULES)
        state_dict_version: StrictInt = state_dict_version_field()
        register_order: list[Name] | None = Field(None, max_length=256, description=_NET_ORDER)
        legacy_versions: list[LegacyVersion] = Field(default_factory=_no_items, max_length=16)
        shard: list[Name] | None = Field(None, max_length=256, description=SHARD_DOC)
        checkpoint: list[Name] = list_field(CHECKPOINT_DOC)
        frozen: list[FrozenPath] = list_field(FROZEN_DOC)
        tied: dict[TensorPath, TensorPath] = tied_field()

    # Build the validator once, for Spec: the nested models resolve `Node` from the parent
    # namespace given here and are generated inline. Rebuilding each of them too would
    # regenerate the whole recursive union every time (most of `archspec check`'s start-up).
    # A construct's models are module-level classes whose `Node` is this build's union.
    ns = {"Node": node}
    nested = [m for c in CONSTRUCTS.values() for m in _models_of(c.schema)]
    for m in (*nested, BlockDef, Spec):
        m.__pydantic_parent_namespace__ = {**(m.__pydantic_parent_namespace__ or {}), **ns}
    Spec.model_rebuild(_types_namespace=ns)
    return {
        "Spec": Spec,
        "Node": node,
        "BlockDef": BlockDef,
        "BlockCall": BLOCK_CALL.schema,
        "compound": compound,
    }


def _models_of(model: type[BaseModel]) -> list[type[BaseModel]]:
    """`model` and the models its fields hold (a residual's Shortcut), which read `Node`."""
    out = [model]
    for finfo in model.model_fields.values():
        for arg in _type_args(finfo.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in out:
                out.append(arg)
    return out


def _type_args(ann: Any) -> list[Any]:
    import typing

    args = [ann]
    for a in typing.get_args(ann):
        args += _type_args(a)
    return args


def _union(members: list[Any]) -> Any:
    from typing import Union

    return Union[tuple(members)]  # noqa: UP007


def models() -> dict[str, Any]:
    """The current schema models (cached until the registry changes); loads plugins first."""
    load_plugins()
    if not _CACHE:
        _CACHE.update(_build())
    return _CACHE


def spec_model() -> type[BaseModel]:
    """The Pydantic model of a whole spec."""
    return models()["Spec"]


def json_schema() -> dict[str, Any]:
    """JSON Schema of the spec language, for editors (yaml-language-server)."""
    from .compose.schema_keys import add_composition_keys

    models()  # plugins loaded
    full = _build(inline=True)["Spec"]
    schema = add_composition_keys(
        full.model_json_schema(by_alias=True, schema_generator=_open_where_unstated())
    )
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://archspec.dev/schema/archspec-1.json"
    return schema


def _open_where_unstated() -> type[Any]:
    """pydantic's JSON Schema generator, but a field whose type JSON Schema cannot state (a
    plugin's callable, or a type of its own validated by a plain function) is any value in
    the editor schema, as archspec still validates it: it raised PydanticInvalidForJsonSchema,
    an internal error of `archspec schema` and `archspec new` with such a plugin. A default
    JSON cannot hold is left out without pydantic's warning (a line of its source file)."""
    from pydantic.json_schema import GenerateJsonSchema

    class OpenWhereUnstated(GenerateJsonSchema):
        def handle_invalid_for_json_schema(self, schema: Any, error_info: str) -> Any:
            return {}

        def emit_warning(self, kind: Any, detail: str) -> None:
            if kind != "non-serializable-default":
                super().emit_warning(kind, detail)

    return OpenWhereUnstated


def json_schema_text() -> str:
    """The JSON Schema as written to docs/archspec.schema.json and by `archspec schema`."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


__all__ = [
    "FORMAT_VERSION",
    "ParamDecl",
    "InitRule",
    "InitFn",
    "json_schema",
    "json_schema_text",
    "models",
    "check_name",
]
