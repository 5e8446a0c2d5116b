"""The report document, ``DIR/report.md``: a header (scale, timing, provenance), the summary table of the
paper's claims against ours, one section per experiment (:data:`PARTS`, in report order) and the reasons
results can differ.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ...rundir import write_atomic
from .. import paper, plots, schema
from ..results import PROVENANCE, RESULTS, load
from ..specs import EXPERIMENTS
from .beyond import bandwidth_body, twin_body
from .figures import fig4_body, fig5_body, fig6_body, fig7_body, paper_v_cost
from .render import FIGURES, Claim, Part, md_table, render
from .table3 import table3_body

REPORT_FILE = "report.md"
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
        + md_table(["learner", "runs", "min s", "median s", "max s", "resumed"], rows)
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
    return "## Summary: the paper's claims against ours\n\n" + md_table(
        ["item", "paper", "ours", "verdict"], [list(c) for c in claims]
    )


def _why() -> str:
    return "## Why results can differ\n\n" + "\n".join(f"- {w}" for w in WHY)


PARTS = (
    Part(
        "table3",
        f"Table III: convergence stability and speed ({paper.TABLE_III_CVS} CVs, {paper.TABLE_III_RSUS} RSUs)",
        ("Table III", "Ly-DTMPO best steady reward"),
        table3_body,
    ),
    Part("fig4", "Fig. 4: reward curves", ("Fig. 4: every learner converges", "yes"), fig4_body, plots.fig4),
    Part("fig5", "Fig. 5: local task queues", ("Fig. 5b: Ly-DTMPO lowest steady queue", "yes"), fig5_body, plots.fig5),
    Part(
        "fig6",
        "Fig. 6: cost, delay and energy versus the number of CVs",
        ("Fig. 6a: Ly-DTMPO lowest cost at every N", "yes"),
        fig6_body,
        plots.fig6,
    ),
    Part(
        "fig7",
        "Fig. 7: effect of the Lyapunov parameter V",
        ("Fig. 7b: steady cost rises with V", paper_v_cost()),
        fig7_body,
        plots.fig7,
    ),
    Part(
        "twin",
        "Beyond the paper: twin fidelity (lag and noise)",
        ("(beyond the paper) twin lag / noise", "-"),
        twin_body,
        plots.twin,
    ),
    Part(
        "bandwidth",
        "Beyond the paper: InstrT share and cost versus bandwidth",
        ("(beyond the paper) InstrT share versus bandwidth", "-"),
        bandwidth_body,
        plots.bandwidth,
    ),
)
"""One part per experiment, in report order."""
