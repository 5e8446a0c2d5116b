"""One slot of the system model: from a physical state, queues and actions to every per-slot quantity.

:func:`links` maps actions to shares, rates and RSU CPU (eqs. 1-2, C4-C6) and
the candidate upload times of both modes (eqs. 7, 9, 10).  The digital twin
then picks the modes (eqs. 12, 22).  :func:`outcome` computes delays, energies,
queueing delays, cost and the drift-plus-penalty objective of P2 (eqs. 5-25,
39, 44).  :func:`evaluate` chains the three without touching any state; the
per-slot optimiser (``ly-opt``) calls it on many candidate actions at once.
The difference reward's replays of a slot are :mod:`isac_iov.replay`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import actions as act
from .physics import channel, computing, cost, queues
from .physics.sums import sum_last, sum_over_cvs
from .scenario import Physical, Scenario


@dataclass
class Links:
    """Per-link ``(E, I, K)`` quantities decided by the action before the mode choice."""

    distance_m: np.ndarray
    reachable: np.ndarray
    spectral_eff: np.ndarray
    share_local: np.ndarray
    share_rsu: np.ndarray
    used: np.ndarray
    bandwidth: np.ndarray
    rate_bps: np.ndarray
    rsu_cpu_hz: np.ndarray
    rsu_given_hz: np.ndarray  # (E, K) CPU each RSU gives this slot's parts, sum of rsu_cpu_hz
    datat_s: np.ndarray
    instruction_s: np.ndarray
    cotransform_s: np.ndarray

    @property
    def instrt_s(self) -> np.ndarray:
        """InstrT upload-side time: instruction upload (9) + coordinate transformation (10)."""
        return self.instruction_s + self.cotransform_s


@dataclass
class QueueState:
    """Backlogs at the start of a slot plus the Little's-law window sums of the m-1 previous slots."""

    local_cycles: np.ndarray  # (E, I)   Q_loc, eq. (16)
    rsu_cycles: np.ndarray  # (E, K)   Q_rsu, eq. (17)
    energy_j: np.ndarray  # (E, I)   V_i, eq. (27)
    local_window: np.ndarray  # (E, I)   sum of Q_loc over the previous m-1 slots
    local_arrival_window: np.ndarray
    rsu_window: np.ndarray  # (E, K)
    rsu_arrival_window: np.ndarray

    def take(self, index: np.ndarray | slice | int) -> QueueState:
        return QueueState(**{k: v[index] for k, v in vars(self).items()})


@dataclass
class Outcome:
    """Everything that happens in one slot; ``(E, I)`` per CV, ``(E, I, K)`` per link, ``(E,)`` per system."""

    links: Links
    eta: np.ndarray  # (E, I, K) 1 = InstrT
    local_delay_s: np.ndarray
    local_energy_j: np.ndarray
    upload_s: np.ndarray
    compute_s: np.ndarray
    rsu_energy_j: np.ndarray  # (E, I, K) upload/co-transformation + computing at RSU k
    local_queue_delay_s: np.ndarray
    rsu_queue_delay_s: np.ndarray  # (E, K)
    delay_s: np.ndarray  # (E, I) T_task, eq. (19)
    energy_j: np.ndarray  # (E, I) E_task, eq. (23)
    deadline_miss: np.ndarray  # (E, I) C8 violated
    cost: np.ndarray  # (E, I) eq. (24), normalised
    system_cost: np.ndarray  # (E,)   eq. (25)
    local_arrivals: np.ndarray  # (E, I) cycles
    rsu_arrivals: np.ndarray  # (E, K) cycles sent to each RSU this slot
    rsu_backlog_arrivals: np.ndarray  # (E, K) cycles that join the RSU queue (eq. 17 arrivals)
    rsu_service_hz: np.ndarray  # (E, K) rate at which the RSU queue is served (eq. 17)
    energy_budget_j: np.ndarray  # (E, I) the E^max share each V_i is driven against
    energy_driver_j: np.ndarray  # (E, I) the energy each V_i is driven by
    drift_local: np.ndarray  # (E,)
    drift_rsu: np.ndarray
    drift_energy: np.ndarray
    objective: np.ndarray  # (E,) P2 objective, eq. (39)
    objective_per_cv: np.ndarray  # (E, I) its split over CVs; sums to ``objective``

    @property
    def reward(self) -> np.ndarray:
        """Eq. (44): the team reward, the negative P2 objective."""
        return -self.objective

    @property
    def reward_per_cv(self) -> np.ndarray:
        """Each CV's share of the team reward (docs/model.md#per-cv-reward); sums to :attr:`reward`."""
        return -self.objective_per_cv


def link_channel(scn: Scenario, phys: Physical) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eqs. (1)-(2) before any decision: ``(distance_m, reachable, spectral_eff)`` per link."""
    cfg = scn.cfg
    dist = channel.distance_m(phys.x_m, phys.y_m, scn.rsu_x_m, scn.rsu_y_m, cfg.rsu.height_m)
    gain = channel.path_gain(dist, cfg.channel.pathloss_intercept_db, cfg.channel.pathloss_slope_db)
    se = channel.spectral_efficiency(phys.fading_power, gain, cfg.channel.tx_power_w, cfg.channel.noise_w)
    return dist, channel.in_coverage(dist, cfg.rsu.coverage_m), se


def links(
    scn: Scenario, phys: Physical, a: np.ndarray, chan: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> Links:
    """C4-C6, eq. (1) rates and the mode-independent upload times (7), (9), (10).

    ``chan`` is :func:`link_channel` of ``phys`` when the caller already has it.
    """
    chan = link_channel(scn, phys) if chan is None else chan
    share_local, share_rsu = act.task_shares(a, chan[1], scn.cfg.action.min_task_share)
    return links_of_shares(scn, phys, a, chan, share_local, share_rsu)


def links_of_shares(
    scn: Scenario,
    phys: Physical,
    a: np.ndarray,
    chan: tuple[np.ndarray, np.ndarray, np.ndarray],
    share_local: np.ndarray,
    share_rsu: np.ndarray,
) -> Links:
    """:func:`links` for task shares already decided (C5): C4 and C6 from the bandwidth and CPU fields of ``a``,
    eq. (1) and the upload times (7), (9), (10).  Reads ``scn``'s config and available RSU CPU only."""
    cfg = scn.cfg
    dist, reachable, se = chan
    used = share_rsu > 0
    floor = cfg.action.min_resource_share
    bandwidth = act.bandwidth_shares(a, used, cfg.channel.bandwidth_sharing, floor)
    rate = channel.rate_bps(bandwidth, se, cfg.channel.bandwidth_hz, cfg.channel.sensing_gain)
    f_rsu = act.rsu_cpu_hz(a, used, scn.rsu_available_hz, floor)
    return Links(
        distance_m=dist,
        reachable=reachable,
        spectral_eff=se,
        share_local=share_local,
        share_rsu=share_rsu,
        used=used,
        bandwidth=bandwidth,
        rate_bps=rate,
        rsu_cpu_hz=f_rsu,
        rsu_given_hz=sum_over_cvs(f_rsu),
        datat_s=computing.datat_upload_s(share_rsu, phys.data_bits, rate),
        instruction_s=computing.instruction_upload_s(used, phys.instruction_bits, rate),
        cotransform_s=computing.rsu_cycles_time_s(share_rsu, phys.data_bits, phys.cotransform_cycles_per_bit, f_rsu),
    )


def outcome(scn: Scenario, phys: Physical, q: QueueState, ln: Links, eta: np.ndarray) -> Outcome:
    """Eqs. (5)-(25) and (39)/(44) for given links and modes."""
    cfg, norm = scn.cfg, scn.norm
    # Local part: eqs. (5), (6).
    d_loc = computing.local_delay_s(ln.share_local, phys.data_bits, phys.intensity_cycles_per_bit, phys.cpu_hz)
    e_loc = computing.local_energy_j(d_loc, phys.cpu_hz, cfg.vehicle.kappa)
    # RSU parts: eqs. (8), (11)-(15), (23).
    upload = np.where(eta, ln.instrt_s, ln.datat_s)
    compute = computing.rsu_cycles_time_s(ln.share_rsu, phys.data_bits, phys.intensity_cycles_per_bit, ln.rsu_cpu_hz)
    e_datat = computing.datat_upload_energy_j(ln.datat_s, cfg.channel.tx_power_w)
    e_cotra = computing.rsu_energy_j(ln.cotransform_s, ln.rsu_cpu_hz, cfg.rsu.kappa)
    e_compt = computing.rsu_energy_j(compute, ln.rsu_cpu_hz, cfg.rsu.kappa)
    energy = computing.task_energy_j(e_loc, eta, e_datat, e_cotra, e_compt)
    # Arrivals and service: eqs. (16), (17).
    lam_loc = queues.local_arrivals_cycles(ln.share_local, phys.data_bits, phys.intensity_cycles_per_bit)
    lam_link = queues.rsu_arrivals_cycles(
        ln.share_rsu, phys.data_bits, phys.intensity_cycles_per_bit, phys.cotransform_cycles_per_bit, eta
    )
    lam_rsu = sum_over_cvs(lam_link)
    backlog_in, service = rsu_service(cfg.rsu.service, lam_link, ln, scn.rsu_available_hz, cfg.slot_s)
    dq_loc, dq_rsu = queueing_delay_s(scn, phys, q, lam_loc, lam_rsu)
    # Delay, eqs. (19), (21).
    rsu_total = upload + compute + dq_rsu[..., None, :]
    delay = computing.task_delay_s(ln.share_local, d_loc + dq_loc, ln.used, rsu_total)
    # Cost, eqs. (24), (25).
    c = cost.cv_cost(delay, energy, cfg.lyapunov.alpha, norm.delay_ref_s, norm.energy_ref_j)
    sys_cost = cost.system_cost(c)
    # Virtual energy queue driver, eq. (27) (docs/model.md#energy-queue).
    budget_cv = cfg.lyapunov.energy_budget_j_per_cv
    if cfg.lyapunov.energy_queue == "per_cv":
        driver, budget = energy, np.full(energy.shape, budget_cv)
    else:
        total = sum_last(energy)[..., None]
        driver = np.broadcast_to(total, energy.shape)
        budget = np.full(energy.shape, budget_cv * scn.num_cvs)
    # Drift-plus-penalty, eqs. (39), (44), and its split over CVs.
    qref = norm.queue_ref_cycles
    terms_loc = cost.queue_drift_terms(q.local_cycles, lam_loc, phys.cpu_hz * cfg.slot_s, qref)
    terms_rsu = cost.queue_drift_terms(q.rsu_cycles, backlog_in, service * cfg.slot_s, qref)
    terms_e = cost.queue_drift_terms(q.energy_j, driver, budget, norm.energy_queue_ref_j)
    drift_loc, drift_rsu, drift_e = sum_last(terms_loc), sum_last(terms_rsu), sum_last(terms_e)
    objective = cost.drift_plus_penalty(cfg.lyapunov.v_control, sys_cost, drift_loc, drift_rsu, drift_e)
    per_cv = cost.per_cv_objective(cfg.lyapunov.v_control, c, terms_loc, terms_rsu, lam_link, terms_e)
    return Outcome(
        links=ln,
        eta=eta,
        local_delay_s=d_loc,
        local_energy_j=e_loc,
        upload_s=upload,
        compute_s=compute,
        rsu_energy_j=np.where(eta, e_cotra, e_datat) + e_compt,
        local_queue_delay_s=dq_loc,
        rsu_queue_delay_s=dq_rsu,
        delay_s=delay,
        energy_j=energy,
        deadline_miss=delay > cfg.task.deadline_s,
        cost=c,
        system_cost=sys_cost,
        local_arrivals=lam_loc,
        rsu_arrivals=lam_rsu,
        rsu_backlog_arrivals=backlog_in,
        rsu_service_hz=service,
        energy_budget_j=budget,
        energy_driver_j=driver,
        drift_local=drift_loc,
        drift_rsu=drift_rsu,
        drift_energy=drift_e,
        objective=objective,
        objective_per_cv=per_cv,
    )


def queueing_delay_s(
    scn: Scenario, phys: Physical, q: QueueState, lam_loc: np.ndarray, lam_rsu: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(local (E, I), per RSU (E, K))`` queueing delay: the wait for the backlog ahead of a part
    (``lyapunov.queue_delay = backlog``) or eq. (18) over the window (``littles_law``); docs/model.md#queueing-delay."""
    if scn.cfg.lyapunov.queue_delay == "backlog":
        return queues.backlog_wait_s(q.local_cycles, phys.cpu_hz), queues.backlog_wait_s(
            q.rsu_cycles, scn.rsu_available_hz
        )
    tau = scn.cfg.slot_s
    return (
        queues.littles_law_delay_s(q.local_window + q.local_cycles, q.local_arrival_window + lam_loc, tau),
        queues.littles_law_delay_s(q.rsu_window + q.rsu_cycles, q.rsu_arrival_window + lam_rsu, tau),
    )


def rsu_service(
    rule: str, link_arrivals: np.ndarray, ln: Links, available_hz: float, slot_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Eq. (17)'s arrivals and service rate per RSU ``(E, K)`` under ``rsu.service`` (docs/model.md#rsu-service).

    * ``work_conserving``: each part runs on the CPU its RSU gives it; what it
      cannot finish within the slot joins the queue, and the queue is served by
      all CPU not given to this slot's parts.
    * ``allocated``: every arrival joins the queue, served by the CPU given to
      this slot's parts (all of it when nobody offloads).
    * ``capacity``: every arrival joins the queue, served by ``F^max - C^twin``.
    """
    if rule == "work_conserving":
        leftover = sum_over_cvs(np.maximum(link_arrivals - ln.rsu_cpu_hz * slot_s, 0.0))
        return leftover, np.maximum(available_hz - ln.rsu_given_hz, 0.0)
    arrivals = sum_over_cvs(link_arrivals)
    if rule == "allocated":
        return arrivals, np.where(ln.used.any(axis=-2), ln.rsu_given_hz, available_hz)
    return arrivals, np.full(arrivals.shape, available_hz)


def select_modes(ln: Links) -> np.ndarray:
    """The twin's mode rule, eqs. (12), (22) (docs/model.md#mode): ``eta = 1`` (InstrT) on used links where
    its upload-side time is strictly smaller."""
    return computing.select_mode(ln.used, ln.datat_s, ln.instrt_s)


def evaluate(
    scn: Scenario,
    phys: Physical,
    q: QueueState,
    a: np.ndarray,
    chan: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Outcome:
    """The full slot for validated actions ``a`` (E, I, 1+3K), with the twin's mode rule (``chan``: see
    :func:`links`)."""
    ln = links(scn, phys, a, chan)
    return outcome(scn, phys, q, ln, select_modes(ln))
