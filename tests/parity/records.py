"""The record files of the import sweeps (import_zoo.json, import_timm.json): one JSON object
per model, in the sweep's model order, so a re-run of a few models rewrites only their rows;
and the loop both sweeps run over their models."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Mapping, Sequence
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


def sweep(
    path: Path,
    order: Sequence[str],
    names: Sequence[str],
    check: Callable[[str], dict[str, Any]],
    crash: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Check each of `names`, a line printed and the file saved after each (a sweep stopped
    keeps what it did); a check that raises is a record of status `crash`, or raises when
    that is None. Returns every record the file holds."""
    records = load_records(path)
    width = max((len(n) for n in names), default=0)
    for name in names:
        start = time.perf_counter()
        try:
            records[name] = check(name)
        except Exception as exc:
            if crash is None:
                raise
            records[name] = {"model": name, "status": crash, "why": [f"crash: {exc!r}"[:400]]}
        seconds = time.perf_counter() - start
        rec = records[name]
        print(
            f"{name:{width}} {rec['status']:9} {seconds:6.1f}s {(rec.get('why') or [''])[0][:150]}"
        )
        save_records(path, records, order)
        gc.collect()
    return records
