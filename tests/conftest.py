"""Shared test setup: a fixed hypothesis profile, and paths to the specs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def spec_names() -> list[str]:
    return sorted(p.stem for p in SPECS.glob("*.yaml"))


@pytest.fixture
def root() -> Path:
    return ROOT
