"""How well an off-policy run's critics know the reward: fit on fresh data, and action gradients against the truth.

For a trained Ly-MADDPG / Ly-MATD3 / Ly-MASAC run directory, prints

* the R^2 of the first critic copy on fresh transitions of the run's own
  behaviour policy (``--envs`` envs, one episode), against the scaled rewards
  the critics learn from;
* per action dimension, the correlation between the gradient of the value the
  actors ascend (:meth:`~isac_iov.learners.offpolicy_critics.CentralCritics.policy_value`,
  first copy, agent 0's entry: with the per-CV reward the sum over CVs) with
  respect to each agent's action, and the true gradient of the team reward of
  eq. (44), by central finite differences of ``slot.evaluate`` on the same
  states, and how often their signs agree.

A critic that steers its actor well has a correlation near 1 on the dimensions
that matter (the task weights and CPU requests).

    python benchmarks/critic_diagnosis.py RUN_DIR [--envs 32] [--slots 8] [--seed 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from isac_iov import BatchedEnv
from isac_iov.learners import algo_spec, read_checkpoint, read_run
from isac_iov.learners.common import EnvSpec, as_tensor, critic_extra
from isac_iov.learners.offpolicy import OffPolicyLearner
from isac_iov.slot import evaluate

STEP = 1e-3


def load(run_dir: Path) -> tuple[OffPolicyLearner, object]:
    cfg, name, algo_cfg, _ = read_run(run_dir)
    learner = algo_spec(name).learner(EnvSpec.from_config(cfg), algo_cfg)
    if not isinstance(learner, OffPolicyLearner):
        raise SystemExit(f"{run_dir}: {name} is not an off-policy learner")
    learner.load_state_dict(read_checkpoint(run_dir, cfg)["learner"])
    return learner, cfg


def critic_fit(learner: OffPolicyLearner, cfg: object, envs: int, seed: int) -> float:
    """R^2 of the first critic copy on one fresh episode of the behaviour policy."""
    env = BatchedEnv(cfg, envs, seed=seed)
    obs, glob_np = env.reset()
    pred, true = [], []
    for _ in range(cfg.episode_slots):
        o, glob = as_tensor(obs), critic_extra(as_tensor(glob_np), learner.spec, learner.pooled)
        with torch.no_grad():
            a = learner.behaviour(o)
            pred.append(learner.critic(learner.critic_input(o, glob, a))[:, 0].numpy().ravel())
        step = env.step(a.double().clamp(0.0, 1.0).numpy())
        rew = torch.as_tensor(
            step.outcome.reward_per_cv
            if learner.cfg.reward == "per_cv"
            else np.repeat(step.reward[:, None], learner.spec.num_cvs, 1),
            dtype=torch.float32,
        )
        true.append(learner.scale_rewards(rew).numpy().ravel())
        obs, glob_np = step.obs, step.global_state
    p, t = np.concatenate(pred), np.concatenate(true)
    return float(1.0 - ((p - t) ** 2).mean() / t.var())


def gradients(
    learner: OffPolicyLearner, cfg: object, envs: int, slots: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(critic, true)`` gradients ``(E, I, A)`` at the deterministic policy's action after ``slots`` slots."""
    env = BatchedEnv(cfg, envs, seed=seed)
    obs, glob_np = env.reset()
    for _ in range(slots):
        with torch.no_grad():
            step = env.step(learner.actor.mean_action(as_tensor(obs)).double().clamp(0.0, 1.0).numpy())
        obs, glob_np = step.obs, step.global_state
    phys, q = env.snapshot()
    o, glob = as_tensor(obs), critic_extra(as_tensor(glob_np), learner.spec, learner.pooled)
    a = learner.actor.mean_action(o).detach().requires_grad_(True)
    learner.policy_value(o, glob, a.detach(), a)[:, 0, 0].sum().backward()
    a0 = a.detach().double().clamp(0.0, 1.0).numpy()
    true = np.zeros_like(a0)
    for i in range(a0.shape[1]):
        for d in range(a0.shape[2]):
            up, down = a0.copy(), a0.copy()
            up[:, i, d] = np.minimum(up[:, i, d] + STEP, 1.0)
            down[:, i, d] = np.maximum(down[:, i, d] - STEP, 0.0)
            diff = evaluate(env.scn, phys, q, up).reward - evaluate(env.scn, phys, q, down).reward
            true[:, i, d] = diff / np.maximum(up[:, i, d] - down[:, i, d], 1e-12)
    return a.grad.numpy(), true


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--envs", type=int, default=32)
    p.add_argument("--slots", type=int, default=8, help="slots played before the gradients are taken")
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args()
    learner, cfg = load(args.run_dir)
    print(f"critic R^2 on fresh behaviour data: {critic_fit(learner, cfg, args.envs, args.seed):.3f}")
    g_critic, g_true = gradients(learner, cfg, args.envs, args.slots, args.seed)
    print(f"{'action dim':>10}{'corr':>8}{'sign agree':>12}{'|true grad|':>13}")
    for d in range(g_true.shape[-1]):
        c, t = g_critic[..., d].ravel(), g_true[..., d].ravel()
        corr = np.corrcoef(c, t)[0, 1] if c.std() > 0 and t.std() > 0 else float("nan")
        print(f"{d:>10}{corr:>8.2f}{(np.sign(c) == np.sign(t)).mean():>12.2f}{np.abs(t).mean():>13.3g}")


if __name__ == "__main__":
    main()
