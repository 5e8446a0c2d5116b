"""Declarative experiment specs: what Section VII runs, as data.

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
those runs.  Experiments share runs freely (Table III, Fig. 4 and Fig. 5 use
the same five training runs per seed; Fig. 6 at 5 CVs and Fig. 7 at V = 5
reuse them too, and the evaluations of Table III and Fig. 4 are Fig. 6's at
5 CVs); the runner executes every distinct key once.

An experiment also declares its training curves (:data:`CURVES`, a
:class:`Curves` per experiment name): the :class:`Curve` s its results keep and
those its figure draws, one per panel.

A :class:`Scale` fixes the budget: ``full`` is the paper's (1800 episodes,
N = 2..6), ``quick`` a reduced smoke version, ``tiny`` a few-episode version
for tests.  :func:`build` returns the experiments of a name (or ``all``, the
paper's: :data:`EXPERIMENTS`).

``scale`` (not part of ``all``) goes beyond the paper: every learner trained and
evaluated next to ``greedy`` and ``ly-opt-dual`` on straight-road stand-ins of
growing size (:func:`standin_overrides`: the CVs, the road and the RSUs grow
together, so each CV has as much RSU CPU as in the city scenario) and on the
shipped test networks the project never tuned on (:data:`TEST_NETWORKS`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .. import plugins
from ..config import Config, load_config, scenario_overrides
from ..learners import REGISTRY as LEARNER_REGISTRY
from . import paper

LEARNERS = tuple(LEARNER_REGISTRY)
REFERENCES = ("ly-opt", "greedy", "local")  # the reference policies the figures compare with
COMPARED_WITH = ("ly-opt", "greedy")  # the references every learned policy is shown next to
SCALE_REFERENCES = ("greedy", "ly-opt-dual")  # at scale ly-opt takes minutes per slot: the decomposed optimiser
KINDS = ("train", "evaluate")
EXPERIMENTS = ("table3", "fig4", "fig5", "fig6", "fig7", "twin", "bandwidth")  # the paper's: ``all``
BEYOND = ("scale",)  # experiments run only by name
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
        """The curve rows of a loaded result (:func:`.results.load`) that belong to this curve."""
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


@dataclass(frozen=True)
class Scale:
    """Budget of a reproduction."""

    name: str
    episodes: int
    seeds: tuple[int, ...]
    eval_episodes: int
    num_cvs: tuple[int, ...] = paper.NUM_CVS
    v_values: tuple[float, ...] = tuple(paper.V_COST)
    twin_lags: tuple[int, ...] = (0, 1, 3, 5)
    twin_noises: tuple[float, ...] = (0.0, 0.1, 0.3)
    bandwidths_hz: tuple[float, ...] = (0.2e6, 0.5e6, 1e6, 2e6, 5e6, 20e6)
    bandwidth_eval_episodes: int = 5
    steady_window: int = paper.STEADY_WINDOW
    smooth_window: int = 20
    scale_cvs: tuple[int, ...] = (5, 20, 50, 100, 200)  # ``scale``: CVs of the stand-ins (5: Table II's road)
    scale_networks: tuple[str, ...] = TEST_NETWORKS
    scale_eval_episodes: int = 3
    scale_extra: tuple[str, ...] = ()  # overrides of every ``scale`` run (tiny: shorter episodes)
    algos: tuple[str, ...] = LEARNERS  # the learners of ``scale`` (``reproduce --algos``)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(self).items()}


DEFAULT_SEEDS = {"full": 5, "quick": 2, "tiny": 1}


def make_scale(name: str, seeds: int | None = None, algos: Sequence[str] | None = None) -> Scale:
    """The ``full``, ``quick`` or ``tiny`` budget with seeds 0 .. seeds-1 (default 5, 2, 1) and the learners
    ``algos`` in ``scale`` (default: all)."""
    if name not in DEFAULT_SEEDS:
        raise ValueError(f"unknown scale {name!r} (known: {', '.join(DEFAULT_SEEDS)})")
    seeds = DEFAULT_SEEDS[name] if seeds is None else seeds
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    unknown = [a for a in algos or () if not (a in LEARNERS or plugins.known("learner", a, True))]
    if unknown or (algos is not None and not algos):
        raise ValueError(
            f"--algos: unknown learner(s) {', '.join(unknown) or '(none given)'} (known: {', '.join(LEARNERS)})"
        )
    seed_ids = tuple(range(seeds))
    chosen = tuple(algos) if algos else LEARNERS
    return dataclasses.replace(_budget(name, seed_ids), algos=chosen)


def _budget(name: str, seed_ids: tuple[int, ...]) -> Scale:
    if name == "full":
        return Scale("full", episodes=paper.EPISODES, seeds=seed_ids, eval_episodes=10)
    if name == "quick":
        return Scale(
            "quick",
            episodes=200,
            seeds=seed_ids,
            eval_episodes=5,
            num_cvs=(3, 5),
            v_values=(5.0, 50.0, 100.0),
            twin_lags=(0, 3),
            twin_noises=(0.0, 0.3),
            bandwidths_hz=(0.5e6, 2e6, 20e6),
            bandwidth_eval_episodes=3,
            steady_window=30,
            smooth_window=10,
            scale_cvs=(5, 20),
            scale_networks=("highway",),
        )
    return Scale(
        "tiny",
        episodes=4,
        seeds=seed_ids,
        eval_episodes=1,
        num_cvs=(2, 3),
        v_values=(5.0, 50.0),
        twin_lags=(0, 2),
        twin_noises=(0.0, 0.2),
        bandwidths_hz=(1e6, 20e6),
        bandwidth_eval_episodes=1,
        steady_window=2,
        smooth_window=2,
        scale_cvs=(2, 20),
        scale_networks=("highway",),
        scale_eval_episodes=1,
        scale_extra=("episode_slots=3",),
    )


def _fmt(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def _train_cell(scale: Scale, algo: str, overrides: tuple[str, ...], series: str, x: float | None = None) -> Cell:
    runs = tuple(RunSpec("train", algo, tuple(sorted(overrides)), s, scale.episodes) for s in scale.seeds)
    return Cell(series, x, runs)


def _eval_cell(
    scale: Scale,
    algo: str,
    overrides: tuple[str, ...],
    series: str,
    x: float | None = None,
    learned: bool = False,
    episodes: int | None = None,
) -> Cell:
    overrides = tuple(sorted(overrides))
    runs = []
    for s in scale.seeds:
        source = RunSpec("train", algo, overrides, s, scale.episodes) if learned else None
        runs.append(RunSpec("evaluate", algo, overrides, s, episodes or scale.eval_episodes, source))
    return Cell(series, x, tuple(runs))


def convergence(scale: Scale, name: str = "table3") -> Experiment:
    """Table III, Fig. 4 and Fig. 5: the five learners trained on the default scenario (5 CVs, 3 RSUs).

    Table III and Fig. 4 (:data:`EVALUATED`) also evaluate each trained policy and the references ``ly-opt``
    and ``greedy`` on that scenario, ``eval_episodes`` per seed, so a learned policy is always seen next to
    them; the cells share their series name with the training cells (evaluation metrics are ``cost``,
    ``reward``, ..., training ones ``steady_*``, so they do not mix)."""
    cells = [_train_cell(scale, a, (), a) for a in LEARNERS]
    if name in EVALUATED:
        cells += [_eval_cell(scale, a, (), a, learned=True) for a in LEARNERS]
        cells += [_eval_cell(scale, p, (), p) for p in COMPARED_WITH]
    return Experiment(name, tuple(cells))


def fig6(scale: Scale) -> Experiment:
    """Cost, delay and energy versus the number of CVs at alpha = 0.6: learners and references."""
    cells = []
    for n in scale.num_cvs:
        ov = (f"num_cvs={n}", "lyapunov.alpha=0.6")
        cells += [_eval_cell(scale, a, ov, a, n, learned=True) for a in LEARNERS]
        cells += [_eval_cell(scale, p, ov, p, n) for p in REFERENCES]
    return Experiment("fig6", tuple(cells))


def fig7(scale: Scale) -> Experiment:
    """Ly-DTMPO cost over episodes and at convergence for each Lyapunov V."""
    return Experiment(
        "fig7",
        tuple(
            _train_cell(scale, "ly-dtmpo", (f"lyapunov.v_control={_fmt(v)}",), "ly-dtmpo", v) for v in scale.v_values
        ),
    )


def twin(scale: Scale) -> Experiment:
    """Ly-DTMPO under a lagged or noisy twin (one factor at a time), with Ly-MAPPO (no twin) as reference;
    both also on the shipped contention scenario (``scenarios/contention.yaml``), where RSU load matters."""
    cells = [_train_cell(scale, "ly-dtmpo", (f"twin.lag_slots={lag}",), "lag_slots", lag) for lag in scale.twin_lags]
    cells += [
        _train_cell(scale, "ly-dtmpo", (f"twin.noise_std={_fmt(sd)}",), "noise_std", sd) for sd in scale.twin_noises
    ]
    cells.append(_train_cell(scale, "ly-mappo", (), NO_TWIN))
    contention = tuple(scenario_overrides("contention"))
    cells += [
        _train_cell(scale, "ly-dtmpo", contention, "contention: ly-dtmpo"),
        _train_cell(scale, "ly-mappo", contention, f"contention: {NO_TWIN}"),
    ]
    return Experiment("twin", tuple(cells))


def bandwidth(scale: Scale) -> Experiment:
    """InstrT share and cost of ly-opt and greedy versus bandwidth, per-CV and per-RSU sharing."""
    cells = []
    for sharing in ("per_cv", "per_rsu"):
        for policy in ("ly-opt", "greedy"):
            for b in scale.bandwidths_hz:
                ov = (f"channel.bandwidth_hz={_fmt(b)}", f"channel.bandwidth_sharing={sharing}")
                cells.append(
                    _eval_cell(scale, policy, ov, f"{policy} {sharing}", b, episodes=scale.bandwidth_eval_episodes)
                )
    return Experiment("bandwidth", tuple(cells))


STANDIN_CVS_PER_RSU = 50 / 16  # the city scenario's
STANDIN_RSU_SPACING_M = 200.0
STANDIN_RSU_CPU_HZ = 37.5e9  # the city's: Table II's RSU CPU per CV


def standin_overrides(num_cvs: int) -> tuple[str, ...]:
    """A straight road standing in for a city of ``num_cvs`` CVs: up to 5 CVs Table II's road; above,
    ``K = round(num_cvs / 3.125)`` RSUs (the city's CVs per RSU) of 37.5 GHz, 200 m apart on a road of
    ``200 K`` m with the vehicles spread over all of it (the 50-CV stand-in is ``bench_scale.py``'s).  Above
    18 RSUs ``action.min_task_share`` falls from 0.05 to 0.01, which C4 needs below ``1 / (K + 1)``."""
    if num_cvs <= 5:
        return (f"num_cvs={num_cvs}",)
    k = max(3, round(num_cvs / STANDIN_CVS_PER_RSU))
    length_m = STANDIN_RSU_SPACING_M * k
    rsus = [STANDIN_RSU_SPACING_M / 2 + STANDIN_RSU_SPACING_M * i for i in range(k)]
    sets = [
        f"num_cvs={num_cvs}",
        f"road.length_m={_fmt(length_m)}",
        f"rsu.x_m={json.dumps(rsus)}",
        f"vehicle.initial_x_m=[0, {_fmt(length_m)}]",
        f"rsu.cpu_max_hz={STANDIN_RSU_CPU_HZ!r}",
    ]
    return tuple(sets + (["action.min_task_share=0.01"] if k > 18 else []))


def scale_study(scale: Scale) -> Experiment:
    """``scale``: each learner of ``scale.algos`` trained and evaluated, and ``greedy`` and ``ly-opt-dual``
    evaluated, on the stand-in of each CV count (series = the policy, x = the CVs) and on each test network
    (series ``NETWORK: policy``, x = its CVs); ``scale_eval_episodes`` evaluation episodes per seed."""
    cells = []
    places = [(n, standin_overrides(n), "") for n in scale.scale_cvs]
    for name in scale.scale_networks:
        sets = tuple(scenario_overrides(name))
        places.append((load_config(None, list(sets)).num_cvs, sets, f"{name}: "))
    for n, sets, prefix in places:
        ov = tuple(sets) + scale.scale_extra
        episodes = scale.scale_eval_episodes
        cells += [_train_cell(scale, a, ov, prefix + a, n) for a in scale.algos]
        cells += [_eval_cell(scale, a, ov, prefix + a, n, learned=True, episodes=episodes) for a in scale.algos]
        cells += [_eval_cell(scale, p, ov, prefix + p, n, episodes=episodes) for p in SCALE_REFERENCES]
    return Experiment("scale", tuple(cells))


def build(name: str, scale: Scale) -> list[Experiment]:
    """The experiments of ``name`` (one of :data:`EXPERIMENTS`, ``all`` for all of them, or ``scale``)."""
    builders = {
        "table3": lambda s: convergence(s, "table3"),
        "fig4": lambda s: convergence(s, "fig4"),
        "fig5": lambda s: convergence(s, "fig5"),
        "fig6": fig6,
        "fig7": fig7,
        "twin": twin,
        "bandwidth": bandwidth,
        "scale": scale_study,
    }
    if name == "all":
        return [builders[n](scale) for n in EXPERIMENTS]
    if name not in builders:
        raise ValueError(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS + BEYOND)}, all)")
    return [builders[name](scale)]


def unique_runs(experiments: list[Experiment]) -> list[RunSpec]:
    """Every distinct run (by key) the experiments need, sources included, in first-seen order."""
    seen: dict[str, RunSpec] = {}
    for exp in experiments:
        for run in exp.runs():
            for r in (run.source, run) if run.source else (run,):
                seen.setdefault(r.key, r)
    return list(seen.values())
