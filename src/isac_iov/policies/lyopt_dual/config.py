"""The budget and options of ``ly-opt-dual`` (:class:`LyOptDualConfig`; the method: the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LyOptDualConfig:
    """Solver budget and options; see the package docstring (:mod:`isac_iov.policies.lyopt_dual`).

    ``iterations`` projected-gradient steps on the CPU allocation, then
    ``cleanup_iterations`` after dropping parts below the minimum task share;
    ``step`` the first step (a fraction of the largest normalised gradient);
    ``random_starts`` random local-part masks (drawn from ``seed``) besides the
    four fixed starts; ``flip_cvs`` CVs whose local part is switched in step 4,
    each re-optimised for ``flip_iterations`` steps; ``bound`` computes the
    lower bound each slot (``bound_points`` finish-time intervals per grid
    level, ``bound_refine`` refinements, ``bound_bisections`` steps on the
    share price, the best over the C6 prices times each of
    ``bound_price_scales``: read off the solution they run high, and 0.6-0.8
    of them gave bounds up to 4 % tighter at 50 x 16).

    The defaults decide a slot of 5 CVs x 3 RSUs in about 9 ms of CPU and are
    no worse than ``ly-opt`` on 99.2 % of 880 states sampled from ``greedy``
    episodes (the others at most 0.08 % above it), 1.3-3.6 % better on
    average (docs/model.md#per-slot-optimum).  Measured alternatives on the same
    states: 20/10 iterations and ten switch steps 99.4 % at 12.8 ms; without
    step 4 98.9 % (98.3 % of the benchmark's 240 states, 99.6 % with it); one
    random start 99.3 %.
    """

    iterations: int = 16
    cleanup_iterations: int = 8
    step: float = 0.05
    random_starts: int = 0
    flip_cvs: int = 5
    flip_iterations: int = 6
    seed: int = 0
    bound: bool = False
    bound_points: int = 32
    bound_refine: int = 3
    bound_bisections: int = 40
    bound_price_scales: tuple[float, ...] = (0.6, 0.8, 1.0)

    def __post_init__(self) -> None:
        for key, low in (
            ("iterations", 1),
            ("cleanup_iterations", 0),
            ("random_starts", 0),
            ("flip_cvs", 0),
            ("flip_iterations", 1),
            ("seed", 0),
            ("bound_points", 2),
            ("bound_refine", 0),
            ("bound_bisections", 1),
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"ly-opt-dual {key}: must be an integer >= {low}, got {value!r}")
        if not self.bound_price_scales or min(self.bound_price_scales) < 0:
            raise ValueError(f"ly-opt-dual bound_price_scales: need one or more >= 0, got {self.bound_price_scales!r}")
        if not 0 < self.step <= 1:
            raise ValueError(f"ly-opt-dual step: must be in (0, 1], got {self.step!r}")
