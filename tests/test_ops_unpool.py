"""SegNet's and ENet's pooling: `maxpool2d_with_indices` names its values and their int64
indices (`names: [out, indices]`), a later `maxunpool2d` reads `from: [values, indices]`;
compiled, emitted and imported as torch computes them (ops/unpool.py, importer/unpools.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.errors import ArchSpecError
from tests.emit_helpers import matches_compile
from tests.test_importer import roundtrip

SEGNET = """\
archspec: 1
name: segnet_small
input: [N, 3, H, W]
layers:
  - {name: enc1, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: activation, fn: relu}
  - {type: maxpool2d_with_indices, kernel_size: 2, stride: 2, names: [pool1, idx1]}
  - {name: enc2, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
  - {type: activation, fn: relu}
  - {type: maxpool2d_with_indices, kernel_size: 2, names: [pool2, idx2]}
  - {name: unpool2, type: maxunpool2d, kernel_size: 2, from: [pool2, idx2]}
  - {name: dec2, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: act3, type: activation, fn: relu}
  - {name: unpool1, type: maxunpool2d, kernel_size: 2, stride: 2, from: [act3, idx1]}
  - {name: head, type: conv2d, out_channels: 4, kernel_size: 1}
"""


class SegNetSmall(nn.Module):
    """The same network by hand, as SegNet's PyTorch ports write it."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.enc2 = nn.Conv2d(8, 16, 3, padding=1)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        self.dec2 = nn.Conv2d(16, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, idx1 = self.pool(F.relu(self.enc1(x)))
        x, idx2 = self.pool(F.relu(self.enc2(x)))
        x = F.relu(self.dec2(self.unpool(x, idx2)))
        return self.head(self.unpool(x, idx1))


def test_segnet_spec_is_the_hand_written_network_compiled_and_emitted() -> None:
    ours, theirs = archspec.compile(SEGNET).eval(), SegNetSmall().eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    ours.load_state_dict(theirs.state_dict())
    x = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    spec_sum = archspec.summary(SEGNET, input=(2, 3, 16, 12))
    mod_sum = archspec.summary(theirs, input_size=(2, 3, 16, 12))
    assert (spec_sum.params, spec_sum.macs) == (mod_sum.params, mod_sum.macs)
    source = matches_compile(SEGNET, (2, 3, 16, 12))
    assert "pool1, idx1 = F.max_pool2d(activation, 2, return_indices=True)" in source
    assert "self.unpool1 = nn.MaxUnpool2d(2)" in source
    assert "self.unpool1(act3, idx1)" in source


def test_the_item_after_the_pool_reads_its_values_and_the_domain_is_torchs() -> None:
    graph = build_graph(SEGNET)
    enc2 = next(n for n in graph.root.nodes if n.name == "enc2")
    assert enc2.inputs == ("pool1",)  # the values: a conv of the int64 indices fails
    report = archspec.check(SEGNET)
    assert report.ok
    # act3 has 2 * (H // 4) rows and idx1 H // 2: torch needs them equal, H % 4 in {0, 1}
    assert "H % 4 in {0, 1}" in report.domain_text, report.domain_text
    ours, theirs = archspec.compile(SEGNET).eval(), SegNetSmall().eval()
    checked = 0
    for h in range(4, 14):
        x = torch.rand(1, 3, h, 8)
        if h % 4 in (0, 1):
            assert ours(x).shape == theirs(x).shape == (1, 4, 4 * (h // 4), 8)
        else:
            with pytest.raises(RuntimeError, match="indices"):
                theirs(x)
            with pytest.raises(Exception):  # noqa: B017  (compile's own refusal, or torch's)
                ours(x)
        checked += 1
    assert checked == 10


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_each_rank_computes_torchs_pool_and_unpool(nd: int) -> None:
    size = (2, 3, *[7, 5, 9][:nd])  # each extent odd: the unpool gives it back whole
    text = f"""\
archspec: 1
name: unpool{nd}
input: {list(size)}
layers:
  - {{type: maxpool{nd}d_with_indices, kernel_size: 3, stride: 2, padding: 1, names: [y, i]}}
  - {{name: up, type: maxunpool{nd}d, kernel_size: 3, stride: 2, padding: 1, from: [y, i]}}
"""
    x = torch.rand(size, generator=torch.Generator().manual_seed(nd))
    pool = getattr(F, f"max_pool{nd}d")
    y, i = pool(x, 3, stride=2, padding=1, return_indices=True)
    want = getattr(F, f"max_unpool{nd}d")(y, i, 3, stride=2, padding=1)
    report = archspec.check(text)
    assert report.outputs[0] == tuple(want.shape)
    torch.testing.assert_close(archspec.compile(text)(x), want, rtol=0, atol=0)
    matches_compile(text, size)


@pytest.mark.parametrize(
    ("layer", "code", "needle"),
    [
        ("kernel_size: 2, names: [a, b, c]", "E204", "not 3"),
        ("name: p, kernel_size: 2, names: [a, b]", "E204", "`name: p`"),
        ("kernel_size: 2, padding: same, names: [a, b]", "E204", "the padded map"),
        ('kernel_size: 2, names: {each: "p{j}", for: j, in: 3}', "E409", "gives 3 names"),
    ],
)
def test_mistakes_in_the_pool_are_located(layer: str, code: str, needle: str) -> None:
    layer = f"{{type: maxpool2d_with_indices, {layer}}}"
    text = f"archspec: 1\nname: bad\ninput: [N, 3, 8, 8]\nlayers:\n  - {layer}\n"
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    err = exc.value
    assert err.error_code == code and needle in err.render(), err.render()
    assert err.span is not None and err.span.line == 5


BAD_READS = """\
archspec: 1
name: bad_reads
input: [N, 3, 8, 8]
layers:
  - {type: maxpool2d_with_indices, kernel_size: 2, names: [y, i]}
  - {name: swapped, type: maxunpool2d, kernel_size: 2, from: [i, y]}
  - {name: floats, type: maxunpool2d, kernel_size: 2, from: [y, y]}
  - {name: conv, type: conv2d, out_channels: 3, kernel_size: 1, from: i}
outputs: [swapped, floats, conv]
"""


def test_indices_are_int64_and_every_wrong_read_is_located() -> None:
    with pytest.raises(ArchSpecError) as exc:
        build_graph(BAD_READS)
    text = exc.value.render()
    assert ":6:5: error[E401]: swapped: maxunpool2d reads `from: [i, y]` and `i`, its val" in text
    assert ":7:5: error[E401]: floats: maxunpool2d reads `from: [y, y]` and `y`, its ind" in text
    assert ":8:5: error[E401]: conv: conv2d reads `i`, an int64 tensor" in text
    assert "maxpool2d_with_indices (`names: [out, indices]`)" in text


def test_values_and_indices_of_other_shapes_are_refused() -> None:
    text = """\
archspec: 1
name: bad_shapes
input: [N, 3, 8, 8]
layers:
  - {type: maxpool2d_with_indices, kernel_size: 2, names: [y, i]}
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1, from: y}
  - {name: up, type: maxunpool2d, kernel_size: 2, from: [conv, i]}
"""
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    assert exc.value.error_code == "E402"
    assert "indices (N, 3, 4, 4) differ from its values (N, 4, 4, 4)" in exc.value.render()
    assert exc.value.span is not None and exc.value.span.line == 7


def test_segnet_imports_with_its_pools_unpacked() -> None:
    text = roundtrip(SegNetSmall(), (2, 3, 16, 16))
    assert "{type: maxpool2d_with_indices, kernel_size: 2, names: [pool, pool_indices]}" in text
    unpool = "{name: unpool, type: maxunpool2d, from: [pool_1, pool_1_indices], kernel_size: 2}"
    assert unpool in text


class FunctionalUnpool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, idx = F.max_pool1d(self.conv(x), 3, stride=2, padding=1, return_indices=True)
        return F.max_unpool1d(torch.relu(y), idx, 3, stride=2, padding=1)


def test_functional_pool_and_unpool_import() -> None:
    text = roundtrip(FunctionalUnpool(), (2, 2, 9))
    assert "type: maxpool1d_with_indices" in text and "type: maxunpool1d" in text


class ReadsTheTuple(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pair = self.pool(x)
        return torch.cat(pair, 1)


def test_a_pool_read_other_than_by_unpacking_is_refused_where_it_is_called() -> None:
    with pytest.raises(ArchSpecError) as exc:
        archspec.from_module(ReadsTheTuple(), torch.rand(1, 2, 4, 4))
    text = exc.value.render()
    assert "E903" in text and "read other than by unpacking them" in text
    assert "test_ops_unpool.py" in text


ODD = """\
archspec: 1
name: odd_sizes
input: [N, 3, H, W]
layers:
  - {name: enc, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: maxpool2d_with_indices, kernel_size: 2, names: [pool, idx]}
  - {name: dec, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: up, type: maxunpool2d_as, kernel_size: 2, from: [dec, idx, enc]}
"""


class OddSizes(nn.Module):
    """SegNet's ports: the unpool given the encoder's size, so odd sizes come back whole."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.dec = nn.Conv2d(8, 8, 3, padding=1)
        self.up = nn.MaxUnpool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc = self.enc(x)
        y, idx = self.pool(enc)
        return self.up(self.dec(y), idx, output_size=enc.size())


def test_an_unpool_to_the_pools_input_size_takes_every_size() -> None:
    report = archspec.check(ODD)
    assert report.domain_text.endswith("with H, W >= 2"), report.domain_text
    ours, theirs = archspec.compile(ODD).eval(), OddSizes().eval()
    ours.load_state_dict(theirs.state_dict())
    checked = 0
    for h, w in ((9, 7), (8, 8), (2, 3), (13, 10)):
        x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
        checked += 1
    assert checked == 4
    source = matches_compile(ODD, (2, 3, 9, 7))
    assert "x = F.max_unpool2d(dec, idx, 2, output_size=enc.shape[-2:])" in source


def test_an_output_size_torch_refuses_is_located() -> None:
    # the input's size is twice the pooled one's default size: past the stride either way
    text = ODD.replace("from: [dec, idx, enc]", "from: [dec, idx, big]").replace(
        "  - {name: up,",
        "  - {name: big, type: upsample, scale_factor: 2.0, from: enc}\n  - {name: up,",
    )
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    assert exc.value.error_code == "E410", exc.value.render()  # no input size works
    assert "to the H extent 2*H of (N, 8, 2*H, 2*W), which torch takes only strictly between" in (
        exc.value.render()
    )
    assert exc.value.span is not None and exc.value.span.line == 9


class FunctionalOddSizes(OddSizes):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc = self.enc(x)
        y, idx = F.max_pool2d(enc, 2, return_indices=True)
        return F.max_unpool2d(self.dec(y), idx, 2, output_size=enc.shape[-2:])


@pytest.mark.parametrize("cls", [OddSizes, FunctionalOddSizes])
def test_an_unpool_given_output_size_imports(cls: type[nn.Module]) -> None:
    text = roundtrip(cls(), (2, 3, 9, 7))
    indices = "pool_indices" if cls is OddSizes else "pool_1_indices"  # `pool`: a child's key
    assert f"type: maxunpool2d_as, from: [dec, {indices}, enc], kernel_size: 2}}" in text


def test_an_output_size_torch_refuses_at_a_concrete_input_is_e404() -> None:
    text = (
        ODD.replace("input: [N, 3, H, W]", "input: [1, 3, 8, 8]")
        .replace("from: [dec, idx, enc]", "from: [dec, idx, input]")
        .replace(
            "{name: enc, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}",
            "{name: enc, type: conv2d, out_channels: 8, kernel_size: 3}",
        )
    )
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    assert exc.value.error_code == "E404", exc.value.render()
    assert "to the H extent 8 of (1, 3, 8, 8)" in exc.value.render()
    assert "strictly between 4 and 8" in exc.value.render()


ENET = """\
archspec: 1
name: enet_like
input: [N, 3, H, W]
blocks:
  Down:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {type: maxpool2d_with_indices, kernel_size: 2, names: [out, idx]}
    outputs: [out, idx]
  Up:
    inputs: [x, idx, skip]
    layers:
      - {name: conv, type: conv2d, out_channels: 16, kernel_size: 1, from: x}
      - {name: up, type: maxunpool2d_as, kernel_size: 2, from: [conv, idx, skip]}
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: d1, type: Down, c: 16, names: [x1, i1]}
  - {name: u1, type: Up, from: [x1, i1, stem]}
"""


def test_indices_cross_block_boundaries_as_enet_passes_them() -> None:
    model = archspec.compile(ENET).eval()
    x = torch.rand(1, 3, 9, 7, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        stem = model.stem(x)
        y, idx = F.max_pool2d(model.d1.conv(stem), 2, return_indices=True)
        want = F.max_unpool2d(model.u1.conv(y), idx, 2, output_size=stem.shape[-2:])
        torch.testing.assert_close(model(x), want, rtol=0, atol=0)
    source = matches_compile(ENET, (1, 3, 9, 7))
    assert "return out, idx" in source and "out_2" not in source
    bad = ENET.replace("from: [x1, i1, stem]", "from: [x1, x1, stem]")
    with pytest.raises(ArchSpecError) as exc:
        build_graph(bad)
    text = exc.value.render()
    assert ":15:9: error[E401]: up: maxunpool2d_as reads `from: [conv, idx, skip]`" in text
    assert "`idx`, its indices, is a float tensor" in text


def test_w409_warns_where_the_output_may_not_be_the_pools_input() -> None:
    warned = [d for d in archspec.check(SEGNET).diagnostics if d.code == "W409"]
    assert [d.span.line for d in warned if d.span is not None] == [11, 14]
    assert "`unpool1` unpools to (4*(H//4), 4*(W//4)), and its indices `idx1` index the (H, W)" in (
        warned[1].message
    )
    assert "from: [act3, idx1, activation]" in (warned[1].hint or "")
    assert not [d for d in archspec.check(ODD).diagnostics if d.code == "W409"]
    divided = SEGNET.replace("input: [N, 3, H, W]", "input: [N, 3, 16, 12]")
    assert not [d for d in archspec.check(divided).diagnostics if d.code == "W409"]
    # where it warns at a concrete size, torch can refuse the indices at run time
    odd = SEGNET.replace("input: [N, 3, H, W]", "input: [1, 3, 8, 5]")
    found = [d for d in archspec.check(odd).diagnostics if d.code == "W409"]
    assert [d.span.line for d in found if d.span is not None] == [14]  # unpool2's 2 is pool2's
    x = torch.zeros(1, 8, 8, 5)
    x[..., 3] = 1.0  # every maximum in the last column the pool reads, past the output's 4
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    with pytest.raises(RuntimeError, match="invalid max index"):
        F.max_unpool2d(y, idx, 2)


class ConvsBetween(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.mid = nn.Conv2d(3, 3, 3, padding=1)
        self.unpool = nn.MaxUnpool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, idx = self.pool(x)
        return self.unpool(self.mid(y), idx)


def test_the_item_after_a_pool_reads_its_values_without_from() -> None:
    """The item after an indices pool was written `from: pool`, which the default reads."""
    text = roundtrip(ConvsBetween(), (2, 3, 8, 8))
    assert "  - {name: mid, type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}\n" in text
