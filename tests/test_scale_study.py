"""``isac-iov reproduce scale``: the stand-in roads, the study's runs, its report from saved results, and
its command-line refusals."""

from __future__ import annotations

import json

import pytest

from isac_iov import cli
from isac_iov.config import load_config
from isac_iov.experiments import specs


def test_a_stand_in_keeps_the_city_s_cvs_per_rsu_and_rsu_cpu():
    assert specs.standin_overrides(5) == ("num_cvs=5",)  # Table II's road
    city = load_config("src/isac_iov/scenarios/city.yaml", [])
    for n, k in ((20, 6), (50, 16), (100, 32), (200, 64)):
        cfg = load_config(None, list(specs.standin_overrides(n)))
        assert (cfg.num_cvs, cfg.num_rsus, cfg.road.length_m) == (n, k, 200.0 * k)
        assert cfg.rsu.x_m[0] == 100.0 and cfg.rsu.x_m[-1] == 200.0 * k - 100.0
        per_cv_hz = cfg.rsu.cpu_max_hz * k / n
        assert per_cv_hz == pytest.approx(city.rsu.cpu_max_hz * city.num_rsus / city.num_cvs, rel=0.07)  # K rounded
        assert cfg.action.min_task_share == (0.05 if k <= 18 else 0.01)


def test_the_tiny_scale_study_runs_and_reports_from_its_results(tmp_path):
    out = tmp_path / "scale"
    args = ["reproduce", "scale", "--tiny", "--algos", "ly-dtmpo,ly-masac", "--out", str(out), "--workers", "1"]
    assert cli.main(args) == 0
    res = json.loads((out / "results" / "scale.json").read_text())
    series = {r["series"] for r in res["scalars"]}
    assert series == {
        *(f"{p}{a}" for p in ("", "highway: ") for a in ("ly-dtmpo", "ly-masac", *specs.SCALE_REFERENCES))
    }
    assert {r["x"] for r in res["scalars"] if ":" not in r["series"]} == {2, 20}
    mean = {(r["series"], r["x"], r["metric"]): r["mean"] for r in res["scalars"]}
    assert all(mean[(s, x, "decision_s")] > 0 for s in series for x in (2, 20, 40) if (s, x, "decision_s") in mean)
    assert all(mean[(a, 20, "train_cpu_s")] > 0 for a in ("ly-dtmpo", "ly-masac"))
    text = (out / "scale.md").read_text()
    assert (out / "figures" / "scale.png").stat().st_size > 0 and not (out / "report.md").exists()
    for title in ("## Stand-in road, 2 CVs", "## Stand-in road, 20 CVs", "## highway (40 CVs)"):
        assert title in text
    ratio = mean[("ly-dtmpo", 20, "cost")] / mean[("ly-opt-dual", 20, "cost")]
    section = text.split("## Stand-in road, 20 CVs")[1].split("##")[0]
    row = next(line for line in section.splitlines() if line.startswith("| ly-dtmpo |"))
    assert row.split(" | ")[2] == f"{ratio:.3g}"
    assert f"Ly-DTMPO {ratio:.3f} x ly-opt-dual" in section
    assert cli.main(args) == 0  # rerun: every run reused, the same report
    assert (out / "scale.md").read_text() == text
    (out / "scale.md").unlink()
    assert cli.main(["report", str(out)]) == 0  # the report command rewrites it from the saved results alone
    assert (out / "scale.md").read_text() == text and not (out / "report.md").exists()


def test_scale_study_requests_that_cannot_work_are_refused(tmp_path, error_line):
    out = str(tmp_path / "x")
    assert cli.main(["reproduce", "scale", "--tiny", "--algos", "ly-ppo", "--out", out]) == 2
    assert "--algos: unknown learner(s) ly-ppo" in error_line("reproduce")
    assert cli.main(["reproduce", "twin", "--tiny", "--algos", "ly-dtmpo", "--out", out]) == 2
    assert "--algos: chooses the learners of table3, fig4, fig5, fig6, all, scale, not of twin" in error_line(
        "reproduce"
    )
    assert not (tmp_path / "x").exists()


def test_the_zero_shot_benchmark_trains_once_and_prints_every_network(tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_zeroshot.py"
    args = ["--seeds", "1", "--episodes", "2", "--eval-episodes", "1", "--out", str(tmp_path)]
    args += ["--set", "episode_slots=3", "--set", "algo.num_envs=1", "--set", "algo.hidden=8"]
    runs = [subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=True)]
    rows = [line.split() for line in runs[0].stdout.splitlines() if line.split()[:1] in (["city"], ["spider"])]
    assert [r[:2] for r in rows] == [["city", "training"], ["spider", "test"]]
    cost, to_opt, greedy, opt = float(rows[1][2]), float(rows[1][3]), float(rows[1][7]), float(rows[1][8])
    assert to_opt == pytest.approx(cost / opt, abs=1e-3) and 0 < greedy
    spider = re.search(
        r"^TARGET zero-shot spider cost / ly-opt-dual: ([0-9.]+) \(target <= 1.100\) (met|MISSED)$",
        runs[0].stdout,
        re.MULTILINE,
    )
    assert spider and float(spider[1]) == pytest.approx(to_opt, abs=1e-3)
    assert re.search(r"^TARGETS: \d of 4 met", runs[0].stdout, re.MULTILINE)  # cost and energy on spider and highway
    runs.append(subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=True))
    after_banner = [r.stdout.split("\ncommand: ", 1)[1] for r in runs]  # the banner's machine load differs
    assert after_banner[1] == after_banner[0]  # the run and every evaluation reused


def test_the_verdict_holds_ly_mappo_to_greedy_on_its_own_view():
    from isac_iov.experiments.scale_report import _verdict

    def results(costs: dict[str, float]) -> dict:
        rows = [{"series": s, "x": 20, "metric": "cost", "mean": c, "n": 1} for s, c in costs.items()]
        misses = {"series": "ly-dtmpo", "x": 20, "metric": "deadline_miss_rate", "mean": 0.01, "n": 1}
        return {"scalars": [*rows, misses]}

    costs = {"ly-dtmpo": 1.0, "ly-mappo": 1.2, "greedy": 1.1, "ly-opt-dual": 0.95, "greedy-blind": 1.3}
    assert "every learner at most its heuristic's cost" in _verdict(results(costs), "", 20)  # 1.2 > greedy: allowed
    assert "learners above their heuristic: ly-mappo (> greedy-blind)" in _verdict(
        results({**costs, "greedy-blind": 1.15}), "", 20
    )
    assert "ly-dtmpo (> greedy)" in _verdict(results({**costs, "ly-dtmpo": 1.12}), "", 20)
