"""Data-parallel training: seconds per epoch with 1 and with N processes, in the same run, on the same videos.

Trains the animal clips (``cpu-action`` preset: 30 frames at 64x64) for a few epochs with ``dyngen train``,
once as one process and once under ``torchrun --nproc-per-node N`` (gloo on CPUs, NCCL on GPUs), and compares:

- seconds per epoch (the median of the epochs after the first, from each run's metrics.jsonl);
- the largest difference between the two checkpoints' weights and latents (the runs should be one model).

Threads are split fairly: one process gets all of --threads, each of the N processes gets --threads / N.

    python benchmarks/distributed.py --epochs 6                        # 1 vs 2 processes on 2 cores
    python benchmarks/distributed.py --epochs 6 --processes 4 --threads 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from safetensors.torch import load_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "actions" / "animal_running"


def train(out: Path, args: argparse.Namespace, processes: int) -> list[float]:
    """Seconds of every epoch of a run with ``processes`` processes."""
    threads = max(args.threads // processes, 1)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    launch = [sys.executable, "-m", "dyngen"]
    if processes > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
                  "-m", "dyngen"]  # fmt: skip
    epochs = str(args.epochs)
    cmd = [*launch, "train", args.data, "--out", str(out), "--preset", args.preset, "--epochs", epochs,
           "--checkpoint-every", epochs, "--preview-every", "0", "--device", args.device, "--quiet"]  # fmt: skip
    subprocess.run(cmd, env=env, check=True)
    elapsed = [json.loads(line)["elapsed"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [b - a for a, b in zip([0.0, *elapsed], elapsed)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="a folder of training videos")
    ap.add_argument("--preset", default="cpu-action")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads in all, shared by the processes")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = train(Path(tmp) / "one", args, 1)
        many = train(Path(tmp) / "many", args, args.processes)
        a, b = (load_file(Path(tmp) / name / "checkpoint.safetensors") for name in ("one", "many"))
        diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if not k.startswith("rng"))
    s1, sn = statistics.median(one[1:] or one), statistics.median(many[1:] or many)
    print(f"{args.preset} on {args.data}, {args.epochs} epochs, {args.threads} threads in all, device {args.device}")
    print(f"1 process:   {s1:.2f} s/epoch")
    print(f"{args.processes} processes: {sn:.2f} s/epoch   (ratio {sn / s1:.2f}, speed-up {s1 / sn:.2f}x)")
    print(f"largest difference between the two models (weights, latents, Adam moments): {diff:.2e}")


if __name__ == "__main__":
    main()
