"""Shapes of the JSON files the experiment pipeline reads back, checked before any of it is used.

A results directory may come from someone else, so every file that ``report``, ``reproduce`` or the
statistics read is checked against a schema first: :func:`read_json` parses a file and :func:`check`
walks a schema, and a mismatch is one :class:`ResultFileError` line naming the file and the field
(``results/table3.json: field scalars[3].mean must be a number, got 'x'``).

A schema is ``NUM`` (an int or float, not a bool), ``INT``, ``STR``, ``ANY``, a tuple of schemas
(any one fits), a one-element list ``[S]`` (a list of ``S``), ``{"*": S}`` (a mapping whose every value
is ``S``), or a dict of required keys (other keys are allowed and not checked).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..rundir import RunDirError, read_text_member

NUM, INT, STR, ANY, NULL = "number", "integer", "string", "anything", "null"

SCALAR_ROW = {
    "series": STR,
    "x": (NUM, STR, NULL),
    "metric": STR,
    "n": INT,
    **{k: NUM for k in ("mean", "ci_low", "ci_high", "iqm", "std")},
    "values": [NUM],
    "seeds": [INT],
}
CURVE_ROW = {
    "series": STR,
    "x": (NUM, STR, NULL),
    "metric": STR,
    **{k: [NUM] for k in ("episode", "mean", "ci_low", "ci_high", "raw_mean")},
}
SCALE = {k: INT for k in ("episodes", "eval_episodes", "steady_window", "smooth_window")} | {
    "name": STR,
    "seeds": [INT],
}
RESULT = {"experiment": STR, "scale": SCALE, "scalars": [SCALAR_ROW], "curves": [CURVE_ROW]}
TIMING = {
    **{k: NUM for k in ("wall_time_s", "run_seconds_total", "full_estimate_h", "full_estimate_cpu_h")},
    **{k: INT for k in ("executed", "skipped", "failed", "workers", "full_runs")},
    "backend": STR,
}
DONE = {
    "spec": {"key": STR, "kind": STR, "algo": STR, "overrides": [STR], "seed": INT, "episodes": INT},
    "wall_time_s": NUM,
    "cpu_time_s": NUM,
    "finished_at": STR,
    "code": {"version": STR, "fingerprint": STR},
    "outputs": {"*": {"bytes": INT, "sha256": STR}},
}
TRAINING_SECONDS = {"*": {**{k: NUM for k in ("min", "median", "max")}, "runs": INT, "resumed": INT}}
PROVENANCE = {"code": [{"version": STR, "fingerprint": STR, "runs": INT}]}


class ResultFileError(ValueError):
    """A results or run file whose contents do not have the expected shape; the message names file and field."""


def read_json(path: Path) -> Any:
    """The JSON in ``path`` (a symbolic link is refused); :class:`ResultFileError` naming it if it is not JSON."""
    try:
        return json.loads(read_text_member(path))
    except RunDirError as exc:
        raise ResultFileError(str(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise ResultFileError(f"{path}: not valid JSON ({type(exc).__name__})") from None


def read_checked(path: Path, schema: Any) -> Any:
    """:func:`read_json`, then :func:`check` against ``schema``."""
    data = read_json(path)
    check(data, schema, str(path))
    return data


def check(value: Any, schema: Any, source: str, where: str = "") -> None:
    """Raise :class:`ResultFileError` naming ``source`` and the first field of ``value`` that ``schema`` rejects."""
    problem = _mismatch(value, schema, where)
    if problem is not None:
        raise ResultFileError(f"{source}: {problem}")


def _mismatch(value: Any, schema: Any, where: str) -> str | None:
    field = f"field {where}" if where else "the top level"
    if isinstance(schema, tuple):
        if all(_mismatch(value, s, where) is not None for s in schema):
            return f"{field} must be {' or '.join(_name(s) for s in schema)}, got {_show(value)}"
        return None
    if isinstance(schema, list):
        if not isinstance(value, list):
            return f"{field} must be a list, got {_show(value)}"
        return next((p for i, v in enumerate(value) if (p := _mismatch(v, schema[0], f"{where}[{i}]"))), None)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{field} must be a mapping, got {_show(value)}"
        if set(schema) == {"*"}:
            items = ((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
            return next((p for inner, v in items if (p := _mismatch(v, schema["*"], inner))), None)
        for key, sub in schema.items():
            inner = f"{where}.{key}" if where else key
            if key not in value:
                return f"field {inner} is missing"
            problem = _mismatch(value[key], sub, inner)
            if problem is not None:
                return problem
        return None
    if not _fits(value, schema):
        return f"{field} must be {_name(schema)}, got {_show(value)}"
    return None


def _fits(value: Any, kind: str) -> bool:
    if kind == ANY:
        return True
    if kind == NULL:
        return value is None
    if kind == STR:
        return isinstance(value, str)
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if kind == INT else isinstance(value, int | float)


def _name(schema: Any) -> str:
    if isinstance(schema, list):
        return "a list"
    if isinstance(schema, dict):
        return "a mapping"
    return {NUM: "a number", INT: "an integer", STR: "a string", NULL: "null", ANY: "anything"}[schema]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"
