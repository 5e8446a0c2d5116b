"""How a loaded result becomes a section of the report, and the pieces every section is made of.

A :class:`Part` says how one experiment is reported; :func:`render` turns it and the experiment's loaded
result (:func:`isac_iov.experiments.results.load`) into a :class:`Section`: its Markdown and the
:data:`Claim` s it adds to the summary table.  The helpers find scalar rows of a result (:func:`find_row`,
:func:`mean_of`), write them with their intervals (:func:`ci_text`, :func:`pct_text`) and as Markdown tables
(:func:`md_table`), and judge a claim (:func:`verdict`, :func:`best_verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..specs import LEARNERS

FIGURES = "figures"

Claim = tuple[str, str, str, str]
"""One row of the summary table: item, the paper's value, ours, verdict."""


@dataclass(frozen=True)
class Section:
    """One section of the report: its Markdown and the claims it adds to the summary table."""

    text: str
    claims: tuple[Claim, ...] = ()


@dataclass(frozen=True)
class Part:
    """How one experiment is reported: the section title; the ``(item, paper)`` of the claim listed when
    the experiment was not run; the body, which turns a loaded result into the section's text below the
    title (and figure) and its claims; and the figure drawer, if the section has a figure."""

    experiment: str
    title: str
    missing: tuple[str, str]
    body: Callable[[dict[str, Any]], Section]
    draw: Callable[[dict[str, Any], Path], Path] | None = None


def render(part: Part, res: dict[str, Any] | None, figs: Path) -> Section:
    """The section of ``part``: "not run" (with its claim marked so) without a result, else title, figure
    (drawn into ``figs``) and body."""
    title = f"## {part.title}"
    if res is None:
        return Section(f"{title}\n\nnot run.", ((*part.missing, "not run", "not run"),))
    if part.draw is not None:
        part.draw(res, figs / f"{part.experiment}.png")
        title += f"\n\n![{part.title}]({FIGURES}/{part.experiment}.png)"
    body = part.body(res)
    return Section("\n\n".join(t for t in (title, body.text) if t), body.claims)


def find_row(res: dict[str, Any], metric: str, series: str, x: float | None = None) -> dict[str, Any] | None:
    """The scalar row of ``metric`` for ``series`` (at ``x``, if given) with at least one value, else None."""
    for r in res["scalars"]:
        if r["metric"] == metric and r["series"] == series and (x is None or r["x"] == x) and r["n"] > 0:
            return r
    return None


def mean_of(res: dict[str, Any], metric: str, series: str, x: float | None = None) -> float:
    """The mean of :func:`find_row`'s row, NaN without one."""
    r = find_row(res, metric, series, x)
    return r["mean"] if r else math.nan


def ci_text(r: dict[str, Any] | None, digits: int = 3, with_iqm: bool = False) -> str:
    """``mean [ci_low, ci_high]`` (optionally with IQM and n) of a scalar row."""
    if r is None:
        return "not run"
    text = f"{r['mean']:.{digits}g} [{r['ci_low']:.{digits}g}, {r['ci_high']:.{digits}g}]"
    return text + (f" (IQM {r['iqm']:.{digits}g}, n={r['n']})" if with_iqm else "")


def pct_text(v: float | tuple[float, float], exact: bool = False) -> str:
    """A percentage: the paper's as transcribed (``exact``), ours to one decimal."""
    if isinstance(v, tuple):
        return f"{v[0]:g}-{v[1]:g} %"
    if not math.isfinite(v):
        return "n/a (N absent at this scale)"
    return f"{v:g} %" if exact else f"{v:.1f} %"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table of ``rows`` under ``header``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def verdict(ok: bool) -> str:
    """A summary claim's verdict: ``agrees`` if ``ok``, else ``differs``."""
    return "agrees" if ok else "differs"


def learners(res: dict[str, Any]) -> tuple[str, ...]:
    """The learners of a result, in order: those ``reproduce --algos`` chose (the paper's five unless a user
    added or chose others); the paper's claims are judged among the paper's five only."""
    return tuple(res.get("scale", {}).get("algos", LEARNERS))


def overlap(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether the confidence intervals of two scalar rows overlap."""
    return a is not None and b is not None and a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"]


def best_verdict(
    res: dict[str, Any], metric: str, expected: str, lowest: bool, x: float | None = None
) -> tuple[str, str]:
    """``(best series among the learners, verdict)``; a miss whose CI overlaps the expected one says so, and
    learners sharing the best mean are a tie, never a win."""
    rows = {a: find_row(res, metric, a, x) for a in LEARNERS}
    known = {a: r["mean"] for a, r in rows.items() if r is not None}
    if expected not in known:
        return "none", "not run"
    best = (min if lowest else max)(known, key=known.__getitem__)
    tied = [a for a, m in known.items() if math.isclose(m, known[best], rel_tol=1e-9)]
    if len(tied) > 1 and expected in tied:
        return " = ".join(tied), "tie"
    if best == expected:
        return best, "agrees"
    return best, "differs (CIs overlap)" if overlap(rows[best], rows[expected]) else "differs"
