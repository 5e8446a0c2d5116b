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

Three shared fields shape every actor (:mod:`.networks`, :func:`initial_pre_action`):
``init_local_logit`` starts the policy offloading about 97 % of each task (local
cycles cost about six times the energy of RSU cycles, so an unbiased start spends
its first ~1000 episodes unlearning local execution); ``init_cpu_logit`` is where
each RSU CPU request starts (:mod:`.mappo` says why the PPO learners start low);
and ``norm_memory`` lets the input normalisers forget (the virtual energy queue
falls 100-fold while a policy learns).  Measured effects are in the docstrings of :mod:`.mappo` and
:mod:`.offpolicy`.

**City scale.**  Four fields keep the networks and buffers from growing with
the number of CVs ``I`` (docs/model.md#learners-at-scale); each defaults to
``auto``, which keeps the small-scenario form up to ``SCALE_CVS`` (16) CVs - so
the default scenario trains bit for bit as before - and switches to the
scalable form above:

* ``agent_id``: ``onehot`` appends a one-hot agent id to the input of every
  shared network (its first layer grows with ``I``); ``none`` makes a shared
  network, and the log-std or temperature beside it, the same for every
  agent, so its size does not depend on ``I``;
* ``critic_state``: ``global`` gives a critic agent i's observation and the
  twin's global state (``I`` CVs' features: ``I^2`` inputs over all agents);
  ``pooled`` gives it its observation and the mean and standard deviation over
  CVs of every CV feature of the global state (:func:`critic_extra`), a width
  that grows with ``K``; ``link`` (the scalable form) reads the observations
  through a per-link body (:mod:`.linknet`: ``LinkCritic`` for the PPO learners,
  ``LinkQ`` for the off-policy ones), whose size depends on neither ``I`` nor
  ``K``;
* ``critic_actions`` (off-policy learners, :mod:`.offpolicy`): the joint action
  with one critic per CV, or one shared critic on the agent's own action and a
  fixed-size summary of the others'.

* ``actor``: ``flat``, an MLP over the whole observation (its input and output
  grow with the number of RSUs ``K``), or ``link``, one network shared by every
  CV-RSU link (:mod:`.linknet`), whose size and meaning depend neither on ``I``
  nor on ``K`` nor on the road network, so a trained actor can act on another
  scenario (:func:`isac_iov.learners.load_policy`); or ``exchange``, the link
  body with message passing over the CVs that share an RSU (a CV's action
  then depends on theirs, through the twin: :mod:`.linknet`).  ``auto`` never
  picks ``exchange``.

The PPO learners' ``reward`` (:mod:`.mappo`) is ``auto`` too: the team reward up
to 16 CVs; above, where one CV's action moves the team reward too little for its
advantage to stand out, the twin's replays for a learner with the twin
(``difference``, :func:`form`) and otherwise the ``neighbours`` reward, the mean
per-CV share of the CVs that share an RSU's coverage with it
(:func:`.rewards.step_rewards`).  So is their
``minibatch``: ``batch_size`` agent-transitions up to 16 CVs; above, the slots that
hold ``batch_size`` of them on the paper's road, so an iteration takes as many
gradient steps at 200 CVs as at 5.

Hyper-parameters are frozen dataclasses deriving from :class:`AlgoConfig`;
:func:`make_algo_config` applies ``key=value`` overrides with the same
type checks and error style as the scenario config, and the range rules of
:func:`algo_rules`; ``isac-iov config --algo NAME`` prints them
(:func:`describe_algo`).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from ..actions import layout
from ..config import Config, ConfigError, aligned, coerce, parse_yaml
from ..env.core import Step, dims
from .linknet import LinkScenario
from .networks import Actor

Rule = tuple[str, ...] | str  # the allowed choices of a key, or a bound, a key of _BOUNDS


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
    coverage: slice | None = None  # the observation entries of the K coverage flags (None: no RSU layout)
    min_task_share: float = 0.0  # the action mapping's constants (isac_iov.actions), for :func:`mapped_actions`
    min_resource_share: float = 0.0
    bandwidth_per_rsu: bool = False
    twin_enabled: bool = True  # the twin's view and replays (twin.enabled; Ly-MAPPO trains without)
    link: LinkScenario = dataclasses.field(default_factory=LinkScenario)  # what a per-link net knows (.linknet)

    @classmethod
    def from_config(cls, cfg: Config) -> EnvSpec:
        d = dims(cfg)
        return cls(
            d.num_cvs,
            d.obs_dim,
            d.action_dim,
            d.global_state_dim,
            d.critic_state_dim,
            d.twin,
            cfg.episode_slots,
            d.link("in_coverage"),
            cfg.action.min_task_share,
            cfg.action.min_resource_share,
            cfg.channel.bandwidth_sharing == "per_rsu",
            cfg.twin.enabled,
            LinkScenario.of(cfg),
        )

    @property
    def cv_feature_dim(self) -> int:
        """Features of one CV: the observation before its twin part, repeated per CV in the global state."""
        return self.twin_part.start


@dataclass(frozen=True)
class AlgoConfig:
    """Fields common to every algorithm."""

    num_envs: int = 16  # episodes played in parallel per iteration
    hidden: int = 128  # width of both hidden layers of every network
    shared_actor: bool = False  # one actor for all CVs with a one-hot agent id (else one per CV)
    torch_threads: int = 1  # fixed for run-to-run determinism
    init_local_logit: float = -3.0  # initial mean pre-action of the local weight (action 0): offload first
    init_cpu_logit: float = 0.0  # initial mean pre-action of every RSU CPU request (module docstring)
    norm_memory: float = 10.0  # iterations of inputs the input normalisers remember (0: all)
    agent_id: str = "auto"  # shared networks: "onehot" agent id, "none" (I-independent), "auto" (module docstring)
    critic_state: str = "auto"  # critic input: "global" state, "pooled" over CVs (I-independent), "auto"
    actor: str = "auto"  # actor body: "flat" MLP over the observation, "link" (one net per CV-RSU link), "exchange"
    # (link with message passing over the CVs sharing an RSU), "auto"

    RULES: ClassVar[dict[str, Rule]] = {}  # a learner's own rules, over the common ones of _RULES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SCALE_CVS = 16  # "auto" options take their scalable form above this many CVs
AUTO_FORMS: dict[str, tuple[str, str]] = {  # key: (its form up to SCALE_CVS CVs, its scalable form above)
    "agent_id": ("onehot", "none"),
    "critic_state": ("global", "link"),
    "critic_actions": ("joint", "summary"),
    "reward": ("team", "neighbours"),  # "auto" only for MAPPO (MappoConfig.RULES); see form for "difference"
    "actor": ("flat", "link"),
    "minibatch": ("agents", "slots"),  # MAPPO only (MappoConfig.RULES)
}
ANY_SCENARIO_FORMS = {"actor": ("link", "exchange"), "critic_state": ("link",)}  # the forms a mixture may take
_CHOICES = {
    **{key: ("auto", *AUTO_FORMS[key]) for key in ("agent_id", "critic_state", "critic_actions")},
    "actor": ("auto", AUTO_FORMS["actor"][0], *ANY_SCENARIO_FORMS["actor"]),
    "reward": ("team", "per_cv"),  # the off-policy learners' forms; MappoConfig.RULES has MAPPO's
    "critic_action_input": ("raw", "effective"),
    "noise_space": ("action", "pre_action"),
    "warmup_actions": ("random", "policy"),
    "actor_critic": ("first", "min"),
}
_POSITIVE_INT = (
    "num_envs",
    "hidden",
    "torch_threads",
    "epochs",
    "batch_size",
    "buffer_episodes",
    "policy_delay",
    "anneal_episodes",
    "updates_per_step",
)
_POSITIVE = ("lr", "actor_lr", "critic_lr", "alpha_lr", "clip_eps", "max_grad_norm", "init_alpha")
_NON_NEGATIVE = (
    "warmup_episodes",
    "log_std_lr",
    "entropy_coef",
    "exploration_noise",
    "preact_reg",
    "target_noise",
    "target_noise_clip",
    "norm_memory",
    "value_memory",
    "reward_memory",
)
_UNIT_INTERVAL = ("actor_lr_floor", "lr_floor", "noise_floor", "gamma", "gae_lambda", "tau")  # discounts and fractions
_BOUNDS: dict[str, Callable[[Any], bool]] = {
    ">= 1": lambda v: v >= 1,
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    "0 (auto) or > 0": lambda v: v >= 0,
    "in [0, 1]": lambda v: 0.0 <= v <= 1.0,
}
_RULES: dict[str, Rule] = {
    **_CHOICES,
    **dict.fromkeys(_POSITIVE_INT, ">= 1"),
    **dict.fromkeys(_POSITIVE, "> 0"),
    **dict.fromkeys(_NON_NEGATIVE, ">= 0"),
    **dict.fromkeys(_UNIT_INTERVAL, "in [0, 1]"),
}


def algo_rules(cls: type[AlgoConfig]) -> dict[str, Rule]:
    """Every checked key of ``cls``: its allowed choices, or a bound of :data:`_BOUNDS`."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return {k: r for k, r in {**_RULES, **cls.RULES}.items() if k in fields}


def make_algo_config(cls: type[AlgoConfig], overrides: dict[str, Any] | None) -> AlgoConfig:
    """``cls()`` with ``overrides`` (values may be YAML text from the command line), each converted by the
    scenario config's coercer and checked against :func:`algo_rules`; ConfigError names ``algo.KEY``."""
    hints = algo_types(cls)
    rules = algo_rules(cls)
    values: dict[str, Any] = {}
    for key, raw in (overrides or {}).items():
        if key not in hints:
            raise ConfigError(f"unknown algorithm key algo.{key} (known: {', '.join(sorted(hints))})")
        value = parse_yaml(raw, f"algo.{key}: value {raw!r}") if isinstance(raw, str) else raw
        values[key] = _check(key, coerce(f"algo.{key}", value, hints[key]), rules.get(key))
    return cls(**values)


def algo_types(cls: type[AlgoConfig]) -> dict[str, Any]:
    """The type of each field of ``cls``."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in typing.get_type_hints(cls).items() if k in fields}


def _check(key: str, value: Any, rule: Rule | None) -> Any:
    if isinstance(rule, tuple) and value not in rule:
        raise ConfigError(f"algo.{key}: must be one of {rule}, got {value!r}")
    if isinstance(rule, str) and not _BOUNDS[rule](value):
        raise ConfigError(f"algo.{key}: must be {rule}, got {value!r}")
    return value


def describe_algo(cfg: AlgoConfig) -> str:
    """``cfg``, one ``algo.KEY`` per line with its value and what it admits (:func:`algo_rules`, else its type)."""
    rules, types = algo_rules(type(cfg)), algo_types(type(cfg))
    rows = []
    for key, value in cfg.to_dict().items():
        rule = rules.get(key)
        allowed = " | ".join(rule) if isinstance(rule, tuple) else rule or _type_text(types[key])
        rows.append((f"algo.{key}", json.dumps(value), allowed))
    return aligned(rows)


def _type_text(hint: Any) -> str:
    return "true | false" if hint is bool else hint.__name__


def form(cfg: AlgoConfig, key: str, num_cvs: int, twin: bool = True) -> str:
    """The form option ``key`` of :data:`AUTO_FORMS` takes at ``num_cvs`` CVs: its value, or for ``auto`` the
    scalable form above :data:`SCALE_CVS` CVs and the small one up to it.  An ``auto`` reward of a learner with the
    twin (``twin``) above :data:`SCALE_CVS` CVs is ``difference``, learnt from the twin's replays of each slot on
    each CV's neighbourhood (docs/model.md#difference-reward)."""
    value, forms = getattr(cfg, key), AUTO_FORMS[key]
    if value == "auto":
        if key == "reward" and twin and num_cvs > SCALE_CVS:
            return "difference"
        return forms[num_cvs > SCALE_CVS]
    if value not in algo_rules(type(cfg)).get(key, forms):
        raise ConfigError(f"algo.{key}: expected one of {('auto', *forms)}, got {value!r}")
    return str(value)


def at_scale(value: float, auto: tuple[float, float], num_cvs: int) -> float:
    """``value``, or for 0 (``auto``) ``auto[0]`` up to :data:`SCALE_CVS` CVs and ``auto[1]`` above them."""
    return value if value > 0 else auto[num_cvs > SCALE_CVS]


def initial_pre_action(cfg: AlgoConfig, spec: EnvSpec) -> torch.Tensor:
    """The actors' initial mean pre-action ``(A,)``: ``init_local_logit`` on the local weight and, where the
    action has the env's RSU layout, ``init_cpu_logit`` on every RSU CPU request; 0 elsewhere."""
    bias = torch.zeros(spec.action_dim)
    bias[0] = cfg.init_local_logit
    if spec.coverage is not None:
        bias[layout(spec.coverage.stop - spec.coverage.start).cpu] = cfg.init_cpu_logit
    return bias


def uses_agent_id(cfg: AlgoConfig, num_cvs: int) -> bool:
    """Whether shared networks get a one-hot agent id (``algo.agent_id``)."""
    return form(cfg, "agent_id", num_cvs) == "onehot"


def pooled_critic(cfg: AlgoConfig, num_cvs: int) -> bool:
    """Whether critics see the pooled global state (``algo.critic_state``)."""
    return form(cfg, "critic_state", num_cvs) == "pooled"


def critic_extra_dim(spec: EnvSpec, pooled: bool) -> int:
    """Width of what a critic sees beside the agent's observation (:func:`critic_extra`)."""
    return 2 * spec.cv_feature_dim if pooled else spec.global_state_dim


def critic_extra(glob: torch.Tensor, spec: EnvSpec, pooled: bool) -> torch.Tensor:
    """What a critic sees beside the agent's observation, from global states ``(..., G)``: the global state
    itself, or (``pooled``) the mean and standard deviation over CVs of each CV feature in it ``(..., 2F)``.

    The twin's RSU part of the global state is in every observation already; without the twin
    (docs/model.md#twin-absent) the global state, and so its pooled form, is zero.
    """
    if not pooled:
        return glob
    f = spec.cv_feature_dim
    cvs = glob[..., : spec.num_cvs * f].unflatten(-1, (spec.num_cvs, f))
    return torch.cat([cvs.mean(-2), cvs.std(-2, unbiased=False)], dim=-1)


def critic_state(obs: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """Per-agent critic states ``(..., I, O + X)``: observations ``(..., I, O)`` each followed by
    ``extra (..., X)`` (:func:`critic_extra`), as eq. (41) pairs an observation with the global state."""
    return torch.cat([obs, extra.unsqueeze(-2).expand(*obs.shape[:-1], extra.shape[-1])], dim=-1)


class Learner(Protocol):
    """The interface :mod:`isac_iov.learners.train` drives (see the module docstring)."""

    actor: Actor
    num_envs: int

    def explore(self, obs: np.ndarray, global_state: np.ndarray, t: int) -> np.ndarray: ...

    def record(self, step: Step, t: int) -> None: ...

    def end_iteration(self, keep: int) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def anneal_factor(floor: float, episodes_seen: int, anneal_episodes: int) -> float:
    """A learning-rate schedule's factor after ``episodes_seen`` episodes: 1 falling linearly to ``floor`` at
    ``anneal_episodes``, then constant."""
    return 1.0 - (1.0 - floor) * min(1.0, episodes_seen / anneal_episodes)


def adam(params: Any, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with the fused CPU kernel (one call for all tensors of a network)."""
    return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)


class NonFiniteTraining(ValueError):
    """A loss, gradient, weight or reward of a learner became NaN or infinite."""


def optimise(opt: torch.optim.Optimizer, net: torch.nn.Module, loss: torch.Tensor, max_norm: float) -> None:
    """One Adam step on ``loss`` with the gradient norm of ``net`` clipped to ``max_norm``.

    Raises :class:`NonFiniteTraining` (before the step, so the weights stay finite) when the
    gradient is not finite."""
    optimise_each([(opt, net, loss)], max_norm)


def optimise_each(
    steps: Sequence[tuple[torch.optim.Optimizer, torch.nn.Module, torch.Tensor]], max_norm: float
) -> None:
    """:func:`optimise` for several ``(optimiser, network, loss)`` whose networks share no parameter, with
    the gradients of all losses from one backward pass.  Each network's gradient is clipped as
    ``torch.nn.utils.clip_grad_norm_`` does (its arithmetic written out: the same weights to the bit,
    without its per-call overhead).  No step is taken when any gradient is not finite."""
    params = [list(net.parameters()) for _, net, _ in steps]
    for opt, _, _ in steps:
        opt.zero_grad(set_to_none=True)
    torch.autograd.backward([loss for _, _, loss in steps], inputs=[p for ps in params for p in ps])
    with torch.no_grad():
        for (_, net, loss), ps in zip(steps, params, strict=True):
            grads = [p.grad for p in ps if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
            if not torch.isfinite(norm):
                raise NonFiniteTraining(f"non-finite gradient of the {type(net).__name__} (loss {loss.item():.4g})")
            torch._foreach_mul_(grads, torch.clamp(max_norm / (norm + 1e-6), max=1.0))
    for opt, _, _ in steps:
        opt.step()


def as_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)


def to_actions(a: torch.Tensor) -> np.ndarray:
    """A torch action batch as the float64 array the env expects (inside [0, 1])."""
    return a.detach().double().clamp_(0.0, 1.0).numpy()
