"""The report of ``isac-iov reproduce scale``: ``DIR/scale.md`` and ``figures/scale.png`` from ``results/scale.json``.

For every place of the study (a stand-in of ``N`` CVs, or a test network) one table: per policy the cost of
eq. (24) with its 95 % interval over seeds, the ratio of its mean to ``ly-opt-dual``'s and to ``greedy``'s,
the deadline-miss rate, the energy per CV-slot against the budget, the training CPU time and the decision
time per env-slot (and its ratio to ``ly-opt-dual``'s).  The targets of the scale study are checked in a
verdict line per place: every learner at most ``greedy``'s cost (Ly-MAPPO, whose actors see no twin, at most
``greedy-blind``'s, ``greedy`` on the same view), Ly-DTMPO at most 1.10 x ``ly-opt-dual`` and misses at most
5 %.  The figure draws the cost ratio to ``ly-opt-dual`` against the number of CVs on the stand-ins.  Like the
paper's report, it reads nothing but the saved result.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..rundir import write_atomic
from .results import load
from .specs import LEARNERS, SCALE_REFERENCES

SCALE_REPORT = "scale.md"
TARGET_TO_OPT = 1.10  # Ly-DTMPO's cost over ly-opt-dual's
TARGET_MISSES = 0.05


def write_scale_report(out_dir: Path) -> Path | None:
    """Write ``scale.md`` and its figure from the saved ``scale`` result; None when there is none."""
    res = load(Path(out_dir), "scale")
    if res is None:
        return None
    figs = Path(out_dir) / "figures"
    figs.mkdir(exist_ok=True)
    _figure(res, figs / "scale.png")
    budget = res["scale"]
    parts = [
        "# Learners at scale and on networks never tuned on",
        (
            f"Scale `{budget['name']}`: {budget['episodes']} training episodes, seeds {budget['seeds']}, "
            f"{budget['scale_eval_episodes']} evaluation episode(s) per seed; cost of eq. (24), mean [95 % "
            "interval over seeds]; `x opt` and `x greedy` are ratios of means."
        ),
        "![cost over ly-opt-dual against the CVs](figures/scale.png)",
    ]
    for prefix, n in _places(res):
        title = f"{prefix[:-2]} ({n:g} CVs)" if prefix else f"Stand-in road, {n:g} CVs"
        parts.append(f"## {title}\n\n{_table(res, prefix, n)}\n\n{_verdict(res, prefix, n)}")
    path = Path(out_dir) / SCALE_REPORT
    write_atomic(path, "\n\n".join(parts) + "\n")
    return path


def _places(res: dict[str, Any]) -> list[tuple[str, float]]:
    """``(series prefix, x)`` of every place: the stand-ins by CVs, then the networks."""
    seen: dict[tuple[str, float], None] = {}
    for r in res["scalars"]:
        prefix = r["series"].rsplit(": ", 1)[0] + ": " if ": " in r["series"] else ""
        seen.setdefault((prefix, r["x"]), None)
    return sorted(seen, key=lambda p: (p[0] != "", p[0], p[1]))


def _row(res: dict[str, Any], metric: str, series: str, x: float) -> dict[str, Any] | None:
    for r in res["scalars"]:
        if r["metric"] == metric and r["series"] == series and r["x"] == x and r["n"] > 0:
            return r
    return None


def _mean(res: dict[str, Any], metric: str, series: str, x: float) -> float:
    r = _row(res, metric, series, x)
    return r["mean"] if r else math.nan


def _policies(res: dict[str, Any], prefix: str, x: float) -> list[str]:
    names = {r["series"][len(prefix) :] for r in res["scalars"] if r["series"].startswith(prefix) and r["x"] == x}
    if not prefix:
        names = {n for n in names if ": " not in n}
    plugins = sorted(names - set(LEARNERS) - set(SCALE_REFERENCES))  # a user's learners, after the paper's
    return [a for a in (*LEARNERS, *plugins, *SCALE_REFERENCES) if a in names]


def _table(res: dict[str, Any], prefix: str, x: float) -> str:
    opt, greedy = (_mean(res, "cost", prefix + p, x) for p in ("ly-opt-dual", "greedy"))
    opt_decision = _mean(res, "decision_s", prefix + "ly-opt-dual", x)
    header = ["policy", "cost", "x opt", "x greedy", "misses", "energy J", "train CPU s", "decision ms", "x opt"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for policy in _policies(res, prefix, x):
        s = prefix + policy
        cost = _row(res, "cost", s, x)
        if cost is None:
            continue
        decision = _mean(res, "decision_s", s, x)
        cells = [
            policy,
            f"{cost['mean']:.4g} [{cost['ci_low']:.4g}, {cost['ci_high']:.4g}]",
            _num(cost["mean"] / opt, 3),
            _num(cost["mean"] / greedy, 3),
            _num(100 * _mean(res, "deadline_miss_rate", s, x), 3, " %"),
            _num(_mean(res, "energy_j", s, x), 3),
            _num(_mean(res, "train_cpu_s", s, x), 4),
            _num(1e3 * decision, 3),
            _num(decision / opt_decision, 2),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _num(v: float, digits: int, unit: str = "") -> str:
    return f"{v:.{digits}g}{unit}" if math.isfinite(v) else "-"


def _verdict(res: dict[str, Any], prefix: str, x: float) -> str:
    """The targets at this place: every learner <= greedy (Ly-MAPPO <= greedy-blind), Ly-DTMPO <= 1.10 x
    ly-opt-dual and <= 5 % misses."""
    opt = _mean(res, "cost", prefix + "ly-opt-dual", x)
    learners = [a for a in _policies(res, prefix, x) if a not in SCALE_REFERENCES]
    above = [a for a in learners if not _mean(res, "cost", prefix + a, x) <= _mean(res, "cost", prefix + _bar(a), x)]
    notes = [
        f"learners above their heuristic: {', '.join(f'{a} (> {_bar(a)})' for a in above)}"
        if above
        else "every learner at most its heuristic's cost (greedy; greedy-blind for ly-mappo)"
    ]
    if "ly-dtmpo" in learners:
        ratio = _mean(res, "cost", prefix + "ly-dtmpo", x) / opt
        misses = _mean(res, "deadline_miss_rate", prefix + "ly-dtmpo", x)
        notes.append(f"Ly-DTMPO {ratio:.3f} x ly-opt-dual (target {TARGET_TO_OPT}: {_met(ratio <= TARGET_TO_OPT)})")
        notes.append(f"misses {100 * misses:.1f} % (target 5 %: {_met(misses <= TARGET_MISSES)})")
    return "Targets: " + "; ".join(notes) + "."


def _bar(learner: str) -> str:
    """The heuristic a learner must not cost more than: ``greedy``, or for Ly-MAPPO ``greedy`` on its view."""
    return "greedy-blind" if learner == "ly-mappo" else "greedy"


def _met(ok: bool) -> str:
    return "met" if ok else "missed"


def _figure(res: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = sorted({x for prefix, x in _places(res) if not prefix})
    drawn = dict.fromkeys(p for x in xs for p in _policies(res, "", x) if p != "ly-opt-dual")
    for policy in drawn:
        points = [(x, _mean(res, "cost", policy, x) / _mean(res, "cost", "ly-opt-dual", x)) for x in xs]
        points = [(x, y) for x, y in points if math.isfinite(y)]
        if points:
            ax.plot(*zip(*points, strict=True), "-o", ms=4, label=policy)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(TARGET_TO_OPT, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("CVs on the stand-in road")
    ax.set_ylabel("cost / ly-opt-dual's")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
