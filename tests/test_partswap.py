"""``isac-iov evaluate --part-swap REF`` (:mod:`isac_iov.partswap`): which parts are swapped, and that each row
is scored on the reference's own states."""

import json

import numpy as np
import pytest

from isac_iov import load_config
from isac_iov.actions import layout
from isac_iov.cli import main
from isac_iov.evaluate import evaluate_policy
from isac_iov.partswap import ROWS, _variants, part_swap
from isac_iov.policies import GreedyPolicy, make_policy

SCARCE = ["num_cvs=6", "rsu.cpu_max_hz=8e9", "episode_slots=6"]  # greedy misses deadlines here


def test_each_variant_takes_exactly_the_named_parts_of_the_policy():
    k = 2  # layout: local [0], task [1, 2], bandwidth [3, 4], cpu [5, 6]
    ref, pol = np.zeros((1, 1, 1 + 3 * k)), np.ones((1, 1, 1 + 3 * k))
    taken = {name: np.flatnonzero(a[0, 0]).tolist() for name, a in _variants(ref, pol, k).items()}
    assert taken == {
        "reference": [],
        "policy": [0, 1, 2, 3, 4, 5, 6],
        "local": [0],
        "task": [1, 2],
        "bandwidth": [3, 4],
        "cpu": [5, 6],
        "task+cpu": [1, 2, 5, 6],
    }
    assert list(taken) == list(ROWS) and not ref.any()  # the reference's action is not written to


class _GreedyWithHalfCpu(GreedyPolicy):
    """Greedy's action with every CPU request set to one half: it differs from greedy in the CPU part only."""

    def act(self, env, obs):
        a = super().act(env, obs)
        a[..., layout(env.scn.num_rsus).cpu] = 0.5
        return a


def test_rows_differ_only_where_the_policy_differs_and_the_reference_row_is_its_own_evaluation():
    cfg = load_config(None, SCARCE)
    rows = {r["action"]: r for r in part_swap(_GreedyWithHalfCpu(), GreedyPolicy(), cfg, 3, 4, 2, progress=False)}
    own = evaluate_policy("greedy", cfg, 3, 4, num_envs=2, record_slots=False, progress=False)["summary"]
    ref = rows["reference"]
    assert ref["objective"] == pytest.approx(-own["reward"]) and ref["vs_reference"] == 0.0
    assert ref["deadline_miss_rate"] == pytest.approx(own["deadline_miss_rate"]) and own["deadline_miss_rate"] > 0
    for name in ("local", "task", "bandwidth"):  # greedy's own parts: the reference's numbers exactly
        assert {k: v for k, v in rows[name].items() if k != "action"} == {k: v for k, v in ref.items() if k != "action"}
    for name in ("cpu", "task+cpu"):  # the one part that differs carries the whole difference
        assert rows[name]["objective"] == pytest.approx(rows["policy"]["objective"], rel=1e-12)
    assert rows["policy"]["vs_reference"] != 0.0
    assert all(r["rsu_backlog_gcycles_per_slot"] >= 0 for r in rows.values())


def test_cli_part_swap_prints_the_table_and_writes_it(tmp_path, capsys):
    out = tmp_path / "e.json"
    argv = ["evaluate", "--policy", "greedy", "--part-swap", "ly-opt-dual", "--episodes", "2", "--seed", "1"]
    assert main([*argv, "--quiet", "--no-slots", "--out", str(out), *[a for s in SCARCE for a in ("--set", s)]]) == 0
    swap = json.loads(out.read_text())["part_swap"]
    assert swap["reference"] == "ly-opt-dual" and [r["action"] for r in swap["rows"]] == list(ROWS)
    rows = {r["action"]: r for r in swap["rows"]}
    cfg = load_config(None, SCARCE)
    lod = evaluate_policy(make_policy("ly-opt-dual", cfg, 1), cfg, 2, 1, record_slots=False, progress=False)
    assert rows["reference"]["objective"] == pytest.approx(-lod["summary"]["reward"])
    assert rows["policy"]["vs_reference"] > 0  # greedy is worse than the optimiser on the optimiser's states
    assert "part swap on ly-opt-dual's states" in capsys.readouterr().out


def test_an_unknown_reference_is_one_line_naming_the_option(tmp_path, error_line):
    out = tmp_path / "e.json"
    assert main(["evaluate", "--policy", "greedy", "--part-swap", "nope", "--episodes", "1", "--out", str(out)]) == 2
    line = error_line("evaluate")
    assert "--part-swap: policy 'nope'" in line and "ly-opt-dual" in line
    assert not out.exists() and not out.with_name("e.json.tmp").exists()


def test_a_reference_too_large_for_memory_is_refused_before_any_work(tmp_path, monkeypatch, error_line):
    from isac_iov.env import core

    monkeypatch.setattr(core, "available_memory_bytes", lambda: 10_000)
    out = tmp_path / "e.json"
    assert main(["evaluate", "--policy", "greedy", "--part-swap", "ly-opt-dual", "--out", str(out), "--quiet"]) == 2
    line = error_line("evaluate")
    assert "--part-swap ly-opt-dual: playing 20 episode(s)" in line and "more than the 9.8 KiB available" in line
    assert not out.exists()
