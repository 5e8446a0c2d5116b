"""What every learner shares: the env dimensions, the hyper-parameter base class and the learner interface.

A learner is driven by :func:`isac_iov.learners.train.train_run` through the
:class:`Learner` protocol, one *iteration* at a time: ``num_envs`` episodes are
played in lockstep by a :class:`~isac_iov.env.core.BatchedEnv`; for every slot
the loop calls ``explore`` (actions for all envs and agents in one batched
call) and then ``record`` with the env's :class:`~isac_iov.env.core.Step`;
``end_iteration(keep)`` learns from the first ``keep`` episodes (the last
iteration of a run may need fewer than ``num_envs``).  On-policy learners
update there; off-policy learners update inside ``record`` and store the
episodes there.

Two shared fields shape every actor (:mod:`.networks`): ``init_local_logit``
starts the policy offloading about 97 % of each task (local cycles cost about
six times the energy of RSU cycles, so an unbiased start spends its first
~1000 episodes unlearning local execution), and ``norm_memory`` lets the input
normalisers forget (the virtual energy queue falls 100-fold while a policy
learns).  Measured effects are in the docstrings of :mod:`.mappo` and
:mod:`.offpolicy`.

Hyper-parameters are frozen dataclasses deriving from :class:`AlgoConfig`;
:func:`make_algo_config` applies ``key=value`` overrides with the same
type checks and error style as the scenario config.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from ..config import Config, ConfigError, coerce, parse_yaml
from ..env.core import Step, dims
from .networks import Actor


@dataclass(frozen=True)
class EnvSpec:
    """Dimensions a learner needs, read from the config (:func:`isac_iov.env.core.dims`)."""

    num_cvs: int
    obs_dim: int
    action_dim: int
    global_state_dim: int
    critic_state_dim: int
    twin_part: slice  # the observation entries the twin provides
    slots: int

    @classmethod
    def from_config(cls, cfg: Config) -> EnvSpec:
        d = dims(cfg)
        return cls(
            d.num_cvs, d.obs_dim, d.action_dim, d.global_state_dim, d.critic_state_dim, d.twin, cfg.episode_slots
        )


@dataclass(frozen=True)
class AlgoConfig:
    """Fields common to every algorithm."""

    num_envs: int = 16  # episodes played in parallel per iteration
    hidden: int = 128  # width of both hidden layers of every network
    shared_actor: bool = False  # one actor for all CVs with a one-hot agent id (else one per CV)
    torch_threads: int = 1  # fixed for run-to-run determinism
    init_local_logit: float = -3.0  # initial mean pre-action of the local weight (action 0): offload first
    norm_memory: float = 10.0  # iterations of inputs the input normalisers remember (0: all)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_CHOICES = {"reward": ("team", "per_cv")}
_POSITIVE_INT = {
    "num_envs",
    "hidden",
    "torch_threads",
    "epochs",
    "batch_size",
    "buffer_episodes",
    "policy_delay",
    "anneal_episodes",
}
_UNIT_INTERVAL = {"actor_lr_floor"}  # fractions of another value, in [0, 1]


def make_algo_config(cls: type[AlgoConfig], overrides: dict[str, Any] | None) -> AlgoConfig:
    """``cls()`` with ``overrides`` (values may be YAML text from the command line), each converted by the
    scenario config's coercer and checked (choices, positive counts); ConfigError names ``algo.KEY``."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, raw in (overrides or {}).items():
        if key not in hints:
            raise ConfigError(f"unknown algorithm key algo.{key} (known: {', '.join(sorted(hints))})")
        value = parse_yaml(raw, f"algo.{key}: value {raw!r}") if isinstance(raw, str) else raw
        values[key] = _check(key, coerce(f"algo.{key}", value, hints[key]))
    return cls(**values)


def _check(key: str, value: Any) -> Any:
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"algo.{key}: must be one of {_CHOICES[key]}, got {value!r}")
    if key in _POSITIVE_INT and value < 1:
        raise ConfigError(f"algo.{key}: must be >= 1, got {value!r}")
    if key in _UNIT_INTERVAL and not 0.0 <= value <= 1.0:
        raise ConfigError(f"algo.{key}: must be in [0, 1], got {value!r}")
    return value


class Learner(Protocol):
    """The interface :mod:`isac_iov.learners.train` drives (see the module docstring)."""

    actor: Actor
    num_envs: int

    def explore(self, obs: np.ndarray, critic_state: np.ndarray, t: int) -> np.ndarray: ...

    def record(self, step: Step, t: int) -> None: ...

    def end_iteration(self, keep: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def adam(params: Any, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with the fused CPU kernel (one call for all tensors of a network)."""
    return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)


class NonFiniteTraining(ValueError):
    """A loss, gradient, weight or reward of a learner became NaN or infinite."""


def optimise(opt: torch.optim.Optimizer, net: torch.nn.Module, loss: torch.Tensor, max_norm: float) -> None:
    """One Adam step on ``loss`` with the gradient norm of ``net`` clipped to ``max_norm``.

    Raises :class:`NonFiniteTraining` (before the step, so the weights stay finite) when the
    gradient is not finite."""
    opt.zero_grad(set_to_none=True)
    loss.backward(inputs=list(net.parameters()))
    norm = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)
    if not torch.isfinite(norm):
        raise NonFiniteTraining(f"non-finite gradient of the {type(net).__name__} (loss {loss.item():.4g})")
    opt.step()


def step_rewards(step: Step, reward: str) -> np.ndarray:
    """What a learner learns from in a slot, ``(E, I)`` or ``(E, 1)``: each CV's share of eq. (44)
    (``reward = "per_cv"``) or the team reward (``"team"``), the same for every agent."""
    return step.outcome.reward_per_cv if reward == "per_cv" else step.reward[:, None]


def as_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


def to_actions(a: torch.Tensor) -> np.ndarray:
    """A torch action batch as the float64 array the env expects (inside [0, 1])."""
    return a.detach().double().clamp_(0.0, 1.0).numpy()
