"""The twin's replays of a slot for the difference reward (docs/model.md#difference-reward).

:func:`objective_if_local` gives, for every CV ``i`` of every env, the P2 objective (eq. 39) of the slot played
again with CV ``i``'s whole task run locally and every other CV acting as it did.  CVs meet only at the RSUs they
use: C6 splits an RSU's CPU among its users, C4 its band under ``per_rsu`` sharing, and eqs. (17)-(18) give each
RSU one queue and one queueing delay.  Replaying CV ``i`` therefore changes the RSUs it used, ``R``, and the CVs
that use them, and nothing else, so each replay is evaluated on a neighbourhood of the slot:

* its columns: every RSU used by a CV that uses an RSU of ``R``;
* its rows: CV ``i`` first, then every CV that uses one of these RSUs, so that each RSU present has all its users
  and its sums (C6, eqs. 17-18) are the slot's;
* the played links of these rows and columns copied; in the replay CV ``i``'s task made local and the links at
  ``R`` computed again from the played task shares (:func:`isac_iov.slot.links_of_shares`).

The neighbourhood as played and as replayed differ by exactly ``J_i^local - J``: a row whose RSUs are not all
present (a CV two RSUs away from ``R``) uses none of ``R``, so its terms, incomplete as they are, are the same in
both and cancel, and so do the padding rows and columns, which use nothing.  The cost grows with the size of the
neighbourhoods instead of with ``I K`` per CV-slot.  With one energy queue for the system
(``lyapunov.energy_queue = system``) every CV's energy moves every CV's term, and :func:`whole_slot_if_local`
replays the whole slot once per CV, as it also does in the tests, as their reference.
"""

from __future__ import annotations

import numpy as np

from . import actions as act
from . import slot
from .physics.sums import sum_over_cvs
from .scenario import Physical, Scenario
from .slot import Links, Outcome, QueueState

REPLAY_LINKS = 16384  # CV-RSU links evaluated at once: arrays that stay in cache (2.5 x faster at 50 CVs x 16
# RSUs than one batch of every replay of the whole slot)
_PER_LINK = ("share_rsu", "used", "bandwidth", "rate_bps", "rsu_cpu_hz", "datat_s", "instruction_s", "cotransform_s")
_ROW_QUEUES = ("local_cycles", "energy_j", "local_window", "local_arrival_window")


def objective_if_local(
    scn: Scenario,
    phys: Physical,
    q: QueueState,
    a: np.ndarray,
    played: Outcome,
    chan: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``(E, I)``: the P2 objective of the slot played with actions ``a (E, I, 1+3K)`` and outcome ``played``
    (with the twin's modes), had CV ``i`` run its whole task locally; by neighbourhoods (the module docstring)."""
    if scn.cfg.lyapunov.energy_queue != "per_cv":
        return whole_slot_if_local(scn, phys, q, a, chan)
    used = played.links.used
    out = np.repeat(played.objective[:, None], used.shape[1], axis=1)  # a CV that offloads nothing changes nothing
    env, cv = np.nonzero(used.any(axis=-1))
    members, columns = _neighbourhoods(used, env, cv)
    rows_n, cols_n = members.sum(axis=1) + 1, columns.sum(axis=1)
    order = np.lexsort((cols_n, rows_n))  # similar sizes together: little padding in a chunk
    start = 0
    while start < order.size:
        size = np.arange(1, order.size - start + 1)
        size *= np.maximum.accumulate(rows_n[order[start:]]) * np.maximum.accumulate(cols_n[order[start:]])
        part = order[start : start + max(1, int(np.searchsorted(size, REPLAY_LINKS, side="right")))]
        rows, cols = _first_true(members[part], cv[part]), _first_true(columns[part])
        out[env[part], cv[part]] += _replay_minus_played(scn, phys, q, a, played.links, env[part], rows, cols)
        start += part.size
    return out


def _neighbourhoods(used: np.ndarray, env: np.ndarray, cv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(P, I)`` rows and ``(P, K)`` columns of the neighbourhood of each replay ``(env[p], cv[p])``: the RSUs
    used by the CVs that share an RSU with CV ``cv[p]``, and their users but CV ``cv[p]`` itself."""
    u = used.astype(float)
    ut = u.transpose(0, 2, 1)
    sharing = (u @ ut > 0).astype(float)  # CVs that use a common RSU
    columns = sharing @ u > 0
    members = columns.astype(float) @ ut > 0
    members[env, cv, cv] = False  # placed first by _first_true
    return members[env, cv], columns[env, cv]


def _first_true(mask: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """The indices of each row's True entries ``(P, width)``, padded with -1, after ``first`` if given."""
    order = np.argsort(~mask, axis=1, kind="stable")[:, : max(1, int(mask.sum(axis=1).max()))]
    index = np.where(np.take_along_axis(mask, order, axis=1), order, -1)
    return index if first is None else np.concatenate([first[:, None], index], axis=1)


def _replay_minus_played(
    scn: Scenario,
    phys: Physical,
    q: QueueState,
    a: np.ndarray,
    ln: Links,
    env: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> np.ndarray:
    """``(P,)`` ``J_i^local - J`` of the replays ``(env, rows[:, 0])`` on their neighbourhoods."""
    num_cvs, num_rsus = ln.used.shape[1:]
    cv = env[:, None] * num_cvs + np.maximum(rows, 0)  # (P, M) flat (env, CV) indices, padding at CV 0
    rsu = np.maximum(cols, 0)
    link = cv[:, :, None] * num_rsus + rsu[:, None, :]  # (P, M, L) flat link indices
    present = (rows >= 0)[:, :, None] & (cols >= 0)[:, None, :]
    here = Physical(**{k: v[env] if v.ndim == 1 else v.take(cv) for k, v in vars(phys).items()})
    queues = QueueState(**{k: v.take(cv) if k in _ROW_QUEUES else v[env[:, None], rsu] for k, v in vars(q).items()})
    played = {k: np.where(present, getattr(ln, k).take(link), False if k == "used" else 0.0) for k in _PER_LINK}
    chan = (ln.distance_m.take(link), ln.reachable.take(link) & present, ln.spectral_eff.take(link))
    full, sub, dim = act.layout(num_rsus), act.layout(cols.shape[1]), a.shape[-1]
    sub_a = np.zeros((*cv.shape, sub.dim))  # the bandwidth and CPU fields, all links_of_shares reads of it
    for whole, part in ((full.bandwidth, sub.bandwidth), (full.cpu, sub.cpu)):
        sub_a[..., part] = a.take(cv[:, :, None] * dim + np.arange(dim)[whole][rsu][:, None, :])
    share_local = ln.share_local.take(cv)
    before = _links(chan, share_local, played)
    share_local = share_local.copy()
    share_local[:, 0] = 1.0  # the replay: CV i runs its whole task locally
    share_rsu = played["share_rsu"].copy()
    share_rsu[:, 0] = 0.0
    fresh = slot.links_of_shares(scn, here, sub_a, chan, share_local, share_rsu)
    moved = played["used"][:, :1, :] | (np.arange(rows.shape[1]) == 0)[None, :, None]  # R's links and CV i's
    after = _links(chan, share_local, {k: np.where(moved, getattr(fresh, k), v) for k, v in played.items()})
    objective = [slot.outcome(scn, here, queues, x, slot.select_modes(x)).objective for x in (after, before)]
    return objective[0] - objective[1]


def _links(chan: tuple[np.ndarray, np.ndarray, np.ndarray], share_local: np.ndarray, per_link: dict) -> Links:
    return Links(
        distance_m=chan[0],
        reachable=chan[1],
        spectral_eff=chan[2],
        share_local=share_local,
        rsu_given_hz=sum_over_cvs(per_link["rsu_cpu_hz"]),
        **per_link,
    )


def whole_slot_if_local(
    scn: Scenario,
    phys: Physical,
    q: QueueState,
    a: np.ndarray,
    chan: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """:func:`objective_if_local` by evaluating the whole slot once per CV, as ``E * I`` envs, about
    :data:`REPLAY_LINKS` links at a time (the action's local weight 1, every offloading weight 0)."""
    num_envs, num_cvs, _ = a.shape
    local = np.zeros(a.shape[-1])
    local[act.layout(scn.num_rsus).local] = 1.0
    env_of = np.repeat(np.arange(num_envs), num_cvs)  # row r = (env r // I, CV r % I)
    cv_of = np.tile(np.arange(num_cvs), num_envs)
    out = np.empty(num_envs * num_cvs)
    step = max(1, REPLAY_LINKS // (num_cvs * scn.num_rsus))
    for start in range(0, out.size, step):
        rows = slice(start, min(start + step, out.size))
        e, i = env_of[rows], cv_of[rows]
        what_if = a[e].copy()
        what_if[np.arange(e.size), i] = local
        part = None if chan is None else (chan[0][e], chan[1][e], chan[2][e])
        out[rows] = slot.evaluate(scn, phys.take(e), q.take(e), what_if, part).objective
    return out.reshape(num_envs, num_cvs)
