"""The batched core: invariants, queue dynamics through steps, coverage, modes, twin, determinism."""

import itertools

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from isac_iov import BatchedEnv, ConfigError, load_config, parallel_env
from isac_iov.actions import ActionError
from isac_iov.env.core import MemoryEstimateError, critic_states, dims, estimate_memory_bytes
from isac_iov.slot import evaluate


def _random_episode(env, rng):
    env.reset()
    steps = []
    while True:
        st = env.step(rng.uniform(size=(env.num_envs, env.num_cvs, env.action_dim)))
        steps.append(st)
        if st.done:
            return steps


VARIANT_SLOTS = ["episode_slots=12"]  # a short episode per config variant keeps the suite's time


def test_invariants_over_random_episodes(variant):
    cfg = load_config(None, variant + VARIANT_SLOTS)
    env = BatchedEnv(cfg, num_envs=8, seed=3)
    steps = _random_episode(env, np.random.default_rng(0))
    assert len(steps) == cfg.episode_slots
    for st in steps:
        o, q = st.outcome, st.queues
        ln = o.links
        assert np.allclose(ln.share_local + ln.share_rsu.sum(-1), 1.0)  # C5
        assert not (ln.used & ~ln.reachable).any()  # coverage
        axis = -1 if cfg.channel.bandwidth_sharing == "per_cv" else -2
        assert (ln.bandwidth.sum(axis) <= 1 + 1e-12).all()  # C4
        assert (ln.rsu_cpu_hz.sum(-2) <= env.scn.rsu_available_hz * (1 + 1e-12)).all()  # C6
        for arr in (q.local_cycles, q.rsu_cycles, q.energy_j, o.energy_j, o.delay_s, o.cost):
            assert (arr >= 0).all() and np.isfinite(arr).all()
        assert np.isfinite(st.reward).all() and np.isfinite(st.obs).all() and np.isfinite(st.critic_state).all()
        assert st.obs.shape == (8, cfg.num_cvs, env.obs_dim)
        assert np.allclose(
            o.reward, -(cfg.lyapunov.v_control * o.system_cost + o.drift_local + o.drift_rsu + o.drift_energy)
        )
        assert np.allclose(o.reward_per_cv.sum(-1), o.reward)


def test_queue_updates_through_steps_eq16_eq17_eq27(variant):
    cfg = load_config(None, variant + VARIANT_SLOTS)
    env = BatchedEnv(cfg, num_envs=4, seed=1)
    steps = _random_episode(env, np.random.default_rng(1))
    cpu, budget = env.phys.cpu_hz, cfg.lyapunov.energy_budget_j_per_cv
    for prev, nxt in itertools.pairwise(steps):
        o = prev.outcome
        expect_loc = np.maximum(prev.queues.local_cycles - cpu + o.local_arrivals, 0)
        expect_rsu = np.maximum(prev.queues.rsu_cycles - o.rsu_service_hz + o.rsu_backlog_arrivals, 0)
        if cfg.lyapunov.energy_queue == "per_cv":
            expect_v = np.maximum(prev.queues.energy_j - budget + o.energy_j, 0)
        else:  # one system-wide queue against the whole budget, seen by every CV
            expect_v = np.maximum(prev.queues.energy_j - budget * cfg.num_cvs + o.energy_j.sum(-1, keepdims=True), 0)
        assert np.allclose(nxt.queues.local_cycles, expect_loc)
        assert np.allclose(nxt.queues.rsu_cycles, expect_rsu)
        assert np.allclose(nxt.queues.energy_j, expect_v)


def test_littles_law_window_matches_history():
    cfg = load_config(None, ["lyapunov.window_slots=4", "lyapunov.queue_delay=littles_law"])
    env = BatchedEnv(cfg, num_envs=2, seed=5)
    steps = _random_episode(env, np.random.default_rng(2))
    q = np.stack([s.queues.local_cycles for s in steps])
    lam = np.stack([s.outcome.local_arrivals for s in steps])
    for t in range(len(steps)):
        lo = max(0, t - 3)
        expect = np.where(
            lam[lo : t + 1].sum(0) > 0, q[lo : t + 1].sum(0) / np.maximum(lam[lo : t + 1].sum(0), 1e-300), 0
        )
        assert np.allclose(steps[t].outcome.local_queue_delay_s, expect)


def test_local_only_never_offloads_and_queues_grow():
    env = BatchedEnv(load_config(), num_envs=8, seed=0)
    env.reset()
    a = np.zeros((8, 5, 10))
    a[..., 0] = 1.0
    for _ in range(30):
        st = env.step(a)
        assert (st.outcome.links.share_local == 1).all() and st.outcome.eta.sum() == 0
    # a mean task (3.5 Gcycles) exceeds a 2-3 GHz CPU's slot: the local backlog builds up
    assert st.queues.local_cycles.mean() > 3.5e9


def test_coverage_masks_unreachable_rsus():
    # CV parked at x = 650 m: RSU at 500 m (150 m) reachable, 350 m and 200 m (>= 300 m) not
    cfg = load_config(None, ["num_cvs=1", "vehicle.initial_x_m=[650, 650]", "vehicle.speed_mps=[0, 0]"])
    env = BatchedEnv(cfg, num_envs=1, seed=0)
    env.reset()
    st = env.step(np.ones((1, 1, 10)))
    assert st.outcome.links.reachable[0, 0].tolist() == [False, False, True]
    assert st.outcome.links.share_rsu[0, 0, :2].tolist() == [0.0, 0.0]
    assert st.outcome.links.share_rsu[0, 0, 2] == pytest.approx(0.5)


def test_mode_selection_in_env_both_sides():
    a = np.zeros((8, 5, 10))
    a[..., 1:] = 1.0
    wide = BatchedEnv(load_config(), 8, seed=0)
    wide.reset()
    assert wide.step(a).outcome.eta.sum() == 0  # 20 MHz: DataT uploads take milliseconds
    narrow = BatchedEnv(load_config(None, ["channel.bandwidth_hz=20e3"]), 8, seed=0)
    narrow.reset()
    o = narrow.step(a).outcome
    assert o.eta[o.links.used].all()  # 20 kHz: InstrT wins on every used link
    assert np.allclose(o.upload_s[o.links.used], o.links.instrt_s[o.links.used])


def test_reward_equals_p2_objective_on_snapshot():
    env = BatchedEnv(load_config(), 4, seed=2)
    env.reset()
    rng = np.random.default_rng(3)
    for _ in range(5):
        a = rng.uniform(size=(4, 5, 10))
        phys, q = env.snapshot()
        expect = evaluate(env.scn, phys, q, a).objective
        assert np.allclose(env.step(a).reward, -expect)


def test_same_seed_bit_identical(variant):
    runs = []
    for _ in range(2):
        env = BatchedEnv(load_config(None, variant + VARIANT_SLOTS), 3, seed=11)
        steps = _random_episode(env, np.random.default_rng(7))
        runs.append((np.stack([s.obs for s in steps]), np.stack([s.reward for s in steps])))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


def test_dt_absent_zeroes_only_twin_fields():
    on = BatchedEnv(load_config(), 2, seed=4)
    off = BatchedEnv(load_config(None, ["twin.enabled=false"]), 2, seed=4)
    rng = np.random.default_rng(0)
    on.reset()
    off.reset()
    for _ in range(5):
        a = rng.uniform(size=(2, 5, 10))
        a[..., 7:] *= 0.05  # little RSU CPU: load and backlog
        s_on, s_off = on.step(a), off.step(a)
    f = on.cv_feature_dim
    assert np.array_equal(s_on.obs[..., :f], s_off.obs[..., :f])  # own features identical
    assert (s_off.obs[..., f:] == 0).all() and (s_on.obs[..., f:] != 0).any()
    assert (s_off.critic_state[..., on.obs_dim :] == 0).all()  # no global view without a twin
    assert (off.global_state() == 0).all() and (on.global_state() != 0).any()


def test_twin_lag_and_noise():
    cfg = load_config(None, ["twin.lag_slots=2", "rsu.service=allocated"])
    env = BatchedEnv(cfg, 2, seed=0)
    env.reset()
    a = np.zeros((2, 5, 10))
    a[..., 1:7] = 1.0
    a[..., 7:] = 0.02  # little CPU: RSU backlog builds
    backlog = []
    for _ in range(6):
        backlog.append(env.queues.state.rsu_cycles.copy())
        env.step(a)
    backlog.append(env.queues.state.rsu_cycles.copy())
    _, q_view, g, _ = env.twin.global_view()
    assert np.array_equal(q_view, backlog[-3]) and not np.array_equal(q_view, backlog[-1])
    assert np.allclose(g[:, 0], q_view.sum(-1)) and np.allclose(g[:, 2], q_view.max(-1))
    noisy = BatchedEnv(load_config(None, ["twin.noise_std=0.5", "rsu.service=allocated"]), 2, seed=0)
    noisy.reset()
    for _ in range(3):
        noisy.step(a)
    _, qn, _, load = noisy.twin.global_view()
    assert (qn >= 0).all() and (load >= 0).all() and not np.array_equal(qn, noisy.queues.state.rsu_cycles)
    # one noise draw per slot: observations, the global state and the critic states built from them agree
    obs, glob = noisy._observe_all()
    assert np.array_equal(noisy.global_state(), noisy.global_state())
    again_obs, again_glob = noisy._observe_all()
    assert np.array_equal(obs, again_obs) and np.array_equal(glob, again_glob)
    assert np.array_equal(glob, noisy.global_state())
    assert np.array_equal(obs[..., noisy.cv_feature_dim :], np.repeat(glob[:, None, -noisy.twin_feature_dim :], 5, 1))
    critic = critic_states(obs, glob)
    assert np.array_equal(critic[..., : noisy.obs_dim], obs) and np.array_equal(critic[:, 3, noisy.obs_dim :], glob)


def test_bad_actions_and_misuse():
    env = BatchedEnv(load_config(), 2, seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((2, 5, 10)))
    env.reset()
    a = np.full((2, 5, 10), 0.5)
    a[0, 1, 2] = np.nan
    with pytest.raises(ActionError, match="non-finite"):
        env.step(a)
    assert env.t == 0  # nothing was played
    with pytest.raises(ActionError, match="shape"):
        env.step(np.zeros((2, 4, 10)))
    with pytest.raises(ValueError, match="num_envs"):
        BatchedEnv(load_config(), 0)


def test_pettingzoo_api_and_seed(variant):
    parallel_api_test(parallel_env(seed=0, overrides=variant), num_cycles=35)
    parallel_seed_test(lambda: parallel_env(overrides=variant))


def test_pettingzoo_view_of_two_cvs():
    env = parallel_env(overrides=["num_cvs=2"])
    obs, _ = env.reset(seed=1)
    assert set(obs) == {"cv_0", "cv_1"} and obs["cv_0"].shape == env.observation_space("cv_0").shape
    _, rew, _, trunc, info = env.step({a: env.action_space(a).sample() for a in env.agents})
    assert rew["cv_0"] == rew["cv_1"] and not trunc["cv_0"]
    assert {"delay_s", "energy_j", "instrt", "local_queue_cycles", "cost"} <= set(info["cv_1"])
    assert env.state().shape == env.state_space.shape


def test_batched_env_checks_seed_and_memory():
    for seed in (-1, 2**63, "a", 1.5):
        with pytest.raises(ConfigError, match=r"seed: must be an integer in \[0, 2\*\*63 - 1\]"):
            BatchedEnv(load_config(), 1, seed=seed)
    env = BatchedEnv(load_config(), 1, seed=np.int64(3))
    with pytest.raises(ConfigError, match="seed"):
        env.reset(seed=-5)
    with pytest.raises(MemoryEstimateError, match=r"num_cvs=1000000 .* TiB of memory \(estimated\)"):
        BatchedEnv(load_config(None, ["num_cvs=1000000"]), 1000)
    assert estimate_memory_bytes(load_config(), 2, extra_bytes=7) == 2 * estimate_memory_bytes(load_config(), 1) + 7


def _pz_env():
    env = parallel_env(overrides=["num_cvs=2", "episode_slots=2"])
    return env, {a: np.full(env.core.action_dim, 0.5) for a in env.possible_agents}


def test_pettingzoo_step_outside_an_episode():
    env, good = _pz_env()
    with pytest.raises(RuntimeError, match=r"step\(\) before reset\(\): call reset\(\) first"):
        env.step(good)
    env.reset(seed=0)
    env.step(good)
    env.step(good)
    assert env.agents == []
    for actions in (good, {}):
        with pytest.raises(RuntimeError, match=r"the episode is over; call reset\(\) first"):
            env.step(actions)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (
            {"cv_1": np.full(7, 0.5)},
            ("action of cv_1: expected a finite array of shape (10,) = (1+3K,) with entries in [0, 1], got shape (7,)"),
        ),
        ({"cv_0": np.full((1, 10), 0.5)}, "action of cv_0: expected a finite array of shape (10,)"),
        (
            {"cv_0": None},
            (
                "action of cv_0: expected a finite array of shape (10,) = (1+3K,) with entries in [0, 1], "
                "got NoneType None"
            ),
        ),
        (
            {"cv_1": "0.5"},
            ("action of cv_1: expected a finite array of shape (10,) = (1+3K,) with entries in [0, 1], got str '0.5'"),
        ),
        ({"cv_1": [1j] * 10}, "action of cv_1: expected"),
        ({"cv_1": [[0.5], [0.5, 0.5]]}, "action of cv_1: expected"),
        (
            {"cv_0": [0.5] * 9 + [np.nan]},
            (
                "action of cv_0: expected a finite array of shape (10,) = (1+3K,) with "
                "entries in [0, 1], got nan at index 9"
            ),
        ),
        ({"cv_0": [np.inf] + [0.5] * 9}, "got inf at index 0"),
        ({"cv_0": [0.5] * 4 + [1.5] + [0.5] * 5}, "got 1.5 at index 4"),
        ({"cv_7": np.full(10, 0.5)}, "actions: unknown agent ids ['cv_7'] (agents: cv_0, cv_1)"),
        ({3: np.full(10, 0.5)}, "actions: keys must be agent ids (strings), got 3"),
        ({None: np.full(10, 0.5)}, "actions: keys must be agent ids (strings), got None"),
    ],
)
def test_pettingzoo_bad_actions_name_the_agent(change, fragment):
    env, good = _pz_env()
    env.reset(seed=0)
    with pytest.raises(ActionError) as err:
        env.step({**good, **change})
    assert fragment in str(err.value)
    with pytest.raises(ActionError, match=r"missing agents \['cv_1'\]"):
        env.step({"cv_0": good["cv_0"]})
    with pytest.raises(ActionError, match="expected a dict from agent id to action, got list"):
        env.step([good["cv_0"], good["cv_1"]])
    assert env.core.t == 0  # nothing was played


@pytest.mark.parametrize("seed", ["a", -1, 2**63, 1.5, True])
def test_pettingzoo_bad_seed(seed):
    env, _ = _pz_env()
    with pytest.raises(ConfigError, match=r"reset: seed: must be an integer in \[0, 2\*\*63 - 1\]"):
        env.reset(seed=seed)


def test_every_action_has_a_bounded_delay():
    """docs/model.md#action-mapping: whatever the action, a slot's delay stays under the documented bound."""
    cfg = load_config()
    env = BatchedEnv(cfg, 16, seed=8)
    env.reset()
    rng = np.random.default_rng(0)
    k, m, f_av = env.num_rsus, cfg.action.min_resource_share, env.scn.rsu_available_hz
    for t in range(cfg.episode_slots):
        phys, q = env.snapshot()
        _, reach, se = env._chan
        cycles = phys.data_bits * phys.intensity_cycles_per_bit
        local = (q.local_cycles + cycles) / phys.cpu_hz
        rate_min = (m / k) * cfg.channel.sensing_gain * cfg.channel.bandwidth_hz * se
        rsu = (
            q.rsu_cycles[:, None, :] / f_av
            + phys.data_bits[..., None] / rate_min
            + cycles[..., None] / (m * f_av / cfg.num_cvs)
        )
        bound = np.maximum(local, np.where(reach, rsu, 0.0).max(-1))
        shape = (16, cfg.num_cvs, env.action_dim)
        worst = [np.zeros(shape), np.ones(shape), rng.uniform(size=shape), rng.uniform(size=shape) ** 8]
        floor = np.ones(shape)
        floor[..., 1 + k :] = 0.0
        floor[:, 0, 1 + 2 * k :] = 1.0  # one CV hogs the CPU
        worst.append(floor)
        for a in worst:
            delay = evaluate(env.scn, phys, q, a).delay_s
            assert (delay <= bound * (1 + 1e-9)).all()
        env.step(worst[t % len(worst)])


def test_per_cv_rewards_sum_to_the_team_reward_and_twin_load_is_observed():
    from isac_iov.twin import rsu_load

    cfg = load_config(None, ["rsu.service=allocated"])
    env = BatchedEnv(cfg, 4, seed=6)
    env.reset()
    rng = np.random.default_rng(1)
    f, k = env.cv_feature_dim, env.num_rsus
    for _ in range(6):
        a = rng.uniform(size=(4, 5, 10))
        a[..., 7:] *= 0.1
        st = env.step(a)
        assert np.allclose(st.outcome.reward_per_cv.sum(-1), st.reward)
        load = rsu_load(env.scn, env.phys, env._chan[1], st.outcome.links.rsu_cpu_hz.sum(-2))
        assert np.allclose(st.obs[..., f + k + 3 :], load.reshape(4, 1, -1))  # same for every CV
        assert np.allclose(st.critic_state[:, 0, -4 * k :], load.reshape(4, -1))  # and in the global state


def test_shipped_contention_scenario():
    from isac_iov.config import ConfigError, scenario_overrides

    ov = scenario_overrides("contention")
    cfg = load_config(None, ov)
    assert cfg.num_cvs == 8 and cfg.rsu.cpu_max_hz == 12e9
    with pytest.raises(ConfigError, match="unknown scenario 'busy'.*contention"):
        scenario_overrides("busy")


# -- options for generic learners ------------------------------------------------------------------------------
def test_centred_actions_map_zero_to_the_learners_initial_policy():
    from isac_iov.actions import from_centred, layout

    parts = layout(3)
    zero, one = from_centred(np.zeros(parts.dim), 3), from_centred(np.ones(parts.dim), 3)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert zero[parts.local] == pytest.approx(sig(-3.0)) == pytest.approx(0.04743, abs=1e-5)
    assert np.allclose(zero[parts.task], 0.5) and np.allclose(zero[parts.bandwidth], 0.5)
    assert np.allclose(zero[parts.cpu], sig(-2.0)) and np.allclose(one[parts.task], sig(6.0))  # 0.99753
    assert from_centred(-np.ones(parts.dim), 3)[parts.local] == pytest.approx(sig(-9.0))


def test_the_learner_friendly_options_change_the_interface_not_the_model():
    box = parallel_env(seed=3, overrides=["num_cvs=4"])
    centred = parallel_env(seed=3, overrides=["num_cvs=4"], actions="centred", reward="per_cv")
    parallel_api_test(parallel_env(seed=0, overrides=["num_cvs=3"], actions="centred", reward="per_cv"), 20)
    assert centred.action_space("cv_0").low.min() == -1.0 and box.action_space("cv_0").low.min() == 0.0
    obs_b, _ = box.reset()
    obs_c, _ = centred.reset()
    rng = np.random.default_rng(0)
    from isac_iov.actions import from_centred

    coverage = dims(box.core.cfg).link("in_coverage")
    for _ in range(5):
        u = {a: rng.uniform(-1, 1, centred.action_space(a).shape) for a in centred.agents}
        obs_b, rew_b, _, _, _ = box.step({a: from_centred(v, box.core.num_rsus) for a, v in u.items()})
        obs_c, rew_c, _, _, info_c = centred.step(u)
        assert all(np.array_equal(obs_b[a], obs_c[a]) for a in obs_b)  # the same slot played
        assert sum(rew_c.values()) == pytest.approx(rew_b["cv_0"])  # the shares sum to the team reward
        for a in box.agents:
            mask = info_c[a]["action_mask"]
            k = box.core.num_rsus
            reach = obs_b[a][coverage] > 0.5
            assert mask[0] and np.array_equal(mask[1 : 1 + k], reach) and np.array_equal(mask[1 + 2 * k :], reach)
    with pytest.raises(ActionError, match=r"entries in \[-1, 1\], got -1.5"):
        centred.step({a: np.full(centred.action_space(a).shape, -1.5) for a in centred.agents})
    with pytest.raises(ValueError, match="reward: must be one of"):
        parallel_env(reward="shaped")
