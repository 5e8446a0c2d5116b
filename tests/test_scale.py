"""Learners at city scale: network sizes independent of the number of CVs, linear memory, the pooled critic
state and the others' action summary computed by hand, short runs at 40 CVs, and the toy task solved with the
scalable options."""

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from isac_iov.actions import bandwidth_shares, rsu_cpu_hz, task_shares
from isac_iov.config import ConfigError, load_config
from isac_iov.env.core import BatchedEnv
from isac_iov.env.rollout import rollout
from isac_iov.learners import REGISTRY
from isac_iov.learners.buffers import EpisodeReplay
from isac_iov.learners.common import (
    AUTO_FORMS,
    SCALE_CVS,
    EnvSpec,
    critic_extra,
    form,
    make_algo_config,
)
from isac_iov.learners.maddpg import MADDPG, MaddpgConfig
from isac_iov.learners.mappo import MappoConfig
from isac_iov.learners.offpolicy_critics import mapped_actions
from isac_iov.learners.rewards import learns_from_replays
from isac_iov.learners.toy import train_on_toy
from isac_iov.learners.train import learner_bytes

torch.set_num_threads(1)

SCALABLE = {"agent_id": "none", "critic_state": "link", "critic_actions": "summary", "actor": "link"}
SMALL = {"agent_id": "onehot", "critic_state": "global", "critic_actions": "joint", "actor": "flat"}
TINY_ALGO = {"num_envs": 2, "hidden": 16, "batch_size": 16, "warmup_episodes": 2, "buffer_episodes": 8}


def _config(algo, extra):
    known = make_algo_config(REGISTRY[algo].config, {}).to_dict()
    return make_algo_config(REGISTRY[algo].config, {k: v for k, v in extra.items() if k in known})


def _env(cfg, num_envs, learner):
    """An env that makes the twin's replays when the learner learns from them, as the training loop's does."""
    env = BatchedEnv(cfg, num_envs, seed=0)
    env.what_if_local = learns_from_replays(learner.cfg, cfg)
    return env


def _learner(algo, num_cvs, options, slots=5):
    cfg = load_config(None, [f"num_cvs={num_cvs}", f"episode_slots={slots}"])
    return REGISTRY[algo].learner(EnvSpec.from_config(cfg), _config(algo, {**TINY_ALGO, **options})), cfg


def _parameters(learner):
    return sum(p.numel() for m in vars(learner).values() if isinstance(m, torch.nn.Module) for p in m.parameters())


@pytest.mark.parametrize("algo", list(REGISTRY))
def test_network_sizes_do_not_depend_on_the_number_of_cvs(algo):
    assert _parameters(_learner(algo, 10, SCALABLE)[0]) == _parameters(_learner(algo, 40, SCALABLE)[0])
    # "auto" keeps the small form up to SCALE_CVS CVs (the default scenario is unchanged) and scales above
    auto_small, auto_large = _learner(algo, SCALE_CVS, {})[0], _learner(algo, SCALE_CVS + 1, {})[0]
    assert _parameters(auto_small) == _parameters(_learner(algo, SCALE_CVS, SMALL)[0])
    assert _parameters(auto_large) == _parameters(_learner(algo, 40, SCALABLE)[0]) < _parameters(auto_small)


def test_auto_options_take_their_small_form_up_to_scale_cvs_and_their_scalable_form_above():
    for key, (small, large) in AUTO_FORMS.items():
        algo = "ly-maddpg" if key == "critic_actions" else "ly-dtmpo"  # the PPO learner's reward admits auto
        auto = _config(algo, {})
        assert getattr(auto, key) == "auto"
        assert (form(auto, key, SCALE_CVS), form(auto, key, SCALE_CVS + 1, twin=False)) == (small, large)
        # with the twin, an "auto" reward replays the slot above 16 CVs
        with_twin = form(auto, key, SCALE_CVS + 1)
        assert with_twin == ("difference" if key == "reward" else large)
        assert form(_config(algo, {key: large}), key, 2) == large
        choices = rf"\('auto', '{small}', '{large}'\)"
        with pytest.raises(ConfigError, match=rf"algo.{key}: expected one of {choices}, got 'x'"):
            form(dataclasses.replace(auto, **{key: "x"}), key, 2)


@pytest.mark.parametrize(
    ("algo", "small", "large"),
    [
        ("ly-maddpg", (128, 3e-5), (32, 1e-4)),
        ("ly-masac", (128, 1e-4), (64, 1e-4)),
        ("ly-matd3", (128, 6e-5), (64, 6e-5)),
    ],
)
def test_off_policy_minibatch_and_actor_step_size_follow_the_scale_unless_set(algo, small, large):
    def taken(num_cvs, options):
        learner = _learner(algo, num_cvs, {**options, "batch_size": options.get("batch_size", 0)})[0]
        return learner.batch_size, learner.actor_lr, learner.actor_opt.param_groups[0]["lr"]

    assert taken(SCALE_CVS, {}) == (*small, small[1])
    assert taken(SCALE_CVS + 1, {}) == (*large, large[1])
    assert taken(SCALE_CVS + 1, {"batch_size": 48, "actor_lr": 2e-5}) == (48, 2e-5, 2e-5)
    with pytest.raises(ConfigError, match=r"algo.batch_size: must be 0 \(auto\) or > 0, got -1"):
        make_algo_config(MaddpgConfig, {"batch_size": -1})


def test_learner_memory_grows_at_most_linearly_in_the_cvs():
    for algo in REGISTRY:
        cfg_for = {n: load_config(None, [f"num_cvs={n}"]) for n in (20, 40, 80, 160)}
        algo_cfg = _config(algo, {})  # auto: the scalable form at these sizes
        sizes = [learner_bytes(cfg_for[n], algo_cfg) for n in (20, 40, 80, 160)]
        assert all(b <= 2 * a for a, b in itertools.pairwise(sizes)), (algo, sizes)
        global_cfg = _config(algo, SMALL)  # the global critic state grows as N^2: the check can fail
        quadratic = [learner_bytes(cfg_for[n], global_cfg) for n in (80, 160)]
        assert quadratic[1] > 3 * quadratic[0], (algo, quadratic)


def test_pooled_critic_state_is_the_mean_and_spread_over_cvs():
    spec = EnvSpec(3, 4, 2, 3 * 2 + 2, 4 + 8, slice(2, 4), 5)  # 3 CVs of 2 features, a twin part of 2
    glob = torch.tensor([[1.0, 10.0, 2.0, 20.0, 6.0, 30.0, 7.0, 8.0]])
    extra = critic_extra(glob, spec, pooled=True)
    spread = [float(np.std([1.0, 2.0, 6.0])), float(np.std([10.0, 20.0, 30.0]))]
    assert torch.allclose(extra, torch.tensor([[3.0, 20.0, *spread]]))
    assert torch.equal(critic_extra(glob, spec, pooled=False), glob)


def test_action_summary_sums_the_others_shares_per_rsu():
    cfg = load_config(None, ["num_cvs=3", "rsu.x_m=[200, 500]"])  # K = 2: action (local, task 2, bw 2, cpu 2)
    summary_critic = {**SCALABLE, "critic_state": "pooled", "hidden": 8}  # an MLP critic on a summary of actions
    learner = MADDPG(EnvSpec.from_config(cfg), make_algo_config(MaddpgConfig, summary_critic))
    spec = learner.spec
    obs = torch.zeros(1, 3, spec.obs_dim)
    obs[..., spec.coverage] = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    acts = torch.tensor(
        [
            [
                [0.2, 0.6, 0.9, 0.5, 0.5, 0.4, 0.7],
                [0.0, 0.5, 0.5, 0.1, 0.3, 0.2, 0.8],
                [0.5, 0.5, 0.5, 0.9, 0.9, 0.6, 0.6],
            ]
        ]
    )
    # effective actions (isac_iov.actions): task shares (local, RSU 1, RSU 2) over reachable RSUs, bandwidth shares
    # of the used links, and CPU fractions (RSU 2 is asked for 0.8 + 0.6 = 1.4 of its CPU: both scaled by 1 / 1.4)
    eff = torch.tensor(
        [
            [0.25, 0.75, 0.0, 1.0, 0.0, 0.4, 0.0],
            [0.0, 0.5, 0.5, 0.25, 0.75, 0.2, 0.8 / 1.4],
            [0.5, 0.0, 0.5, 0.0, 1.0, 0.0, 0.6 / 1.4],
        ]
    )
    summary = learner.action_summary(obs, acts)
    for i in range(3):
        assert torch.allclose(summary[0, i], eff.sum(0) - eff[i]), i
    x = learner.critic_input(obs, torch.zeros(1, learner.critic_state_dim - spec.obs_dim), acts)
    assert x.shape == (1, 3, learner.critic_in_dim) and torch.equal(x[..., -14:-7], acts)
    assert torch.allclose(learner.effective_actions(obs, acts), eff)
    # a joint critic on effective actions sees every CV's effective action, its own replaced by ``own``
    joint = MADDPG(
        EnvSpec.from_config(cfg),
        make_algo_config(MaddpgConfig, {**SMALL, "hidden": 8, "critic_action_input": "effective"}),
    )
    glob = torch.zeros(1, joint.critic_state_dim - spec.obs_dim)
    x = joint.critic_input(obs, glob, acts)
    assert x.shape == (1, 3, joint.critic_in_dim) and torch.allclose(x[0, :, -21:], eff.flatten().expand(3, 21))
    own = torch.full((1, 3, 7), 0.5)
    own[..., 0] = 0.0  # no local part: the task goes to the only reachable RSU, or half to each
    x = joint.critic_input(obs, glob, acts, own=own)
    # critic 0: its own action mapped as above, and RSU 1's CPU asked by CVs 0 and 1 is 0.5 + 0.2 <= 1
    assert torch.allclose(x[0, 0, -21:-14], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 0.5, 0.0]))
    assert torch.allclose(x[0, 0, -14:], eff[1:].flatten())
    # critic 2: RSU 2 is asked for 0.8 (CV 1) + 0.5 (CV 2's own) = 1.3 of its CPU
    mine = torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.5 / 1.3])
    assert torch.allclose(x[0, 2, -7:], mine)
    assert torch.allclose(x[0, 2, -14:-7], torch.tensor([0.0, 0.5, 0.5, 0.25, 0.75, 0.2, 0.8 / 1.3]))


def test_mapped_actions_match_the_env_mapping():
    rng = np.random.default_rng(0)
    for sharing in ("per_cv", "per_rsu"):
        cfg = load_config(None, [f"channel.bandwidth_sharing={sharing}", "action.min_task_share=0.1"])
        spec = EnvSpec.from_config(cfg)
        acts = rng.random((64, cfg.num_cvs, spec.action_dim)) ** 3  # many small weights: parts dropped, floors hit
        acts[0, 0, :4] = 0.0  # no weight anywhere: all local
        reach = rng.random((64, cfg.num_cvs, cfg.num_rsus)) < 0.7
        got = mapped_actions(torch.tensor(acts), torch.tensor(reach, dtype=torch.float64), spec).numpy()
        local, rsu = task_shares(acts, reach, cfg.action.min_task_share)
        used = rsu > 0
        floor = cfg.action.min_resource_share
        want = [local[..., None], rsu, bandwidth_shares(acts, used, sharing, floor), rsu_cpu_hz(acts, used, 1.0, floor)]
        np.testing.assert_allclose(got, np.concatenate(want, axis=-1), atol=1e-12, err_msg=sharing)
        assert (used.sum(-1) < reach.sum(-1)).any() and (acts[..., 7:] < floor).any()  # the drop and floor ran


@pytest.mark.parametrize("algo", list(REGISTRY))
def test_every_learner_trains_at_40_cvs_with_the_scalable_options(algo):
    learner, cfg = _learner(algo, 40, {})  # auto at 40 CVs
    assert learner_bytes(cfg, learner.cfg) < 2**30
    env = _env(cfg, 2, learner)
    for _ in range(3):
        for t, step in enumerate(rollout(env, learner.explore)):
            learner.record(step, t)
        losses = learner.end_iteration(2)
    assert losses and all(np.isfinite(v) for v in losses.values()), losses
    assert getattr(learner, "updates", 1) > 0


@pytest.mark.parametrize("algo", ["ly-dtmpo", "ly-maddpg"])
def test_scalable_options_solve_the_toy_task(algo):
    # the budgets of tests/test_learner_sanity.py, with one network (no agent id), a pooled critic state and,
    # off-policy, one shared critic on the own action and the sum of the others' actions
    no_links = {"actor": "flat", "critic_state": "pooled"}  # the toy task has no RSU links
    common = {"hidden": 32, "torch_threads": 1, "init_local_logit": 0.0, **SCALABLE, **no_links}
    off_policy = {**common, "actor_lr": 1e-3, "batch_size": 128}
    overrides, iterations = (common, 150) if algo == "ly-dtmpo" else (off_policy, 200)
    run = train_on_toy(algo, iterations, seed=0, overrides=_config(algo, overrides).to_dict(), eval_every=50)
    assert run["optimality_gap"] <= 0.05, run["curve"]


def test_scale_options_are_validated():
    with pytest.raises(ConfigError, match=r"algo.agent_id: must be one of \('auto', 'onehot', 'none'\), got 'id'"):
        make_algo_config(MappoConfig, {"agent_id": "id"})
    with pytest.raises(ConfigError, match=r"algo.critic_state: must be one of .*got 'full'"):
        make_algo_config(MaddpgConfig, {"critic_state": "full"})
    with pytest.raises(ConfigError, match=r"algo.critic_actions: must be one of .*got 'shared'"):
        make_algo_config(MaddpgConfig, {"critic_actions": "shared"})
    with pytest.raises(ConfigError, match=r"algo.critic_action_input: must be one of \('raw', 'effective'\)"):
        make_algo_config(MaddpgConfig, {"critic_action_input": "shares"})
    with pytest.raises(ConfigError, match="unknown algorithm key algo.critic_actions"):
        make_algo_config(MappoConfig, {"critic_actions": "summary"})


def test_replay_keeps_the_twin_part_once_per_env_slot():
    replay = EpisodeReplay(4, 3, 5, obs_dim=6, global_state_dim=2, action_dim=1, common_from=4)
    obs = torch.rand(2, 4, 5, 6)
    obs[..., 4:] = torch.rand(2, 4, 1, 2)  # the twin's part: the same for every agent
    replay.add_episodes(obs, torch.rand(2, 4, 2), torch.rand(2, 3, 5, 1), torch.rand(2, 3, 5))
    assert replay.obs.shape == (4, 4, 5, 4) and replay.common.shape == (4, 4, 2)
    torch.manual_seed(0)
    batch = replay.sample(64)
    torch.manual_seed(0)
    row, t = torch.randint(2, (64,)), torch.randint(3, (64,))
    assert torch.equal(batch["obs"], obs[row, t]) and torch.equal(batch["next_obs"], obs[row, t + 1])
    obs[0, 0, 3, 5] += 1.0
    with pytest.raises(ValueError, match="observation entries 4.. differ between agents"):
        replay.add_episodes(obs, torch.rand(2, 4, 2), torch.rand(2, 3, 5, 1), torch.rand(2, 3, 5))


def test_ppo_learns_from_the_twins_replays_above_16_cvs_and_from_its_neighbours_shares_without_the_twin():
    assert _learner("ly-dtmpo", SCALE_CVS, {})[0].reward == "team"
    assert _learner("ly-dtmpo", SCALE_CVS + 1, {})[0].reward == "difference"
    assert _learner("ly-dtmpo", 200, {})[0].reward == "difference"
    blind = load_config(None, [f"num_cvs={SCALE_CVS + 1}", "episode_slots=5", "twin.enabled=false"])
    mappo = REGISTRY["ly-mappo"].learner(EnvSpec.from_config(blind), _config("ly-mappo", TINY_ALGO))
    assert mappo.reward == "neighbours"
    seen = load_config(None, [f"num_cvs={SCALE_CVS + 1}"])
    dtmpo = _config("ly-dtmpo", {})
    assert learns_from_replays(dtmpo, seen) and not learns_from_replays(dtmpo, blind)
    assert not learns_from_replays(_config("ly-maddpg", {}), seen)  # no such form: no replays to pay for
    assert _learner("ly-dtmpo", 40, {"reward": "team"})[0].reward == "team"
    assert _learner("ly-dtmpo", 40, {"reward": "per_cv"})[0].reward == "per_cv"
    with pytest.raises(ConfigError, match=r"algo.reward: must be one of \('team', 'per_cv'\), got 'auto'"):
        make_algo_config(MaddpgConfig, {"reward": "auto"})  # the off-policy learners have no 'auto' reward


@pytest.mark.parametrize(
    ("num_cvs", "minibatch", "steps"), [(5, "auto", 2 * 2), (40, "agents", 2 * 10), (40, "auto", 2 * 2)]
)
def test_ppo_minibatches_take_the_papers_steps_per_iteration_above_16_cvs(num_cvs, minibatch, steps):
    # 4 envs x 30 slots = 120 slots, 2 epochs, 512 agent-transitions per minibatch: 102 slots of 5 CVs (102 + 18
    # per epoch), 12 slots of 40 CVs (10 per epoch); above 16 CVs "auto" keeps the 5-CV scenario's 102 slots
    options = {"num_envs": 4, "hidden": 16, "epochs": 2, "batch_size": 512, "minibatch": minibatch}
    learner, cfg = _learner("ly-dtmpo", num_cvs, options, slots=30)
    env = _env(cfg, 4, learner)
    for t, step in enumerate(rollout(env, learner.explore)):
        learner.record(step, t)
    sizes = []
    update = learner._update
    learner._update = lambda batch: sizes.append(len(batch["obs"])) or update(batch)
    learner.end_iteration(4)
    assert len(sizes) == steps and sum(sizes) == 2 * 120
