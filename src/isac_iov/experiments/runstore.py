"""The run store: each run's directory, what marks it finished, and the checks before a finished run is reused.

Each :class:`~.specs.RunSpec` owns ``DIR/runs/<key>/`` (:func:`run_dir`).  The
executor writes ``spec.json`` when a run starts (:func:`begin`) and ``done.json``
*last*, atomically (:func:`finish`); a run with a valid ``done.json`` is never
executed again, so an interrupted reproduction resumes where it stopped.  A
failing run writes ``error.txt``.

Nothing is reused unverified (:func:`verify`).  ``done.json`` records the run's
spec, wall and CPU time, the code that made it (:func:`isac_iov.rundir.code_fingerprint`),
the size and SHA-256 of every output file, a training run's ``metrics.csv`` row
count (checked to be one row per episode, in order, before the run counts as
finished: :func:`check_outputs`), and for an evaluation of a learned policy the
digest of the checkpoint it evaluated.  A finished run is reused
only if all of these still hold; one that fails (a truncated or edited
``metrics.csv``, another run's ``done.json``, a retrained source) is redone
from scratch.  Runs made by other code are *stale*.

A process works in a run directory only while it holds the directory's lock
(:func:`locked`, waiting :data:`LOCK_WAIT_S` seconds for another live process
that holds it).

A run's wall time over all its attempts (:func:`run_wall_s`) counts, for a
training run resumed after a kill, the earlier attempts its ``metrics.csv``
logged (:func:`logged_training`).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import rundir
from ..rundir import CHECKPOINT_FILE, DONE_FILE, ERROR_FILE, LOCK_FILE, METRICS_FILE, SPEC_FILE, SUMMARY_FILE
from . import schema
from .specs import RunSpec

LOCK_WAIT_S = 10.0
FINISHED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # a done.json's ``finished_at`` (strftime / strptime)
DECISION_FILE = "decision_time.json"  # an evaluation's decision time per env-slot: a measurement, kept apart from
# summary.json, whose numbers are the same on every backend and machine


def run_dir(out_dir: Path, spec: RunSpec) -> Path:
    """The directory of run ``spec`` in ``out_dir``: ``runs/<key>``."""
    return Path(out_dir) / "runs" / spec.key


def locked(out_dir: Path, spec: RunSpec) -> contextlib.AbstractContextManager[None]:
    """The lock of run ``spec``'s directory (:func:`isac_iov.rundir.locked`), waiting up to :data:`LOCK_WAIT_S`
    seconds for another process that holds it."""
    return rundir.locked(run_dir(out_dir, spec), wait_s=LOCK_WAIT_S)


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: ``status`` is ``done`` (``record`` is its ``done.json``), ``todo``
    (never finished), ``bad`` (finished, but fails a check: ``reason``) or ``stale`` (other code).
    ``record`` is empty when there is no readable ``done.json`` of this run."""

    status: str
    record: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def verify(out_dir: Path, spec: RunSpec) -> Verdict:
    """Check run ``spec`` in ``out_dir`` against its ``done.json`` (see the module docstring)."""
    directory = run_dir(out_dir, spec)
    code = rundir.code_fingerprint()
    if not (directory / DONE_FILE).is_file():
        started = _read_json(directory / SPEC_FILE)
        if started is not None and started.get("code", code) != code:
            return Verdict("stale", reason=f"started by other code ({code_text(started.get('code'))})")
        return Verdict("todo")
    record = done_json(directory)
    if record is None:
        return Verdict("bad", reason=f"{DONE_FILE} is unreadable or incomplete")
    if record["spec"]["key"] != spec.key:
        return Verdict("bad", reason=f"{DONE_FILE} belongs to another run")  # the key hashes the run's identity
    if record.get("code") != code:
        return Verdict("stale", record, f"made by other code ({code_text(record.get('code'))})")
    changed = rundir.changed_outputs(directory, record["outputs"])
    if changed:
        return Verdict("bad", reason=changed)
    if spec.source is not None and record.get("source_checkpoint") != _source_checkpoint(out_dir, spec.source):
        return Verdict("bad", reason="its training run changed or is not done")
    return Verdict("done", record)


def done_record(out_dir: Path, spec: RunSpec) -> dict[str, Any] | None:
    """The verified ``done.json`` of a finished run, or None (not finished, or failing :func:`verify`)."""
    verdict = verify(out_dir, spec)
    return verdict.record if verdict.status == "done" else None


def done_json(directory: Path) -> dict[str, Any] | None:
    """The ``done.json`` of run ``directory`` if it has the shape :data:`.schema.DONE` says, else None."""
    try:
        record = schema.read_checked(directory / DONE_FILE, schema.DONE)
        time.strptime(record["finished_at"], FINISHED_AT_FORMAT)
    except (schema.ResultFileError, OSError, ValueError):
        return None
    return record


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = schema.read_json(path)
    except (schema.ResultFileError, OSError):
        return None
    return data if isinstance(data, dict) else None


def code_text(code: Any) -> str:
    """The code a ``done.json`` or ``spec.json`` records (:func:`isac_iov.rundir.code_fingerprint`), in words."""
    if not isinstance(code, dict):
        return "no code version recorded"
    return f"isac-iov {code.get('version')}, code fingerprint {code.get('fingerprint')}"


def _source_checkpoint(out_dir: Path, source: RunSpec) -> str | None:
    """SHA-256 of the checkpoint of training run ``source``, as its verified ``done.json`` records it."""
    verdict = verify(out_dir, source)
    if verdict.status != "done":
        return None
    return verdict.record["outputs"].get(CHECKPOINT_FILE, {}).get("sha256")


def begin(out_dir: Path, spec: RunSpec) -> Verdict:
    """Under the run's lock: verify it again (finished meanwhile by another process: ``done``); empty a
    finished run that fails :func:`verify` (or is stale); mark the start with ``spec.json``."""
    verdict = verify(out_dir, spec)
    if verdict.status != "done":
        directory = run_dir(out_dir, spec)
        if verdict.status != "todo":
            _empty(directory)
        rundir.write_json(directory / SPEC_FILE, {**spec.to_dict(), "code": rundir.code_fingerprint()})
    return verdict


def finish(out_dir: Path, spec: RunSpec, timing: dict[str, Any]) -> dict[str, Any]:
    """Under the run's lock, its outputs in place: write and return the done-marker."""
    directory = run_dir(out_dir, spec)
    record = {
        "spec": spec.to_dict(),
        **timing,
        "finished_at": time.strftime(FINISHED_AT_FORMAT),
        "code": rundir.code_fingerprint(),
        "outputs": rundir.output_digests(directory),
    }
    if spec.kind == "train":
        record["metrics_rows"] = rundir.csv_rows(directory / METRICS_FILE)
    if spec.source is not None:
        record["source_checkpoint"] = _source_checkpoint(out_dir, spec.source)
    (directory / ERROR_FILE).unlink(missing_ok=True)
    rundir.write_json(directory / DONE_FILE, record)
    return record


def _empty(directory: Path) -> None:
    """Remove everything in a run directory but its lock file."""
    for path in directory.iterdir():
        if path.name != LOCK_FILE:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def check_outputs(spec: RunSpec, directory: Path) -> None:
    """A training run must leave one metrics row per episode, in order; an evaluation a summary."""
    if spec.kind == "train":
        path = directory / METRICS_FILE
        with open(path) as fh:
            episodes = [line.split(",", 1)[0] for line in fh.read().splitlines()[1:]]
        if not _is_sequence(episodes, spec.episodes):
            raise RuntimeError(
                f"{path}: expected episodes 0..{spec.episodes - 1} once each, found {len(episodes)} rows"
            )
    elif not (directory / SUMMARY_FILE).is_file():
        raise RuntimeError(f"{directory}: the evaluation wrote no {SUMMARY_FILE}")


def _is_sequence(cells: list[str], n: int) -> bool:
    """Whether ``cells`` are the numbers 0 .. n-1 in order (integers, possibly written as floats)."""
    try:
        return [float(c) for c in cells] == list(range(n))
    except ValueError:
        return False


def logged_training(directory: Path) -> tuple[int, float]:
    """``(episodes, seconds)`` a training run's ``metrics.csv`` has logged: its data rows and the
    ``wall_time_s`` of the last complete one (``(0, 0.0)`` without rows).  The learner carries that clock
    over a resume from its checkpoint, so the seconds cover every attempt up to the checkpoint the last
    one resumed from."""
    path = directory / METRICS_FILE
    if not path.is_file():
        return 0, 0.0
    rows = path.read_bytes().splitlines()  # numbers only: no quoting, so no csv parsing of every row
    episodes = max(len(rows) - 1, 0)
    header = rows[0].decode().split(",") if rows else []
    if "wall_time_s" not in header:
        return episodes, 0.0
    column = header.index("wall_time_s")
    for row in reversed(rows[1:]):
        with contextlib.suppress(ValueError, IndexError):  # a row cut short by a kill: the one before
            return episodes, float(row.split(b",")[column])
    return episodes, 0.0


def run_wall_s(out_dir: Path, record: dict[str, Any]) -> float:
    """A finished run's wall time over all its attempts.  ``done.json`` times only the attempt that finished;
    a training run resumed from its checkpoint spent earlier attempts too, which its ``metrics.csv`` clock
    carries (:func:`logged_training`), so for training runs the larger of the two counts."""
    wall = float(record["wall_time_s"])
    if record["spec"]["kind"] != "train":
        return wall
    return max(wall, logged_training(Path(out_dir) / "runs" / record["spec"]["key"])[1])
