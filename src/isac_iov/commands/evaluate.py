"""``isac-iov evaluate``: run a policy for whole episodes and print its summary (:mod:`isac_iov.evaluate`).

``isac-iov evaluate --policy NAME [--config FILE] [--set k=v]... --episodes N --seed S --out FILE.json [--breakdown]
[--part-swap REF]``

``--breakdown`` prints where the deadline misses come from (:mod:`isac_iov.breakdown`: by RSUs used, by crowding,
by part of the episode, the RSUs and CVs that missed most, how work runs locally) and puts it in the JSON.
``--part-swap REF`` then plays the same episodes with the policy ``REF`` (e.g. ``ly-opt-dual``) in control and
scores, on each of its states, its action, the policy's and its own with one part of the policy's swapped in
(:mod:`isac_iov.partswap`): which part of the action carries the policy's gap to ``REF``.

``NAME`` is a reference policy, a trained run directory (its scenario is ``RUN_DIR/config.yaml`` unless
``--config FILE`` names another; ``--set`` applies on top), an installed plug-in or a module reference.  Episodes
are played ``--num-envs`` at a time, so the same seed and ``--num-envs`` give identical results.

Before any work, ``main`` checks every input: the counts and the seed, the config, the memory the run needs
and ``--out`` (its ``.tmp`` file is created first, and removed whatever happens).  The JSON never holds ``NaN``
or ``Infinity``: a non-finite number is an error naming its field.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..breakdown import format_breakdown
from ..config import Config
from ..env.core import check_memory
from ..evaluate import (
    DEFAULT_NUM_ENVS,
    check_counts,
    envs_at_once,
    evaluate_policy,
    format_summary,
    memory_bytes,
    resolve_config,
    to_json,
)
from ..partswap import format_part_swap, part_swap
from ..policies import REGISTRY, Policy, make_policy
from ..rundir import write_atomic
from .options import add_config_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        required=True,
        help=f"{' | '.join(REGISTRY)} | RUN_DIR | an installed plug-in | package.module:make_policy",
    )
    p.add_argument(
        "--algo",
        default=None,
        metavar="package.module:Learner",
        help="the learner of a RUN_DIR trained with a module reference (isac-iov never imports one named in a file)",
    )
    add_config_arguments(p)
    p.add_argument("--episodes", type=int, default=20, help="episodes to play (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the episodes and of the policy (default 0)")
    p.add_argument(
        "--num-envs",
        type=int,
        default=None,
        help=f"episodes played at once (default min(episodes, {DEFAULT_NUM_ENVS}))",
    )
    p.add_argument("--out", default=None, help="write summary, per-slot records and timing to this JSON file")
    p.add_argument("--no-slots", action="store_true", help="leave the per-slot records out of the JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--breakdown", action="store_true", help="print where the deadline misses come from (and add it to --out)"
    )
    p.add_argument(
        "--part-swap",
        default=None,
        metavar="REF",
        help="on the states of reference policy REF, score REF's action with each part swapped for the policy's",
    )


def open_out(out: Path) -> Path:
    """Check that ``out`` can be written before any work: create its parent and the empty ``out.tmp``."""
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r}: is a directory, expected a file name")
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("")
    except OSError as exc:
        raise ValueError(f"--out {str(out)!r}: cannot write there: {exc.strerror or exc}") from None
    return tmp


def _reference(name: str, cfg: Config, seed: int, episodes: int, num_envs: int | None) -> Policy:
    """The ``--part-swap`` reference policy, refused (naming the option) when unknown or too large for memory."""
    try:
        reference = make_policy(name, cfg, seed)
    except ValueError as exc:
        raise ValueError(f"--part-swap: {exc}") from None
    batch = envs_at_once(episodes, num_envs)
    check_memory(
        memory_bytes(reference, cfg, episodes, batch, False),
        f"--part-swap {name}: playing {episodes} episode(s) of num_cvs={cfg.num_cvs} CVs, {batch} env(s) at a time",
        "lower num_cvs, --episodes or --num-envs",
    )
    return reference


def main(args: argparse.Namespace) -> int:
    if not args.policy.strip():
        raise ValueError(f"--policy: empty; expected one of {', '.join(REGISTRY)} or a run directory")
    check_counts(args.episodes, args.seed, args.num_envs)
    if args.algo is not None and not Path(args.policy).is_dir():
        raise ValueError(f"--algo: names the learner of a run directory; --policy {args.policy} is not one")
    cfg = resolve_config(args.policy, args.config, args.overrides)
    policy = make_policy(args.policy, cfg, args.seed, args.algo)
    reference = None
    if args.part_swap is not None:
        reference = _reference(args.part_swap, cfg, args.seed, args.episodes, args.num_envs)
    out = Path(args.out) if args.out is not None else None
    tmp = open_out(out) if out is not None else None
    try:
        result = evaluate_policy(
            policy,
            cfg,
            args.episodes,
            args.seed,
            args.num_envs,
            record_slots=not args.no_slots,
            progress=not args.quiet,
            breakdown=args.breakdown,
        )
        print(format_summary(result["summary"]))
        if args.breakdown:
            print(format_breakdown(result["breakdown"]))
        if reference is not None:
            batch = envs_at_once(args.episodes, args.num_envs)
            rows = part_swap(policy, reference, cfg, args.episodes, args.seed, batch, not args.quiet)
            result["part_swap"] = {"reference": args.part_swap, "rows": rows}
            print(format_part_swap(rows, args.part_swap))
        timing = result["timing"]
        print(
            f"decision time per env-slot: {timing['act_s_per_env_slot'] * 1e3:.2f} ms   wall: {timing['wall_s']:.1f} s"
        )
        if out is not None:
            write_atomic(out, to_json(result))
            print(f"wrote {out}")
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return 0
