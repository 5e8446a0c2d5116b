"""The action of one CV and its mapping onto constraints C4, C5 and C6.

Each agent's action is a flat vector in ``[0, 1]^(1 + 3K)``, laid out by
:class:`ActionLayout` (``layout(K)``), whose named slices every user of an
action (the mapping below, the reference policies, the tests) indexes with:

=================  ==============  ==========  ======================================================
field              slice           length      meaning
=================  ==============  ==========  ======================================================
``local``          ``[0]``         1           weight of local execution
``task``           ``[1:1+K]``     K           weights of offloading to RSU 1..K
``bandwidth``      ``[1+K:1+2K]``  K           bandwidth weights for the links to RSU 1..K
``cpu``            ``[1+2K:]``     K           CPU request to RSU 1..K, as a fraction of F^max - C^twin
=================  ==============  ==========  ======================================================

``split`` (``[0:1+K]``, local and task weights together) is the task-split part.

* **Task shares (C5).**  Weights of RSUs out of coverage are set to zero
  (docs/model.md#coverage); the rest are divided by their sum.  All-zero
  weights mean "run everything locally" (local is always reachable).  Parts
  below ``action.min_task_share`` of the task are then dropped and the rest
  renormalised, so a link is switched off exactly by a small weight and a
  used link always carries a real part of the task (docs/model.md#action-mapping).
* **Bandwidth (C4).**  Only links that carry a task share get bandwidth.  Their
  weights are floored at ``action.min_resource_share`` and divided by their
  sum, so the shares of a CV sum to one.  With ``bandwidth_sharing = per_rsu``
  each RSU's band is split among the CVs using it in proportion to their
  weights instead.
* **RSU CPU (C6).**  Requests of used links are floored at
  ``action.min_resource_share``; each RSU scales the requests of its users down
  so that their sum stays within ``F^max - C^twin`` (docs/model.md#rsu-cpu).

The floors keep every used link's rate and CPU strictly positive, so delays
stay finite whatever the policy does.  Actions outside ``[0, 1]``, NaN or of
the wrong shape raise :class:`ActionError`.

**Centred actions** (an interface for generic learners, :func:`from_centred`):
``u`` in ``[-1, 1]^(1 + 3K)`` maps to ``sigmoid(b + 6 u)`` with ``b`` = -3 on the
local weight, -2 on every CPU request and 0 elsewhere, so ``u = 0`` offloads all
but about 5 % of a task evenly over the RSUs in reach (the local part then falls
under ``min_task_share``), shares the band evenly and asks each RSU for 12 % of
its CPU: the initial policy of the project's own learners.  ``u = +-1`` reaches
``sigmoid(b +- 6)``, within 0.3 % of 0 and 1 for the task and band weights.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .physics.sums import divide_where, sum_last, sum_over_cvs


@dataclass(frozen=True)
class ActionLayout:
    """Named parts of one CV's action vector for ``num_rsus`` RSUs (see the module docstring)."""

    num_rsus: int

    @property
    def dim(self) -> int:
        return 1 + 3 * self.num_rsus

    @property
    def local(self) -> int:
        return 0

    @property
    def split(self) -> slice:
        return slice(0, 1 + self.num_rsus)

    @property
    def task(self) -> slice:
        return slice(1, 1 + self.num_rsus)

    @property
    def bandwidth(self) -> slice:
        return slice(1 + self.num_rsus, 1 + 2 * self.num_rsus)

    @property
    def cpu(self) -> slice:
        return slice(1 + 2 * self.num_rsus, 1 + 3 * self.num_rsus)


@functools.lru_cache(maxsize=64)
def layout(num_rsus: int) -> ActionLayout:
    """The action layout for ``num_rsus`` RSUs."""
    return ActionLayout(num_rsus)


class ActionError(ValueError):
    """An action array has the wrong shape, NaN/inf entries or values outside [0, 1]."""


def action_dim(num_rsus: int) -> int:
    return layout(num_rsus).dim


CENTRED_SCALE = 6.0
CENTRED_BIAS = {"local": -3.0, "task": 0.0, "bandwidth": 0.0, "cpu": -2.0}


def from_centred(u: np.ndarray, num_rsus: int) -> np.ndarray:
    """Env actions in ``[0, 1]`` from centred actions ``u (..., 1 + 3K)`` in ``[-1, 1]`` (module docstring)."""
    parts = layout(num_rsus)
    bias = np.zeros(parts.dim)
    for name, value in CENTRED_BIAS.items():
        bias[getattr(parts, name)] = value
    return 1.0 / (1.0 + np.exp(-(bias + CENTRED_SCALE * np.asarray(u, dtype=float))))


def check_actions(actions: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``actions`` as float64 after checking shape, finiteness and bounds."""
    a = np.asarray(actions, dtype=float)
    if a.shape != shape:
        raise ActionError(f"actions: expected shape {shape}, got {a.shape}")
    if ((a >= 0) & (a <= 1)).all():  # one pass for the usual case (False on NaN)
        return a
    if not np.isfinite(a).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ActionError(f"actions: non-finite value {a[bad]} at index {bad}")
    bad = tuple(int(i) for i in np.argwhere((a < 0) | (a > 1))[0])
    raise ActionError(f"actions: value {a[bad]} at index {bad} outside [0, 1]")


def _normalise(w_loc: np.ndarray, w_rsu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights divided by their sum per CV; all-zero weights run locally."""
    total = w_loc + sum_last(w_rsu)
    empty = total <= 0
    safe = np.where(empty, 1.0, total)
    return np.where(empty, 1.0, w_loc / safe), w_rsu / safe[..., None]


def task_shares(actions: np.ndarray, reachable: np.ndarray, min_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """C5 with coverage masking: ``(share_local (..., I), share_rsu (..., I, K))``.

    Parts below ``min_share`` are dropped and the rest renormalised; the largest
    part is at least ``1 / (K + 1) > min_share``, so something always remains.
    """
    parts = layout(reachable.shape[-1])
    share_local, share_rsu = _normalise(actions[..., parts.local], actions[..., parts.task] * reachable)
    if min_share > 0:
        share_local, share_rsu = _normalise(
            np.where(share_local < min_share, 0.0, share_local), np.where(share_rsu < min_share, 0.0, share_rsu)
        )
    return share_local, share_rsu


def bandwidth_shares(actions: np.ndarray, used: np.ndarray, sharing: str, floor: float) -> np.ndarray:
    """C4: bandwidth fraction ``b_ik`` of each used link (0 on unused links)."""
    w = np.where(used, np.maximum(actions[..., layout(used.shape[-1]).bandwidth], floor), 0.0)
    total = sum_last(w)[..., None] if sharing == "per_cv" else sum_over_cvs(w, keepdims=True)
    return divide_where(w, total, total > 0, 0.0)


def rsu_cpu_hz(actions: np.ndarray, used: np.ndarray, available_hz: float, floor: float) -> np.ndarray:
    """C6: CPU ``F_ik`` each RSU gives to each CV's part (scaled so each RSU's sum fits)."""
    req = np.where(used, np.maximum(actions[..., layout(used.shape[-1]).cpu], floor), 0.0)
    total = sum_over_cvs(req, keepdims=True)
    return available_hz * req / np.maximum(total, 1.0)
