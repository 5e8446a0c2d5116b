"""MAPPO from TorchRL's own parts on isac-iov's TorchRL env: the integration, from env to evaluated policy.

TorchRL's multi-agent PPO recipe (its collector, ``ClipPPOLoss`` with GAE, a replay buffer sampled without
replacement) on :func:`isac_iov.integrations.torchrl.make_env`, which wraps the PettingZoo view in TorchRL's
``PettingZooWrapper`` with every CV in the group ``"agents"`` and per-CV rewards, here with centred actions:

* the actor is one small MLP shared by all agents (it maps ``(..., I, O)`` to ``(..., I, 1 + 3K)``), whose last
  layer starts near zero, i.e. at the centred box's sensible policy, with a state-independent exploration noise
  squashed by a tanh into ``[-1, 1]``;
* the critic is TorchRL's ``MultiAgentMLP``, centralised (it reads every agent's observation, MAPPO), one value
  per agent since each agent is rewarded with its own share of eq. (44).

After training, :class:`isac_iov.integrations.torchrl.TensorDictPolicy` evaluates the deterministic policy with
:func:`isac_iov.evaluate.evaluate_policy` on the episodes ``isac-iov evaluate --episodes N --seed 0`` plays, next
to ``greedy`` (docs/integrations.md walks through this file)::

    python examples/torchrl_mappo.py --episodes 600 --seed 0
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch
from tensordict.nn import AddStateIndependentNormalScale, TensorDictModule
from torch import nn
from torchrl.collectors import SyncDataCollector
from torchrl.data import LazyTensorStorage, ReplayBuffer, SamplerWithoutReplacement
from torchrl.modules import MultiAgentMLP, ProbabilisticActor, TanhNormal
from torchrl.objectives import ClipPPOLoss, ValueEstimators

from isac_iov.config import Config, load_config
from isac_iov.evaluate import evaluate_policy
from isac_iov.integrations.torchrl import GROUP, TensorDictPolicy, make_env


@dataclasses.dataclass
class Args:
    episodes: int = 600  # training episodes of 30 slots
    seed: int = 0
    episodes_per_batch: int = 8  # episodes collected between two updates
    epochs: int = 8  # passes over each batch
    minibatch: int = 60  # slots per gradient step (each with every agent)
    lr: float = 3e-4
    gamma: float = 0.9
    lmbda: float = 0.9
    clip: float = 0.2
    hidden: int = 64  # width of the two hidden layers of the actor and the critic
    init_scale: float = 0.1  # initial exploration noise before the tanh
    eval_episodes: int = 20
    actions: str = "centred"  # the env's action option: "centred" (Box(-1, 1), zero = a sensible policy) or "box"


def make_actor(env, args: Args) -> ProbabilisticActor:
    """A Gaussian actor shared by all agents of ``env``, squashed into the action box."""
    obs_dim = env.observation_spec[GROUP, "observation"].shape[-1]
    act_dim = env.full_action_spec[GROUP, "action"].shape[-1]
    net = nn.Sequential(
        nn.Linear(obs_dim, args.hidden), nn.Tanh(), nn.Linear(args.hidden, args.hidden), nn.Tanh(),
        nn.Linear(args.hidden, act_dim),
    )  # fmt: skip
    with torch.no_grad():
        net[-1].weight.mul_(0.01)  # start at the box's centre: with centred actions, a sensible policy
        net[-1].bias.zero_()
    scale = AddStateIndependentNormalScale(act_dim, init_value=math.log(args.init_scale))
    module = TensorDictModule(
        nn.Sequential(net, scale), in_keys=[(GROUP, "observation")], out_keys=[(GROUP, "loc"), (GROUP, "scale")]
    )
    space = env.full_action_spec_unbatched[GROUP, "action"].space
    return ProbabilisticActor(
        module,
        spec=env.full_action_spec_unbatched,
        in_keys=[(GROUP, "loc"), (GROUP, "scale")],
        out_keys=[(GROUP, "action")],
        distribution_class=TanhNormal,
        distribution_kwargs={"low": space.low, "high": space.high},
        return_log_prob=True,
    )


def train(args: Args, cfg: Config) -> ProbabilisticActor:
    """MAPPO for ``args.episodes`` episodes of the scenario ``cfg``; the trained actor."""
    torch.manual_seed(args.seed)
    env = make_env(cfg, seed=args.seed, actions=args.actions)
    num_agents, obs_dim = env.observation_spec[GROUP, "observation"].shape
    actor = make_actor(env, args)
    critic = TensorDictModule(
        MultiAgentMLP(
            n_agent_inputs=obs_dim, n_agent_outputs=1, n_agents=num_agents, centralised=True, share_params=True,
            depth=2, num_cells=args.hidden, activation_class=nn.Tanh,
        ),
        in_keys=[(GROUP, "observation")],
        out_keys=[(GROUP, "state_value")],
    )  # fmt: skip
    frames_per_batch = args.episodes_per_batch * cfg.episode_slots
    collector = SyncDataCollector(
        env, actor, frames_per_batch=frames_per_batch, total_frames=args.episodes * cfg.episode_slots
    )
    buffer = ReplayBuffer(
        storage=LazyTensorStorage(frames_per_batch), sampler=SamplerWithoutReplacement(), batch_size=args.minibatch
    )
    loss = ClipPPOLoss(actor, critic, clip_epsilon=args.clip, entropy_coeff=0.0, normalize_advantage=True)
    loss.set_keys(
        reward=(GROUP, "reward"), action=(GROUP, "action"), value=(GROUP, "state_value"),
        done=(GROUP, "done"), terminated=(GROUP, "terminated"),
    )  # fmt: skip
    loss.make_value_estimator(ValueEstimators.GAE, gamma=args.gamma, lmbda=args.lmbda)
    optimiser = torch.optim.Adam(loss.parameters(), lr=args.lr)
    for k, batch in enumerate(collector):
        with torch.no_grad():
            loss.value_estimator(
                batch, params=loss.critic_network_params, target_params=loss.target_critic_network_params
            )
        buffer.extend(batch.reshape(-1))
        for _ in range(args.epochs * (frames_per_batch // args.minibatch)):
            terms = loss(buffer.sample())
            (terms["loss_objective"] + terms["loss_critic"]).backward()
            nn.utils.clip_grad_norm_(loss.parameters(), 1.0)
            optimiser.step()
            optimiser.zero_grad()
        collector.update_policy_weights_()
        print(f"batch {k + 1}: reward per agent-slot {batch['next', GROUP, 'reward'].mean():.3f}", flush=True)
    collector.shutdown()
    return actor


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ns = vars(p.parse_args())
    overrides = ns.pop("overrides")
    args = Args(**ns)
    torch.set_num_threads(1)
    start = time.perf_counter()
    cfg = load_config(None, overrides)
    actor = train(args, cfg)
    policy = TensorDictPolicy(actor, actions=args.actions, name="torchrl-mappo")
    mappo = evaluate_policy(policy, cfg, args.eval_episodes, 0, record_slots=False, progress=False)["summary"]
    greedy = evaluate_policy("greedy", cfg, args.eval_episodes, 0, record_slots=False, progress=False)["summary"]
    print(
        f"MAPPO cost {mappo['cost']:.4f}, greedy {greedy['cost']:.4f}: {mappo['cost'] / greedy['cost']:.3f} x greedy"
        f" (reward per slot {mappo['reward']:.2f}, greedy {greedy['reward']:.2f}; {time.perf_counter() - start:.0f} s)"
    )


if __name__ == "__main__":
    main()
