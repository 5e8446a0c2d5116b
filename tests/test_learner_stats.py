"""The learners' statistics pieces: forgetting normalisers, PopArt rescaling, reward scaling and clipping."""

import math

import numpy as np
import torch

from isac_iov.config import load_config
from isac_iov.learners.buffers import RunningMeanStd, RunningNorm
from isac_iov.learners.common import EnvSpec, make_algo_config
from isac_iov.learners.mappo import MAPPO, MappoConfig
from isac_iov.learners.mappo_critic import popart_update

CFG = load_config(None, ["num_cvs=2", "episode_slots=5"])


def test_capped_running_mean_std_forgets_and_uncapped_does_not():
    capped, full = RunningMeanStd(max_count=10), RunningMeanStd()
    for stat in (capped, full):
        stat.update(np.full(1000, 100.0))
        stat.update(np.zeros(10))
    # capped: the 1000 old samples weigh as 10, so the mean is (10*100 + 10*0)/20 = 50
    assert math.isclose(capped.mean, 50.0, rel_tol=1e-6)
    assert math.isclose(full.mean, 100.0 * 1000 / 1010, rel_tol=1e-6)


def test_capped_running_norm_follows_a_shrinking_feature():
    norm = RunningNorm(1, max_count=20)
    norm.update(torch.full((1000, 1), 300.0))
    norm.update(torch.zeros(20, 1))
    assert math.isclose(float(norm.mean), 150.0, rel_tol=1e-5)  # (20*300 + 20*0)/40


def test_popart_update_keeps_the_critic_values():
    learner = MAPPO(EnvSpec.from_config(CFG), make_algo_config(MappoConfig, {}))
    states = torch.randn(7, 2, learner.critic_dim)
    with torch.no_grad():
        before = learner.value_norm.denormalize(learner.critic(states).squeeze(-1))
        popart_update(learner.value_norm, learner.value_head, torch.randn(50) * 300.0 - 1000.0)
        after = learner.value_norm.denormalize(learner.critic(states).squeeze(-1))
    assert abs(learner.value_norm.mean + 1000.0) < 200.0  # the statistics did move
    assert torch.allclose(before, after, atol=1e-3 * float(before.abs().max()))


def test_learning_rewards_are_scaled_and_outliers_clipped():
    learner = MAPPO(EnvSpec.from_config(CFG), make_algo_config(MappoConfig, {"reward_clip": 10.0, "gamma": 0.99}))
    rewards = torch.full((5, 4), -2.0)
    first = learner.return_scale(rewards)
    assert torch.allclose(first, rewards / learner.return_scale.rms.std)
    outlier = rewards.clone()
    outlier[2, 1] = -1e7  # a near-zero CPU request
    std_before = learner.return_scale.rms.std
    scaled = learner.return_scale(outlier)
    # the outlier entered as -10 old stds, not -1e7, so the scale grew only moderately
    assert learner.return_scale.rms.std < 20.0 * std_before
    assert math.isclose(float(scaled[2, 1]), -10.0 * std_before / learner.return_scale.rms.std, rel_tol=1e-5)
    assert torch.allclose(scaled[0], rewards[0] / learner.return_scale.rms.std)
