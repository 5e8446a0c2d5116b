"""Many runs in one process: R Ly-DTMPO updates with stacked weights against R updates one after another.

A PPO run of the paper's scenario spends most of its time in small-network forward and backward passes, whose
cost is per call, not per multiply-add.  Stacking R runs' weights along a leading "run" axis
(``torch.func.stack_module_state``) and taking every run's loss and gradient in one ``vmap``-ed call turns R
small products into one batched one at the same per-call overhead.  This benchmark measures that on Ly-DTMPO's
minibatch update, the bulk of a run, with the learner's own networks and loss:

* **one after another**: R learners (seeds 0 .. R-1), each doing ``learner._update`` on its own minibatch;
* **stacked**: the same R actors and critics stacked, one ``vmap(grad)`` over the runs for the clipped surrogate
  and value losses, each run's gradient clipped by its own norm (``max_grad_norm``), one Adam over the stacked
  weights (Adam is elementwise, so each run keeps its own moments: the same update as R separate Adams).

It checks first that one stacked step moves every run's weights as its own ``_update`` does (to float
tolerance: batched products sum in another order), then times ``--steps`` minibatch updates each way,
interleaved over ``--rounds``, and prints the speed-up.  It measures the update only: training R runs in one
process (collection, statistics, checkpoints per run) is not built yet, so the issue's end-to-end targets
(5 seeds >= 3x, off-policy >= 2x) are printed as not measured.

    python benchmarks/bench_batched.py [--runs 5] [--steps 40] [--rounds 3]
"""

from __future__ import annotations

import copy
import time

import torch
from torch.func import functional_call, grad, stack_module_state, vmap
from torch.utils.flop_counter import FlopCounterMode

from harness import parse, parser, summary, target  # this script's folder is on sys.path when it runs
from isac_iov.config import load_config
from isac_iov.learners import REGISTRY
from isac_iov.learners.common import EnvSpec, make_algo_config
from isac_iov.learners.networks import AgentMLP, gaussian_entropy, gaussian_log_prob


def learners(runs: int) -> list:
    """R Ly-DTMPO learners of the default scenario, seeds 0 .. R-1 (their initial weights differ)."""
    spec, algo = EnvSpec.from_config(load_config()), REGISTRY["ly-dtmpo"]
    out = []
    for seed in range(runs):
        torch.manual_seed(seed)
        out.append(algo.learner(spec, make_algo_config(algo.config, {})))
    return out


def minibatches(learner, runs: int, steps: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``steps`` minibatches per run, shaped as ``MAPPO.end_iteration`` makes them (whole slots, all CVs)."""
    spec, cfg = learner.spec, learner.cfg
    rows = max(1, cfg.batch_size // spec.num_cvs)
    g = torch.Generator().manual_seed(seed)

    def one() -> dict[str, torch.Tensor]:
        return {
            "obs": torch.randn(rows, spec.num_cvs, spec.obs_dim, generator=g),
            "states": torch.randn(rows, spec.num_cvs, learner.critic_dim, generator=g),
            "u": torch.randn(rows, spec.num_cvs, spec.action_dim, generator=g),
            "logp": -torch.rand(rows, spec.num_cvs, generator=g) * 20,
            "adv": torch.randn(rows, spec.num_cvs, generator=g),
            "target": torch.randn(rows, spec.num_cvs, generator=g),
        }

    return [[one() for _ in range(runs)] for _ in range(steps)]


class Stacked:
    """R learners' actors and critics stacked along a run axis, updated by one vmap-ed gradient per minibatch."""

    def __init__(self, runs: list):
        first = runs[0]
        self.cfg = first.cfg
        self.actor_base = copy.deepcopy(first.actor).to("meta")
        self.critic_base = copy.deepcopy(first.critic).to("meta")
        self.actor_p, self.actor_b = stack_module_state([r.actor for r in runs])
        self.critic_p, self.critic_b = stack_module_state([r.critic for r in runs])
        for p in (*self.actor_p.values(), *self.critic_p.values()):
            p.requires_grad_(False)
        cfg = self.cfg
        actor_main = [p for n, p in self.actor_p.items() if n != "log_std"]
        self.actor_opt = torch.optim.Adam(
            [{"params": actor_main}, {"params": [self.actor_p["log_std"]], "lr": cfg.log_std_lr}], lr=cfg.lr, eps=1e-5
        )
        self.critic_opt = torch.optim.Adam(list(self.critic_p.values()), lr=cfg.lr, eps=1e-5)
        self.grad = vmap(grad(self._losses, argnums=(0, 1)))

    def _losses(self, actor_p, critic_p, actor_b, critic_b, b):
        cfg = self.cfg
        mean, log_std = functional_call(self.actor_base, (actor_p, actor_b), (b["obs"],))
        log_ratio = gaussian_log_prob(b["u"], mean, log_std) - b["logp"]
        ratio = log_ratio.exp()
        surrogate = torch.min(ratio * b["adv"], ratio.clamp(1 - cfg.clip_eps, 1 + cfg.clip_eps) * b["adv"])
        policy = -surrogate.mean() - cfg.entropy_coef * gaussian_entropy(log_std).mean()
        value = functional_call(self.critic_base, (critic_p, critic_b), (b["states"],)).squeeze(-1) - b["target"]
        # one scalar: the actor's and the critic's weights are disjoint, so each takes its own loss's gradient
        return policy + value.pow(2).mean()

    def loss_of(self, learner, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """The same loss for one learner's own networks (for the check)."""
        actor, critic = learner.actor, learner.critic
        return self._losses(
            dict(actor.named_parameters()),
            dict(critic.named_parameters()),
            dict(actor.named_buffers()),
            dict(critic.named_buffers()),
            b,
        )

    def gradients(self, batches: list[dict[str, torch.Tensor]]) -> tuple[dict, dict]:
        stacked = {k: torch.stack([b[k] for b in batches]) for k in batches[0]}
        return self.grad(self.actor_p, self.critic_p, self.actor_b, self.critic_b, stacked)

    def update(self, batches: list[dict[str, torch.Tensor]]) -> None:
        g_actor, g_critic = self.gradients(batches)
        for params, grads, opt in ((self.actor_p, g_actor, self.actor_opt), (self.critic_p, g_critic, self.critic_opt)):
            norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads.values()]).sum(0).sqrt()  # (R,)
            scale = torch.clamp(self.cfg.max_grad_norm / (norms + 1e-6), max=1.0)
            for name, p in params.items():
                p.grad = grads[name] * scale.reshape(-1, *([1] * (p.dim() - 1)))
            opt.step()


def check_equal(runs: int) -> float:
    """The largest difference between the stacked gradient and each run's own, relative to its size (the
    products sum in another order; Adam's first step would magnify the rounding, so the gradients are compared)."""
    single = learners(runs)
    stacked = Stacked(learners(runs))
    batches = minibatches(single[0], runs, 1)[0]
    g_actor, g_critic = stacked.gradients(batches)
    worst = 0.0
    for i, (r, b) in enumerate(zip(single, batches, strict=True)):
        r.actor.zero_grad()
        r.critic.zero_grad()
        stacked.loss_of(r, b).backward()
        for net, grads in ((r.actor, g_actor), (r.critic, g_critic)):
            for name, p in net.named_parameters():
                worst = max(worst, ((p.grad - grads[name][i]).abs().max() / p.grad.abs().max().clamp(min=1e-12)).item())
    return worst


def mlp_ratio(runs: int, rows: int, hidden: int, reps: int) -> float:
    """Forward, backward and Adam of ``runs`` two-hidden-layer MLPs one after another over the same ``runs``
    stacked in one :class:`~isac_iov.learners.networks.AgentMLP` (``baddbmm`` over the run axis): the most
    stacking can give to the networks alone, without vmap or any loss."""

    def timed(nets: list[AgentMLP], xs: list[torch.Tensor]) -> float:
        opts = [torch.optim.Adam(n.parameters(), lr=1e-3) for n in nets]
        start = 0.0
        for rep in range(reps + 3):
            if rep == 3:
                start = time.process_time()
            for n, x, o in zip(nets, xs, opts, strict=True):
                o.zero_grad()
                n(x).pow(2).mean().backward()
                o.step()
        return time.process_time() - start

    din, dout = 43, 10
    one = timed(
        [AgentMLP(1, din, dout, hidden, shared=True, agent_id=False) for _ in range(runs)],
        [torch.randn(rows, 1, din) for _ in range(runs)],
    )
    return one / timed([AgentMLP(runs, din, dout, hidden)], [torch.randn(rows, runs, din)])


def gemm_gflops(rows: int, hidden: int) -> float:
    """This core's matrix-product rate (one thread) at the update's shape ``rows x hidden @ hidden x hidden``."""
    a, b = torch.randn(rows, hidden), torch.randn(hidden, hidden)
    reps = 200
    start = time.process_time()
    for _ in range(reps):
        a @ b
    return 2 * rows * hidden * hidden * reps / (time.process_time() - start) / 1e9


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--runs", type=int, default=5, help="runs stacked (seeds 0 .. R-1)")
    p.add_argument("--steps", type=int, default=40, help="minibatch updates timed per round and way")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    args = parse(p)
    torch.set_num_threads(1)
    worst = check_equal(args.runs)
    print(f"stacked gradients against {args.runs} single ones: largest difference {worst:.2e} of the gradient")
    single, stacked_src = learners(args.runs), learners(args.runs)
    stacked = Stacked(stacked_src)
    data = minibatches(single[0], args.runs, args.steps)
    t_single = t_stacked = 0.0
    for _ in range(args.rounds):
        start = time.process_time()
        for batches in data:
            for r, b in zip(single, batches, strict=True):
                r._update(b)
        t_single += time.process_time() - start
        start = time.process_time()
        for batches in data:
            stacked.update(batches)
        t_stacked += time.process_time() - start
    n = args.rounds * args.steps
    print(
        f"{args.runs} Ly-DTMPO minibatch updates (CPU ms): one after another {t_single / n * 1e3:.1f}, "
        f"stacked {t_stacked / n * 1e3:.1f}"
    )
    one = single[0]
    with FlopCounterMode(display=False) as flops:
        one._update(data[0][0])
    start = time.process_time()
    for batches in data:
        one._update(batches[0])
    t_one = (time.process_time() - start) / len(data)
    peak = gemm_gflops(one.cfg.batch_size, one.cfg.hidden)
    work = flops.get_total_flops()
    print(
        f"one update: {work / 1e6:.0f} MFLOP of matrix products in {t_one * 1e3:.2f} ms ({work / t_one / 1e9:.1f} "
        f"GFLOP/s); this core multiplies such matrices at {peak:.0f} GFLOP/s, so the products alone take "
        f"{work / (peak * 1e9) / t_one:.0%} of the update; stacking can save only part of the rest"
    )
    bare = mlp_ratio(args.runs, one.cfg.batch_size, one.cfg.hidden, args.steps)
    print(f"the networks alone (forward, backward, Adam), {args.runs} stacked by baddbmm: {bare:.2f} x")
    targets = [
        target("stacked gradients agree with single ones (relative)", worst, "<=", 1e-4, "", ".2e"),
        target(f"update speed-up, {args.runs} runs stacked", t_single / t_stacked, ">=", 3.0, "x", ".2f"),
    ]
    print("not measured: whole training runs batched (5 Ly-DTMPO seeds >= 3x, off-policy >= 2x): not built yet")
    summary(targets)


if __name__ == "__main__":
    main()
