"""Imitation with the teacher in the loop (``isac-iov train --imitate NAME``, :mod:`isac_iov.learners.imitate`):
the actor comes close to its teacher, the aggregate keeps the actor's own states, runs resume exactly, and bad
requests are refused before anything is written."""

from __future__ import annotations

import csv

import numpy as np

from isac_iov import checkpoint
from isac_iov.cli import main
from isac_iov.config import load_config
from isac_iov.evaluate import evaluate_policy
from isac_iov.learners import imitate, load_policy
from isac_iov.learners.train import train_run

TINY = ["num_cvs=3", "episode_slots=6"]
ALGO = {"num_envs": 2, "hidden": 16, "actor": "link"}


def _costs(path):
    with open(path) as f:
        return [float(r["cost"]) for r in csv.DictReader(f)]


def test_the_actor_learns_to_act_like_its_teacher(tmp_path, monkeypatch):
    monkeypatch.setattr(imitate, "FIT_STEPS", 100)
    cfg = load_config(None, TINY)
    run = train_run("ly-dtmpo", cfg, 16, 0, tmp_path / "run", algo_overrides=ALGO, progress=False, imitate="greedy")
    cost = evaluate_policy(load_policy(run), cfg, 8, 5, progress=False)["summary"]["cost"]
    greedy = evaluate_policy("greedy", cfg, 8, 5, progress=False)["summary"]["cost"]
    start = train_run("ly-dtmpo", cfg, 1, 0, tmp_path / "start", algo_overrides={**ALGO, "lr": 1e-9}, progress=False)
    untrained = evaluate_policy(load_policy(start), cfg, 8, 5, progress=False)["summary"]["cost"]
    assert cost < 1.05 * greedy < untrained, (cost, greedy, untrained)
    state = checkpoint.loads((run / "checkpoint.safetensors").read_bytes(), "run")
    obs, labels = state["imitation"]["data"][0]
    assert obs.shape[0] == labels.shape[0] == 16 * 6  # 16 episodes of 6 slots, under the 32-episode memory
    assert state["imitation"]["iterations"] == 8
    costs = _costs(run / "metrics.csv")
    assert np.isfinite(costs).all() and len(costs) == 16


def test_an_imitation_run_on_a_mixture_resumes_exactly(tmp_path, monkeypatch, stopped_after):
    monkeypatch.setattr(imitate, "FIT_STEPS", 20)
    cfgs = [load_config(None, TINY), load_config(None, ["num_cvs=4", "episode_slots=5", "rsu.x_m=[0, 300]"])]
    kwargs = {"algo_overrides": {**ALGO, "num_envs": 1}, "progress": False, "checkpoint_every": 2, "imitate": "greedy"}
    clean = train_run("ly-masac", cfgs, 6, 2, tmp_path / "clean", **kwargs)
    with stopped_after(4):
        train_run("ly-masac", cfgs, 6, 2, tmp_path / "killed", **kwargs)
    train_run("ly-masac", cfgs, 6, 2, tmp_path / "killed", resume=True, **kwargs)
    assert _costs(tmp_path / "killed" / "metrics.csv") == _costs(clean / "metrics.csv")


def test_imitation_requests_that_cannot_work_are_refused(tmp_path, error_line):
    out = tmp_path / "run"
    assert main(["train", "--algo", "ly-dtmpo", "--imitate", "oracle", "--out", str(out)]) == 2
    assert "--imitate: unknown reference policy 'oracle'" in error_line("train")
    assert main(["train", "--algo", "ly-dtmpo", "--imitate", "greedy", "--init", "greedy", "--out", str(out)]) == 2
    assert "--init and --imitate: give one" in error_line("train")
    assert not out.exists()
