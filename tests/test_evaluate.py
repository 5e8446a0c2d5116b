"""``isac-iov evaluate`` and :func:`evaluate_policy`: keys, reproducibility, aggregates, CLI errors, run dirs."""

import json
import sys
import types

import numpy as np
import pytest

from isac_iov import load_config
from isac_iov.breakdown import miss_breakdown
from isac_iov.cli import main
from isac_iov.evaluate import evaluate_policy, format_summary_table
from isac_iov.policies import REGISTRY, LocalPolicy

TINY = ["--episodes", "2", "--set", "episode_slots=5", "--seed", "0", "--quiet"]
SUMMARY_KEYS = {
    "cost",
    "system_cost",
    "delay_s",
    "energy_j",
    "deadline_miss_rate",
    "instrt_share",
    "offload_share",
    "local_queue_cycles_mean",
    "local_queue_cycles_max",
    "rsu_queue_cycles_mean",
    "rsu_queue_cycles_max",
    "energy_queue_j_mean",
    "energy_queue_j_max",
    "reward",
    "energy_budget_j_per_cv",
    "energy_budget_met",
    "episodes",
    "seed",
    "policy",
    "config_digest",
}
RECORD_KEYS = {
    "episode",
    "slot",
    "cv",
    "delay_s",
    "energy_j",
    "cost",
    "instrt_links",
    "used_links",
    "modes",
    "share_local",
    "local_queue_cycles",
    "energy_queue_j",
    "rsu_queue_cycles",
    "objective",
    "drift_local",
    "drift_rsu",
    "drift_energy",
    "reward",
    "deadline_miss",
}


@pytest.mark.parametrize("name", list(REGISTRY))
def test_cli_evaluates_every_reference_policy(name, tmp_path, capsys):
    out = tmp_path / "sub" / f"{name}.json"
    assert main(["evaluate", "--policy", name, *TINY, "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    summary = data["summary"]
    assert SUMMARY_KEYS <= set(summary) and summary["policy"] == name
    assert summary["energy_budget_met"] == (summary["energy_j"] <= summary["energy_budget_j_per_cv"])
    assert (
        data["summary"]["episodes"] == 2
        and data["summary"]["config_digest"] == load_config(None, ["episode_slots=5"]).digest()
    )
    assert len(data["slots"]) == 2 * 5 * 5 and RECORD_KEYS <= set(data["slots"][0])
    printed = capsys.readouterr().out
    assert "deadline_miss_rate" in printed and "decision time per env-slot" in printed


def test_same_seed_identical_and_different_seed_differs():
    cfg = load_config(None, ["episode_slots=4"])
    runs = [
        evaluate_policy(name, cfg, episodes=3, seed=s, num_envs=2, progress=False)
        for name, s in (("random", 1), ("random", 1), ("random", 2))
    ]
    assert runs[0]["summary"] == runs[1]["summary"] and runs[0]["slots"] == runs[1]["slots"]
    assert runs[0]["summary"]["cost"] != runs[2]["summary"]["cost"]


def test_local_policy_never_offloads():
    s = evaluate_policy(LocalPolicy(), load_config(None, ["episode_slots=6"]), 2, 0, progress=False)["summary"]
    assert s["offload_share"] == 0 and s["instrt_share"] == 0 and s["rsu_queue_cycles_max"] == 0
    # a mean task (3.5 Gcycles) on a 2-3 GHz CPU takes longer than the 1 s deadline
    assert s["deadline_miss_rate"] > 0.5 and s["local_queue_cycles_max"] > 0


def test_summary_equals_aggregates_of_slot_records():
    cfg = load_config(None, ["episode_slots=6", "channel.bandwidth_hz=2e5"])  # scarce band: some InstrT
    res = evaluate_policy("offload", cfg, episodes=3, seed=4, num_envs=2, progress=False)
    s, rec = res["summary"], res["slots"]
    assert len(rec) == 3 * 6 * cfg.num_cvs

    def mean(key):
        return np.mean([r[key] for r in rec])

    for key in ("cost", "delay_s", "energy_j", "reward", "objective"):
        assert s[key] == pytest.approx(mean(key), rel=1e-12)
    assert s["system_cost"] == pytest.approx(mean("system_cost"))
    assert s["system_cost"] == pytest.approx(cfg.num_cvs * s["cost"])  # eq. (25)
    assert s["deadline_miss_rate"] == pytest.approx(mean("deadline_miss"))
    assert s["offload_share"] == pytest.approx(1 - mean("share_local"))
    instrt, used = sum(r["instrt_links"] for r in rec), sum(r["used_links"] for r in rec)
    assert 0 < instrt <= used and s["instrt_share"] == pytest.approx(instrt / used)
    assert s["energy_queue_j_max"] == max(r["energy_queue_j"] for r in rec)
    assert s["local_queue_cycles_mean"] == pytest.approx(mean("local_queue_cycles"))
    assert s["rsu_queue_cycles_mean"] == pytest.approx(np.mean([r["rsu_queue_cycles"] for r in rec]))
    assert s["rsu_queue_cycles_max"] == max(max(r["rsu_queue_cycles"]) for r in rec)
    first = [r for r in rec if r["slot"] == 0]
    assert all(r["local_queue_cycles"] == 0 and r["energy_queue_j"] == 0 for r in first)  # queues start empty
    assert all(r["modes"].count("InstrT") == r["instrt_links"] for r in rec)


def test_lyopt_beats_the_hand_made_policies_in_evaluation():
    cfg = load_config(None, ["episode_slots=5"])
    reward = {
        n: evaluate_policy(n, cfg, 2, 0, record_slots=False, progress=False)["summary"]["reward"] for n in REGISTRY
    }
    assert reward["ly-opt"] > max(reward[n] for n in ("local", "offload", "random", "greedy"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--episodes", "0"], "--episodes"),
        (["--episodes", "-3"], "--episodes"),
        (["--seed", "-1"], "--seed"),
        (["--num-envs", "0"], "--num-envs"),
        (["--policy", "nope"], "ly-opt-dual, ly-opt, greedy, offload, local, random"),
        (["--set", "no_such_key=1"], "no_such_key"),
    ],
)
def test_cli_bad_input_exits_2(args, message, tmp_path, capsys):
    argv = ["evaluate", "--policy", "local", "--episodes", "1", "--out", str(tmp_path / "x.json"), "--quiet"] + args
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_run_directory_uses_its_config_unless_another_is_named(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("num_cvs: 2\nepisode_slots: 7\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("lyapunov:\n  v_control: 9.0\n")
    fake = types.ModuleType("isac_iov.learners")
    fake.load_policy = lambda path, algo=None: LocalPolicy()
    monkeypatch.setitem(sys.modules, "isac_iov.learners", fake)
    out = tmp_path / "o.json"
    assert (
        main(
            [
                "evaluate",
                "--policy",
                str(run),
                "--episodes",
                "1",
                "--set",
                "episode_slots=3",
                "--config",
                str(extra),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    s = json.loads(out.read_text())["summary"]  # --config replaces the run's scenario; --set applies on top
    expect = load_config(None, ["episode_slots=3", "lyapunov.v_control=9.0"])
    assert s["num_cvs"] == 5 and s["episode_slots"] == 3 and s["config_digest"] == expect.digest()
    assert main(["evaluate", "--policy", str(run), "--episodes", "1", "--out", str(out), "--quiet"]) == 0
    s = json.loads(out.read_text())["summary"]  # without --config: the run's own scenario
    assert s["num_cvs"] == 2 and s["episode_slots"] == 7


def test_format_summary_table():
    rows = {"local": {"cost": 1.23456, "delay_s": 1.5}, "ly-opt-long-name": {"cost": 0.5, "reward": -3.0}}
    text = format_summary_table(rows)
    lines = text.splitlines()
    assert lines[0].startswith("policy") and "cost" in lines[0] and "delay_s" in lines[0]
    assert lines[2].startswith("local ") and "1.2346" in lines[2] and "-" in lines[2]
    assert lines[3].startswith("ly-opt-long-name") and "-3.000" in lines[3]
    assert len({len(line) for line in lines}) == 1  # aligned columns


@pytest.mark.parametrize(
    "target, fragment",
    [
        ("DIR", "is a directory, expected a file name"),
        ("/proc/x", "cannot write there"),
        ("/proc/nope/x.json", "cannot write there"),
    ],
)
def test_unwritable_out_fails_before_the_work_and_leaves_no_tmp(tmp_path, monkeypatch, target, fragment, error_line):
    import isac_iov.commands.evaluate as ev

    monkeypatch.setattr(ev, "evaluate_policy", lambda *a, **k: pytest.fail("the work started"))
    out = target.replace("DIR", str(tmp_path))
    assert main(["evaluate", "--policy", "local", *TINY, "--out", out]) == 2
    line = error_line("evaluate", quiet=True)
    assert f"--out '{out}'" in line and fragment in line
    assert list(tmp_path.iterdir()) == []


def test_failure_during_the_work_leaves_no_tmp(tmp_path, monkeypatch, error_line):
    import isac_iov.commands.evaluate as ev

    def boom(*args, **kwargs):
        assert (tmp_path / "o.json.tmp").exists()  # opened before the work
        raise ValueError("policy broke")

    monkeypatch.setattr(ev, "evaluate_policy", boom)
    assert main(["evaluate", "--policy", "local", *TINY, "--out", str(tmp_path / "o.json")]) == 2
    assert "policy broke" in error_line("evaluate") and list(tmp_path.iterdir()) == []


def test_non_finite_summary_is_an_error_naming_the_field(tmp_path, monkeypatch, error_line):
    import isac_iov.commands.evaluate as ev

    real = ev.evaluate_policy

    def with_nan(*args, **kwargs):
        result = real(*args, **kwargs)
        result["summary"]["energy_j"] = float("-inf")
        return result

    monkeypatch.setattr(ev, "evaluate_policy", with_nan)
    assert main(["evaluate", "--policy", "local", *TINY, "--out", str(tmp_path / "o.json")]) == 2
    assert "--out: summary.energy_j is not finite; nothing written" in error_line("evaluate")
    assert list(tmp_path.iterdir()) == []


def test_json_never_holds_nan():
    from isac_iov.evaluate import to_json

    assert json.loads(to_json({"summary": {"cost": 1.0}, "slots": [{"delay_s": 2.0}]}))["summary"]["cost"] == 1.0
    with pytest.raises(ValueError, match=r"slots\[1\].delay_s is not finite"):
        to_json({"summary": {"cost": 1.0}, "slots": [{"delay_s": 2.0}, {"delay_s": float("nan")}]})


def test_too_large_to_fit_is_refused_fast_with_the_estimate(error_line):
    import time

    start = time.perf_counter()
    assert main(["evaluate", "--policy", "greedy", "--set", "num_cvs=1000000", "--quiet"]) == 2
    line = error_line("evaluate")
    assert time.perf_counter() - start < 10
    assert "num_cvs=1000000" in line and "TiB of memory (estimated), more than the" in line and "available" in line
    assert main(["evaluate", "--policy", "local", "--episodes", "9" * 30, "--quiet"]) == 2
    assert "--episodes" in error_line("evaluate")


def test_memory_estimate_bounds_the_measured_peak():
    """The estimate is an upper bound of tracemalloc's peak, and not a loose one."""
    import tracemalloc

    from isac_iov.evaluate import memory_bytes
    from isac_iov.policies import make_policy

    for sets, policy, record in (
        (["num_cvs=40", "episode_slots=4"], "local", True),
        (["num_cvs=5", "episode_slots=30"], "random", True),
        (["num_cvs=8", "episode_slots=1"], "ly-opt", False),
    ):
        cfg = load_config(None, sets)
        pol = make_policy(policy, cfg, 0)
        tracemalloc.start()
        res = evaluate_policy(pol, cfg, 4, 0, record_slots=record, progress=False)
        json.dumps(res, indent=1)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        estimate = memory_bytes(pol, cfg, 4, 4, record)
        assert peak <= estimate <= 4 * peak, (sets, policy, peak, estimate)


def test_memory_check_uses_what_is_available(monkeypatch, error_line):
    from isac_iov.env import core

    monkeypatch.setattr(core, "available_memory_bytes", lambda: 10_000)
    assert main(["evaluate", "--policy", "local", *TINY]) == 2
    assert "more than the 9.8 KiB available" in error_line("evaluate")
    assert core.format_bytes(3 * 1024**4) == "3.0 TiB"


def test_available_memory_is_read_from_the_machine():
    from isac_iov.env.core import available_memory_bytes

    assert 2**20 < available_memory_bytes() < 2**50


def test_run_directory_with_a_bad_config_names_the_file(tmp_path, error_line):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("num_cvs: 2\nnum_cvs: 3\n")
    assert main(["evaluate", "--policy", str(run), *TINY]) == 2
    line = error_line("evaluate")
    assert f"config file '{run / 'config.yaml'}'" in line and "duplicate key 'num_cvs'" in line


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--episodes", "x"], "argument --episodes: invalid int value: 'x'"),
        (["--seed", str(2**63)], "--seed: must be an integer in [0, 2**63 - 1], got <19-digit integer>"[:40]),
        (["--seed", "9" * 400], "--seed: must be an integer in [0, 2**63 - 1], got <400-digit integer>"),
        (["--policy", ""], "--policy: empty"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_option_errors_are_one_line(args, fragment, error_line):
    assert main(["evaluate", "--policy", "local", *TINY, *args]) == 2
    assert fragment in error_line("evaluate")


DRIFTS = ("drift_local", "drift_rsu", "drift_energy")


def _arrays(mode, miss, local, cost, backlog, given, left, system_cost, drifts):
    return {
        "mode": np.array(mode),
        "deadline_miss": np.array(miss, dtype=bool),
        "share_local": np.array(local, dtype=float),
        "cost": np.array(cost, dtype=float),
        "rsu_queue_cycles": np.array(backlog, dtype=float),
        "rsu_given_hz": np.array(given, dtype=float),
        "rsu_backlog_arrivals": np.array(left, dtype=float),
        "system_cost": np.array(system_cost, dtype=float),
        **{name: np.array(d, dtype=float) for name, d in zip(DRIFTS, drifts, strict=True)},
    }


def test_breakdown_matches_hand_counts():
    # one episode of 3 slots, 2 CVs, 2 RSUs; mode 0 = unused, 1 = DataT, 2 = InstrT
    arr = _arrays(
        mode=[[[[1, 1], [0, 1]], [[0, 0], [0, 2]], [[1, 0], [1, 0]]]],
        miss=[[[1, 0], [0, 1], [1, 1]]],
        local=[[[0.0, 0.2], [1.0, 0.5], [0.4, 0.0]]],
        cost=[[[0.6, 0.2], [0.3, 0.5], [0.9, 0.7]]],
        backlog=[[[2e9, 0.0], [0.0, 4e9], [6e9, 2e9]]],
        given=[[[10.0, 5.0], [3.0, 10.0], [10.0, 0.0]]],  # Hz of 10 available
        left=[[[1e9, 0.0], [0.0, 2e9], [3e9, 0.0]]],
        system_cost=[[1.0, 2.0, 3.0]],
        drifts=([[0.0, 0.3, 0.0]], [[1.0, -1.0, 3.0]], [[-0.6, 0.0, 0.0]]),
    )
    b = miss_breakdown(arr, available_hz=10.0, v_control=2.0)
    assert b["cv_slots"] == 6 and b["miss_rate"] == pytest.approx(4 / 6)
    by_used = {g["group"]: g for g in b["by_rsus_used"]}
    # CV-slots using 0 RSUs: (slot 1, CV 0); 1 RSU: (0,1), (1,1), (2,0), (2,1); 2 RSUs: (0,0)
    assert by_used["0"] == {"group": "0", "cv_slot_share": 1 / 6, "miss_rate": 0.0, "cost": 0.3, "local_share": 1.0}
    assert by_used["1"]["cv_slot_share"] == pytest.approx(4 / 6) and by_used["1"]["miss_rate"] == pytest.approx(3 / 4)
    assert by_used["1"]["cost"] == pytest.approx((0.2 + 0.5 + 0.9 + 0.7) / 4)
    assert by_used["2"]["miss_rate"] == 1.0 and by_used["2"]["local_share"] == 0.0
    # busiest RSU used: slot 0 RSU 1 has 2 users, RSU 0 one; slot 1 RSU 1 one; slot 2 RSU 0 two
    crowd = {g["group"]: g for g in b["by_crowding"]}
    assert set(crowd) == {"local", "1", "2-3"}
    assert crowd["2-3"]["cv_slot_share"] == pytest.approx(4 / 6) and crowd["2-3"]["miss_rate"] == pytest.approx(3 / 4)
    assert crowd["1"]["miss_rate"] == 1.0 and crowd["local"]["miss_rate"] == 0.0
    parts = [g["miss_rate"] for g in b["by_episode_part"]]
    assert parts == [0.5, 0.5, 1.0]
    # RSU 0 users: (0,0) miss, (2,0) miss, (2,1) miss; RSU 1 users: (0,0) miss, (0,1), (1,1) miss
    assert b["rsus"] == [
        {"rsu": 0, "cv_slots": 3, "miss_rate": 1.0, "backlog_cycles": pytest.approx(8e9 / 3), "users": 1.0},
        {"rsu": 1, "cv_slots": 3, "miss_rate": pytest.approx(2 / 3), "backlog_cycles": 2e9, "users": 1.0},
    ]
    assert b["cvs"] == [
        {"cv": 0, "miss_rate": pytest.approx(2 / 3), "share_of_misses": 0.5},
        {"cv": 1, "miss_rate": pytest.approx(2 / 3), "share_of_misses": 0.5},
    ]
    assert b["local"] == {
        "mean_share": pytest.approx(2.1 / 6),
        "cv_slots_running_locally": pytest.approx(4 / 6),
        "share_among_them": pytest.approx(2.1 / 4),
    }
    # RSU-slots with parts: slot 0 both RSUs (10 and 5 of 10 Hz given), slot 1 RSU 1 (10), slot 2 RSU 0 (10);
    # slot 1's 3 Hz at RSU 0, which no CV used, does not count
    assert b["rsu_cpu"] == {
        "rsu_slots_with_parts": pytest.approx(4 / 6),
        "fully_booked": 0.75,
        "given_fraction": pytest.approx(3.5 / 4),
        "left_to_queues_cycles_per_slot": pytest.approx(2e9),
    }
    assert b["objective"] == pytest.approx({"v_cost": 4.0, "drift_local": 0.1, "drift_rsu": 1.0, "drift_energy": -0.2})


def test_cli_breakdown_adds_up_to_the_summary(tmp_path, capsys):
    out = tmp_path / "e.json"
    args = ["evaluate", "--policy", "greedy", "--set", "num_cvs=8", "--set", "rsu.cpu_max_hz=12e9"]
    assert main([*args, *TINY, "--no-slots", "--breakdown", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    b, s = data["breakdown"], data["summary"]
    assert b["miss_rate"] == pytest.approx(s["deadline_miss_rate"]) and s["deadline_miss_rate"] > 0
    assert sum(b["objective"].values()) == pytest.approx(s["objective"])
    assert 0 < b["rsu_cpu"]["given_fraction"] <= 1 and 0 <= b["rsu_cpu"]["fully_booked"] <= 1
    assert b["local"]["mean_share"] == pytest.approx(1 - s["offload_share"])
    for key in ("by_rsus_used", "by_crowding", "by_episode_part"):
        groups = b[key]
        assert sum(g["cv_slot_share"] for g in groups) == pytest.approx(1.0)
        assert sum(g["cv_slot_share"] * g["miss_rate"] for g in groups) == pytest.approx(s["deadline_miss_rate"])
        assert sum(g["cv_slot_share"] * g["cost"] for g in groups) == pytest.approx(s["cost"])
    assert 0 < sum(r["share_of_misses"] for r in b["cvs"]) <= 1 + 1e-12
    assert all(0 <= r["rsu"] < 3 for r in b["rsus"])
    printed = capsys.readouterr().out
    titles = ("where the misses are", "by part of the episode", "CVs that missed most", "RSU CPU:", "objective per")
    assert all(title in printed for title in titles)
