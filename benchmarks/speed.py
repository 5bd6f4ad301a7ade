"""Seconds per ABPTT epoch: dyngen's ``abptt_epoch`` against a plain re-implementation, in the same run.

The baseline below is the straightforward loop anyone would write first: the
transition unrolled frame by frame in Python, the generator called once per
window on all of its frames, and full autograd (``energy.backward()``, which
also computes every parameter gradient) for each Langevin step. Both start
from the same weights, latents and seed, run the same schedule, and are timed
alternately (A B A B ...) after warm-up, so a busy machine slows both alike.

Defaults are the ``paper-texture`` settings: 60 frames at 64x64, d = k = 100,
generator widths 512..64 with BatchNorm, windows of 30, 15 Langevin steps,
1 Adam step, sigma 1, delta 0.03.

    python benchmarks/speed.py --epochs 3 --threads 2
    python benchmarks/speed.py --epochs 3 --set precision=bf16      # a TrainConfig switch for dyngen
    python benchmarks/speed.py --epochs 3 --set fuse_learning=true --baseline dyngen   # a switch's own gain
    python benchmarks/speed.py --epochs 3 --set emission=warp --baseline dyngen        # the warp emission against dg
    python benchmarks/speed.py --only dyngen --epochs 1 --size 150 --frames 70 --window 70 --sigma 0.5

Prints seconds per epoch of each (the median over the timed epochs, their
minimum, and the process's CPU seconds, which a busy shared machine disturbs
less), the ratio dyngen / baseline (of those, and "paired": the median of the
ratios of the two epochs run back to back, which share the machine's load), the training reconstruction error of each
after the same number of epochs (MSE on [-1, 1] and PSNR, from the last
epoch), and peak memory: on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the peak resident set size
(``VmHWM``) of a child process that runs one epoch of one implementation
alone, since one process's peak cannot be split between two implementations.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from dyngen.algorithms.abptt import Chains, TrainConfig, abptt_epoch, windows
from dyngen.evaluation.fidelity import psnr_from_mse
from dyngen.io.procedural import ripples
from dyngen.io.video import read_video, to_tensor
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.presets import parse_overrides
from dyngen.runs.trainer import make_optimizer

PLAIN_LAYERS = (nn.ConvTranspose2d, nn.BatchNorm2d, nn.GroupNorm, nn.ReLU, nn.Tanh, nn.Identity)


# ----------------------------------------------------------------------------- the plain baseline
class PlainModel(nn.Module):
    """The same networks as plain layers: an MLP transition and a stack of transposed convolutions."""

    def __init__(self, model: DynamicGenerator) -> None:
        super().__init__()
        if model.appearance_dim:
            raise SystemExit("the baseline covers models without appearance vectors (c = 0)")
        self.mlp = copy.deepcopy(model.transition.net)  # nn.Linear layers and ReLUs
        self.gen = copy.deepcopy(model.generator.net)  # ConvTranspose2d, BatchNorm2d, ReLU, ..., Tanh
        bad = [type(m).__name__ for m in self.gen if not isinstance(m, PLAIN_LAYERS)]
        assert not bad, f"the generator is no longer a stack of plain layers: {bad}"

    def forward(self, s0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``s0 (B, d), noise (B, T, k) -> frames (B, T, 3, H, W)``, one frame at a time through F."""
        s, states = s0, []
        for t in range(noise.shape[1]):
            s = torch.tanh(s + self.mlp(torch.cat([noise[:, t], s], dim=-1)))
            states.append(s)
        states = torch.stack(states, dim=1)
        b, t, d = states.shape
        frames = self.gen(states.reshape(b * t, d, 1, 1))
        return frames.reshape(b, t, *frames.shape[1:])


def plain_epoch(
    model: PlainModel, opt: torch.optim.Optimizer, frames: torch.Tensor, chains: Chains, cfg: TrainConfig, g
) -> dict[str, float]:
    """One epoch of ABPTT, written plainly (one batch of all videos)."""
    s_prev, sq_sum = None, 0.0
    for t0, t1 in windows(frames.shape[1], cfg.window):
        x = frames[:, t0:t1]
        noise = chains.noise[:, t0:t1].clone().requires_grad_(True)
        s0 = chains.s0.clone().requires_grad_(True) if s_prev is None else s_prev
        for _ in range(cfg.langevin_steps):
            recon = model(s0, noise)
            energy = (x - recon).square().sum() / (2 * cfg.sigma**2) + 0.5 * noise.square().sum()
            if s_prev is None:
                energy = energy + 0.5 * s0.square().sum()
            model.zero_grad()
            noise.grad = None
            if s_prev is None:
                s0.grad = None
            energy.backward()
            with torch.no_grad():
                for z in [noise] + ([s0] if s_prev is None else []):
                    eps = torch.randn(z.shape, generator=g, device=z.device)
                    z.add_(-0.5 * cfg.step_size**2 * z.grad + cfg.step_size * eps)
        noise, s0 = noise.detach(), s0.detach()
        for _ in range(cfg.learn_steps):
            opt.zero_grad()
            err = (x - model(s0, noise)).square().sum()
            (err / (2 * cfg.sigma**2 * x.shape[0] * x.shape[1])).backward()
            opt.step()
        sq_sum += err.item()
        chains.noise[:, t0:t1] = noise
        if s_prev is None:
            chains.s0.copy_(s0)
        with torch.no_grad():
            s = s0
            for t in range(noise.shape[1]):
                s = torch.tanh(s + model.mlp(torch.cat([noise[:, t], s], dim=-1)))
            s_prev = s
    mse = sq_sum / frames.numel()
    return {"mse": mse, "psnr": psnr_from_mse(mse)}


# ----------------------------------------------------------------------------- setup and timing
def load_frames(args: argparse.Namespace) -> torch.Tensor:
    """``(1, T, 3, S, S)`` in [-1, 1]: a real clip when --clip is given, else the procedural texture."""
    if args.clip:
        video = read_video(args.clip, frames=args.frames, size=args.size)
    else:
        video = ripples(args.frames, args.size, seed=args.seed)
    return to_tensor(video)[None]


def setup(args: argparse.Namespace, device: torch.device) -> dict:
    settings = parse_overrides(args.set)
    typed = {k: v for k, v in settings.items() if k in TrainConfig.__dataclass_fields__}
    cfg = TrainConfig(
        window=args.window, sigma=args.sigma, langevin_steps=args.langevin_steps, learn_steps=args.learn_steps,
        seed=args.seed, **typed,
    )  # fmt: skip
    mc = ModelConfig(
        height=args.size, width=args.size, base_channels=args.base_channels, max_channels=args.max_channels,
        **{k: v for k, v in settings.items() if k not in typed},
    )  # fmt: skip
    torch.manual_seed(args.seed)
    model = DynamicGenerator(mc).to(device).train()
    base_mc = replace(mc, **{k: getattr(ModelConfig(), k) for k in settings if k not in typed})
    plain = PlainModel(model).to(device).train() if args.baseline == "plain" else None
    frames = load_frames(args).to(device)
    chains = Chains.from_prior(model, 1, frames.shape[1], generator=torch.Generator().manual_seed(args.seed))

    def own(c: Chains) -> Chains:  # each implementation updates its own copy of the chains in place
        return Chains(c.s0.clone(), c.noise.clone(), c.appearance.clone()).to(device)

    if args.baseline == "dyngen":  # dyngen without the --set settings (e.g. the DCGAN emission against warp)
        base_cfg = TrainConfig(**{k: v for k, v in cfg.to_dict().items() if k not in typed})
        torch.manual_seed(args.seed)
        plain = copy.deepcopy(model) if base_mc == mc else DynamicGenerator(base_mc).to(device).train()
    return {
        "cfg": cfg,
        "base_cfg": base_cfg if args.baseline == "dyngen" else None,
        "frames": frames,
        "dyngen": (model, make_optimizer(model, cfg), own(chains), torch.Generator(device).manual_seed(1)),
        "baseline": (plain, make_optimizer(plain, cfg), own(chains), torch.Generator(device).manual_seed(1)),
    }


def run_epoch(name: str, state: dict) -> tuple[float, float, dict[str, float]]:
    """One epoch of ``name``: wall seconds, CPU seconds of this process (all threads), metrics."""
    model, opt, chains, g = state[name]
    sync = torch.cuda.synchronize if state["frames"].is_cuda else (lambda: None)
    sync()
    t, c = time.perf_counter(), time.process_time()
    if name == "dyngen" or state["base_cfg"] is not None:
        cfg = state["cfg"] if name == "dyngen" else state["base_cfg"]
        m = abptt_epoch(model, opt, state["frames"], chains, cfg, generator=g)
    else:
        m = plain_epoch(model, opt, state["frames"], chains, state["cfg"], g)
    sync()
    return time.perf_counter() - t, time.process_time() - c, m


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (``VmHWM``; ``ru_maxrss`` where /proc is missing).

    ``ru_maxrss`` alone would not do for a child process: Linux carries the
    parent's peak over into it across fork and exec.
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_peak_rss(name: str) -> dict:
    """The ``--json`` result of a child process that runs one epoch of ``name`` alone (with its peak RSS)."""
    argv = [a for a in sys.argv[1:] if a != "--no-memory"]
    cmd = [sys.executable, __file__, *argv, "--only", name, "--epochs", "1", "--warmup", "0", "--no-memory", "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def paired_ratio(a: list[float], b: list[float]) -> float:
    """The median of ``a[i] / b[i]``: epoch i of each ran back to back, so each ratio sees one load."""
    return float(np.median([x / y for x, y in zip(a, b, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs of each (after warm-up)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed epochs of each first")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--langevin-steps", type=int, default=15)
    ap.add_argument("--learn-steps", type=int, default=1)
    ap.add_argument("--base-channels", type=int, default=64, help="64 = the paper's widths 512..64")
    ap.add_argument("--max-channels", type=int, default=512, help="512 = the paper's; the cpu preset: 16 and 128")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clip", help="a video to train on instead of the procedural texture")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a training (or model) setting for dyngen")  # fmt: skip
    ap.add_argument("--only", choices=["dyngen", "baseline"], help="run one implementation alone")
    ap.add_argument(
        "--baseline",
        choices=["plain", "dyngen"],
        default="plain",
        help="what dyngen is timed against: the plain loop, or dyngen without the --set switches",
    )
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes (CPU)")
    ap.add_argument("--json", action="store_true", help="print one JSON line only")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = [args.only] if args.only else ["dyngen", "baseline"]

    state = setup(args, device)
    rss_setup = peak_rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    metrics: dict[str, dict] = {}
    peak_cuda: dict[str, float] = {}
    for epoch in range(args.warmup + args.epochs):
        for n in names if epoch % 2 == 0 else names[::-1]:  # A B, B A, ...: neither always goes first
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            dt, dc, metrics[n] = run_epoch(n, state)
            if device.type == "cuda":
                peak_cuda[n] = max(peak_cuda.get(n, 0.0), torch.cuda.max_memory_allocated() / 2**20)
            if epoch >= args.warmup:
                times[n].append(dt)
                cpu[n].append(dc)
            if not args.json:
                mse = metrics[n]["mse"]
                print(f"epoch {epoch + 1:3d} {n:8s} {dt:7.3f} s (cpu {dc:7.3f} s)  mse {mse:.5f}", flush=True)

    shown = ("size", "frames", "window", "langevin_steps", "learn_steps", "base_channels", "max_channels", "sigma")
    result = {
        "settings": {k: getattr(args, k) for k in (*shown, "device", "epochs", "warmup")},
        "switches": state["cfg"].to_dict() if args.set else {},
        "threads": torch.get_num_threads(),
    }
    for n in names:
        result[n] = {
            "s_per_epoch": float(np.median(times[n])) if times[n] else None,
            "s_per_epoch_min": float(np.min(times[n])) if times[n] else None,
            "cpu_s_per_epoch": float(np.median(cpu[n])) if cpu[n] else None,
            "mse": metrics[n]["mse"],
            "psnr": metrics[n]["psnr"],
        }
        if device.type == "cuda":
            result[n]["peak_cuda_mib"] = peak_cuda[n]
        elif args.only:
            result[n]["peak_rss_mib"] = peak_rss_mib()
            result[n]["rss_before_training_mib"] = rss_setup
    if device.type == "cpu" and not args.only and not args.no_memory:
        for n in names:
            child = child_peak_rss(n)[n]
            result[n]["peak_rss_mib"] = child["peak_rss_mib"]
            result[n]["rss_before_training_mib"] = child["rss_before_training_mib"]
    if not args.only and times["dyngen"]:
        result["ratio"] = result["dyngen"]["s_per_epoch"] / result["baseline"]["s_per_epoch"]
        result["ratio_min"] = result["dyngen"]["s_per_epoch_min"] / result["baseline"]["s_per_epoch_min"]
        result["ratio_cpu"] = result["dyngen"]["cpu_s_per_epoch"] / result["baseline"]["cpu_s_per_epoch"]
        result["ratio_paired"] = paired_ratio(times["dyngen"], times["baseline"])
        result["mse_ratio"] = result["dyngen"]["mse"] / result["baseline"]["mse"]
    if args.json:
        print(json.dumps(result))
        return
    print(f"\n{os.path.basename(__file__)}: {json.dumps(result['settings'])}, threads {result['threads']}")
    if args.set:
        print(f"dyngen switches: {', '.join(args.set)}")
    for n in names:
        r = result[n]
        mem = ""
        if "peak_rss_mib" in r:
            mem = f", peak RSS {r['peak_rss_mib']:.0f} MiB ({r['rss_before_training_mib']:.0f} before training)"
        if "peak_cuda_mib" in r:
            mem = f", peak CUDA memory {r['peak_cuda_mib']:.0f} MiB"
        sec = (
            "-"
            if r["s_per_epoch"] is None
            else (f"{r['s_per_epoch']:.3f} (min {r['s_per_epoch_min']:.3f}, cpu {r['cpu_s_per_epoch']:.3f})")
        )
        print(f"{n:8s}: {sec} s/epoch, after {args.warmup + args.epochs} epochs mse {r['mse']:.5f} "
              f"({r['psnr']:.2f} dB){mem}")  # fmt: skip
    if "ratio" in result:
        print(f"ratio dyngen/baseline: {result['ratio']:.3f} s/epoch (median; min {result['ratio_min']:.3f}, "
              f"cpu {result['ratio_cpu']:.3f}, paired {result['ratio_paired']:.3f}), "
              f"{result['mse_ratio']:.3f} mse")  # fmt: skip


if __name__ == "__main__":
    main()
