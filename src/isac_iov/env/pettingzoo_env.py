"""PettingZoo ``ParallelEnv`` view of one environment of the batched core.

``parallel_env(config=None, seed=None, overrides=None, actions="box", reward="team")`` builds it; agents are
``cv_0 .. cv_{I-1}``.  Each agent observes the vector of eq. (40) described in
:mod:`isac_iov.env.core` and acts with a flat ``Box(0, 1, (1 + 3K,))`` action
(mapping in :mod:`isac_iov.actions`).  The reward is the team reward of
eq. (44), the same for every agent.  Episodes are truncated after
``episode_slots`` slots; nothing terminates early.  ``state()`` is the twin's
global view (zeros without a twin).  ``infos[agent]`` holds that CV's delay
(s), energy (J), cost, InstrT flags per RSU, queues, whether it missed its
deadline in the slot just played; ``infos`` of ``reset`` and ``step`` hold
``action_mask``: which entries of the agent's next action act at all (the local
weight, and the task, band and CPU entries of the RSUs in its coverage, read from
its observation; the env ignores the others, C5).

**Options for generic learners** (the defaults are the paper's interface; neither changes the model):

* ``actions="centred"``: each agent acts in ``Box(-1, 1, (1 + 3K,))`` and the zero action is a sensible
  policy (:func:`isac_iov.actions.from_centred`: offload evenly over the RSUs in reach, a modest CPU request),
  so an untrained Gaussian policy, which starts at the centre of its box, starts near it instead of running a
  third to a half of every task on the CV;
* ``reward="per_cv"``: each agent receives its own share of eq. (44) (``Outcome.reward_per_cv``; the shares
  sum to the team reward), -1.2 per CV and slot under ``greedy`` on Table II's road and -1.4 on the city, whose
  team reward (-72) is fifty times larger and moves little with one agent's action.

Observations need no option: every entry is O(1) by construction (measured over random and constant policies
on Table II's road, the largest is the log-scaled energy queue, at most 5.2).

Misuse is an error that says what was expected, never a ``KeyError`` or a
silently ignored entry: ``step`` before ``reset`` or after the episode ended
(``RuntimeError``); an actions argument that is not a dict, a non-string key,
an unknown agent id, a missing agent, or an action that is not a finite array
of shape ``(1 + 3K,)`` in ``[0, 1]`` (``ActionError``, naming the agent);
a seed that is not ``None`` or an integer in ``[0, 2**63 - 1]`` (``ConfigError``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from ..actions import ActionError, from_centred, layout
from ..config import Config, check_seed, load_config
from .core import BatchedEnv, dims
from .rollout import SlotRecord

ACTIONS = ("box", "centred")
REWARDS = ("team", "per_cv")


class IsacIovParallelEnv(ParallelEnv):
    metadata: ClassVar[dict[str, Any]] = {"name": "isac_iov_v0", "render_modes": []}

    def __init__(self, cfg: Config, seed: int | None = None, actions: str = "box", reward: str = "team"):
        for option, value, allowed in (("actions", actions, ACTIONS), ("reward", reward, REWARDS)):
            if value not in allowed:
                raise ValueError(f"{option}: must be one of {allowed}, got {value!r}")
        self.actions, self.reward = actions, reward
        self.core = BatchedEnv(cfg, num_envs=1, seed=seed)
        self._coverage, self._parts = dims(cfg).link("in_coverage"), layout(cfg.num_rsus)  # for the action masks
        self.possible_agents = [f"cv_{i}" for i in range(cfg.num_cvs)]
        self.agents: list[str] = []
        self._started = False
        self._obs_space = spaces.Box(-np.inf, np.inf, (self.core.obs_dim,), dtype=np.float32)
        low = -1.0 if actions == "centred" else 0.0
        self._act_space = spaces.Box(low, 1.0, (self.core.action_dim,), dtype=np.float32)
        self.state_space = spaces.Box(-np.inf, np.inf, (self.core.global_state_dim,), dtype=np.float32)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Box:
        return self._act_space

    def _split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {a: obs[0, i].astype(np.float32) for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, _ = self.core.reset(seed=None if seed is None else check_seed("reset: seed", seed))
        self.agents = list(self.possible_agents)
        self._started = True
        masks = self._masks(obs)
        return self._split(obs), {a: {"action_mask": masks[i]} for i, a in enumerate(self.agents)}

    def _agent_action(self, agent: str, action: Any) -> np.ndarray:
        """One agent's action as float64 ``(1 + 3K,)`` in [0, 1], or ActionError naming the agent."""
        shape = (self.core.action_dim,)
        low = int(self._act_space.low[0])
        expected = f"expected a finite array of shape {shape} = (1+3K,) with entries in [{low}, 1]"
        try:
            a = np.asarray(action)
            ok_type = not isinstance(action, (str, bytes)) and a.dtype.kind in "biuf"
        except (TypeError, ValueError):
            ok_type = False
        if not ok_type:
            shown = " ".join(repr(action).split())[:80]
            raise ActionError(f"action of {agent}: {expected}, got {type(action).__name__} {shown}")
        if a.shape != shape:
            raise ActionError(f"action of {agent}: {expected}, got shape {a.shape}")
        a = a.astype(float)
        bad = np.flatnonzero(~((a >= low) & (a <= 1)))
        if bad.size:
            raise ActionError(f"action of {agent}: {expected}, got {float(a[bad[0]])!r} at index {bad[0]}")
        return from_centred(a, self.core.num_rsus) if self.actions == "centred" else a

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError(
                "step(): the episode is over; call reset() first"
                if self._started
                else "step() before reset(): call reset() first"
            )
        if not isinstance(actions, dict):
            raise ActionError(f"actions: expected a dict from agent id to action, got {type(actions).__name__}")
        odd = [k for k in actions if not isinstance(k, str)]
        if odd:
            raise ActionError(f"actions: keys must be agent ids (strings), got {odd[0]!r:.80}")
        unknown = sorted(set(actions) - set(self.possible_agents))
        if unknown:
            raise ActionError(f"actions: unknown agent ids {unknown!r:.200} (agents: {', '.join(self.agents)})")
        missing = set(self.agents) - set(actions)
        if missing:
            raise ActionError(f"actions: missing agents {sorted(missing)}")
        a = np.stack([self._agent_action(ag, actions[ag]) for ag in self.possible_agents])[None]
        st = self.core.step(a)
        info = SlotRecord.of(st).cv_info()
        infos = {ag: {k: v[0, i] for k, v in info.items()} for i, ag in enumerate(self.possible_agents)}
        masks = self._masks(st.obs)
        for i, ag in enumerate(self.possible_agents):
            infos[ag]["action_mask"] = masks[i]
        per_cv = st.outcome.reward_per_cv[0]
        rewards = {
            ag: float(per_cv[i] if self.reward == "per_cv" else st.reward[0]) for i, ag in enumerate(self.agents)
        }
        terms = {ag: False for ag in self.agents}
        truncs = {ag: st.done for ag in self.agents}
        obs = self._split(st.obs)
        if st.done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def _masks(self, obs: np.ndarray) -> np.ndarray:
        """Per CV, which entries of its next action act: the local weight and every entry of an RSU its
        observation ``obs (1, I, O)`` says is in coverage."""
        reachable, parts = obs[0, :, self._coverage] > 0.5, self._parts
        mask = np.zeros((self.core.num_cvs, parts.dim), dtype=bool)
        mask[:, parts.local] = True
        for part in (parts.task, parts.bandwidth, parts.cpu):
            mask[:, part] = reachable
        return mask

    def state(self) -> np.ndarray:
        return self.core.global_state()[0].astype(np.float32)


def parallel_env(
    config: Config | str | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
    actions: str = "box",
    reward: str = "team",
) -> IsacIovParallelEnv:
    """The PettingZoo env for a Config, a YAML path, or the defaults, with ``key=value`` overrides, and the
    interface options ``actions`` (``box`` | ``centred``) and ``reward`` (``team`` | ``per_cv``)."""
    cfg = config if isinstance(config, Config) else load_config(config, overrides)
    if isinstance(config, Config) and overrides:
        from ..config import apply_overrides, from_dict

        cfg = from_dict(apply_overrides(config.to_dict(), overrides))
    return IsacIovParallelEnv(cfg, seed=seed, actions=actions, reward=reward)
