"""What the folders of networks written from the docs against hand-written references share
(tests/h43d, tests/h44b): a folder's references in float64 under the RNG-free weights, their
record (each folder's make_fixture.py), and the two comparisons its test file makes, the
spec against its reference and the stated domain against torch at its edges."""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspec
from tests.newuser36.facts import state_dict_facts, write_fixture
from tests.parity.weights import fill_deterministic, output_summary, summary_matches


@dataclass(frozen=True)
class ReferenceFolder:
    """One folder: its references module, cases, record file, specs and inputs."""

    references: types.ModuleType
    cases: Mapping[str, dict[str, Any]]
    fixture: Path
    here: Path
    make_input: Callable[[Any], torch.Tensor]
    #: the RNG seeded 0 before each call (a reference that samples, the VAE)
    seeded: bool = False

    def spec(self, name: str) -> str:
        return str(self.here / f"{name}.yaml")

    def outputs(self, model: nn.Module, call: list[Any]) -> list[torch.Tensor]:
        if self.seeded:
            torch.manual_seed(0)
        with torch.no_grad():
            out = model(*(self.make_input(given) for given in call))
        return list(out) if isinstance(out, tuple | list) else [out]

    def reference(self, case: Mapping[str, Any]) -> nn.Module:
        """The case's reference in float64, holding the RNG-free weights, in eval."""
        reference = getattr(self.references, case["reference"])().double().eval()
        reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
        return reference

    def write_record(self) -> None:
        """Each reference's parameter count, state_dict facts (of the float32 network) and
        the summaries of its float64 outputs at each call, written to the fixture."""
        records = {}
        for name, case in self.cases.items():
            reference = getattr(self.references, case["reference"])()
            state = reference.state_dict()
            reference = reference.double()
            reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
            reference.eval()
            outputs = []
            for call in case["calls"]:
                if self.seeded:
                    torch.manual_seed(0)
                with torch.no_grad():
                    out = reference(*(self.make_input(given) for given in call))
                outs = out if isinstance(out, tuple) else [out]
                outputs.append([output_summary(o) for o in outs])
            records[name] = {
                "torch": torch.__version__,
                "param_count": sum(p.numel() for p in reference.parameters()),
                **state_dict_facts(state),
                "outputs": outputs,
            }
        write_fixture(self.fixture, records)

    def assert_is_reference(self, name: str) -> None:
        """The spec checks clean but for the case's `warnings`, states its domain, and
        compiled and emitted is its reference: parameter count, state_dict facts, strict
        loads both ways, float64 outputs equal to the bit and to the record at each call."""
        case, spec = self.cases[name], self.spec(name)
        report = archspec.check(spec)
        assert report.ok, report.diagnostics
        assert [d.code for d in report.diagnostics] == case.get("warnings", []), report.diagnostics
        assert case["domain"] in report.domain_text
        reference = self.reference(case)
        ours = archspec.compile(spec).double().eval()
        module = types.ModuleType(f"emitted_{name}")
        exec(compile(archspec.emit(spec), "<emitted>", "exec"), module.__dict__)
        emitted = getattr(module, type(ours).__name__)().double().eval()
        record = json.loads(self.fixture.read_text(encoding="utf-8"))[name]
        count = sum(p.numel() for p in reference.parameters())
        assert sum(p.numel() for p in ours.parameters()) == count == record["param_count"]
        facts = state_dict_facts(ours.float().state_dict())
        assert facts == state_dict_facts(emitted.float().state_dict())
        assert facts == {k: record[k] for k in facts}
        ours.double()
        emitted.double()
        ours.load_state_dict(reference.state_dict(), strict=True)
        emitted.load_state_dict(ours.state_dict(), strict=True)
        reference.load_state_dict(ours.state_dict(), strict=True)
        for call, expected in zip(case["calls"], record["outputs"], strict=True):
            want = self.outputs(reference, call)
            for model in (ours, emitted):
                got = self.outputs(model, call)
                assert len(got) == len(want) == len(expected)
                for a, b, summary in zip(got, want, expected, strict=True):
                    assert a.dtype == torch.float64 and torch.equal(a, b)
                    assert summary_matches(output_summary(a), summary, rtol=1e-9) == []

    def assert_edges(self, name: str, refused: tuple[type[Exception], ...]) -> int:
        """Each call's shapes are accepted by `check --input`; the call outside (when the
        case has one) is refused by check with an error and by torch with one of `refused`.
        The number of shapes checked, the outside one included."""
        case, spec = self.cases[name], self.spec(name)
        checked = 0
        for call in case["calls"]:
            shapes = [tuple(self.make_input(given).shape) for given in call]
            report = archspec.check(spec, input=shapes if len(shapes) > 1 else shapes[0])
            assert report.ok, (shapes, report.diagnostics)
            checked += 1
        if case["outside"] is not None:
            outside = [tuple(self.make_input(given).shape) for given in case["outside"]]
            report = archspec.check(spec, input=outside if len(outside) > 1 else outside[0])
            assert not report.ok and report.errors
            with pytest.raises(refused):
                self.outputs(self.reference(case), case["outside"])
            checked += 1
        return checked
