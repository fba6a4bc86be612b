"""What a layer or module may be called: the one rule for names in specs (stdlib only).

Names become Python attributes, state_dict keys and identifiers in emitted code, so they
are ASCII identifiers that no keyword, dunder or nn.Module attribute takes.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterable

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: `$` would take "name\n"

#: Every attribute an nn.Module (or the nn.Sequential that holds a stage) has, as of torch
#: 2.13 plus names older releases had, and names the generated code uses itself (`self`,
#: `input`, ...). A child module may not take one: `add_module` refuses it, or the child would
#: hide the method. Kept here, without importing torch, so that `archspec check` can refuse
#: such names; tests/test_trust_values.py checks that the list covers `dir(nn.Module())` and
#: `dir(nn.Sequential())` of the installed torch.
RESERVED_NAMES = frozenset(
    [
        "False",
        "None",
        "T_destination",
        "True",
        "add_module",
        "append",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extend",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "input",
        "insert",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "pop",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "self",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "smart_apply",
        "state_dict",
        "super",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    ]
)


#: Names emitted code itself relies on at module level or in every function (with the
#: helper a file defines when its expressions call it: backends/pyvalues.HELPERS).
MODULE_NAMES = frozenset(
    {"torch", "nn", "F", "fnmatch", "math", "OrderedDict", "self"}
    | {"ceil", "floor", "make_divisible"}  # what expressions call: math's, and the helper
)
BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))


def is_free_name(name: str) -> bool:
    """True when `name` can be bound in emitted code without shadowing anything it uses."""
    return (
        bool(NAME_RE.match(name))
        and not keyword.iskeyword(name)
        and not keyword.issoftkeyword(name)
        and name not in BUILTIN_NAMES
        and name not in MODULE_NAMES
        and not name.startswith("__")
    )


def check_name(name: str) -> str:
    """Validate a node or module name: an identifier that is safe as an attribute and in code."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        if isinstance(name, str) and name.isidentifier():
            raise ValueError(
                f"{name!r} is not an ASCII name: names become Python attributes, state_dict "
                "keys and emitted identifiers, so they are limited to A-Z, a-z, 0-9 and _"
            )
        raise ValueError(
            f"{name!r} is not a valid name: use ASCII letters, digits and _, "
            "not starting with a digit"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ValueError(f"{name!r} is a Python keyword and cannot be a name")
    if name.startswith("__") or name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is reserved (it would shadow an nn.Module attribute)")
    if len(name) > MAX_NAME_LEN:
        raise ValueError(f"name {name[:20]!r}... is longer than {MAX_NAME_LEN} characters")
    return name


#: The longest node or module name.
MAX_NAME_LEN = 64


#: The longest module key (`key:`), like a name's bound.
MAX_KEY_LEN = 64
#: Characters a key may not hold besides whitespace and non-ASCII: `.` separates state_dict
#: keys (torch's add_module refuses it); quotes and the backslash are refused so that a key
#: can be written between quotes by any code generator (torch.fx writes a non-identifier
#: child as `getattr(self, "key")` without escaping it), whatever escaping archspec does.
KEY_FORBIDDEN = frozenset(".\"'\\")


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a module's state_dict key (None when it can).

    A key is any printable ASCII text without spaces, `.`, quotes or `\\`, at most
    MAX_KEY_LEN characters (torchvision's RegNet registers `block1-0` with add_module); it
    must not start with `_` or be an nn.Module attribute, as a name must not.
    """
    if not key:
        return "a key cannot be empty"
    if len(key) > MAX_KEY_LEN:
        return f"key {key[:20]!r}... is longer than {MAX_KEY_LEN} characters"
    bad = sorted({c for c in key if c in KEY_FORBIDDEN or not ("!" <= c <= "~")})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5])
        return (
            f"key {key[:40]!r} holds {shown}: a key is printable ASCII without spaces, "
            "`.` (it separates state_dict keys), quotes or backslashes"
        )
    if key.startswith("_"):
        return f"key `{key}` starts with `_`: nn.Module keeps its own state in such attributes"
    if key in RESERVED_NAMES and key not in CODE_ONLY_NAMES:
        return reserved_key_problem(key)
    return None


def reserved_key_problem(key: str) -> str:
    """Why a key RESERVED_NAMES holds is no spec's: the input's name, a name of the code
    archspec writes, or an nn.Module attribute (torch registers the first two as keys)."""
    if key == INPUT_NAME:
        return (
            f"key `{key}` is the name a spec reads its module's input by (`from: {key}`), "
            "which no child of it can take"
        )
    if key in CODE_NAMES:
        return f"key `{key}` is a name the code archspec writes uses itself"
    return f"key `{key}` is an attribute of nn.Module (torch would refuse it)"


#: The name a spec's nodes read their module's (one) input by.
INPUT_NAME = "input"
#: Names RESERVED_NAMES holds that no nn.Module has: the emitted code's own words.
CODE_NAMES = frozenset({"False", "None", "True", "input", "self", "super"})


#: Names RESERVED_NAMES holds for the code archspec writes alone, which no nn.Module has:
#: a module registered under one is torch's (HuggingFace's BERT keeps its attention as
#: `attention.self`), and a spec's `key:` may state it, as the emitted `self.self` does.
CODE_ONLY_NAMES = frozenset({"self"})


#: What nn.ModuleDict has beyond nn.Module: a named container's entry may not take one
#: (`add_module` refuses a key that is an attribute of the container).
MODULE_DICT_NAMES = frozenset({"clear", "items", "keys", "pop", "update", "values"})
#: the methods of an nn.ParameterDict beyond nn.ModuleDict's, which no entry may be keyed
PARAMETER_DICT_NAMES = MODULE_DICT_NAMES | {"copy", "fromkeys", "get", "popitem", "setdefault"}


def is_index(part: str) -> bool:
    """True for a part of a key path that is an entry's index (`0`, `12`, no leading zeros):
    its container is an nn.ModuleList."""
    return part.isdecimal() and part.isascii() and part == str(int(part))


def key_path(key: str) -> tuple[str, ...]:
    """The parts of a module key, `fuse_layers.0.1` -> ("fuse_layers", "0", "1"): the node
    is entry `1` of the container `fuse_layers.0` of its module (one part: a plain key)."""
    return tuple(key.split("."))


def spec_key_problem(key: str) -> str | None:
    """Why `key` cannot be a spec's `key:` (None when it can): key_problem's rules, or for a
    dotted key a path of containers of the module (`convs.0`: torch's `self.convs[0]`,
    timm's Res2Net; `fuse_layers.0.1`: HRNet's ModuleList of ModuleLists): each part a key,
    an index without leading zeros (its container an nn.ModuleList) or a name (an
    nn.ModuleDict's entry, never one of its methods); the first part is never an index."""
    if "." not in key:
        return key_problem(key)
    if len(key) > MAX_KEY_LEN:
        return f"key {key[:20]!r}... is longer than {MAX_KEY_LEN} characters"
    parts = key_path(key)
    for k, part in enumerate(parts):
        where = f"in key {key[:40]!r}, part {k + 1} ({part[:20]!r})"
        if not part:
            return f"in key {key[:40]!r}: an empty part (`..`, or `.` at an end)"
        if is_index(part):
            if k == 0:
                return f"{where} is an index: a path starts at a child of the module, a key"
            continue
        if part.isdecimal():
            return f"{where} is an index with leading zeros: write `{int(part)}`"
        if (problem := key_problem(part)) is not None:
            return f"{where}: {problem}"
        if k > 0 and part in MODULE_DICT_NAMES:
            return f"{where} is a method of nn.ModuleDict, which holds named entries"
    return None


def literal_key_problem(key: str) -> str | None:
    """Why `key`, as written, cannot be a spec's `key:` (None when it can): key_problem's
    rules, and no `{` or `}`, since a spec reads a key's `{...}` parts as expressions (an
    importer writes a model's registered names, which are never templates)."""
    if "{" in key or "}" in key:
        return "a spec reads `{...}` in a key as an expression"
    return key_problem(key)


def kind_spelled_like(name: str, kinds: Iterable[str]) -> str | None:
    """The layer kind `name` spells another way, as PyTorch's class names do: `ReLU` is
    `relu`, `AdaptiveAvgPool2d` is `adaptive_avgpool2d` (case and `_` aside), and a class
    without its dims (`BatchNorm`, `MaxPool`, `Conv`) the 2-d kind, what images use. None
    when there is no such kind: a plain "did you mean" then ranks by similarity, which
    would suggest `elu` for `Relu` and `batchnorm3d` for `BatchNorm`."""
    plain = {k.replace("_", "").lower(): k for k in kinds}
    key = name.replace("_", "").lower()
    return plain.get(key) or plain.get(key + "2d")


#: PyTorch's names for what a spec writes with another kind, with how to write it (E205's
#: hint): a port reads `x.transpose(1, 2)` or `x.view(...)` in a forward and writes its name,
#: where a plain "did you mean" offers `conv_transpose3d` or `reshape`'s neighbours by spelling.
_PERMUTE = (
    "permute",
    "a swap of two dims is a `permute` listing every dim in its new place: "
    "`x.transpose(1, 2)` of (N, C, L) is `{type: permute, dims: [0, 2, 1]}`",
)
_MATMUL = ("matmul", "`{type: matmul, from: [a, b]}` is `a @ b` over the last two dims")
TORCH_SPELLINGS: dict[str, tuple[str, str]] = {
    "transpose": _PERMUTE,
    "swapaxes": _PERMUTE,
    "swapdims": _PERMUTE,
    "view": (
        "reshape",
        "`x.view(...)` is a `reshape` (`shape:` with `0` keeping a dim and one `-1`), or an "
        "`unflatten` or `flatten`, which keep the other dims' sizes open",
    ),
    "cat": ("concat", "`torch.cat([a, b], 1)` is `{type: concat, from: [a, b], dim: 1}`"),
    "concatenate": ("concat", "`torch.cat([a, b], 1)` is `{type: concat, from: [a, b], dim: 1}`"),
    "unbind": (
        "chunk",
        "`x.unbind(d)` is a `chunk` of dim `d` into as many named pieces as it has entries, "
        "each then a `squeeze` of that dim",
    ),
    "bmm": _MATMUL,
    "mm": _MATMUL,
    "multiply": ("mul", "`a * b` is `{type: mul, from: [a, b]}`"),
    "subtract": ("sub", "`a - b` is `{type: sub, from: [a, b]}`"),
    "divide": ("div", "`a / b` is `{type: div, from: [a, b]}`"),
    "pad": (
        "zero_pad2d",
        "`F.pad` is a padding kind (`zero_pad2d`, `constant_pad2d`, `reflection_pad2d`, ... "
        "with `padding: [left, right, top, bottom]`), or `pad_as` to another input's size",
    ),
}


def torch_spelling_hint(name: str) -> str | None:
    """E205's hint for a PyTorch name of something a spec writes with another kind
    (`transpose` is a `permute`); None for other names."""
    entry = TORCH_SPELLINGS.get(name.lower())
    return None if entry is None else f"PyTorch's `{name}` is `{entry[0]}` here: {entry[1]}"
