"""CLI commands (analyse); see app.py for shared options."""

from __future__ import annotations

