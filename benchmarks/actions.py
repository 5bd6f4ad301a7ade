"""Action patterns: one model of many animal clips (PAPER.md experiments 2 and 5), measured.

On the animal clips (64x64, the first 30 frames; 3 clips held out, evenly spaced in sorted order) train the
``cpu-action`` preset for a time budget, then:

(a) appearance kept: for every training clip, 2 new videos (60 frames, s_0 ~ N(0, I), fresh noise) with its
    appearance; the nearest training clip by mean-frame MSE should be the source (% of cases);
(b) motion: mean |x_t - x_{t-1}| (0-255) of the new videos against the observed clips (target ratio 0.5x-2x);
(c) copying: for each new video, the mean over its frames of the RMSE (0-255) to the nearest frame of its source
    clip, divided by the source's mean RMSE between consecutive frames (about 0: replayed frames; about 1 or more:
    frames as far from the source's as its own frames are from each other), and ``copying_score`` from
    ``dyngen.evaluation.metrics`` (the same nearest-frame distance over the source's nearest-other-frame spacing);
(d) animation: the first frame of each held-out clip, animated for 60 frames with the model frozen: PSNR of the
    animation's first frame against the still, motion energy of the animation (and of the held-out clip);
(e) interpolation between two animals (8 rows, 30 frames, shared s_0 and noise): mean frame MSE (0-255) between
    consecutive rows; max / median step (target <= 3, a smooth path), with rho spaced evenly in pixels (the
    default of ``dyngen interpolate``) and uniformly.

Prints a table and writes grids (PNG and MP4) and results.json to --out.

    python benchmarks/actions.py --minutes 12            # train and measure (one run; about 15 minutes)
    python benchmarks/actions.py --run RUN_DIR           # measure an existing run again, no training
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from harness import DATA, NO_LIMIT, train_or_reuse

from dyngen.algorithms.inference import EncodeConfig
from dyngen.evaluation.metrics import PIXEL, copying_score, motion_energy
from dyngen.io.dataset import load_videos
from dyngen.io.grid import save_frame_grid
from dyngen.io.mosaic import mosaic, save_mosaic_png
from dyngen.io.video import read_video, to_tensor, to_uint8, write_video
from dyngen.presets import get_preset
from dyngen.runs.checkpoint import load_trained
from dyngen.tasks.animate import animate
from dyngen.tasks.appearance import synthesize_appearance
from dyngen.tasks.interpolate import interpolate_appearance

CLIPS = DATA / "actions" / "animal_running"


def split(paths: list[Path], holdout: int) -> tuple[list[Path], list[Path]]:
    """Held-out clips evenly spaced in sorted order (deterministic), the rest for training."""
    idx = set(np.linspace(0, len(paths) - 1, holdout + 2).round().astype(int)[1:-1].tolist())
    return [p for i, p in enumerate(paths) if i not in idx], [p for i, p in enumerate(paths) if i in idx]


def train_run(out: Path, files: list[Path], args: argparse.Namespace) -> Path:
    data = get_preset(args.preset)["data"]
    frames, names = load_videos(files, size=data["size"], frames=data["frames"])
    train_or_reuse(out, frames, names, preset=args.preset, epochs=NO_LIMIT, minutes=args.minutes, seed=args.seed,
                   device="cpu", info={"benchmark": "actions"}, log_every=10)  # fmt: skip
    return out


def rmse_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-frame RMSE (0-255) between every frame of ``a (Ta, 3, H, W)`` and of ``b (Tb, 3, H, W)``."""
    fa, fb = a.flatten(1).double(), b.flatten(1).double()
    return torch.cdist(fa, fb) * PIXEL / fa.shape[1] ** 0.5


def measure_appearance(trained, observed: torch.Tensor, args, out: Path) -> dict:
    """(a), (b), (c): new motion with every training appearance."""
    n = observed.shape[0]
    means = observed.mean(dim=1).flatten(1)  # (N, D) mean frame of every training clip
    hits, synth_energy, copy_ratio, copy_score = 0, [], [], []
    samples = []
    for i in range(n):
        videos = synthesize_appearance(trained, trained.chains.appearance[i], frames=60, num=2, seed=args.seed + i)
        samples.append(videos)
        for v in videos:
            mse = (means - v.mean(dim=0).flatten()).square().mean(dim=1)
            hits += int(int(mse.argmin()) == i)
            synth_energy.append(motion_energy(v))
            nearest = rmse_matrix(v, observed[i]).min(dim=1).values.mean()
            consecutive = rmse_matrix(observed[i][1:], observed[i][:-1]).diagonal().mean()
            copy_ratio.append(float(nearest / consecutive))
            copy_score.append(copying_score(v, observed[i]))
    obs_energy = [motion_energy(v) for v in observed]
    with torch.no_grad():  # the reconstructions from the inferred latents: the motion the fit can show
        ch = trained.chains
        recon, _ = trained.model(ch.s0, ch.noise, ch.appearance)
    recon_energy = [motion_energy(v) for v in recon]
    rows = [[to_uint8(v) for v in observed]] + [[to_uint8(s[k]) for s in samples] for k in range(2)]
    names = trained.names
    title = "columns: training clips; rows 2-3: its appearance, new motion"
    labels = ["observed", "sample 1", "sample 2"]
    save_mosaic_png(out / "appearance_grid.png", rows, row_labels=labels, column_labels=names, title=title)
    write_video(out / "appearance_grid.mp4", mosaic(rows), fps=15)
    return {
        "appearance_kept_pct": 100.0 * hits / (2 * n),
        "motion_synth": statistics.mean(synth_energy),
        "motion_observed": statistics.mean(obs_energy),
        "motion_ratio": statistics.mean(synth_energy) / statistics.mean(obs_energy),
        "motion_reconstruction": statistics.mean(recon_energy),
        "motion_first_quarter": statistics.mean(motion_energy(v[:16]) for s in samples for v in s),
        "motion_last_quarter": statistics.mean(motion_energy(v[-16:]) for s in samples for v in s),
        "copy_nearest_over_consecutive": statistics.median(copy_ratio),
        "copy_nearest_over_consecutive_min": min(copy_ratio),
        "copying_score": statistics.median(copy_score),
        "copying_score_min": min(copy_score),
    }


def measure_animation(trained, held: list[np.ndarray], names: list[str], args, out: Path) -> dict:
    """(d): animate the first frame of every held-out clip."""
    stills = np.stack([v[0] for v in held])
    cfg = EncodeConfig(steps=args.animate_steps, restarts=args.restarts)
    t0 = time.perf_counter()
    result = animate(trained, stills, frames=60, seed=args.seed, config=cfg)
    seconds = time.perf_counter() - t0
    videos = list(to_uint8(result.videos))
    rows = [[v[:1] for v in held], videos, list(held)]
    save_mosaic_png(out / "animate_grid.png", rows, row_labels=["still", "animated", "held-out clip"],
                    column_labels=names, times=[0, 10, 20, 40, 59])  # fmt: skip
    save_frame_grid(out / "animate_frames.png", videos, labels=names, title="animated stills (60 frames)")
    write_video(out / "animate_grid.mp4", mosaic(rows), fps=15)
    start_names = [None if s is None else trained.names[s] for s in result.latents.start]
    return {
        "psnr_first_frame": dict(zip(names, result.first_frame_psnr)),
        "motion_animated": dict(zip(names, [motion_energy(v) for v in videos])),
        "motion_held_out": dict(zip(names, [motion_energy(v) for v in held])),
        "started_from": dict(zip(names, start_names)),
        "seconds": seconds,
    }


def measure_interpolation(trained, args, out: Path) -> dict:
    """(e): 8 rows between two animals, with rho spaced evenly in pixels (the default) and uniformly."""
    a, b = args.between
    results = {"between": [a, b]}
    for spacing in ("even", "uniform"):
        result = interpolate_appearance(trained, a, b, steps=8, frames=30, seed=args.seed, spacing=spacing)
        v = result.videos.double()
        steps = [float((v[k + 1] - v[k]).square().mean() * PIXEL**2) for k in range(len(v) - 1)]
        rows = list(to_uint8(result.videos))
        labels = [f"rho={r:.2f}" for r in result.rhos]
        save_frame_grid(out / f"interpolation_{spacing}.png", rows, labels=labels, title=f"{a} -> {b} ({spacing})")
        write_video(out / f"interpolation_{spacing}.mp4", mosaic([[r] for r in rows]), fps=15)
        ratio = max(steps) / statistics.median(steps)
        results[spacing] = {"rhos": result.rhos, "steps_mse": steps, "max_over_median": ratio}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(CLIPS), help="folder of animal clips")
    ap.add_argument("--minutes", type=float, default=12.0, help="training budget")
    ap.add_argument("--preset", default="cpu-action")
    ap.add_argument("--out", default="benchmarks/out/actions", help="the run, grids and results.json go here")
    ap.add_argument("--run", default=None, help="measure this existing run instead of training one")
    ap.add_argument("--holdout", type=int, default=3, help="clips held out for animation")
    ap.add_argument("--between", nargs=2, default=["lioness", "white-horse"], help="interpolation endpoints")
    ap.add_argument("--animate-steps", type=int, default=400, help="Langevin steps to fit each still")
    ap.add_argument("--restarts", type=int, default=4, help="Langevin restarts per still")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.threads:
        torch.set_num_threads(args.threads)
    data = Path(args.data)
    if not data.is_dir():
        raise SystemExit(f"no animal clips at {data}; pass --data")
    paths = sorted(p for p in data.iterdir() if p.suffix.lower() in (".mp4", ".avi"))
    train_files, held_files = split(paths, args.holdout)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = Path(args.run) if args.run else train_run(out / "run", train_files, args)
    trained = load_trained(run)
    summary = trained.run.read_summary()
    size = trained.model.config.height, trained.model.config.width
    observed = torch.stack([to_tensor(v) for v in trained.observed_frames().numpy()])  # (N, T, 3, H, W)
    held = [read_video(p, size=size, frames=int(trained.config["data"]["frames"])) for p in held_files]
    t0 = time.perf_counter()
    results = {
        "train": {
            "epochs": summary.get("epochs"),
            "seconds": summary.get("train_seconds"),
            "psnr": summary.get("psnr"),
            "clips": len(trained.names),
            "held_out": [p.stem for p in held_files],
        },
        "appearance": measure_appearance(trained, observed, args, out),
        "animation": measure_animation(trained, held, [p.stem for p in held_files], args, out),
        "interpolation": measure_interpolation(trained, args, out),
    }
    results["measure_seconds"] = time.perf_counter() - t0
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"grids and results.json: {out}")


def print_table(r: dict) -> None:
    t, a, m, i = r["train"], r["appearance"], r["animation"], r["interpolation"]
    rows = [
        ("training", f"{t['epochs']} epochs, {t['seconds']:.0f} s, reconstruction {t['psnr']:.2f} dB", ""),
        ("(a) appearance kept", f"{a['appearance_kept_pct']:.0f}% nearest = source", "100%"),
        (
            "(b) motion energy",
            f"{a['motion_synth']:.2f} vs {a['motion_observed']:.2f} observed = {a['motion_ratio']:.2f}x "
            f"(reconstruction {a['motion_reconstruction']:.2f}; first/last quarter {a['motion_first_quarter']:.2f}/"
            f"{a['motion_last_quarter']:.2f})",
            "0.5x-2x",
        ),
        (
            "(c) copying",
            f"nearest/consecutive {a['copy_nearest_over_consecutive']:.2f} (min "
            f"{a['copy_nearest_over_consecutive_min']:.2f}); copying_score {a['copying_score']:.2f} "
            f"(min {a['copying_score_min']:.2f})",
            "not ~0",
        ),
    ]
    for name in m["psnr_first_frame"]:
        rows.append((f"(d) animate {name}", f"first frame {m['psnr_first_frame'][name]:.2f} dB, motion "
                     f"{m['motion_animated'][name]:.2f} (clip {m['motion_held_out'][name]:.2f})", ""))  # fmt: skip
    for spacing in ("even", "uniform"):
        rows.append((f"(e) interpolation, {spacing} rho", f"{' -> '.join(i['between'])}: max/median step (MSE) "
                     f"{i[spacing]['max_over_median']:.2f}", "<= 3"))  # fmt: skip
    width = max(len(x[0]) for x in rows) + 2
    for name, value, target in rows:
        print(f"{name:<{width}}{value}" + (f"   [target {target}]" if target else ""))


if __name__ == "__main__":
    main()
