"""Recovery from incomplete data: every method on the reproduction set, one table.

Cases (first 70 frames of each clip, masks from ../shared/data/recovery/masks):

- fountain.avi with fountain_missing_frames.mat and fountain_region.mat (the paper's);
- each clip in textures/ with flag_missing_frames.mat and ocean_region.mat
  (``--all-masks``: with all four ocean and flag masks).

Prints case x method with the recovery error (mean |recovered - truth| over hidden
pixels, 0-255), hidden PSNR and wall time, and saves comparison grids.

    python benchmarks/recovery.py                       # 64x64, CPU preset, every method
    python benchmarks/recovery.py --methods interp lds  # baselines only (fast)
    python benchmarks/recovery.py --size 150 --preset paper-recovery --device cuda   # the paper's setting
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from dyngen.algorithms.abptt import TrainConfig
from dyngen.io.grid import save_frame_grid
from dyngen.io.masks import load_mask
from dyngen.io.video import read_video
from dyngen.models.dynamic_generator import ModelConfig
from dyngen.presets import get_preset
from dyngen.tasks.recover import HIDDEN_FRAMES, METHODS, MODELS, RESIDUALS, hidden_metrics, occluded_view, recover

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def cases(all_masks: bool) -> list[tuple[str, Path, Path]]:
    masks = DATA / "recovery" / "masks"
    out = [(f"fountain/{m}", DATA / "recovery" / "fountain.avi", masks / f"fountain_{m}.mat")
           for m in ("missing_frames", "region")]  # fmt: skip
    chosen = ["flag_missing_frames", "ocean_region"]
    if all_masks:
        chosen = ["flag_missing_frames", "flag_region", "ocean_missing_frames", "ocean_region"]
    for clip in sorted((DATA / "textures").glob("*.avi")):
        out += [(f"{clip.stem}/{m}", clip, masks / f"{m}.mat") for m in chosen]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=70)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--preset", default="cpu-recovery")
    ap.add_argument("--epochs", type=int, default=None, help="dg epochs (default: the preset's)")
    ap.add_argument("--minutes", type=float, default=20.0, help="dg training budget per case")
    ap.add_argument("--cases", nargs="*", default=None, help="substrings selecting cases (default: all)")
    ap.add_argument("--all-masks", action="store_true")
    ap.add_argument("--residual", default="none", choices=RESIDUALS, help="dg/lds: correct G by this fill of x - G")
    ap.add_argument("--hidden-frames", default="chain", choices=HIDDEN_FRAMES, help="dg: states of hidden frames")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="benchmarks/out/recovery")
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"the reproduction clips are not at {DATA}")
    out = Path(args.out)
    preset = get_preset(args.preset)
    preset["model"].update(height=args.size, width=args.size)
    if args.epochs:
        preset["train"]["epochs"] = args.epochs
    preset["train"]["window"] = min(preset["train"]["window"], args.frames)
    rows = []
    for name, clip, mask_path in cases(args.all_masks):
        if args.cases and not any(c in name for c in args.cases):
            continue
        video = read_video(clip, size=args.size, frames=args.frames)
        missing = load_mask(mask_path, frames=args.frames, size=args.size)
        views, labels = [occluded_view(video, missing)], ["input"]
        for method in args.methods:
            stop = threading.Event()
            t0 = time.perf_counter()

            def budget(record: dict, t0: float = t0, stop: threading.Event = stop) -> None:
                if time.perf_counter() - t0 > 60 * args.minutes:
                    stop.set()

            run_dir = out / "runs" / f"{name.replace('/', '_')}_{int(time.time())}"
            res = recover(
                video, missing, method=method, run_dir=run_dir, model_config=ModelConfig.from_dict(preset["model"]),
                train_config=TrainConfig.from_dict(preset["train"]), device=args.device, callback=budget, stop=stop,
                residual=args.residual if method in MODELS else "none",
                hidden_frames=args.hidden_frames if method == "dg" else "chain",
            )  # fmt: skip
            m = hidden_metrics(res.recovered, video, missing)
            row = {"case": name, "method": method, "error": round(m["error"], 3), "psnr": round(m["psnr"], 2),
                   "seconds": round(res.seconds, 1), **{k: v for k, v in res.info.items() if k != "run"}}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
            views.append(res.recovered)
            labels.append(f"{method} {m['error']:.2f}")
        views.append(video)
        labels.append("truth")
        save_frame_grid(out / f"{name.replace('/', '_')}.png", views, labels=labels, title=name)
    print()
    methods = args.methods
    print(f"{'case':32}" + "".join(f"{m:>16}" for m in methods))
    for name in dict.fromkeys(r["case"] for r in rows):
        cells = {r["method"]: r for r in rows if r["case"] == name}
        line = "".join(
            f"{cells[m]['error']:>9.3f} {cells[m]['seconds']:>5.0f}s" if m in cells else f"{'-':>16}" for m in methods
        )
        best = min(cells.values(), key=lambda r: r["error"])["method"]
        print(f"{name:32}{line}   best: {best}")
    print("\nerror = mean |recovered - truth| over hidden pixels, 0-255; time in seconds")


if __name__ == "__main__":
    main()
