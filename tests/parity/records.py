"""The record files of the import sweeps (import_zoo.json, import_timm.json): one JSON object
per model, in the sweep's model order, so a re-run of a few models rewrites only their rows."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def load_records(path: Path) -> dict[str, dict[str, Any]]:
    """The records by model name; none when the file does not exist yet."""
    if not path.exists():
        return {}
    return {r["model"]: r for r in json.loads(path.read_text(encoding="utf-8"))}


def save_records(path: Path, records: Mapping[str, dict[str, Any]], order: Sequence[str]) -> None:
    """Write the records of the models in `order` that have one, one line each."""
    rows = [records[m] for m in order if m in records]
    body = ",\n".join(json.dumps(r, sort_keys=True) for r in rows)
    path.write_text(f"[\n{body}\n]\n", encoding="utf-8")
