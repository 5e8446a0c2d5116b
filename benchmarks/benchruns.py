"""Training runs and evaluations of the benchmark scripts, kept on disk and reused only when still valid.

:func:`train` trains a learner in a fresh subprocess (so ``resource.getrusage`` gives that run's own peak RSS) and
records its wall and CPU time; :func:`evaluate` evaluates a reference policy or a run directory deterministically.
CPU time is what a run costs whatever else shares the machine; wall time is what it took.  Each
result is stored with the inputs that made it and the code's fingerprint
(:func:`isac_iov.rundir.code_fingerprint`): a rerun of a benchmark reuses it only if both match, and a training
run only if its ``metrics.csv`` also holds every episode, so an interrupted benchmark resumes and a changed
default or learner is never measured from stale runs.

:func:`adopt` takes a finished training run of ``isac-iov reproduce`` instead of training again when the
reproduction trained exactly that run (same learner, seed, episodes and config overrides) with this code and
its files still match its ``done.json`` (:func:`isac_iov.experiments.runstore.done_record`); the reproduction
records the run's wall and CPU time but not its peak RSS.

Two benchmarks may share a folder (say, one per learner): each run directory and each evaluation is made under a
lock of its own (:func:`claim`), so a second benchmark waits for the first to finish that item, then reuses it,
and never trains into or deletes a run another one is making.  Results are written atomically, and a stored
result that cannot be read counts as absent.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from isac_iov.config import load_config, scenario_overrides
from isac_iov.evaluate import evaluate_policy
from isac_iov.experiments.runstore import done_record
from isac_iov.experiments.runstore import run_dir as reproduction_run_dir
from isac_iov.experiments.specs import RunSpec
from isac_iov.rundir import LOCK_FILE, RunDirBusy, code_fingerprint, locked, write_atomic

WAIT_S = 3600.0  # how long a benchmark waits for another one's run or evaluation before it gives up, naming it

CHILD = """
import json, resource, sys, time
from pathlib import Path
from isac_iov.config import load_config, parse_override
from isac_iov.learners.train import train_run
algo, episodes, seed, out, sets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5:]
algo_sets = dict((parse_override(s)[0][1], parse_override(s)[1]) for s in sets if s.startswith("algo."))
cfg = load_config(None, [s for s in sets if not s.startswith("algo.")])
start, cpu = time.perf_counter(), time.process_time()
train_run(algo, cfg, episodes, seed, out, algo_overrides=algo_sets, progress=False)
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def scenario_sets(name: str) -> list[str]:
    """``key=value`` overrides of scenario ``name``: ``default`` (Table II, none) or a shipped scenario."""
    return [] if name == "default" else scenario_overrides(name)


def _cached(path: Path, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The result stored in ``path`` if this code made it from ``inputs``, else None."""
    try:
        stored: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):  # absent, or cut short by a kill before writes were atomic
        return None
    return stored if stored.get("inputs") == {**inputs, "code": code_fingerprint()} else None


def _store(path: Path, result: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    stored = {**result, "inputs": {**inputs, "code": code_fingerprint()}}
    write_atomic(path, json.dumps(stored))
    return stored


@contextlib.contextmanager
def claim(path: Path) -> Iterator[None]:
    """Hold the benchmarks' lock on ``path`` (a run directory or a result file) while it is checked and made.

    The lock lives outside the output folders (the training child takes the run directory's own lock), in the
    temporary directory under a digest of ``path``'s real path.  Waits up to :data:`WAIT_S` for another holder,
    then stops the benchmark with one line naming ``path`` and the holder."""
    key = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]
    lock_dir = Path(tempfile.gettempdir()) / "isac-iov-bench-locks" / key
    try:
        with locked(lock_dir, wait_s=WAIT_S):
            yield
    except RunDirBusy as exc:
        raise SystemExit(str(exc).replace(f"run directory {lock_dir}", f"benchmark output {path}")) from None


def adopt(
    reproduction: Path, algo: str, episodes: int, seed: int, sets: list[str], run_dir: Path
) -> dict[str, Any] | None:
    """Copy the reproduction's training run of ``algo`` (``seed``, ``episodes``, overrides ``sets``) into an
    absent ``run_dir`` with its timing as ``bench.json``, if the reproduction in ``reproduction`` finished that
    run with this code and its files are intact: the stored timing, or None (nothing copied)."""
    spec = RunSpec("train", algo, tuple(sets), seed, episodes)
    record = done_record(reproduction, spec)
    if record is None or run_dir.exists():
        return None
    shutil.copytree(reproduction_run_dir(reproduction, spec), run_dir, ignore=shutil.ignore_patterns(LOCK_FILE))
    timing = {"wall_s": record["wall_time_s"], "cpu_s": record["cpu_time_s"], "rss_gib": None}
    inputs = _train_inputs(algo, episodes, seed, sets)
    return _store(run_dir / "bench.json", {**timing, "adopted_from": str(reproduction)}, inputs)


def _train_inputs(algo: str, episodes: int, seed: int, sets: list[str]) -> dict[str, Any]:
    return {"algo": algo, "episodes": episodes, "seed": seed, "sets": sets}


def train(
    algo: str, episodes: int, seed: int, sets: list[str], run_dir: Path, reproduction: Path | None = None
) -> dict[str, Any]:
    """Train ``algo`` with the ``sets`` overrides (``algo.*`` ones go to the learner) into ``run_dir``, or reuse a
    valid earlier run there, or :func:`adopt` one of ``reproduction``; its ``wall_s``, ``cpu_s`` (absent from runs
    stored before it was recorded) and peak ``rss_gib`` (None for adopted runs)."""
    with claim(run_dir):
        return _train(algo, episodes, seed, sets, run_dir, reproduction)


def _train(
    algo: str, episodes: int, seed: int, sets: list[str], run_dir: Path, reproduction: Path | None
) -> dict[str, Any]:
    inputs = _train_inputs(algo, episodes, seed, sets)
    record, metrics = run_dir / "bench.json", run_dir / "metrics.csv"
    stats = _cached(record, inputs)
    if stats is not None and metrics.is_file() and len(metrics.read_text().splitlines()) - 1 == episodes:
        return stats
    if run_dir.exists():
        print(f"  {run_dir}: no valid result of this code and these inputs; training again", flush=True)
        shutil.rmtree(run_dir)
    adopted = adopt(reproduction, algo, episodes, seed, sets, run_dir) if reproduction is not None else None
    if adopted is not None:
        print(f"  {run_dir}: adopted from the reproduction in {reproduction}", flush=True)
        return adopted
    res = subprocess.run(
        [sys.executable, "-c", CHILD, algo, str(episodes), str(seed), str(run_dir), *sets],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise SystemExit(f"training {algo} seed {seed} failed:\n{res.stderr[-2000:]}")
    return _store(record, json.loads(res.stdout.strip().splitlines()[-1]), inputs)


def evaluate(policy: str, sets: list[str], episodes: int, path: Path) -> dict[str, Any]:
    """Deterministic evaluation (seed 0) of a reference policy or a run directory, cached in ``path``: its
    summary plus ``wall_s``, ``cpu_s`` (absent from evaluations stored before it was recorded) and ``decision_ms``
    (actor time per env-slot)."""
    with claim(path):
        return _evaluate(policy, sets, episodes, path)


def _evaluate(policy: str, sets: list[str], episodes: int, path: Path) -> dict[str, Any]:
    inputs = {"policy": policy, "sets": sets, "episodes": episodes}
    stored = _cached(path, inputs)
    if stored is not None:
        return stored
    cpu = time.process_time()
    result = evaluate_policy(policy, load_config(None, sets), episodes, 0, record_slots=False, progress=False)
    timing = {
        "wall_s": result["timing"]["wall_s"],
        "cpu_s": time.process_time() - cpu,
        "decision_ms": 1e3 * result["timing"]["act_s_per_env_slot"],
    }
    return _store(path, {**result["summary"], **timing}, inputs)


def stability(metrics: Path, tail: int = 400, draws: int = 1000) -> tuple[float, float]:
    """How much worse a run's last 100 training episodes are than its best earlier 100-episode window, as a
    fraction of that window's |reward| (> 0: worse), and the same figure with the last ``tail`` episodes in
    random order (median over ``draws`` shuffles): what episode-to-episode noise alone gives a policy that no
    longer changes, since the best of some 1,600 overlapping windows is biased upward."""
    with open(metrics) as f:
        reward = np.array([float(r["reward"]) for r in csv.DictReader(f)])

    def drop(r: np.ndarray) -> float:
        last = r[-100:].mean()
        best = np.convolve(r[:-100], np.ones(100) / 100, mode="valid").max() if len(r) >= 200 else last
        return float((best - last) / abs(best))

    rng = np.random.default_rng(0)
    head, end = reward[:-tail], reward[-tail:]
    noise = np.median([drop(np.concatenate([head, rng.permutation(end)])) for _ in range(draws)])
    return drop(reward), float(noise)
