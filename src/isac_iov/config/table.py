"""The effective config as a table: one key per line with its value, its allowed values and its source.

``isac-iov config`` prints :func:`describe`; the allowed values and sources are those each key declares
(:data:`~.schema.KEYS`).  :func:`aligned` lays out any such table (the learners' hyper-parameters too).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .schema import KEYS, TABLE_II, Config, flat_items, to_plain


def describe(cfg: Config) -> str:
    """The effective config, one key per line, with its declared source and allowed values (:data:`KEYS`)."""
    return aligned([(k, json.dumps(to_plain(v)), _allowed(k), TABLE_II[k]) for k, v in flat_items(cfg).items()])


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """``rows`` as lines of columns two spaces apart, every column but the last padded to its widest cell."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(row[c].ljust(w) for c, w in enumerate(widths)), row[-1]]) for row in rows)


def _allowed(key: str) -> str:
    """The values ``key`` admits, as declared: its plausible range, its choices, or its type."""
    meta = KEYS[key]
    if meta["bounds"]:
        return f"[{meta['bounds'][0]:g}, {meta['bounds'][1]:g}]"
    if meta["allowed"]:
        return str(meta["allowed"])
    return " | ".join(meta["choices"]) if meta["choices"] else "true | false"
