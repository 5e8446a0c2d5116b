"""Tests of the reproduction pipeline: statistics, spec expansion, caching/resume, backends, report."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from isac_iov import cli, rundir
from isac_iov.config import ConfigError
from isac_iov.experiments import paper, report, results, runner, runstore, specs, stats, timing
from isac_iov.experiments.report import figures, render, write_report
from isac_iov.learners.metrics import BASE_COLUMNS

# ----------------------------------------------------------------------------- a fake run function

COLUMNS = list(BASE_COLUMNS)
ALGO_LEVEL = {
    "ly-dtmpo": 1.0,
    "ly-mappo": 1.3,
    "ly-maddpg": 1.4,
    "ly-matd3": 1.6,
    "ly-masac": 1.2,
    "ly-opt": 0.8,
    "greedy": 1.1,
    "local": 2.5,
}


def _rng(spec: specs.RunSpec) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(spec.key.encode()).hexdigest()[:8], 16))


def fake_run(spec: specs.RunSpec, directory: Path, source_dir: Path | None) -> None:
    """Deterministic stand-in for training/evaluation with the real output files."""
    if (directory.parent.parent / "FAIL").is_file() and spec.algo == "ly-matd3":
        raise RuntimeError("injected failure")
    (directory / "where.txt").write_text(f"{directory}\n{source_dir}")  # where the run function worked
    cfg, rng = spec.config, _rng(spec)
    level = ALGO_LEVEL[spec.algo] * cfg.num_cvs / 5 * (1 + cfg.lyapunov.v_control / 200)
    if spec.kind == "evaluate":
        assert (source_dir is not None) == (spec.source is not None)
        summary = {
            "cost": level,
            "system_cost": level * cfg.num_cvs,
            "delay_s": 0.5 * level,
            "energy_j": 30 * level,
            "deadline_miss_rate": 0.1,
            "instrt_share": 1e6 / cfg.channel.bandwidth_hz,
            "reward": -2 * level,
        }
        (directory / "summary.json").write_text(json.dumps(summary))
        return
    ep = np.arange(spec.episodes)
    cost = level * (1 + np.exp(-ep / 3)) + 0.01 * rng.standard_normal(spec.episodes)
    cols = {
        "episode": ep,
        "reward": -2 * cost,
        "cost": cost,
        "system_cost": cost * cfg.num_cvs,
        "delay_s": 0.5 * cost,
        "energy_j": 30 * cost,
        "local_queue_cycles": 1e9 * cost,
        "rsu_queue_cycles": 2e9 * cost,
        "energy_queue_j": cost,
        "deadline_miss_rate": 0 * cost,
        "instrt_share": 0 * cost,
    }
    cols.update({f"local_queue_cv{i}": (i + 1) * 1e9 * cost for i in range(cfg.num_cvs)})
    cols["wall_time_s"] = 0.01 * ep
    with open(directory / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(cols))
        w.writerows(np.column_stack(list(cols.values())).tolist())


# ----------------------------------------------------------------------------- statistics


def test_bootstrap_two_values_is_their_range():
    assert stats.bootstrap_ci(np.array([3.0, 1.0])).tolist() == [1.0, 3.0]


def test_bootstrap_exact_three_values_by_hand():
    # Resample means of [0, 0, 3] are k in {0,1,2,3} with P = 8/27, 12/27, 6/27, 1/27.
    # The 95 % interval needs CDF >= 0.975 -> 3; the 90 % one CDF >= 0.95 -> 2 (CDF(2) = 26/27).
    values = np.array([0.0, 0.0, 3.0])
    assert stats.bootstrap_ci(values).tolist() == [0.0, 3.0]
    assert stats.bootstrap_ci(values, confidence=0.9).tolist() == [0.0, 2.0]
    assert len(stats.resample_indices(3)) == 27


def test_bootstrap_degenerate_and_monte_carlo_cases():
    assert stats.bootstrap_ci(np.array([4.2])).tolist() == [4.2, 4.2]
    assert stats.bootstrap_ci(np.full(5, 7.0)).tolist() == [7.0, 7.0]
    values = np.arange(8.0)  # 8**8 resamples: Monte Carlo path, deterministic
    low, high = stats.bootstrap_ci(values)
    assert 0 < low < values.mean() < high < 7
    assert stats.bootstrap_ci(values).tolist() == [low, high]
    # the sample mean +- 1.96 standard errors, to Monte Carlo accuracy
    se = values.std() / np.sqrt(8)
    assert abs(low - (3.5 - 1.96 * se)) < 0.3 and abs(high - (3.5 + 1.96 * se)) < 0.3


def test_iqm_summary_and_curves():
    assert stats.iqm(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == pytest.approx(3.0)
    assert stats.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)
    s = stats.summarize([1.0, 3.0, float("nan")])
    assert (s["n"], s["mean"], s["ci_low"], s["ci_high"], s["iqm"]) == (2, 2.0, 1.0, 3.0, 2.0)
    curves = np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 3.0]])
    band = stats.curve_band(curves)
    assert band["mean"].tolist() == [1.0, 1.0, 4.0]
    assert band["ci_low"].tolist() == [0.0, 1.0, 3.0] and band["ci_high"].tolist() == [2.0, 1.0, 5.0]
    assert stats.moving_average(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist() == [1.0, 1.5, 2.5, 3.5]


def test_training_scalars_by_hand():
    reward = np.array([-10.0, -8.0, -6.0, -4.0, -2.1, -2.0, -2.0, -2.0])
    m = {"episode": np.arange(8.0), "reward": reward, "cost": -reward / 2}
    scale = specs.Scale("t", episodes=8, seeds=(0,), eval_episodes=1, steady_window=3)
    out = results.training_scalars(m, scale)
    assert out["steady_reward"] == -2.0
    # 3-episode means ending at episodes 2..7: -8, -6, -4.03, -2.7, -2.03, -2; threshold -2 - 0.05 * 2 = -2.1
    assert out["conv_episode"] == 6.0
    assert out["cv_all"] == pytest.approx(reward.std() / abs(reward.mean()))
    assert out["cv_steady"] == 0.0
    assert out["steady_cost"] == 1.0
    wide = results.training_scalars(m, specs.Scale("t", 8, (0,), 1, steady_window=2))
    assert wide["conv_episode"] == 5.0  # (-2.1 - 2.0) / 2 = -2.05 >= -2.1 at episode 5


# ----------------------------------------------------------------------------- specs


def test_spec_expansion_counts_and_sharing():
    tiny = specs.make_scale("tiny", 2)
    exps = {e.name: e for e in specs.build("all", tiny)}
    assert [c.series for c in exps["table3"].cells] == [*specs.LEARNERS, *specs.LEARNERS, "ly-opt", "greedy"]
    assert [c.series for c in exps["fig5"].cells] == list(specs.LEARNERS)
    evaluated = [c.runs[0] for c in exps["table3"].cells[5:]]
    assert all(r.kind == "evaluate" and r.overrides == () for r in evaluated)
    assert [r.source.key for r in evaluated[:5]] == [c.runs[0].key for c in exps["table3"].cells[:5]]
    assert len(exps["fig6"].cells) == 2 * (5 + 3)
    learned = [r for r in exps["fig6"].runs() if r.source is not None]
    assert len(learned) == 2 * 5 * 2 and all(r.source.config.num_cvs == r.config.num_cvs for r in learned)
    # table3 10 + its evaluations 10 (ly-opt and greedy are bandwidth's 20 MHz per-CV runs at this scale)
    # + fig6 train 20 + fig6 eval 32 + fig7 V=50 2 + twin lag/noise 4 + twin contention 4 + bandwidth 16
    assert len(specs.unique_runs(list(exps.values()))) == 98
    contention = [c for c in exps["twin"].cells if c.series.startswith("contention")]
    assert [c.runs[0].config.num_cvs for c in contention] == [8, 8]
    assert [c.runs[0].config.twin.enabled for c in contention] == [True, True]  # Ly-MAPPO switches it off itself
    assert specs.make_scale("quick").seeds == (0, 1) and specs.make_scale("full").seeds == tuple(range(5))
    full = specs.make_scale("full", 1)
    t3 = {r.key for r in specs.convergence(full).runs()}
    f6_sources = {r.source.key for r in specs.fig6(full).runs() if r.source and r.config.num_cvs == 5}
    f7 = {r.key for r in specs.fig7(full).runs() if r.config.lyapunov.v_control == 5}
    assert f6_sources <= t3 and f7 <= t3 and len(f6_sources) == 5
    # Table III's scenario is Fig. 6's at N = 5: its evaluations are Fig. 6's runs there, nothing more to run
    t3_evals = {r.key for r in specs.convergence(full).runs() if r.kind == "evaluate"}
    assert len(t3_evals) == 7 and t3_evals <= {r.key for r in specs.fig6(full).runs()}


def test_keys_follow_the_effective_config():
    a = specs.RunSpec("train", "ly-dtmpo", ("lyapunov.v_control=5",), 0, 10)
    b = specs.RunSpec("train", "ly-dtmpo", (), 0, 10)
    assert a.key == b.key
    assert specs.RunSpec("train", "ly-dtmpo", (), 1, 10).key != b.key
    assert specs.RunSpec("train", "ly-dtmpo", ("num_cvs=3",), 0, 10).key != b.key
    assert specs.RunSpec.from_dict(json.loads(json.dumps(a.to_dict()))).key == a.key
    with pytest.raises(ValueError, match="unknown learner"):
        specs.RunSpec("train", "ppo", (), 0, 10)
    with pytest.raises(ValueError, match="reference policy"):
        specs.RunSpec("evaluate", "ly-dtmpo", (), 0, 10)
    with pytest.raises(ConfigError, match="num_cv"):
        _ = specs.RunSpec("train", "ly-dtmpo", ("num_cv=3",), 0, 10).config
    with pytest.raises(ValueError, match="unknown experiment"):
        specs.build("fig9", specs.make_scale("tiny", 1))


# ----------------------------------------------------------------------------- runner


def _outputs(out: Path) -> dict[str, str]:
    return {
        p.parent.name + "/" + p.name: p.read_text()
        for p in sorted((out / "runs").glob("*/*"))
        if p.name in ("metrics.csv", "summary.json")
    }


def test_runner_caches_resumes_and_isolates_failures(tmp_path):
    scale = specs.make_scale("tiny", 1)
    exps = [specs.convergence(scale), specs.fig6(scale)]
    runs = specs.unique_runs(exps)
    (tmp_path / "FAIL").touch()
    first = runner.execute(runs, tmp_path, workers=1, run_fn=fake_run, progress=False)
    failed_train = [k for k in first.failed if k.startswith("train-ly-matd3")]
    orphans = [k for k in first.failed if k.startswith("evaluate-ly-matd3")]
    assert len(failed_train) == 3 and len(orphans) == 3  # N = 5, 2, 3, and the evaluation of each
    assert "injected failure" in (tmp_path / "runs" / failed_train[0] / rundir.ERROR_FILE).read_text()
    assert len(first.executed) == len(runs) - 6
    (tmp_path / "FAIL").unlink()
    second = runner.execute(runs, tmp_path, workers=1, run_fn=fake_run, progress=False)
    assert sorted(second.executed) == sorted(failed_train + orphans)
    assert len(second.skipped) == len(runs) - 6
    third = runner.execute(runs, tmp_path, workers=1, run_fn=fake_run, progress=False)
    assert third.executed == [] and len(third.skipped) == len(runs)
    assert not list((tmp_path / "runs").glob("*/" + rundir.ERROR_FILE))


def test_bench_adopts_only_intact_runs_of_the_reproduction(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import benchruns

    repro, bench = tmp_path / "repro", tmp_path / "bench"
    spec = specs.RunSpec("train", "ly-dtmpo", (), 0, 6)
    runner.execute([spec], repro, workers=1, run_fn=fake_run, progress=False)
    source = runstore.run_dir(repro, spec)
    record = json.loads((source / rundir.DONE_FILE).read_text())
    stats = benchruns.train("ly-dtmpo", 6, 0, [], bench / "a", repro)
    assert (stats["wall_s"], stats["cpu_s"], stats["rss_gib"]) == (record["wall_time_s"], record["cpu_time_s"], None)
    assert (bench / "a" / "metrics.csv").read_text() == (source / "metrics.csv").read_text()
    assert not (bench / "a" / rundir.LOCK_FILE).exists()
    assert benchruns.train("ly-dtmpo", 6, 0, [], bench / "a", None) == stats  # kept, not trained again
    for seed, sets in ((1, []), (0, ["num_cvs=3"])):  # runs the reproduction does not hold
        assert not benchruns.adopt(repro, "ly-dtmpo", 6, seed, sets, bench / "b")
    with (source / "metrics.csv").open("a") as f:
        f.write("tampered\n")
    assert not benchruns.adopt(repro, "ly-dtmpo", 6, 0, [], bench / "c") and not (bench / "c").exists()


BENCH_HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import benchruns
from pathlib import Path
with benchruns.claim(Path(sys.argv[2])):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _bench_hold(path: Path, seconds: float) -> subprocess.Popen:
    benchmarks = str(Path(__file__).resolve().parents[1] / "benchmarks")
    args = [sys.executable, "-c", BENCH_HOLDER, benchmarks, str(path), str(seconds)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_benchmarks_never_make_one_item_twice_at_once(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import benchruns

    run = tmp_path / "ly-dtmpo-s0"
    run.mkdir()
    (run / "metrics.csv").write_text("episode\n")  # another benchmark's run in the making
    monkeypatch.setattr(benchruns, "WAIT_S", 0.3)
    proc = _bench_hold(run, 60)
    try:
        with pytest.raises(SystemExit, match=f"benchmark output {run} is in use by pid {proc.pid} "):
            benchruns.train("ly-dtmpo", 6, 0, [], run)
    finally:
        proc.kill()
        proc.wait()
    assert (run / "metrics.csv").read_text() == "episode\n"  # neither deleted nor trained into

    # a second benchmark waits for the first's evaluation, then reuses it
    path, inputs = tmp_path / "eval-greedy.json", {"policy": "greedy", "sets": [], "episodes": 1}
    proc = _bench_hold(path, 1.0)
    benchruns._store(path, {"cost": 0.5}, inputs)
    monkeypatch.setattr(benchruns, "WAIT_S", 30.0)
    start = time.monotonic()
    assert benchruns.evaluate("greedy", [], 1, path)["cost"] == 0.5
    assert time.monotonic() - start > 0.3
    proc.wait()

    path.write_text(path.read_text()[:20])  # cut short: counts as absent, never as a crash
    assert benchruns._cached(path, inputs) is None


def test_bench_train_checks_every_override_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_train

    out = tmp_path / "bench"
    for args, culprit in (
        (["--set", "algo.nope=1"], "ly-dtmpo: unknown algorithm key algo.nope"),
        (["--algos", "ly-dtmpo,ly-maddpg", "--set", "algo.clip_eps=0.1"], "ly-maddpg: unknown algorithm key"),
        (["--set", "algo.lr=-1"], "algo.lr: must be > 0"),
        (["--set", "rsu.nope=1"], "unknown config key rsu.nope"),
    ):
        monkeypatch.setattr("sys.argv", ["bench_train.py", "--out", str(out), *args])
        with pytest.raises(SystemExit) as stop:
            bench_train.main()
        assert stop.value.code == 2 and culprit in capsys.readouterr().err
    assert not out.exists()  # nothing was evaluated or trained
    assert bench_train.default_out("default", []) == Path("bench_runs/default")
    named = bench_train.default_out("contention", ["algo.reward=team", "twin.enabled=false"])
    assert named == Path("bench_runs/contention+algo.reward-team+twin.enabled-false")


def test_bench_train_trains_and_evaluates_with_the_overrides(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_train

    out = tmp_path / "bench"
    args = ["--algos", "ly-dtmpo", "--seeds", "1", "--episodes", "2", "--eval-episodes", "1", "--out", str(out)]
    sets = ["--set", "algo.reward=per_cv", "--set", "num_cvs=2"]
    monkeypatch.setattr("sys.argv", ["bench_train.py", *args, *sets])
    bench_train.main()
    printed = capsys.readouterr().out
    assert "--set algo.reward=per_cv --set num_cvs=2" in printed and "ly-dtmpo seed 0: cost" in printed
    assert "reward: per_cv" in (out / "ly-dtmpo-s0" / "algo.yaml").read_text()
    assert "num_cvs: 2" in (out / "ly-dtmpo-s0" / "config.yaml").read_text()
    for name in ("eval-greedy.json", "eval-ly-opt.json", "ly-dtmpo-s0/eval.json"):
        assert json.loads((out / name).read_text())["inputs"]["sets"] == ["num_cvs=2"]  # evaluated on 2 CVs
    monkeypatch.setattr("sys.argv", ["bench_train.py", *args, *sets, "--reference", "ly-opt-dual", "--markdown"])
    bench_train.main()  # the same runs, divided by ly-opt-dual instead
    printed = capsys.readouterr().out
    dual, run = (json.loads((out / n).read_text()) for n in ("eval-ly-opt-dual.json", "ly-dtmpo-s0/eval.json"))
    assert "/ly-opt-dual" in printed and "| algorithm | cost | × `ly-opt-dual` |" in printed
    assert f"{run['cost'] / dual['cost']:.3f}" in printed.split("ly-dtmpo", 2)[-1]


def _real_runs() -> list[specs.RunSpec]:
    """A trained Ly-DTMPO and Ly-MASAC at 2 CVs, the evaluation of Ly-DTMPO, and greedy (tiny budget)."""
    scale = specs.make_scale("tiny", 1)
    cells = [c for c in specs.fig6(scale).cells if c.x == 2 and c.series in ("ly-dtmpo", "greedy")]
    masac = specs.RunSpec("train", "ly-masac", ("lyapunov.alpha=0.6", "num_cvs=2"), 0, scale.episodes)
    return specs.unique_runs([specs.Experiment("t", tuple(cells))]) + [masac]


def _real_outputs(out: Path) -> dict[str, object]:
    """Run outputs without their wall-clock columns."""
    found: dict[str, object] = {}
    for path in sorted((out / "runs").glob("*/metrics.csv")):
        found[path.parent.name] = results.read_metrics(path)
        found[path.parent.name].pop("wall_time_s")
    for path in sorted((out / "runs").glob("*/summary.json")):
        found[path.parent.name] = json.loads(path.read_text())
    return found


def test_process_pool_and_ray_match_inline(tmp_path):
    scale = specs.make_scale("tiny", 2)
    runs = specs.unique_runs([specs.fig7(scale), specs.bandwidth(scale)])
    runner.execute(runs, tmp_path / "inline", workers=1, run_fn=fake_run, progress=False)
    pool = runner.execute(runs, tmp_path / "pool", workers=2, run_fn=fake_run, progress=False)
    assert not pool.failed and len(pool.executed) == len(runs)
    real = _real_runs()
    assert len(real) == 4
    assert not runner.execute(real, tmp_path / "real-local", workers=2, progress=False).failed
    import sys

    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this test file
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        on_ray = runner.execute(runs, tmp_path / "ray", backend="ray", workers=2, run_fn=fake_run, progress=False)
        real_ray = runner.execute(real, tmp_path / "real-ray", backend="ray", workers=2, progress=False)
    finally:
        ray.shutdown()
    assert not on_ray.failed and len(on_ray.executed) == len(runs)
    # Ray workers never touch --out: they work in private directories; the driver writes what they return
    worked = [p.read_text().splitlines() for p in sorted((tmp_path / "ray" / "runs").glob("*/where.txt"))]
    assert len(worked) == len(runs)  # (the real Ly-DTMPO evaluation below gets its checkpoint through Ray too)
    assert not any(str(tmp_path / "ray") in line for pair in worked for line in pair)
    assert all(
        line.startswith(str(tmp_path / "pool"))
        for p in (tmp_path / "pool" / "runs").glob("*/where.txt")
        for line in p.read_text().splitlines()
        if line != "None"
    )
    expected = _outputs(tmp_path / "inline")
    assert _outputs(tmp_path / "pool") == expected and _outputs(tmp_path / "ray") == expected
    assert not real_ray.failed and len(real_ray.executed) == 4
    local, remote = _real_outputs(tmp_path / "real-local"), _real_outputs(tmp_path / "real-ray")
    assert sorted(local) == sorted(remote) and len(local) == 4
    for key, value in local.items():
        if isinstance(value, dict) and "reward" in value and isinstance(value["reward"], np.ndarray):
            for col, arr in value.items():
                np.testing.assert_array_equal(arr, remote[key][col], err_msg=f"{key}:{col}")
        else:
            assert value == remote[key], key


def test_working_wall_time_is_the_union_of_the_run_intervals():
    def record(end: str, wall: float) -> dict:
        return {"finished_at": f"2026-12-01T{end}+0000", "wall_time_s": wall}

    # [10:00:00, 10:00:10] and [10:00:05, 10:00:12] overlap (12 s); [10:00:20, 10:00:25] stands alone (5 s);
    # a resumed invocation a day later adds its 60 s without the pause; an instant run inside a stretch adds 0
    records = [record("10:00:10", 10), record("10:00:12", 7), record("10:00:25", 5), record("10:00:11", 0)]
    records.append({"finished_at": "2026-12-02T10:01:00+0000", "wall_time_s": 60})
    assert timing.working_wall_s(records) == pytest.approx(12 + 5 + 60)
    assert timing.working_wall_s([]) == 0.0


def _timed_record(key, kind, algo, episodes, wall_s, cpu_s, overrides=()):
    spec = {"key": key, "kind": kind, "algo": algo, "episodes": episodes, "overrides": list(overrides)}
    return {"spec": spec, "wall_time_s": wall_s, "cpu_time_s": cpu_s}


def _metrics_clock(out: Path, key: str, seconds: list[float]) -> None:
    path = out / "runs" / key / "metrics.csv"
    path.parent.mkdir(parents=True)
    rows = "".join(f"{i},-1.0,{s}\n" for i, s in enumerate(seconds))
    path.write_text("episode,reward,wall_time_s\n" + rows)


def test_seconds_per_episode_averages_each_kind_of_run(tmp_path):
    records = [
        _timed_record("a", "train", "ly-dtmpo", 10, 20.0, 10.0),
        _timed_record("b", "train", "ly-dtmpo", 20, 20.0, 30.0),
        _timed_record("c", "evaluate", "ly-opt", 4, 2.0, 1.0),
    ]
    times = timing.run_times(tmp_path, records)  # no metrics.csv: the done-markers' clocks
    # per-run rates 2.0 and 1.0 s/episode average to 1.5, not total time / total episodes
    assert timing.seconds_per_episode(times) == {"train/ly-dtmpo": 1.5, "evaluate/ly-opt": 0.5}
    assert timing.seconds_per_episode(times, "cpu_s") == {"train/ly-dtmpo": 1.25, "evaluate/ly-opt": 0.25}


def test_a_resumed_training_run_counts_its_earlier_attempts(tmp_path):
    # run "r" was killed and resumed: its last attempt took 30 s, but its metrics clock (carried over the
    # checkpoint) ends at 100 s; run "f" ran once (45 s, of which 40 s in the training loop)
    _metrics_clock(tmp_path, "r", [10.0, 55.0, 100.0])
    _metrics_clock(tmp_path, "f", [20.0, 40.0])
    records = [
        _timed_record("r", "train", "ly-maddpg", 10, 30.0, 25.0),
        _timed_record("f", "train", "ly-maddpg", 10, 45.0, 44.0),
        _timed_record("o", "train", "ly-maddpg", 10, 7.0, 7.0, overrides=["num_cvs=2"]),
    ]
    times = timing.run_times(tmp_path, records)
    assert [(t["wall_s"], t["resumed"], t["cpu_s"]) for t in times] == [
        (100.0, True, None),
        (45.0, False, 44.0),
        (7.0, False, 7.0),
    ]
    assert timing.seconds_per_episode(times) == {"train/ly-maddpg": pytest.approx((10.0 + 4.5 + 0.7) / 3)}
    # the resumed run's CPU time covers one attempt only: left out of the CPU rates
    assert timing.seconds_per_episode(times, "cpu_s") == {"train/ly-maddpg": pytest.approx((4.4 + 0.7) / 2)}
    # the default scenario's runs only (no overrides): "r" and "f"
    assert timing.training_seconds(times) == {
        "ly-maddpg": {"runs": 2, "resumed": 1, "min": 45.0, "median": 72.5, "max": 100.0}
    }


def test_logged_training_reads_the_last_complete_row(tmp_path):
    assert runstore.logged_training(tmp_path / "none") == (0, 0.0)
    _metrics_clock(tmp_path, "empty", [])
    assert runstore.logged_training(tmp_path / "runs" / "empty") == (0, 0.0)
    _metrics_clock(tmp_path, "cut", [3.0])
    with open(tmp_path / "runs" / "cut" / "metrics.csv", "a") as fh:
        fh.write("1,-2.0")  # a row cut short by a kill: the clock of the row before counts
    assert runstore.logged_training(tmp_path / "runs" / "cut") == (2, 3.0)


def test_real_tiny_reproduction_end_to_end(tmp_path):
    assert cli.main(["reproduce", "all", "--tiny", "--seeds", "1", "--out", str(tmp_path), "--workers", "1"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "not run" not in report and len(list((tmp_path / "figures").glob("*.png"))) == 6
    timing = json.loads((tmp_path / "results" / "timing.json").read_text())
    assert timing["failed"] == 0 and timing["executed"] == len(
        specs.unique_runs(specs.build("all", specs.make_scale("tiny", 1)))
    )
    assert np.isfinite(timing["full_estimate_h"]) and timing["full_estimate_h"] > 0
    assert 0 < timing["working_wall_time_s"] <= timing["wall_time_s"] and "were executing during" in report
    trained = timing["training_seconds"]  # every learner trains on the default scenario (Table III)
    assert sorted(trained) == sorted(specs.LEARNERS) and all(v["runs"] == 1 and v["max"] > 0 for v in trained.values())
    assert "Wall time per training run on the default scenario" in report


# ----------------------------------------------------------------------------- results and report


@pytest.fixture(scope="module")
def tiny_reproduction(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    mp = pytest.MonkeyPatch()
    mp.setattr(runner, "execute_run", fake_run)
    try:
        code = cli.main(["reproduce", "all", "--tiny", "--seeds", "2", "--out", str(out), "--workers", "1"])
    finally:
        mp.undo()
    assert code == 0
    return out


def test_results_are_saved_and_reloadable(tiny_reproduction):
    t3 = results.load(tiny_reproduction, "table3")
    row = next(r for r in t3["scalars"] if r["series"] == "ly-dtmpo" and r["metric"] == "steady_reward")
    assert row["n"] == 2 and row["ci_low"] == min(row["values"]) and row["ci_high"] == max(row["values"])
    fig6 = results.load(tiny_reproduction, "fig6")
    cost = {(r["series"], r["x"]): r["mean"] for r in fig6["scalars"] if r["metric"] == "cost"}
    assert cost[("ly-opt", 2)] == pytest.approx(0.8 * 2 / 5 * 1.025)
    fig5 = results.load(tiny_reproduction, "fig5")
    per_cv = [r["metric"] for r in fig5["curves"] if r["series"] == "ly-dtmpo"]
    assert per_cv == ["local_queue_cycles"] + [f"local_queue_cv{i}" for i in range(5)]
    train = json.loads((tiny_reproduction / "results" / "marl_eval_train.json").read_text())["isac-iov-train"]
    assert set(train["5cv"]) == set(specs.LEARNERS) and set(train["5cv"]["ly-dtmpo"]) == {"run_0", "run_1"}
    run = train["5cv"]["ly-dtmpo"]["run_0"]
    assert run["step_0"]["step_count"] == 30 and len(run["absolute_metrics"]["return"]) == 2
    evaluation = json.loads((tiny_reproduction / "results" / "marl_eval_eval.json").read_text())["isac-iov-evaluate"]
    assert set(evaluation["2cv"]["ly-masac"]["run_1"]["absolute_metrics"]) >= {"return", "cost"}
    timing = json.loads((tiny_reproduction / "results" / "timing.json").read_text())
    assert timing["executed"] == 98 and timing["full_runs"] > 98


@pytest.mark.parametrize("name", list(results.MARL_EVAL_FILES.values()))
def test_marl_eval_exports_have_one_step_count_per_file(tiny_reproduction, name):
    """marl-eval builds its (runs x tasks x steps) matrices with the step and run counts of the first run it
    reads: every run of a file must log the same steps, and every algorithm-task pair hold the same runs."""
    raw = json.loads((tiny_reproduction / "results" / name).read_text())
    ((env, tasks),) = raw.items()
    runs = [r for algos in tasks.values() for seeds in algos.values() for r in seeds.values()]
    assert len(runs) >= 10 and len({tuple(sorted(r)) for r in runs}) == 1
    assert len({tuple(sorted(seeds)) for algos in tasks.values() for seeds in algos.values()}) == 1
    data_processing = pytest.importorskip("marl_eval.utils.data_processing_utils")  # only if installed
    processed = data_processing.data_process_pipeline(raw, metrics_to_normalize=["return"])
    assert "extra" in processed, "marl-eval could not process the export"
    first_task = next(iter(tasks))
    matrices = data_processing.create_matrices_for_rliable(processed, env, ["return"])
    assert matrices[0]["mean_norm_return"][specs.LEARNERS[0]].shape == (2, len(tasks))
    assert first_task in processed["extra"]["environment_list"][env]


def test_report_has_every_item_and_redraws_from_results(tiny_reproduction):
    report = (tiny_reproduction / "report.md").read_text()
    for item in ("Table III", "Fig. 4", "Fig. 5", "Fig. 6", "Fig. 7", "twin fidelity", "bandwidth", "Summary"):
        assert item in report, item
    for name in ("fig4", "fig5", "fig6", "fig7", "twin", "bandwidth"):
        assert f"figures/{name}.png" in report and (tiny_reproduction / "figures" / f"{name}.png").stat().st_size > 1000
    for algo, row in paper.TABLE_III.items():
        assert f"{row['steady_reward']:.3f}" in report and algo in report
    assert "0.781" in report and "not run" not in report
    # the fake ranks Ly-DTMPO first among learners: every ordering claim agrees except "energy falls with N"
    assert "| Table III: highest steady reward | ly-dtmpo | ly-dtmpo | agrees |" in report
    assert "| Fig. 6a: mean cost per CV increases with N for every learner | yes | 5/5" in report
    for png in (tiny_reproduction / "figures").glob("*.png"):
        png.unlink()
    (tiny_reproduction / "report.md").unlink()
    assert cli.main(["report", str(tiny_reproduction)]) == 0
    assert (tiny_reproduction / "report.md").read_text() == report
    assert len(list((tiny_reproduction / "figures").glob("*.png"))) == 6


def test_table3_shows_the_trained_policies_next_to_the_references(tiny_reproduction):
    text = report.readme_table3(tiny_reproduction)
    table = text.split("evaluated on the same scenario")[1].split("\n\n")[1]
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table.splitlines() if line.startswith("| ")}
    # the fake's evaluated cost is its level (ALGO_LEVEL) times one factor common to every policy
    assert rows["ly-opt"][2:4] == ["1.000", f"{0.8 / 1.1:.3f}"]
    assert rows["ly-mappo"][2:4] == [f"{1.3 / 0.8:.3f}", f"{1.3 / 1.1:.3f}"]
    assert rows["ly-dtmpo"][5] == "10 [10, 10] %"  # deadline misses in percent
    assert all(rows[a][1] != "not run" for a in specs.LEARNERS)


def test_results_keep_the_curves_the_specs_declare(tiny_reproduction):
    for exp in specs.build("all", specs.make_scale("tiny", 2)):
        res = results.load(tiny_reproduction, exp.name)
        saved: dict[tuple[str, float | None], list[str]] = {}
        for r in res["curves"]:
            saved.setdefault((r["series"], r["x"]), []).append(r["metric"])
        assert bool(saved) == bool(exp.curves.kept), exp.name
        for cell in (c for c in exp.cells if (c.series, c.x) in saved):
            header = COLUMNS + [f"local_queue_cv{i}" for i in range(cell.runs[0].config.num_cvs)]
            assert saved[cell.series, cell.x] == exp.curve_columns(cell.series, header), (exp.name, cell.series)
        for curve in exp.curves.drawn:
            assert curve in exp.curves.kept and curve.rows(res), (exp.name, curve)
    per_cv = specs.curves_of("fig5").drawn[0].rows(results.load(tiny_reproduction, "fig5"))
    assert [r["metric"] for r in per_cv] == [f"local_queue_cv{i}" for i in range(5)]
    assert {r["series"] for r in per_cv} == {"ly-dtmpo"}


def _report_from(tiny_reproduction: Path, out: Path, drop: tuple[str, ...] = ()) -> str:
    """The report of a copy of the tiny reproduction's results without the ``drop`` experiments."""
    shutil.copytree(tiny_reproduction / results.RESULTS, out / results.RESULTS)
    for name in drop:
        (out / results.RESULTS / f"{name}.json").unlink()
    return write_report(out).read_text()


def test_report_lists_missing_experiments_as_not_run(tiny_reproduction, tmp_path):
    assert [part.experiment for part in report.PARTS] == list(specs.EXPERIMENTS)
    text = _report_from(tiny_reproduction, tmp_path, ("table3", "fig7"))
    assert "## Fig. 7: effect of the Lyapunov parameter V\n\nnot run.\n" in text
    assert "## Table III: convergence stability and speed (5 CVs, 3 RSUs)\n\nnot run.\n" in text
    assert "| Fig. 7b: steady cost rises with V | 0.42 (V=5,10), 0.552 (50), 0.781 (100) | not run | not run |" in text
    assert "| Table III | Ly-DTMPO best steady reward | not run | not run |" in text
    assert text.count("not run.") == 2 and "figures/fig6.png" in text
    assert sorted(p.stem for p in (tmp_path / "figures").glob("*.png")) == ["bandwidth", "fig4", "fig5", "fig6", "twin"]


def _scalar(series: str, metric: str, values: list[float], x: float | None = None) -> dict:
    return {"series": series, "x": x, "metric": metric, "values": values, **stats.summarize(values)}


def test_learners_sharing_the_best_value_are_a_tie_never_a_win():
    metric = "steady_local_queue_cycles"
    same = [2.0e6, 0.0, 1.0e6]
    res = {"scalars": [_scalar(a, metric, same) for a in specs.LEARNERS]}
    assert render.best_verdict(res, metric, "ly-dtmpo", lowest=True) == (" = ".join(specs.LEARNERS), "tie")
    section = figures.fig5_body(res)
    assert "Every learner's local queue is the same, seed by seed" in section.text
    assert section.claims[0][3] == "tie"
    res["scalars"][1] = _scalar("ly-mappo", metric, [1.0e6, 0.0, 1.0e6])  # one learner strictly lower
    assert render.best_verdict(res, metric, "ly-dtmpo", lowest=True)[1] == "differs (CIs overlap)"
    assert "is the same" not in figures.fig5_body(res).text
    res["scalars"][0] = _scalar("ly-dtmpo", metric, [0.0, 0.0, 1.0e6])
    assert render.best_verdict(res, metric, "ly-dtmpo", lowest=True) == ("ly-dtmpo", "agrees")


def test_report_takes_every_paper_number_from_the_paper_module(tiny_reproduction, tmp_path, monkeypatch):
    monkeypatch.setitem(paper.TABLE_III, "ly-dtmpo", {"steady_reward": -1.234, "cv": 0.123, "conv_episode": 999})
    monkeypatch.setattr(paper, "V_COST", {5.0: 0.25, 50.0: 0.25, 100.0: 0.75})
    monkeypatch.setitem(paper.REWARD_GAIN_PCT, "ly-mappo", 12.5)
    monkeypatch.setattr(paper, "COST_REDUCTION_PCT", {"3": {"ly-masac": 7.25}})
    text = _report_from(tiny_reproduction, tmp_path)
    assert "| Table III: Ly-DTMPO CV below Ly-MAPPO and Ly-MADDPG | 0.123 < 0.672, 0.530 |" in text
    assert "| Table III: Ly-DTMPO converges later than Ly-MADDPG and Ly-MASAC | 999 > 185, 278 |" in text
    assert "| Fig. 7b: steady cost rises with V | 0.25 (V=5,50), 0.75 (100) |" in text
    assert "| ly-dtmpo | -1.234 |" in text and "| ly-mappo | 12.5 % |" in text
    assert "| N = 3 | ly-masac | 7.25 % |" in text and "10.57 %" not in text
    assert "| 50 | 0.25 |" in text and "0.411" not in text and "1711" not in text and "0.552" not in text


def test_report_without_results_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "reproduce" in capsys.readouterr().err


def _free_port_outside_rays_defaults() -> int:
    """A free loopback port in 20000-29999: below the kernel's ephemeral range (which Ray's other components draw
    from) and clear of Ray's fixed defaults (client 10001, workers 10002-19999, dashboard agent 52365); an
    OS-chosen port once landed on 52365 and `ray start` refused it."""
    for port in random.Random().sample(range(20000, 30000), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-29999")


def test_ray_cluster_of_two_nodes_matches_the_local_backend(tmp_path, monkeypatch):
    """A real two-node Ray cluster (``ray start --head`` plus a second ``ray start --address``): workers get what
    they need through Ray (an evaluation its trained run's files) and never touch --out; same outputs as local."""
    import ray
    from ray import cloudpickle

    scale = specs.make_scale("tiny", 1)
    cells = [c for c in specs.fig6(scale).cells if c.x == 2 and c.series in ("ly-dtmpo", "greedy")]
    runs = specs.unique_runs([specs.Experiment("t", tuple(cells))])
    assert any(r.source is not None for r in runs)
    runner.execute(runs, tmp_path / "local", workers=1, run_fn=fake_run, progress=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throw-away cluster on the loopback interface
    port = _free_port_outside_rays_defaults()
    common = ["--num-cpus=1", "--disable-usage-stats"]
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    subprocess.run(
        [*ray_cli, "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run([*ray_cli, "start", f"--address=127.0.0.1:{port}", *common], check=True, capture_output=True)
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        ray.init(address=f"127.0.0.1:{port}")
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        report = runner.execute(runs, tmp_path / "cluster", backend="ray", workers=2, run_fn=fake_run, progress=False)
    finally:
        ray.shutdown()
        subprocess.run([*ray_cli, "stop", "--force"], check=True, capture_output=True)
    assert not report.failed and len(report.executed) == len(runs)
    assert _outputs(tmp_path / "cluster") == _outputs(tmp_path / "local")
    worked = [p.read_text() for p in (tmp_path / "cluster" / "runs").glob("*/where.txt")]
    assert len(worked) == len(runs) and not any(str(tmp_path / "cluster") in w for w in worked)
    assert all(runstore.verify(tmp_path / "cluster", r).status == "done" for r in runs)


def test_eta_stands_in_only_rates_of_the_same_kind_of_run(tmp_path):
    eta = runner._Eta(tmp_path)
    train = specs.RunSpec("train", "ly-dtmpo", (), 0, 100)
    lyopt = specs.RunSpec("evaluate", "ly-opt", (), 0, 10)
    greedy = specs.RunSpec("evaluate", "greedy", (), 0, 10)
    eta.add(_timed_record("t", "train", "ly-maddpg", 100, 20.0, 20.0))  # 0.2 s per training episode
    assert eta.seconds(train) == pytest.approx(20.0)  # another learner's training stands in
    assert eta.seconds(lyopt) is None  # no evaluation measured yet: unknown, not a training rate
    assert eta.left_s([train, lyopt], {}, 1) == (pytest.approx(20.0), 1)  # a lower bound, one run untimed
    assert runner.eta_text(eta.left_s([train, lyopt], {}, 1)) == ">0m20s (+1 untimed)"
    eta.add(_timed_record("e", "evaluate", "greedy", 10, 1.0, 1.0))
    assert eta.seconds(lyopt) == pytest.approx(1.0) and eta.seconds(greedy) == pytest.approx(1.0)
    eta.add(_timed_record("o", "evaluate", "ly-opt", 10, 60.0, 60.0))
    assert eta.seconds(lyopt) == pytest.approx(60.0) and eta.left_s([train, lyopt], {}, 2) == (pytest.approx(40.0), 0)
    assert runner.eta_text(eta.left_s([train, lyopt], {}, 2)) == "0m40s"
    assert runner.eta_text((3725.0, 0)) == "1h02m"
