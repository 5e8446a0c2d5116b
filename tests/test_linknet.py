"""The per-link actor body (``algo.actor=link``, :mod:`isac_iov.learners.linknet`): one set of weights whatever the
number of CVs and RSUs, equivariant to the order of the RSUs, decentralised, usable by every learner, and a trained
actor acts on scenarios it never saw."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from isac_iov.cli import main
from isac_iov.config import load_config
from isac_iov.env.core import BatchedEnv, dims
from isac_iov.env.rollout import rollout
from isac_iov.learners import REGISTRY, load_policy
from isac_iov.learners.common import EnvSpec, make_algo_config
from isac_iov.learners.linknet import (
    EXCHANGE_ROUNDS,
    LINK_INPUT,
    LinkInputs,
    LinkNet,
    LinkNorm,
    LinkQ,
    LinkScenario,
    _rsu_mean,
)

CITY = "src/isac_iov/scenarios/city.yaml"
OTHER = ["num_cvs=7", "rsu.x_m=[0, 150, 300, 450]", "rsu.cpu_max_hz=15.0e9"]


def _obs(overrides: list[str], config: str | None = None, num_envs: int = 3, seed: int = 0) -> tuple[np.ndarray, list]:
    cfg = load_config(config, overrides)
    env = BatchedEnv(cfg, num_envs, seed=seed)
    obs, _ = env.reset()
    return obs, list(dims(cfg).own_names)


def _actor(own_names, hidden: int = 16, seed: int = 0) -> tuple[LinkNorm, LinkNet]:
    torch.manual_seed(seed)
    norm = LinkNorm(LinkScenario(tuple(own_names)))
    net = LinkNet(hidden, heads=1, init=(-3.0, 0.0, 0.0, -2.0), out_gain=1.0)
    return norm, net


def _permute_rsus(obs: np.ndarray, names: list, perm: np.ndarray) -> np.ndarray:
    """``obs`` with its RSUs reordered by ``perm`` in every per-RSU block (links, backlogs, loads)."""
    d = dims(load_config(None, [f"num_cvs={obs.shape[1]}"]))
    k, own = len(perm), len(names)
    out = obs.copy()
    for f in range(3):  # distance, coverage, spectral efficiency
        block = slice(own + f * k, own + (f + 1) * k)
        out[..., block] = obs[..., block][..., perm]
    t = d.cv_feature_dim
    out[..., t : t + k] = obs[..., t : t + k][..., perm]
    loads = obs[..., t + k + 3 :].reshape(*obs.shape[:-1], k, 4)
    out[..., t + k + 3 :] = loads[..., perm, :].reshape(*obs.shape[:-1], 4 * k)
    return out


def test_one_network_for_every_scenario_and_every_rsu_order():
    small, names = _obs([])
    city, city_names = _obs([], CITY, num_envs=1)
    norm, net = _actor(names)
    norm.update(torch.as_tensor(small, dtype=torch.float32))
    out_small = net(norm(torch.as_tensor(small, dtype=torch.float32)))
    assert out_small.shape == (3, 5, 1 + 3 * 3)
    norm.retarget(LinkScenario(tuple(city_names)))
    out_city = net(norm(torch.as_tensor(city, dtype=torch.float32)))
    assert out_city.shape == (1, 50, 1 + 3 * 16) and torch.isfinite(out_city).all()
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in LinkNet(16).parameters())
    assert norm.link_norm.mean.shape == (LINK_INPUT,)
    # the same action whatever order the RSUs come in: the outputs are permuted with them
    norm.retarget(LinkScenario(tuple(names)))
    perm = np.array([2, 0, 1])
    permuted = net(norm(torch.as_tensor(_permute_rsus(small, names, perm), dtype=torch.float32)))
    k = 3
    for part in range(3):
        block = slice(1 + part * k, 1 + (part + 1) * k)
        assert torch.allclose(permuted[..., block], out_small[..., block][..., perm], atol=1e-6)
    assert torch.allclose(permuted[..., 0], out_small[..., 0], atol=1e-6)


def test_a_cv_acts_on_its_own_observation_alone():
    obs, names = _obs(["num_cvs=4"])
    norm, net = _actor(names)
    base = net(norm(torch.as_tensor(obs, dtype=torch.float32)))
    changed = obs.copy()
    changed[:, 1:] = (
        np.random.default_rng(1).permutation(changed[:, 1:].reshape(-1, obs.shape[-1])).reshape(changed[:, 1:].shape)
    )
    after = net(norm(torch.as_tensor(changed, dtype=torch.float32)))
    assert torch.equal(after[:, 0], base[:, 0])


def test_out_of_coverage_links_get_the_masked_constant_and_the_initial_policy_is_the_configured_one():
    obs, names = _obs([])
    norm, net = _actor(names)
    net = LinkNet(16, init=(-3.0, 0.5, 0.0, -2.0))  # default out_gain: outputs start at the initial pre-action
    out = net(norm(torch.as_tensor(obs, dtype=torch.float32)))
    reach = obs[..., dims(load_config(None, [])).link("in_coverage")] > 0.5
    k = 3
    task, cpu = out[..., 1 : 1 + k].detach().numpy(), out[..., 1 + 2 * k :].detach().numpy()
    assert np.all(task[~reach] == -4.0) and np.allclose(task[reach], 0.5, atol=0.05)
    assert np.allclose(cpu[reach], -2.0, atol=0.05) and np.allclose(out[..., 0].detach(), -3.0, atol=0.05)


@pytest.mark.parametrize("body", ["link", "exchange"])
@pytest.mark.parametrize("algo", list(REGISTRY))
def test_every_learner_takes_the_link_bodies_and_acts_on_another_scenario(algo, body):
    cfg = load_config(None, ["num_cvs=3", "episode_slots=3"])
    spec = REGISTRY[algo]
    learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, {"actor": body, "hidden": 16}))
    net = next(m for m in learner.actor.modules() if isinstance(m, LinkNet))
    assert len(net.chi) == (EXCHANGE_ROUNDS if body == "exchange" else 0)
    env = BatchedEnv(cfg, learner.num_envs, seed=0)
    for t, step in enumerate(rollout(env, learner.explore)):
        learner.record(step, t)
    learner.end_iteration(learner.num_envs)
    other, names = _obs(OTHER)
    learner.actor.obs_norm.retarget(LinkScenario(tuple(names)))
    action = learner.actor.mean_action(torch.as_tensor(other, dtype=torch.float32))
    assert action.shape == (3, 7, 1 + 3 * 4) and ((action >= 0) & (action <= 1)).all()


@pytest.mark.parametrize("algo", ["ly-maddpg", "ly-matd3", "ly-masac"])
def test_off_policy_link_critics_learn_from_the_replay(algo):
    cfg = load_config(None, ["num_cvs=3", "episode_slots=5"])
    spec = REGISTRY[algo]
    overrides = {"actor": "link", "critic_state": "link", "hidden": 16, "warmup_episodes": 4, "batch_size": 32}
    learner = spec.learner(EnvSpec.from_config(cfg), make_algo_config(spec.config, overrides))
    assert isinstance(learner.critic, LinkQ) and learner.summary and learner.pooled
    env = BatchedEnv(cfg, learner.num_envs, seed=0)
    losses = []
    for _ in range(4):
        for t, step in enumerate(rollout(env, learner.explore)):
            learner.record(step, t)
        losses.append(learner.end_iteration(learner.num_envs))
    assert learner.updates > 0 and all(np.isfinite(v) for d in losses[1:] for v in d.values())
    # the critic standardises what it reads: its link statistics moved off their initial values
    assert not torch.allclose(learner.critic.obs_norm.link_norm.mean, torch.zeros(LINK_INPUT))


def test_a_trained_link_actor_is_evaluated_on_other_cvs_and_rsus_and_a_flat_one_says_why_not(tmp_path, error_line):
    sets = ["--set=num_cvs=3", "--set=episode_slots=4", "--set=algo.num_envs=2", "--set=algo.hidden=16"]
    train = ["train", "--algo", "ly-dtmpo", "--episodes", "2", "--no-progress"]
    assert main([*train, "--out", str(tmp_path / "link"), *sets, "--set=algo.actor=link"]) == 0
    assert main([*train, "--out", str(tmp_path / "flat"), *sets]) == 0
    assert load_policy(tmp_path / "link").any_scenario and not load_policy(tmp_path / "flat").any_scenario
    other = [f"--set={s}" for s in OTHER] + ["--set=episode_slots=4"]
    out = tmp_path / "other.json"
    evaluate = ["evaluate", "--episodes", "2", "--quiet", "--no-slots"]
    assert main([*evaluate, "--policy", str(tmp_path / "link"), *other, "--out", str(out)]) == 0
    assert '"num_rsus": 4' in out.read_text() and '"num_cvs": 7' in out.read_text()
    assert main([*evaluate, "--policy", str(tmp_path / "flat"), *other]) == 2
    assert "algo.actor=link or exchange acts on any scenario" in error_line("evaluate")


def test_ly_dtmpo_with_the_link_body_learns_on_the_paper_scenario(tmp_path):
    from isac_iov.evaluate import evaluate_policy
    from isac_iov.learners.train import train_run

    cfg = load_config(None, [])

    def cost(episodes: int) -> float:
        run = train_run(
            "ly-dtmpo", cfg, episodes, 0, tmp_path / str(episodes), algo_overrides={"actor": "link"}, progress=False
        )
        return evaluate_policy(load_policy(run), cfg, 4, 0, record_slots=False, progress=False)["summary"]["cost"]

    start, trained = cost(8), cost(240)
    assert trained < 0.9 * start, (start, trained)


def test_a_link_input_carries_the_rsu_cpu_per_slot_in_mean_tasks():
    # Table II: 20 GHz, 10 % twin reserve, 1 s slots, tasks of 1-3 Mbit at 1500-2000 cycles/bit (mean 3.5 Gcycles)
    cfg = load_config(None, [])
    assert LinkScenario.of(cfg).rsu_tasks_per_slot == pytest.approx(20e9 * 0.9 / (2e6 * 1750))
    scarce = load_config(None, ["rsu.cpu_max_hz=10e9"])
    obs, _ = BatchedEnv(cfg, 2, seed=0).reset()
    x = torch.as_tensor(obs, dtype=torch.float32)
    links = [LinkNorm(LinkScenario.of(c)).raw(x).links[:, -1] for c in (cfg, scarce)]
    assert torch.allclose(links[0], torch.full_like(links[0], np.log(20e9 * 0.9 / 3.5e9)))
    assert torch.allclose(links[0] - links[1], torch.full_like(links[0], np.log(2.0)))


def _q_input(obs: np.ndarray, actions: torch.Tensor) -> torch.Tensor:
    """``[obs, own action, the others' summed]`` as the off-policy learners give their critics."""
    return torch.cat([torch.as_tensor(obs, dtype=torch.float32), actions, actions.sum(-2, keepdim=True) - actions], -1)


def _permute_rsu_actions(a: torch.Tensor, perm: np.ndarray) -> torch.Tensor:
    k = len(perm)
    out = a.clone()
    for part in range(3):
        block = slice(1 + part * k, 1 + (part + 1) * k)
        out[..., block] = a[..., block][..., perm]
    return out


def test_the_link_q_critic_fits_any_scenario_and_reads_the_load_at_its_rsus():
    small, names = _obs([])
    city, city_names = _obs([], CITY, num_envs=1)
    torch.manual_seed(0)
    q = LinkQ(LinkScenario(tuple(names)), hidden=16, copies=2)
    a = torch.rand(3, 5, 10)
    out = q(_q_input(small, a))
    assert out.shape == (3, 2, 5) and not torch.allclose(out[:, 0], out[:, 1])  # two independent copies
    # the CVs' order and the RSUs' order change nothing but the order of the values
    cvs = torch.tensor([3, 1, 4, 0, 2])
    moved = q(_q_input(small[:, cvs.numpy()], a[:, cvs]))
    assert torch.allclose(moved, out[..., cvs], atol=1e-5)
    perm = np.array([2, 0, 1])
    rsus = q(_q_input(_permute_rsus(small, names, perm), _permute_rsu_actions(a, perm)))
    assert torch.allclose(rsus, out, atol=1e-5)
    # a CV's value moves with the other CVs' CPU requests at an RSU it reaches, not at one it does not reach
    cover = torch.as_tensor(small[..., len(names) + 3 : len(names) + 6] > 0.5)  # in_coverage block
    env, cv = next((e, i) for e in range(3) for i in range(5) if cover[e, i].any() and not cover[e, i].all())
    inside, outside = int(cover[env, cv].nonzero()[0]), int((~cover[env, cv]).nonzero()[0])
    x = _q_input(small, a)
    for rsu, moves in ((inside, True), (outside, False)):
        bumped = x.clone()
        bumped[env, cv, -10 + 1 + 6 + rsu] += 0.5  # the others' CPU fractions at that RSU
        assert (q(bumped)[env, :, cv] != out[env, :, cv]).any() == moves
    # the same weights on the city (50 CVs, 16 RSUs)
    q.obs_norm.retarget(LinkScenario(tuple(city_names)))
    assert q(_q_input(city, torch.rand(1, 50, 49))).shape == (1, 2, 50)
    with pytest.raises(ValueError, match="do not fit"):
        q(torch.zeros(1, 5, 7))


def test_the_exchange_averages_over_the_links_to_one_rsu_in_one_env_by_hand():
    # 2 envs of 2 CVs and 2 RSUs; links (env, cv, rsu): (0,0,0) (0,0,1) (0,1,0) (1,0,0) (1,1,1)
    row, rsu = torch.tensor([0, 0, 1, 2, 3]), torch.tensor([0, 1, 0, 0, 1])
    h = torch.tensor([[1.0], [2.0], [3.0], [10.0], [20.0]])
    x = LinkInputs(h, row, rsu, torch.zeros(4, 1), torch.ones(4), (2, 2), 2)
    # RSU 0 of env 0 hears CVs 0 and 1 (mean 2); RSU 1 of env 0 only CV 0; env 1's RSUs one CV each
    assert _rsu_mean(h, x).flatten().tolist() == [2.0, 2.0, 2.0, 10.0, 20.0]


def test_with_the_exchange_a_cv_hears_the_cvs_at_its_rsus_and_no_other_env():
    obs, names = _obs(["num_cvs=4"])
    torch.manual_seed(0)
    norm, net = LinkNorm(LinkScenario(tuple(names))), LinkNet(16, out_gain=1.0, exchange=2)
    norm.update(torch.as_tensor(obs, dtype=torch.float32))
    base = net(norm(torch.as_tensor(obs, dtype=torch.float32)))
    # the CVs' order changes nothing but the order of the actions
    cvs = np.array([2, 0, 3, 1])
    assert torch.allclose(net(norm(torch.as_tensor(obs[:, cvs], dtype=torch.float32))), base[:, cvs], atol=1e-5)
    # another CV's task (in reach of the same RSUs on the paper's road) moves CV 0's action, in its env only
    changed = obs.copy()
    changed[0, 1, names.index("data_bits")] *= 3.0
    after = net(norm(torch.as_tensor(changed, dtype=torch.float32)))
    assert not torch.allclose(after[0, 0], base[0, 0]) and torch.equal(after[1:], base[1:])
