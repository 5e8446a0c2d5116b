"""``isac-iov mobility {record,plot}``: record a SUMO mobility trace, or draw one (docs/model.md#mobility).

``record`` runs SUMO through libsumo (the ``sumo`` extra; without it: one line saying to install it) on the
paper's road (no ``--net``/``--grid``), a ``netgenerate`` grid city (``--grid 4x4 --block-m 200``) or any
network (``--net``), with a route file (``--routes``) or ``--vehicles N`` on random trips, and saves
``--slots`` slots after ``--warmup-slots`` as a trace.  It prints the trace's size and the junction positions
as the ``rsu`` lines of a scenario file.  ``--config``/``--set`` give the slot length and, for the paper's
road, the road and the built-in draws.

``plot`` draws a trace (a ``PATH.npz`` or a shipped name) with the RSUs and coverage of ``--config``/``--set``
(by default: an RSU at every junction of the trace) and a few CV tracks.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from ..config import Config, ConfigError, load_config, resolve_trace
from ..mobility.trace import load
from .options import add_config_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    rec = sub.add_parser("record", help="run SUMO and save per-slot vehicle positions as a trace")
    net = rec.add_mutually_exclusive_group()
    net.add_argument("--net", default=None, help="a SUMO network (.net.xml); default: the paper's road")
    net.add_argument("--grid", default=None, metavar="NXxNY", help="netgenerate a grid city of NX x NY junctions")
    rec.add_argument("--block-m", type=float, default=200.0, help="grid block length in m (default 200)")
    demand = rec.add_mutually_exclusive_group()
    demand.add_argument("--routes", default=None, help="a SUMO route file (.rou.xml), played as it is")
    demand.add_argument(
        "--vehicles", type=int, default=None, help="vehicles kept on random trips (default: the config's num_cvs)"
    )
    rec.add_argument("--slots", type=int, required=True, help="slots to record")
    rec.add_argument("--warmup-slots", type=int, default=0, help="slots simulated before recording (default 0)")
    rec.add_argument("--seed", type=int, default=0, help="seed of SUMO and of the random trips (default 0)")
    rec.add_argument("--out", required=True, help="the trace file to write (.npz)")
    add_config_arguments(rec)
    plot = sub.add_parser("plot", help="draw a trace: network, RSUs with coverage, a few CV tracks (PNG)")
    plot.add_argument("trace", help="a trace file (.npz) or a shipped trace's name (e.g. city)")
    plot.add_argument("--out", required=True, help="the PNG to write")
    plot.add_argument("--tracks", type=int, default=5, help="CV tracks to draw (default 5)")
    plot.add_argument("--window-slots", type=int, default=120, help="slots of each track (default 120)")
    plot.add_argument("--start-slot", type=int, default=0, help="first slot drawn (default 0)")
    add_config_arguments(plot)


def _grid(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if match is None:
        raise ConfigError(f"--grid: expected NXxNY such as 4x4, got {text!r}")
    return int(match[1]), int(match[2])


def rsu_lines(x_m: np.ndarray, y_m: np.ndarray) -> str:
    """The ``rsu.x_m`` / ``rsu.y_m`` lines of a scenario file placing an RSU at each of the given points."""
    xs, ys = (json.dumps([round(float(v), 3) for v in a]) for a in (x_m, y_m))
    return f"rsu:\n  x_m: {xs}\n  y_m: {ys}"


def _record(args: argparse.Namespace, cfg: Config) -> int:
    from ..mobility.record import record

    command = "isac-iov mobility record " + " ".join(
        f"{k} {v}"
        for k, v in (
            ("--net", args.net),
            ("--grid", args.grid),
            ("--block-m", args.block_m if args.grid else None),
            ("--routes", args.routes),
            ("--vehicles", args.vehicles),
            ("--slots", args.slots),
            ("--warmup-slots", args.warmup_slots),
            ("--seed", args.seed),
        )
        if v is not None
    )
    trace = record(
        args.out,
        args.slots,
        cfg,
        net=args.net,
        grid=_grid(args.grid) if args.grid else None,
        block_m=args.block_m,
        routes=args.routes,
        vehicles=args.vehicles,
        warmup_slots=args.warmup_slots,
        seed=args.seed,
        generator=command,
    )
    occupied = trace.valid.sum(axis=1)
    handovers = int((trace.handover[1:] & trace.valid[1:] & trace.valid[:-1]).sum())  # vehicle to vehicle
    print(
        f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB): {trace.num_slots} slots of "
        f"{trace.slot_s:g} s, {trace.num_columns} columns, {occupied.min()}-{occupied.max()} vehicles per slot, "
        f"{handovers} handovers; network {trace.net_file}"
    )
    if trace.junction_x_m.size:
        print(
            f"{trace.junction_x_m.size} junctions; an RSU at each:\n{rsu_lines(trace.junction_x_m, trace.junction_y_m)}"
        )
    return 0


def _plot(args: argparse.Namespace) -> int:
    from ..mobility.plot import plot_trace

    trace = load(resolve_trace(args.trace, "trace"))
    cfg = load_config(args.config, args.overrides)
    if args.config is None and not args.overrides and trace.junction_x_m.size:
        rsu_x, rsu_y = trace.junction_x_m, trace.junction_y_m
    else:
        from ..scenario import Scenario

        scn = Scenario(cfg)
        rsu_x, rsu_y = scn.rsu_x_m, scn.rsu_y_m
    for name in ("tracks", "window_slots"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 <= args.start_slot < trace.num_slots:
        raise ConfigError(f"--start-slot must be in [0, {trace.num_slots - 1}], got {args.start_slot}")
    out = plot_trace(trace, args.out, rsu_x, rsu_y, cfg.rsu.coverage_m, args.tracks, args.window_slots, args.start_slot)
    print(f"wrote {out}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.action == "record":
        return _record(args, load_config(args.config, args.overrides))
    return _plot(args)
