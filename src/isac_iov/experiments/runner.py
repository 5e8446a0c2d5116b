"""Run executor: skip finished runs, resume partial ones, run the rest locally or on Ray.

:func:`execute` sorts the runs by what the run store (:mod:`.runstore`) finds in
``DIR``: a verified finished run is skipped; one that fails verification is redone
from scratch, and the executor says so; runs made by other code (*stale*) stop it
before any work unless ``redo_stale`` (``reproduce --redo-stale``) asks to redo
them.  A training run without its ``done.json`` is restarted with
``resume=True``, so the learner picks up its own checkpoint.  The rest execute on
a backend (:mod:`.backends`: a local process pool or Ray).  Evaluate runs of
learned policies wait until their training run is done.  A failing run is
reported and does not stop the others (its dependents are skipped).  A run whose
directory another live process holds (say, a ``reproduce`` still running in
another terminal) is waited for :data:`.runstore.LOCK_WAIT_S` seconds, then
reported as failed with the holder's pid; nothing is written.

Each local worker is limited to ``cpu_count // workers`` torch/BLAS threads
(``OMP/MKL/OPENBLAS_NUM_THREADS`` unless already set).  Ready runs start
longest first (by the estimate below).  The progress bar
shows runs done, running and left and an estimate of the time left, from the
measured seconds per episode of finished runs of the same kind and algorithm
(earlier sessions' ``done.json`` files count too; the mean over finished runs of
the same kind, training or evaluation, stands in until one of that algorithm has
finished, and the estimate is unknown until one of that kind has).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .. import rundir
from ..policies import Policy
from ..rundir import SUMMARY_FILE
from .backends import BACKENDS, LocalBackend, RayBackend, RunFn
from .runstore import DECISION_FILE, code_text, logged_training, run_dir, run_wall_s, verify
from .specs import RunSpec

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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
    exec_backend = LocalBackend(workers, threads) if backend == "local" else RayBackend(workers, threads, ray_address)
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
            f"{code_text(rundir.code_fingerprint())}. Pass --redo-stale to redo them, or use a new --out"
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
