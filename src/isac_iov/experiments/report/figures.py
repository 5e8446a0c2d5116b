"""The report's sections of Figs. 4 to 7: convergence of the reward curves, local queues, cost, delay and
energy versus the number of CVs, and the effect of the Lyapunov parameter V.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from .. import paper, plots
from ..specs import LEARNERS, curves_of
from .render import (
    Claim,
    Section,
    best_verdict,
    ci_text,
    find_row,
    learners,
    md_table,
    mean_of,
    overlap,
    pct_text,
    verdict,
)

# ----------------------------------------------------------------------------- Fig. 4


def fig4_body(res: dict[str, Any]) -> Section:
    w = res["scale"]["steady_window"]
    drift = {}
    for row in (r for curve in curves_of("fig4").drawn for r in curve.rows(res)):
        last, before = row["raw_mean"][-w:], row["raw_mean"][-2 * w : -w] or row["raw_mean"][-w:]
        drift[row["series"]] = (sum(last) / len(last) - sum(before) / len(before)) / abs(sum(before) / len(before))
    settled = [a for a, d in drift.items() if abs(d) < 0.05]
    claim = (
        f"Fig. 4: every learner converges (mean reward of the last two {w}-episode windows within 5 %)",
        "yes",
        f"{len(settled)}/{len(drift)} (" + ", ".join(f"{a} {d * 100:+.1f} %" for a, d in drift.items()) + ")",
        verdict(len(settled) == len(drift)),
    )
    return Section("", (claim,))


# ----------------------------------------------------------------------------- Fig. 5


def fig5_body(res: dict[str, Any]) -> Section:
    claim = (
        "Fig. 5b: lowest steady mean local queue",
        "ly-dtmpo",
        *best_verdict(res, "steady_local_queue_cycles", "ly-dtmpo", lowest=True),
    )
    found = [r for r in (find_row(res, "steady_local_queue_cycles", a) for a in learners(res)) if r is not None]
    rows = [[r["series"], ci_text(r)] for r in found]
    text = "Steady mean local queue (cycles, last steady window):\n\n" + md_table(["algorithm", "ours"], rows)
    if len(found) > 1 and all(r["values"] == found[0]["values"] for r in found):
        text += (
            "\n\nEvery learner's local queue is the same, seed by seed: no learner keeps a local part that outlasts "
            "the slot, so the queue only grows in the slots where a CV is outside every RSU's coverage and must "
            "compute its whole task itself, and those slots depend on the seed's traffic, not on the policy."
        )
    return Section(text, (claim,))


# ----------------------------------------------------------------------------- Fig. 6


def _reduction(res: dict[str, Any], metric: str, base: str, n: float) -> float:
    b, d = mean_of(res, metric, base, n), mean_of(res, metric, "ly-dtmpo", n)
    return (b - d) / b * 100


def fig6_body(res: dict[str, Any]) -> Section:
    ns = sorted({r["x"] for r in res["scalars"]})
    series = plots.series_names(res)
    parts = []
    for metric in ("cost", "system_cost", "delay_s", "energy_j", "instrt_share", "deadline_miss_rate"):
        rows = [[s] + [ci_text(find_row(res, metric, s, n)) for n in ns] for s in series]
        parts.append(f"**{metric}**\n\n" + md_table(["policy"] + [f"N = {n:g}" for n in ns], rows))
    for metric, table, label in (
        ("cost", paper.COST_REDUCTION_PCT, "cost"),
        ("delay_s", paper.DELAY_REDUCTION_PCT, "delay"),
        ("energy_j", paper.ENERGY_REDUCTION_PCT, "energy"),
    ):
        parts.append(
            f"Ly-DTMPO {label} reduction (c_b - c_dt) / c_b; our 'mean over N' averages the per-N "
            f"reductions over N = {', '.join(f'{n:g}' for n in ns)}:\n\n"
            + md_table(["where", "baseline", "paper", "ours"], _reduction_rows(res, metric, table, ns))
        )
    return Section("\n\n".join(parts), _fig6_claims(res, ns))


def _reduction_rows(
    res: dict[str, Any], metric: str, table: dict[str, dict[str, Any]], ns: list[float]
) -> list[list[str]]:
    rows = []
    for point, values in table.items():
        for base, pv in values.items():
            ours = (
                sum(_reduction(res, metric, base, n) for n in ns) / len(ns)
                if point == "mean"
                else _reduction(res, metric, base, float(point))
            )
            where = "mean over N" if point == "mean" else f"N = {point}"
            rows.append([where, base, pct_text(pv, exact=True), pct_text(ours)])
    return rows


def _fig6_claims(res: dict[str, Any], ns: list[float]) -> tuple[Claim, ...]:
    claims: list[Claim] = []
    paper_ns = f"yes (N = {min(paper.NUM_CVS)}..{max(paper.NUM_CVS)})"
    for metric, label in (("cost", "Fig. 6a: Ly-DTMPO lowest cost"), ("delay_s", "Fig. 6b: Ly-DTMPO lowest delay")):
        verdicts = [best_verdict(res, metric, "ly-dtmpo", lowest=True, x=n)[1] for n in ns]
        wins, ties = verdicts.count("agrees"), verdicts.count("differs (CIs overlap)") + verdicts.count("tie")
        claims.append(
            (
                label + " among learners at every N",
                paper_ns,
                f"{wins}/{len(ns)} N values ({ties} more within the CI of the best)",
                verdict(wins == len(ns)),
            )
        )
    for metric, label in (("cost", "mean cost per CV"), ("system_cost", "system cost (sum over CVs)")):
        rising = [a for a in LEARNERS if _increasing([mean_of(res, metric, a, n) for n in ns])]
        claims.append(
            (
                f"Fig. 6a: {label} increases with N for every learner",
                "yes",
                f"{len(rising)}/{len(LEARNERS)} ({', '.join(rising) or 'none'})",
                verdict(len(rising) == len(LEARNERS)),
            )
        )
    falling = _increasing([-mean_of(res, "energy_j", "ly-dtmpo", n) for n in ns])
    claims.append(
        (
            "Fig. 6c: Ly-DTMPO energy decreases monotonically with N",
            "yes",
            "yes" if falling else "no",
            verdict(falling),
        )
    )
    gap = [(mean_of(res, "cost", "ly-dtmpo", n) / mean_of(res, "cost", "ly-opt", n) - 1) * 100 for n in ns]
    claims.append(
        (
            "(not in the paper) Ly-DTMPO cost above the per-slot optimiser ly-opt",
            "-",
            ", ".join(f"N={n:g}: {g:+.1f} %" for n, g in zip(ns, gap, strict=True)),
            "-",
        )
    )
    return tuple(claims)


def _increasing(values: list[float]) -> bool:
    return all(math.isfinite(v) for v in values) and all(b > a for a, b in itertools.pairwise(values))


# ----------------------------------------------------------------------------- Fig. 7


def paper_v_cost() -> str:
    """The paper's Fig. 7b costs with their V values, equal costs grouped: ``c1 (V=v1,v2), c2 (v3), ...``."""
    groups: dict[float, list[float]] = {}
    for v, cost in paper.V_COST.items():
        groups.setdefault(cost, []).append(v)
    return ", ".join(
        f"{cost:g} ({'V=' if i == 0 else ''}{','.join(f'{v:g}' for v in vs)})"
        for i, (cost, vs) in enumerate(groups.items())
    )


def fig7_body(res: dict[str, Any]) -> Section:
    vs = sorted({r["x"] for r in res["scalars"]})
    rows = [
        [
            f"{v:g}",
            f"{paper.V_COST[v]:g}" if v in paper.V_COST else "-",
            ci_text(find_row(res, "steady_cost", "ly-dtmpo", v), with_iqm=True),
        ]
        for v in vs
    ]
    claim = (
        "Fig. 7b: steady cost rises with V",
        paper_v_cost(),
        ", ".join(f"V={v:g}: {mean_of(res, 'steady_cost', 'ly-dtmpo', v):.3g}" for v in vs),
        _rising_verdict([find_row(res, "steady_cost", "ly-dtmpo", v) for v in vs]),
    )
    return Section(md_table(["V", "paper cost", "ours steady cost"], rows), (claim,))


def _rising_verdict(ours: list[dict[str, Any] | None]) -> str:
    """Whether consecutive scalar rows rise, told apart from overlapping intervals."""
    rows = [r for r in ours if r is not None]
    if len(rows) < len(ours):
        return "not run"
    pairs = list(itertools.pairwise(rows))
    if all(b["mean"] > a["mean"] and not overlap(a, b) for a, b in pairs):
        return "agrees"
    if any(b["mean"] < a["mean"] and not overlap(a, b) for a, b in pairs):
        return "differs"
    return "inconclusive (CIs overlap)"
