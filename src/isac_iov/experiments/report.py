"""``isac-iov report DIR``: the Markdown report of a reproduction, from saved results only.

Reads ``DIR/results/*.json`` (written by ``isac-iov reproduce``), draws every
figure into ``DIR/figures/`` and writes ``DIR/report.md``: a summary table of
the paper's claims against ours with a verdict, then one section per table or
figure with the paper's numbers next to ours (mean over seeds, 95 % bootstrap
CI, IQM), and the reasons for differences that we know.

The report is data: every paper number comes from :mod:`.paper`, every curve a
figure draws from the experiment's declaration (:data:`.specs.CURVES`), and
each experiment is reported by one :class:`Part` whose body returns a
:class:`Section` (its Markdown and its summary claims).  Items whose results
are missing are listed as "not run" by :func:`render`, never silently dropped.
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..rundir import write_atomic
from . import paper, plots, schema
from .results import PROVENANCE, RESULTS, load
from .scale_report import write_scale_report
from .specs import COMPARED_WITH, EXPERIMENTS, LEARNERS, NO_TWIN, curves_of

REPORT_FILE = "report.md"
FIGURES = "figures"
BASELINES = tuple(a for a in LEARNERS if a != "ly-dtmpo")  # the learners the paper compares Ly-DTMPO with
WHY = (
    (
        "Absolute rewards and costs are not comparable with the paper's: our reward is minus the P2 objective "
        "of eq. (39) with delay normalised by the slot length and energy and queues by config-derived "
        "references (docs/model.md#normalisation), and E^max, T^max and C^twin are calibrated values the paper "
        "does not give. Compare orders, signs and ratios, not levels."
    ),
    (
        "The paper reports a single training run per algorithm without intervals; we report means over seeds "
        "with 95 % bootstrap intervals, so differences smaller than the interval are not claims either way."
    ),
    (
        "A reduced budget (quick/tiny scale: fewer episodes and seeds, fewer N, V and fidelity values) "
        f"stops training long before the paper's {paper.EPISODES} episodes; convergence episodes and steady values "
        "at that scale describe early training, not convergence."
    ),
    "The paper's baselines' hyper-parameters are not given; ours are the learners' documented defaults.",
)

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


README_MARKERS = ("<!-- table3:begin -->", "<!-- table3:end -->")
"""The README block that :func:`update_readme` rewrites with a reproduction's Table III."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="output directory of `isac-iov reproduce`")
    p.add_argument(
        "--readme", type=Path, default=None, help="also rewrite this README's Table III block from DIR's results"
    )


def main(args: argparse.Namespace) -> int:
    if args.readme is not None:
        _readme_parts(args.readme.read_text(), args.readme)  # a README without the block fails before any work
    scale = write_scale_report(args.dir)
    if scale is not None:
        print(f"scale report written to {scale}")
    if scale is None or any(load(args.dir, name) is not None for name in EXPERIMENTS):
        print(f"report written to {write_report(args.dir)}")
    if args.readme is not None:
        update_readme(args.dir, args.readme)
        print(f"Table III of {args.readme} rewritten from {args.dir / RESULTS}")
    return 0


def readme_table3(out_dir: Path) -> str:
    """Table III of the reproduction in ``out_dir`` as the README shows it: the report's section body."""
    res = load(Path(out_dir), "table3")
    if res is None:
        raise FileNotFoundError(f"{Path(out_dir) / RESULTS} holds no table3 result: run `isac-iov reproduce table3`")
    return _table3(res).text


def update_readme(out_dir: Path, readme: Path) -> None:
    """Replace the text between :data:`README_MARKERS` in ``readme`` by :func:`readme_table3`."""
    head, tail = _readme_parts(readme.read_text(), readme)
    write_atomic(readme, f"{head}{README_MARKERS[0]}\n{readme_table3(out_dir)}\n{README_MARKERS[1]}{tail}")


def _readme_parts(text: str, readme: Path) -> tuple[str, str]:
    """The text before the begin marker and after the end marker; one line naming the file if either is missing."""
    begin, end = README_MARKERS
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"{readme} must hold the lines {begin} and {end} once each, in this order")
    return text[: text.index(begin)], text[text.index(end) + len(end) :]


def write_report(out_dir: Path) -> Path:
    """Draw the figures and write ``report.md`` from ``DIR/results``."""
    out_dir = Path(out_dir)
    if not (out_dir / RESULTS).is_dir():
        raise FileNotFoundError(
            f"{out_dir / RESULTS} does not exist: run `isac-iov reproduce ... --out {out_dir}` first"
        )
    figs = out_dir / FIGURES
    figs.mkdir(exist_ok=True)
    res = {name: load(out_dir, name) for name in EXPERIMENTS}
    sections = [render(part, res[part.experiment], figs) for part in PARTS]
    claims = [c for section in sections for c in section.claims]
    text = "\n\n".join([_header(out_dir, res), _summary(claims), *(s.text for s in sections), _why()]) + "\n"
    path = out_dir / REPORT_FILE
    write_atomic(path, text)
    return path


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


# ----------------------------------------------------------------------------- helpers


def _row(res: dict[str, Any], metric: str, series: str, x: float | None = None) -> dict[str, Any] | None:
    for r in res["scalars"]:
        if r["metric"] == metric and r["series"] == series and (x is None or r["x"] == x) and r["n"] > 0:
            return r
    return None


def _mean(res: dict[str, Any], metric: str, series: str, x: float | None = None) -> float:
    r = _row(res, metric, series, x)
    return r["mean"] if r else math.nan


def _ci(r: dict[str, Any] | None, digits: int = 3, with_iqm: bool = False) -> str:
    """``mean [ci_low, ci_high]`` (optionally with IQM and n) of a scalar row."""
    if r is None:
        return "not run"
    text = f"{r['mean']:.{digits}g} [{r['ci_low']:.{digits}g}, {r['ci_high']:.{digits}g}]"
    return text + (f" (IQM {r['iqm']:.{digits}g}, n={r['n']})" if with_iqm else "")


def _pct(v: float | tuple[float, float], exact: bool = False) -> str:
    """A percentage: the paper's as transcribed (``exact``), ours to one decimal."""
    if isinstance(v, tuple):
        return f"{v[0]:g}-{v[1]:g} %"
    if not math.isfinite(v):
        return "n/a (N absent at this scale)"
    return f"{v:g} %" if exact else f"{v:.1f} %"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _verdict(ok: bool) -> str:
    return "agrees" if ok else "differs"


def _overlap(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether the confidence intervals of two scalar rows overlap."""
    return a is not None and b is not None and a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"]


def _best_verdict(
    res: dict[str, Any], metric: str, expected: str, lowest: bool, x: float | None = None
) -> tuple[str, str]:
    """``(best series among the learners, verdict)``; a miss whose CI overlaps the expected one says so, and
    learners sharing the best mean are a tie, never a win."""
    rows = {a: _row(res, metric, a, x) for a in LEARNERS}
    known = {a: r["mean"] for a, r in rows.items() if r is not None}
    if expected not in known:
        return "none", "not run"
    best = (min if lowest else max)(known, key=known.__getitem__)
    tied = [a for a, m in known.items() if math.isclose(m, known[best], rel_tol=1e-9)]
    if len(tied) > 1 and expected in tied:
        return " = ".join(tied), "tie"
    if best == expected:
        return best, "agrees"
    return best, "differs (CIs overlap)" if _overlap(rows[best], rows[expected]) else "differs"


def _header(out_dir: Path, res: dict[str, Any]) -> str:
    scale = next((r["scale"] for r in res.values() if r), None)
    lines = ["# Reproduction of Section VII (Ly-DTMPO)", ""]
    if scale:
        lines.append(
            f"Scale `{scale['name']}`: {scale['episodes']} training episodes, seeds {scale['seeds']}, "
            f"{scale['eval_episodes']} evaluation episodes per policy, steady window "
            f"{scale['steady_window']} episodes, curves smoothed over {scale['smooth_window']}."
        )
    timing = out_dir / RESULTS / "timing.json"
    if timing.is_file() or timing.is_symlink():
        t = schema.read_checked(timing, schema.TIMING)
        schema.check(t.get("training_seconds", {}), schema.TRAINING_SECONDS, str(timing), "training_seconds")
        lines += [_timing(t), *filter(None, [_training_time(t)])]
    prov = out_dir / RESULTS / PROVENANCE
    if prov.is_file() or prov.is_symlink():
        codes = schema.read_checked(prov, schema.PROVENANCE)["code"]
        lines.append(
            "Made by "
            + "; ".join(
                f"isac-iov {c['version']} (code fingerprint `{c['fingerprint']}`, {c['runs']} runs)" for c in codes
            )
            + "."
        )
    lines.append(
        "Numbers are means over seeds with 95 % bootstrap confidence intervals in brackets and the "
        "interquartile mean (IQM); figures show the intervals as bands or error bars. Raw results: "
        f"`{RESULTS}/*.json`, `*_scalars.csv`, `*_curves.csv`, marl-eval exports "
        f"`{RESULTS}/marl_eval_train.json` and `marl_eval_eval.json`."
    )
    return "\n".join(lines)


def _timing(t: dict[str, Any]) -> str:
    return (
        f"Wall time of the last `reproduce`: {t['wall_time_s']:.0f} s for {t['executed']} runs "
        f"executed, {t['skipped']} reused, {t['failed']} failed (backend {t['backend']}, "
        f"{t['workers']} workers); the runs in this directory took {t['run_seconds_total']:.0f} s "
        f"of worker time in all{_working(t)}. Estimated time of the full `all --seeds 5` reproduction "
        f"({t['full_runs']} runs) on {t['workers']} workers from the measured seconds per episode: "
        f"{_hours(t['full_estimate_h'])} from wall time, {_hours(t['full_estimate_cpu_h'])} from the "
        "runs' own CPU time (the two differ when other work shares the machine). Rates measured "
        "on short runs understate the off-policy learners, whose per-episode cost grows after "
        "their warm-up."
    )


def _training_time(t: dict[str, Any]) -> str:
    """Wall seconds per training run on the default scenario, by learner (timing written before
    they were recorded: nothing)."""
    per_algo = t.get("training_seconds")
    if not per_algo:
        return ""
    rows = [
        [algo, str(v["runs"]), f"{v['min']:.0f}", f"{v['median']:.0f}", f"{v['max']:.0f}", str(v["resumed"])]
        for algo, v in per_algo.items()
    ]
    return (
        "\nWall time per training run on the default scenario, as this machine delivered it while "
        f"{t['workers']} runs shared it (a run resumed after a kill counts its earlier attempts up to the "
        "checkpoint it resumed from):\n\n"
        + _table(["learner", "runs", "min s", "median s", "max s", "resumed"], rows)
        + "\n"
    )


def _working(t: dict[str, Any]) -> str:
    """The wall time during which this directory's finished runs were executing, over every invocation."""
    if "working_wall_time_s" not in t:  # timing written before it was recorded
        return ""
    return (
        f", and were executing during {_hms(t['working_wall_time_s'])} (h:mm:ss) of wall time over every "
        "`reproduce` that worked here (pauses between invocations excluded)"
    )


def _hms(seconds: float) -> str:
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{s:02d}"


def _hours(h: float) -> str:
    return f"{h:.2f} h" if math.isfinite(h) else "unknown (not every kind of run measured yet)"


def _summary(claims: list[Claim]) -> str:
    return "## Summary: the paper's claims against ours\n\n" + _table(
        ["item", "paper", "ours", "verdict"], [list(c) for c in claims]
    )


def _why() -> str:
    return "## Why results can differ\n\n" + "\n".join(f"- {w}" for w in WHY)


# ----------------------------------------------------------------------------- Table III


def _table3(res: dict[str, Any]) -> Section:
    rows = []
    for algo in LEARNERS:
        p = paper.TABLE_III[algo]
        rows.append(
            [
                algo,
                f"{p['steady_reward']:.3f}",
                _ci(_row(res, "steady_reward", algo), with_iqm=True),
                f"{p['cv']:.3f}",
                _ci(_row(res, "cv_all", algo), with_iqm=True),
                _ci(_row(res, "cv_steady", algo)),
                f"{p['conv_episode']:g}",
                _ci(_row(res, "conv_episode", algo), 4, with_iqm=True),
            ]
        )
    table = _table(
        [
            "algorithm",
            "paper steady reward",
            "ours",
            "paper CV",
            "ours CV (all episodes)",
            "ours CV (steady window)",
            "paper conv. ep.",
            "ours conv. ep.",
        ],
        rows,
    )
    steady = {a: _mean(res, "steady_reward", a) for a in LEARNERS}
    gains = {b: (steady["ly-dtmpo"] - steady[b]) / abs(steady[b]) * 100 for b in BASELINES}
    gain_rows = [[b, _pct(paper.REWARD_GAIN_PCT[b], exact=True), _pct(gains[b])] for b in BASELINES]
    text = (
        table
        + _twin_input_note(res)
        + _evaluated(res)
        + "\n\nReward gain of Ly-DTMPO over each baseline, (R_dt - R_b) / |R_b| on mean steady rewards:\n\n"
        + _table(["baseline", "paper", "ours"], gain_rows)
        + "\n\nConv. ep.: "
        + res["definitions"]["conv_episode"]
        + ". CV (all episodes) is the one compared "
        "with the paper's column; the paper does not state its window."
    )
    return Section(text, _table3_claims(res, gains))


def _evaluated(res: dict[str, Any]) -> str:
    """The trained policies evaluated on Table III's scenario next to ``ly-opt`` and ``greedy`` (empty for a
    result collected without those evaluations)."""
    ref = {p: _mean(res, "cost", p) for p in COMPARED_WITH}
    series = [s for s in (*COMPARED_WITH, *LEARNERS) if _row(res, "cost", s) is not None]
    if not series:
        return ""
    rows = [
        [
            s,
            _ci(_row(res, "cost", s)),
            *(f"{_mean(res, 'cost', s) / ref[p]:.3f}" for p in COMPARED_WITH),
            _ci(_row(res, "energy_j", s)),
            _ci(_percent(_row(res, "deadline_miss_rate", s)), 2) + " %",
            _ci(_row(res, "reward", s)),
        ]
        for s in series
    ]
    header = ["policy", "cost", *(f"× {p}" for p in COMPARED_WITH), "energy (J per CV-slot)", "deadline misses"]
    return (
        "\n\nThe trained policies (deterministic, each CV on its own observation) evaluated on the same scenario "
        f"next to {' and '.join(COMPARED_WITH)}, {res['scale']['eval_episodes']} fresh episodes per seed; cost per "
        "CV (eq. 24), reward per slot (eq. 44):\n\n" + _table([*header, "reward"], rows)
    )


def _percent(r: dict[str, Any] | None) -> dict[str, Any] | None:
    """A scalar row of a fraction with its mean and interval in percent."""
    return None if r is None else {**r, **{k: 100 * r[k] for k in ("mean", "ci_low", "ci_high")}}


def _table3_claims(res: dict[str, Any], gains: dict[str, float]) -> tuple[Claim, ...]:
    positive = [b for b in BASELINES if gains[b] > 0]
    cv = {a: _mean(res, "cv_all", a) for a in LEARNERS}
    conv = {a: _mean(res, "conv_episode", a) for a in LEARNERS}
    return (
        (
            "Table III: highest steady reward",
            "ly-dtmpo",
            *_best_verdict(res, "steady_reward", "ly-dtmpo", lowest=False),
        ),
        (
            "Table III: Ly-DTMPO reward gain > 0 over every baseline",
            ", ".join(f"{b} {paper.REWARD_GAIN_PCT[b]:g} %" for b in BASELINES),
            ", ".join(f"{b} {_pct(gains[b])}" for b in BASELINES),
            _verdict(len(positive) == len(BASELINES)) + f" ({len(positive)}/{len(BASELINES)} positive)",
        ),
        (
            "Table III: Ly-DTMPO CV below Ly-MAPPO and Ly-MADDPG",
            _paper_order("cv", "<", "ly-mappo", "ly-maddpg"),
            f"{cv['ly-dtmpo']:.3g} vs {cv['ly-mappo']:.3g}, {cv['ly-maddpg']:.3g}",
            _verdict(cv["ly-dtmpo"] < min(cv["ly-mappo"], cv["ly-maddpg"])),
        ),
        (
            "Table III: Ly-DTMPO converges later than Ly-MADDPG and Ly-MASAC",
            _paper_order("conv_episode", ">", "ly-maddpg", "ly-masac"),
            f"{conv['ly-dtmpo']:.0f} vs {conv['ly-maddpg']:.0f}, {conv['ly-masac']:.0f}",
            _verdict(conv["ly-dtmpo"] > max(conv["ly-maddpg"], conv["ly-masac"])),
        ),
    )


def _paper_order(column: str, sign: str, *others: str) -> str:
    """Ly-DTMPO's Table III ``column`` against the others', as ``dt sign other1, other2``."""
    fmt = ".3f" if column == "cv" else "g"
    values = [format(paper.TABLE_III[a][column], fmt) for a in ("ly-dtmpo", *others)]
    return f"{values[0]} {sign} {', '.join(values[1:])}"


def _twin_input_note(res: dict[str, Any]) -> str:
    """What the twin adds for Ly-DTMPO's actors: the RSU backlogs (compared with the local ones) and loads."""
    rsu, local = _row(res, "steady_rsu_queue_cycles", "ly-dtmpo"), _row(res, "steady_local_queue_cycles", "ly-dtmpo")
    if rsu is None or local is None:
        return ""
    return (
        "\n\nLy-DTMPO differs from Ly-MAPPO only by the twin's inputs: the RSU backlogs and the RSU load "
        "(CVs in coverage, contention, demanded cycles, last slot's CPU; actors and critic) and the other CVs' "
        f"states (critic only). Over the steady window Ly-DTMPO's mean RSU backlog is {rsu['mean']:.3g} cycles "
        f"(max over seeds {max(rsu['values']):.3g}) against a mean local backlog of {local['mean']:.3g} cycles; "
        "where the backlogs are near zero, the load is what the twin tells the actors that a CV cannot see."
    )


# ----------------------------------------------------------------------------- Fig. 4


def _fig4(res: dict[str, Any]) -> Section:
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
        _verdict(len(settled) == len(drift)),
    )
    return Section("", (claim,))


# ----------------------------------------------------------------------------- Fig. 5


def _fig5(res: dict[str, Any]) -> Section:
    claim = (
        "Fig. 5b: lowest steady mean local queue",
        "ly-dtmpo",
        *_best_verdict(res, "steady_local_queue_cycles", "ly-dtmpo", lowest=True),
    )
    found = [r for r in (_row(res, "steady_local_queue_cycles", a) for a in LEARNERS) if r is not None]
    rows = [[r["series"], _ci(r)] for r in found]
    text = "Steady mean local queue (cycles, last steady window):\n\n" + _table(["algorithm", "ours"], rows)
    if len(found) > 1 and all(r["values"] == found[0]["values"] for r in found):
        text += (
            "\n\nEvery learner's local queue is the same, seed by seed: no learner keeps a local part that outlasts "
            "the slot, so the queue only grows in the slots where a CV is outside every RSU's coverage and must "
            "compute its whole task itself, and those slots depend on the seed's traffic, not on the policy."
        )
    return Section(text, (claim,))


# ----------------------------------------------------------------------------- Fig. 6


def _reduction(res: dict[str, Any], metric: str, base: str, n: float) -> float:
    b, d = _mean(res, metric, base, n), _mean(res, metric, "ly-dtmpo", n)
    return (b - d) / b * 100


def _fig6(res: dict[str, Any]) -> Section:
    ns = sorted({r["x"] for r in res["scalars"]})
    series = plots.series_names(res)
    parts = []
    for metric in ("cost", "system_cost", "delay_s", "energy_j", "instrt_share", "deadline_miss_rate"):
        rows = [[s] + [_ci(_row(res, metric, s, n)) for n in ns] for s in series]
        parts.append(f"**{metric}**\n\n" + _table(["policy"] + [f"N = {n:g}" for n in ns], rows))
    for metric, table, label in (
        ("cost", paper.COST_REDUCTION_PCT, "cost"),
        ("delay_s", paper.DELAY_REDUCTION_PCT, "delay"),
        ("energy_j", paper.ENERGY_REDUCTION_PCT, "energy"),
    ):
        parts.append(
            f"Ly-DTMPO {label} reduction (c_b - c_dt) / c_b; our 'mean over N' averages the per-N "
            f"reductions over N = {', '.join(f'{n:g}' for n in ns)}:\n\n"
            + _table(["where", "baseline", "paper", "ours"], _reduction_rows(res, metric, table, ns))
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
            rows.append([where, base, _pct(pv, exact=True), _pct(ours)])
    return rows


def _fig6_claims(res: dict[str, Any], ns: list[float]) -> tuple[Claim, ...]:
    claims: list[Claim] = []
    paper_ns = f"yes (N = {min(paper.NUM_CVS)}..{max(paper.NUM_CVS)})"
    for metric, label in (("cost", "Fig. 6a: Ly-DTMPO lowest cost"), ("delay_s", "Fig. 6b: Ly-DTMPO lowest delay")):
        verdicts = [_best_verdict(res, metric, "ly-dtmpo", lowest=True, x=n)[1] for n in ns]
        wins, ties = verdicts.count("agrees"), verdicts.count("differs (CIs overlap)") + verdicts.count("tie")
        claims.append(
            (
                label + " among learners at every N",
                paper_ns,
                f"{wins}/{len(ns)} N values ({ties} more within the CI of the best)",
                _verdict(wins == len(ns)),
            )
        )
    for metric, label in (("cost", "mean cost per CV"), ("system_cost", "system cost (sum over CVs)")):
        rising = [a for a in LEARNERS if _increasing([_mean(res, metric, a, n) for n in ns])]
        claims.append(
            (
                f"Fig. 6a: {label} increases with N for every learner",
                "yes",
                f"{len(rising)}/{len(LEARNERS)} ({', '.join(rising) or 'none'})",
                _verdict(len(rising) == len(LEARNERS)),
            )
        )
    falling = _increasing([-_mean(res, "energy_j", "ly-dtmpo", n) for n in ns])
    claims.append(
        (
            "Fig. 6c: Ly-DTMPO energy decreases monotonically with N",
            "yes",
            "yes" if falling else "no",
            _verdict(falling),
        )
    )
    gap = [(_mean(res, "cost", "ly-dtmpo", n) / _mean(res, "cost", "ly-opt", n) - 1) * 100 for n in ns]
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


def _paper_v_cost() -> str:
    """The paper's Fig. 7b costs with their V values, equal costs grouped: ``c1 (V=v1,v2), c2 (v3), ...``."""
    groups: dict[float, list[float]] = {}
    for v, cost in paper.V_COST.items():
        groups.setdefault(cost, []).append(v)
    return ", ".join(
        f"{cost:g} ({'V=' if i == 0 else ''}{','.join(f'{v:g}' for v in vs)})"
        for i, (cost, vs) in enumerate(groups.items())
    )


def _fig7(res: dict[str, Any]) -> Section:
    vs = sorted({r["x"] for r in res["scalars"]})
    rows = [
        [
            f"{v:g}",
            f"{paper.V_COST[v]:g}" if v in paper.V_COST else "-",
            _ci(_row(res, "steady_cost", "ly-dtmpo", v), with_iqm=True),
        ]
        for v in vs
    ]
    claim = (
        "Fig. 7b: steady cost rises with V",
        _paper_v_cost(),
        ", ".join(f"V={v:g}: {_mean(res, 'steady_cost', 'ly-dtmpo', v):.3g}" for v in vs),
        _rising_verdict([_row(res, "steady_cost", "ly-dtmpo", v) for v in vs]),
    )
    return Section(_table(["V", "paper cost", "ours steady cost"], rows), (claim,))


def _rising_verdict(ours: list[dict[str, Any] | None]) -> str:
    """Whether consecutive scalar rows rise, told apart from overlapping intervals."""
    rows = [r for r in ours if r is not None]
    if len(rows) < len(ours):
        return "not run"
    pairs = list(itertools.pairwise(rows))
    if all(b["mean"] > a["mean"] and not _overlap(a, b) for a, b in pairs):
        return "agrees"
    if any(b["mean"] < a["mean"] and not _overlap(a, b) for a, b in pairs):
        return "differs"
    return "inconclusive (CIs overlap)"


# ----------------------------------------------------------------------------- beyond the paper


def _twin(res: dict[str, Any]) -> Section:
    rows = sorted(plots.scalar_rows(res, "steady_cost"), key=lambda r: (r["series"], r["x"] or 0.0))
    table = [
        [
            r["series"],
            "-" if r["x"] is None else f"{r['x']:g}",
            _ci(r),
            _ci(_row(res, "steady_reward", r["series"], r["x"])),
        ]
        for r in rows
    ]
    perfect = _mean(res, "steady_cost", "lag_slots", 0)
    worst = {f: max(plots.scalar_rows(res, "steady_cost", f), key=lambda r: r["x"]) for f in ("lag_slots", "noise_std")}
    busy = _mean(res, "steady_cost", "contention: ly-dtmpo")
    claims = (
        (
            "(beyond the paper) Ly-DTMPO steady cost change, perfect twin -> worst twin / no twin",
            "-",
            ", ".join(f"{f}={r['x']:g}: {(r['mean'] / perfect - 1) * 100:+.1f} %" for f, r in worst.items())
            + f", Ly-MAPPO: {(_mean(res, 'steady_cost', NO_TWIN) / perfect - 1) * 100:+.1f} %",
            "-",
        ),
        (
            "(beyond the paper) contention scenario: Ly-DTMPO vs Ly-MAPPO (no twin) steady cost",
            "-",
            f"{busy:.3g} vs {_mean(res, 'steady_cost', f'contention: {NO_TWIN}'):.3g}",
            "-",
        ),
    )
    return Section(
        "Ly-DTMPO trained and measured with a lagged or noisy twin (one factor at a time):\n\n"
        + _table(["factor", "value", "steady cost", "steady reward"], table),
        claims,
    )


def _bandwidth(res: dict[str, Any]) -> Section:
    rows = sorted(plots.scalar_rows(res, "instrt_share"), key=lambda r: (r["series"], r["x"]))
    table = [[r["series"], f"{r['x'] / 1e6:g}", _ci(r), _ci(_row(res, "cost", r["series"], r["x"]))] for r in rows]
    lo, hi = min(r["x"] for r in rows), max(r["x"] for r in rows)
    claim = (
        "(beyond the paper) ly-opt InstrT share, lowest -> highest bandwidth",
        "-",
        ", ".join(
            f"{sh}: {_mean(res, 'instrt_share', f'ly-opt {sh}', lo):.2f} -> "
            f"{_mean(res, 'instrt_share', f'ly-opt {sh}', hi):.2f}"
            for sh in ("per_cv", "per_rsu")
        ),
        "-",
    )
    return Section(_table(["policy / sharing", "bandwidth (MHz)", "InstrT share", "cost"], table), (claim,))


PARTS = (
    Part(
        "table3",
        f"Table III: convergence stability and speed ({paper.TABLE_III_CVS} CVs, {paper.TABLE_III_RSUS} RSUs)",
        ("Table III", "Ly-DTMPO best steady reward"),
        _table3,
    ),
    Part("fig4", "Fig. 4: reward curves", ("Fig. 4: every learner converges", "yes"), _fig4, plots.fig4),
    Part("fig5", "Fig. 5: local task queues", ("Fig. 5b: Ly-DTMPO lowest steady queue", "yes"), _fig5, plots.fig5),
    Part(
        "fig6",
        "Fig. 6: cost, delay and energy versus the number of CVs",
        ("Fig. 6a: Ly-DTMPO lowest cost at every N", "yes"),
        _fig6,
        plots.fig6,
    ),
    Part(
        "fig7",
        "Fig. 7: effect of the Lyapunov parameter V",
        ("Fig. 7b: steady cost rises with V", _paper_v_cost()),
        _fig7,
        plots.fig7,
    ),
    Part(
        "twin",
        "Beyond the paper: twin fidelity (lag and noise)",
        ("(beyond the paper) twin lag / noise", "-"),
        _twin,
        plots.twin,
    ),
    Part(
        "bandwidth",
        "Beyond the paper: InstrT share and cost versus bandwidth",
        ("(beyond the paper) InstrT share versus bandwidth", "-"),
        _bandwidth,
        plots.bandwidth,
    ),
)
"""One part per experiment, in report order."""
