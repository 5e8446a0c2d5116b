"""Reference policies and the per-slot optimiser ly-opt: validity, hand-computed rules, optimality vs references."""

import sys
import types

import numpy as np
import pytest

from isac_iov import BatchedEnv, load_config
from isac_iov.actions import check_actions, layout
from isac_iov.policies import REGISTRY, LyOptConfig, LyOptPolicy, make_policy
from isac_iov.policies.lyopt import solve
from isac_iov.policies.reference import water_fill
from isac_iov.slot import evaluate

SCENARIOS = {
    "default": [],
    "per_rsu": ["channel.bandwidth_sharing=per_rsu", "rsu.service=allocated"],
    "system_queue": ["lyapunov.energy_queue=system"],
}


@pytest.mark.parametrize("name", list(REGISTRY))
def test_reference_actions_are_valid(name, variant, played_env):
    env, obs = played_env(variant, seed=1, num_envs=3)
    pol = make_policy(name, env.cfg, seed=0)
    pol.reset(env)
    a = pol.act(env, obs)
    check_actions(a, (3, env.num_cvs, env.action_dim))  # shape, finite, in [0, 1]
    assert isinstance(pol.name, str) and pol.name == name
    env.step(a)


def test_local_and_offload_shares():
    cfg = load_config()
    env = BatchedEnv(cfg, 16, seed=2)
    obs, _ = env.reset()
    phys, q = env.snapshot()
    out_loc = evaluate(env.scn, phys, q, make_policy("local", cfg, 0).act(env, obs))
    assert (out_loc.links.share_local == 1).all() and not out_loc.links.used.any()
    out_off = evaluate(env.scn, phys, q, make_policy("offload", cfg, 0).act(env, obs))
    reach = out_off.links.reachable.any(-1)
    assert reach.any()
    assert (out_off.links.share_local[reach] == 0).all() and (out_off.links.share_local[~reach] == 1).all()
    # even split over the reachable RSUs, CPU 1/I of F^max - C^twin each
    n_reach = out_off.links.reachable.sum(-1)
    assert np.allclose(out_off.links.share_rsu[reach], out_off.links.reachable[reach] / n_reach[reach][:, None])
    used = out_off.links.used
    users = used.sum(-2, keepdims=True)
    assert np.allclose(
        out_off.links.rsu_cpu_hz[used], (env.scn.rsu_available_hz / cfg.num_cvs * np.ones_like(users * used))[used]
    )


def test_random_policy_is_seeded(played_env):
    env, obs = played_env([], seed=0, slots=0)
    a1 = make_policy("random", env.cfg, 5).act(env, obs)
    a2 = make_policy("random", env.cfg, 5).act(env, obs)
    a3 = make_policy("random", env.cfg, 6).act(env, obs)
    assert np.array_equal(a1, a2) and not np.array_equal(a1, a3)


def test_greedy_cpu_request_hand_computed():
    # one CV parked at the middle RSU (all three within 200 m), no fading, empty queues
    cfg = load_config(
        None,
        [
            "num_cvs=1",
            "vehicle.initial_x_m=[350, 350]",
            "vehicle.speed_mps=[0, 0]",
            "vehicle.lane=[1, 1]",
            "channel.fading=false",
        ],
    )
    env = BatchedEnv(cfg, 1, seed=0)
    obs, _ = env.reset()
    a = make_policy("greedy", cfg, 0).act(env, obs)[0, 0]
    lay = layout(3)
    # E_ref = 1e-26 * (2.5e9)^2 * 3.5e9 = 218.75 J; w_T = 5*0.6 = 3 /s; w_E = 5*0.4/218.75 /J; n = 3 RSUs
    # F = (w_T / (2 n kappa_rsu w_E))^(1/3) = (3 * 218.75 / (2 * 3 * 1e-28 * 2))^(1/3) = 8.1775 GHz per RSU
    f_hz = (3 * 218.75 / (12e-28)) ** (1 / 3)
    assert f_hz == pytest.approx(8.1775e9, rel=1e-4)
    assert (lay.task, lay.bandwidth, lay.cpu) == (slice(1, 4), slice(4, 7), slice(7, 10))
    assert np.allclose(a[lay.cpu], f_hz / 18e9)  # CPU requests (fair share 18 GHz)
    assert (a[lay.task] > 0).all() and a[lay.task].argmax() == 1  # all RSUs, most to the nearest
    assert a[lay.bandwidth].max() == 1.0 and (a[lay.bandwidth] > 0).all()  # bandwidth on every used link
    # a large energy debt makes the greedy ask for less RSU CPU (the queue's price of a joule)
    env.queues.state.energy_j[:] = 1000.0
    a_debt = make_policy("greedy", cfg, 0).act(env, obs)[0, 0]
    assert (0 < a_debt[lay.cpu]).all() and (a_debt[lay.cpu] < a[lay.cpu]).all()


def test_water_fill_hand_computed():
    # servers: rate 1 /s from t = 0 and rate 2 /s from t = 0.5; T + 2 (T - 0.5) = 1 -> T = 2/3
    t, x = water_fill(np.array([1.0, 2.0]), np.array([0.0, 0.5]), np.array(1.0))
    assert t == pytest.approx(2 / 3) and np.allclose(x, [2 / 3, 1 / 3])
    # a server that would start after the others finish gets nothing; rate 0 is unusable
    t, x = water_fill(np.array([1.0, 5.0, 0.0]), np.array([0.0, 2.0, 0.0]), np.array(0.5))
    assert t == pytest.approx(0.5) and np.allclose(x, [0.5, 0.0, 0.0])


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_lyopt_never_worse_than_references(scenario, played_env):
    """On sampled states with non-zero queues, ly-opt's P2 objective <= every reference's."""
    gains = []
    for seed in (0, 1, 2):
        env, obs = played_env(SCENARIOS[scenario], seed=seed, slots=3 + 2 * seed)
        phys, q = env.snapshot()
        assert (q.local_cycles > 0).any() and (q.energy_j > 0).any()
        # a work-conserving RSU serves its backlog with its idle CPU: only the allocated rule keeps one here
        assert (q.rsu_cycles > 0).any() == (env.cfg.rsu.service == "allocated")
        objective = {}
        for name in REGISTRY:
            a = make_policy(name, env.cfg, seed=seed).act(env, obs)
            objective[name] = evaluate(env.scn, phys, q, a).objective
        for name in ("local", "offload", "random", "greedy"):
            assert (objective["ly-opt"] <= objective[name] + 1e-9 * np.abs(objective[name])).all(), name
        gains.append(objective["greedy"] - objective["ly-opt"])
    assert np.mean(gains) > 1e-3  # a real improvement over the best hand-made rule


def test_lyopt_finds_known_optimum_of_a_box_problem():
    # a smooth separable test function with its minimum inside the box and on a face
    target = np.array([0.3, 0.0, 1.0, 0.75, 0.5])

    def f(x):
        return ((x - target) ** 2 * np.arange(1, 6)).sum(-1)

    x, fx = solve(f, np.full((1, 5), 0.5), np.random.default_rng(0), LyOptConfig(iterations=60))
    assert fx < 1e-5 and np.allclose(x, target, atol=3e-3)


def test_lyopt_is_deterministic_for_a_seed(played_env):
    env, obs = played_env([], seed=3, slots=2, num_envs=1)
    small = LyOptConfig(random_starts=4, population=4, iterations=5, seed=7)
    a1, a2 = LyOptPolicy(small).act(env, obs), LyOptPolicy(small).act(env, obs)
    assert np.array_equal(a1, a2)
    with pytest.raises(ValueError, match="population"):
        LyOptConfig(population=0)


def test_make_policy_names_and_run_directories(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="ly-opt-dual, ly-opt, greedy, offload, local, random"):
        make_policy("no-such-policy", load_config(), 0)
    loaded = []
    fake = types.ModuleType("isac_iov.learners")
    fake.load_policy = lambda path, algo=None: loaded.append(path) or "trained"
    monkeypatch.setitem(sys.modules, "isac_iov.learners", fake)
    assert make_policy(str(tmp_path), load_config(), 0) == "trained" and loaded == [str(tmp_path)]


def test_mean_others_claims_with_every_rsu_in_reach_is_counted_by_hand():
    from isac_iov.policies.reference import mean_others_claims
    from isac_iov.scenario import Scenario

    cfg = load_config(None, ["num_cvs=4", "rsu.coverage_m=1500"])  # every CV reaches all 3 RSUs: claims 1/3 each
    assert mean_others_claims(Scenario(cfg)) == pytest.approx(np.full(3, 3 / 3))  # 3 other CVs x 1/3
    assert mean_others_claims(Scenario(load_config(None, ["num_cvs=4"]))).sum() <= 3 + 1e-12


def test_greedy_blind_is_greedy_without_backlogs_or_this_slots_crowding():
    cfg = load_config(None, ["num_cvs=4", "rsu.coverage_m=1500", "rsu.service=allocated"])  # all in reach
    env = BatchedEnv(cfg, 2, seed=1)
    obs, _ = env.reset()
    greedy, blind = make_policy("greedy", cfg, 0), make_policy("greedy-blind", cfg, 0)
    empty = blind.act(env, obs)
    assert np.allclose(empty, greedy.act(env, obs), rtol=1e-9, atol=1e-12)  # empty queues; this slot's crowding = mean
    env.queues.state.rsu_cycles[:] = 5e9  # long RSU backlogs: greedy sees them, greedy-blind does not
    assert np.array_equal(blind.act(env, obs), empty)
    assert not np.allclose(greedy.act(env, obs), empty, rtol=1e-3)
    crowded = load_config(None, ["num_cvs=4"])  # short coverage: this slot's crowding is not the mean
    env = BatchedEnv(crowded, 2, seed=1)
    obs, _ = env.reset()
    assert not np.allclose(make_policy("greedy-blind", crowded, 0).act(env, obs), greedy.act(env, obs), rtol=1e-3)
