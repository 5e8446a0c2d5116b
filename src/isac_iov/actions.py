"""The action of one CV and its mapping onto constraints C4, C5 and C6.

Each agent's action is a flat vector in ``[0, 1]^(1 + 3K)``:

=============  ==========  =====================================================
slice          length      meaning
=============  ==========  =====================================================
``[0]``        1           weight of local execution
``[1:1+K]``    K           weights of offloading to RSU 1..K
``[1+K:1+2K]`` K           bandwidth weights for the links to RSU 1..K
``[1+2K:]``    K           CPU request to RSU 1..K, as a fraction of F^max - C^twin
=============  ==========  =====================================================

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
"""
from __future__ import annotations

import numpy as np

class ActionError(ValueError):
    """An action array has the wrong shape, NaN/inf entries or values outside [0, 1]."""


def action_dim(num_rsus: int) -> int:
    return 1 + 3 * num_rsus


def check_actions(actions: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``actions`` as float64 after checking shape, finiteness and bounds."""
    a = np.asarray(actions, dtype=float)
    if a.shape != shape:
        raise ActionError(f"actions: expected shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ActionError(f"actions: non-finite value {a[bad]} at index {bad}")
    if (a < 0).any() or (a > 1).any():
        bad = tuple(int(i) for i in np.argwhere((a < 0) | (a > 1))[0])
        raise ActionError(f"actions: value {a[bad]} at index {bad} outside [0, 1]")
    return a


def _normalise(w_loc: np.ndarray, w_rsu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights divided by their sum per CV; all-zero weights run locally."""
    total = w_loc + w_rsu.sum(axis=-1)
    empty = total <= 0
    safe = np.where(empty, 1.0, total)
    return np.where(empty, 1.0, w_loc / safe), w_rsu / safe[..., None]


def task_shares(actions: np.ndarray, reachable: np.ndarray,
                min_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """C5 with coverage masking: ``(share_local (..., I), share_rsu (..., I, K))``.

    Parts below ``min_share`` are dropped and the rest renormalised; the largest
    part is at least ``1 / (K + 1) > min_share``, so something always remains.
    """
    k = reachable.shape[-1]
    share_local, share_rsu = _normalise(actions[..., 0], actions[..., 1:1 + k] * reachable)
    if min_share > 0:
        share_local, share_rsu = _normalise(np.where(share_local < min_share, 0.0, share_local),
                                            np.where(share_rsu < min_share, 0.0, share_rsu))
    return share_local, share_rsu


def bandwidth_shares(actions: np.ndarray, used: np.ndarray, sharing: str, floor: float) -> np.ndarray:
    """C4: bandwidth fraction ``b_ik`` of each used link (0 on unused links)."""
    k = used.shape[-1]
    w = np.where(used, np.maximum(actions[..., 1 + k:1 + 2 * k], floor), 0.0)
    axis = -1 if sharing == "per_cv" else -2
    total = w.sum(axis=axis, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def rsu_cpu_hz(actions: np.ndarray, used: np.ndarray, available_hz: float, floor: float) -> np.ndarray:
    """C6: CPU ``F_ik`` each RSU gives to each CV's part (scaled so each RSU's sum fits)."""
    k = used.shape[-1]
    req = np.where(used, np.maximum(actions[..., 1 + 2 * k:1 + 3 * k], floor), 0.0)
    total = req.sum(axis=-2, keepdims=True)
    return available_hz * req / np.maximum(total, 1.0)
