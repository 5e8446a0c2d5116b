"""Networks shared by all learners: per-agent MLPs batched over the agent axis, and the action squash.

:class:`AgentMLP` holds one independent two-hidden-layer ReLU network per
agent, stored as stacked weights ``(n, in, out)`` and evaluated for all agents
in one ``torch.baddbmm`` call, so ``I`` actors (or ``I`` critics, or two critics
per agent) cost a single batched matrix product per layer.  With
``shared=True`` there is one network for all agents; with ``agent_id=True`` a
one-hot agent id is appended to every input (its first layer then grows with
the number of agents ``I``), without it the network is the same for every
agent and its size does not depend on ``I`` (``algo.agent_id``,
:mod:`.common`).  Every actor and critic standardises its inputs
with a :class:`~.buffers.RunningNorm`.

**Action mapping (all algorithms).**  Env actions live in ``[0, 1]``.  Every
policy produces an unbounded pre-action ``u`` and plays ``a = sigmoid(u)``
(:func:`squash`).  Gaussian policies sample ``u ~ N(mu, sigma)``; the
deterministic (evaluation) action is ``sigmoid(mu)``.  PPO scores the
Gaussian log-density of ``u`` (the squash Jacobian cancels in its ratio); SAC
adds the Jacobian ``-sum log(a (1 - a))`` (:func:`squash_log_det`); DDPG/TD3
actors output ``sigmoid`` of their last layer.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .buffers import RunningNorm
from .linknet import EXCHANGE_ROUNDS, LinkNet, LinkNorm, LinkScenario


def squash(u: torch.Tensor) -> torch.Tensor:
    """Pre-action -> env action in [0, 1]."""
    return torch.sigmoid(u)


def squash_log_det(u: torch.Tensor) -> torch.Tensor:
    """``log |da/du|`` of :func:`squash`, summed over the last axis."""
    return (F.logsigmoid(u) + F.logsigmoid(-u)).sum(-1)


def gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Diagonal Gaussian log-density of ``u``, summed over the last axis."""
    z = (u - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of a diagonal Gaussian, summed over the last axis."""
    return (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)


class AgentMLP(nn.Module):
    """``n`` independent MLPs ``in -> hidden -> hidden -> out`` (ReLU) applied to ``x (..., n, in)``.

    ``out_gain`` scales the initial output layer (small for policy means, so the
    first actions sit near ``sigmoid(0) = 0.5``).  ``shared``: one network for all
    agents, told apart by a one-hot id when ``agent_id``.
    """

    def __init__(
        self,
        n: int,
        in_dim: int,
        out_dim: int,
        hidden: int,
        shared: bool = False,
        out_gain: float = 1.0,
        agent_id: bool = True,
    ):
        super().__init__()
        self.n, self.shared, self.out_dim = n, shared, out_dim
        self.ids = n if shared and agent_id else 0  # width of the one-hot id appended to the input
        groups = 1 if shared else n
        dims = [in_dim + self.ids, hidden, hidden, out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for layer, (d_in, d_out) in enumerate(itertools.pairwise(dims)):
            bound = 1.0 / math.sqrt(d_in)
            gain = out_gain if layer == len(dims) - 2 else 1.0
            self.weights.append(nn.Parameter(torch.empty(groups, d_in, d_out).uniform_(-bound, bound) * gain))
            self.biases.append(nn.Parameter(torch.zeros(groups, 1, d_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-2]
        h = x.reshape(-1, self.n, x.shape[-1])
        if self.shared:  # one network: 2-D products over every agent's rows
            if self.ids:
                h = torch.cat([h, torch.eye(self.n, dtype=x.dtype).expand(h.shape[0], -1, -1)], dim=-1)
            h = self._layers(h.reshape(-1, h.shape[-1]), torch.addmm, 0)
        else:  # a network per agent: products batched over the agent axis
            h = self._layers(h.transpose(0, 1), torch.baddbmm, slice(None)).transpose(0, 1)
        return h.reshape(*lead, self.n, self.out_dim)

    def _layers(self, h: torch.Tensor, affine: Callable[..., torch.Tensor], group: int | slice) -> torch.Tensor:
        """The three layers on ``h``, each ``affine(bias, h, weight)`` of the weights' ``group``."""
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = affine(b[group], h, w[group])
            if layer < last:
                h = torch.relu(h)
        return h


def policy_mlp(
    n: int,
    obs_dim: int,
    out_dim: int,
    hidden: int,
    shared: bool,
    init_pre_action: torch.Tensor | None,
    agent_id: bool = True,
) -> AgentMLP:
    """An :class:`AgentMLP` whose first outputs (the mean pre-action) start near ``init_pre_action (A,)``
    (zeros when None)."""
    net = AgentMLP(n, obs_dim, out_dim, hidden, shared, out_gain=0.01, agent_id=agent_id)
    if init_pre_action is not None:
        with torch.no_grad():
            net.biases[-1][..., : len(init_pre_action)] = init_pre_action
    return net


def part_index(action_dim: int) -> torch.Tensor:
    """For each entry of a ``1 + 3K`` action, its part (0 local, 1 task, 2 bandwidth, 3 CPU; isac_iov.actions)."""
    k = (action_dim - 1) // 3
    return torch.tensor([0] + [1] * k + [2] * k + [3] * k)


def actor_body(
    kind: str,
    n: int,
    obs_dim: int,
    action_dim: int,
    hidden: int,
    shared: bool,
    heads: int,
    norm_max_count: float,
    init_pre_action: torch.Tensor | None,
    agent_id: bool,
    link: LinkScenario | None,
) -> tuple[RunningNorm | LinkNorm, nn.Module]:
    """``(obs_norm, net)`` of an actor whose ``net(obs_norm(obs))`` gives ``heads`` action-shaped outputs
    ``(..., I, heads * A)``: a ``flat`` :class:`RunningNorm` and :func:`policy_mlp`, or a ``link`` (or
    ``exchange``) :class:`.linknet.LinkNorm` and :class:`.linknet.LinkNet` (``algo.actor``)."""
    if kind == "flat":
        return RunningNorm(obs_dim, max_count=norm_max_count), policy_mlp(
            n, obs_dim, heads * action_dim, hidden, shared, init_pre_action, agent_id
        )
    init = torch.zeros(action_dim) if init_pre_action is None else init_pre_action
    first = [int((part_index(action_dim) == p).nonzero()[0]) for p in range(4)]
    net = LinkNet(
        hidden, heads, tuple(float(init[i]) for i in first), exchange=EXCHANGE_ROUNDS if kind == "exchange" else 0
    )
    return LinkNorm(link or LinkScenario(), norm_max_count), net


class Actor(nn.Module, ABC):
    """What learners, warm starts and trained policies use of every actor: its input statistics
    ``obs_norm``, the deterministic pre-action and the deterministic action in [0, 1]."""

    obs_norm: RunningNorm | LinkNorm  # update(obs) between iterations

    @abstractmethod
    def pre_mean(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic pre-action ``u`` for observations ``(..., I, O)``."""

    @abstractmethod
    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action ``squash(pre_mean(obs))``."""


class GaussianActor(Actor):
    """Per-agent Gaussian policy over pre-actions: state-dependent mean, learned state-independent log-std
    (one per agent; one for all when the actor is shared without agent ids)."""

    def __init__(
        self,
        n: int,
        obs_dim: int,
        action_dim: int,
        hidden: int,
        shared: bool,
        init_log_std: float,
        norm_max_count: float = math.inf,
        init_pre_action: torch.Tensor | None = None,
        agent_id: bool = True,
        body: str = "flat",
        link: LinkScenario | None = None,
    ):
        super().__init__()
        self.obs_norm, self.mean_net = actor_body(
            body, n, obs_dim, action_dim, hidden, shared, 1, norm_max_count, init_pre_action, agent_id, link
        )
        # a link body's log-std is one per action part (local, task, bandwidth, CPU), so it fits any K
        rows, cols = (1, 4) if body != "flat" else (1 if shared and not agent_id else n, action_dim)
        self.per_part = body != "flat"
        self.log_std = nn.Parameter(torch.full((rows, cols), float(init_log_std)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.mean_net(self.obs_norm(obs))
        log_std = self.log_std[:, part_index(mean.shape[-1])] if self.per_part else self.log_std
        return mean, log_std.expand_as(mean)

    def pre_mean(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic pre-action (the mean of ``u``)."""
        return self(obs)[0]

    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        return squash(self(obs)[0])


class DeterministicActor(Actor):
    """Per-agent deterministic policy ``a = sigmoid(mlp(obs))`` (DDPG, TD3).

    ``pre_action`` gives ``mlp(obs)`` so learners can penalise its size and keep
    the sigmoid out of saturation.
    """

    def __init__(
        self,
        n: int,
        obs_dim: int,
        action_dim: int,
        hidden: int,
        shared: bool,
        norm_max_count: float = math.inf,
        init_pre_action: torch.Tensor | None = None,
        agent_id: bool = True,
        body: str = "flat",
        link: LinkScenario | None = None,
    ):
        super().__init__()
        self.obs_norm, self.net = actor_body(
            body, n, obs_dim, action_dim, hidden, shared, 1, norm_max_count, init_pre_action, agent_id, link
        )

    def pre_action(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.obs_norm(obs))

    def pre_mean(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic pre-action."""
        return self.pre_action(obs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return squash(self.pre_action(obs))

    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        return self(obs)


class SquashedGaussianActor(Actor):
    """Per-agent Gaussian with state-dependent mean and log-std, squashed by sigmoid (SAC)."""

    LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

    def __init__(
        self,
        n: int,
        obs_dim: int,
        action_dim: int,
        hidden: int,
        shared: bool,
        norm_max_count: float = math.inf,
        init_pre_action: torch.Tensor | None = None,
        agent_id: bool = True,
        body: str = "flat",
        link: LinkScenario | None = None,
    ):
        super().__init__()
        self.obs_norm, self.net = actor_body(
            body, n, obs_dim, action_dim, hidden, shared, 2, norm_max_count, init_pre_action, agent_id, link
        )

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample: ``(action in [0,1], log-density of the action)``."""
        out = self.net(self.obs_norm(obs))
        mean, log_std = out.split(out.shape[-1] // 2, dim=-1)
        log_std = log_std.clamp(self.LOG_STD_MIN, self.LOG_STD_MAX)
        u = mean + torch.randn_like(mean) * log_std.exp()
        return squash(u), gaussian_log_prob(u, mean, log_std) - squash_log_det(u)

    def pre_mean(self, obs: torch.Tensor) -> torch.Tensor:
        """The mean of the pre-action ``u``."""
        out = self.net(self.obs_norm(obs))
        return out[..., : out.shape[-1] // 2]

    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        return squash(self.pre_mean(obs))


class QEnsemble(nn.Module):
    """``copies`` independent critics on ``x (..., I, in)`` -> ``(..., copies, I)``, one batched call.

    By default each agent has its own ``copies`` critics; ``shared=True`` gives ``copies`` critics that
    every agent shares, told apart by a one-hot id when ``agent_id`` (else of a size independent of ``I``).
    """

    def __init__(self, n: int, in_dim: int, hidden: int, copies: int, shared: bool = False, agent_id: bool = True):
        super().__init__()
        self.n, self.copies, self.shared = n, copies, shared
        self.ids = n if shared and agent_id else 0
        self.net = AgentMLP(copies if shared else n * copies, in_dim + self.ids, 1, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.shared:
            reps = [1] * (x.dim() - 2) + [self.copies, 1]
            q = self.net(x.repeat(*reps)).squeeze(-1)
            return q.reshape(*x.shape[:-2], self.copies, x.shape[-2])
        if self.ids:
            x = torch.cat([x, torch.eye(self.n, dtype=x.dtype).expand(*x.shape[:-1], self.n)], dim=-1)
        q = self.net(x.unsqueeze(-2).expand(*x.shape[:-1], self.copies, x.shape[-1])).squeeze(-1)
        return q.transpose(-1, -2)


def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """``target <- (1 - tau) target + tau source`` for parameters; buffers (input statistics) are copied."""
    with torch.no_grad():
        t_params: list[torch.Tensor] = list(target.parameters())
        s_params: list[torch.Tensor] = list(source.parameters())
        torch._foreach_mul_(t_params, 1.0 - tau)
        torch._foreach_add_(t_params, s_params, alpha=tau)
        for t_buf, s_buf in zip(target.buffers(), source.buffers(), strict=True):
            t_buf.copy_(s_buf)
