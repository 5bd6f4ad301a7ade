"""Animating a still with the warping emission: does frame 0 stay the still, does it move, does it hold up?

For each texture clip (64x64): train ``cpu-texture`` with ``--emission warp`` on the first ``--frames`` frames
(or reuse the run), take an unseen frame of the clip (``--still``, after the training frames) as the still,
animate it for ``--length`` frames, and measure against the training frames:

- ``frame0``: the largest |frame 0 - still| (0-255); 0 means the still itself;
- ``ratio``: motion energy of the animation / of the training clip (1 is right; the target is 0.5-2);
- ``appear first`` / ``appear last``: the appearance distance of the first and last quarter of the animation to
  the clip (sliced Wasserstein of patches, 0-255), and ``hold`` = last / first (the target is at most 1.5:
  no drift or blur over the animation).

    python benchmarks/animation.py                       # every texture clip, 300 epochs each
    python benchmarks/animation.py --clips fire --epochs 50
    python benchmarks/animation.py --set warp_input=frame   # a model or training setting of the runs
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from harness import DATA, Results, train_or_reuse

from dyngen.evaluation.metrics import appearance_distance, motion_energy
from dyngen.io.grid import save_frame_grid
from dyngen.io.video import read_video, to_tensor, to_uint8
from dyngen.presets import parse_overrides
from dyngen.tasks.animate import animate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="*", default=None, help="substrings selecting texture clips (default: all)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=60, help="training frames")
    ap.add_argument("--still", type=int, default=100, help="the clip's frame animated (unseen in training)")
    ap.add_argument("--length", type=int, default=120, help="frames per animation")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--minutes", type=float, default=None, help="training budget per clip")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="animation seeds")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model or training setting")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="benchmarks/out/animation")
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"the reproduction clips are not at {DATA}")
    out = Path(args.out)
    results = Results(out / "results.jsonl")
    for clip in sorted((DATA / "textures").glob("*.avi")):
        if args.clips and not any(c in clip.stem for c in args.clips):
            continue
        frames = read_video(clip, size=args.size, frames=args.frames)
        still = read_video(clip, size=args.size, frames=1, start=args.still)
        trained = train_or_reuse(out / "runs" / clip.stem, frames[None], [clip.stem], preset="cpu-texture",
                                 overrides={"emission": "warp", **parse_overrides(args.set)}, epochs=args.epochs,
                                 minutes=args.minutes, device=args.device, info={"benchmark": "animation"},
                                 log_every=50)  # fmt: skip
        observed = to_tensor(frames)
        quarter = args.length // 4
        for seed in args.seeds:
            video = to_uint8(animate(trained, still, frames=args.length, seed=seed).videos[0])
            x = to_tensor(video)
            first, last = (appearance_distance(part, observed) for part in (x[:quarter], x[-quarter:]))
            results.add({
                "clip": clip.stem, "seed": seed, "epochs": len(trained.run.read_metrics()),
                "frame0": int(np.abs(video[0].astype(int) - still[0].astype(int)).max()),
                "ratio": round(motion_energy(x) / motion_energy(observed), 3),
                "appear_first": round(first, 3), "appear_last": round(last, 3), "hold": round(last / first, 3),
            })  # fmt: skip
            if seed == args.seeds[0]:
                save_frame_grid(out / f"{clip.stem}.png", [frames, video], labels=["clip", f"animated (seed {seed})"],
                                title=f"{clip.stem}: frame {args.still} animated for {args.length} frames")  # fmt: skip


if __name__ == "__main__":
    main()
