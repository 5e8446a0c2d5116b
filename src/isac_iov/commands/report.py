"""``isac-iov report DIR [--readme README]``: redraw the report of a reproduction from its saved results.

Writes ``DIR/scale.md`` (:func:`isac_iov.experiments.scale_report.write_scale_report`) when ``DIR`` holds
the scale study's result, and ``DIR/report.md`` and ``DIR/figures/``
(:func:`isac_iov.experiments.report.write_report`) unless it holds nothing but that.  With
``--readme``, also rewrites that README's Table III block (:func:`isac_iov.experiments.report.update_readme`);
a README without the block is refused before any work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiments.report import readme_parts, update_readme, write_report
from ..experiments.results import RESULTS, load
from ..experiments.scale_report import write_scale_report
from ..experiments.specs import EXPERIMENTS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path, help="output directory of `isac-iov reproduce`")
    p.add_argument(
        "--readme", type=Path, default=None, help="also rewrite this README's Table III block from DIR's results"
    )


def main(args: argparse.Namespace) -> int:
    if args.readme is not None:
        readme_parts(args.readme.read_text(), args.readme)  # a README without the block fails before any work
    scale = write_scale_report(args.dir)
    if scale is not None:
        print(f"scale report written to {scale}")
    if scale is None or any(load(args.dir, name) is not None for name in EXPERIMENTS):
        print(f"report written to {write_report(args.dir)}")
    if args.readme is not None:
        update_readme(args.dir, args.readme)
        print(f"Table III of {args.readme} rewritten from {args.dir / RESULTS}")
    return 0
