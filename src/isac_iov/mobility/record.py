"""Record a mobility trace with Eclipse SUMO through libsumo (docs/model.md#mobility).

Needs the ``sumo`` extra (``pip install -e '.[sumo]'``: ``eclipse-sumo``, ``libsumo``, ``sumolib``), imported
only here and only when a trace is recorded.  Three networks and three demands:

* **the paper's road** (no network given): ``netgenerate`` builds the straight road of Sec. VII-A (700 m, two
  lanes per direction, 3.75 m wide) and :func:`paper_road_demand` puts ``vehicles`` CVs on it drawn as the
  built-in mobility draws them (lane, position, speed), each driving at its constant speed without changing
  lanes.  A CV that would pass the road's end is replaced by a vehicle entering at the other end, on its lane,
  at its speed and by the distance it overshot, in the same slot and the same column: the built-in
  wrap-around, played by SUMO (``tests/test_mobility.py`` checks the two agree within 1e-6 m);
* **a grid city** (``grid=(nx, ny)``): ``netgenerate`` builds ``nx`` x ``ny`` junctions ``block_m`` apart,
  two lanes per direction, traffic lights at every junction;
* **any SUMO network** (``net``).

On a grid or a network, either a route file is played as it is, or ``vehicles`` vehicles on random trips are
kept in the network: each trip goes between two random edges by SUMO's fastest route and departs at a random
free position of its first edge; when a vehicle turns onto the last edge of its route, a new trip is added,
so that the number of vehicles not on their last edge stays ``vehicles`` and every leaving vehicle has a
successor already driving.

Columns (docs/model.md#agents-and-vehicles): after every slot the vehicles that left free their columns, the
vehicles that entered take the lowest free columns (a paper-road successor takes its predecessor's), and
while a free column lies below an occupied one, the vehicle in the highest column moves down into it.  So
the columns ``0..n-1`` are occupied whenever ``n`` vehicles are in the network.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..config import Config, ConfigError
from .trace import Trace, save

EXTRA_HINT = "install the sumo extra: pip install -e '.[sumo]' (eclipse-sumo, libsumo, sumolib)"
ROAD_SPEED_LIMIT_MPS = 50.0  # far above Table II's 16 m/s, so the paper road's limit never binds
CITY_LANES = 2  # lanes per direction of a grid city
ROUTE_TRIES = 100  # random (from, to) edge pairs tried for one connected trip


class SumoMissing(ConfigError):
    """The ``sumo`` extra is not installed."""


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise SumoMissing(f"recording a trace needs SUMO ({name} is missing): {EXTRA_HINT}") from None


def _tool(name: str) -> str:
    """The path of SUMO's command-line tool ``name`` (from the eclipse-sumo package, else the PATH)."""
    sumo = _import("sumo")
    path = Path(sumo.SUMO_HOME) / "bin" / name
    found = str(path) if path.is_file() else shutil.which(name)
    if found is None:
        raise SumoMissing(f"SUMO's {name} was not found: {EXTRA_HINT}")
    return found


def _run_tool(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ValueError(f"{Path(args[0]).name} failed: {' '.join((done.stderr or done.stdout).split())[:500]}")


def paper_road_net(out: Path, cfg: Config) -> Path:
    """``netgenerate`` the straight road of ``cfg.road`` (two directions, ``num_lanes / 2`` lanes each)."""
    road = cfg.road
    if road.num_lanes % 2:
        raise ConfigError(f"road.num_lanes: the SUMO road has two directions, so an even number, got {road.num_lanes}")
    _run_tool(
        [
            _tool("netgenerate"),
            "--grid",
            "--grid.x-number=2",
            "--grid.y-number=1",
            f"--grid.x-length={road.length_m!r}",
            f"--default.lanenumber={road.num_lanes // 2}",
            f"--default.lanewidth={road.lane_width_m!r}",
            f"--default.speed={ROAD_SPEED_LIMIT_MPS!r}",
            "--precision=6",
            f"--output-file={out}",
        ]
    )
    return out


def grid_net(out: Path, nx: int, ny: int, block_m: float) -> Path:
    """``netgenerate`` a grid city: ``nx`` x ``ny`` junctions ``block_m`` apart, traffic lights everywhere."""
    if nx < 2 or ny < 2 or not block_m > 0:
        raise ConfigError(f"--grid: at least 2x2 junctions and --block-m > 0, got {nx}x{ny}, {block_m!r} m")
    _run_tool(
        [
            _tool("netgenerate"),
            "--grid",
            f"--grid.x-number={nx}",
            f"--grid.y-number={ny}",
            f"--grid.length={block_m!r}",
            f"--default.lanenumber={CITY_LANES}",
            "--default-junction-type=traffic_light",
            "--precision=6",
            f"--output-file={out}",
        ]
    )
    return out


@dataclass(frozen=True)
class RoadVehicle:
    """A CV on the paper road: ``lane`` as the built-in mobility numbers it, ``x_m`` along the road."""

    lane: int
    x_m: float
    speed_mps: float


def road_vehicles(cfg: Config, x_m: np.ndarray, y_m: np.ndarray, velocity_x_mps: np.ndarray) -> list[RoadVehicle]:
    """The CVs of one env of the built-in mobility (``Physical`` arrays ``(I,)``) as paper-road vehicles."""
    lane = np.rint(y_m / cfg.road.lane_width_m + (cfg.road.num_lanes - 1) / 2.0).astype(int)
    return [RoadVehicle(int(k), float(x), float(abs(v))) for k, x, v in zip(lane, x_m, velocity_x_mps, strict=True)]


def paper_road_demand(cfg: Config, rng: np.random.Generator, vehicles: int) -> list[RoadVehicle]:
    """``vehicles`` CVs drawn as the built-in mobility draws them (:meth:`isac_iov.scenario.Scenario.draw_vehicles`)."""
    from ..scenario import Scenario

    drawn = Scenario(dataclasses.replace(cfg, num_cvs=vehicles)).draw_vehicles(rng, 1)
    return road_vehicles(cfg, drawn["x_m"][0], drawn["y_m"][0], drawn["velocity_x_mps"][0])


class _Columns:
    """The column of every vehicle in the network (module docstring: Columns)."""

    def __init__(self) -> None:
        self.of: dict[str, int] = {}
        self.reserved: dict[str, int] = {}  # a successor's column, taken when it enters

    def update(self, present: Sequence[str]) -> None:
        here = set(present)
        for vid in [v for v in self.of if v not in here]:
            del self.of[vid]
        taken = set(self.of.values())
        for vid in present:
            if vid not in self.of and vid in self.reserved:
                self.of[vid] = self.reserved.pop(vid)
                taken.add(self.of[vid])
        for vid in present:
            if vid not in self.of:
                col = next(c for c in range(len(taken) + 1) if c not in taken)
                self.of[vid] = col
                taken.add(col)
        while taken and (free := next(c for c in range(len(taken) + 1) if c not in taken)) < max(taken):
            top = max(taken)
            mover = next(v for v, c in self.of.items() if c == top)
            self.of[mover] = free
            taken.discard(top)
            taken.add(free)


def _net_arrays(sumolib: ModuleType, net_path: Path) -> tuple[dict[str, np.ndarray], dict[str, int], Any]:
    """Lanes (ids and centre lines), junctions and bounding box of a network, read with sumolib."""
    net = sumolib.net.readNet(str(net_path), withInternal=True)
    lanes = [lane for edge in net.getEdges(withInternal=True) for lane in edge.getLanes()]
    shapes = [np.asarray(lane.getShape(), dtype=float).reshape(-1, 2) for lane in lanes]
    junctions = [n.getCoord()[:2] for n in net.getNodes() if n.getType() not in ("dead_end", "internal")]
    xmin, ymin, xmax, ymax = net.getBoundary()
    arrays = {
        "lane_names": np.array([lane.getID() for lane in lanes], dtype=str),
        "lane_shape_xy": np.concatenate(shapes) if shapes else np.zeros((0, 2)),
        "lane_shape_start": np.concatenate([[0], np.cumsum([len(s) for s in shapes])]).astype(np.int64),
        "junction_x_m": np.array([j[0] for j in junctions], dtype=float),
        "junction_y_m": np.array([j[1] for j in junctions], dtype=float),
        "boundary_m": np.array([xmin, ymin, xmax, ymax], dtype=float),
    }
    return arrays, {lane.getID(): i for i, lane in enumerate(lanes)}, net


def record(
    out: str | Path,
    slots: int,
    cfg: Config | None = None,
    net: str | Path | None = None,
    grid: tuple[int, int] | None = None,
    block_m: float = 200.0,
    routes: str | Path | None = None,
    vehicles: int | None = None,
    warmup_slots: int = 0,
    seed: int = 0,
    road_vehicles: list[RoadVehicle] | None = None,
    generator: str = "isac_iov.mobility.record",
) -> Trace:
    """Run SUMO for ``warmup_slots + slots`` slots of ``cfg.slot_s`` and save the last ``slots`` as a trace.

    With neither ``net`` nor ``grid``: the paper's road of ``cfg.road`` with ``vehicles`` CVs drawn by ``seed``
    (default ``cfg.num_cvs``), or exactly ``road_vehicles``.  The generated network is kept next to ``out``
    (``NAME.net.xml``).
    """
    cfg = cfg or Config()
    if slots < 1 or warmup_slots < 0:
        raise ConfigError(f"--slots must be >= 1 and --warmup-slots >= 0, got {slots}, {warmup_slots}")
    if net is not None and grid is not None:
        raise ConfigError("give either --net or --grid, not both")
    if routes is not None and vehicles is not None:
        raise ConfigError("give either --routes or --vehicles, not both")
    if vehicles is not None and vehicles < 1:
        raise ConfigError(f"--vehicles must be >= 1, got {vehicles}")
    out = Path(out)
    if out.suffix != ".npz":
        raise ConfigError(f"--out: a trace file ends in .npz, got {str(out)!r}")
    sumolib = _import("sumolib")
    libsumo = _import("libsumo")
    road = net is None and grid is None
    net_path = Path(net) if net is not None else out.with_name(out.stem + ".net.xml")
    if road:
        paper_road_net(net_path, cfg)
    elif grid is not None:
        grid_net(net_path, grid[0], grid[1], block_m)
    elif not net_path.is_file():
        raise ConfigError(f"--net: {str(net_path)!r} is not a file")
    if routes is not None and not Path(routes).is_file():
        raise ConfigError(f"--routes: {str(routes)!r} is not a file")
    static, lane_index, sumo_net = _net_arrays(sumolib, net_path)
    if road:  # the road's two ends are no places for RSUs: the config's rsu.x_m place them
        static["junction_x_m"], static["junction_y_m"] = np.zeros(0), np.zeros(0)
    rng = np.random.default_rng(seed)
    if road:
        road_vehicles = road_vehicles or paper_road_demand(cfg, rng, vehicles or cfg.num_cvs)
    args = [
        "sumo",
        f"--net-file={net_path}",
        f"--step-length={cfg.slot_s!r}",
        f"--seed={seed % 2**31}",
        "--no-step-log",
        "--no-warnings",
        "--duration-log.disable",
    ]
    if routes is not None:
        args.append(f"--route-files={routes}")
    if road:  # points on a line, as in the built-in mobility: no insertion gaps, no collisions
        args += ["--insertion-checks=none", "--collision.action=none"]
    with tempfile.TemporaryDirectory() as tmp:
        args.append(f"--output-prefix={tmp}{os.sep}")
        libsumo.start(args)
        try:
            demand = (
                _RoadDemand(libsumo, cfg, road_vehicles or [])
                if road
                else None
                if routes is not None
                else _TripDemand(libsumo, sumo_net, rng, vehicles or cfg.num_cvs)
            )
            rows = _simulate(libsumo, demand, warmup_slots + slots, lane_index)[warmup_slots:]
        finally:
            libsumo.close()
        version = str(libsumo.getVersion()[1]) if hasattr(libsumo, "getVersion") else "unknown"
    arrays = _grid_arrays(rows)
    arrays.update(static)
    arrays["slot_s"] = np.array(float(cfg.slot_s))
    arrays["net_file"] = np.array(str(net_path) if net is not None else net_path.name)  # generated: next to out
    arrays["generator"] = np.array(generator)
    arrays["sumo_version"] = np.array(version)
    return save(out, arrays)


Row = dict[int, tuple[int, float, float, float, float, int]]  # column -> vehicle, x, y, speed, heading, lane


def _simulate(libsumo: ModuleType, demand: Any, total: int, lane_index: dict[str, int]) -> list[Row]:
    columns, ids, rows = _Columns(), dict[str, int](), []
    for _ in range(total):
        if demand is not None:
            demand.before_step(columns)
        libsumo.simulationStep()
        present = list(libsumo.vehicle.getIDList())
        columns.update(present)
        row: Row = {}
        for vid in present:
            x, y = libsumo.vehicle.getPosition(vid)
            heading = np.deg2rad(90.0 - libsumo.vehicle.getAngle(vid))
            heading = float(np.arctan2(np.sin(heading), np.cos(heading)))
            lane = lane_index.get(libsumo.vehicle.getLaneID(vid), -1)
            row[columns.of[vid]] = (ids.setdefault(vid, len(ids)), x, y, libsumo.vehicle.getSpeed(vid), heading, lane)
        rows.append(row)
    return rows


def _grid_arrays(rows: list[Row]) -> dict[str, np.ndarray]:
    """The recorded rows as ``(S, C)`` arrays, ``NaN`` / ``-1`` in empty columns."""
    s, c = len(rows), max((max(r) + 1 for r in rows if r), default=1)
    out = {name: np.full((s, c), np.nan) for name in ("x_m", "y_m", "speed_mps", "heading_rad")}
    out["vehicle"] = np.full((s, c), -1, dtype=np.int64)
    out["lane"] = np.full((s, c), -1, dtype=np.int64)
    for t, row in enumerate(rows):
        for col, (vid, x, y, speed, heading, lane) in row.items():
            out["vehicle"][t, col], out["lane"][t, col] = vid, lane
            out["x_m"][t, col], out["y_m"][t, col] = x, y
            out["speed_mps"][t, col], out["heading_rad"][t, col] = speed, heading
    return out


class _RoadDemand:
    """The paper road's CVs: constant speed and lane, replaced at the road's end (module docstring)."""

    def __init__(self, libsumo: ModuleType, cfg: Config, cvs: list[RoadVehicle]):
        self.ts, self.length_m, self.slot_s = libsumo, cfg.road.length_m, cfg.slot_s
        self.half = cfg.road.num_lanes // 2
        self.count = 0
        # Each route turns around at the far end (a connection netgenerate makes), so SUMO never ends a trip on
        # the road: it would end one 0.1 m (POSITION_EPS) short of the end, where the built-in CV drives on.
        # The recorder removes every CV before it reaches the end.
        self.ts.route.add("east", ["A0B0", "B0A0"])
        self.ts.route.add("west", ["B0A0", "A0B0"])
        self.speed: dict[str, float] = {}
        self.route: dict[str, tuple[str, int]] = {}
        self.pending: list[tuple[RoadVehicle, str | None]] = [(cv, None) for cv in cvs]

    def _add(self, lane: int, pos_m: float, speed_mps: float) -> str:
        """Add a CV on built-in lane ``lane`` at ``pos_m`` along its direction of travel."""
        vid = f"cv{self.count}"
        self.count += 1
        east = lane < self.half
        # SUMO numbers each direction's lanes from the right: east lane 0 is the southern one (built-in lane 0),
        # west lane 0 the northern one (built-in lane num_lanes - 1)
        route, sumo_lane = ("east", lane) if east else ("west", 2 * self.half - 1 - lane)
        self.ts.vehicle.add(
            vid, route, depart="now", departLane=str(sumo_lane), departPos=repr(pos_m), departSpeed=repr(speed_mps)
        )
        self.ts.vehicle.setSpeedMode(vid, 0)
        self.ts.vehicle.setLaneChangeMode(vid, 0)
        self.ts.vehicle.setMaxSpeed(vid, max(speed_mps, 1e-3))
        self.ts.vehicle.setSpeed(vid, speed_mps)
        self.speed[vid] = speed_mps
        self.route[vid] = (route, lane)
        return vid

    def before_step(self, columns: _Columns) -> None:
        for cv, _ in self.pending:
            east = cv.lane < self.half
            self._add(cv.lane, cv.x_m if east else self.length_m - cv.x_m, cv.speed_mps)
        self.pending = []
        for vid in list(columns.of):
            step = self.speed[vid] * self.slot_s
            pos = self.ts.vehicle.getLanePosition(vid)
            if pos + step >= self.length_m:
                _, lane = self.route[vid]
                successor = self._add(lane, pos + step - self.length_m, self.speed[vid])
                columns.reserved[successor] = columns.of[vid]
                self.ts.vehicle.remove(vid)


class _TripDemand:
    """``vehicles`` vehicles on random trips, each succeeded when it reaches its last edge (module docstring)."""

    def __init__(self, libsumo: ModuleType, net: Any, rng: np.random.Generator, vehicles: int):
        self.ts, self.rng, self.target = libsumo, rng, vehicles
        self.edges = [e.getID() for e in net.getEdges(withInternal=False) if e.allows("passenger")]
        if len(self.edges) < 2:
            raise ConfigError("--net: the network has fewer than two edges that passenger cars may use")
        self.count = 0

    def _add(self) -> None:
        for _ in range(ROUTE_TRIES):
            a, b = self.rng.choice(len(self.edges), size=2, replace=False)
            route = self.ts.simulation.findRoute(self.edges[a], self.edges[b]).edges
            if len(route) >= 2:
                break
        else:
            raise ConfigError(f"--net: no connected trip found in {ROUTE_TRIES} random edge pairs")
        vid = f"v{self.count}"
        self.count += 1
        self.ts.route.add(f"r_{vid}", list(route))
        self.ts.vehicle.add(
            vid, f"r_{vid}", depart="now", departLane="best", departPos="random_free", departSpeed="max"
        )

    def before_step(self, columns: _Columns) -> None:
        driving = len(self.ts.simulation.getPendingVehicles())
        for vid in self.ts.vehicle.getIDList():
            driving += self.ts.vehicle.getRouteIndex(vid) < len(self.ts.vehicle.getRoute(vid)) - 1
        for _ in range(self.target - driving):
            self._add()
