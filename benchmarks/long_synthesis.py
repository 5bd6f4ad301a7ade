"""Long synthesis from a trained run: is the motion still there, and stable, after many frames?

Prints the motion energy (mean |x_t - x_{t-1}| on 0-255) of the observed clip and of
each quarter of a long synthesis, their ratios, and writes a frame grid.

    python benchmarks/long_synthesis.py runs/fire --frames 240 --num 3 --out benchmarks/out/fire_long.png
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from dyngen.evaluation.metrics import motion_energy
from dyngen.io.grid import save_frame_grid
from dyngen.io.video import to_uint8
from dyngen.runs.checkpoint import load_trained
from dyngen.tasks.synthesize import synthesize_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--num", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/out/long_synthesis.png")
    args = ap.parse_args()

    trained = load_trained(args.run)
    observed = trained.observed_frames()[0].numpy()
    synth = to_uint8(synthesize_run(trained, frames=args.frames, num=args.num, seed=args.seed))
    obs_me = motion_energy(observed)
    obs_last = motion_energy(observed[-len(observed) // 4 :])
    rows = []
    for k, v in enumerate(synth):
        q = len(v) // 4
        quarters = [motion_energy(v[i * q : (i + 1) * q + 1]) for i in range(4)]
        rows.append({"sample": k, "quarters": [round(x, 2) for x in quarters],
                     "last_quarter_ratio": round(quarters[-1] / obs_last, 3),
                     "drift": round(quarters[-1] / quarters[0], 3)})  # fmt: skip
    print(f"observed motion energy {obs_me:.2f} (last quarter {obs_last:.2f}), {len(observed)} frames")
    for r in rows:
        print(json.dumps(r))
    mean_ratio = np.mean([r["last_quarter_ratio"] for r in rows])
    print(f"mean last-quarter ratio synthesized/observed: {mean_ratio:.3f} (target 0.5..2)")
    grid = save_frame_grid(
        args.out, [observed, *synth], labels=["observed"] + [f"sample {k}" for k in range(args.num)], columns=10
    )
    print(f"grid: {grid}")


if __name__ == "__main__":
    main()
