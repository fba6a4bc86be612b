"""A constant slice in a forward (`out[:, :self.oup]`, `x[:, c:]`, a crop `y[:, :, 1:-1,
1:-1]`, `torch.narrow(x, 1, start, length)`) as a `split` item per sliced dim whose named
piece is the slice.

A spec's `split` needs every piece's size, so the size of the sliced dim must be known:
it is read from the shapes the module's graph computes on the input its instance received
when the model ran once on the example input (recorded lazily, only when a forward slices).
The pieces before and after the slice are named too and read by nothing. Where the sliced
dim's size follows the input's (a crop of a feature map, the tokens after a class token: a
run on an input of doubled sizes tells), sizes would fit the example input only, so the
slice is a `slice` item with the bounds as written, counted from the end where they are,
and the spec fits any size; so is a slice with a step (`x[:, :, ::2, ::2]`, the CIFAR
ResNet's option-A shortcut), whatever its dim. Anything else (a tensor index, a bound
worked out from a size, the batch dim) is refused at the statement (E903) with what to write
instead.
"""

from __future__ import annotations

import operator
from typing import Any

from .calls import is_node
from .trace import Item
from .where import first_line

_HINT = (
    "a spec states an index of ints, slices of constant bounds and steps, `None` and `...` "
    "(`x[:, 0, a:b]`, `x[..., None]`, `out[-1]`, `torch.narrow(x, 1, a, n)`) that slices no "
    "range of the batch dim nor adds a dim before it: a `select` per int, a `split` or "
    "`slice` per sliced dim, an `unsqueeze` per `None`; write the index that way, or as a "
    "module"
)


def input_shapes(
    model: Any,
    example_input: Any,
    changed: set[int] | None = None,
    lists: dict[int, list[Any]] | None = None,
    errors: list[str] | None = None,
    partial: bool = False,
    held: dict[int, tuple[str, Any]] | None = None,
) -> dict[int, tuple[Any, ...]]:
    """id(module) -> (shape, dtype, device, others) of the first tensor each module received
    (`others`: those of the tensors after it, when it was given only tensors) when `model`
    ran once on `example_input` in eval mode; {} when it does not run. `changed` gets the
    ids of the modules that changed the tensor they received in place (its version counter
    moved during their call: `F.relu(x, inplace=True)` on their input, `x += 1`), `lists`
    what each module's first call did to the lists it was given (appends.py), `errors` the
    first line of the model's own error when it does not run; `partial`: what the modules
    called before it failed received, rather than {}; `held` what each module that returned
    tensors in a container returned first: ("a dict", its keys), ("a tuple", its length) or
    ("a list", its length)."""
    import torch

    from .appends import list_changes, watch_lists
    from .modes import eval_forward

    seen: dict[int, tuple[Any, ...]] = {}
    versions: list[tuple[Any, int, Any]] = []

    def record(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        first = args[0] if args and isinstance(args[0], torch.Tensor) else None
        watched = watch_lists(args, kwargs) if id(module) not in seen else []
        versions.append((first, first._version if first is not None else 0, watched))
        if first is not None and id(module) not in seen:
            # and the others, when every argument is a tensor (a U-Net's Up(x1, x2))
            more = args[1:] if all(isinstance(a, torch.Tensor) for a in args) else ()
            others = tuple((tuple(t.shape), t.dtype, t.device) for t in more)
            seen[id(module)] = (tuple(first.shape), first.dtype, first.device, others)
        items = _tensor_items(args[0]) if first is None and args else None
        if items:  # a list or dict of tensors (a YOLO head's): given_input reads them apart
            listed = tuple((tuple(t.shape), t.dtype, t.device) for t in items)
            seen.setdefault(("items", id(module)), (*listed[0], listed[1:]))  # type: ignore[index]

    def compare(module: Any, args: Any, kwargs: Any, output: Any) -> None:
        first, version, watched = versions.pop()
        if first is not None and first._version != version and changed is not None:
            changed.add(id(module))
        if watched and lists is not None:
            lists.setdefault(id(module), list_changes(watched))
        if held is not None and (kind := _container_of_tensors(output)) is not None:
            held.setdefault(id(module), kind)

    hooks = [m.register_forward_pre_hook(record, with_kwargs=True) for m in model.modules()]
    hooks += [m.register_forward_hook(compare, with_kwargs=True) for m in model.modules()]
    try:
        eval_forward(model, example_input)
    except Exception as exc:  # the import reports a model that does not run on its own
        if errors is not None:
            errors.append(first_line(exc)[:300])
        return seen if partial else {}
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def _tensor_items(value: Any) -> list[Any] | None:
    """The tensors of a list, tuple or dict holding tensors only, in order; else None."""
    import torch

    values = list(value.values()) if isinstance(value, dict) else value
    if type(values) not in (tuple, list) or not values:
        return None
    return list(values) if all(isinstance(v, torch.Tensor) for v in values) else None


def _container_of_tensors(value: Any) -> tuple[str, Any] | None:
    """("a dict", its keys), ("a tuple", its length) or ("a list", its length) for such a
    container holding tensors only (a module's output: ranks.opened), else None."""
    import torch

    values = list(value.values()) if isinstance(value, dict) else value
    if type(values) not in (tuple, list) or not values:
        return None
    if not all(isinstance(v, torch.Tensor) for v in values):
        return None
    if isinstance(value, dict):
        return ("a dict", list(value)) if all(isinstance(k, str) for k in value) else None
    return f"a {type(value).__name__}", len(value)


def given_input(problems: Any, module: Any, other: bool | str = False) -> tuple[Any, ...] | None:
    """(shape, dtype, device, others) of the tensor `module` received when the model ran on
    the example input (the model runs once, when first asked), `others` those of the tensors
    after it when it received only tensors; None when it received none.
    `other`: on the example input with its sizes (dims after the channels) doubled, which
    tells the sizes that follow the input's from those that do not; "batch": with its batch
    doubled too, which tells the batch from a number wherever a step moved it; "reached":
    as `True`, but what the modules called before the model failed received, when it fails."""
    if problems.input_shapes is None:
        model, example = problems.example or (None, None)
        errors: list[str] = []
        held = problems.__dict__.setdefault("held", {})  # ranks.opened
        problems.input_shapes = (
            {}
            if model is None
            else input_shapes(
                model, example, problems.changes_input, problems.list_changes, errors, held=held
            )
        )
        if errors:  # why the steps that need the run's sizes cannot have them (swaps.py)
            from . import _shape_text

            problems.run_error = (_shape_text(example), errors[0])
    if not other:
        return _received(problems, problems.input_shapes, module)
    runs = problems.__dict__.setdefault("other_runs", {})
    if other not in runs:
        model, example = problems.example or (None, None)
        bigger = _doubled(example, other == "batch") if model is not None else None
        # "reached": the sizes reached before the model fails (ViT's table, shorter than
        # the tokens of a doubled image, is added to them after they are made: catsizes.py)
        reached, errors = other == "reached", []
        runs[other] = (
            {} if bigger is None else input_shapes(model, bigger, errors=errors, partial=reached)
        )
        tokens = _doubled(example, other == "batch", tokens=True) if errors else None
        if tokens is not None:  # (N, L, D) tokens: L follows the input, D does not (minGPT)
            again: list[str] = []
            found = input_shapes(model, tokens, errors=again, partial=reached)
            runs[other] = runs[other] if again else found
            errors, bigger = again, tokens
        if errors and bigger is not None and other is True:  # why sizes stay unknown
            from . import _shape_text

            problems.__dict__["other_error"] = (_shape_text(bigger), errors[0])
    return _received(problems, runs[other], module)


def _received(problems: Any, shapes: dict[Any, Any], module: Any) -> tuple[Any, ...] | None:
    """What `module` received in a run's `shapes`: its first tensor and those after it, or,
    for a module traced with the list (or dict) it is given as an input per item
    (`Problems.passed`), that container's tensors."""
    found = shapes.get(id(module))
    if found is None and problems.passed.get(id(module)):
        found = shapes.get(("items", id(module)))
    return found


def doubled_note(problems: Any) -> tuple[str, str]:
    """What a message about a size not known to be one number for every input adds, and its
    hint's start, when the run on the example input's sizes doubled (which tells it) failed:
    GPT's 11 tokens doubled past its 16 positions. ("", "") otherwise."""
    other = problems.__dict__.get("other_error")
    if other is None:
        return "", ""
    return (
        f" (whether it is one number for every input is told by a run on the example "
        f"input's sizes doubled, ({other[0]}), where the model does not run: {other[1]})",
        "give an example input half the largest the model takes (`--input`); ",
    )


def run_failed(reader: Any, x: Any) -> tuple[str, str] | None:
    """(the words, the hint) saying why the sizes of the fx node `x` are unknown where the
    model does not run on the example input (CRNN's `assert h == 1` on an image of another
    height): a step whose reading needs those sizes is refused for that, not for its form.
    None when they are known, or unknown for another reason."""
    if not is_node(x) or x in _node_shapes(reader) or reader.problems.run_error is None:
        return None
    size, why = reader.problems.run_error
    return (
        f": the model's run on the example input tells its sizes, and the model does not run "
        f"on ({size}): {why}",
        "give an example input of a size the model takes (`--input`)",
    )


def _doubled(example: Any, batch: bool = False, tokens: bool = False) -> Any:
    """The example input with every dim after the channels twice as long (and its batch,
    with `batch`); None when it has none (an (N, F) input: no size to follow), but for
    (N, L) token ids (int64), whose length L is doubled. `tokens`: every dim between the
    batch and the last instead, as (N, L, D) tokens are sized, where the model takes no
    input of doubled last dims."""
    import torch

    from .modes import SeveralInputs

    if isinstance(example, SeveralInputs):  # each input's sizes, the batch one for all
        each = [_doubled(t, batch, tokens) for t in example]
        if all(d is None for d in each):
            return None
        out = []
        for t, d in zip(example, each):
            if d is None and batch:  # no size to follow, but its batch is the others'
                d = torch.zeros((2 * t.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device)
            out.append(t if d is None else d)
        return SeveralInputs(out)
    if example.dim() == 2 and example.dtype == torch.int64:  # token ids: their length
        n, length = example.shape
        return torch.zeros((2 * n if batch else n, 2 * length), dtype=example.dtype)
    if example.dim() < 3:
        return None
    last = example.dim() - 1
    kept = (lambda i: i == last) if tokens else (lambda i: 0 < i < 2)
    shape = [d if kept(i) or (i == 0 and not batch) else 2 * d for i, d in enumerate(example.shape)]
    return torch.zeros(shape, dtype=example.dtype, device=example.device)


def _node_shapes(reader: Any, other: bool | str = False) -> dict[Any, tuple[int, ...]]:
    """The shape of every tensor node of the reader's graph, run on its module's input
    (`other`: the input it gets from an example input of doubled sizes, given_input)."""
    import torch
    import torch.fx as fx
    from torch.fx.immutable_collections import immutable_dict, immutable_list

    from .modes import kept_buffers

    cache = reader.__dict__.setdefault("slice_shapes", {})
    if other in cache:
        return cache[other]
    shapes: dict[Any, tuple[int, ...]] = {}
    cache[other] = shapes
    given = given_input(reader.problems, reader.module, other)
    if given is None:
        return shapes

    lengths = reader.__dict__.setdefault("tuple_lengths", {})  # a call returning several
    plain = {immutable_list: list, immutable_dict: dict}  # fx's, which refuse changes

    made = reader.problems.__dict__.get("made", {}).get(id(reader.module), {})

    class Recorder(fx.Interpreter):
        def get_attr(self, target: Any, args: Any, kwargs: Any) -> Any:
            if target in made:  # a tensor the forward made, which fx held (state.py)
                return made[target]
            return super().get_attr(target, args, kwargs)

        def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
            # a list or dict of its own, as forward gives it: fx holds immutable ones, and a
            # child may change what it is given (YOLOv5's Detect, `x[i] = self.m[i](x[i])`)
            args = tuple(plain[type(a)](a) if type(a) in plain else a for a in args)
            return super().call_module(target, args, kwargs)

        def run_node(self, n: Any) -> Any:
            value = super().run_node(n)
            if isinstance(value, torch.Tensor):
                shapes[n] = tuple(value.shape)
            elif type(value) in (tuple, list) and n.op == "call_module":
                if all(isinstance(v, torch.Tensor) for v in value):  # its maps in a list too
                    lengths[n] = len(value)
                else:  # what it holds instead, for the refusal to say (several.uncounted)
                    held = reader.__dict__.setdefault("tuple_kinds", {})
                    held[n] = [type(v).__name__ for v in value]
            elif (  # a child returning a dict of its maps by key (IntermediateLayerGetter)
                isinstance(value, dict)
                and n.op == "call_module"
                and all(
                    isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
                )
            ):
                lengths[n] = list(value)
            return value

    try:
        given_all = (given[:3], *given[3])
        places = [n for n in reader.graph.nodes if n.op == "placeholder"]
        if len(places) > 1 and len(given_all) == len(places):
            args = [torch.zeros(s, dtype=t, device=d) for s, t, d in given_all]
        else:
            args = [torch.zeros(given[0], dtype=given[1], device=given[2])]
        with torch.no_grad(), kept_buffers(reader.module):  # a counter's `add_` undone
            Recorder(reader.module, graph=reader.graph).run(*args)
    except Exception:  # a graph that does not run as traced: its sizes stay unknown
        pass
    return shapes


def _bounds(node: Any) -> tuple[Any, Any, Any] | str:
    """(source, dim, slice) of a getitem or narrow node that slices, or why it is refused,
    or "" when the node is no slice of a tensor."""
    import torch

    args, kwargs = node.args, node.kwargs
    if node.target is torch.narrow or (node.op == "call_method" and node.target == "narrow"):
        names = ("input", "dim", "start", "length")
        given = dict(zip(names, args, strict=False)) | dict(kwargs)
        dim, start, length = given.get("dim"), given.get("start"), given.get("length")
        if not all(type(v) is int for v in (dim, start, length)):
            return "narrows by a bound that is not a constant (one worked out from a size?)"
        return given.get("input"), dim, ("narrow", start, length)
    if node.target is not operator.getitem or len(args) != 2 or not is_node(args[0]):
        return ""
    index = args[1] if isinstance(args[1], tuple) else (args[1],)
    if not any(isinstance(i, slice) or i is Ellipsis or is_node(i) for i in index):
        return ""
    return args[0], None, index


Dims = tuple[list[tuple[int, slice]], list[tuple[int, int]], list[int]]


def _fixed_bounds(reader: Any, index: tuple[Any, ...]) -> tuple[Any, ...]:
    """`index` with each slice bound that is a size no input changes, or arithmetic on such
    sizes, as its number (`y[:, : y.shape[1] // 2]`, half a conv's channels: `y[:, :4]`);
    a bound that follows the input stays a node (refused as such)."""
    from .regroup import fixed_value

    def fixed(v: Any) -> Any:
        number = fixed_value(reader, v) if is_node(v) else None
        return number if type(number) is int else v

    return tuple(
        slice(fixed(i.start), fixed(i.stop), fixed(i.step)) if isinstance(i, slice) else i
        for i in index
    )


def _slice_dims(index: tuple[Any, ...], rank: int) -> Dims | str:
    """What a getitem index does to a tensor of `rank` dims: the dims it slices, each with
    its slice ([] when it slices nothing), those it takes one position of (`x[:, 0, 1:]`),
    each with its int, and where in the result it adds a dim (`None`); or why it is refused."""
    if any(is_node(i) for i in index):
        return "indexes with a tensor or a size"
    if index.count(Ellipsis) > 1:
        return "indexes with several `...`"
    kinds = slice | int | None
    if any(not isinstance(i, kinds) or isinstance(i, bool) for i in index if i is not ...):
        return "indexes with other than ints, slices, `None` and `...`"
    if index.count(Ellipsis) == 1:
        at = index.index(Ellipsis)
        fill = (slice(None),) * (rank - sum(i is not None for i in index) + 1)
        index = index[:at] + fill + index[at + 1 :]
    cut: list[tuple[int, slice]] = []
    picks: list[tuple[int, int]] = []
    news: list[int] = []
    d = o = 0  # the dim of the tensor indexed, and of the result
    for i in index:
        if i is None:
            news.append(o)
        elif type(i) is int:
            picks.append((d, i))
        elif i != slice(None):
            cut.append((d, i))
        d, o = d + (i is not None), o + (type(i) is not int)
    if any(is_node(v) for _, s in cut for v in (s.start, s.stop, s.step)):
        return "slices with a bound worked out from a size of a tensor"
    if any(type(s.step) is int and s.step < 1 for _, s in cut):
        return "slices with a step below 1"
    if 0 in news:  # a position of dim 0 is a `select` (`out[-1, :, :H]`, sequence first)
        return "adds a dim before the batch dim"
    return cut, picks, news


def read_slice(reader: Any, node: Any) -> bool:
    """A constant slice of one dim or more (a crop, `y[:, :, 1:-1, 1:-1]`) as a `slice` or a
    `split` item per dim; True if the node was handled (read, or refused at its statement).
    `reader` is trace._GraphReader."""
    found = _bounds(node)
    if found == "" or (not isinstance(found, str) and found[0] not in reader.names):
        return False  # no slice, or of what is no tensor node read so far (refused before)
    what = "torch.narrow" if node.target != operator.getitem else "a tensor index `x[...]`"
    if isinstance(found, str):
        reader.fail("E903", f"{what} {found}", node, _HINT)
        return True
    src, dim, index = found
    shape = _node_shapes(reader).get(src)
    if shape is None:
        reader.fail("E903", f"{what}: the size of the tensor it slices is not known", node, _HINT)
        return True
    picks: list[tuple[int, int]] = []
    news: list[int] = []
    if dim is None:
        if _cut_to_size(reader, node, src, _fixed_bounds(reader, index), len(shape)):
            return True
        if _own_tensor_unsqueezed(reader, node, src, index):
            return True
        found_dims = _slice_dims(_fixed_bounds(reader, index), len(shape))
        if isinstance(found_dims, str):
            reader.fail("E903", f"{what} {found_dims}", node, _HINT)
            return True
        cuts, picks, news = found_dims
        bounds = [(d, *s.indices(shape[d])[:2]) for d, s in cuts]
        written = {d: (s.start or 0, s.stop, s.step or 1) for d, s in cuts}
    else:
        start = index[1] + shape[dim % len(shape)] if index[1] < 0 else index[1]
        bounds = [(dim % len(shape), start, start + index[2])]
        end = index[1] + index[2]
        written = {dim % len(shape): (index[1], None if index[1] < 0 <= end else end, 1)}
    for d, start, stop in bounds:
        if d == 0 or stop <= start or stop > shape[d] or start < 0:
            why = "slices the batch dim" if d == 0 else f"slices nothing of dim {d}"
            reader.fail("E903", f"{what} {why}", node, _HINT)
            return True
    inputs = reader._inputs((src,))
    if inputs is None:
        return True
    piece = inputs[0]  # a slice of a whole dim: the tensor itself
    if not bounds and not picks and not news:  # `x[:, :]`
        reader.names[node] = piece
        return True
    # a dim whose size follows the input's (a crop, an image's tokens) keeps the bounds as
    # written, counted from its end where they are, so the spec fits any size; a dim of a
    # fixed size (channels) is a split, its pieces' sizes stated
    # a step, which no split states, too
    sized = {d for d, _, _ in bounds if written[d][2] != 1 or _follows_input(reader, src, d)}
    for d, start, stop in bounds:
        if d in sized:
            piece = _sliced(reader, node, piece, d, *written[d])
        else:
            piece = _split(reader, node, piece, d, start, stop, shape[d])
    for d, at in sorted(picks, reverse=True):  # the last first: the dims before stay put
        piece = _step(reader, node, piece, "select", {"dim": d, "index": at})
    for d in news:  # `None`s, in the order of the dims of the result
        piece = _step(reader, node, piece, "unsqueeze", {"dim": d})
    reader.names[node] = piece
    if not picks and not news and any(u.op == "output" for u in node.users):
        name = reader._fresh(node.name)  # a block returns its last node, not a piece before
        out = Item(name, "identity", {}, {}, (reader.names[node],), is_module=False)
        reader._add(node, out, name)
    return True


def _own_tensor_unsqueezed(reader: Any, node: Any, src: Any, index: tuple[Any, ...]) -> bool:
    """`self.gamma[None, :, None, None]`: a module's own parameter or buffer, which has no
    batch dim, given dims of size 1 (`None`s, every dim whole) is a `reshape` to the shape
    it then has, as `self.gamma.view(1, -1, 1, 1)` is; False for any other index."""
    if any(i is not None and i != slice(None) and i is not Ellipsis for i in index):
        return False
    by_name = {item.name: item for item in reader.items if item.name is not None}
    own = by_name.get(reader.names.get(src))
    out = _node_shapes(reader).get(node)
    if own is None or own.kind not in ("parameter", "buffer") or out is None:
        return False
    reader.names[node] = _step(reader, node, reader.names[src], "reshape", {"shape": list(out)})
    return True


def _cut_to_size(reader: Any, node: Any, src: Any, index: tuple[Any, ...], rank: int) -> bool:
    """`pe[:, : x.size(1)]` (a positional table cut to the tokens' length; `pe[: x.size(0)]`
    for tokens sequence first; `pos[: idx.size(1)]`, another dim's size, with `like_dim`;
    minGPT's causal mask `self.bias[:, :, :T, :T]`, two dims; a window attention's padded
    map cropped back, `x[:, :H, :W, :]`): each dim cut from 0 to a size of another tensor
    read so far, every other dim whole, is a `slice_as` reading both, one per dim in order;
    False for any other index."""
    cuts = [(d, i) for d, i in enumerate(index) if i != slice(None)]
    if len(index) > rank or not cuts or not all(isinstance(i, slice) for _, i in cuts):
        return False
    likes = [_size_of(reader, node, d, cut) for d, cut in cuts]
    if any(like is None for like in likes):
        return False
    piece = reader._inputs((src,))
    for (d, _), (like, fields) in zip(cuts, likes, strict=True):  # type: ignore[misc]
        inputs = reader._inputs((like,))
        if inputs is None or piece is None:
            return True
        piece = (_step(reader, node, (piece[0], inputs[0]), "slice_as", {"dim": d, **fields}),)
    reader.names[node] = piece[0]
    return True


def _size_of(reader: Any, node: Any, d: int, cut: slice) -> tuple[Any, dict[str, Any]] | None:
    """The tensor a cut `[:n]` of dim `d` takes its size from (`n` a size of it read in
    forward), and the `slice_as` fields that say which of its dims; None if none."""
    if cut.start not in (None, 0) or cut.step not in (None, 1) or not is_node(cut.stop):
        return None
    sym, like, fields = reader.syms.get(cut.stop), None, {}
    if getattr(sym, "what", None) == "dim" and type(sym.index) is int:
        shapes = _node_shapes(reader)
        size = len(shapes[sym.src]) if sym.src in shapes else None
        like = sym.src if size is not None else None
        fields = {} if like is None or sym.index % size == d else {"like_dim": sym.index % size}
    if like is None:  # ViT's `pe[:, :(n + 1)]` added to the tokens and a class token
        from .catsizes import joined_length

        like = joined_length(reader, node, cut.stop, d)
    if like is None or like not in reader.names:
        return None
    return like, fields


def _split(reader: Any, node: Any, src: str, dim: int, start: int, stop: int, size: int) -> str:
    """The `split` of `src` whose middle piece is `start:stop` of `dim` (of `size`): that
    piece's name (`src` itself when the slice is the whole dim)."""
    sizes = [s for s in (start, stop - start, size - stop) if s]
    if len(sizes) == 1:
        return src
    names = [reader._fresh(f"{node.name}_{i}") for i in range(len(sizes))]
    reader.used.update(names)
    fields = {"dim": dim, "names": names, "split_size": sizes}
    item = Item(None, "split", dict(fields), dict(fields), (src,), is_module=False)
    reader.modes.mark(item, node)
    reader.items.append(item)
    return names[1 if start else 0]


def _sliced(
    reader: Any, node: Any, src: str, dim: int, start: int, end: int | None, step: int
) -> str:
    """The `slice` of `src` from `start` to `end` of `dim` by `step`, as the forward writes
    them: its name."""
    fields: dict[str, Any] = {"dim": dim}
    if start:
        fields["start"] = start
    if end is not None:
        fields["end"] = end
    if step != 1:
        fields["step"] = step
    name = reader._fresh(node.name)
    full = {"dim": dim, "start": 0, "end": None, "step": 1, **fields}
    item = Item(name, "slice", dict(fields), full, (src,), is_module=False)
    reader.modes.mark(item, node)
    reader.used.add(name)
    reader.items.append(item)
    return name


def _step(
    reader: Any, node: Any, src: str | tuple[str, ...], kind: str, fields: dict[str, Any]
) -> str:
    """A `select` of one position of a dim of `src` (`x[:, 0]`), which drops the dim, an
    `unsqueeze` (`x[:, None]`), or a `slice_as` of the two tensors `src`: its name."""
    name = reader._fresh(node.name)
    srcs = src if isinstance(src, tuple) else (src,)
    item = Item(name, kind, dict(fields), dict(fields), srcs, is_module=False)
    reader.modes.mark(item, node)
    reader.used.add(name)
    reader.items.append(item)
    return name


def _follows_input(reader: Any, src: Any, dim: int) -> bool:
    """Whether the sliced dim's size follows the input's (a spatial crop, the tokens of an
    image), so its slice keeps its bounds as written rather than the example's sizes. Known
    from a run on an input of doubled sizes; where that run is refused, dims after the
    channels are taken to follow."""
    other = _node_shapes(reader, other=True).get(src)
    if other is None:
        return dim >= 2
    return other[dim] != _node_shapes(reader)[src][dim]
