"""ly-opt-dual: the closed-form pieces, a grid-searched optimum, C6, the references and the lower bound."""

import numpy as np
import pytest

from isac_iov import BatchedEnv, load_config
from isac_iov.actions import check_actions, layout
from isac_iov.policies import LyOptConfig, LyOptDualConfig, LyOptDualPolicy, LyOptPolicy, make_policy
from isac_iov.policies.lyopt_dual import (
    FIXED_STARTS,
    NEVER_S,
    decision_bytes,
    fill_time_s,
    project_columns,
    solve_slot,
    source_names,
)
from isac_iov.slot import evaluate

SCENARIOS = {
    "default": [],
    "per_rsu": ["channel.bandwidth_sharing=per_rsu", "rsu.service=allocated"],
    "system_queue": ["lyapunov.energy_queue=system", "rsu.service=capacity"],
    "littles_law": ["lyapunov.queue_delay=littles_law"],
    "delay_free": ["lyapunov.alpha=0"],  # w_T = 0: the bound's finish-time grid must stay finite
}


def test_fill_time_hand_computed():
    order = np.arange(3)
    # rate 1 /s from t = 0 and 2 /s from t = 0.5: T + 2 (T - 0.5) = 1 -> T = 2/3; the third never starts in time
    t = fill_time_s(np.array([1.0, 2.0, 4.0]), np.array([0.0, 0.5, 0.9]), order)
    assert t == pytest.approx(2 / 3)
    # one server alone: T = wait + 1 / rate; no server at all: never
    assert fill_time_s(np.array([0.0, 4.0, 0.0]), np.array([0.0, 0.5, 0.0]), order) == pytest.approx(0.75)
    assert fill_time_s(np.zeros(3), np.zeros(3), order) == NEVER_S
    # leading axes are kept; order indexes the flattened trailing axes
    rates = np.array([[[1.0, 2.0]], [[0.0, 2.0]]])  # (2, 1, 2)
    waits = np.array([[0.0, 0.5]])
    assert np.allclose(fill_time_s(rates, waits, np.array([[0, 1]])), [[2 / 3], [1.0]])


def test_project_columns_hand_computed():
    f = np.array([[[0.8, 0.2], [0.6, 0.3], [0.5, 0.9]]])  # (E=1, I=3, K=2)
    allowed = np.array([[[True, True], [True, True], [False, True]]])
    p = project_columns(f, allowed)
    # RSU 0: [0.8, 0.6] (0.5 not allowed) sum 1.4, minus (1.4 - 1) / 2 each;
    # RSU 1: [0.2, 0.3, 0.9] sum 1.4, minus (1.4 - 1) / 3 each (all stay positive)
    assert np.allclose(p[0, :, 0], [0.6, 0.4, 0.0])
    assert np.allclose(p[0, :, 1], np.array([0.2, 0.3, 0.9]) - 0.4 / 3)
    # a large entry takes all: [0.1, 1.5] -> theta 0.5 would leave 0.1 - 0.5 < 0, so [0, 1]
    assert np.allclose(project_columns(np.array([[[0.1], [1.5]]]), np.ones((1, 2, 1), bool))[0, :, 0], [0, 1])
    assert np.allclose(p.sum(-2), 1.0)
    under = np.full((1, 3, 2), 0.2)
    assert np.array_equal(project_columns(under, np.ones((1, 3, 2), bool)), under)  # feasible: unchanged


def test_one_cv_one_rsu_matches_a_grid_search():
    """1 CV parked under 1 RSU: the optimum over (local share, CPU request) by exhaustive grid."""
    cfg = load_config(
        None,
        [
            "num_cvs=1",
            "rsu.x_m=[350]",
            "vehicle.initial_x_m=[340, 340]",
            "vehicle.speed_mps=[0, 0]",
            "vehicle.lane=[1, 1]",
            "channel.fading=false",
        ],
    )
    env = BatchedEnv(cfg, 1, seed=4)
    env.reset()
    phys, q = env.snapshot()
    q.energy_j[:] = 30.0  # an energy debt makes RSU energy dear: the optimum is interior in the CPU
    res = solve_slot(env.scn, phys, q, LyOptDualConfig())
    lay = layout(1)
    share, cpu = np.meshgrid(np.linspace(0.0, 1.0, 201), np.linspace(0.01, 1.0, 199), indexing="ij")
    grid = np.zeros((share.size, 1, lay.dim))
    grid[:, 0, lay.local] = share.ravel()
    grid[:, 0, lay.task] = 1 - share.ravel()[:, None]
    grid[:, 0, lay.bandwidth] = 1.0
    grid[:, 0, lay.cpu] = cpu.ravel()[:, None]
    tiled = np.zeros(share.size, int)
    best = evaluate(env.scn, phys.take(tiled), q.take(tiled), grid).objective.min()
    assert res.objective[0] <= best + 1e-9 * abs(best)
    assert res.objective[0] >= best - 1e-3 * abs(best)  # the grid is fine enough to be close
    assert evaluate(env.scn, phys, q, res.actions).objective[0] == pytest.approx(res.objective[0], rel=1e-12)
    # the bound holds and is informative here (no coupling: only the relaxation's slack)
    bound = solve_slot(env.scn, phys, q, LyOptDualConfig(bound=True)).bound[0]
    assert best - 0.03 * abs(best) <= bound <= res.objective[0]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_c6_holds_and_never_worse_than_the_references(scenario, played_env):
    env, obs = played_env(SCENARIOS[scenario], seed=5, num_envs=3)
    phys, q = env.snapshot()
    res = solve_slot(env.scn, phys, q, LyOptDualConfig())
    check_actions(res.actions, (3, env.num_cvs, env.action_dim))
    out = evaluate(env.scn, phys, q, res.actions)
    assert np.allclose(out.objective, res.objective, rtol=1e-12)
    # C6 with no scaling: the floored requests of the used links sum to at most one at every RSU
    floor = env.cfg.action.min_resource_share
    requests = np.where(out.links.used, np.maximum(res.actions[..., layout(env.num_rsus).cpu], floor), 0.0)
    assert (requests.sum(-2) <= 1.0 + 1e-9).all()
    for name in ("greedy", "local", "offload"):
        ref = evaluate(env.scn, phys, q, make_policy(name, env.cfg, 0).act(env, obs)).objective
        assert (res.objective <= ref + 1e-12 * np.abs(ref)).all(), name


def test_beats_the_reference_solver_on_sampled_states():
    """Against ly-opt (small budget here, the benchmark runs the full one) on states of greedy play."""
    env = BatchedEnv(load_config(), 6, seed=8)
    obs, _ = env.reset()
    greedy = make_policy("greedy", env.cfg, 0)
    for _ in range(6):
        obs = env.step(greedy.act(env, obs)).obs
    phys, q = env.snapshot()
    new = solve_slot(env.scn, phys, q, LyOptDualConfig()).objective
    old = evaluate(env.scn, phys, q, LyOptPolicy(LyOptConfig(iterations=10)).act(env, obs)).objective
    assert (new <= old).all() and ((old - new) / np.abs(old)).mean() > 2e-3


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_lower_bound_is_below_every_policy(scenario, played_env):
    env, obs = played_env(SCENARIOS[scenario], seed=6, slots=5, num_envs=3)
    phys, q = env.snapshot()
    res = solve_slot(env.scn, phys, q, LyOptDualConfig(bound=True))
    assert np.isfinite(res.bound).all()
    objectives = [res.objective]
    for name in ("greedy", "local", "offload", "random"):
        objectives.append(evaluate(env.scn, phys, q, make_policy(name, env.cfg, 1).act(env, obs)).objective)
    small = LyOptConfig(random_starts=4, population=4, iterations=5)
    objectives.append(evaluate(env.scn, phys, q, LyOptPolicy(small).act(env, obs)).objective)
    rng = np.random.default_rng(2)
    for _ in range(20):  # random actions, some near the corners of the box
        a = rng.uniform(size=(3, env.num_cvs, env.action_dim)) ** rng.choice([0.2, 1.0, 5.0])
        objectives.append(evaluate(env.scn, phys, q, a).objective)
    assert (res.bound <= np.min(objectives, axis=0)).all()
    if scenario == "default":  # and not vacuous (the relaxation gives up more when RSU backlogs drive P2)
        assert ((res.objective - res.bound) / np.abs(res.objective) < 0.1).all()


def test_scales_to_many_rsus():
    """16 RSUs 200 m apart, 40 CVs: valid, C6 unscaled, never worse than greedy, bound below."""
    xs = ", ".join(str(100 + 200 * k) for k in range(16))
    cfg = load_config(None, ["num_cvs=40", "road.length_m=3200", f"rsu.x_m=[{xs}]", "vehicle.initial_x_m=[0, 3200]"])
    env = BatchedEnv(cfg, 2, seed=3)
    obs, _ = env.reset()
    pol = LyOptDualPolicy(LyOptDualConfig(bound=True))
    a = pol.act(env, obs)
    assert pol.last is not None
    phys, q = env.snapshot()
    out = evaluate(env.scn, phys, q, a)
    greedy = evaluate(env.scn, phys, q, make_policy("greedy", cfg, 0).act(env, obs)).objective
    assert (out.objective < greedy).all() and (pol.last.bound <= out.objective).all()
    assert (out.links.rsu_given_hz <= env.scn.rsu_available_hz * (1 + 1e-12)).all()
    assert (pol.last.prices >= 0).all() and (pol.last.prices > 0).any()  # some RSU is fully booked


def test_config_errors_name_the_key(played_env):
    with pytest.raises(ValueError, match="ly-opt-dual iterations"):
        LyOptDualConfig(iterations=0)
    with pytest.raises(ValueError, match="ly-opt-dual step"):
        LyOptDualConfig(step=2.0)
    with pytest.raises(ValueError, match="ly-opt-dual bound_price_scales"):
        LyOptDualConfig(bound_price_scales=())
    env, obs = played_env([], seed=1, slots=2, num_envs=1)
    a1 = LyOptDualPolicy().act(env, obs)
    assert np.array_equal(a1, LyOptDualPolicy().act(env, obs))  # deterministic


def test_source_names_cover_every_candidate(played_env):
    env, _ = played_env([], seed=2, slots=3, num_envs=4)
    phys, q = env.snapshot()
    cfg = LyOptDualConfig(random_starts=1, flip_cvs=2)
    res = solve_slot(env.scn, phys, q, cfg)
    names = source_names(cfg.random_starts, cfg.flip_cvs)
    assert len(names) == 2 * 2 * (len(FIXED_STARTS) + 1) + 3 + 2
    assert names[-5:] == ("greedy", "local", "offload", "switch 0", "switch 1")
    assert all(0 <= s < len(names) for s in res.source)
    assert names[0] == "greedy" and names[len(FIXED_STARTS) + 1] == "greedy per-RSU"


def test_memory_estimate_scales_with_envs_and_the_bound():
    cfg = load_config()
    one = decision_bytes(LyOptDualConfig(), cfg, 1)
    assert 0 < one < 50e6 and decision_bytes(LyOptDualConfig(), cfg, 10) == 10 * one
    assert decision_bytes(LyOptDualConfig(bound=True), cfg, 1) > one
