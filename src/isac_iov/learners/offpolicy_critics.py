"""The centralised critics of the off-policy learners (Ly-MADDPG, Ly-MATD3, Ly-MASAC): what they see, what
they learn and what the actors ascend.  :class:`CentralCritics` is a base of
:class:`.offpolicy.OffPolicyLearner`, which holds the collection, the replay and the schedule.

**Critics** are centralised and per agent: critic ``i`` sees agent ``i``'s
critic state (its observation + the twin's global state) and the joint action
of all CVs (:meth:`CentralCritics.critic_input`) as the env maps it
(``critic_action_input = effective``, :func:`mapped_actions`): the task shares
(C5), the bandwidth shares of the used links (C4) and each link's fraction of
its RSU's CPU (C6), the quantities the reward depends on; ``raw`` gives the
actions in [0, 1] instead.  Actors and critics
standardise their inputs with running statistics updated when an iteration's
episodes are stored.  The last slot of an episode is a time
limit, so targets always bootstrap.

**At city scale** (``critic_actions = summary``, ``auto`` above 16 CVs) ``I``
critics on ``I (1 + 3K)`` joint-action inputs do not fit (50 CVs x 16 RSUs:
50 critics of about 5,600 inputs).  One shared critic (copies for TD3/SAC)
then sees agent ``i``'s critic state (pooled over CVs with ``critic_state =
pooled``), its own action and a fixed-size summary of the others' actions
(:meth:`CentralCritics.action_summary`): the sums over the other CVs of
their mapped actions (:func:`mapped_actions`: task shares per RSU, bandwidth
shares and CPU fractions of the links they use) - the per-RSU quantities
through which C4 and C6 couple the CVs.  With ``agent_id = none`` its size does not depend on ``I``
(:mod:`.common`).  Everything else - per-CV rewards, actors ascending the sum
of the critics - is unchanged.

**On any scenario** (``critic_state = link``) the shared critic is :class:`.linknet.LinkQ`: it reads the raw
observations (standardised inside, per link), the agent's own mapped action and the same summary of the
others', and scores every CV-RSU link in reach with one set of weights, so its size and meaning depend on
neither ``I`` nor ``K``.

Targets and losses: :meth:`CentralCritics.td_target` (the scaled reward when ``gamma = 0``),
:meth:`CentralCritics.scale_rewards`, :meth:`CentralCritics.critic_loss`; the value every actor ascends:
:meth:`CentralCritics.policy_value` (per-CV critics, team actors: :mod:`.offpolicy`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from ..actions import layout
from .buffers import RunningMeanStd, RunningNorm
from .common import EnvSpec, critic_state
from .linknet import LinkQ
from .networks import QEnsemble


def joint_with_own(replayed: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """``(B, I, I*A)``: for critic ``i``, agent ``i``'s action from ``own``, the others from ``replayed``."""
    b, i, a = replayed.shape
    eye = torch.eye(i, dtype=torch.bool)[None, :, :, None]
    return torch.where(eye, own[:, None], replayed[:, None]).reshape(b, i, i * a)


def mapped_actions(actions: torch.Tensor, cover: torch.Tensor, spec: EnvSpec) -> torch.Tensor:
    """The action mapping of :mod:`isac_iov.actions` in torch, differentiable in ``actions (B, I, 1+3K)``.

    Returns, in the action's layout, the task shares (C5: local and per-RSU, parts below
    ``min_task_share`` dropped), the bandwidth shares of the used links (C4) and the fraction of
    each RSU's available CPU each used link gets (C6), for coverage flags ``cover (B, I, K)``.  Which
    parts are dropped and which links are used are held fixed under differentiation.
    """
    parts = layout(cover.shape[-1])
    split = torch.cat([actions[..., : parts.local + 1], actions[..., parts.task] * cover], dim=-1)
    total = split.sum(-1, keepdim=True)
    run_local = torch.zeros_like(split)
    run_local[..., 0] = 1.0  # all-zero weights: the whole task runs locally
    shares = torch.where(total > 0, split / total.clamp(min=1e-12), run_local)
    if spec.min_task_share > 0:
        shares = shares * (shares >= spec.min_task_share).detach()
        shares = shares / shares.sum(-1, keepdim=True).clamp(min=1e-12)
    used = shares[..., 1:] > 0
    floor = spec.min_resource_share
    bw = torch.where(used, actions[..., parts.bandwidth].clamp(min=floor), 0.0)
    bw = bw / bw.sum(-2 if spec.bandwidth_per_rsu else -1, keepdim=True).clamp(min=1e-12)
    req = torch.where(used, actions[..., parts.cpu].clamp(min=floor), 0.0)
    cpu = req / req.sum(-2, keepdim=True).clamp(min=1.0)
    return torch.cat([shares, bw, cpu], dim=-1)


class CriticSettings(Protocol):
    """The settings the critics read (:class:`.offpolicy.OffPolicyConfig` has them)."""

    @property
    def hidden(self) -> int: ...

    @property
    def gamma(self) -> float: ...

    @property
    def reward_clip(self) -> float: ...

    @property
    def reward(self) -> str: ...

    @property
    def critic_action_input(self) -> str: ...


class CentralCritics:
    """Critic inputs, targets, losses and the actors' objective; the learner sets the attributes below."""

    spec: EnvSpec
    cfg: CriticSettings
    summary: bool  # critic_actions = summary: one shared critic on own action + the others' summary
    link_critic: bool  # critic_state = link: LinkQ on observations, own mapped action and the others' summary
    agent_id: bool
    critic_state_dim: int
    state_norm: RunningNorm  # standardises the critic state
    reward_stats: RunningMeanStd  # the rewards' running statistics (scale_rewards)
    critic: QEnsemble | LinkQ

    def td_target(self, batch: dict[str, torch.Tensor], next_value: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The critics' regression target ``rew + gamma * next_value()``, without gradient; ``next_value`` (the
        target networks at the next state) is not called when ``gamma = 0``: the target is the reward, and
        skipping the next state's forward passes makes an update cheaper (:mod:`.offpolicy`)."""
        if self.cfg.gamma == 0:
            return batch["rew"]
        with torch.no_grad():
            return batch["rew"] + self.cfg.gamma * next_value()

    def scale_rewards(self, rew: torch.Tensor) -> torch.Tensor:
        """``(B, I)`` rewards times ``(1 - gamma) / std``, clipped to ``+-reward_clip`` (Q-values O(1))."""
        clip = self.cfg.reward_clip
        return (rew * ((1.0 - self.cfg.gamma) / self.reward_stats.std)).clamp(-clip, clip)

    @property
    def critic_in_dim(self) -> int:
        """Input width of each critic: critic state plus the joint action, or plus the agent's own action and the
        summary of the others' (``critic_actions = summary``)."""
        acts = 2 if self.summary else self.spec.num_cvs
        return self.critic_state_dim + acts * self.spec.action_dim

    def make_critic(self, copies: int) -> QEnsemble | LinkQ:
        """The critics: ``copies`` per CV on the joint action, ``copies`` shared by all CVs (summary), or ``copies``
        link critics (``critic_state = link``: :class:`.linknet.LinkQ`)."""
        if self.link_critic:
            return LinkQ(self.spec.link, self.cfg.hidden, copies, self.state_norm.max_count)
        return QEnsemble(
            self.spec.num_cvs, self.critic_in_dim, self.cfg.hidden, copies, shared=self.summary, agent_id=self.agent_id
        )

    def policy_value(
        self, obs: torch.Tensor, glob: torch.Tensor, replayed: torch.Tensor, own: torch.Tensor
    ) -> torch.Tensor:
        """The value ``(B, copies, I)`` each agent's actor ascends, for its own actions ``own (B, I, A)``.

        ``team``: critic ``i`` with agent ``i``'s action from the policy and the others' from the replay
        (MADDPG).  ``per_cv``: the critics learn each CV's share of eq. (44), whose sum is the team
        value, so every actor ascends the sum over CVs of their critics at the joint policy action: a CV
        is charged for what its action costs the others (a larger CPU request slows them down), which
        a critic of its own share alone would miss.
        """
        if self.cfg.reward == "team":
            return self.critic(self.critic_input(obs, glob, replayed, own=own))
        return self.critic(self.critic_input(obs, glob, own)).sum(-1, keepdim=True).expand(-1, -1, own.shape[1])

    @staticmethod
    def critic_loss(q: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Squared error of ``q`` against ``target``, summed over critic copies when ``q (B, copies, I)`` has
        them, averaged over samples and agents."""
        err = (q - target).pow(2)
        return err.sum(1).mean() if q.dim() == 3 else err.mean()

    def critic_input(
        self, obs: torch.Tensor, glob: torch.Tensor, actions: torch.Tensor, own: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-agent critic input ``(B, I, O + G + I*A)``: the standardised critic state and the joint action
        ``actions (B, I, A)``, with agent ``i``'s own action replaced by ``own[:, i]`` for critic ``i`` when
        given (:func:`joint_with_own`).  With ``critic_actions = summary``, ``(B, I, O + X + 2A)``: the critic
        state, agent ``i``'s action (``own[:, i]`` if given, else ``actions[:, i]``) and the summary of the
        others' ``actions`` (:meth:`action_summary`)."""
        if self.link_critic:  # raw observations (LinkQ standardises them), mapped own action, the others' summary
            mine = self.effective_actions(obs, actions if own is None else own)
            return torch.cat([obs, mine, self.action_summary(obs, actions)], dim=-1)
        state = self.state_norm(critic_state(obs, glob))
        if self.summary:
            mine = actions if own is None else own
            return torch.cat([state, mine, self.action_summary(obs, actions)], dim=-1)
        effective = self.cfg.critic_action_input == "effective"
        if own is None:
            joint = self.effective_actions(obs, actions) if effective else actions
            acts = joint.flatten(1)[:, None].expand(*state.shape[:2], -1)
        else:
            acts = joint_with_own(actions, own)
            if effective:  # each critic's joint action is mapped as a whole: C6 couples the CVs' CPU
                b, i, _ = acts.shape
                mixed = acts.reshape(b, i, i, -1)
                acts = self.effective_actions(obs[:, None].expand(b, i, *obs.shape[1:]), mixed).reshape(b, i, -1)
        return torch.cat([state, acts], dim=-1)

    def action_summary(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """For each agent ``i``, the sum over the other agents of their mapped actions ``(B, I, A)``
        (:meth:`effective_actions`), in the action's layout; the raw actions without an RSU layout."""
        eff = self.effective_actions(obs, actions)
        return eff.sum(-2, keepdim=True) - eff

    def effective_actions(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``(B, I, A)``: what the env makes of the actions (:func:`mapped_actions`); the raw actions without an
        RSU layout (``spec.coverage`` None)."""
        if self.spec.coverage is None:
            return actions
        return mapped_actions(actions, obs[..., self.spec.coverage], self.spec)
