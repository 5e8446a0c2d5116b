"""Turn finished runs into saved, documented, reloadable results (before any plot).

For each experiment :func:`collect` writes ``DIR/results/<name>.json``::

    {"experiment": name, "scale": {...budget...}, "definitions": {metric: text},
     "scalars": [{"series", "x", "metric", "n", "mean", "ci_low", "ci_high", "iqm", "std",
                  "values": [per seed], "seeds": [...]}, ...],
     "curves":  [{"series", "x", "metric", "smooth_window", "episode": [...],
                  "mean": [...], "ci_low": [...], "ci_high": [...], "raw_mean": [...]}, ...]}

plus the same rows flattened in ``<name>_scalars.csv`` and ``<name>_curves.csv``
and, once for all, the marl-eval raw-data layout (environment -> task ->
algorithm -> ``run_<seed>`` -> ``step_<k>`` / ``absolute_metrics``) in two
files, because marl-eval's matrix builder assumes one number of logged steps
for every task of a file: ``marl_eval_train.json`` (training curves, tasks
``<N>cv``) and ``marl_eval_eval.json`` (evaluation summaries, one step).
:func:`load` reads a result file back; the report and the plots read nothing
else.

Per-seed metrics of a training curve (Table III; ``W`` = ``scale.steady_window``,
50 at full scale as in the paper):

* ``steady_reward``: mean reward of the last ``W`` episodes (Table III note 1).
* ``cv_all``: coefficient of variation ``std / |mean|`` (population std) of the
  per-episode reward over the whole run; ``cv_steady`` the same over the last ``W``.
* ``conv_episode``: the first episode at which the mean reward of the ``W``
  episodes ending there reaches 95 % of the steady reward ``R``.  For a
  negative ``R`` "95 %" is read as "within 5 % of ``|R|``": the threshold is
  ``R - 0.05 |R|`` (which is ``0.95 R`` for positive ``R``), so both signs mean
  the same closeness to the plateau.  Averaging over a full window keeps the
  per-episode noise (the reward's CV is 0.2-0.5) from crossing the threshold
  by chance in the first episodes; the last window is ``R`` itself, so the
  episode always exists.
Every metric is then summarised over seeds by :func:`.stats.summarize`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..learners.metrics import BASE_COLUMNS
from ..rundir import METRICS_FILE, SUMMARY_FILE, RunDirError, read_text_member, write_atomic
from . import schema, stats
from .runstore import DECISION_FILE, done_record, run_dir
from .schema import ResultFileError
from .specs import Cell, Experiment, RunSpec, Scale, unique_runs

RESULTS = "results"
PROVENANCE = "provenance.json"
EVAL_METRICS = ("cost", "system_cost", "delay_s", "energy_j", "deadline_miss_rate", "instrt_share", "reward")
DECISION = {"decision_s": schema.NUM}  # what an evaluation's decision_time.json must hold
SUMMARY = {k: schema.NUM for k in EVAL_METRICS}  # what an evaluation's summary.json must hold
MARL_EVAL_EXPERIMENTS = ("table3", "fig6")  # one algorithm name per task there
MARL_EVAL_FILES = {"train": "marl_eval_train.json", "evaluate": "marl_eval_eval.json"}
# Training metrics summarised over the steady window: every per-episode column but the energy queue.
STEADY_METRICS = tuple(c for c in BASE_COLUMNS if c not in ("episode", "energy_queue_j"))

DEFINITIONS = {
    "steady_reward": "mean reward over the last steady_window training episodes (Table III note 1)",
    "cv_all": "coefficient of variation std/|mean| of the per-episode reward over the whole run",
    "cv_steady": "coefficient of variation std/|mean| of the reward over the last steady_window episodes",
    "conv_episode": "first episode at which the mean reward of the steady_window episodes ending there reaches "
    "R - 0.05|R|, R = steady reward (95 % of R for R > 0; within 5 % of |R| for R < 0)",
    "steady_<m>": "mean of training metric <m> over the last steady_window episodes",
    "<m> (evaluate runs)": "evaluate_policy summary of the policy over eval_episodes fresh episodes",
    "train_cpu_s": "CPU seconds of the training run's process (its last attempt; done.json cpu_time_s)",
    "decision_s": "the policy's decision time per env-slot in its evaluation (seconds of act per env and slot)",
    "ci": "95 % percentile bootstrap interval of the mean over seeds (exact enumeration for <= 5 seeds)",
    "iqm": "interquartile mean over seeds (25 % trimmed each side)",
}


def read_metrics(path: Path) -> dict[str, np.ndarray]:
    """Columns of a ``metrics.csv`` as float arrays (:class:`.schema.ResultFileError` naming the file and the
    first cell that is not a number)."""
    try:
        rows = list(csv.reader(io.StringIO(read_text_member(path))))
    except (RunDirError, csv.Error) as exc:
        raise ResultFileError(f"{path}: {exc}") from None
    if len(rows) < 2:
        raise ResultFileError(f"{path}: no episodes recorded")
    header, columns = rows[0], list(zip(*rows[1:], strict=False))
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ResultFileError(f"{path}: line {i} has {len(row)} cells, the header {len(header)}")
    out = {}
    for name, cells in zip(header, columns, strict=True):
        try:
            out[name] = np.array([float(c) for c in cells])
        except ValueError:
            raise ResultFileError(f"{path}: column {name!r} holds a cell that is not a number") from None
    for name in ("episode", "reward", "cost"):
        if name not in out:
            raise ResultFileError(f"{path}: column {name!r} is missing")
    return out


def read_summary(path: Path) -> dict[str, Any]:
    """An evaluation's ``summary.json``, checked to hold every metric of :data:`EVAL_METRICS` as a number."""
    return schema.read_checked(path, SUMMARY)


def training_scalars(m: dict[str, np.ndarray], scale: Scale) -> dict[str, float]:
    """Table III metrics and steady means of one training run (see the module docstring)."""
    w = min(scale.steady_window, len(m["reward"]))
    reward, tail = m["reward"], m["reward"][-w:]
    steady = float(tail.mean())
    window_means = stats.moving_average(reward, w)[w - 1 :]
    reached = np.flatnonzero(window_means >= steady - 0.05 * abs(steady))  # never empty: the last window is R
    out = {
        "steady_reward": steady,
        "cv_all": float(reward.std() / abs(reward.mean())),
        "cv_steady": float(tail.std() / abs(steady)),
        "conv_episode": float(m["episode"][w - 1 + reached[0]]),
    }
    out.update({f"steady_{k}": float(m[k][-w:].mean()) for k in STEADY_METRICS if k in m})
    return out


def _per_seed(out_dir: Path, cell: Cell, scale: Scale) -> list[tuple[int, dict[str, float]]]:
    rows = []
    for spec in cell.runs:
        record = done_record(out_dir, spec)
        if record is None:
            continue
        d = run_dir(out_dir, spec)
        if spec.kind == "train":
            scalars = training_scalars(read_metrics(d / METRICS_FILE), scale)
            rows.append((spec.seed, {**scalars, "train_cpu_s": float(record["cpu_time_s"])}))
        else:
            summary = read_summary(d / SUMMARY_FILE)
            scalars = {k: float(summary[k]) for k in EVAL_METRICS if k in summary}
            if (d / DECISION_FILE).is_file():  # evaluations made since it was recorded
                scalars["decision_s"] = float(schema.read_checked(d / DECISION_FILE, DECISION)["decision_s"])
            rows.append((spec.seed, scalars))
    return rows


def _scalar_rows(out_dir: Path, exp: Experiment, scale: Scale) -> list[dict[str, Any]]:
    rows = []
    for cell in exp.cells:
        per_seed = _per_seed(out_dir, cell, scale)
        metrics = sorted({k for _, v in per_seed for k in v})
        for metric in metrics:
            pairs = [(s, v[metric]) for s, v in per_seed if metric in v]
            values = [v for _, v in pairs]
            rows.append(
                {
                    "series": cell.series,
                    "x": cell.x,
                    "metric": metric,
                    **stats.summarize(values),
                    "values": values,
                    "seeds": [s for s, _ in pairs],
                }
            )
    return rows


def _curve_rows(out_dir: Path, exp: Experiment, scale: Scale) -> list[dict[str, Any]]:
    rows = []
    for cell in exp.cells:
        runs = [m for m in (_metrics_of(out_dir, s) for s in cell.runs) if m is not None]
        if not runs:
            continue
        length = min(len(m["episode"]) for m in runs)
        for col in exp.curve_columns(cell.series, list(runs[0])):
            raw = np.stack([m[col][:length] for m in runs])
            band = stats.curve_band(stats.moving_average(raw, scale.smooth_window))
            rows.append(
                {
                    "series": cell.series,
                    "x": cell.x,
                    "metric": col,
                    "n": len(runs),
                    "smooth_window": scale.smooth_window,
                    "episode": runs[0]["episode"][:length].tolist(),
                    **{k: v.tolist() for k, v in band.items()},
                    "raw_mean": raw.mean(axis=0).tolist(),
                }
            )
    return rows


def _metrics_of(out_dir: Path, spec: RunSpec) -> dict[str, np.ndarray] | None:
    if spec.kind != "train" or done_record(out_dir, spec) is None:
        return None
    return read_metrics(run_dir(out_dir, spec) / METRICS_FILE)


def collect(out_dir: Path, experiments: list[Experiment], scale: Scale) -> list[Path]:
    """Aggregate every experiment's finished runs into ``DIR/results``; return the JSON paths."""
    res = Path(out_dir) / RESULTS
    res.mkdir(parents=True, exist_ok=True)
    paths = []
    for exp in experiments:
        data = {
            "experiment": exp.name,
            "scale": scale.to_dict(),
            "definitions": DEFINITIONS,
            "scalars": _scalar_rows(out_dir, exp, scale),
            "curves": _curve_rows(out_dir, exp, scale),
        }
        path = res / f"{exp.name}.json"
        write_atomic(path, json.dumps(data, indent=1))
        _write_csvs(res, exp.name, data)
        paths.append(path)
    for kind in ("train", "evaluate"):
        write_atomic(res / MARL_EVAL_FILES[kind], json.dumps(marl_eval_export(out_dir, experiments, scale, kind)))
    write_atomic(res / PROVENANCE, json.dumps(provenance(out_dir, experiments), indent=1))
    return paths


def provenance(out_dir: Path, experiments: list[Experiment]) -> dict[str, Any]:
    """The code versions (package version and code fingerprint) that made the finished runs, with counts."""
    counts: dict[tuple[str, str], int] = {}
    for spec in unique_runs(experiments):
        record = done_record(out_dir, spec)
        if record is not None:
            code = record["code"]
            counts[(code["version"], code["fingerprint"])] = counts.get((code["version"], code["fingerprint"]), 0) + 1
    return {"code": [{"version": v, "fingerprint": f, "runs": n} for (v, f), n in sorted(counts.items())]}


def _write_csvs(res: Path, name: str, data: dict[str, Any]) -> None:
    cols = ["series", "x", "metric", "n", "mean", "ci_low", "ci_high", "iqm", "std"]
    with open(res / f"{name}_scalars.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols + ["values"])
        for r in data["scalars"]:
            w.writerow([r[c] for c in cols] + [" ".join(f"{v:.6g}" for v in r["values"])])
    with open(res / f"{name}_curves.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series", "x", "metric", "episode", "mean", "ci_low", "ci_high", "raw_mean"])
        for r in data["curves"]:
            for i, ep in enumerate(r["episode"]):
                w.writerow(
                    [
                        r["series"],
                        r["x"],
                        r["metric"],
                        ep,
                        r["mean"][i],
                        r["ci_low"][i],
                        r["ci_high"][i],
                        r["raw_mean"][i],
                    ]
                )


def load(out_dir: Path, name: str) -> dict[str, Any] | None:
    """A saved result file, or None if that experiment was not collected."""
    path = Path(out_dir) / RESULTS / f"{name}.json"
    if not (path.is_file() or path.is_symlink()):
        return None
    data = schema.read_checked(path, schema.RESULT)
    if data["experiment"] != name:
        raise ResultFileError(f"{path}: field experiment is {data['experiment']!r}, not {name!r}")
    return data


def marl_eval_export(
    out_dir: Path, experiments: list[Experiment], scale: Scale, kind: str, points: int = 20
) -> dict[str, Any]:
    """marl-eval raw data of the learners in Table III and Fig. 6, runs of ``kind`` only: ``train``
    (training curves: ``step_k`` holds the mean reward/cost of one of ``points`` episode blocks,
    ``step_count`` counts environment steps, ``absolute_metrics`` the last steady_window episodes)
    or ``evaluate`` (evaluation summaries, one step).  Tasks are ``<N>cv``."""
    tasks: dict[str, dict[str, dict[str, Any]]] = {}
    for exp in (e for e in experiments if e.name in MARL_EVAL_EXPERIMENTS):
        for cell in exp.cells:
            if cell.series not in scale.algos:
                continue
            for spec in (s for s in cell.runs if s.kind == kind):
                entry = _marl_eval_run(out_dir, spec, scale, points)
                if entry is not None:
                    task = f"{spec.config.num_cvs}cv"
                    tasks.setdefault(task, {}).setdefault(cell.series, {})[f"run_{spec.seed}"] = entry
    return {f"isac-iov-{kind}": tasks}


def _marl_eval_run(out_dir: Path, spec: RunSpec, scale: Scale, points: int) -> dict[str, Any] | None:
    if done_record(out_dir, spec) is None:
        return None
    slots = spec.config.episode_slots
    if spec.kind == "evaluate":
        summary = read_summary(run_dir(out_dir, spec) / SUMMARY_FILE)
        metrics = {"return": [summary["reward"]], **{k: [summary[k]] for k in EVAL_METRICS if k in summary}}
        step = {"step_count": (spec.source.episodes if spec.source else 0) * slots, **metrics}
        return {"step_0": step, "absolute_metrics": metrics}
    m = read_metrics(run_dir(out_dir, spec) / METRICS_FILE)
    blocks = np.array_split(np.arange(len(m["reward"])), min(points, len(m["reward"])))
    entry = {
        f"step_{k}": {
            "step_count": int((b[-1] + 1) * slots),
            "return": [float(m["reward"][b].mean())],
            "cost": [float(m["cost"][b].mean())],
        }
        for k, b in enumerate(blocks)
    }
    w = min(scale.steady_window, len(m["reward"]))
    entry["absolute_metrics"] = {"return": m["reward"][-w:].tolist(), "cost": m["cost"][-w:].tolist()}
    return entry
