"""Learners: batched networks, short runs of every algorithm, exact resume after SIGKILL, trained policies,
real learning, the DT-absent mode and input errors."""

import csv
import os
import re
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
import yaml

from isac_iov import checkpoint
from isac_iov.actions import layout
from isac_iov.cli import main as cli_main
from isac_iov.config import ConfigError, load_config
from isac_iov.env.core import BatchedEnv, dims
from isac_iov.env.rollout import rollout
from isac_iov.learners import REGISTRY, OtherCodeWarning, TrainedPolicy, common, effective_config, load_policy
from isac_iov.learners.common import EnvSpec, algo_rules, make_algo_config
from isac_iov.learners.mappo import MAPPO, MappoConfig
from isac_iov.learners.networks import AgentMLP
from isac_iov.learners.offpolicy_critics import joint_with_own
from isac_iov.learners.train import train_run

torch.set_num_threads(1)  # the direct learner drives below; train_run fixes its own thread count

TINY = ["num_cvs=3", "episode_slots=5"]
TINY_ALGO = {"num_envs": 2, "hidden": 16, "batch_size": 16, "warmup_episodes": 2, "buffer_episodes": 8}


def _set_trained_by(run, fingerprint):
    """Rewrite the code fingerprint that ``run``'s algo.yaml records."""
    meta = yaml.safe_load((run / "algo.yaml").read_text())
    meta["code"]["fingerprint"] = fingerprint
    (run / "algo.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))


def _algo_overrides(algo, extra=None):
    known = {f for f in make_algo_config(REGISTRY[algo].config, {}).to_dict()}
    return {k: v for k, v in {**TINY_ALGO, **(extra or {})}.items() if k in known}


def _stored_learner(algo, cfg, extra=None):
    """An off-policy learner (tiny settings + ``extra``) that has stored one iteration of episodes and not
    updated yet (its warm-up never ends)."""
    torch.manual_seed(0)
    overrides = _algo_overrides(algo, {**(extra or {}), "warmup_episodes": 10**6})
    learner = REGISTRY[algo].learner(EnvSpec.from_config(cfg), make_algo_config(REGISTRY[algo].config, overrides))
    env = BatchedEnv(cfg, learner.num_envs, seed=0)
    for t, step in enumerate(rollout(env, learner.explore)):
        learner.record(step, t)
    learner.end_iteration(learner.num_envs)
    return learner


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _mean_cost(cfg, act, seed=123, envs=32):
    env = BatchedEnv(cfg, envs, seed=seed)
    obs, _ = env.reset()
    costs = []
    for _ in range(cfg.episode_slots):
        step = env.step(act(env, obs))
        obs = step.obs
        costs.append(step.outcome.cost.mean())
    return float(np.mean(costs))


# -- building blocks ------------------------------------------------------------------------------
def test_agent_mlp_matches_independent_per_agent_networks():
    torch.manual_seed(0)
    net = AgentMLP(3, 4, 2, hidden=5)
    x = torch.randn(7, 3, 4)
    y = net(x)
    for i in range(3):
        h = x[:, i]
        for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            h = h @ w[i] + b[i, 0]
            h = torch.relu(h) if layer < 2 else h
        assert torch.allclose(y[:, i], h, atol=1e-6)
    shared = AgentMLP(3, 4, 2, hidden=5, shared=True)
    x_same = x[:, :1].expand(7, 3, 4)
    out = shared(x_same)
    assert not torch.allclose(out[:, 0], out[:, 1])  # the agent id tells identical inputs apart


def test_shared_agent_mlp_is_one_network_applied_to_each_agents_input_and_id():
    torch.manual_seed(1)
    net = AgentMLP(3, 4, 2, hidden=5, shared=True)
    x = torch.randn(2, 6, 3, 4)  # two leading axes
    y = net(x)
    assert y.shape == (2, 6, 3, 2)
    for i in range(3):
        h = torch.cat([x[:, :, i], torch.eye(3)[i].expand(2, 6, 3)], dim=-1)
        for layer, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            h = h @ w[0] + b[0, 0]
            h = torch.relu(h) if layer < 2 else h
        assert torch.allclose(y[:, :, i], h, atol=1e-6)
    y.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_optimise_each_steps_as_clip_grad_norm_and_adam_do_one_network_at_a_time():
    """One backward pass for two networks, each clipped to its own norm: the weights equal, to the bit, those of
    ``clip_grad_norm_`` and Adam on each network in turn (with the clip biting on one and not the other)."""

    def nets() -> tuple[torch.nn.Module, torch.nn.Module]:
        torch.manual_seed(2)
        return AgentMLP(2, 3, 2, hidden=4, shared=True), AgentMLP(2, 5, 1, hidden=4)

    x, s = torch.randn(8, 2, 3), torch.randn(8, 2, 5)

    def losses(a: torch.nn.Module, c: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return 100.0 * a(x).square().mean(), 1e-3 * c(s).mean()  # a large gradient and a small one

    ref = nets()
    ref_opts = [torch.optim.Adam(n.parameters(), lr=1e-2) for n in ref]
    new = nets()
    new_opts = [torch.optim.Adam(n.parameters(), lr=1e-2) for n in new]
    norms = []
    for _ in range(3):
        for opt, net, loss in zip(ref_opts, ref, losses(*ref), strict=True):
            opt.zero_grad()
            loss.backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)))
            opt.step()
        common.optimise_each(list(zip(new_opts, new, losses(*new), strict=True)), 1.0)
    assert max(norms[0::2]) > 1.0 > max(norms[1::2])  # the clip bites on the actor only
    for r, n in zip(ref, new, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(r.parameters(), n.parameters(), strict=True))


def test_joint_with_own_replaces_only_the_critics_own_agent():
    replayed = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    own = -replayed
    joint = joint_with_own(replayed, own).reshape(2, 3, 3, 2)
    for critic in range(3):
        for agent in range(3):
            src = own if agent == critic else replayed
            assert torch.equal(joint[:, critic, agent], src[:, agent])


# -- every algorithm ------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", list(REGISTRY))
def test_every_algorithm_trains_with_finite_losses_and_checkpoints(algo, tmp_path):
    cfg = effective_config(algo, load_config(None, TINY))
    spec = REGISTRY[algo]
    learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, _algo_overrides(algo)))
    env = BatchedEnv(cfg, 2, seed=0)
    losses = {}
    for _ in range(3):
        for t, step in enumerate(rollout(env, learner.explore)):
            learner.record(step, t)
        losses = learner.end_iteration(2)
    assert losses and all(np.isfinite(v) for v in losses.values())

    run = train_run(
        algo,
        load_config(None, TINY),
        5,
        0,
        tmp_path / "run",
        algo_overrides=_algo_overrides(algo),
        progress=False,
        checkpoint_every=2,
    )
    rows = _rows(run / "metrics.csv")
    assert [int(r["episode"]) for r in rows] == [0, 1, 2, 3, 4]  # 5 = 2 + 2 + 1 (last iteration cut)
    assert all(np.isfinite(float(v)) for r in rows for v in r.values())
    assert checkpoint.loads((run / "checkpoint.safetensors").read_bytes(), "run")["episode"] == 5
    assert yaml.safe_load((run / "algo.yaml").read_text())["algo"] == algo
    assert any((run / "tb").iterdir())
    for r in rows:
        per_cv = [float(r[f"local_queue_cv{i}"]) for i in range(3)]
        assert float(r["local_queue_cycles"]) == pytest.approx(np.mean(per_cv))
        assert 0.0 <= float(r["instrt_share"]) <= 1.0 and 0.0 <= float(r["deadline_miss_rate"]) <= 1.0


# -- resume ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["ly-dtmpo", "ly-masac"])
def test_resume_after_sigkill_reproduces_the_uninterrupted_run(algo, tmp_path):
    sets = [f"--set={s}" for s in ["episode_slots=10"]]
    sets += [f"--set=algo.{k}={v}" for k, v in _algo_overrides(algo, {"num_envs": 1}).items()]
    cmd = [
        sys.executable,
        "-m",
        "isac_iov.cli",
        "train",
        "--algo",
        algo,
        "--episodes",
        "8",
        "--seed",
        "3",
        "--checkpoint-every",
        "1",
        "--no-progress",
        *sets,
    ]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.safetensors").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reached = checkpoint.loads((killed / "checkpoint.safetensors").read_bytes(), "killed")["episode"]
    assert 1 <= reached < 8  # really interrupted mid-run
    assert subprocess.run([*cmd, "--out", str(killed), "--resume"], capture_output=True, check=False).returncode == 0

    clean = tmp_path / "clean"
    assert subprocess.run([*cmd, "--out", str(clean)], capture_output=True, check=False).returncode == 0
    got, want = _rows(killed / "metrics.csv"), _rows(clean / "metrics.csv")
    assert [int(r["episode"]) for r in got] == list(range(8))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time_s"} for r in rows]  # noqa: E731
    assert strip(got) == strip(want)


# -- trained policies -----------------------------------------------------------------------------
def test_loaded_policy_is_valid_deterministic_and_decentralised(tmp_path, capsys):
    run = train_run(
        "ly-dtmpo",
        load_config(None, TINY),
        4,
        0,
        tmp_path / "run",
        algo_overrides=_algo_overrides("ly-dtmpo"),
        progress=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # this code trained it: no warning
        policy = load_policy(run)
    env = BatchedEnv(load_config(None, TINY), 4, seed=9)
    obs, _ = env.reset()
    policy.reset(env)
    a = policy.act(env, obs)
    assert a.shape == (4, 3, env.action_dim) and (a >= 0).all() and (a <= 1).all()
    assert np.array_equal(a, policy.act(env, obs))
    _set_trained_by(run, "0123456789abcdef")
    with pytest.warns(OtherCodeWarning, match="trained by other code .fingerprint 0123456789abcdef, this code"):
        assert np.array_equal(load_policy(run).act(env, obs), a)  # still loads: the same weights
    capsys.readouterr()
    assert cli_main(["evaluate", "--policy", str(run), "--episodes", "1", "--quiet"]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"isac-iov evaluate: warning: {run} was trained by other code") and "\n" not in err
    other = obs.copy()
    other[:, 1:] = np.random.default_rng(0).uniform(size=other[:, 1:].shape)
    b = policy.act(env, other)
    assert np.array_equal(a[:, 0], b[:, 0]) and not np.array_equal(a[:, 1:], b[:, 1:])
    with pytest.raises(ValueError, match="trained for"):
        policy.reset(BatchedEnv(load_config(None, ["num_cvs=4", "episode_slots=5"]), 1))


def test_short_ly_dtmpo_training_beats_random_and_the_untrained_policy(tmp_path):
    # A loose energy budget keeps the reward informative for a short run (with the calibrated budget the
    # energy-queue drift dominates eq. (44) and learning takes the full protocol).
    cfg = load_config(None, ["num_cvs=2", "episode_slots=10", "lyapunov.energy_budget_j_per_cv=300"])
    # Unbiased start (init_local_logit 0): the default offloading prior would already be near the end point.
    overrides = {
        "lr": 1e-3,
        "hidden": 64,
        "num_envs": 16,
        "batch_size": 128,
        "shared_actor": True,
        "init_local_logit": 0.0,
    }
    torch.manual_seed(0)
    untrained = MAPPO(EnvSpec.from_config(cfg), make_algo_config(MappoConfig, overrides)).actor
    run = train_run("ly-dtmpo", cfg, 1200, 0, tmp_path / "run", algo_overrides=overrides, progress=False)
    rng = np.random.default_rng(0)
    random_cost = _mean_cost(cfg, lambda env, o: rng.uniform(size=(env.num_envs, env.num_cvs, env.action_dim)))
    start_cost = _mean_cost(cfg, TrainedPolicy("untrained", untrained, EnvSpec.from_config(cfg), True).act)
    trained_cost = _mean_cost(cfg, load_policy(run).act)
    assert trained_cost <= 0.8 * random_cost  # >= 20 % below uniform random actions
    assert trained_cost <= 0.85 * start_cost  # and learned: >= 15 % below its own starting point


# -- DT-absent mode ---------------------------------------------------------------------------------
def test_dt_absent_mode_hides_exactly_the_twin_fields(tmp_path):
    base = load_config(None, TINY)
    mappo_cfg = effective_config("ly-mappo", base)
    assert effective_config("ly-dtmpo", base).twin.enabled and not mappo_cfg.twin.enabled
    on, off = BatchedEnv(base, 3, seed=4), BatchedEnv(mappo_cfg, 3, seed=4)
    (o_on, g_on), (o_off, g_off) = on.reset(), off.reset()
    twin = dims(base).twin
    rng = np.random.default_rng(0)
    for _ in range(base.episode_slots):
        assert np.array_equal(o_on[..., : twin.start], o_off[..., : twin.start])
        assert (o_off[..., twin] == 0).all() and (g_off == 0).all()
        a = rng.uniform(size=(3, 3, on.action_dim))
        s_on, s_off = on.step(a), off.step(a)
        (o_on, g_on), (o_off, g_off) = (s_on.obs, s_on.global_state), (s_off.obs, s_off.global_state)
    assert (g_on != 0).any()  # the twin's view was really there to hide
    run = train_run(
        "ly-mappo", base, 2, 0, tmp_path / "run", algo_overrides=_algo_overrides("ly-mappo"), progress=False
    )
    assert yaml.safe_load((run / "config.yaml").read_text())["twin"]["enabled"] is False


# -- bad input --------------------------------------------------------------------------------------
def test_bad_input_is_rejected_before_anything_is_written(tmp_path, capsys):
    cfg = load_config(None, TINY)
    with pytest.raises(ValueError, match="unknown algorithm 'ppo'"):
        train_run("ppo", cfg, 2, 0, tmp_path / "a")
    with pytest.raises(ValueError, match="episodes"):
        train_run("ly-dtmpo", cfg, 0, 0, tmp_path / "a")
    with pytest.raises(ConfigError, match="algo.lr_actor"):
        train_run("ly-dtmpo", cfg, 2, 0, tmp_path / "a", algo_overrides={"lr_actor": 1.0})
    assert not (tmp_path / "a").exists()

    run = train_run("ly-dtmpo", cfg, 2, 0, tmp_path / "run", algo_overrides=_algo_overrides("ly-dtmpo"), progress=False)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(FileExistsError, match="--resume"):
        train_run("ly-dtmpo", cfg, 2, 0, run, algo_overrides=_algo_overrides("ly-dtmpo"))
    with pytest.raises(ConfigError, match="another scenario"):
        train_run(
            "ly-dtmpo",
            load_config(None, [*TINY, "lyapunov.v_control=10"]),
            2,
            0,
            run,
            resume=True,
            algo_overrides=_algo_overrides("ly-dtmpo"),
        )
    with pytest.raises(ConfigError, match="algo.hidden"):
        train_run("ly-dtmpo", cfg, 2, 0, run, resume=True, algo_overrides={**_algo_overrides("ly-dtmpo"), "hidden": 8})
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before

    _set_trained_by(run, "0123456789abcdef")  # as if an older version of the code had trained it
    with pytest.raises(ConfigError, match="run of other code .fingerprint 0123456789abcdef, this code"):
        train_run("ly-dtmpo", cfg, 2, 0, run, resume=True, algo_overrides=_algo_overrides("ly-dtmpo"))

    assert cli_main(["train", "--algo", "nope", "--episodes", "2", "--out", str(tmp_path / "b")]) == 2
    assert "unknown algorithm 'nope'" in capsys.readouterr().err
    assert cli_main(["train", "--algo", "ly-dtmpo", "--episodes", "0", "--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    ("algo", "key", "value", "rule"),
    [
        ("ly-dtmpo", "lr", "-1", "must be > 0"),
        ("ly-dtmpo", "gamma", "1.5", "must be in [0, 1]"),
        ("ly-dtmpo", "gae_lambda", "2", "must be in [0, 1]"),
        ("ly-dtmpo", "clip_eps", "0", "must be > 0"),
        ("ly-dtmpo", "entropy_coef", "-0.1", "must be >= 0"),
        ("ly-dtmpo", "torch_threads", "0", "must be >= 1"),
        ("ly-maddpg", "tau", "2", "must be in [0, 1]"),
        ("ly-maddpg", "critic_lr", "0", "must be > 0"),
        ("ly-maddpg", "exploration_noise", "-0.5", "must be >= 0"),
        ("ly-maddpg", "reward_clip", "-1", "must be > 0"),
        ("ly-maddpg", "updates_per_step", "0", "must be >= 1"),
        ("ly-maddpg", "warmup_episodes", "-1", "must be >= 0"),
        ("ly-matd3", "target_noise", "-0.1", "must be >= 0"),
        ("ly-masac", "init_alpha", "0", "must be > 0"),
        ("ly-masac", "alpha_lr", "-1e-3", "must be > 0"),
    ],
)
def test_out_of_range_hyper_parameters_are_rejected_naming_the_key(algo, key, value, rule, tmp_path, capsys):
    with pytest.raises(ConfigError, match=re.escape(f"algo.{key}: {rule}, got")):
        make_algo_config(REGISTRY[algo].config, {key: value})
    out = tmp_path / "run"
    args = ["train", "--algo", algo, "--episodes", "2", "--set", f"algo.{key}={value}", "--out", str(out)]
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"algo.{key}" in err[0] and not out.exists()


def test_every_learners_defaults_pass_its_own_checks():
    for spec in REGISTRY.values():
        defaults = spec.config()
        assert make_algo_config(spec.config, defaults.to_dict()) == defaults
    # every common rule applies to some learner's field (none is left over from a renamed key)
    assert set(common._RULES) <= set().union(*(algo_rules(spec.config) for spec in REGISTRY.values()))
    # reward_clip <= 0 switches PPO's reward scaling off (mappo docstring); it stays allowed there
    assert make_algo_config(MappoConfig, {"reward_clip": "0"}).reward_clip == 0


def test_config_command_lists_an_algorithms_keys_with_their_rules(capsys):
    assert cli_main(["config", "--algo", "ly-mappo", "--set", "algo.lr=0.001"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines if ln.startswith(("algo.", "twin.enabled "))}
    assert set(rows) == {f"algo.{k}" for k in MappoConfig().to_dict()} | {"twin.enabled"}
    assert rows["twin.enabled"][0] == "false"  # the scenario Ly-MAPPO trains on
    assert rows["algo.lr"] == ["0.001", ">", "0"] and rows["algo.gamma"] == ["0.0", "in", "[0,", "1]"]
    assert rows["algo.reward"] == ['"auto"', "auto", "|", "team", "|", "per_cv", "|", "neighbours", "|", "difference"]
    assert rows["algo.reward_clip"] == ["10.0", "float"]  # <= 0 is allowed: it switches the scaling off
    assert rows["algo.shared_actor"][1:] == ["true", "|", "false"]
    auto = "(the scalable form above 16): algo.agent_id={}, algo.critic_state={}, algo.reward={}, algo.actor={}, "
    auto += "algo.minibatch={}"
    assert lines[-1] == "'auto' at 5 CVs " + auto.format("onehot", "global", "team", "flat", "agents")
    assert cli_main(["config", "--algo", "ly-mappo", "--set", "num_cvs=20"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "'auto' at 20 CVs " + auto.format("none", "link", "neighbours", "link", "slots")
    assert cli_main(["config", "--algo", "ly-matd3"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^algo\.reward_clip +10\.0 +> 0$", out, re.MULTILINE) and re.search(
        r"^algo\.policy_delay +2 ", out, re.MULTILINE
    )
    for args, culprit in [
        (["--set", "algo.lr=1"], "algo.lr: algorithm keys need --algo"),
        (["--algo", "ly-maddpg", "--set", "algo.tau=2"], "algo.tau: must be in [0, 1], got 2.0"),
        (["--algo", "ly-maddpg", "--set", "algo.nope=2"], "unknown algorithm key algo.nope"),
        (["--algo", "nope"], "unknown algorithm 'nope'"),
    ]:
        assert cli_main(["config", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and culprit in err[0]


# -- per-CV reward, warm start -----------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["ly-dtmpo", "ly-maddpg"])
def test_per_cv_reward_option_learns_from_each_cvs_share(algo):
    cfg = load_config(None, TINY)
    spec = REGISTRY[algo]
    env = BatchedEnv(cfg, 2, seed=0)
    for choice in ("team", "per_cv"):
        learner = spec.learner(
            EnvSpec.from_config(cfg), make_algo_config(spec.config, _algo_overrides(algo, {"reward": choice}))
        )
        obs, glob = env.reset(seed=1)
        step = env.step(learner.explore(obs, glob, 0))
        learner.record(step, 0)
        stored = learner.rewards[0] if algo == "ly-dtmpo" else learner.stage["rew"][:, 0]
        team = torch.as_tensor(step.reward, dtype=torch.float32)[:, None].expand_as(stored)
        per_cv = torch.as_tensor(step.outcome.reward_per_cv, dtype=torch.float32)
        assert torch.allclose(stored, team if choice == "team" else per_cv)
        assert torch.allclose(per_cv.sum(-1), team[:, 0]) and not torch.allclose(per_cv, team)
    with pytest.raises(ConfigError, match="algo.reward"):
        make_algo_config(spec.config, {"reward": "selfish"})


def test_warm_start_clones_greedy_and_is_recorded(tmp_path):
    from isac_iov.learners.warmstart import warm_start
    from isac_iov.policies import make_policy

    cfg = load_config(None, ["episode_slots=10"])
    spec = REGISTRY["ly-dtmpo"]
    torch.manual_seed(0)
    learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, {"hidden": 64}))
    untrained = _mean_cost(cfg, TrainedPolicy("u", learner.actor, EnvSpec.from_config(cfg), True).act)
    mse = warm_start(learner, cfg, "greedy", seed=0, episodes=32)
    cloned = _mean_cost(cfg, TrainedPolicy("c", learner.actor, EnvSpec.from_config(cfg), True).act)
    greedy = _mean_cost(cfg, lambda env, obs: make_policy("greedy", cfg, 0).act(env, obs))
    # measured: untrained 0.315, cloned 0.276, greedy 0.271
    assert np.isfinite(mse) and cloned < 0.95 * untrained and cloned <= 1.05 * greedy
    run = train_run(
        "ly-dtmpo",
        load_config(None, TINY),
        2,
        0,
        tmp_path / "run",
        init="greedy",
        algo_overrides=_algo_overrides("ly-dtmpo"),
        progress=False,
    )
    assert yaml.safe_load((run / "algo.yaml").read_text())["init"] == "greedy"
    with pytest.raises(ConfigError, match="init"):
        train_run(
            "ly-dtmpo", load_config(None, TINY), 2, 0, run, resume=True, algo_overrides=_algo_overrides("ly-dtmpo")
        )
    with pytest.raises(ValueError, match="--init: unknown reference policy 'oracle'"):
        train_run("ly-dtmpo", load_config(None, TINY), 2, 0, tmp_path / "x", init="oracle")


def test_warm_start_shows_its_progress(tmp_path, capsys):
    train_run("ly-dtmpo", load_config(None, TINY), 2, 0, tmp_path / "run", init="greedy", progress=True)
    err = capsys.readouterr().err
    slots = load_config(None, TINY).episode_slots
    assert "--init greedy: play: 100%" in err and f"{slots}/{slots}" in err and "--init: fit: 100%" in err
    assert not (tmp_path / "x").exists()


# -- learning-rate schedules ----------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["ly-maddpg", "ly-masac", "ly-dtmpo"])
def test_learning_rates_fall_linearly_to_their_floor_and_stay(algo):
    ppo = algo == "ly-dtmpo"  # every step size of PPO falls (lr, log_std_lr); of the off-policy learners, the actor's
    lr, floor = ("lr", "lr_floor") if ppo else ("actor_lr", "actor_lr_floor")
    spec = REGISTRY[algo]
    cfg = load_config(None, TINY)
    overrides = _algo_overrides(algo, {lr: 1e-3, floor: 0.1, "anneal_episodes": 8, "log_std_lr": 2e-3})
    learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, overrides))
    env = BatchedEnv(cfg, learner.num_envs, seed=0)
    seen = []
    for _ in range(6):  # 2 episodes per iteration
        for t, step in enumerate(rollout(env, learner.explore)):
            learner.record(step, t)
        learner.end_iteration(learner.num_envs)
        groups = learner.actor_opt.param_groups + (learner.critic_opt.param_groups if ppo else [])
        seen.append([group["lr"] for group in groups])
    # the updates on episodes [e, e + 2) step at 1e-3 * (1 - 0.9 * e / 8), from e = 8 on at the floor 1e-4; PPO's
    # were made in the iteration that played them, the off-policy learners' come in the next one
    factors = [1.0, 0.775, 0.55, 0.325, 0.1, 0.1, 0.1]
    if ppo:
        assert seen == [pytest.approx([1e-3 * f, 2e-3 * f, 1e-3 * f]) for f in factors[:6]]
    else:
        assert seen == [pytest.approx([1e-3 * f]) for f in factors[1:]]
        assert learner.updates > 0
    with pytest.raises(ConfigError, match=rf"algo.{floor}: must be in \[0, 1\], got 1.5"):
        make_algo_config(spec.config, {floor: 1.5})
    with pytest.raises(ConfigError, match="algo.anneal_episodes: must be >= 1, got 0"):
        make_algo_config(spec.config, {"anneal_episodes": 0})


def test_a_learning_rate_that_reaches_0_before_the_run_ends_is_warned_of(tmp_path):
    cfg = load_config(None, TINY)
    overrides = _algo_overrides("ly-dtmpo", {"lr_floor": 0.0, "anneal_episodes": 2})
    expected = r"algo.lr_floor=0 with algo.anneal_episodes=2 < 4 episodes: .* \(set algo.anneal_episodes=4\)"
    with pytest.warns(UserWarning, match=expected):
        train_run("ly-dtmpo", cfg, 4, 0, tmp_path / "short", algo_overrides=overrides, progress=False)
    # a schedule that ends with the run, or at a floor above 0, is not warned of
    for episodes, floor in ((2, 0.0), (4, 0.1)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            quiet = {**overrides, "lr_floor": floor}
            train_run("ly-dtmpo", cfg, episodes, 0, tmp_path / f"q{episodes}", algo_overrides=quiet, progress=False)
        assert not [w for w in caught if "anneal_episodes" in str(w.message)]


@pytest.mark.parametrize("algo", ["ly-maddpg", "ly-matd3"])
def test_exploration_noise_is_added_before_the_sigmoid_by_default(algo):
    spec = REGISTRY[algo]
    cfg = load_config(None, TINY)
    obs = torch.as_tensor(BatchedEnv(cfg, 1, seed=0).reset()[0], dtype=torch.float32).expand(4000, -1, -1)
    torch.manual_seed(0)
    learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, _algo_overrides(algo)))
    assert (learner.cfg.noise_space, learner.cfg.exploration_noise) == ("pre_action", 0.5)
    with torch.no_grad():
        a = learner.behaviour(obs)
        noise = torch.logit(a.double()) - learner.actor.pre_action(obs).double()
    assert ((a > 0) & (a < 1)).all()  # a weight explored near 0 is never exactly 0
    assert abs(noise.mean()) < 0.01 and noise.std() == pytest.approx(0.5, abs=0.01)
    clipped = spec.learner(
        EnvSpec.from_config(cfg), make_algo_config(spec.config, _algo_overrides(algo, {"noise_space": "action"}))
    )
    with torch.no_grad():
        b = clipped.behaviour(obs)
    assert ((b == 0) | (b == 1)).float().mean() > 0.1  # noise of std 0.5 on [0, 1] clips often
    with pytest.raises(ConfigError, match=r"algo.noise_space: must be one of \('action', 'pre_action'\), got 'u'"):
        make_algo_config(spec.config, {"noise_space": "u"})


def test_exploration_noise_falls_linearly_to_its_floor_and_stays():
    spec = REGISTRY["ly-maddpg"]
    cfg = load_config(None, TINY)
    obs = torch.as_tensor(BatchedEnv(cfg, 1, seed=0).reset()[0], dtype=torch.float32).expand(4000, -1, -1)
    overrides = _algo_overrides("ly-maddpg", {"noise_floor": 0.4, "anneal_episodes": 10})
    learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, overrides))
    torch.manual_seed(0)
    for seen, std in ((0, 0.5), (5, 0.5 * (1 - 0.6 * 0.5)), (10, 0.2), (40, 0.2)):
        learner.episodes_seen = seen
        with torch.no_grad():
            noise = torch.logit(learner.behaviour(obs).double()) - learner.actor.pre_action(obs).double()
        assert noise.std() == pytest.approx(std, rel=0.03)
    with pytest.raises(ConfigError, match=r"algo.noise_floor: must be in \[0, 1\], got 1.5"):
        make_algo_config(spec.config, {"noise_floor": 1.5})


@pytest.mark.parametrize("algo", ["ly-maddpg", "ly-masac"])
def test_warmup_plays_uniform_or_initial_policy_actions_and_learns_only_after_it(algo):
    spec = REGISTRY[algo]
    cfg = load_config(None, TINY)
    local_weight = {}
    for mode in ("random", "policy"):
        torch.manual_seed(0)
        overrides = _algo_overrides(algo, {"warmup_episodes": 4, "warmup_actions": mode})
        learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, overrides))
        env = BatchedEnv(cfg, learner.num_envs, seed=0)
        played = []
        for _ in range(3):  # 2 episodes per iteration: the first two iterations are the warm-up
            updates_before = learner.updates
            for t, step in enumerate(rollout(env, learner.explore)):
                learner.record(step, t)
            played.append(learner.stage["act"][..., 0].clone())
            learner.end_iteration(learner.num_envs)
        assert updates_before == 0 and learner.updates > 0  # no update before the fourth episode ends
        local_weight[mode] = torch.cat(played[:2]).mean().item()
    # uniform actions: mean 0.5; the initial policy: sigmoid(init_local_logit = -3) = 0.05 under its noise
    assert local_weight["random"] == pytest.approx(0.5, abs=0.1)
    assert local_weight["policy"] < 0.15
    with pytest.raises(ConfigError, match=r"algo.warmup_actions: must be one of \('random', 'policy'\), got 'zero'"):
        make_algo_config(spec.config, {"warmup_actions": "zero"})


@pytest.mark.parametrize("algo", sorted(REGISTRY))
def test_actors_start_at_their_initial_local_weight_and_cpu_requests(algo):
    spec = REGISTRY[algo]
    cfg = load_config(None, TINY)
    lay = layout(cfg.num_rsus)
    obs = torch.as_tensor(BatchedEnv(cfg, 2, seed=0).reset()[0], dtype=torch.float32)
    torch.manual_seed(0)
    overrides = _algo_overrides(algo, {"init_local_logit": -3.0, "init_cpu_logit": -1.5})
    learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, overrides))
    with torch.no_grad():
        a = learner.actor.mean_action(obs).numpy()
    # the output layer starts near zero, so each weight starts at the sigmoid of its bias
    np.testing.assert_allclose(a[..., lay.local], 1 / (1 + np.exp(3.0)), atol=0.01)
    np.testing.assert_allclose(a[..., lay.cpu], 1 / (1 + np.exp(1.5)), atol=0.01)
    np.testing.assert_allclose(a[..., lay.task], 0.5, atol=0.01)
    np.testing.assert_allclose(a[..., lay.bandwidth], 0.5, atol=0.01)
    # the PPO learners start their CPU requests low by default; the off-policy ones at 0.5
    assert make_algo_config(spec.config, {}).init_cpu_logit == (-2.0 if algo in ("ly-dtmpo", "ly-mappo") else 0.0)


@pytest.mark.parametrize("algo", ["ly-maddpg", "ly-matd3", "ly-masac"])
def test_off_policy_targets_read_the_next_state_only_when_gamma_is_positive(algo):
    cfg = load_config(None, TINY)
    targets = {}
    for gamma in (0.0, 0.5):
        learner = _stored_learner(algo, cfg, {"gamma": gamma})
        batch = learner.sample_batch()
        assert ("next_obs" in batch) == ("next_glob" in batch) == (gamma > 0)
        value = torch.full_like(batch["rew"], 2.0)
        targets[gamma] = (batch["rew"], learner.td_target(batch, lambda v=value: v))
        losses = learner.update(batch)  # without next_obs at gamma = 0: the next state is never evaluated
        assert all(np.isfinite(v) for v in losses.values())
    rew, target = targets[0.0]
    assert torch.equal(target, rew)
    rew, target = targets[0.5]
    assert torch.allclose(target, rew + 0.5 * 2.0)


@pytest.mark.parametrize("algo", ["ly-maddpg", "ly-matd3"])
def test_critics_step_every_update_and_actors_every_policy_delay(algo):
    learner = _stored_learner(algo, load_config(None, TINY))
    assert learner.cfg.policy_delay == 2
    assert learner.cfg.updates_per_step == (2 if algo == "ly-maddpg" else 1)

    def snapshot(net):
        return [p.detach().clone() for p in net.parameters()]

    for k in range(4):
        actor, critic = snapshot(learner.actor), snapshot(learner.critic)
        losses = learner.update(learner.sample_batch())
        learner.updates += 1
        actor_moved = any(not torch.equal(a, b) for a, b in zip(actor, learner.actor.parameters(), strict=True))
        critic_moved = any(not torch.equal(a, b) for a, b in zip(critic, learner.critic.parameters(), strict=True))
        assert critic_moved and "critic_loss" in losses
        assert actor_moved == ("actor_loss" in losses) == (k % 2 == 0)


@pytest.mark.parametrize(("algo", "choice"), [("ly-maddpg", None), ("ly-matd3", "first"), ("ly-matd3", "min")])
def test_actors_ascend_the_chosen_critic_value(algo, choice):
    learner = _stored_learner(algo, load_config(None, TINY), {"actor_critic": choice} if choice else None)
    b = learner.sample_batch()
    with torch.no_grad():
        values = learner.policy_value(b["obs"], b["glob"], b["act"], learner.actor(b["obs"]))
    assert values.shape[1] == (1 if algo == "ly-maddpg" else 2)
    if choice == "min":
        want = values.min(1).values
        assert not torch.equal(want, values[:, 0])  # the first critic is not always the lower one
    else:
        want = values[:, 0]
    assert learner.actor_step(b) == pytest.approx(-want.mean().item(), rel=1e-5)


def test_neighbour_rewards_average_the_shares_of_the_cvs_that_share_an_rsus_coverage():
    from types import SimpleNamespace

    from isac_iov.learners.rewards import step_rewards

    reach = np.array([[[1, 0], [1, 1], [0, 1]]], dtype=bool)  # CV 0 and 1 share RSU 0, CV 1 and 2 share RSU 1
    outcome = SimpleNamespace(reward_per_cv=np.array([[-1.0, -2.0, -4.0]]), links=SimpleNamespace(reachable=reach))
    step = SimpleNamespace(outcome=outcome, reward=np.array([-7.0]))
    assert step_rewards(step, "neighbours") == pytest.approx(np.array([[-1.5, -7.0 / 3.0, -3.0]]))
    assert step_rewards(step, "per_cv").tolist() == [[-1.0, -2.0, -4.0]]
    assert step_rewards(step, "team").tolist() == [[-7.0]]
    alone = SimpleNamespace(
        outcome=SimpleNamespace(
            reward_per_cv=np.array([[-1.0, -2.0]]), links=SimpleNamespace(reachable=np.zeros((1, 2, 2), dtype=bool))
        ),
        reward=np.array([-3.0]),
    )
    assert step_rewards(alone, "neighbours").tolist() == [[-1.0, -2.0]]  # out of every coverage: its own share


def test_difference_rewards_are_the_objective_had_each_cv_run_locally_minus_the_slots():
    from isac_iov import replay, slot
    from isac_iov.learners.rewards import step_rewards

    cfg = load_config(None, ["num_cvs=4", "rsu.cpu_max_hz=8e9", "episode_slots=3"])
    env = BatchedEnv(cfg, 2)
    env.reset(seed=3)
    a = np.random.default_rng(0).uniform(size=(2, 4, env.action_dim))
    a[1, 2, 1:] = 0.0  # CV 2 of env 1 runs its whole task locally already: its difference reward is 0
    assert env.step(a).objective_if_local is None  # off unless asked: it costs a replay per CV
    env.reset(seed=3)
    phys, queues = env.snapshot()
    env.what_if_local = True
    step = env.step(a)
    want = np.empty((2, 4))
    for e, i in np.ndindex(2, 4):  # one slot evaluation per (env, CV), its task moved to the CV
        what_if = a.copy()
        what_if[e, i] = 0.0
        what_if[e, i, 0] = 1.0
        want[e, i] = slot.evaluate(env.scn, phys, queues, what_if).objective[e] - step.outcome.objective[e]
    assert step_rewards(step, "difference") == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert step_rewards(step, "difference")[1, 2] == 0.0 and np.abs(want).min() < np.abs(want).max()
    chunks = replay.whole_slot_if_local(env.scn, phys, queues, a)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(replay, "REPLAY_LINKS", 36)  # 8 counterfactual envs of 4 x 3 links in chunks of 3: the same numbers
        assert np.array_equal(replay.whole_slot_if_local(env.scn, phys, queues, a), chunks)
    with pytest.raises(RuntimeError, match="what_if_local"):
        step_rewards(type(step)(**{**vars(step), "objective_if_local": None}), "difference")


def test_the_training_loop_asks_the_env_for_the_counterfactual_only_for_difference_rewards(
    tmp_path, monkeypatch, error_line
):
    from isac_iov import replay

    calls = []
    real = replay.objective_if_local
    monkeypatch.setattr(replay, "objective_if_local", lambda *args: calls.append(args[3].shape) or real(*args))
    tiny = ["--set=num_cvs=2", "--set=episode_slots=4", "--set=algo.hidden=8", "--set=algo.num_envs=2"]
    argv = ["train", "--algo", "ly-dtmpo", "--episodes", "2", "--no-progress", *tiny]
    assert cli_main([*argv, "--out", str(tmp_path / "team")]) == 0
    assert calls == []
    assert cli_main([*argv, "--set", "algo.reward=difference", "--out", str(tmp_path / "d")]) == 0
    assert calls == [(2, 2, layout(3).dim)] * 4  # one iteration: 4 slots of 2 envs x 2 CVs
    rewards = [float(r["reward"]) for r in csv.DictReader((tmp_path / "d" / "metrics.csv").open())]
    assert len(rewards) == 2 and all(np.isfinite(rewards))
    blind = ["train", "--algo", "ly-mappo", "--episodes", "2", "--no-progress", *tiny, "--out", str(tmp_path / "m")]
    assert cli_main([*blind, "--set", "algo.reward=difference"]) == 2  # Ly-MAPPO has no twin to replay the slots
    assert "algo.reward=difference: ly-mappo trains without the twin" in error_line("train")
    assert calls == [(2, 2, layout(3).dim)] * 4 and not (tmp_path / "m").exists()
    # "auto" above 16 CVs: replays for a learner with the twin, none without it or when imitating a teacher
    calls.clear()
    big = ["--set=num_cvs=17", "--set=episode_slots=2", "--set=algo.hidden=8", "--set=algo.num_envs=1"]
    for algo, extra, name in [("ly-dtmpo", [], "a"), ("ly-mappo", [], "b"), ("ly-dtmpo", ["--imitate", "greedy"], "c")]:
        argv = ["train", "--algo", algo, "--episodes", "1", "--no-progress", *big, *extra]
        assert cli_main([*argv, "--out", str(tmp_path / name)]) == 0
    assert calls == [(1, 17, layout(3).dim)] * 2  # ly-dtmpo's 2 slots only
