"""The PettingZoo view as a TorchRL env, and any TorchRL policy evaluated as the package's own are.

Needs the optional extra ``torchrl`` (``pip install -c constraints.txt 'isac-iov[torchrl]'``); docs/integrations.md
walks through training on it with TorchRL's own PPO (``examples/torchrl_mappo.py``).

:func:`make_env` wraps :func:`isac_iov.parallel_env` in TorchRL's ``PettingZooWrapper`` with every CV in one
group, ``"agents"``, so a policy shared by the agents sees ``(..., I, ·)`` tensors:

* ``("agents", "observation")`` ``(..., I, O)``: each CV's observation of eq. (40), every entry O(1);
* ``("agents", "action")`` ``(..., I, 1 + 3K)``: the paper's ``[0, 1]`` by default (``actions="box"``), or
  ``[-1, 1]`` with ``actions="centred"``, zero being a sensible policy (:func:`isac_iov.actions.from_centred`);
* ``("agents", "reward")`` ``(..., I, 1)``: with ``reward="per_cv"`` (the default here) each CV's own share of
  eq. (44), about -1.2 per CV-slot under ``greedy``; with ``"team"`` the team reward, the same for every CV;
* ``("agents", "action_mask")`` ``(..., I, 1 + 3K)``: which entries of the next action act at all (the env
  ignores the others);
* ``"state"`` ``(..., G)``: the twin's global view, present only when the twin is on (without it the view is
  all zeros, and a centralised critic should read the agents' observations instead);
* ``"done"``/``"truncated"``: after ``episode_slots`` slots; nothing terminates early.

Why those defaults, measured with BenchMARL's MAPPO and its default configuration (54,000 frames, seed 0,
``benchmarks/bench_benchmarl.py``, docs/integrations.md): a generic learner does not normalise rewards, and the
team reward, in the hundreds per slot once the virtual energy queue grows, drove it to three times the energy
budget, where each CV's own share (about -1.2 per slot under ``greedy``) kept it within the budget at a slightly
lower cost (1.33 x ``greedy`` against 1.35 x), though with more deadline misses (8.4 % against 0.8 %).  Centred
actions, on the other hand, made it worse (2.6 x ``greedy``): its policy starts with outputs of a few tenths and a
noise of about one before the tanh, which the centred map's slope of 6 turns into all-or-nothing shares and CPU
requests of 2 to 7 %, where the box maps them linearly.  Centred actions are for a learner that starts at exactly
zero with a small noise (``examples/ippo.py``, ``examples/torchrl_mappo.py``).

:class:`TensorDictPolicy` turns a TorchRL policy module trained on that env into a :class:`isac_iov.policies.Policy`
for :func:`isac_iov.evaluate.evaluate_policy`: it acts deterministically (TorchRL's ``DETERMINISTIC``
exploration type, as BenchMARL evaluates) on the batched core's observations and maps centred actions back to the
paper's box, so the trained policy is evaluated on exactly the episodes ``isac-iov evaluate`` plays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..actions import from_centred
from ..config import Config
from ..env.core import BatchedEnv
from ..env.pettingzoo_env import parallel_env
from . import missing_extra

try:
    import torch
    from tensordict import TensorDict, TensorDictBase
    from torchrl.envs import PettingZooWrapper
    from torchrl.envs.utils import ExplorationType, set_exploration_type
except ImportError as exc:
    raise missing_extra(__name__, "torchrl", exc) from None

GROUP = "agents"  # the one group every CV belongs to


def make_env(
    config: Config | str | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
    *,
    actions: str = "box",
    reward: str = "per_cv",
    device: str = "cpu",
) -> PettingZooWrapper:
    """The scenario (a Config, a YAML path or Table II, with ``key=value`` overrides) as a TorchRL env; see the
    module docstring for its keys and for why ``reward="per_cv"`` is the default."""
    env = parallel_env(config, seed, overrides, actions=actions, reward=reward)
    return PettingZooWrapper(
        env,
        return_state=env.core.cfg.twin.enabled,
        group_map={GROUP: list(env.possible_agents)},
        categorical_actions=False,  # the actions are continuous: the action mask then has the action's shape
        seed=seed,
        device=device,
    )


class TensorDictPolicy:
    """A TorchRL policy module (reads ``(group, "observation")``, writes ``(group, "action")``) as an isac-iov
    policy: deterministic actions on the batched core's observations, centred actions mapped to the box."""

    def __init__(
        self,
        module: Callable[[TensorDictBase], TensorDictBase],
        *,
        actions: str = "box",
        group: str = GROUP,
        name: str = "torchrl",
    ):
        if actions not in ("box", "centred"):
            raise ValueError(f"actions: must be 'box' or 'centred' (the env's option), got {actions!r}")
        self.module, self.actions, self.group, self.name = module, actions, group, name

    def reset(self, env: BatchedEnv) -> None:
        """Nothing to reset: the policy is memoryless."""

    def act(self, env: BatchedEnv, obs: np.ndarray) -> np.ndarray:
        """Actions ``(E, I, 1 + 3K)`` in ``[0, 1]`` for observations ``(E, I, O)``."""
        e, i = obs.shape[:2]
        agents = TensorDict({"observation": torch.as_tensor(obs, dtype=torch.float32)}, batch_size=[e, i])
        td = TensorDict({self.group: agents}, batch_size=[e])
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            action = self.module(td).get((self.group, "action")).numpy().astype(float)
        if self.actions == "centred":
            return from_centred(np.clip(action, -1.0, 1.0), env.num_rsus)
        return np.clip(action, 0.0, 1.0)
