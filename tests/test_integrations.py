"""The integrations (isac_iov.integrations, docs/integrations.md): the TorchRL env and policy adapter, the
BenchMARL task, and a short training run through each that must improve the evaluated reward.

These tests need the ``benchmarl`` extra (which holds the ``torchrl`` one). Without it they are skipped with the
install line, so the README's set-up (which leaves the extra out) keeps its test command green, unless
``ISAC_IOV_REQUIRE_EXTRAS`` is set: ``.ci/run`` installs the extra and sets it, so in CI they always run.

A run "improves the reward" when its deterministic policy, evaluated with :func:`isac_iov.evaluate.evaluate_policy`
on the same 6 episodes (seed 0) before and after training, gains on every episode (a sign test: 1 chance in 64 if
training changed nothing systematically) and by at least 10 % of the starting reward per slot on average (measured:
BenchMARL MAPPO 3000 frames -671 -> -131, every episode +284 to +928; the TorchRL example 48 episodes
-16.1 -> -11.6, every episode +3.2 to +6.3).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("benchmarl") is None:
    reason = "needs the benchmarl extra: pip install -c constraints.txt -e '.[benchmarl]'"
    if os.environ.get("ISAC_IOV_REQUIRE_EXTRAS"):
        raise ImportError(reason)
    pytest.skip(reason, allow_module_level=True)

import torch
from tensordict.nn import TensorDictModule

from isac_iov import parallel_env
from isac_iov.actions import from_centred
from isac_iov.config import ConfigError, load_config
from isac_iov.evaluate import evaluate_policy
from isac_iov.integrations.benchmarl import IsacTask
from isac_iov.integrations.torchrl import GROUP, TensorDictPolicy, make_env

ROOT = Path(__file__).resolve().parents[1]
EVAL_EPISODES = 6
MIN_GAIN = 0.10  # of the starting reward per slot


def episode_rewards(policy, cfg) -> np.ndarray:
    """The mean reward per slot of each evaluation episode (eq. 44; seed 0, as ``isac-iov evaluate`` plays)."""
    slots = evaluate_policy(policy, cfg, EVAL_EPISODES, 0, progress=False)["slots"]
    per_episode = np.zeros(EVAL_EPISODES)
    for record in slots:
        if record["cv"] == 0:  # the reward is the slot's, repeated in every CV's record
            per_episode[record["episode"]] += record["reward"] / cfg.episode_slots
    return per_episode


def assert_improved(before: np.ndarray, after: np.ndarray) -> None:
    gain = after - before
    assert (gain > 0).all(), f"not every episode improved: {gain}"
    assert gain.mean() >= MIN_GAIN * abs(before.mean()), f"{before.mean():.2f} -> {after.mean():.2f}"


@pytest.fixture
def one_thread():
    """Train on one thread, as the benchmark does: with two, threads that wait for a busy core stretch wall time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Constant(torch.nn.Module):
    """A policy network answering ``value`` for every agent's observation."""

    def __init__(self, dim: int, value: float):
        super().__init__()
        self.dim, self.value = dim, value

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.full((*obs.shape[:-1], self.dim), self.value)


def constant_module(dim: int, value: float) -> TensorDictModule:
    return TensorDictModule(Constant(dim, value), in_keys=[(GROUP, "observation")], out_keys=[(GROUP, "action")])


def test_the_torchrl_env_carries_the_pettingzoo_view():
    cfg = load_config(None, ["num_cvs=3"])
    env, team = make_env(cfg, seed=4, actions="centred"), make_env(cfg, seed=4, actions="centred", reward="team")
    pz = parallel_env(cfg, seed=4, actions="centred", reward="per_cv")
    pz.reset(seed=4)  # as the wrapper does when built
    obs, infos = pz.reset()
    td, td_team = env.reset(), team.reset()
    assert td[GROUP, "observation"].shape == (3, pz.core.obs_dim) and "state" in td
    assert np.allclose(td[GROUP, "observation"].numpy(), np.stack([obs[a] for a in pz.possible_agents]))
    assert (td[GROUP, "action_mask"].numpy() == np.stack([infos[a]["action_mask"] for a in pz.agents])).all()
    u = np.linspace(-0.9, 0.9, 3 * pz.core.action_dim, dtype=np.float32).reshape(3, -1)
    for t in range(cfg.episode_slots):
        td[GROUP, "action"] = td_team[GROUP, "action"] = torch.as_tensor(u)
        td, td_team = env.step(td), team.step(td_team)
        _, rewards, *_ = pz.step(dict(zip(pz.possible_agents, u, strict=True)))
        per_cv = td["next", GROUP, "reward"].squeeze(-1).numpy()
        assert np.allclose(per_cv, [rewards[a] for a in pz.possible_agents], rtol=1e-6)
        assert np.allclose(td_team["next", GROUP, "reward"].numpy(), per_cv.sum(), rtol=1e-5)  # shares sum to it
        assert bool(td["next", "done"]) == (t == cfg.episode_slots - 1)
        td, td_team = td["next"], td_team["next"]
    assert "state" not in make_env(cfg, overrides=["twin.enabled=false"]).reset()  # zeros without a twin


def test_a_torchrl_policy_is_evaluated_as_the_packages_own():
    cfg = load_config(None, ["num_cvs=3"])
    dim = 1 + 3 * cfg.num_rsus

    class Centre:  # the same policy written against the batched core
        name = "centre"

        def reset(self, env):
            pass

        def act(self, env, obs):
            return from_centred(np.full((*obs.shape[:2], dim), 0.25), env.num_rsus)

    centred = TensorDictPolicy(constant_module(dim, 0.25), actions="centred")
    wrapped = evaluate_policy(centred, cfg, 2, 0, progress=False)["summary"]
    direct = evaluate_policy(Centre(), cfg, 2, 0, progress=False)["summary"]
    assert {k: v for k, v in wrapped.items() if k != "policy"} == {k: v for k, v in direct.items() if k != "policy"}
    box = TensorDictPolicy(constant_module(dim, 1.5))  # the default, as make_env's
    env = parallel_env(cfg).core
    obs, _ = env.reset(seed=0)
    assert (box.act(env, obs) == 1.0).all()  # clipped into the box
    with pytest.raises(ValueError, match="actions: must be 'box' or 'centred'"):
        TensorDictPolicy(box.module, actions="tanh")


def test_the_benchmarl_task_and_its_config(tmp_path):
    task = IsacTask.DEFAULT.get_task()
    assert task.config == {"scenario": None, "overrides": [], "twin": True, "actions": "box", "reward": "per_cv"}
    env = task.get_env_fun(num_envs=2, continuous_actions=True, seed=0, device="cpu")
    first, second = env(), env()
    assert task.state_spec(first) is not None and task.max_steps(first) == 30 and task.action_mask_spec(first) is None
    assert list(task.observation_spec(first)[GROUP].keys()) == ["observation"]
    obs = first.reset()[GROUP, "observation"]
    assert not torch.equal(obs, second.reset()[GROUP, "observation"])  # each env of a factory has its own seed
    again = task.get_env_fun(num_envs=2, continuous_actions=True, seed=0, device="cpu")()
    assert torch.equal(again.reset()[GROUP, "observation"], obs)  # and the same seed gives the same envs

    path = tmp_path / "task.yaml"
    path.write_text("defaults: [isac_iov_default_config]\ntwin: false\noverrides: [num_cvs=3]\nreward: team\n")
    small = IsacTask.DEFAULT.get_from_yaml(str(path))
    assert small.options.actions == "box" and small.scenario.num_cvs == 3 and not small.scenario.twin.enabled
    built = small.get_env_fun(num_envs=1, continuous_actions=True, seed=1, device="cpu")()
    assert small.state_spec(built) is None and small.group_map(built) == {GROUP: ["cv_0", "cv_1", "cv_2"]}
    for text, message in (
        ("rewards: team\n", r"unknown IsacTask option\(s\) \['rewards'\]"),
        ("actions: tanh\n", "IsacTask actions: must be one of"),
        ("twin: maybe\n", "IsacTask twin: must be true or false"),
        ("- twin\n", "expected a mapping of IsacTask options"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            IsacTask.DEFAULT.get_from_yaml(str(path))


@pytest.mark.parametrize(("module", "extra"), [("torchrl", "torchrl"), ("benchmarl", "benchmarl")])
def test_an_integration_without_its_extra_names_the_extra(monkeypatch, module, extra):
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    for name in ("isac_iov.integrations.benchmarl", "isac_iov.integrations.torchrl"):
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError) as caught:
        importlib.import_module(f"isac_iov.integrations.{module}")
    message = str(caught.value)
    assert "\n" not in message and f"optional extra {extra!r}" in message and f"isac-iov[{extra}]" in message


class ImportWatch(importlib.abc.MetaPathFinder):
    """Records every attempt to import ``package`` (or a submodule) while it is first on ``sys.meta_path``."""

    def __init__(self, package: str):
        self.package, self.seen = package, []

    def find_spec(self, name, path=None, target=None):  # finds nothing: the other finders decide
        if name.split(".")[0] == self.package:
            self.seen.append(name)


def test_benchmarl_mappo_improves_the_reward_on_the_task(tmp_path, one_thread, monkeypatch):
    torchvision = ImportWatch("torchvision")  # BenchMARL requires it, nothing may import it (constraints.txt)
    monkeypatch.setattr(sys, "meta_path", [torchvision, *sys.meta_path])
    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    config = ExperimentConfig.get_from_yaml()  # BenchMARL's defaults, but a short budget learning fast
    config.max_n_frames, config.on_policy_collected_frames_per_batch = 3000, 600
    config.on_policy_n_envs_per_worker, config.on_policy_minibatch_size = 2, 200
    config.on_policy_n_minibatch_iters, config.lr = 4, 5e-4
    config.loggers, config.evaluation, config.create_json, config.save_folder = [], False, False, str(tmp_path)
    task = IsacTask.DEFAULT.get_task()
    experiment = Experiment(
        task=task,
        algorithm_config=MappoConfig.get_from_yaml(),
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=0,
        config=config,
    )
    policy = TensorDictPolicy(experiment.policy)
    before = episode_rewards(policy, task.scenario)
    experiment.run()
    assert experiment.total_frames == 3000
    assert_improved(before, episode_rewards(policy, task.scenario))
    assert torchvision.seen == [] and "torchvision" not in sys.modules


def test_the_torchrl_example_improves_the_reward(one_thread):
    spec = importlib.util.spec_from_file_location("torchrl_mappo", ROOT / "examples" / "torchrl_mappo.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    sys.modules["torchrl_mappo"] = example  # for its dataclass
    try:
        spec.loader.exec_module(example)
        args, cfg = example.Args(episodes=48, episodes_per_batch=8), load_config(None)
        torch.manual_seed(args.seed)  # the actor train() starts from
        env = make_env(cfg, seed=args.seed, actions=args.actions)
        before = episode_rewards(TensorDictPolicy(example.make_actor(env, args), actions=args.actions), cfg)
        after = episode_rewards(TensorDictPolicy(example.train(args, cfg), actions=args.actions), cfg)
        assert_improved(before, after)
    finally:
        del sys.modules["torchrl_mappo"]
