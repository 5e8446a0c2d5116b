"""One figure of a mobility trace: the road network, the RSUs with their coverage and a few CV tracks.

A long thin network such as the paper's road is stretched across (y not to scale, coverage shown as bands);
others are drawn to scale.  Lanes are the trace's lane centre lines (recorded from the SUMO network with
sumolib); a trace without them falls back to every recorded position as a faint dot.  Each track is one CV
column over a window of slots, broken where a handover makes its position jump
(docs/model.md#agents-and-vehicles); a circle marks where a track starts, a cross each handover.  Matplotlib
with the Agg backend; no SUMO needed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from .trace import Trace

ELONGATED = 5.0  # a network this many times wider than high is drawn stretched, not to scale


def plot_trace(
    trace: Trace,
    out: str | Path,
    rsu_x_m: np.ndarray,
    rsu_y_m: np.ndarray,
    coverage_m: float,
    tracks: int = 5,
    window_slots: int = 120,
    start_row: int = 0,
) -> Path:
    """Draw ``trace`` with RSUs at ``(rsu_x_m, rsu_y_m)`` and ``tracks`` CV tracks from ``start_row``; save a PNG."""
    xmin, ymin, xmax, ymax = trace.boundary_m
    # a long thin network (the paper's road) is drawn stretched across; a city to scale
    elongated = (xmax - xmin) > ELONGATED * max(ymax - ymin, 1.0)
    fig, ax = plt.subplots(figsize=(11, 3.5) if elongated else (9, 7.2))
    shapes = [s for s in trace.lane_shapes() if len(s) >= 2]
    for shape in shapes:
        ax.plot(shape[:, 0], shape[:, 1], color="0.75", lw=0.8, zorder=1)
    if not shapes:
        ax.plot(trace.x_m[trace.valid], trace.y_m[trace.valid], ",", color="0.7", zorder=1)
    for x, y in zip(rsu_x_m, rsu_y_m, strict=True):
        ax.add_patch(plt.Circle((x, y), coverage_m, color="tab:blue", alpha=0.06, zorder=0))
    ax.plot(rsu_x_m, rsu_y_m, "^", color="tab:blue", ms=9, label=f"RSU (coverage {coverage_m:g} m)", zorder=4)
    rows = slice(start_row, min(start_row + window_slots, trace.num_slots))
    colours = plt.get_cmap("tab10")
    for col in range(min(tracks, trace.num_columns)):
        x, y = trace.x_m[rows, col].copy(), trace.y_m[rows, col].copy()
        jumps = np.flatnonzero(trace.handover[rows, col])
        jumps = jumps[jumps > 0]
        # break the line at each handover: NaN between the last position of a vehicle and the first of the next
        x, y = np.insert(x, jumps, np.nan), np.insert(y, jumps, np.nan)
        ax.plot(x, y, "-", color=colours(col % 10), lw=1.6, label=f"CV {col}", zorder=3)
        first = np.flatnonzero(np.isfinite(x))
        if first.size:
            ax.plot(x[first[0]], y[first[0]], "o", color=colours(col % 10), ms=6, zorder=5)
        after = jumps + np.arange(1, len(jumps) + 1)  # positions of the new vehicles in the NaN-broken arrays
        ax.plot(x[after], y[after], "x", color=colours(col % 10), ms=8, mew=2, zorder=5)
    margin = max(20.0, 0.05 * max(xmax - xmin, ymax - ymin))
    ax.set_xlim(min(xmin, *rsu_x_m) - margin, max(xmax, *rsu_x_m) + margin)
    if elongated:
        ax.set_ylim(min(ymin, *rsu_y_m) - 10.0, max(ymax, *rsu_y_m) + 10.0)
    else:
        ax.set_ylim(min(ymin, *rsu_y_m) - margin, max(ymax, *rsu_y_m) + margin)
        ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(
        f"{Path(trace.path).name}: {trace.num_columns} columns, slots {rows.start}-{rows.stop - 1} of "
        f"{trace.num_slots} ({trace.slot_s:g} s); o start, x handover",
        fontsize=9,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
