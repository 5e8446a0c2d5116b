"""Run executor: skip finished runs, resume partial ones, run the rest locally or on Ray.

Each :class:`~.specs.RunSpec` owns ``DIR/runs/<key>/``.  The executor writes
``spec.json`` when a run starts and ``done.json`` *last*, atomically; a run
with a valid ``done.json`` is never executed again, so an interrupted
reproduction resumes where it stopped.  A training run without the marker is
restarted with ``resume=True``, so the learner picks up its own checkpoint.
Evaluate runs of learned policies wait until their training run is done.  A
failing run writes ``error.txt``, is reported, and does not stop the others
(its dependents are skipped).

Nothing is reused unverified (:func:`verify`).  ``done.json`` records the run's
spec, wall and CPU time, the code that made it (:func:`isac_iov.rundir.code_fingerprint`),
the size and SHA-256 of every output file, a training run's ``metrics.csv`` row
count (checked to be one row per episode, in order, before the run counts as
finished), and for an evaluation of a learned policy the digest of the
checkpoint it evaluated.  A finished run is reused
only if all of these still hold; one that fails (a truncated or edited
``metrics.csv``, another run's ``done.json``, a retrained source) is redone
from scratch, and the executor says so.  Runs made by other code are *stale*:
:func:`execute` refuses to start while there are any, unless ``redo_stale``
(``reproduce --redo-stale``) asks to redo them.

A process works in a run directory only while it holds the directory's lock
(:func:`isac_iov.rundir.locked`).  A run whose directory another live process
holds (say, a ``reproduce`` still running in another terminal) is waited for
:data:`LOCK_WAIT_S` seconds, then reported as failed with the holder's pid;
nothing is written.  Pool workers die with the process that started them (Linux
parent-death signal, and a watchdog on the parent pid elsewhere), so a killed
``reproduce`` leaves no worker training behind.

Backends:

* ``local`` (default): a process pool of ``workers`` processes (``spawn``
  start method), each limited to ``cpu_count // workers`` torch/BLAS threads
  (``OMP/MKL/OPENBLAS_NUM_THREADS`` unless already set); ``workers=1`` runs
  in this process.
* ``ray``: ``ray.init(address=ray_address)`` to join a cluster, or a local
  instance with ``num_cpus=workers`` when no address is given.  Each run is a
  task with ``num_cpus=1`` that never touches ``DIR``: the driver locks and
  prepares the run, ships its partial files (a resumed run) and, for an
  evaluation, its training run's files through Ray; the worker works in a
  private temporary directory and returns every file, which the driver writes
  (:func:`run_shipped`).  Nodes need no shared file system.  A run interrupted
  on a worker restarts from its last state the driver holds.

Ready runs start longest first (by the estimate below).  The progress bar
shows runs done, running and left and an estimate of the time left, from the
measured seconds per episode of finished runs of the same kind and algorithm
(earlier sessions' ``done.json`` files count too; the mean over finished runs of
the same kind, training or evaluation, stands in until one of that algorithm has
finished, and the estimate is unknown until one of that kind has).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .. import rundir
from ..policies import Policy
from ..rundir import CHECKPOINT_FILE, DONE_FILE, ERROR_FILE, LOCK_FILE, METRICS_FILE, SPEC_FILE, SUMMARY_FILE
from . import schema
from .specs import RunSpec

LOCK_WAIT_S = 10.0
BACKENDS = ("local", "ray")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
FINISHED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # a done.json's ``finished_at`` (strftime / strptime)
RunFn = Callable[[RunSpec, Path, "Path | None"], None]


def run_dir(out_dir: Path, spec: RunSpec) -> Path:
    return Path(out_dir) / "runs" / spec.key


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
            return Verdict("stale", reason=f"started by other code ({_code_text(started.get('code'))})")
        return Verdict("todo")
    record = done_json(directory)
    if record is None:
        return Verdict("bad", reason=f"{DONE_FILE} is unreadable or incomplete")
    if record["spec"]["key"] != spec.key:
        return Verdict("bad", reason=f"{DONE_FILE} belongs to another run")  # the key hashes the run's identity
    if record.get("code") != code:
        return Verdict("stale", record, f"made by other code ({_code_text(record.get('code'))})")
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


def _code_text(code: Any) -> str:
    if not isinstance(code, dict):
        return "no code version recorded"
    return f"isac-iov {code.get('version')}, code fingerprint {code.get('fingerprint')}"


def _source_checkpoint(out_dir: Path, source: RunSpec) -> str | None:
    """SHA-256 of the checkpoint of training run ``source``, as its verified ``done.json`` records it."""
    verdict = verify(out_dir, source)
    if verdict.status != "done":
        return None
    return verdict.record["outputs"].get(CHECKPOINT_FILE, {}).get("sha256")


DECISION_FILE = "decision_time.json"  # an evaluation's decision time per env-slot: a measurement, kept apart from
# summary.json, whose numbers are the same on every backend and machine


def execute_run(spec: RunSpec, directory: Path, source_dir: Path | None) -> None:
    """Do the work of one run (the default run function): train, or evaluate and write summary.json and
    decision_time.json.

    A learned policy is evaluated on the scenario it was trained on (Ly-MAPPO: twin off)."""
    cfg = spec.config
    if spec.kind == "train":
        from ..learners.train import train_run

        train_run(spec.algo, cfg, spec.episodes, spec.seed, directory, resume=True, progress=False)
        return
    from ..evaluate import evaluate_policy

    policy: Policy
    if source_dir is not None:
        from ..learners import effective_config, load_policy

        policy, cfg = load_policy(source_dir, spec.algo), effective_config(spec.algo, cfg)
    else:
        from ..policies import make_policy

        policy = make_policy(spec.algo, cfg, spec.eval_seed)
    result = evaluate_policy(policy, cfg, spec.episodes, spec.eval_seed, record_slots=False, progress=False)
    rundir.write_json(directory / SUMMARY_FILE, result["summary"])
    rundir.write_json(directory / DECISION_FILE, {"decision_s": result["timing"]["act_s_per_env_slot"]})


def _limit_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_and_mark(run_fn: RunFn, spec: RunSpec, out_dir: str, threads: int) -> dict[str, Any]:
    """Execute one run in its (locked) directory and write the done-marker last; return the marker."""
    _limit_threads(threads)
    directory = run_dir(Path(out_dir), spec)
    with rundir.locked(directory, wait_s=LOCK_WAIT_S):
        verdict = _begin(Path(out_dir), spec)
        if verdict.status == "done":
            return verdict.record
        source_dir = run_dir(Path(out_dir), spec.source) if spec.source else None
        try:
            timing = _timed_run(run_fn, spec, directory, source_dir)
        except Exception:
            rundir.write_atomic(directory / ERROR_FILE, traceback.format_exc())
            raise
        return _finish(Path(out_dir), spec, timing)


def _begin(out_dir: Path, spec: RunSpec) -> Verdict:
    """Under the run's lock: verify it again (finished meanwhile by another process: ``done``); empty a
    finished run that fails :func:`verify` (or is stale); mark the start with ``spec.json``."""
    verdict = verify(out_dir, spec)
    if verdict.status != "done":
        directory = run_dir(out_dir, spec)
        if verdict.status != "todo":
            _empty(directory)
        rundir.write_json(directory / SPEC_FILE, {**spec.to_dict(), "code": rundir.code_fingerprint()})
    return verdict


def _timed_run(run_fn: RunFn, spec: RunSpec, directory: Path, source_dir: Path | None) -> dict[str, Any]:
    """Run ``run_fn`` in ``directory`` and check its outputs; its wall and CPU time and host."""
    start, cpu_start = time.perf_counter(), time.process_time()
    run_fn(spec, directory, source_dir)
    _check_outputs(spec, directory)
    return {
        "wall_time_s": time.perf_counter() - start,
        "cpu_time_s": time.process_time() - cpu_start,
        "host": socket.gethostname(),
    }


def _finish(out_dir: Path, spec: RunSpec, timing: dict[str, Any]) -> dict[str, Any]:
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


def run_shipped(
    run_fn: RunFn, spec: RunSpec, files: dict[str, bytes], source_files: dict[str, bytes] | None, threads: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Execute one run away from the driver's disk (a Ray worker, possibly on another machine).

    The run's directory so far (``files``, empty for a new run; a partial run resumes) and its training
    run's files (``source_files``) arrive as bytes and are unpacked into a private temporary directory;
    the run's timing and every file of its directory go back to the driver, which alone writes ``--out``."""
    _limit_threads(threads)
    with tempfile.TemporaryDirectory(prefix="isac-iov-run-") as tmp:
        directory, source_dir = Path(tmp) / "run", Path(tmp) / "source"
        _unpack(files, directory)
        if source_files is not None:
            _unpack(source_files, source_dir)
        timing = _timed_run(run_fn, spec, directory, source_dir if source_files is not None else None)
        return timing, _pack(directory)


def _pack(directory: Path, top_level_only: bool = False) -> dict[str, bytes]:
    """``{relative path: bytes}`` of the files under ``directory`` (its lock file excluded)."""
    paths = directory.iterdir() if top_level_only else directory.rglob("*")
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(paths)
        if p.is_file() and p.name != LOCK_FILE
    }


def _unpack(files: dict[str, bytes], directory: Path) -> None:
    """Write ``files`` (from :func:`_pack`) under ``directory``, each atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise rundir.RunDirError(f"a shipped run file {name!r} would land outside {directory}; refusing it")
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        rundir.write_atomic(path, data)


def _empty(directory: Path) -> None:
    """Remove everything in a run directory but its lock file."""
    for path in directory.iterdir():
        if path.name != LOCK_FILE:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def _check_outputs(spec: RunSpec, directory: Path) -> None:
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


def _die_with_parent(parent_pid: int) -> None:
    """Pool-worker initializer: end this worker when the process that started it dies.

    Linux: the kernel's parent-death signal (``PR_SET_PDEATHSIG``); everywhere: a daemon thread
    that polls the parent pid once a second."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


class _LocalBackend:
    def __init__(self, workers: int, threads: int):
        self.threads = threads
        self.pool = None
        if workers > 1:
            self.pool = cf.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )

    def submit(self, run_fn: RunFn, spec: RunSpec, out_dir: str) -> cf.Future:
        if self.pool is not None:
            return self.pool.submit(run_and_mark, run_fn, spec, out_dir, self.threads)
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(run_and_mark(run_fn, spec, out_dir, self.threads))
        except Exception as exc:  # noqa: BLE001 - any failure of a run is reported by the scheduler, as from the pool
            fut.set_exception(exc)
        return fut

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        return list(cf.wait(handles, timeout=timeout_s, return_when=cf.FIRST_COMPLETED).done)

    @staticmethod
    def result(handle: cf.Future) -> dict[str, Any]:
        return handle.result()

    def close(self, cancel: bool = False) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


class _RayBackend:
    def __init__(self, workers: int, threads: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise ValueError("--backend ray needs Ray: pip install 'isac-iov[ray]'") from None
        self.ray = ray
        self.threads = threads
        self.owns = not ray.is_initialized()
        if self.owns:
            if address:
                ray.init(address=address)
            else:
                ray.init(num_cpus=workers, include_dashboard=False)
        self.remote = ray.remote(num_cpus=1)(run_shipped)
        self.held: dict[Any, tuple[RunSpec, Path, contextlib.ExitStack]] = {}

    def submit(self, run_fn: RunFn, spec: RunSpec, out_dir: str) -> Any:
        """Lock and prepare the run here, ship it to a worker with the files it needs (see
        :func:`run_shipped`); the lock is held until :meth:`result` has written what comes back."""
        out, lock = Path(out_dir), contextlib.ExitStack()
        directory = run_dir(out, spec)
        lock.enter_context(rundir.locked(directory, wait_s=LOCK_WAIT_S))
        handle: Any
        try:
            verdict = _begin(out, spec)
            if verdict.status == "done":
                handle = self.ray.put(verdict.record)
            else:
                source = _pack(run_dir(out, spec.source), top_level_only=True) if spec.source else None
                handle = self.remote.remote(run_fn, spec, _pack(directory), source, self.threads)
        except BaseException:
            lock.close()
            raise
        self.held[handle] = (spec, out, lock)
        return handle

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        ready, _ = self.ray.wait(list(handles), num_returns=1, timeout=timeout_s)
        return ready

    def result(self, handle: Any) -> dict[str, Any]:
        spec, out, lock = self.held.pop(handle)
        with lock:
            try:
                value = self.ray.get(handle)
            except Exception as exc:
                rundir.write_atomic(run_dir(out, spec) / ERROR_FILE, str(exc))
                raise
            if isinstance(value, dict):  # finished by another process before it was submitted
                return value
            timing, files = value
            _unpack(files, run_dir(out, spec))
            return _finish(out, spec, timing)

    def close(self, cancel: bool = False) -> None:
        for _, _, lock in self.held.values():
            lock.close()
        self.held.clear()
        if self.owns:
            self.ray.shutdown()


@dataclass
class RunReport:
    """What :func:`execute` did: keys executed, skipped (already done), failed (with the error) and
    redone (finished before, but failing verification)."""

    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    redone: list[str] = field(default_factory=list)  # finished runs that failed verification (or were stale)


class _Eta:
    """Seconds-per-episode estimates by (kind, algo): from finished runs (:func:`run_wall_s`), and from
    the episodes a running training run has logged so far and the training time they took
    (:func:`logged_training`, which counts a resumed run's earlier attempts too)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.rates: dict[tuple[str, str], list[float]] = {}
        self.live: dict[tuple[str, str], float] = {}

    def add(self, record: dict[str, Any]) -> None:
        spec = record["spec"]
        rate = run_wall_s(self.out_dir, record) / max(spec["episodes"], 1)
        self.rates.setdefault((spec["kind"], spec["algo"]), []).append(rate)

    def seconds(self, spec: RunSpec) -> float | None:
        """Estimated seconds of ``spec``: its (kind, algo)'s mean rate, else the mean over runs of its kind
        (training or evaluation: their rates per episode differ a hundredfold), else unknown."""
        kind = (spec.kind, spec.algo)
        rates = self.rates.get(kind) or ([self.live[kind]] if kind in self.live else [])
        rates = rates or [r for k, v in self.rates.items() if k[0] == spec.kind for r in v]
        rates = rates or [r for k, r in self.live.items() if k[0] == spec.kind]
        return sum(rates) / len(rates) * spec.episodes if rates else None

    def left_s(
        self, todo: list[RunSpec], running: dict[Any, tuple[RunSpec, float]], capacity: int
    ) -> tuple[float, int]:
        """``(seconds, untimed)``: the work left on ``capacity`` workers over the runs with an estimate, and
        how many runs have none yet (evaluations before the first one ends), so the seconds are a lower bound."""
        now, total, untimed, done_share = time.perf_counter(), 0.0, 0, {}
        for key, (spec, started) in running.items():
            logged, logged_s = logged_training(run_dir(self.out_dir, spec)) if spec.kind == "train" else (0, 0.0)
            if logged:
                self.live[(spec.kind, spec.algo)] = max(logged_s, now - started) / logged
            done_share[key] = min(logged / max(spec.episodes, 1), 1.0)
        for key, (spec, started) in running.items():
            est = self.seconds(spec)
            if est is None:
                untimed += 1
                continue
            left = est * (1.0 - done_share[key]) if done_share[key] else est - (now - started)
            total += max(left, 0.0)
        for spec in todo:
            est = self.seconds(spec)
            untimed += est is None
            total += est or 0.0
        return total / max(capacity, 1), untimed


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


def _fmt_s(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def eta_text(left: tuple[float, int]) -> str:
    """The progress bar's time left (:meth:`_Eta.left_s`): a lower bound while some runs are untimed."""
    seconds, untimed = left
    return _fmt_s(seconds) if not untimed else f">{_fmt_s(seconds)} (+{untimed} untimed)"


def execute(
    runs: list[RunSpec],
    out_dir: Path,
    backend: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    run_fn: RunFn | None = None,
    progress: bool = True,
    redo_stale: bool = False,
) -> RunReport:
    """Execute every run of ``runs`` not already done in ``out_dir`` with ``run_fn`` (default
    :func:`execute_run`); see the module docstring."""
    run_fn = run_fn or execute_run
    if backend not in BACKENDS:
        raise ValueError(f"--backend must be one of {BACKENDS}, got {backend!r}")
    cpus = os.cpu_count() or 1
    workers = cpus if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be a positive integer, got {workers!r}")
    threads = max(1, cpus // workers)
    out_dir = Path(out_dir)
    report, eta = RunReport(), _Eta(out_dir)
    todo = _sort_runs(runs, out_dir, report, eta, redo_stale)
    for var in THREAD_VARS:  # read by BLAS/OpenMP at import time in the workers we start
        os.environ.setdefault(var, str(threads))
    if not todo:
        return report
    exec_backend = _LocalBackend(workers, threads) if backend == "local" else _RayBackend(workers, threads, ray_address)
    try:
        _schedule(todo, out_dir, exec_backend, workers, run_fn, report, eta, progress)
    except BaseException:
        exec_backend.close(cancel=True)
        raise
    exec_backend.close()
    return report


def _sort_runs(runs: list[RunSpec], out_dir: Path, report: RunReport, eta: _Eta, redo_stale: bool) -> list[RunSpec]:
    """Record the verified finished runs as skipped; return the others (saying why a finished one is redone).

    Raises :class:`isac_iov.rundir.RunDirError` on runs made by other code unless ``redo_stale``."""
    verdicts = {spec.key: verify(out_dir, spec) for spec in runs}
    stale = [(k, v) for k, v in verdicts.items() if v.status == "stale"]
    if stale and not redo_stale:
        key, verdict = stale[0]
        raise rundir.RunDirError(
            f"{len(stale)} run(s) in {out_dir} were {verdict.reason}, e.g. runs/{key}; this is "
            f"{_code_text(rundir.code_fingerprint())}. Pass --redo-stale to redo them, or use a new --out"
        )
    todo = []
    for spec in runs:
        verdict = verdicts[spec.key]
        if verdict.status == "done":
            report.skipped.append(spec.key)
            eta.add(verdict.record)
            continue
        if verdict.status != "todo":
            print(f"run {spec.key}: {verdict.reason}; redoing it", file=sys.stderr)
            report.redone.append(spec.key)
        todo.append(spec)
    return todo


def _schedule(
    todo: list[RunSpec],
    out_dir: Path,
    backend: Any,
    capacity: int,
    run_fn: RunFn,
    report: RunReport,
    eta: _Eta,
    progress: bool,
) -> None:
    finished = set(report.skipped)
    running: dict[Any, tuple[RunSpec, float]] = {}
    bar = tqdm(
        total=len(todo),
        desc="runs",
        unit="run",
        disable=not progress,
        dynamic_ncols=True,
        mininterval=1.0,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}] {postfix}",
    )
    while todo or running:
        bar.update(_drop_orphans(todo, report))
        ready = [s for s in todo if s.source is None or s.source.key in finished]
        ready.sort(key=lambda s: -(eta.seconds(s) or s.episodes))  # longest first: no lone straggler at the end
        for spec in ready[: max(capacity - len(running), 0)]:
            todo.remove(spec)
            running[backend.submit(run_fn, spec, str(out_dir))] = (spec, time.perf_counter())
        if not running:
            break
        for handle in backend.wait(list(running), timeout_s=2.0):
            spec, _ = running.pop(handle)
            try:
                eta.add(backend.result(handle))
                finished.add(spec.key)
                report.executed.append(spec.key)
            except Exception as exc:  # noqa: BLE001 - a failed run is recorded; the others go on
                report.failed[spec.key] = f"{type(exc).__name__}: {exc}"
                bar.write(f"run {spec.key} failed: {type(exc).__name__}: {exc}")
            bar.update(1)
        bar.set_postfix_str(
            f"running {len(running)}, left {len(todo)}, failed {len(report.failed)}, "
            f"eta {eta_text(eta.left_s(todo, running, capacity))}"
        )
    bar.close()


def _drop_orphans(todo: list[RunSpec], report: RunReport) -> int:
    """Remove evaluate runs whose training run failed (recorded as failed too); return how many."""
    orphans = [(s, s.source.key) for s in todo if s.source is not None and s.source.key in report.failed]
    for spec, source_key in orphans:
        todo.remove(spec)
        report.failed[spec.key] = f"source run {source_key} failed"
    return len(orphans)
