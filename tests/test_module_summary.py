"""`archspec.summary(model, input_size=...)` of a plain nn.Module: the figures of its spec
twin, the trainable split, memory, folding, errors, and its renderings (print, HTML)."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import archspec
from archspec.modsummary import ModuleSummaryError
from archspec.summaries import Summary
from archspec.summary_text import summary_text

ROOT = Path(__file__).resolve().parent.parent


class LeNet5(nn.Module):
    """specs/lenet5.yaml written by hand, with its names."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                c1=nn.Conv2d(1, 6, 5),
                act1=nn.Tanh(),
                s2=nn.AvgPool2d(2),
                c3=nn.Conv2d(6, 16, 5),
                act3=nn.Tanh(),
                s4=nn.AvgPool2d(2),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                c5=nn.Linear(400, 120),
                act5=nn.Tanh(),
                f6=nn.Linear(120, 84),
                act6=nn.Tanh(),
                output=nn.Linear(84, 10),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 written by hand, torchvision's module names, no torchvision."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes, stages = 64, []
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(
                nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes))
            )
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def counted_leaves(summary: Summary) -> dict[str, tuple[int, int]]:
    """path -> (params, MACs) of every row with numbers that are not both 0."""
    return {
        r.path: (r.params, r.macs.value)
        for r in summary.rows
        if r.params is not None and r.macs is not None and (r.params or r.macs.value)
    }


@pytest.mark.parametrize(
    ("spec", "make", "size"),
    [
        ("lenet5", LeNet5, (1, 1, 32, 32)),
        ("lenet5", LeNet5, (3, 1, 32, 32)),
        ("resnet18", ResNet18, (1, 3, 224, 224)),
        ("resnet18", ResNet18, (2, 3, 160, 128)),
    ],
)
def test_a_hand_written_twin_has_its_specs_params_and_macs(spec, make, size) -> None:
    with torch.device("meta"):
        model = make()
    mine = archspec.summary(model, input_size=size)
    theirs = archspec.summary(spec, input=size)
    assert (mine.params, mine.macs.value) == (theirs.params, theirs.macs.value)
    assert counted_leaves(mine) == counted_leaves(theirs)  # layer by layer, by name
    shapes = {r.path: r.shape_text for r in theirs.rows}
    assert all(shapes[r.path] == r.shape_text for r in mine.rows if r.path in shapes)
    for depth in (1, 2):  # folded stages agree too
        a = archspec.summary(model, input_size=size, depth=depth)
        b = archspec.summary(spec, input=size, depth=depth)
        assert counted_leaves(a) == counted_leaves(b)


def test_the_compiled_spec_summarised_as_a_module_has_the_spec_figures() -> None:
    model = archspec.compile("resnet18")  # real weights: they are stood in for, not copied
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    s = archspec.summary(model, input_size=(1, 3, 224, 224))
    t = archspec.summary("resnet18", input=(1, 3, 224, 224))
    assert (s.params, s.macs.value) == (t.params, t.macs.value) == (11_689_512, 1_814_073_344)
    # the model is untouched: same tensors (not meta), same values, eval mode kept, no grads
    assert all(p.device.type == "cpu" and p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m.training for m in model.modules())


def test_trainable_split_column_and_memory() -> None:
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    model[0].weight.requires_grad_(False)  # the first layer partly frozen
    s = archspec.summary(model, input_size=(4, 10))
    assert [r.trainable for r in s.rows] == ["Partial", None, "True"]
    assert s.module is not None
    assert (s.module.trainable, s.module.frozen) == (20 + 105, 200)
    mem = s.module.memory
    assert mem.batch == 4
    assert dict(mem.parameters) == {"float32": 4 * 325}
    assert dict(mem.gradients) == {"float32": 4 * 125}  # trainable ones only
    # saved for backward: the ReLU's output, which the second layer saves too (one storage,
    # counted once); not the input, which only a trainable first weight would need
    assert dict(mem.activations) == {"float32": 4 * 20 * 4}
    model[0].weight.requires_grad_(True)
    full = archspec.summary(model, input_size=(4, 10)).module
    assert full is not None and dict(full.memory.activations) == {"float32": (40 + 80) * 4}


def test_memory_is_per_dtype_and_frozen_modules_are_false() -> None:
    model = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4)).half()
    for p in model[1].parameters():
        p.requires_grad_(False)
    s = archspec.summary(model, input_size=(2, 8), dtypes=torch.float16)
    assert s.module is not None
    mem = s.module.memory
    assert dict(mem.parameters) == {"float16": (36 + 8) * 2}
    assert dict(mem.gradients) == {"float16": 36 * 2}
    assert dict(mem.buffers) == {"float16": 8 * 2, "int64": 8}  # running stats, the count
    assert [r.trainable for r in s.rows] == ["True", "False"]
    assert "buffers 24 B (float16 16 B, int64 8 B)" in " ".join(str(s).split())
    assert "input (2, 8) (float16)" in str(s)


def test_inputs_dtypes_parameters_of_containers_and_own_products() -> None:
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(100, 16)
            self.proj = nn.Linear(16, 16)
            self.scale = nn.Parameter(torch.ones(16))

        def forward(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
            q = self.proj(self.embed(tokens)) * self.scale
            return q @ memory.transpose(1, 2)  # (B, T, 16) @ (B, 16, S): in the own forward

    s = archspec.summary(
        TwoInputs(), input_size=[(2, 7), (2, 5, 16)], dtypes=[torch.long, torch.float32]
    )
    rows = {r.path: r for r in s.rows}
    assert rows["embed"].shape_text == "(2, 7, 16)" and rows["embed"].macs.value == 0
    assert rows["proj"].macs.value == 2 * 7 * 16 * 16
    assert rows["scale"].type == "Parameter" and rows["scale"].params == 16
    assert rows["(self)"].macs.value == 2 * 7 * 16 * 5  # the score product, charged to it
    assert s.params == 1600 + 272 + 16
    assert s.macs.value == sum(r.macs.value for r in s.rows if r.macs is not None)
    assert "input (2, 7), (2, 5, 16) (int64, float32)" in str(s)


def test_shared_modules_and_parameters_count_once() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    s = archspec.summary(model, input_size=(1, 4))
    assert s.params == 20
    assert s.macs.value == 2 * 16  # the module ran twice


def test_errors_of_the_calling_code() -> None:
    class ReadsValues(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if x.sum().item() > 0 else x

    with pytest.raises(
        ModuleSummaryError, match=r"ReadsValues \(train mode\) fails on meta tensors.*\.item\(\)"
    ):
        archspec.summary(ReadsValues(), input_size=(1, 3))
    with pytest.raises(ModuleSummaryError, match="shape"):
        archspec.summary(nn.Linear(3, 4), input_size=(1, 5))  # a wrong input size
    with pytest.raises(TypeError, match="needs input_size="):
        archspec.summary(nn.Linear(3, 4))
    with pytest.raises(TypeError, match="not num_classes"):
        archspec.summary(nn.Linear(3, 4), input_size=(1, 3), num_classes=3)
    with pytest.raises(ValueError, match="input dims must be >= 1"):
        archspec.summary(nn.Linear(3, 4), input_size=(0, 3))
    with pytest.raises(TypeError, match="variant= and max_layers= are for specs"):
        archspec.summary(nn.Linear(3, 4), input_size=(1, 3), variant="resnet18")
    with pytest.raises(ValueError, match="depth must be at least 1"):
        archspec.summary(nn.Linear(3, 4), input_size=(1, 3), depth=0)
    with pytest.raises(TypeError, match="dtypes"):
        archspec.summary(nn.Linear(3, 4), input_size=(1, 3), dtypes="float")


def test_print_shows_the_table_within_80_columns() -> None:
    s = archspec.summary(ResNet18(), input_size=(1, 3, 224, 224), depth=2)
    text = str(s)
    assert repr(s) == text  # not the dataclass's repr
    lines = text.splitlines()
    assert lines[0] == "ResNet18  input (1, 3, 224, 224) -> output (1, 1000)"
    assert max(len(line) for line in lines) <= 80
    assert re.search(r"│ Total +│ +│ +│ 11,689,512 │ 1,814,073,344 │", text)
    flat = " ".join(text.split())
    assert "11,689,512 parameters (11.69 M): 11,689,512 trainable, 0 frozen" in flat
    assert "Memory of a training step at batch 1: parameters 44.6 MiB (float32)" in flat
    wide = summary_text(s, width=160)
    assert "Trainable" in wide and "Trainable" not in text  # dropped only when it cannot fit


def test_print_of_a_spec_summary_is_what_the_cli_prints() -> None:
    from typer.testing import CliRunner

    from archspec.cli import app

    result = CliRunner().invoke(app, ["summary", "lenet5"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    text = summary_text(archspec.summary("lenet5"), width=80)
    # the same lines; print(summary) drops the spaces rich leaves where it wraps a line
    assert [line.rstrip() for line in result.stdout.rstrip("\n").splitlines()] == text.split("\n")
    assert "0.42 M MACs x N at (N, 1, 32, 32)" in " ".join(text.split())


def test_html_escapes_every_text() -> None:
    model = nn.Sequential()
    model.add_module("<b>x</b>", nn.Linear(3, 4))  # torch allows any name without a dot
    page = archspec.summary(model, input_size=(2, 3))._repr_html_()
    assert "<b>x</b>" not in page and html.escape("<b>x</b>") in page
    assert page.count("<tr") == 3  # header, the layer, the total
    assert '<td style="text-align:right">24</td>' in page  # its MACs: 2 rows * 3 * 4
    assert "Memory of a training step" in page
    spec_page = archspec.summary("resnet50")._repr_html_()
    totals = spec_page.split("<tfoot>")[1].split("</tfoot>")[0]
    assert "4.09 G x N" in totals and "//" not in totals  # factored, not the formula


def test_symbolic_totals_are_factored_in_every_rendering() -> None:
    s = archspec.summary("resnet50")
    assert "4.09 G MACs x N at (N, 3, 224, 224) (4,089,184,256 per sample)" in s.footer()
    assert "| **Total** | | | **25,557,032** | **`4.09 G x N`** |" in s.to_markdown()
    assert "2048000*N" in s.to_markdown()  # a layer's own count is still its formula
    assert s.to_dict()["total"]["macs"] == str(s.macs)  # the data keeps the formula
    # sizes left symbolic: no example to evaluate at, so the totals name their symbols
    spec = {
        "archspec": 1,
        "name": "open",
        "input": ["N", 3, "H", "W"],
        "layers": [
            {"name": "c1", "type": "conv2d", "out_channels": 8, "kernel_size": 3},
            {"name": "c2", "type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2},
        ],
    }
    text = archspec.summary(spec).to_text(width=200)
    total = next(line for line in text.splitlines() if line.startswith("│ Total"))
    assert "formula in N, H, W" in total and "formula in H, W" in total and "//" not in total
    assert "808 parameters, MACs are a formula in N, H, W (in the JSON output)" in text


def test_check_does_not_import_torch() -> None:
    code = "import sys, archspec; archspec.check('resnet50'); archspec.summary('lenet5'); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_a_10_to_the_10_parameter_module_takes_little_memory() -> None:
    """Four 50,000 x 50,000 linear layers on the meta device (37 GiB of float32 weights).

    Measured in a fresh process: the growth of its peak RSS (ru_maxrss) from just before
    the summary to just after it, with torch and archspec imported and the model built
    before. This includes torch's own one-off costs of a first meta forward: the bound is
    on all of it.
    """
    code = textwrap.dedent(
        """
        import resource
        import torch, torch.nn as nn
        import archspec
        with torch.device("meta"):
            model = nn.Sequential(*[nn.Linear(50_000, 50_000, bias=False) for _ in range(4)])
        archspec.summary  # the API's import is not the summary's cost
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        s = archspec.summary(model, input_size=(1, 50_000))
        text = str(s)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(s.params, s.macs.value, (after - before) // 1024, "10,000,000,000" in text)
        import sys
        print(sorted(m for m in ("archspec.api", "archspec.ops", "pydantic") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    figures, loaded = out.stdout.splitlines()
    params, macs, growth_mib, shown = figures.split()
    assert (int(params), int(macs), shown) == (10**10, 10**10, "True")
    assert int(growth_mib) < 100
    assert loaded == "[]"  # a module's summary loads neither the facade nor the spec pipeline


def test_a_summary_does_not_load_dynamo_and_leaves_torch_as_it_was() -> None:
    """torch's Python meta kernels (group norm here: conv, batch norm and addmm have
    meta_kernels rules) are wrapped to import torch._dynamo on their first call (about 1.2 s
    and 70 MiB); a summary answers them with a stand-in and takes it away again:
    torch._dynamo is not loaded afterwards, and a later torch.compile of the same layers, and
    a second summary with the real dynamo loaded, work as usual."""
    code = textwrap.dedent(
        """
        import sys, torch, torch.nn as nn, archspec
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.GroupNorm(2, 8),
                              nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
        first = archspec.summary(model, input_size=(2, 3, 8, 8))
        print("torch._dynamo" in sys.modules, "_dynamo" in vars(torch))
        compiled = torch.compile(model.eval(), backend="eager")
        x = torch.randn(2, 3, 8, 8)
        real = hasattr(sys.modules["torch._dynamo"], "optimize")
        print(torch.allclose(compiled(x), model(x)), real)
        again = archspec.summary(model, input_size=(2, 3, 8, 8))
        print(first.params == again.params, first.macs == again.macs)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "True", "True", "True", "True"]


def test_train_mode_by_default_eval_on_request() -> None:
    """Train mode runs what a training step runs (a training-only branch counts, as in a
    spec's summary); batch norm then needs two values per channel, and the error says so."""

    class WithAuxHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Linear(4, 8)
            self.norm = nn.BatchNorm1d(8)
            self.aux = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.norm(self.body(x))
            if self.training:
                return x + self.aux(x).sum()
            return x

    model = WithAuxHead().eval()
    train = archspec.summary(model, input_size=(2, 4))
    evaluated = archspec.summary(model, input_size=(2, 4), mode="eval")
    assert (train.macs.value, evaluated.macs.value) == (2 * 32 + 2 * 16, 2 * 32)
    assert not model.training  # the caller's mode is restored
    assert "(modules in eval mode)" in evaluated.to_text(width=120)
    with pytest.raises(ModuleSummaryError, match=r"\(train mode\).*a batch of 2, or mode='eval'"):
        archspec.summary(model, input_size=(1, 4))
    assert archspec.summary(model, input_size=(1, 4), mode="eval").params == 40 + 16 + 18
    with pytest.raises(ValueError, match="mode must be"):
        archspec.summary(model, input_size=(2, 4), mode="training")


class _Keywords(nn.Module):
    """A forward with a dict argument, keyword arguments and a non-tensor option."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 16)
        self.b = nn.Linear(5, 16)

    def forward(
        self, batch: dict[str, torch.Tensor], scale: float = 1.0, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        out = (self.a(batch["x"]) + self.b(batch["y"])) * scale
        return {"out": out if mask is None else out * mask, "x": batch["x"]}


def test_input_data_takes_forwards_arguments_as_torchinfo_does() -> None:
    x, y, mask = torch.randn(3, 8), torch.randn(3, 5), torch.ones(3, 16, dtype=torch.bool)
    model = _Keywords()
    reference = model({"x": x, "y": y}, scale=2.0, mask=mask)["out"]  # torch runs it as given
    as_list = archspec.summary(model, input_data=[{"x": x, "y": y}, 2.0, mask])
    as_dict = archspec.summary(model, input_data={"batch": {"x": x, "y": y}, "mask": mask})
    for s in (as_list, as_dict):
        assert s.params == 8 * 16 + 16 + 5 * 16 + 16
        assert s.macs.value == 3 * (8 * 16 + 5 * 16)
        rows = {r.path: r for r in s.rows}
        assert rows["a"].shape_text == rows["b"].shape_text == str(tuple(reference.shape))
        assert s.module is not None and s.module.dtypes == ("float32", "float32", "bool")
    assert "input (3, 8), (3, 5), (3, 16) (float32, float32, bool)" in str(as_list)
    one = archspec.summary(nn.Linear(8, 2), input_data=x)  # a tensor: the one argument
    assert one.macs.value == 3 * 8 * 2 and one.input_shape == (3, 8)


def test_input_data_errors_say_where_forwards_arguments_go() -> None:
    with pytest.raises(TypeError, match=r"not mask \(arguments of forward go in input_data="):
        archspec.summary(_Keywords(), input_size=(3, 8), mask=torch.ones(3, 16))
    with pytest.raises(TypeError, match="holds no tensor"):
        archspec.summary(_Keywords(), input_data={"scale": 2.0})
    with pytest.raises(TypeError, match="no input_size= or dtypes="):
        archspec.summary(nn.Linear(8, 2), input_data=torch.zeros(1, 8), input_size=(1, 8))
    with pytest.raises(ModuleSummaryError, match="missing 1 required positional argument"):
        archspec.summary(_Keywords(), input_data={"scale": 2.0, "mask": torch.ones(3, 16)})


def test_input_data_that_holds_itself_or_nests_too_deep_is_a_type_error() -> None:
    """A list that contains itself, a dict that does, or thousands of levels of lists: a
    TypeError that says what input_data takes (it was a RecursionError from tree_map)."""
    looped: list[object] = [torch.zeros(1, 8)]
    looped.append(looped)
    cyclic: dict[str, object] = {"x": torch.zeros(1, 8)}
    cyclic["self"] = cyclic
    deep: object = torch.zeros(1, 8)
    for _ in range(5000):
        deep = [deep]
    for data in (looped, cyclic, deep):
        with pytest.raises(TypeError, match="nests too deeply or holds itself"):
            archspec.summary(nn.Linear(8, 2), input_data=data)


def test_a_lazy_module_is_a_clean_error_and_stays_lazy() -> None:
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ModuleSummaryError, match=r"0\.weight, 0\.bias: a lazy module's"):
        archspec.summary(model, input_size=(1, 8))
    assert type(model[0]) is nn.LazyLinear  # nothing was materialised
    model(torch.zeros(1, 8))  # the way out the message gives
    assert archspec.summary(model, input_size=(1, 8)).params == 8 * 4 + 4 + 4 * 2 + 2


def test_rows_without_an_output_show_no_shape() -> None:
    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
            self.unused = nn.Linear(4, 4)
            self.loss = nn.MSELoss()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers:
                x = layer(x)
            return self.loss(x @ x.T, x.new_zeros(2, 2))  # a 0-d output

    s = archspec.summary(Stack(), input_size=(2, 4))
    rows = {r.path: r for r in s.rows}
    assert rows["layers"].type == "ModuleList" and rows["layers"].shape_text == ""
    assert rows["layers.0"].shape_text == "(2, 4)"
    assert rows["unused"].type == "Linear (not run)" and rows["unused"].shape_text == ""
    assert rows["(self)"].shape_text == "" and rows["(self)"].macs.value == 2 * 2 * 4
    assert rows["loss"].shape_text == "()"  # a 0-d tensor's shape, shown as such
    assert "| `unused` | Linear (not run) |  |" in s.to_markdown()
    shapes = {r["path"]: r["output_shape"] for r in s.to_dict()["rows"]}
    assert shapes["layers"] == shapes["unused"] == "" and shapes["layers.0"] == "(2, 4)"


def test_a_tensor_made_off_the_meta_device_is_named_as_the_cause() -> None:
    class MakesItsOwn(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.arange(x.shape[-1])  # no device=x.device

    with pytest.raises(ModuleSummaryError, match=r"without device=x\.device"):
        archspec.summary(MakesItsOwn(), input_size=(2, 4))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit, deprecated in 2.13
def test_wrappers_and_operators_meta_tensors_cannot_run_say_what_to_do() -> None:
    scripted = torch.jit.script(nn.Sequential(nn.Linear(4, 4)))
    with pytest.raises(ModuleSummaryError, match=r"TorchScript.*summarise the nn\.Module you"):
        archspec.summary(scripted, input_size=(1, 4))
    inner = nn.Sequential(nn.Linear(4, 4), torch.jit.trace(nn.Linear(4, 2), torch.zeros(1, 4)))
    with pytest.raises(ModuleSummaryError, match=r"\(at 1\) is TorchScript"):
        archspec.summary(inner, input_size=(1, 4))
    with pytest.raises(ModuleSummaryError, match=r"summarise the network it wraps, its `\.module`"):
        archspec.summary(nn.DataParallel(nn.Linear(4, 4)), input_size=(1, 4))

    class Selects(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[x > 0]  # a shape only the values decide

    with pytest.raises(ModuleSummaryError, match="output shape depends on tensor values"):
        archspec.summary(Selects(), input_size=(2, 4))


def test_the_title_gives_the_models_outputs_which_no_row_may_show() -> None:
    leaf = archspec.summary(nn.Linear(8, 4), input_size=(2, 8))  # rows: its parameters only
    assert str(leaf).splitlines()[0] == "Linear  input (2, 8) -> output (2, 4)"
    reference = _Keywords()({"x": torch.zeros(3, 8), "y": torch.zeros(3, 5)})
    s = archspec.summary(_Keywords(), input_data=[{"x": torch.zeros(3, 8), "y": torch.zeros(3, 5)}])
    expected = [str(tuple(t.shape)) for t in reference.values()]  # a dict: its values in order
    assert s.to_dict()["module"]["outputs"] == expected == ["(3, 16)", "(3, 8)"]
    assert s.to_markdown().splitlines()[0] == (
        "**_Keywords** at input `(3, 8), (3, 5)`, output `(3, 16), (3, 8)`"
    )

    class Many(nn.Module):
        def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
            return [x] * 6

    assert str(archspec.summary(Many(), input_size=(1, 2))).splitlines()[0] == (
        "Many  input (1, 2) -> output (1, 2), (1, 2), (1, 2), (1, 2), ... (6 tensors)"
    )


def test_an_input_size_of_more_elements_than_a_tensor_holds_is_a_value_error() -> None:
    """Each dim below 2**62, the product past it: torch's "Storage size calculation
    overflowed" RuntimeError came out of the meta forward."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(ValueError, match="more elements than a tensor can hold"):
        archspec.summary(model, input_size=(10**12, 3, 10**6, 10**6))
    with pytest.raises(ValueError, match="more elements"):
        archspec.summary(model, input_size=[(1, 3, 8, 8), (2**31, 2**31, 2**31)])
    assert archspec.summary(model, input_size=(2**20, 3, 8, 8)).params == 112


def test_input_size_may_come_second_by_position_as_in_torchinfo() -> None:
    """`summary(model, (1, 3, 224, 224))` is how torchinfo is called; it was a TypeError
    (every argument after the model was keyword-only)."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 2))
    by_position = archspec.summary(model, (2, 3, 32, 32))
    assert summary_text(by_position) == summary_text(
        archspec.summary(model, input_size=(2, 3, 32, 32))
    )
    assert by_position.rows[-1].shape == (2, 2)
    spec = archspec.summary("lenet5", (1, 1, 32, 32))
    assert summary_text(spec) == summary_text(archspec.summary("lenet5", input="1,1,32,32"))
    with pytest.raises(TypeError):
        archspec.summary(model, (2, 3, 32, 32), 3)  # nothing else comes by position


def test_a_spec_takes_torchinfos_list_of_its_one_input_shape() -> None:
    """torchinfo takes `input_size=[(1, 1, 32, 32)]`, a list of a forward's input shapes;
    a spec's summary said "input dims must be ints, got tuple" (a spec has one input)."""
    one = summary_text(archspec.summary("lenet5", input="1,1,32,32"))
    assert summary_text(archspec.summary("lenet5", [(1, 1, 32, 32)])) == one
    assert summary_text(archspec.summary("lenet5", input_size=["1,1,32,32"])) == one
    # two shapes are a network of several inputs' (`inputs:`): lenet5 takes one
    with pytest.raises(
        archspec.ArchSpecError, match="2 input shapes were given, but lenet5 takes 1 input"
    ):
        archspec.summary("lenet5", [(1, 1, 32, 32), (1, 1, 32, 32)])
