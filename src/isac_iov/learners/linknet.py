"""The per-link actor body: one set of weights for every CV-RSU link, whatever the number of CVs, RSUs or the layout.

``algo.actor = "link"`` gives every learner's actor this body instead of the flat MLP over the whole
observation (:mod:`.networks`).  For CV ``i`` and each RSU ``k`` in its coverage, the *link input* is

* the CV's own features that mean the same on every road (task size, instruction size, CPU speed, speed,
  deadline, intensities, local and energy queues: :data:`LINK_OWN_FEATURES`; absolute positions are left out);
* the link's distance over the coverage radius and its spectral efficiency (positions relative to the RSU);
* RSU ``k``'s part of the twin's view: its backlog and its four load features (zeros without the twin);
* the twin's three system-wide entries (``G_rsu``) and ``1 / (RSUs in coverage)``;
* ``log`` of an RSU's CPU per slot in mean tasks (:class:`LinkScenario`): the twin gives backlogs and
  demand in mean-task cycles, so the same numbers mean a light load on one road and an overload on a
  road of scarcer RSU CPU; the observation does not say which.

A link MLP ``phi`` embeds each link input; the CV's links are mean-pooled into ``m``; a head ``psi`` on
``[phi(link), m]`` gives that link's task weight, bandwidth and CPU pre-actions, and a local head ``rho``
on ``[own, m, 1 / n]`` gives the local weight.  Links out of coverage get a constant pre-action: the env
masks them (C5, C6).  The network therefore has the same size and meaning at 5 CVs and 3 RSUs as at 200
CVs and 16 RSUs on another road network, and a trained actor can act on any of them.

``algo.actor = "exchange"`` adds :data:`EXCHANGE_ROUNDS` rounds of message passing between ``phi`` and the
heads: in each, every link embedding ``h`` becomes ``h + chi([h, r, m])``, with ``r`` the mean of the embeddings
of all links to the same RSU in the same env (the CVs that may use that RSU this slot) and ``m`` the CV's mean
over its own links.  A CV's action then depends on the CVs it shares RSUs with (their tasks, links and local
CPU, and after two rounds what they make of theirs), which a per-CV decision cannot see: who runs locally and
which RSU takes whose part when an RSU is scarce.  The RSU means are what the twin, which holds every CV's
features (docs/model.md#twin-view), computes and hands back; execution is no longer one CV on its observation
alone.  Sizes still depend on neither ``I`` nor ``K``.  Imitating ``ly-opt-dual`` on the spider network
(``--imitate ly-opt-dual --episodes 120``) it reaches 1.05 x its teacher, the plain link actor 1.15 x
(docs/learners-at-scale.md#the-exchange-actor).

Inputs are standardised by running statistics (:class:`LinkNorm`, the analogue of
:class:`.buffers.RunningNorm`) over the in-coverage links and the CVs.  Layout of the observation:
:func:`isac_iov.env.core.dims`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config
from ..env.core import LINK_FEATURE_NAMES, OWN_FEATURE_NAMES, dims
from ..scenario import Normalisers, rsu_available_hz
from ..twin import LOAD_FEATURES
from .buffers import RunningNorm

LINK_OWN_FEATURES = tuple(name for name in OWN_FEATURE_NAMES if name not in ("x", "y"))  # the same on every road
GLOBAL_TWIN = 3  # G_rsu: the sum, mean and maximum of the RSU backlogs, after the K backlogs (docs/model.md#twin-view)
LINK_INPUT = len(LINK_OWN_FEATURES) + 2 + 1 + LOAD_FEATURES + GLOBAL_TWIN + 2
OUT_OF_COVERAGE_PRE_ACTION = -4.0  # sigmoid(-4) = 0.018; masked by the env anyway
PARTS = 4  # local, task, bandwidth, CPU: the action layout of isac_iov.actions
EXCHANGE_ROUNDS = 2  # message-passing rounds of algo.actor=exchange


@dataclass(frozen=True)
class LinkScenario:
    """What a link net knows of its scenario besides the observations: the names of the own features
    (:func:`isac_iov.env.core.dims`) and an RSU's CPU per slot in mean tasks,
    ``(F^max - C^twin) tau / (mean G * mean I_task)`` (docs/model.md#normalisation), public and constant."""

    own_names: tuple[str, ...] = OWN_FEATURE_NAMES
    rsu_tasks_per_slot: float = 1.0

    @classmethod
    def of(cls, cfg: Config) -> LinkScenario:
        tasks = rsu_available_hz(cfg) * cfg.slot_s / Normalisers.from_config(cfg).queue_ref_cycles
        return cls(dims(cfg).own_names, tasks)


@dataclass(frozen=True)
class ObsLayout:
    """Where a link net's inputs sit in an observation of ``num_rsus`` RSUs with own features ``own_names``."""

    own_names: tuple[str, ...]
    num_rsus: int

    @classmethod
    def of(cls, own_names: tuple[str, ...], obs_dim: int) -> ObsLayout:
        """The layout of observations of width ``obs_dim``: ``own + 3K`` CV features, ``K + 3 + 4K`` twin ones."""
        per_rsu = len(LINK_FEATURE_NAMES) + 1 + LOAD_FEATURES
        k, rest = divmod(obs_dim - len(own_names) - GLOBAL_TWIN, per_rsu)
        if rest or k < 1:
            raise ValueError(f"observations of width {obs_dim} do not fit own features {own_names} and K RSUs")
        return cls(tuple(own_names), k)

    def own_index(self) -> list[int]:
        missing = [n for n in LINK_OWN_FEATURES if n not in self.own_names]
        if missing:
            raise ValueError(f"observations lack the own features {missing} a link net reads")
        return [self.own_names.index(n) for n in LINK_OWN_FEATURES]

    def link(self, name: str) -> slice:
        start = len(self.own_names) + LINK_FEATURE_NAMES.index(name) * self.num_rsus
        return slice(start, start + self.num_rsus)

    @property
    def twin_start(self) -> int:
        return len(self.own_names) + len(LINK_FEATURE_NAMES) * self.num_rsus


@dataclass
class LinkInputs:
    """Standardised inputs of a batch of CVs: ``links (L, LINK_INPUT)`` of the in-coverage links, which CV
    ``row (L,)`` and RSU ``rsu (L,)`` each belongs to, ``own (N, F)`` and ``inv_links (N,)`` per CV."""

    links: torch.Tensor
    row: torch.Tensor
    rsu: torch.Tensor
    own: torch.Tensor
    inv_links: torch.Tensor
    lead: tuple[int, ...]  # the observation's shape without its last axis
    num_rsus: int


class LinkNorm(nn.Module):
    """Gathers the link inputs out of observations ``(..., I, O)`` and standardises them with running statistics
    (``update``, called by the learners between iterations, like :class:`.buffers.RunningNorm`)."""

    def __init__(self, scenario: LinkScenario, max_count: float = math.inf):
        super().__init__()
        self.scenario = scenario
        self.link_norm = RunningNorm(LINK_INPUT, max_count=max_count)
        self.own_norm = RunningNorm(len(LINK_OWN_FEATURES), max_count=max_count)

    def retarget(self, scenario: LinkScenario) -> None:
        """Read observations of another scenario."""
        self.scenario = scenario

    def raw(self, obs: torch.Tensor) -> LinkInputs:
        """The link inputs of ``obs``, not yet standardised."""
        lay = ObsLayout.of(self.scenario.own_names, obs.shape[-1])
        k, t = lay.num_rsus, lay.twin_start
        flat = obs.reshape(-1, obs.shape[-1])
        own = flat[:, lay.own_index()]
        reach = flat[:, lay.link("in_coverage")] > 0.5
        inv_links = 1.0 / reach.sum(-1).clamp(min=1).to(flat.dtype)
        row, rsu = reach.nonzero(as_tuple=True)
        load = t + k + GLOBAL_TWIN + LOAD_FEATURES * rsu[:, None] + torch.arange(LOAD_FEATURES)
        links = torch.cat(
            [
                own[row],
                flat[:, lay.link("distance")][row, rsu, None],
                flat[:, lay.link("spectral_efficiency")][row, rsu, None],
                flat[row, t + rsu, None],  # RSU k's backlog
                flat[row[:, None], load],
                flat[row, t + k : t + k + GLOBAL_TWIN],
                inv_links[row, None],
                torch.full_like(inv_links[row, None], math.log(self.scenario.rsu_tasks_per_slot)),
            ],
            dim=-1,
        )
        return LinkInputs(links, row, rsu, own, inv_links, tuple(obs.shape[:-1]), k)

    @torch.no_grad()
    def update(self, obs: torch.Tensor) -> None:
        x = self.raw(obs)
        if len(x.links):
            self.link_norm.update(x.links)
        self.own_norm.update(x.own)

    def forward(self, obs: torch.Tensor) -> LinkInputs:
        x = self.raw(obs)
        x.links, x.own = self.link_norm(x.links), self.own_norm(x.own)
        return x


def _mlp(d_in: int, hidden: int, d_out: int, out_gain: float = 1.0) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    head = nn.Linear(hidden, d_out)
    with torch.no_grad():
        head.weight.mul_(out_gain)
        head.bias.zero_()
    return nn.Sequential(*net, head)


def _pool(h: torch.Tensor, x: LinkInputs) -> torch.Tensor:
    """The mean over each CV's links of their embeddings ``h (L, H)``: ``(N, H)``, zeros for a CV without links."""
    return torch.zeros(x.own.shape[0], h.shape[-1], dtype=h.dtype).index_add(0, x.row, h) * x.inv_links[:, None]


def _rsu_mean(h: torch.Tensor, x: LinkInputs) -> torch.Tensor:
    """For each link, the mean of the embeddings ``h (L, H)`` of every link to the same RSU in the same env
    ``(L, H)``: what the CVs that can use that RSU bring to it this slot (one CV's observation alone: its own)."""
    cvs = x.lead[-1] if x.lead else 1
    group = torch.div(x.row, cvs, rounding_mode="floor") * x.num_rsus + x.rsu
    groups = x.own.shape[0] // cvs * x.num_rsus
    total = torch.zeros(groups, h.shape[-1], dtype=h.dtype).index_add(0, group, h)
    count = torch.zeros(groups, dtype=h.dtype).index_add(0, group, torch.ones_like(h[:, 0]))
    return (total / count.clamp(min=1.0)[:, None])[group]


def _system_context(x: LinkInputs, num_cvs: int) -> torch.Tensor:
    """The critics' centralised view (eq. 41) of each of the ``N`` CVs ``(N, 2F)``: the mean and standard deviation
    over its env's ``num_cvs`` CVs of their own features, a width that does not depend on the number of CVs."""
    own = x.own.reshape(-1, num_cvs, x.own.shape[-1])
    context = torch.cat([own.mean(-2), own.std(-2, unbiased=False)], dim=-1)  # (envs, 2F)
    return context[:, None].expand(-1, num_cvs, -1).reshape(x.own.shape[0], -1)


class LinkNet(nn.Module):
    """``heads`` action-shaped outputs ``(..., I, heads * (1 + 3K))`` from :class:`LinkInputs` (see the module
    docstring); ``init`` is the initial pre-action of each part (local, task, bandwidth, CPU); ``exchange``
    the rounds of message passing over the CVs that share an RSU (0: each CV on its own observation)."""

    def __init__(
        self,
        hidden: int,
        heads: int = 1,
        init: tuple[float, ...] = (0.0,) * PARTS,
        out_gain: float = 0.01,
        exchange: int = 0,
    ):
        super().__init__()
        self.heads = heads
        self.phi = _mlp(LINK_INPUT, hidden, hidden)
        self.chi = nn.ModuleList(_mlp(3 * hidden, hidden, hidden) for _ in range(exchange))
        self.psi = _mlp(2 * hidden, hidden, 3 * heads, out_gain)
        self.rho = _mlp(len(LINK_OWN_FEATURES) + hidden + 1, hidden, heads, out_gain)
        local_head, link_head = self.rho[-1], self.psi[-1]
        assert isinstance(local_head, nn.Linear) and isinstance(link_head, nn.Linear)
        with torch.no_grad():  # the first head is the mean pre-action: start it at ``init``
            local_head.bias[0] = init[0]
            link_head.bias[:3] = torch.tensor(init[1:], dtype=torch.float32)

    def forward(self, x: LinkInputs) -> torch.Tensor:
        n, k, heads = x.own.shape[0], x.num_rsus, self.heads
        h = self.phi(x.links)
        for chi in self.chi:
            h = h + chi(torch.cat([h, _rsu_mean(h, x), _pool(h, x)[x.row]], dim=-1))
        pooled = _pool(h, x)
        per_link = self.psi(torch.cat([h, pooled[x.row]], dim=-1)).reshape(-1, heads, 3)  # (L, heads, 3)
        local = self.rho(torch.cat([x.own, pooled, x.inv_links[:, None]], dim=-1))  # (N, heads)
        rsu = torch.full((n, k, heads, 3), OUT_OF_COVERAGE_PRE_ACTION, dtype=h.dtype)
        rsu = rsu.index_put((x.row, x.rsu), per_link)
        rsu = rsu.permute(0, 2, 3, 1).reshape(n, heads, 3 * k)  # per head: task (K), bandwidth (K), CPU (K)
        out = torch.cat([local[..., None], rsu], dim=-1)  # (N, heads, 1 + 3K)
        return out.reshape(*x.lead, heads * (1 + 3 * k))


class LinkCritic(nn.Module):
    """A value per CV ``(..., I, 1)`` from observations ``(..., I, O)`` of any number of CVs and RSUs
    (``algo.critic_state = "link"``, the PPO learners).

    Each CV's links are embedded and mean-pooled as in :class:`LinkNet`; the value head ``v`` reads
    ``[own, pooled links, 1 / n, mean and std over the env's CVs of their own features]``.  The last part is
    the critic's centralised view (eq. 41): the whole system's queues and tasks, pooled so that the input
    has the same width and meaning at any ``I``; the RSUs' loads are in every link input already (the twin).
    """

    def __init__(self, scenario: LinkScenario, hidden: int, max_count: float = math.inf):
        super().__init__()
        own = len(LINK_OWN_FEATURES)
        self.obs_norm = LinkNorm(scenario, max_count)
        self.phi = _mlp(LINK_INPUT, hidden, hidden)
        self.v = _mlp(3 * own + hidden + 1, hidden, 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.obs_norm(obs)
        i = obs.shape[-2]
        h = self.phi(x.links)
        pooled = _pool(h, x)
        value = self.v(torch.cat([x.own, pooled, x.inv_links[:, None], _system_context(x, i)], dim=-1))
        return value.reshape(*x.lead, 1)

    @property
    def head(self) -> nn.Linear:
        """The output layer (rescaled by PopArt, :mod:`.mappo`)."""
        layer = self.v[-1]
        assert isinstance(layer, nn.Linear)
        return layer


LINK_ACTION_INPUT = 5  # the CV's task, bandwidth and CPU share on the link; the others' task and CPU at its RSU


class LinkQ(nn.Module):
    """``copies`` Q-values per CV ``(..., copies, I)`` for the off-policy learners (``algo.critic_state = "link"``)
    from ``x = [obs, own mapped action, others' mapped actions summed] (..., I, O + 2A)`` of any ``I`` and ``K``
    (``A = 1 + 3K``; the mapped actions of :func:`.offpolicy.mapped_actions`, the summary of
    :meth:`.offpolicy.OffPolicyLearner.action_summary`).

    Each in-coverage link's input is its :class:`LinkNet` input plus the CV's task share, bandwidth share and
    CPU fraction on it and the other CVs' task shares and CPU fractions at its RSU - the per-RSU quantities
    through which C4 and C6 couple the CVs' rewards; links are embedded by ``phi`` and mean-pooled, and the
    head ``q`` reads ``[own, local share, pooled links, 1 / n, mean and std over the env's CVs of their own
    features]`` (as :class:`LinkCritic`).  Each copy has its own ``phi`` and ``q``.
    """

    def __init__(self, scenario: LinkScenario, hidden: int, copies: int, max_count: float = math.inf):
        super().__init__()
        own = len(LINK_OWN_FEATURES)
        self.copies = copies
        self.obs_norm = LinkNorm(scenario, max_count)
        self.phi = nn.ModuleList(_mlp(LINK_INPUT + LINK_ACTION_INPUT, hidden, hidden) for _ in range(copies))
        self.q = nn.ModuleList(_mlp(3 * own + hidden + 2, hidden, 1) for _ in range(copies))

    def num_rsus(self, width: int) -> int:
        """``K`` of inputs of width ``width = O + 2A = own + 5 + 14K`` (:func:`isac_iov.env.core.dims`)."""
        k, rest = divmod(width - len(self.obs_norm.scenario.own_names) - GLOBAL_TWIN - 2, 14)
        if rest or k < 1:
            raise ValueError(f"critic inputs of width {width} do not fit observations and two actions of K RSUs")
        return k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.num_rsus(x.shape[-1])
        a = 1 + 3 * k
        obs, own_act, others = x[..., : -2 * a], x[..., -2 * a : -a], x[..., -a:]
        inp = self.obs_norm(obs)
        n, i = inp.own.shape[0], obs.shape[-2]
        mine, rest = own_act.reshape(n, a), others.reshape(n, a)
        row, rsu = inp.row, inp.rsu
        link_act = torch.stack(
            [
                mine[row, 1 + rsu],  # task share on the link (C5)
                mine[row, 1 + k + rsu],  # bandwidth share (C4)
                mine[row, 1 + 2 * k + rsu],  # fraction of the RSU's CPU (C6)
                rest[row, 1 + rsu],  # the other CVs' task shares at this RSU
                rest[row, 1 + 2 * k + rsu],  # and their CPU fractions
            ],
            dim=-1,
        )
        links = torch.cat([inp.links, link_act], dim=-1)
        context = _system_context(inp, i)
        values = [
            q(torch.cat([inp.own, mine[:, :1], _pool(phi(links), inp), inp.inv_links[:, None], context], dim=-1))
            for phi, q in zip(self.phi, self.q, strict=True)
        ]
        return torch.cat(values, dim=-1).reshape(*inp.lead, self.copies).transpose(-1, -2)
