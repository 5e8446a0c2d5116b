"""The report's sections beyond the paper: Ly-DTMPO under a lagged or noisy twin, and the InstrT share
versus bandwidth.
"""

from __future__ import annotations

from typing import Any

from .. import plots
from ..specs import NO_TWIN
from .render import Section, ci_text, find_row, md_table, mean_of


def twin_body(res: dict[str, Any]) -> Section:
    rows = sorted(plots.scalar_rows(res, "steady_cost"), key=lambda r: (r["series"], r["x"] or 0.0))
    table = [
        [
            r["series"],
            "-" if r["x"] is None else f"{r['x']:g}",
            ci_text(r),
            ci_text(find_row(res, "steady_reward", r["series"], r["x"])),
        ]
        for r in rows
    ]
    perfect = mean_of(res, "steady_cost", "lag_slots", 0)
    worst = {f: max(plots.scalar_rows(res, "steady_cost", f), key=lambda r: r["x"]) for f in ("lag_slots", "noise_std")}
    busy = mean_of(res, "steady_cost", "contention: ly-dtmpo")
    claims = (
        (
            "(beyond the paper) Ly-DTMPO steady cost change, perfect twin -> worst twin / no twin",
            "-",
            ", ".join(f"{f}={r['x']:g}: {(r['mean'] / perfect - 1) * 100:+.1f} %" for f, r in worst.items())
            + f", Ly-MAPPO: {(mean_of(res, 'steady_cost', NO_TWIN) / perfect - 1) * 100:+.1f} %",
            "-",
        ),
        (
            "(beyond the paper) contention scenario: Ly-DTMPO vs Ly-MAPPO (no twin) steady cost",
            "-",
            f"{busy:.3g} vs {mean_of(res, 'steady_cost', f'contention: {NO_TWIN}'):.3g}",
            "-",
        ),
    )
    return Section(
        "Ly-DTMPO trained and measured with a lagged or noisy twin (one factor at a time):\n\n"
        + md_table(["factor", "value", "steady cost", "steady reward"], table),
        claims,
    )


def bandwidth_body(res: dict[str, Any]) -> Section:
    rows = sorted(plots.scalar_rows(res, "instrt_share"), key=lambda r: (r["series"], r["x"]))
    table = [
        [r["series"], f"{r['x'] / 1e6:g}", ci_text(r), ci_text(find_row(res, "cost", r["series"], r["x"]))]
        for r in rows
    ]
    lo, hi = min(r["x"] for r in rows), max(r["x"] for r in rows)
    claim = (
        "(beyond the paper) ly-opt InstrT share, lowest -> highest bandwidth",
        "-",
        ", ".join(
            f"{sh}: {mean_of(res, 'instrt_share', f'ly-opt {sh}', lo):.2f} -> "
            f"{mean_of(res, 'instrt_share', f'ly-opt {sh}', hi):.2f}"
            for sh in ("per_cv", "per_rsu")
        ),
        "-",
    )
    return Section(md_table(["policy / sharing", "bandwidth (MHz)", "InstrT share", "cost"], table), (claim,))
