"""Seamless loops on the texture clips: the frame change across the seam against the changes inside the loop.

For each clip (64x64, the first 60 frames): train the default preset (``cpu-texture``) for a time budget
(``--minutes``, one clip at a time), then synthesize loops of each length in ``--lengths`` with ``--seeds``
seeds (``dyngen synthesize --loop``), and for the same seeds plain syntheses of the same length. Each is
measured by ``dyngen.evaluation.loops.loop_seam``: the seam (mean |x_0 - x_{N-1}|, 0-255) and where it falls
among the steps inside the video (its percentile; the target is <= 90). So that the cut (the loop starts after
its stillest step) cannot hide a jump, the closing step of the cycle (where the bridged chain returns to its
start, before the cut) is measured the same way, and the largest step of the cycle against the largest step of
the plain synthesis; and the loop's median step against the plain synthesis's (a loop must not buy its seam by
moving less). Writes per clip a GIF of each loop and a PNG of the last 4 and the first 4 frames of each (the
seam in the middle), and one JSON line per case.

    python benchmarks/loops.py --minutes 8                       # the docs' figures (docs/loops.md)
    python benchmarks/loops.py --clips fire --minutes 0.5        # a quick check
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch
from harness import DATA, NO_LIMIT, Results, train_or_reuse

from dyngen.evaluation.loops import loop_seam
from dyngen.evaluation.metrics import motion_energy_curve
from dyngen.io.grid import save_frame_grid
from dyngen.io.video import read_video, to_uint8, write_video
from dyngen.tasks.synthesize import synthesize_loop_run, synthesize_run

CLIPS = ("boiling_water", "fire", "flashing_light")
SHOWN = 4  # frames each side of the seam in the PNG


def across_seam(video: np.ndarray, k: int = SHOWN) -> np.ndarray:
    """The last ``k`` frames then the first ``k``: the seam as a player shows it, uint8 ``(2k, H, W, 3)``."""
    return np.concatenate([video[-k:], video[:k]])


def bench_clip(name: str, args: argparse.Namespace, results: Results) -> list[dict]:
    root = Path(args.out) / name
    frames = torch.from_numpy(read_video(DATA / "textures" / f"{name}.avi", size=args.size, frames=args.frames))[None]
    run = train_or_reuse(root, frames, [name], preset=args.preset, epochs=NO_LIMIT, minutes=args.minutes,
                         seed=args.seed, device=args.device, info={"benchmark": "loops"}, log_every=50)  # fmt: skip
    out = []
    for length in args.lengths:
        rows, labels = [], []
        for seed in args.seeds:
            t0 = time.perf_counter()
            result = synthesize_loop_run(run, frames=length, seed=seed)
            seconds = time.perf_counter() - t0
            loop, shift = to_uint8(result.frames[0]), int(result.shift[0])
            plain = to_uint8(synthesize_run(run, frames=length, seed=seed)[0])
            seam, ref = loop_seam(loop), loop_seam(plain)
            closing = loop_seam(np.roll(loop, shift, axis=0))  # the cycle as rendered: its seam is the closing step
            cycle = np.concatenate([loop, loop[:1]])  # every step of the loop played round
            write_video(root / f"loop_{length}_seed{seed}.gif", loop, fps=args.fps)
            rows += [across_seam(loop), across_seam(plain)]
            labels += [f"loop s{seed}", f"plain s{seed}"]
            record = {"clip": name, "frames": length, "seed": seed, "epochs": run.epoch, "loop_seconds": seconds,
                      "gap": float(result.gap[0]), "searched_gap": float(result.searched_gap[0]), "shift": shift,
                      **{f"loop_{k}": v for k, v in seam.items()}, **{f"plain_{k}": v for k, v in ref.items()},
                      "closing_seam": closing["seam"], "closing_percentile": closing["seam_percentile"],
                      "max_step_vs_plain": float(motion_energy_curve(cycle).max() / motion_energy_curve(plain).max()),
                      "motion_vs_plain": seam["inside_median"] / ref["inside_median"],
                      "meets_target": seam["seam_percentile"] <= 90}  # fmt: skip
            out.append(results.add(record))
        save_frame_grid(root / f"seam_{length}.png", rows, labels=labels, columns=2 * SHOWN,
                        frame_indices=list(range(2 * SHOWN)),
                        title=f"{name}, {length} frames: the last {SHOWN} frames | the first {SHOWN} (t=0-3: "
                              f"frames N-4..N-1; t=4-7: frames 0..3)")  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="*", default=list(CLIPS), choices=CLIPS)
    ap.add_argument("--preset", default="cpu-texture")
    ap.add_argument("--minutes", type=float, default=8.0, help="training budget per clip")
    ap.add_argument("--lengths", type=int, nargs="+", default=[60, 120], help="loop lengths N")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="benchmarks/out/loops")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=60, help="training frames (the first ones)")
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--seed", type=int, default=0, help="the training seed")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(1)
    results = Results(Path(args.out) / "results.jsonl")
    records = [r for name in args.clips for r in bench_clip(name, args, results)]
    print(f"{'clip':<16}{'N':>5}{'seeds':>7}{'seam':>8}{'p90':>8}{'pctl':>7}{'close':>8}{'pctl':>7}{'plain':>8}"
          f"{'pctl':>7}{'maxstep':>9}{'motion':>8}{'gap':>8}")  # fmt: skip
    for name in args.clips:
        for length in args.lengths:
            rs = [r for r in records if r["clip"] == name and r["frames"] == length]

            def mean(key: str, rs: list[dict] = rs) -> float:
                return float(np.mean([r[key] for r in rs]))

            print(f"{name:<16}{length:>5}{len(rs):>7}{mean('loop_seam'):>8.2f}{mean('loop_inside_p90'):>8.2f}"
                  f"{max(r['loop_seam_percentile'] for r in rs):>7.0f}{mean('closing_seam'):>8.2f}"
                  f"{mean('closing_percentile'):>7.0f}{mean('plain_seam'):>8.2f}{mean('plain_seam_percentile'):>7.0f}"
                  f"{max(r['max_step_vs_plain'] for r in rs):>9.2f}{mean('motion_vs_plain'):>8.2f}"
                  f"{max(r['gap'] for r in rs):>8.3f}")  # fmt: skip
    print(f"results: {results.path}")


if __name__ == "__main__":
    main()
