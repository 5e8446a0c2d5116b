"""The report's Table III section: convergence stability and speed of the five learners, the trained
policies evaluated next to the references, and the claims the paper makes with the table.
"""

from __future__ import annotations

from typing import Any

from .. import paper
from ..specs import COMPARED_WITH, LEARNERS
from .render import Claim, Section, best_verdict, ci_text, find_row, learners, md_table, mean_of, pct_text, verdict

BASELINES = tuple(a for a in LEARNERS if a != "ly-dtmpo")  # the learners the paper compares Ly-DTMPO with
NOT_IN_PAPER = "–"  # the paper's column of a learner it does not have (a user's, reproduce --algos)


def table3_body(res: dict[str, Any]) -> Section:
    rows = []
    for algo in learners(res):
        p = paper.TABLE_III.get(algo)
        rows.append(
            [
                algo,
                f"{p['steady_reward']:.3f}" if p else NOT_IN_PAPER,
                ci_text(find_row(res, "steady_reward", algo), with_iqm=True),
                f"{p['cv']:.3f}" if p else NOT_IN_PAPER,
                ci_text(find_row(res, "cv_all", algo), with_iqm=True),
                ci_text(find_row(res, "cv_steady", algo)),
                f"{p['conv_episode']:g}" if p else NOT_IN_PAPER,
                ci_text(find_row(res, "conv_episode", algo), 4, with_iqm=True),
            ]
        )
    table = md_table(
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
    steady = {a: r["mean"] for a in learners(res) if (r := find_row(res, "steady_reward", a)) is not None}
    dt = steady.get("ly-dtmpo")
    gains = {b: (dt - s) / abs(s) * 100 for b, s in steady.items() if b != "ly-dtmpo"} if dt is not None else {}
    gain_rows = [
        [b, pct_text(paper.REWARD_GAIN_PCT[b], exact=True) if b in paper.REWARD_GAIN_PCT else NOT_IN_PAPER, pct_text(g)]
        for b, g in gains.items()
    ]
    text = (
        table
        + _twin_input_note(res)
        + _evaluated(res)
        + "\n\nReward gain of Ly-DTMPO over each baseline, (R_dt - R_b) / |R_b| on mean steady rewards:\n\n"
        + md_table(["baseline", "paper", "ours"], gain_rows)
        + "\n\nConv. ep.: "
        + res["definitions"]["conv_episode"]
        + ". CV (all episodes) is the one compared "
        "with the paper's column; the paper does not state its window."
    )
    return Section(text, _table3_claims(res, gains))


def _evaluated(res: dict[str, Any]) -> str:
    """The trained policies evaluated on Table III's scenario next to ``ly-opt`` and ``greedy`` (empty for a
    result collected without those evaluations)."""
    ref = {p: mean_of(res, "cost", p) for p in COMPARED_WITH}
    series = [s for s in (*COMPARED_WITH, *learners(res)) if find_row(res, "cost", s) is not None]
    if not series:
        return ""
    rows = [
        [
            s,
            ci_text(find_row(res, "cost", s)),
            *(f"{mean_of(res, 'cost', s) / ref[p]:.3f}" for p in COMPARED_WITH),
            ci_text(find_row(res, "energy_j", s)),
            ci_text(_percent(find_row(res, "deadline_miss_rate", s)), 2) + " %",
            ci_text(find_row(res, "reward", s)),
        ]
        for s in series
    ]
    header = ["policy", "cost", *(f"× {p}" for p in COMPARED_WITH), "energy (J per CV-slot)", "deadline misses"]
    return (
        "\n\nThe trained policies (deterministic, each CV on its own observation) evaluated on the same scenario "
        f"next to {' and '.join(COMPARED_WITH)}, {res['scale']['eval_episodes']} fresh episodes per seed; cost per "
        "CV (eq. 24), reward per slot (eq. 44):\n\n" + md_table([*header, "reward"], rows)
    )


def _percent(r: dict[str, Any] | None) -> dict[str, Any] | None:
    """A scalar row of a fraction with its mean and interval in percent."""
    return None if r is None else {**r, **{k: 100 * r[k] for k in ("mean", "ci_low", "ci_high")}}


def _table3_claims(res: dict[str, Any], gains: dict[str, float]) -> tuple[Claim, ...]:
    missing = [a for a in LEARNERS if find_row(res, "steady_reward", a) is None]
    if missing:
        return (
            ("Table III: the paper's claims", "the paper's five learners", f"{', '.join(missing)} not run", "not run"),
        )
    positive = [b for b in BASELINES if gains[b] > 0]
    cv = {a: mean_of(res, "cv_all", a) for a in LEARNERS}
    conv = {a: mean_of(res, "conv_episode", a) for a in LEARNERS}
    return (
        (
            "Table III: highest steady reward",
            "ly-dtmpo",
            *best_verdict(res, "steady_reward", "ly-dtmpo", lowest=False),
        ),
        (
            "Table III: Ly-DTMPO reward gain > 0 over every baseline",
            ", ".join(f"{b} {paper.REWARD_GAIN_PCT[b]:g} %" for b in BASELINES),
            ", ".join(f"{b} {pct_text(gains[b])}" for b in BASELINES),
            verdict(len(positive) == len(BASELINES)) + f" ({len(positive)}/{len(BASELINES)} positive)",
        ),
        (
            "Table III: Ly-DTMPO CV below Ly-MAPPO and Ly-MADDPG",
            _paper_order("cv", "<", "ly-mappo", "ly-maddpg"),
            f"{cv['ly-dtmpo']:.3g} vs {cv['ly-mappo']:.3g}, {cv['ly-maddpg']:.3g}",
            verdict(cv["ly-dtmpo"] < min(cv["ly-mappo"], cv["ly-maddpg"])),
        ),
        (
            "Table III: Ly-DTMPO converges later than Ly-MADDPG and Ly-MASAC",
            _paper_order("conv_episode", ">", "ly-maddpg", "ly-masac"),
            f"{conv['ly-dtmpo']:.0f} vs {conv['ly-maddpg']:.0f}, {conv['ly-masac']:.0f}",
            verdict(conv["ly-dtmpo"] > max(conv["ly-maddpg"], conv["ly-masac"])),
        ),
    )


def _paper_order(column: str, sign: str, *others: str) -> str:
    """Ly-DTMPO's Table III ``column`` against the others', as ``dt sign other1, other2``."""
    fmt = ".3f" if column == "cv" else "g"
    values = [format(paper.TABLE_III[a][column], fmt) for a in ("ly-dtmpo", *others)]
    return f"{values[0]} {sign} {', '.join(values[1:])}"


def _twin_input_note(res: dict[str, Any]) -> str:
    """What the twin adds for Ly-DTMPO's actors: the RSU backlogs (compared with the local ones) and loads."""
    rsu, local = (
        find_row(res, "steady_rsu_queue_cycles", "ly-dtmpo"),
        find_row(res, "steady_local_queue_cycles", "ly-dtmpo"),
    )
    if rsu is None or local is None:
        return ""
    return (
        "\n\nLy-DTMPO differs from Ly-MAPPO only by the twin's inputs: the RSU backlogs and the RSU load "
        "(CVs in coverage, contention, demanded cycles, last slot's CPU; actors and critic) and the other CVs' "
        f"states (critic only). Over the steady window Ly-DTMPO's mean RSU backlog is {rsu['mean']:.3g} cycles "
        f"(max over seeds {max(rsu['values']):.3g}) against a mean local backlog of {local['mean']:.3g} cycles; "
        "where the backlogs are near zero, the load is what the twin tells the actors that a CV cannot see."
    )
