"""``isac-iov evaluate`` and :func:`evaluate_policy`: keys, reproducibility, aggregates, CLI errors, run dirs."""
import json
import sys
import types

import numpy as np
import pytest

from isac_iov import load_config
from isac_iov.cli import main
from isac_iov.evaluate import evaluate_policy, format_summary_table
from isac_iov.policies import REGISTRY, LocalPolicy

TINY = ["--episodes", "2", "--set", "episode_slots=5", "--seed", "0", "--quiet"]
SUMMARY_KEYS = {
    "cost", "system_cost", "delay_s", "energy_j", "deadline_miss_rate", "instrt_share", "offload_share",
    "local_queue_cycles_mean", "local_queue_cycles_max", "rsu_queue_cycles_mean", "rsu_queue_cycles_max",
    "energy_queue_j_mean", "energy_queue_j_max", "reward", "energy_j_per_cv_slot", "energy_budget_j_per_cv",
    "episodes", "seed", "policy", "config_digest",
}
RECORD_KEYS = {
    "episode", "slot", "cv", "delay_s", "energy_j", "cost", "instrt_links", "used_links", "modes", "share_local",
    "local_queue_cycles", "energy_queue_j", "rsu_queue_cycles", "objective", "drift_local", "drift_rsu",
    "drift_energy", "reward", "deadline_miss",
}


@pytest.mark.parametrize("name", list(REGISTRY))
def test_cli_evaluates_every_reference_policy(name, tmp_path, capsys):
    out = tmp_path / "sub" / f"{name}.json"
    assert main(["evaluate", "--policy", name, *TINY, "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert SUMMARY_KEYS <= set(data["summary"]) and data["summary"]["policy"] == name
    assert data["summary"]["episodes"] == 2 and data["summary"]["config_digest"] == \
        load_config(None, ["episode_slots=5"]).digest()
    assert len(data["slots"]) == 2 * 5 * 5 and RECORD_KEYS <= set(data["slots"][0])
    printed = capsys.readouterr().out
    assert "deadline_miss_rate" in printed and "decision time per env-slot" in printed


def test_same_seed_identical_and_different_seed_differs():
    cfg = load_config(None, ["episode_slots=4"])
    runs = [evaluate_policy(name, cfg, episodes=3, seed=s, num_envs=2, progress=False)
            for name, s in (("random", 1), ("random", 1), ("random", 2))]
    assert runs[0]["summary"] == runs[1]["summary"] and runs[0]["slots"] == runs[1]["slots"]
    assert runs[0]["summary"]["cost"] != runs[2]["summary"]["cost"]


def test_local_policy_never_offloads():
    s = evaluate_policy(LocalPolicy(), load_config(None, ["episode_slots=6"]), 2, 0, progress=False)["summary"]
    assert s["offload_share"] == 0 and s["instrt_share"] == 0 and s["rsu_queue_cycles_max"] == 0
    # a mean task (3.5 Gcycles) on a 2-3 GHz CPU takes longer than the 1 s deadline
    assert s["deadline_miss_rate"] > 0.5 and s["local_queue_cycles_max"] > 0


def test_summary_equals_aggregates_of_slot_records():
    cfg = load_config(None, ["episode_slots=6", "channel.bandwidth_hz=2e5"])   # scarce band: some InstrT
    res = evaluate_policy("offload", cfg, episodes=3, seed=4, num_envs=2, progress=False)
    s, rec = res["summary"], res["slots"]
    assert len(rec) == 3 * 6 * cfg.num_cvs

    def mean(key):
        return np.mean([r[key] for r in rec])
    for key in ("cost", "delay_s", "energy_j", "reward", "objective"):
        assert s[key] == pytest.approx(mean(key), rel=1e-12)
    assert s["system_cost"] == pytest.approx(mean("system_cost"))
    assert s["system_cost"] == pytest.approx(cfg.num_cvs * s["cost"])                     # eq. (25)
    assert s["deadline_miss_rate"] == pytest.approx(mean("deadline_miss"))
    assert s["offload_share"] == pytest.approx(1 - mean("share_local"))
    instrt, used = sum(r["instrt_links"] for r in rec), sum(r["used_links"] for r in rec)
    assert 0 < instrt <= used and s["instrt_share"] == pytest.approx(instrt / used)
    assert s["energy_queue_j_max"] == max(r["energy_queue_j"] for r in rec)
    assert s["local_queue_cycles_mean"] == pytest.approx(mean("local_queue_cycles"))
    assert s["rsu_queue_cycles_mean"] == pytest.approx(np.mean([r["rsu_queue_cycles"] for r in rec]))
    assert s["rsu_queue_cycles_max"] == max(max(r["rsu_queue_cycles"]) for r in rec)
    first = [r for r in rec if r["slot"] == 0]
    assert all(r["local_queue_cycles"] == 0 and r["energy_queue_j"] == 0 for r in first)   # queues start empty
    assert all(r["modes"].count("InstrT") == r["instrt_links"] for r in rec)


def test_lyopt_beats_the_hand_made_policies_in_evaluation():
    cfg = load_config(None, ["episode_slots=5"])
    reward = {n: evaluate_policy(n, cfg, 2, 0, record_slots=False, progress=False)["summary"]["reward"]
              for n in REGISTRY}
    assert reward["ly-opt"] > max(reward[n] for n in ("local", "offload", "random", "greedy"))


@pytest.mark.parametrize("args, message", [
    (["--episodes", "0"], "--episodes"),
    (["--episodes", "-3"], "--episodes"),
    (["--seed", "-1"], "--seed"),
    (["--num-envs", "0"], "--num-envs"),
    (["--policy", "nope"], "local, offload, random, greedy, ly-opt"),
    (["--set", "no_such_key=1"], "no_such_key"),
])
def test_cli_bad_input_exits_2(args, message, tmp_path, capsys):
    argv = ["evaluate", "--policy", "local", "--episodes", "1", "--out", str(tmp_path / "x.json"), "--quiet"] + args
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_run_directory_uses_its_config(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("num_cvs: 2\nepisode_slots: 7\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("lyapunov:\n  v_control: 9.0\n")
    fake = types.ModuleType("isac_iov.learners")
    fake.load_policy = lambda path: LocalPolicy()
    monkeypatch.setitem(sys.modules, "isac_iov.learners", fake)
    out = tmp_path / "o.json"
    assert main(["evaluate", "--policy", str(run), "--episodes", "1", "--set", "episode_slots=3",
                 "--config", str(extra), "--out", str(out), "--quiet"]) == 0
    s = json.loads(out.read_text())["summary"]
    expect = load_config(None, ["num_cvs=2", "episode_slots=3", "lyapunov.v_control=9.0"])
    assert s["num_cvs"] == 2 and s["episode_slots"] == 3 and s["config_digest"] == expect.digest()


def test_format_summary_table():
    rows = {"local": {"cost": 1.23456, "delay_s": 1.5}, "ly-opt-long-name": {"cost": 0.5, "reward": -3.0}}
    text = format_summary_table(rows)
    lines = text.splitlines()
    assert lines[0].startswith("policy") and "cost" in lines[0] and "delay_s" in lines[0]
    assert lines[2].startswith("local ") and "1.2346" in lines[2] and "-" in lines[2]
    assert lines[3].startswith("ly-opt-long-name") and "-3.000" in lines[3]
    assert len({len(line) for line in lines}) == 1          # aligned columns
