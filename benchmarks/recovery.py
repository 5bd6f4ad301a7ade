"""Recovery from incomplete data: every method on the reproduction set, one table.

Cases (first 70 frames of each clip, masks from ../shared/data/recovery/masks):

- fountain.avi with fountain_missing_frames.mat and fountain_region.mat (the paper's);
- each clip in textures/ with flag_missing_frames.mat and ocean_region.mat
  (``--all-masks``: with all four ocean and flag masks).

Prints case x method with the recovery error (mean |recovered - truth| over hidden
pixels, 0-255), hidden PSNR and wall time, and saves comparison grids.

A model's run directory is named by its case and recipe (the model and training settings, the blend, the
backward epochs), so a second benchmark of the same recipe reuses the trained runs (continuing one stopped
short of its epochs) and only makes the fills again: ``--blend`` and ``--residual`` can be compared on the same
training.

    python benchmarks/recovery.py                       # 64x64, CPU preset, every method
    python benchmarks/recovery.py --methods interp lds  # baselines only (fast)
    python benchmarks/recovery.py --size 150 --preset paper-recovery --device cuda   # the paper's setting
    python benchmarks/recovery.py --methods warp interp                 # the warping emission (dg --emission warp)
    python benchmarks/recovery.py --methods warp --set warp_input=trackable   # a model or training setting
    python benchmarks/recovery.py --methods warp --both-ways --blend cv  # blended with the classic fills by CV
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

from harness import DATA, Results, budget

from dyngen.evaluation.recovery import hidden_metrics
from dyngen.io.grid import save_frame_grid
from dyngen.io.masks import load_mask, occluded_view
from dyngen.io.video import read_video, to_tensor, to_uint8
from dyngen.presets import parse_overrides, resolve_config
from dyngen.tasks.recover import BLENDS, HIDDEN_FRAMES, METHODS, MODELS, RESIDUALS, recover


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
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=[*METHODS, "warp"],
                    help="methods; warp is dg with the warping emission")  # fmt: skip
    ap.add_argument("--preset", default="cpu-recovery")
    ap.add_argument("--epochs", type=int, default=None, help="dg epochs (default: the preset's)")
    ap.add_argument("--minutes", type=float, default=20.0, help="dg training budget per case")
    ap.add_argument("--cases", nargs="*", default=None, help="substrings selecting cases (default: all)")
    ap.add_argument("--all-masks", action="store_true")
    ap.add_argument("--residual", default="none", choices=RESIDUALS, help="dg/lds: correct G by this fill of x - G")
    ap.add_argument("--hidden-frames", default="chain", choices=HIDDEN_FRAMES, help="dg: states of hidden frames")
    ap.add_argument("--both-ways", action="store_true", help="dg/warp: learn forwards and backwards, blend the fills")
    ap.add_argument("--backward-epochs", type=int, default=None,
                    help="both ways: the backward run starts from the forward one's weights, this long")  # fmt: skip
    ap.add_argument("--blend", default="none", choices=BLENDS,
                    help="cv: blend each fill with the classic ones by cross-validation on visible pixels")  # fmt: skip
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model or training setting")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="benchmarks/out/recovery")
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"the reproduction clips are not at {DATA}")
    out = Path(args.out)
    overrides = {**({"epochs": args.epochs} if args.epochs else {}), **parse_overrides(args.set)}
    cfg = resolve_config(args.preset, size=args.size, frames=args.frames, overrides=overrides)
    results = Results(out / "results.jsonl")
    for name, clip, mask_path in cases(args.all_masks):
        if args.cases and not any(c in name for c in args.cases):
            continue
        video = read_video(clip, size=args.size, frames=args.frames)
        missing = load_mask(mask_path, frames=args.frames, size=args.size)
        views, labels = [occluded_view(video, missing)], ["input"]
        for method in args.methods:
            stop = threading.Event()
            model = replace(cfg.model, emission="warp") if method == "warp" else cfg.model
            recipe = [model.to_dict(), cfg.train.to_dict(), args.blend, args.backward_epochs]
            digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
            run_dir = out / "runs" / f"{name.replace('/', '_')}_{method}_{digest}"
            res = recover(
                to_tensor(video), missing, method="dg" if method == "warp" else method, run_dir=run_dir,
                model_config=model,
                train_config=cfg.train, device=args.device, callback=budget(args.minutes, stop), stop=stop,
                residual=args.residual if method in MODELS else "none",
                hidden_frames=args.hidden_frames if method in ("dg", "warp") else "chain",
                both_ways=args.both_ways and method in ("dg", "warp"), blend=args.blend,
                backward_epochs=args.backward_epochs if args.both_ways and method in ("dg", "warp") else None,
            )  # fmt: skip
            recovered = to_uint8(res.recovered)
            m = hidden_metrics(to_tensor(recovered), to_tensor(video), missing)  # the 8-bit output, as written
            results.add({"case": name, "method": method, "error": round(m["error"], 3), "psnr": round(m["psnr"], 2),
                         "seconds": round(res.seconds, 1), **res.info})  # fmt: skip
            views.append(recovered)
            labels.append(f"{method} {m['error']:.2f}")
        views.append(video)
        labels.append("truth")
        save_frame_grid(out / f"{name.replace('/', '_')}.png", views, labels=labels, title=name)
    rows = results.records
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
