"""One declaration of each fact: the parts of an action and of an observation by name, and the algorithm and
policy names from their registries."""

import numpy as np
import pytest

from isac_iov import BatchedEnv, load_config
from isac_iov.actions import layout
from isac_iov.env.core import LINK_FEATURE_NAMES, OWN_FEATURE_NAMES, OWN_FEATURES, dims
from isac_iov.experiments import specs
from isac_iov.learners import REGISTRY as LEARNERS
from isac_iov.mainjob import REFERENCE_POLICIES
from isac_iov.policies import REGISTRY as POLICIES
from isac_iov.twin import LOAD_FEATURE_NAMES, LOAD_FEATURES


@pytest.mark.parametrize("k", [1, 3, 7])
def test_action_parts_tile_the_action_vector(k):
    lay = layout(k)
    covered = [lay.local, *range(lay.dim)[lay.task], *range(lay.dim)[lay.bandwidth], *range(lay.dim)[lay.cpu]]
    assert covered == list(range(lay.dim)) and lay.dim == 1 + 3 * k
    assert list(range(lay.dim)[lay.split]) == [lay.local, *range(lay.dim)[lay.task]]


@pytest.mark.parametrize("overrides", [[], ["num_cvs=2", "rsu.x_m=[100, 300]"]])
def test_observation_parts_tile_the_observation_and_hold_what_they_name(overrides):
    cfg = load_config(None, overrides)
    d = dims(cfg)
    own = [d.own(n) for n in OWN_FEATURE_NAMES]
    links = [i for n in LINK_FEATURE_NAMES for i in range(d.obs_dim)[d.link(n)]]
    assert own + links + list(range(d.obs_dim)[d.twin]) == list(range(d.obs_dim))
    assert (OWN_FEATURES, LOAD_FEATURES) == (len(OWN_FEATURE_NAMES), len(LOAD_FEATURE_NAMES))
    assert d.twin_feature_dim == d.num_rsus + 3 + LOAD_FEATURES * d.num_rsus
    env = BatchedEnv(cfg, 2, seed=3)
    obs, _ = env.reset()
    assert (env.obs_dim, env.cv_feature_dim, env.action_dim) == (d.obs_dim, d.cv_feature_dim, d.action_dim)
    p, scn = env.phys, env.scn
    assert np.allclose(obs[..., d.own("x")], p.x_m / cfg.road.length_m)
    assert np.allclose(obs[..., d.own("data_bits")], p.data_bits / cfg.task.data_bits.high)
    dist, reachable, _ = env._chan
    assert np.array_equal(obs[..., d.link("in_coverage")], reachable.astype(float))
    assert np.allclose(obs[..., d.link("distance")], dist / cfg.rsu.coverage_m)
    assert scn.num_rsus == d.num_rsus


def test_energy_queue_feature_is_the_log_of_one_plus_the_queue_in_budgets():
    cfg = load_config()
    env = BatchedEnv(cfg, 2, seed=1)
    env.reset()
    local_only = np.zeros((2, cfg.num_cvs, env.action_dim))
    local_only[..., layout(env.num_rsus).local] = 1.0  # every task on the CV: far over the 22 J budget
    for _ in range(3):
        obs = env.step(local_only).obs
    v_j = env.snapshot()[1].energy_j
    assert (v_j > 44.0).all()  # two budgets or more after three slots
    assert np.allclose(obs[..., dims(cfg).own("energy_queue")], np.log1p(v_j / 22.0))


def test_name_lists_come_from_the_registries():
    assert specs.LEARNERS == tuple(LEARNERS) and REFERENCE_POLICIES == tuple(POLICIES)
    assert set(specs.REFERENCES) <= set(POLICIES)
    twin = {c.series for c in specs.build("twin", specs.make_scale("tiny", 1))[0].cells}
    assert {specs.NO_TWIN, f"contention: {specs.NO_TWIN}"} <= twin


def test_every_config_key_is_declared_once_with_its_documentation():
    from isac_iov import config
    from isac_iov.learners.common import make_algo_config
    from isac_iov.learners.mappo import MappoConfig

    flat = list(config.schema.flat_items(config.Config()))
    assert list(config.KEYS) == flat and all(meta["source"] for meta in config.KEYS.values())
    assert config.PLAUSIBLE_RANGES["lyapunov.alpha"] == (0.0, 1.0) == config.KEYS["lyapunov.alpha"]["bounds"]
    assert config.CHOICES["rsu.service"] == ("work_conserving", "allocated", "capacity")
    line = next(ln for ln in config.describe(config.Config()).splitlines() if ln.startswith("lyapunov.alpha "))
    assert "[0, 1]" in line and "alpha = 0.6" in line
    with pytest.raises(config.ConfigError, match=r"algo.num_envs: must be >= 1"):
        make_algo_config(MappoConfig, {"num_envs": "0"})
    assert make_algo_config(MappoConfig, {"lr": "3e-4", "shared_actor": "false"}).lr == 3e-4
