"""The batched environment core: ``E`` independent copies of the scenario stepped in lockstep.

``BatchedEnv(cfg, num_envs, seed)`` holds the physical state (vehicles, this
slot's tasks and fading), the true queues (:class:`~isac_iov.state.Queues`)
and a :class:`~isac_iov.twin.DigitalTwin`, which gives the view.  ``step``
takes actions ``(E, I, 1+3K)`` in ``[0, 1]`` (see :mod:`isac_iov.actions`) and
returns a :class:`Step`.  All envs share the slot counter; an episode ends
after ``cfg.episode_slots`` slots and ``reset`` starts the next.  With ``what_if_local`` set, each
``Step`` also carries :func:`isac_iov.replay.objective_if_local` of the slot just played (the twin's counterfactual
for the difference reward, docs/model.md#difference-reward); it is off by default, as it costs one evaluation
of each CV's neighbourhood.

Observation of CV i (eq. 40), all entries normalised to O(1):

* own features (``11 + 3K``, named in ``OWN_FEATURE_NAMES``): task size,
  instruction size, CPU speed, x, y, velocity, deadline, task intensity,
  co-transformation intensity, local queue (in mean-task cycles), virtual energy
  queue as ``log(1 + V_i / budget)`` (see :meth:`BatchedEnv._cv_features`); with a mobility trace two more follow,
  ``TRACE_FEATURE_NAMES``: the velocity's y component and the handover flag
  (docs/model.md#agents-and-vehicles); then ``LINK_FEATURE_NAMES`` per RSU, RSU-major:
  the distance over the coverage radius, the coverage flag and the full-band
  spectral efficiency over 20 bit/s/Hz;
* twin features (``K + 3 + 4K``): RSU queues and ``G_rsu`` in mean-task
  cycles, then per RSU the four load features of :func:`isac_iov.twin.rsu_load`
  (CVs in coverage, contention, demanded cycles, last slot's CPU given).

:func:`dims` derives every size and the named slices of these parts
(:class:`Dims`) from those declarations; the env, trained-policy masking and
the tests all index through it.

``global_state`` ``(E, I*(11+3K) + K + 3 + 4K)`` is the twin's view of every
CV's features plus the twin features; ``reset`` and ``step`` return it next to
the observations, and both are linear in the number of CVs.  The critic state of
agent i (eq. 41) is its observation followed by the global state,
``(E, I, O + G)``: quadratic in the CVs, so it is built only on request
(:attr:`Step.critic_state`, :func:`critic_states`).  With
``twin.enabled = false`` (the DT-absent Ly-MAPPO) every twin-provided entry is
zero, in observations and critic states alike (docs/model.md#twin-absent).

Before it allocates anything, ``BatchedEnv`` checks its inputs (``num_envs``,
the seed) and refuses with :class:`MemoryEstimateError` when its estimated
working memory exceeds the memory available on the machine.
:func:`estimate_memory_bytes` gives that estimate (an upper bound, within about
2x of measured peaks) so a command can add what it keeps (records, buffers)
and call :func:`check_memory` before starting work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .. import replay, slot
from ..actions import action_dim, check_actions
from ..config import Config, check_seed
from ..scenario import Physical, Scenario
from ..slot import Outcome, QueueState
from ..state import Queues
from ..twin import LOAD_FEATURES, DigitalTwin

OWN_FEATURE_NAMES = (
    "data_bits",
    "instruction_bits",
    "cpu_hz",
    "x",
    "y",
    "velocity",
    "deadline",
    "intensity",
    "cotransform_intensity",
    "local_queue",
    "energy_queue",
)
TRACE_FEATURE_NAMES = ("velocity_y", "handover")  # own features added with a mobility trace
LINK_FEATURE_NAMES = ("distance", "in_coverage", "spectral_efficiency")  # per RSU
OWN_FEATURES = len(OWN_FEATURE_NAMES)
SPECTRAL_EFF_SCALE = 20.0
FLOAT_BYTES = 8
ARRAYS_PER_SLOT = 40  # float arrays of shape (I, K), (I) and (K) one env needs to play a slot
ENV_OVERHEAD_BYTES = 2000


class MemoryEstimateError(ValueError):
    """The estimated memory of a command exceeds the memory available on the machine."""


@dataclass(frozen=True)
class Dims:
    """The sizes of one env's arrays and the parts of an observation, from the config alone."""

    num_cvs: int
    num_rsus: int
    action_dim: int  # 1 + 3K (see isac_iov.actions)
    cv_feature_dim: int  # own features of one CV: OWN_FEATURES + len(LINK_FEATURE_NAMES) K
    twin_feature_dim: int  # RSU queues, G_rsu and the RSU loads: K + 3 + LOAD_FEATURES K
    obs_dim: int  # cv_feature_dim + twin_feature_dim
    global_state_dim: int  # I cv_feature_dim + twin_feature_dim
    critic_state_dim: int  # obs_dim + global_state_dim
    own_names: tuple[str, ...] = OWN_FEATURE_NAMES  # own_feature_names(cfg)

    def own(self, name: str) -> int:
        """Index of own feature ``name`` (one of ``own_names``) in an observation."""
        return self.own_names.index(name)

    def link(self, name: str) -> slice:
        """The K entries of per-RSU feature ``name`` (one of ``LINK_FEATURE_NAMES``) in an observation."""
        start = len(self.own_names) + LINK_FEATURE_NAMES.index(name) * self.num_rsus
        return slice(start, start + self.num_rsus)

    @property
    def twin(self) -> slice:
        """The twin-provided part of an observation (zero without the twin)."""
        return slice(self.cv_feature_dim, self.obs_dim)


def own_feature_names(cfg: Config) -> tuple[str, ...]:
    """The own features of a CV's observation: ``OWN_FEATURE_NAMES``, plus ``TRACE_FEATURE_NAMES`` with a trace."""
    return OWN_FEATURE_NAMES + (TRACE_FEATURE_NAMES if cfg.mobility.source != "builtin" else ())


def dims(cfg: Config) -> Dims:
    """The array sizes of ``cfg``'s envs (see the module docstring)."""
    i, k, names = cfg.num_cvs, cfg.num_rsus, own_feature_names(cfg)
    cv, twin = len(names) + len(LINK_FEATURE_NAMES) * k, k + 3 + LOAD_FEATURES * k
    return Dims(i, k, action_dim(k), cv, twin, cv + twin, i * cv + twin, cv + twin + i * cv + twin, names)


def slot_bytes(cfg: Config) -> int:
    """Estimated working memory of one env while :mod:`isac_iov.slot` plays or evaluates one slot."""
    i, k = cfg.num_cvs, cfg.num_rsus
    return FLOAT_BYTES * ARRAYS_PER_SLOT * (i * k + i + k)


def estimate_memory_bytes(cfg: Config, num_envs: int, extra_bytes: int = 0) -> int:
    """Estimated peak memory of a ``BatchedEnv(cfg, num_envs)`` stepping, plus ``extra_bytes`` the caller keeps.

    Per env: the observations and the global state (linear in the CVs; a caller that builds the quadratic
    critic states, :func:`critic_states`, adds them), the twin's lagged views and Little's-law windows, and
    one slot's working arrays.
    """
    i, k, d = cfg.num_cvs, cfg.num_rsus, dims(cfg)
    views = min(cfg.twin.lag_slots + 1, cfg.episode_slots + 1) * (d.global_state_dim + 2 * k)
    windows = 2 * (cfg.lyapunov.window_slots - 1) * (i + k)
    per_env = FLOAT_BYTES * (2 * (i * d.obs_dim + d.global_state_dim) + views + windows) + slot_bytes(cfg)
    per_env += ENV_OVERHEAD_BYTES
    return num_envs * per_env + extra_bytes


def available_memory_bytes() -> int | None:
    """Memory available to a new process: ``MemAvailable`` of /proc/meminfo, else free pages; None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``n`` bytes in B, KiB, ..., PiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_memory(needed_bytes: int, what: str, hint: str = "") -> None:
    """Raise MemoryEstimateError naming ``what`` (and ``hint``, how to shrink it) if ``needed_bytes`` cannot fit."""
    available = available_memory_bytes()
    if available is not None and needed_bytes > available:
        raise MemoryEstimateError(
            f"{what} needs about {format_bytes(needed_bytes)} of memory (estimated), "
            f"more than the {format_bytes(available)} available{'; ' + hint if hint else ''}"
        )


def critic_states(obs: np.ndarray, global_state: np.ndarray) -> np.ndarray:
    """Each agent's critic state (eq. 41) ``(E, I, O + G)``: its observation ``obs (E, I, O)`` followed by the
    global state ``(E, G)``.  Quadratic in the CVs: learners at scale use a fixed-size summary instead."""
    e, i, o = obs.shape
    out = np.empty((e, i, o + global_state.shape[-1]), dtype=np.result_type(obs, global_state))
    out[..., :o] = obs
    out[..., o:] = global_state[:, None, :]
    return out


@dataclass
class Step:
    """What one ``step`` returns; ``outcome`` and ``queues`` describe the slot just played."""

    obs: np.ndarray  # (E, I, O) next observation
    global_state: np.ndarray  # (E, G) the twin's view after the slot (zeros without the twin)
    reward: np.ndarray  # (E,) eq. (44)
    done: bool  # the episode ended with this slot (truncation)
    outcome: Outcome
    queues: QueueState  # backlogs at the start of the slot just played
    objective_if_local: np.ndarray | None = None  # (E, I) with ``what_if_local``: replay.objective_if_local

    @property
    def critic_state(self) -> np.ndarray:
        """``(E, I, O + G)``, built on each access (:func:`critic_states`)."""
        return critic_states(self.obs, self.global_state)


class BatchedEnv:
    """``num_envs`` copies of the scenario of ``cfg``, vectorised over envs and CVs."""

    def __init__(self, cfg: Config, num_envs: int = 1, seed: int | None = None):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs: must be a positive integer, got {num_envs!r}")
        if seed is not None:
            check_seed("seed", seed)
        check_memory(
            estimate_memory_bytes(cfg, num_envs),
            f"{num_envs} env(s) of num_cvs={cfg.num_cvs} CVs and {cfg.num_rsus} RSUs",
            "lower num_cvs or the number of envs",
        )
        self.cfg = cfg
        self.scn = Scenario(cfg)
        self.num_envs = num_envs
        d = dims(cfg)
        self.num_cvs, self.num_rsus, self.action_dim = d.num_cvs, d.num_rsus, d.action_dim
        self.cv_feature_dim, self.twin_feature_dim, self.obs_dim = d.cv_feature_dim, d.twin_feature_dim, d.obs_dim
        self.global_state_dim, self.critic_state_dim = d.global_state_dim, d.critic_state_dim
        self._own_names = d.own_names
        self._seed = seed
        self.what_if_local = False  # set to add Step.objective_if_local (the module docstring)
        self.t = 0
        self.phys: Physical
        self.queues = Queues(self.scn, num_envs)
        self.twin: DigitalTwin
        self._features: np.ndarray

    # -- episode control ---------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start a new episode in every env; return ``(obs (E, I, O), global_state (E, G))``.

        With ``seed`` the generator is re-seeded; otherwise episodes continue the stream,
        so a run is determined by the seed given at construction or first reset.
        """
        if seed is not None:
            check_seed("seed", seed)
        if seed is not None or not hasattr(self, "rng"):
            self.rng = np.random.default_rng(seed if seed is not None else self._seed)
            self.twin = DigitalTwin(self.scn, self.num_envs, np.random.default_rng(self.rng.integers(2**63)))
        self.t = 0
        self.phys = self.scn.new_physical(self.rng, self.num_envs)
        self.queues.reset()
        self._features = self._cv_features(None)
        self.twin.reset(self._features, self.phys, self._chan[1], self.queues.state.rsu_cycles)
        return self._observe_all()

    def step(self, actions: np.ndarray) -> Step:
        """Play one slot with ``actions`` (E, I, 1+3K) in [0, 1]; raises ActionError on bad input."""
        if not hasattr(self, "phys"):
            raise RuntimeError("call reset() before step()")
        if self.t >= self.cfg.episode_slots:
            raise RuntimeError("episode is over; call reset()")
        a = check_actions(actions, (self.num_envs, self.num_cvs, self.action_dim))
        ln = slot.links(self.scn, self.phys, a, self._chan)
        eta = self.twin.select_modes(ln)
        q_before = self.queues.state
        out = slot.outcome(self.scn, self.phys, q_before, ln, eta)
        what_if = None
        if self.what_if_local:
            what_if = replay.objective_if_local(self.scn, self.phys, q_before, a, out, self._chan)
        self.queues.advance(self.phys, out)
        self._advance()
        self.twin.mirror(self._features, self.phys, self._chan[1], self.queues.state.rsu_cycles, out.links.rsu_given_hz)
        self.t += 1
        obs, glob = self._observe_all()
        return Step(obs, glob, out.reward, self.t >= self.cfg.episode_slots, out, q_before, what_if)

    def _advance(self) -> None:
        """Move the vehicles (eq. 2, docs/model.md#mobility) and draw the next slot's tasks (eq. 4) and fading."""
        p = self.phys
        self.scn.advance_vehicles(p)
        for name, value in self.scn.draw_tasks(self.rng, self.num_envs).items():
            setattr(p, name, value)
        self._features = self._cv_features(self.queues.state)

    # -- observations ------------------------------------------------------------------------
    def _cv_features(self, queues: QueueState | None) -> np.ndarray:
        """Each CV's own features ``(E, I, cv_feature_dim)`` given its queues (None: empty), in a new array that
        nothing writes to afterwards and that is never handed out (observations get a copy), so the twin keeps
        it without copying it."""
        cfg, p = self.cfg, self.phys
        zeros = np.zeros(p.x_m.shape)
        q_loc = queues.local_cycles / self.scn.norm.queue_ref_cycles if queues is not None else zeros
        # The energy queue prices energy linearly (eq. 39), and the best CPU request and local share fall like a
        # power of that price; in log units a linear layer and a sigmoid give such a power law, where the raw
        # queue made trained actors cut the CPU request to its floor at the large V_i they rarely saw
        # (docs/model.md, eq. 40).
        v_e = np.log1p(queues.energy_j / self.scn.norm.energy_queue_ref_j) if queues is not None else zeros
        own = {
            "data_bits": p.data_bits / cfg.task.data_bits.high,
            "instruction_bits": p.instruction_bits / cfg.task.instruction_bits.high,
            "cpu_hz": p.cpu_hz / cfg.vehicle.cpu_hz.high,
            **self.scn.motion_features(p),
            "deadline": np.full(p.x_m.shape, cfg.task.deadline_s / cfg.slot_s),
            "intensity": p.intensity_cycles_per_bit / cfg.task.intensity_cycles_per_bit.high,
            "cotransform_intensity": p.cotransform_cycles_per_bit / max(cfg.task.cotransform_cycles_per_bit.high, 1.0),
            "local_queue": q_loc,
            "energy_queue": v_e,
        }
        self._chan = slot.link_channel(self.scn, p)
        dist, reachable, se = self._chan
        links = {
            "distance": dist / cfg.rsu.coverage_m,
            "in_coverage": reachable,
            "spectral_efficiency": se / SPECTRAL_EFF_SCALE,
        }
        features = np.empty(p.x_m.shape + (self.cv_feature_dim,))
        own_dim = len(self._own_names)
        np.stack([own[n] for n in self._own_names], axis=-1, out=features[..., :own_dim])
        k = self.num_rsus
        for j, name in enumerate(LINK_FEATURE_NAMES):
            features[..., own_dim + j * k : own_dim + (j + 1) * k] = links[name]
        return features

    def _observe_all(self) -> tuple[np.ndarray, np.ndarray]:
        """``(obs (E, I, O), global_state (E, G))`` from one read of the twin's view."""
        glob = self.global_state()
        obs = np.empty((self.num_envs, self.num_cvs, self.obs_dim))
        obs[..., : self.cv_feature_dim] = self._features
        obs[..., self.cv_feature_dim :] = glob[:, None, -self.twin_feature_dim :]
        return obs, glob

    def global_state(self) -> np.ndarray:
        """``(E, G)``: the twin's view of all CVs, the RSU queues and ``G_rsu`` (zeros without a twin)."""
        rsu_part, all_cvs = self.twin.view_features()
        return np.concatenate([all_cvs, rsu_part], axis=-1)

    def snapshot(self) -> tuple[Physical, QueueState]:
        """Copies of the current physical state and queues (for per-slot optimisers)."""
        return self.phys.take(slice(None)), self.queues.state.take(slice(None))
