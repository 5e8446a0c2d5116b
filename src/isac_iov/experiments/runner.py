"""Run executor: skip finished runs, resume partial ones, run the rest locally or on Ray.

Each :class:`~.specs.RunSpec` owns ``DIR/runs/<key>/``.  The executor writes
``spec.json`` when a run starts and ``done.json`` (spec, wall time, finish
time) *last*, atomically; a run with ``done.json`` is never executed again, so
an interrupted reproduction resumes where it stopped.  A training run without
the marker is restarted with ``resume=True``, so the learner picks up its own
checkpoint.  Evaluate runs of learned policies wait until their training run is
done.  A failing run writes ``error.txt``, is reported, and does not stop the
others (its dependents are skipped).

Backends:

* ``local`` (default): a process pool of ``workers`` processes (``spawn``
  start method), each limited to ``cpu_count // workers`` torch/BLAS threads
  (``OMP/MKL/OPENBLAS_NUM_THREADS`` unless already set); ``workers=1`` runs
  in this process.
* ``ray``: ``ray.init(address=ray_address)`` to join a cluster, or a local
  instance with ``num_cpus=workers`` when no address is given.  Each run is a
  task with ``num_cpus=1``.  ``DIR`` must be on a file system every node can
  write (runs write their outputs in place).

Ready runs start longest first (by the estimate below).  The progress bar
shows runs done, running and left and an estimate of the time left, from the
measured seconds per episode of finished runs of the same kind and algorithm
(earlier sessions' ``done.json`` files count too; the mean over all finished
runs stands in until one of that kind has finished).
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from .specs import RunSpec

DONE_FILE = "done.json"
SPEC_FILE = "spec.json"
ERROR_FILE = "error.txt"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.csv"  # written by the learners' train_run, one row per episode
BACKENDS = ("local", "ray")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
RunFn = Callable[[RunSpec, Path, "Path | None"], None]


def run_dir(out_dir: Path, spec: RunSpec) -> Path:
    return Path(out_dir) / "runs" / spec.key


def done_record(out_dir: Path, spec: RunSpec) -> dict[str, Any] | None:
    """The ``done.json`` of a finished run, or None."""
    path = run_dir(out_dir, spec) / DONE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def execute_run(spec: RunSpec, directory: Path, source_dir: Path | None) -> None:
    """Do the work of one run (the default run function): train, or evaluate and write summary.json.

    A learned policy is evaluated on the scenario it was trained on (Ly-MAPPO: twin off)."""
    cfg = spec.config
    if spec.kind == "train":
        from ..learners.train import train_run
        train_run(spec.algo, cfg, spec.episodes, spec.seed, directory, resume=True, progress=False)
        return
    from ..evaluate import evaluate_policy
    if source_dir is not None:
        from ..learners import effective_config, load_policy
        policy, cfg = load_policy(source_dir), effective_config(spec.algo, cfg)
    else:
        from ..policies import make_policy
        policy = make_policy(spec.algo, cfg, spec.eval_seed)
    result = evaluate_policy(policy, cfg, spec.episodes, spec.eval_seed, record_slots=False, progress=False)
    _write_json(directory / SUMMARY_FILE, result["summary"])


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _limit_threads(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)


def run_and_mark(run_fn: RunFn, spec: RunSpec, out_dir: str, threads: int) -> dict[str, Any]:
    """Execute one run in its directory and write the done-marker last; return the marker."""
    _limit_threads(threads)
    directory = run_dir(Path(out_dir), spec)
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / SPEC_FILE, spec.to_dict())
    source_dir = run_dir(Path(out_dir), spec.source) if spec.source else None
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        run_fn(spec, directory, source_dir)
    except Exception:
        (directory / ERROR_FILE).write_text(traceback.format_exc())
        raise
    record = {"spec": spec.to_dict(), "wall_time_s": time.perf_counter() - start,
              "cpu_time_s": time.process_time() - cpu_start,
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname()}
    (directory / ERROR_FILE).unlink(missing_ok=True)
    _write_json(directory / DONE_FILE, record)
    return record


class _LocalBackend:
    def __init__(self, workers: int, threads: int):
        self.threads = threads
        self.pool = None
        if workers > 1:
            self.pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, run_fn: RunFn, spec: RunSpec, out_dir: str) -> cf.Future:
        if self.pool is not None:
            return self.pool.submit(run_and_mark, run_fn, spec, out_dir, self.threads)
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(run_and_mark(run_fn, spec, out_dir, self.threads))
        except Exception as exc:  # reported by the scheduler like a pool failure
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
        self.remote = ray.remote(num_cpus=1)(run_and_mark)

    def submit(self, run_fn: RunFn, spec: RunSpec, out_dir: str) -> Any:
        return self.remote.remote(run_fn, spec, out_dir, self.threads)

    def wait(self, handles: list[Any], timeout_s: float) -> list[Any]:
        ready, _ = self.ray.wait(list(handles), num_returns=1, timeout=timeout_s)
        return ready

    def result(self, handle: Any) -> dict[str, Any]:
        return self.ray.get(handle)

    def close(self, cancel: bool = False) -> None:
        if self.owns:
            self.ray.shutdown()


@dataclass
class RunReport:
    """What :func:`execute` did: keys executed, skipped (already done) and failed (with the error)."""

    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class _Eta:
    """Seconds-per-episode estimates by (kind, algo): from finished runs, and from the episodes a
    running training run has logged so far (its ``metrics.csv`` rows)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.rates: dict[tuple[str, str], list[float]] = {}
        self.live: dict[tuple[str, str], float] = {}

    def add(self, record: dict[str, Any]) -> None:
        spec = record["spec"]
        rate = record["wall_time_s"] / max(spec["episodes"], 1)
        self.rates.setdefault((spec["kind"], spec["algo"]), []).append(rate)

    def seconds(self, spec: RunSpec) -> float | None:
        kind = (spec.kind, spec.algo)
        rates = self.rates.get(kind) or ([self.live[kind]] if kind in self.live else [])
        rates = rates or [r for v in self.rates.values() for r in v] or list(self.live.values())
        return sum(rates) / len(rates) * spec.episodes if rates else None

    def _logged_episodes(self, spec: RunSpec) -> int:
        path = run_dir(self.out_dir, spec) / METRICS_FILE
        if spec.kind != "train" or not path.is_file():
            return 0
        with open(path, "rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)

    def left_s(self, todo: list[RunSpec], running: dict[Any, tuple[RunSpec, float]], capacity: int) -> float | None:
        now, total = time.perf_counter(), 0.0
        for spec, started in running.values():
            logged = self._logged_episodes(spec)
            if logged:
                self.live[(spec.kind, spec.algo)] = (now - started) / logged
        for spec, started in running.values():
            est = self.seconds(spec)
            if est is None:
                return None
            total += max(est - (now - started), 0.0)
        for spec in todo:
            est = self.seconds(spec)
            if est is None:
                return None
            total += est
        return total / max(capacity, 1)


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def execute(runs: list[RunSpec], out_dir: Path, backend: str = "local", workers: int | None = None,
            ray_address: str | None = None, run_fn: RunFn | None = None, progress: bool = True) -> RunReport:
    """Execute every run of ``runs`` not already done in ``out_dir`` with ``run_fn`` (default
    :func:`execute_run`); see the module docstring."""
    run_fn = run_fn or execute_run
    if backend not in BACKENDS:
        raise ValueError(f"--backend must be one of {BACKENDS}, got {backend!r}")
    cpus = os.cpu_count() or 1
    workers = workers or cpus
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    threads = max(1, cpus // workers)
    for var in THREAD_VARS:  # read by BLAS/OpenMP at import time in the workers we start
        os.environ.setdefault(var, str(threads))
    out_dir = Path(out_dir)
    report, eta = RunReport(), _Eta(out_dir)
    todo: list[RunSpec] = []
    for spec in runs:
        record = done_record(out_dir, spec)
        if record is None:
            todo.append(spec)
        else:
            report.skipped.append(spec.key)
            eta.add(record)
    if not todo:
        return report
    exec_backend = (_LocalBackend(workers, threads) if backend == "local"
                    else _RayBackend(workers, threads, ray_address))
    try:
        _schedule(todo, out_dir, exec_backend, workers, run_fn, report, eta, progress)
    except BaseException:
        exec_backend.close(cancel=True)
        raise
    exec_backend.close()
    return report


def _schedule(todo: list[RunSpec], out_dir: Path, backend: Any, capacity: int, run_fn: RunFn,
              report: RunReport, eta: _Eta, progress: bool) -> None:
    finished = set(report.skipped)
    running: dict[Any, tuple[RunSpec, float]] = {}
    bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not progress, dynamic_ncols=True, mininterval=1.0,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}] {postfix}")
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
            except Exception as exc:
                report.failed[spec.key] = f"{type(exc).__name__}: {exc}"
                bar.write(f"run {spec.key} failed: {type(exc).__name__}: {exc}")
            bar.update(1)
        bar.set_postfix_str(f"running {len(running)}, left {len(todo)}, failed {len(report.failed)}, "
                            f"eta {_fmt_s(eta.left_s(todo, running, capacity))}")
    bar.close()


def _drop_orphans(todo: list[RunSpec], report: RunReport) -> int:
    """Remove evaluate runs whose training run failed (recorded as failed too); return how many."""
    orphans = [s for s in todo if s.source is not None and s.source.key in report.failed]
    for spec in orphans:
        todo.remove(spec)
        report.failed[spec.key] = f"source run {spec.source.key} failed"
    return len(orphans)
