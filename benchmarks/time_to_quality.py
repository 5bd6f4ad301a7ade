"""Time to quality: the reconstruction PSNR against wall-clock seconds of two training recipes, in one plot.

The paper recipe (``paper-texture``: paper widths, 15 Langevin steps + 1 Adam step per window, 3000 epochs)
against a faster one (by default the ``cpu-texture`` preset: half the widths, 3 Langevin + 4 Adam steps, one
window, 800 epochs), on the same clip (fire, 64x64, 60 frames) and seed. Each trains until its epoch count or its time
budget, whichever comes first; both runs are kept, so a call with a longer budget continues them, and
``--only paper`` / ``--only fast`` train one recipe (one per core, or one session after another).

Prints, for each recipe, the epochs, the seconds and the final training PSNR; then the PSNR the paper recipe
reached, the first second at which the fast recipe reached it, and the ratio of the two wall times (the target:
at most 1/5). The training PSNR jumps by several dB from one epoch to the next, so "reached" is read off the
PSNR of the mean squared error over the last ``--smooth`` epochs (50 by default), for both recipes. Writes
``psnr_vs_seconds.png`` (both smoothed curves, log time axis) and ``results.json`` to --out.

The training PSNR is not the whole of quality: ``--synthesis-seeds K`` also synthesizes K videos of 8x the
training length from each finished run and prints their mean appearance and dynamics distances to the clip
(``dyngen.evaluation``; lower is better), the measures ``benchmarks/textures.py`` reports.

Other fast recipes: ``--fast-set KEY=VALUE`` overrides the fast preset's training or model settings (for
example ``--fast-set fuse_learning=true --fast-set base_channels=32``), and ``--fast-name`` names its run
directory, so several candidates can be kept side by side.

    python benchmarks/time_to_quality.py                                  # the full study (hours on 2 cores)
    python benchmarks/time_to_quality.py --paper-minutes 20 --fast-minutes 20 --device cpu   # a partial one
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from harness import DATA, train_or_reuse

from dyngen.evaluation import evaluate
from dyngen.evaluation.fidelity import psnr_from_mse
from dyngen.io.grid import save_curve
from dyngen.io.video import read_video, to_uint8
from dyngen.presets import get_preset, parse_overrides
from dyngen.runs.checkpoint import load
from dyngen.runs.directory import SUMMARY, Run
from dyngen.tasks.synthesize import synthesize_run

CLIP = DATA / "textures" / "fire.avi"


def smoothed_psnr(records: list[dict], k: int) -> list[float]:
    """For every epoch, the PSNR of the mean squared error over the last ``k`` epochs (fewer at the start)."""
    mse = [r["mse"] for r in records]
    windows = (mse[max(0, i - k + 1) : i + 1] for i in range(len(mse)))
    return [psnr_from_mse(sum(w) / len(w)) for w in windows]


def synthesis_scores(path: Path, observed: np.ndarray, seeds: int, device: str) -> dict[str, float]:
    """Mean appearance and dynamics distances (and motion ratio) of ``seeds`` syntheses of 8x ``observed``'s length."""
    trained = load(path, device)
    keys = ("appearance_distance", "dynamics_distance", "motion_ratio")
    rows = []
    for seed in range(seeds):
        synth = to_uint8(synthesize_run(trained, frames=8 * len(observed), seed=seed)[0])
        rows.append(evaluate(synth, observed, seed=0))
    return {k: sum(r[k] for r in rows) / seeds for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default=str(CLIP))
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--paper-preset", default="paper-texture")
    ap.add_argument("--fast-preset", default="cpu-texture")
    ap.add_argument("--paper-minutes", type=float, default=1e9, help="time budget of the paper recipe")
    ap.add_argument("--fast-minutes", type=float, default=1e9, help="time budget of the fast recipe")
    ap.add_argument("--fast-epochs", type=int, default=None, help="epochs of the fast recipe (default: its preset's)")
    ap.add_argument("--fast-set", action="append", default=[], metavar="KEY=VALUE", help="a fast-recipe setting")
    ap.add_argument("--fast-name", default="fast", help="run directory of the fast recipe under --out")
    ap.add_argument("--smooth", type=int, default=50, help="epochs of the trailing mean that 'reached' reads")
    ap.add_argument("--synthesis-seeds", type=int, default=0, metavar="K",
                    help="score K syntheses of each finished run (appearance, dynamics; 0 = skip)")  # fmt: skip
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--only",
        choices=("paper", "fast", "none"),
        help="train this recipe only (e.g. one per core; 'none': train neither, plot and print the runs as they "
        "are); a later call without --only plots both",
    )
    ap.add_argument("--out", default="benchmarks/out/time_to_quality")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    frames = read_video(args.clip, size=args.size, frames=args.frames)[None]
    out = Path(args.out)
    common = {"seed": args.seed, "device": args.device, "info": {"benchmark": "time_to_quality"}, "log_every": 50}
    if args.only in (None, "paper"):
        train_or_reuse(out / "paper", frames, ["clip"], preset=args.paper_preset, minutes=args.paper_minutes,
                       **common)  # fmt: skip
    if args.only in (None, "fast"):
        train_or_reuse(out / args.fast_name, frames, ["clip"], preset=args.fast_preset, epochs=args.fast_epochs,
                       minutes=args.fast_minutes, overrides=parse_overrides(args.fast_set), **common)  # fmt: skip
    if args.only in ("paper", "fast"):
        return
    paper, fast = Run.open(out / "paper").read_metrics(), Run.open(out / args.fast_name).read_metrics()
    fast_label = args.fast_preset + "".join(f" {kv}" for kv in args.fast_set)

    def fixed_norm(name: str) -> float | None:  # in the summary of a run that finished or was stopped
        path = out / name / SUMMARY
        return json.loads(path.read_text()).get("psnr_fixed_norm") if path.is_file() else None

    paper_smooth, fast_smooth = smoothed_psnr(paper, args.smooth), smoothed_psnr(fast, args.smooth)
    target, paper_seconds = paper_smooth[-1], paper[-1]["elapsed"]
    reached = next((r for r, p in zip(fast, fast_smooth) if p >= target), None)
    result = {
        "clip": args.clip,
        "smooth_epochs": args.smooth,
        "paper": {"preset": args.paper_preset, "epochs": paper[-1]["epoch"], "seconds": paper_seconds,
                  "psnr": paper[-1]["psnr"], "psnr_smoothed": target, "psnr_fixed_norm": fixed_norm("paper")},
        "fast": {"preset": fast_label, "epochs": fast[-1]["epoch"], "seconds": fast[-1]["elapsed"],
                 "psnr": fast[-1]["psnr"], "psnr_smoothed": fast_smooth[-1],
                 "psnr_fixed_norm": fixed_norm(args.fast_name)},
        "fast_reaches_paper_psnr": None if reached is None else {
            "epoch": reached["epoch"], "seconds": reached["elapsed"], "ratio": reached["elapsed"] / paper_seconds},
    }  # fmt: skip
    save_curve(
        out / "psnr_vs_seconds.png",
        {f"{args.paper_preset} ({result['paper']['epochs']} epochs)": ([r["elapsed"] for r in paper], paper_smooth),
         f"{fast_label} ({result['fast']['epochs']} epochs)": ([r["elapsed"] for r in fast], fast_smooth)},
        xlabel="training seconds", ylabel=f"PSNR (dB), MSE of {args.smooth} epochs",
        title=f"time to quality: {Path(args.clip).name}", logx=True,
    )  # fmt: skip
    if args.synthesis_seeds:
        observed = frames[0]
        for name, path in (("paper", out / "paper"), ("fast", out / args.fast_name)):
            if (path / SUMMARY).is_file():
                result[name]["synthesis"] = synthesis_scores(path, observed, args.synthesis_seeds, args.device)
    (out / "results.json").write_text(json.dumps(result, indent=2))
    for name in ("paper", "fast"):
        r = result[name]
        fixed = "" if r["psnr_fixed_norm"] is None else f" (fixed-norm {r['psnr_fixed_norm']:.2f} dB)"
        print(f"{name:6s} {r['preset']:14s} {r['epochs']:6d} epochs {r['seconds']:8.0f} s  {r['psnr']:.2f} dB "
              f"(mean of the last {args.smooth} epochs {r['psnr_smoothed']:.2f} dB){fixed}")  # fmt: skip
        if "synthesis" in r:
            m = r["synthesis"]
            print(f"       {args.synthesis_seeds} syntheses of {8 * frames.shape[1]} frames: appearance "
                  f"{m['appearance_distance']:.2f}, dynamics {m['dynamics_distance']:.2f}, motion ratio "
                  f"{m['motion_ratio']:.2f} (means; distances: lower is better)")  # fmt: skip
    planned = get_preset(args.paper_preset)["train"]["epochs"]
    if result["paper"]["epochs"] < planned:
        print(f"the paper recipe ran {result['paper']['epochs']} of its {planned} epochs: the comparison below is "
              "against its PSNR so far, not the target's")  # fmt: skip
    hit = result["fast_reaches_paper_psnr"]
    if hit is None:
        print(f"the fast recipe did not reach the paper recipe's {target:.2f} dB (means of {args.smooth} epochs)")
    else:
        print(f"the fast recipe reached {target:.2f} dB (means of {args.smooth} epochs) at epoch {hit['epoch']}, "
              f"{hit['seconds']:.0f} s: "
              f"{hit['ratio']:.3f} of the paper recipe's {paper_seconds:.0f} s (target <= 0.2)")  # fmt: skip
    print(f"plot: {out / 'psnr_vs_seconds.png'}")


if __name__ == "__main__":
    main()
