"""Figures of the report, drawn only from saved result files (matplotlib, Agg backend).

Every function takes a loaded result (:func:`.results.load`) and a PNG path.
The training curves a figure draws are the ones its experiment declares
(:func:`.specs.curves_of`), one per panel.  Lines are means over seeds; shaded
bands (curves) and error bars (points) are 95 % bootstrap confidence intervals.  Queue backlogs are shown in Gcycles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from . import paper
from .specs import COMPARED_WITH, LEARNERS, NO_TWIN, curves_of

GIGA = 1e9


def scalar_rows(res: dict[str, Any], metric: str, series: str | None = None) -> list[dict[str, Any]]:
    """Scalar rows of ``metric`` (optionally one series), sorted by x."""
    rows = [r for r in res["scalars"] if r["metric"] == metric and (series is None or r["series"] == series)]
    return sorted(rows, key=lambda r: (r["x"] is None, r["x"] or 0.0))


def series_names(res: dict[str, Any]) -> list[str]:
    seen: dict[str, None] = {}
    for r in res["scalars"] + res["curves"]:
        seen.setdefault(r["series"], None)
    return list(seen)


def _curve(ax: Any, row: dict[str, Any], label: str, scale: float = 1.0) -> None:
    ep = np.asarray(row["episode"])
    ax.plot(ep, np.asarray(row["mean"]) / scale, label=label, lw=1.2)
    ax.fill_between(ep, np.asarray(row["ci_low"]) / scale, np.asarray(row["ci_high"]) / scale, alpha=0.25)


def _points(
    ax: Any, rows: list[dict[str, Any]], label: str, scale: float = 1.0, style: str = "-o", color: str | None = None
) -> None:
    x = np.array([r["x"] for r in rows], dtype=float)
    mean = np.array([r["mean"] for r in rows]) / scale
    err = np.abs(np.array([[r["ci_low"] for r in rows], [r["ci_high"] for r in rows]]) / scale - mean)
    ax.errorbar(x, mean, yerr=err, fmt=style, capsize=3, label=label, ms=4, color=color)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig4(res: dict[str, Any], path: Path) -> Path:
    """(a) the training reward over all episodes; (b) the same after the first tenth of the episodes, on a scale
    the warm-up's rewards do not set, with the evaluated reward of the references (dashed and dotted, CI shaded)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    (reward,) = curves_of("fig4").drawn
    rows = reward.rows(res)
    low, high = [], []
    for row in rows:
        _curve(a, row, row["series"])
        _curve(b, row, row["series"])
        later = slice(len(row["episode"]) // 10, None)
        low.append(min(row["ci_low"][later]))
        high.append(max(row["ci_high"][later]))
    for name, colour, style in zip(COMPARED_WITH, ("k", "tab:brown"), ("--", ":"), strict=True):
        ref = scalar_rows(res, "reward", name)
        if ref:
            r = ref[0]
            b.axhline(r["mean"], color=colour, ls=style, lw=1.2, label=f"{name} (evaluated)")
            b.axhspan(r["ci_low"], r["ci_high"], color=colour, alpha=0.15)
            low.append(r["ci_low"])
            high.append(r["ci_high"])
    ylabel = f"reward per slot (moving avg. {res['scale']['smooth_window']} episodes)"
    a.set(xlabel="episode", ylabel=ylabel, title="Fig. 4a: training reward")
    b.set(xlabel="episode", ylabel=ylabel, title="Fig. 4b: after warm-up, with the references")
    if rows:
        pad = 0.05 * (max(high) - min(low) or 1.0)
        b.set_ylim(min(low) - pad, max(high) + pad)
    for ax in (a, b):
        ax.legend(fontsize=8)
    return _save(fig, path)


def fig5(res: dict[str, Any], path: Path) -> Path:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    per_cv, mean = curves_of("fig5").drawn
    for row in per_cv.rows(res):
        _curve(a, row, "CV" + str(int(row["metric"].removeprefix(per_cv.metric)) + 1), GIGA)
    for row in mean.rows(res):
        _curve(b, row, row["series"], GIGA)
    a.set(xlabel="episode", ylabel="local queue (Gcycles)", title="Fig. 5a: Ly-DTMPO queue per CV")
    b.set(xlabel="episode", ylabel="mean local queue (Gcycles)", title="Fig. 5b: mean queue per algorithm")
    for ax in (a, b):
        ax.legend(fontsize=8)
    return _save(fig, path)


def fig6(res: dict[str, Any], path: Path) -> Path:
    """Top row: every policy against the number of CVs (log scale, where ``local`` sits far above the rest);
    bottom row: the learners and ``greedy`` relative to ``ly-opt`` at each number of CVs (their means divided by
    ``ly-opt``'s, error bars their confidence intervals divided alike), on their own scale."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    panels = (("cost", "system average cost"), ("delay_s", "delay (s)"), ("energy_j", "energy (J)"))
    ticks = sorted({r["x"] for r in res["scalars"]})
    colours = {name: f"C{i}" for i, name in enumerate(series_names(res))}  # one colour per policy in both rows
    learned = res.get("scale", {}).get("algos", LEARNERS)
    for top, bottom, (metric, label) in zip(axes[0], axes[1], panels, strict=True):
        best = {r["x"]: r["mean"] for r in scalar_rows(res, metric, COMPARED_WITH[0])}
        for name in series_names(res):
            rows = scalar_rows(res, metric, name)
            style = "-o" if name in learned else "--s"
            if rows:
                _points(top, rows, name, style=style, color=colours[name])
            relative = [
                {**r, **{k: r[k] / best[r["x"]] for k in ("mean", "ci_low", "ci_high")}} for r in rows if r["x"] in best
            ]
            if relative and (name in learned or name in COMPARED_WITH[1:]):
                _points(bottom, relative, name, style=style, color=colours[name])
        bottom.axhline(1.0, color="k", lw=0.8, ls=":")
        top.set(xlabel="number of CVs", ylabel=label + " (log scale)", title=f"Fig. 6: {label} vs CVs", yscale="log")
        bottom.set(xlabel="number of CVs", ylabel=f"{label} / {COMPARED_WITH[0]}'s", title=f"{label}, learners")
        for ax in (top, bottom):
            ax.set_xticks(ticks)
    axes[0][0].legend(fontsize=7)
    axes[1][0].legend(fontsize=7)
    return _save(fig, path)


def fig7(res: dict[str, Any], path: Path) -> Path:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    (cost,) = curves_of("fig7").drawn
    for row in cost.rows(res):
        _curve(a, row, f"V = {row['x']:g}")
    a.set(xlabel="episode", ylabel="system average cost", title="Fig. 7a: cost over training")
    a.legend(fontsize=8)
    rows = scalar_rows(res, "steady_cost")
    if rows:
        _points(b, rows, "ours (steady)")
    b.plot(list(paper.V_COST), list(paper.V_COST.values()), "k^:", label="paper")
    b.set(xscale="log", xlabel="Lyapunov V", ylabel="system average cost", title="Fig. 7b: cost at convergence")
    b.legend(fontsize=8)
    return _save(fig, path)


def twin(res: dict[str, Any], path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    reference = scalar_rows(res, "steady_cost", NO_TWIN)
    for ax, factor, label in zip(
        axes, ("lag_slots", "noise_std"), ("twin lag (slots)", "twin noise (relative std)"), strict=True
    ):
        rows = scalar_rows(res, "steady_cost", factor)
        if rows:
            _points(ax, rows, "Ly-DTMPO")
            if reference:
                r = reference[0]
                ax.axhline(r["mean"], color="grey", ls="--", label="Ly-MAPPO (no twin)")
                ax.axhspan(r["ci_low"], r["ci_high"], color="grey", alpha=0.2)
        ax.set(xlabel=label, ylabel="steady system average cost", title=f"Twin fidelity: {label}")
        ax.legend(fontsize=8)
    return _save(fig, path)


def bandwidth(res: dict[str, Any], path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, label in zip(
        axes, ("instrt_share", "cost"), ("InstrT share of used links", "system average cost"), strict=True
    ):
        for name in series_names(res):
            rows = scalar_rows(res, metric, name)
            if rows:
                _points(
                    ax, [dict(r, x=r["x"] / 1e6) for r in rows], name, style="-o" if name.endswith("per_rsu") else "--s"
                )
        ax.set(xscale="log", xlabel="bandwidth (MHz)", ylabel=label, title=f"{label} vs bandwidth")
        ax.legend(fontsize=8)
    return _save(fig, path)
