"""``ly-opt-dual``: the per-slot problem P2 (eq. 39) decomposed over CVs, with a lower bound from its dual.

P2 couples the CVs of one slot only through the RSU CPU (C6: each RSU's
requests are scaled down when they sum above ``F^max - C^twin``,
docs/model.md#rsu-cpu).  With ``channel.bandwidth_sharing = per_cv`` every
other term splits over CVs: the cost (24), the local and virtual energy queue
drifts, and - given the CPU ``F_ik`` of each part - the RSU drift, which under
work-conserving service (docs/model.md#rsu-service) is
``sum_k Q_k/Q_ref^2 (sum_i max(lambda_ik, F_ik tau) - tau (F^max - C^twin))``.
The solver therefore works on the CPU allocation ``F (E, I, K)`` (the method
is written up in docs/model.md#per-slot-optimum):

1. **Per-CV subproblem, closed form.**  Given its CPU ``F_ik``, CV i's local
   CPU and its reachable RSUs are parallel servers: server ``s`` starts after
   its queueing delay ``w_s`` (eq. 18 or the backlog wait) and then runs at
   ``r_s`` task fractions per second (local ``C_cpu / c``; RSU
   ``F / (u F + c)`` with ``u`` the upload time of the whole task over the
   link's band, eqs. 1, 7, 13).  With the CPU given, splitting the task
   so all used servers finish together is optimal for the RSU parts, and the
   local part is either left out or joins them (the cost is then piecewise
   linear in its share); both are tried.  The finish time ``T`` solves
   ``sum_s r_s (T - w_s)^+ = 1``, the smallest fill level over the servers
   sorted by wait - exact, no iteration.  The CV's cost
   ``w_T T + sum_s l_s e_s + price . F`` (``w_T = V alpha / tau``, per-share
   energy and drift costs ``e_s``) and its gradient in ``F`` follow in
   closed form: ``dJ/dF_k = (T - w_k) r_k' (e_k - rho) + 2 w_E kappa c l_k F_k + price_k``
   with ``rho = (w_T + sum r_s e_s) / sum r_s`` over the active servers.
2. **Coordination (C6).**  Projected gradient on ``f = F / (F^max - C^twin)``:
   each RSU's column is projected onto ``{f >= 0, sum_i f_ik <= 1}``, so C6
   holds exactly and no request is ever scaled.  The gradient is scaled to
   unit max-norm over the env, or over each RSU's users (faster where a CV is
   alone on an RSU); the step adapts per env (x1.3 on success, x0.4 and retry
   on failure).  The choice of each CV between leaving out and adding a local
   part makes the problem non-convex, so the descent runs from several starts
   at once (:func:`start_allocations`: ``greedy``'s requests, claim-weighted
   and even splits of each RSU, no local parts, random local-part masks),
   each with both scalings.  Then the parts below ``action.min_task_share``
   (which the action mapping would drop) are removed and the allocation
   re-optimised.  The bandwidth of a CV's links follows the rule
   ``b_k ~ sqrt(l_k u_k)``, which minimises the summed upload time (eq. 7).
3. **Exact choice.**  The candidate actions and those of ``greedy``,
   ``local`` and ``offload`` are evaluated with the exact objective
   (``slot.evaluate``, which applies the twin's mode rule); each env plays its
   best, so ``ly-opt-dual`` is never worse than ``greedy`` on P2.
4. **Switching local parts.**  A CV's choice of its local part under the
   others' current CPU need not be the best jointly (adding a local part frees
   RSU CPU for the others, which the descent does not see).  From the best
   descent, the ``flip_cvs`` CVs closest to switching (smallest cost
   difference between both options) are switched one at a time - a local
   part forced in, or left out - each copy re-optimised briefly and evaluated
   exactly like the other candidates.

The model ignores InstrT (eq. 12; the exact evaluation still applies the
twin's choice) and, with ``per_rsu`` bandwidth, the sharing of each RSU's
band (each link gets the rule's share of its RSU's band).  Everything is
vectorised over envs, CVs and RSUs; the cost per iteration is linear in the
number of CVs (plus a sort over CVs per RSU in the projection).

The package: :mod:`.config` (budget), :mod:`.model` (steps 1-2: the per-CV model, its closed-form
split and the projected descent), :mod:`.solve` (steps 3-4 and the policy), :mod:`.bound` (the lower bound).
"""

from __future__ import annotations

from .bound import best_bound, lower_bound
from .config import LyOptDualConfig
from .model import NEVER_S, fill_time_s, project_columns, split
from .solve import FIXED_STARTS, LyOptDualPolicy, SlotResult, decision_bytes, solve_slot, source_names

__all__ = [
    "FIXED_STARTS",
    "NEVER_S",
    "LyOptDualConfig",
    "LyOptDualPolicy",
    "SlotResult",
    "best_bound",
    "decision_bytes",
    "fill_time_s",
    "lower_bound",
    "project_columns",
    "solve_slot",
    "source_names",
    "split",
]
