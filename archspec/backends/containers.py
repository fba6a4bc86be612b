"""The containers of dotted keys, as compile's build makes them: a module keyed
`fuse_layers.0.1` in the nn.ModuleLists and nn.ModuleDicts its path names, a parameter keyed
`kernels.0` or `scales.cls` in an nn.ParameterList or nn.ParameterDict (lowering/keys.py
checks the keys; the emitter writes the same containers, `emit/ctor.Containers`)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..ops.names import is_index


def add_child(parent: nn.Module, name: str, child: nn.Module) -> None:
    """Register `child` as `name`; a dotted key (`fuse_layers.0.1`, checked by lowering) in
    the containers its path names, each made with its first entry: an nn.ModuleList where
    the next part is an index (an index skipped holds an nn.Identity, as HRNet's
    `fuse_layers[i][i]`), an nn.ModuleDict where it is a name."""
    *path, last = name.split(".")
    holder = parent
    for k, part in enumerate(path):
        inner = holder._modules.get(part)
        if inner is None:
            inner = nn.ModuleList() if is_index((path + [last])[k + 1]) else nn.ModuleDict()
            put_entry(holder, part, inner)
        holder = inner
    put_entry(holder, last, child)


def put_entry(holder: nn.Module, part: str, child: nn.Module) -> None:
    """`child` as entry `part` of `holder`: a list's next index (after an nn.Identity for
    each index skipped), else the key `part`."""
    if isinstance(holder, nn.ModuleList):
        while len(holder) < int(part):
            holder.append(nn.Identity())
        holder.append(child)
    else:
        holder.add_module(part, child)


def add_tensor(parent: nn.Module, name: str, t: torch.Tensor, persistent: bool | None) -> None:
    """Register `t` as parameter `name` (a buffer when `persistent` is not None); a dotted
    key (`kernels.0`, `scales.cls`, checked by lowering) in the nn.ParameterList or
    nn.ParameterDict its last container is, made with its first entry, the containers
    before it as `add_child` makes them."""
    if persistent is not None:
        parent.register_buffer(name, t, persistent=persistent)
        return
    *path, last = name.split(".")
    if not path:
        parent.register_parameter(name, t)
        return
    holder = parent
    for k, part in enumerate(path):
        inner = holder._modules.get(part)
        if inner is None:
            if k == len(path) - 1:
                inner = nn.ParameterList() if is_index(last) else nn.ParameterDict()
            else:
                inner = nn.ModuleList() if is_index(path[k + 1]) else nn.ModuleDict()
            put_entry(holder, part, inner)
        holder = inner
    if isinstance(holder, nn.ParameterDict):
        holder[last] = t
    elif isinstance(holder, nn.ParameterList) and int(last) == len(holder):
        holder.append(t)
    else:  # fx's stand-in root, which a program (eval's, training's) may give an entry alone
        holder.register_parameter(last, t)
