"""Learner sanity: every registry algorithm learns the toy task of :mod:`isac_iov.learners.toy`.

The toy task has a known optimum (reward 0, ``a_i = g_i``), so a learner is
checked against the truth rather than against another learner.  Each algorithm
trains for a bounded budget with seed 0 and must (a) bring its deterministic
policy within ``MAX_GAP`` of the optimum, in units of the random-to-optimal
reward gap (the learners start at about 0.39, the best observation-blind
policy), and (b) not end worse than the best evaluation seen during training
by more than ``MAX_REGRESSION`` (evaluations every ``EVAL_EVERY`` iterations).

Overrides, and why: small networks (``hidden = 32``), one torch thread and
``init_local_logit = 0`` (the offloading prior of the real task means nothing
here); off-policy actors step at ``actor_lr = 1e-3`` instead of their defaults
(3e-5 to 1e-4, tuned for 1800 episodes of the real task; at 1e-4 Ly-MATD3, whose
actor moves every second update, needs far more than the budget).  Everything
else - ``gamma``, the reward scaling, the minibatch size, the warm-up, the SAC
temperature, the PPO learning rates - stays at its default, so a failure here
points at a learner or a default, not at the toy.
"""

import pytest

from isac_iov.learners import REGISTRY
from isac_iov.learners.toy import ToyEnv, train_on_toy

MAX_GAP = 0.05
MAX_REGRESSION = 0.02
EVAL_EVERY = 20
COMMON = {"hidden": 32, "torch_threads": 1, "init_local_logit": 0.0}
OFF_POLICY = {**COMMON, "actor_lr": 1e-3}
BUDGETS = {  # (overrides, iterations of num_envs = 8 episodes of 10 slots)
    "ly-dtmpo": (COMMON, 150),
    "ly-mappo": (COMMON, 150),
    "ly-maddpg": (OFF_POLICY, 200),  # 2000 gradient updates
    "ly-matd3": (OFF_POLICY, 200),
    "ly-masac": (OFF_POLICY, 200),
}


def test_toy_rewards_match_their_closed_forms():
    env = ToyEnv(20000, seed=1)
    obs, glob = env.reset()
    spec = env.spec()
    assert obs.shape == (20000, spec.num_cvs, spec.obs_dim) and obs.shape[-1] + glob.shape[-1] == spec.critic_state_dim
    assert (glob == obs.reshape(20000, -1)).all()
    step = env.step(obs)
    assert step.reward.max() == 0.0 and not step.done
    step = env.step(env.rng.uniform(size=obs.shape))
    assert step.reward.mean() == pytest.approx(env.random_reward(), rel=0.01)
    assert step.outcome.reward_per_cv.sum(-1) == pytest.approx(step.reward)


@pytest.mark.parametrize("algo", list(REGISTRY))
def test_learner_reaches_the_toy_optimum_without_regressing(algo):
    overrides, iterations = BUDGETS[algo]
    run = train_on_toy(algo, iterations, seed=0, overrides=overrides, eval_every=EVAL_EVERY)
    curve = " ".join(f"{g:.3f}" for g in run["curve"])
    gap = run["optimality_gap"]
    assert gap <= MAX_GAP, f"{algo}: gap {gap:.3f} > {MAX_GAP} after {iterations} iterations; curve {curve}"
    assert gap <= min(run["curve"]) + MAX_REGRESSION, f"{algo}: regressed from its best; curve {curve}"
