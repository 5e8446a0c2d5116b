"""The difference reward's replays by neighbourhood (isac_iov.replay) against replays of the whole slot."""

from __future__ import annotations

import numpy as np
import pytest

from isac_iov import replay, slot
from isac_iov.config import load_config
from isac_iov.env.core import BatchedEnv
from isac_iov.experiments.specs.scaling import standin_overrides


def _played(sets: list[str], seed: int, num_envs: int = 3):
    cfg = load_config(None, sets)
    env = BatchedEnv(cfg, num_envs, seed=seed)
    env.reset()
    rng = np.random.default_rng(seed)
    for _ in range(2):  # queues, windows and energy queues away from zero
        env.step(rng.uniform(size=(num_envs, cfg.num_cvs, env.action_dim)))
    a = rng.uniform(size=(num_envs, cfg.num_cvs, env.action_dim))
    a[rng.uniform(size=a.shape) < 0.3] = 0.0  # links left out, and (below) a CV that offloads nothing
    a[0, 1, 1:] = 0.0
    phys, q = env.snapshot()
    ln = slot.links(env.scn, phys, a, env._chan)
    return env, phys, q, a, slot.outcome(env.scn, phys, q, ln, slot.select_modes(ln))


@pytest.mark.parametrize(
    "sets",
    [
        [],  # Table II's road: 5 CVs, 3 RSUs
        ["num_cvs=12", "rsu.cpu_max_hz=8e9"],  # crowded RSUs: C6 scales every request
        ["num_cvs=12", "channel.bandwidth_sharing=per_rsu", "rsu.service=allocated", "lyapunov.queue_delay=backlog"],
        ["num_cvs=12", "rsu.service=capacity", "action.min_task_share=0.2"],
        list(standin_overrides(50)),  # 16 RSUs: neighbourhoods smaller than the slot
    ],
)
def test_replays_by_neighbourhood_are_the_whole_slots_replays(sets):
    env, phys, q, a, played = _played(sets, seed=len(sets))
    got = replay.objective_if_local(env.scn, phys, q, a, played, env._chan)
    want = replay.whole_slot_if_local(env.scn, phys, q, a, env._chan)
    scale = np.abs(played.objective).max()
    assert np.abs(got - want).max() <= 1e-12 * scale
    difference = want - played.objective[:, None]
    assert got[0, 1] == played.objective[0] and np.abs(difference).max() > 1e-3 * scale  # 0 only where it should be
    with pytest.MonkeyPatch.context() as mp:  # chunks of one replay each, padded less: the same up to rounding
        mp.setattr(replay, "REPLAY_LINKS", 1)
        alone = replay.objective_if_local(env.scn, phys, q, a, played, env._chan)
        assert np.abs(alone - want).max() <= 1e-12 * scale


def test_a_neighbourhood_holds_the_rsus_of_the_cvs_sharing_one_and_all_their_users():
    used = np.zeros((1, 6, 4), dtype=bool)
    used[0, 0, [0]] = used[0, 1, [0, 1]] = used[0, 2, [1, 2]] = used[0, 3, [2]] = used[0, 4, [3]] = True  # CV 5: local
    members, columns = replay._neighbourhoods(used, np.array([0, 0, 0]), np.array([0, 1, 4]))
    # CV 0 shares RSU 0 with CV 1, who also uses RSU 1: RSUs 0-1 and their users (CV 2 uses RSU 1 and RSU 2,
    # which stays out: CV 2's terms are the same in the replay and cancel)
    assert columns.tolist() == [[True, True, False, False], [True, True, True, False], [False, False, False, True]]
    assert members.tolist() == [
        [False, True, True, False, False, False],
        [True, False, True, True, False, False],
        [False, False, False, False, False, False],
    ]
    assert replay._first_true(members[:2], np.array([0, 1])).tolist() == [[0, 1, 2, -1], [1, 0, 2, 3]]


def test_with_one_energy_queue_for_the_system_the_whole_slot_is_replayed():
    env, phys, q, a, played = _played(["num_cvs=8", "lyapunov.energy_queue=system"], seed=2)
    got = replay.objective_if_local(env.scn, phys, q, a, played, env._chan)
    assert np.array_equal(got, replay.whole_slot_if_local(env.scn, phys, q, a, env._chan))
    assert got[0, 1] == played.objective[0] and not np.allclose(got, played.objective[:, None])
