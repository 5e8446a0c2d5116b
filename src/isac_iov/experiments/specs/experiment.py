"""The vocabulary of the experiment specs: runs, cells, experiments and their training curves.

A :class:`RunSpec` is one unit of work: ``kind`` (``train`` a learner, or
``evaluate`` a policy), ``algo`` (learner or reference-policy name), config
``overrides`` (``section.key=value`` strings), ``seed`` and ``episodes``.  An
evaluate run of a learned policy names its training run in ``source``.  Its
:meth:`RunSpec.key` hashes the kind, algorithm, seed, episodes, the digest of
the *effective* config and the source's key, so equal work gets equal keys no
matter how the overrides were spelled, and outputs live in ``DIR/runs/<key>/``.
Keys do not cover the code: after changing the simulator or a learner, use a
new ``DIR`` (or delete ``DIR/runs``) so nothing stale is reused.

An :class:`Experiment` is a list of :class:`Cell` s.  A cell is one point of a
table or figure (a ``series`` such as an algorithm, an optional ``x`` such as
the number of CVs) and holds one run per seed; results are aggregated over
those runs.

An experiment also declares its training curves (:data:`CURVES`, a
:class:`Curves` per experiment name): the :class:`Curve` s its results keep and
those its figure draws, one per panel.

The names every experiment draws on are here too: the learners, the reference
policies, the experiments of ``all`` (:data:`EXPERIMENTS`) and those run only by
name (:data:`BEYOND`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ... import plugins
from ...config import Config, load_config
from ...learners import REGISTRY as LEARNER_REGISTRY

LEARNERS = tuple(LEARNER_REGISTRY)
REFERENCES = ("ly-opt", "greedy", "local")  # the reference policies the figures compare with
COMPARED_WITH = ("ly-opt", "greedy")  # the references every learned policy is shown next to
# at scale ly-opt takes minutes per slot: the decomposed optimiser; greedy-blind is Ly-MAPPO's (it sees no twin)
SCALE_REFERENCES = ("greedy", "ly-opt-dual", "greedy-blind")
KINDS = ("train", "evaluate")
EXPERIMENTS = ("table3", "fig4", "fig5", "fig6", "fig7", "twin", "bandwidth")  # the paper's: ``all``
BEYOND = ("scale",)  # experiments run only by name
WITH_ALGOS = ("table3", "fig4", "fig5", "fig6", "all", "scale")  # whose learners ``reproduce --algos`` chooses
TEST_NETWORKS = ("spider", "highway")  # shipped scenarios kept out of every tuning (docs/model.md#more-scenarios)
EVALUATED = ("table3", "fig4")  # experiments that also evaluate the trained policies next to COMPARED_WITH
EVAL_SEED_OFFSET = 10_000  # evaluation scenarios never replay a training seed's stream
NO_TWIN = "ly-mappo (no twin)"  # Ly-MAPPO's series in the twin-fidelity experiment


@dataclass(frozen=True)
class RunSpec:
    """One run: train a learner or evaluate a policy, for one seed and config."""

    kind: str
    algo: str
    overrides: tuple[str, ...] = ()
    seed: int = 0
    episodes: int = 1
    source: RunSpec | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"run kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "train" and not (self.algo in LEARNERS or plugins.known("learner", self.algo, True)):
            raise ValueError(f"train run: unknown learner {self.algo!r} (known: {', '.join(LEARNERS)})")
        known = REFERENCES + SCALE_REFERENCES[1:]
        plugin = plugins.known("policy", self.algo, True)
        if self.kind == "evaluate" and self.source is None and not (self.algo in known or plugin):
            raise ValueError(
                f"evaluate run: unknown reference policy {self.algo!r} "
                f"(known: {', '.join(known)}; learned policies need a source run)"
            )
        if self.source is not None and self.source.kind != "train":
            raise ValueError("the source of an evaluate run must be a train run")
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")

    @cached_property
    def config(self) -> Config:
        return load_config(None, list(self.overrides))

    @cached_property
    def key(self) -> str:
        ident = {
            "kind": self.kind,
            "algo": self.algo,
            "seed": self.seed,
            "episodes": self.episodes,
            "config": self.config.digest(),
            "source": self.source.key if self.source else None,
        }
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.kind}-{self.algo}-s{self.seed}-{digest}"

    @property
    def eval_seed(self) -> int:
        return self.seed + EVAL_SEED_OFFSET

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "algo": self.algo,
            "overrides": list(self.overrides),
            "seed": self.seed,
            "episodes": self.episodes,
            "config_digest": self.config.digest(),
            "source": self.source.to_dict() if self.source else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        source = cls.from_dict(data["source"]) if data.get("source") else None
        return cls(
            data["kind"], data["algo"], tuple(data["overrides"]), int(data["seed"]), int(data["episodes"]), source
        )


@dataclass(frozen=True)
class Cell:
    """One point of a table or figure: a series label, an optional x value, one run per seed."""

    series: str
    x: float | None
    runs: tuple[RunSpec, ...]


@dataclass(frozen=True)
class Curve:
    """A training curve of each series: the ``metrics.csv`` column ``metric`` or, with ``per_cv``, every
    column starting with it (one per CV); of every series, or of ``series`` only."""

    metric: str
    series: str | None = None
    per_cv: bool = False

    def columns(self, series: str, header: Sequence[str]) -> list[str]:
        """The columns of this curve in a run of ``series`` whose ``metrics.csv`` has ``header``."""
        if self.series not in (None, series):
            return []
        return [c for c in header if c.startswith(self.metric)] if self.per_cv else [self.metric]

    def rows(self, res: dict[str, Any]) -> list[dict[str, Any]]:
        """The curve rows of a loaded result (:func:`isac_iov.experiments.results.load`) that belong to this curve."""
        return [
            r
            for r in res["curves"]
            if self.series in (None, r["series"])
            and (r["metric"].startswith(self.metric) if self.per_cv else r["metric"] == self.metric)
        ]


@dataclass(frozen=True)
class Curves:
    """An experiment's training curves: ``kept`` in its results (in this column order) and ``drawn`` by its
    figure (one per panel, in panel order)."""

    kept: tuple[Curve, ...] = ()
    drawn: tuple[Curve, ...] = ()


REWARD_CURVE, COST_CURVE = Curve("reward"), Curve("cost")
LOCAL_QUEUE_CURVE = Curve("local_queue_cycles")
LOCAL_QUEUE_PER_CV_CURVE = Curve("local_queue_cv", series="ly-dtmpo", per_cv=True)
CURVES: dict[str, Curves] = {
    "fig4": Curves(kept=(REWARD_CURVE,), drawn=(REWARD_CURVE,)),
    "fig5": Curves(
        kept=(LOCAL_QUEUE_CURVE, LOCAL_QUEUE_PER_CV_CURVE), drawn=(LOCAL_QUEUE_PER_CV_CURVE, LOCAL_QUEUE_CURVE)
    ),
    "fig7": Curves(kept=(COST_CURVE, Curve("system_cost"), REWARD_CURVE), drawn=(COST_CURVE,)),
}


def curves_of(experiment: str) -> Curves:
    """The training curves declared for ``experiment`` (none for one not listed in :data:`CURVES`)."""
    return CURVES.get(experiment, Curves())


@dataclass(frozen=True)
class Experiment:
    name: str
    cells: tuple[Cell, ...]

    def runs(self) -> list[RunSpec]:
        return [r for c in self.cells for r in c.runs]

    @property
    def curves(self) -> Curves:
        """The declared training curves (:func:`curves_of`)."""
        return curves_of(self.name)

    def curve_columns(self, series: str, header: Sequence[str]) -> list[str]:
        """The ``metrics.csv`` columns kept as curves for a run of ``series`` with ``header``."""
        return [c for curve in self.curves.kept for c in curve.columns(series, header)]
