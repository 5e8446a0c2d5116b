"""Independent PPO with one shared network on isac-iov's PettingZoo view: a user's algorithm, in one file.

Everything it knows of isac-iov is the public PettingZoo API of ``isac_iov.parallel_env`` with the options a
generic learner wants (docs/tutorials/own-algorithm.md):

* ``actions="centred"``: each agent acts in ``Box(-1, 1)``, and the zero action is a sensible policy (offload
  almost everything, evenly over the RSUs in reach, with a modest CPU request), so an untrained Gaussian policy
  starts near it;
* ``reward="per_cv"`` (``--reward per_cv``): each agent is rewarded with its own share of the team reward of
  eq. (44); on Table II's 5 CVs the team reward learns better (examples/README.md).

The algorithm is CleanRL's continuous PPO with one network for all agents (parameter sharing): a Gaussian actor
with a state-independent log-std, a critic on the agent's own observation, observations standardised by running
statistics, the clipped surrogate, and ``gamma = 0`` (eq. 44 is built to be minimised slot by slot, so the
advantage is the reward minus the critic's value).  After training it evaluates its deterministic policy and prints
the cost of eq. (24) next to ``greedy``'s on the same number of episodes:

    python examples/ippo.py --episodes 1800 --seed 0
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from torch import nn

import isac_iov


@dataclasses.dataclass
class Args:
    episodes: int = 600  # training episodes of 30 slots
    seed: int = 0
    lr: float = 1e-3  # Adam step size, falling linearly to 0 over the run
    episodes_per_update: int = 8  # episodes collected between two updates
    epochs: int = 10  # passes over each batch
    minibatch: int = 512  # agent-slots per gradient step
    clip: float = 0.2  # PPO's ratio clip
    hidden: int = 128  # width of the two hidden layers of the actor and the critic
    init_log_std: float = -1.0  # initial exploration noise (std 0.37 on a [-1, 1] action)
    max_grad_norm: float = 0.5
    eval_episodes: int = 20
    reward: str = "team"  # the env's reward option: "team" (eq. 44), or "per_cv" (each agent's own share)
    actions: str = "centred"  # the env's action option: "centred" (Box(-1, 1), zero = a sensible policy) or "box"


def mlp(d_in: int, d_out: int, hidden: int, out_gain: float) -> nn.Sequential:
    net = nn.Sequential(
        nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, d_out)
    )
    with torch.no_grad():
        net[-1].weight.mul_(out_gain)
        net[-1].bias.zero_()
    return net


class Agent(nn.Module):
    """Shared actor and critic over one agent's standardised observation."""

    def __init__(self, obs_dim: int, act_dim: int, args: Args):
        super().__init__()
        self.actor = mlp(obs_dim, act_dim, args.hidden, 0.01)  # starts at the zero action
        self.critic = mlp(obs_dim, 1, args.hidden, 1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), args.init_log_std))
        self.register_buffer("mean", torch.zeros(obs_dim))
        self.register_buffer("var", torch.ones(obs_dim))
        self.count = 1e-4

    def update_norm(self, x: torch.Tensor) -> None:
        """Running mean and variance of the observations (Chan's parallel update)."""
        n, mean, var = x.shape[0], x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.mean = self.mean + delta * n / total
        self.count = total

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.var.sqrt().clamp(min=1.0)).clamp(-10, 10)

    def dist(self, obs: torch.Tensor) -> torch.distributions.Normal:
        return torch.distributions.Normal(self.actor(self.norm(obs)), self.log_std.exp())

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.norm(obs)).squeeze(-1)


def clip(env, u: torch.Tensor) -> np.ndarray:
    """An action inside the action space's bounds."""
    space = env.action_space(env.possible_agents[0])
    return np.clip(u.numpy(), space.low, space.high)


def collect(env, agent: Agent, episodes: int, seed: int) -> dict[str, torch.Tensor]:
    """Play ``episodes`` episodes with the stochastic policy; every agent-slot's observation, action, log-prob
    and reward."""
    rows: dict[str, list] = {"obs": [], "act": [], "logp": [], "rew": []}
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        while env.agents:
            names = list(env.agents)
            x = torch.as_tensor(np.stack([obs[a] for a in names]))
            with torch.no_grad():
                d = agent.dist(x)
                u = d.sample()
            actions = {a: clip(env, u[i]) for i, a in enumerate(names)}
            obs, rewards, _, _, _ = env.step(actions)
            rows["obs"].append(x)
            rows["act"].append(u)
            rows["logp"].append(d.log_prob(u).sum(-1))
            rows["rew"].append(torch.tensor([rewards[a] for a in names], dtype=torch.float32))
    return {k: torch.cat(v) for k, v in rows.items()}


def update(agent: Agent, opt: torch.optim.Optimizer, batch: dict[str, torch.Tensor], args: Args) -> None:
    """PPO epochs over the batch; with gamma = 0 the return is the reward itself."""
    with torch.no_grad():
        adv = batch["rew"] - agent.value(batch["obs"])
    n = batch["obs"].shape[0]
    for _ in range(args.epochs):
        for idx in torch.randperm(n).split(args.minibatch):
            d = agent.dist(batch["obs"][idx])
            ratio = (d.log_prob(batch["act"][idx]).sum(-1) - batch["logp"][idx]).exp()
            a = adv[idx]
            a = (a - a.mean()) / (a.std() + 1e-8)
            policy_loss = -torch.min(ratio * a, ratio.clamp(1 - args.clip, 1 + args.clip) * a).mean()
            value_loss = (agent.value(batch["obs"][idx]) - batch["rew"][idx]).pow(2).mean()
            opt.zero_grad()
            (policy_loss + 0.5 * value_loss).backward()
            nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
            opt.step()


def evaluate(env, agent: Agent, episodes: int, seed: int) -> float:
    """Mean cost of eq. (24) per CV and slot of the deterministic policy."""
    costs = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        while env.agents:
            names = list(env.agents)
            with torch.no_grad():
                mean = agent.actor(agent.norm(torch.as_tensor(np.stack([obs[a] for a in names]))))
            obs, _, _, _, infos = env.step({a: clip(env, mean[i]) for i, a in enumerate(names)})
            costs += [infos[a]["cost"] for a in names]
    return float(np.mean(costs))


def train(args: Args, overrides: list[str] | None = None) -> tuple[Agent, float]:
    torch.manual_seed(args.seed)
    env = isac_iov.parallel_env(overrides=overrides, actions=args.actions, reward=args.reward)
    first = env.possible_agents[0]
    agent = Agent(env.observation_space(first).shape[0], env.action_space(first).shape[0], args)
    opt = torch.optim.Adam(agent.parameters(), lr=args.lr, eps=1e-5)
    updates = max(1, args.episodes // args.episodes_per_update)
    for k in range(updates):
        for group in opt.param_groups:
            group["lr"] = args.lr * (1 - k / updates)
        batch = collect(env, agent, args.episodes_per_update, args.seed * 1_000_003 + k * args.episodes_per_update)
        agent.update_norm(batch["obs"])
        update(agent, opt, batch, args)
        if k % 10 == 0 or k == updates - 1:
            print(f"update {k + 1}/{updates}: reward per agent-slot {batch['rew'].mean():.3f}", flush=True)
    return agent, evaluate(env, agent, args.eval_episodes, seed=10**6 + args.seed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ns = vars(p.parse_args())
    overrides = ns.pop("overrides")
    args = Args(**ns)
    start = time.perf_counter()
    _, cost = train(args, overrides)
    from isac_iov.config import load_config
    from isac_iov.evaluate import evaluate_policy

    greedy = evaluate_policy("greedy", load_config(None, overrides), args.eval_episodes, 0, progress=False)
    g = greedy["summary"]["cost"]
    print(f"IPPO cost {cost:.4f}, greedy {g:.4f}: {cost / g:.3f} x greedy ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
