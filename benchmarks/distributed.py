"""Data-parallel training: seconds per epoch with 1 and with N processes, in the same run, on the same videos.

Trains the animal clips (``cpu-action`` preset: 30 frames at 64x64) for a few epochs with ``dyngen train``,
once as one process and once under ``torchrun --nproc-per-node N`` (gloo on CPUs, NCCL on GPUs), and compares:

- seconds per epoch (the median of the epochs after the first, from each run's metrics.jsonl);
- the training PSNR of each epoch, and the largest relative difference between the two checkpoints' weights.

The two runs compute the same epochs up to float rounding (the sums over ranks are taken in another order). In
the first epochs Adam turns rounding-level differences in near-zero gradients into whole steps of the learning
rate, so the weights drift apart by as much as two one-process runs that differ only in rounding do (measured:
``fast_deconv`` on against off gives the same size of difference after one epoch, docs/performance.md), while the
PSNR curves agree; tests/test_distributed.py checks 1e-4 on a small case where they stay close.

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

from harness import DATA
from safetensors.torch import load_file


def train(out: Path, args: argparse.Namespace, processes: int) -> list[dict]:
    """The metrics records of a run with ``processes`` processes."""
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
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def seconds(records: list[dict]) -> float:
    """The median seconds per epoch after the first."""
    elapsed = [r["elapsed"] for r in records]
    steps = [b - a for a, b in zip([0.0, *elapsed], elapsed)]
    return statistics.median(steps[1:] or steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA / "actions" / "animal_running"), help="a folder of training videos")
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
        diff = max(
            float((a[k].double() - b[k].double()).abs().max() / a[k].double().abs().max().clamp_min(1e-30))
            for k in a
            if k.startswith("model.") and a[k].is_floating_point()
        )
    s1, sn = seconds(one), seconds(many)
    print(f"{args.preset} on {args.data}, {args.epochs} epochs, {args.threads} threads in all, device {args.device}")
    print(f"1 process:   {s1:.2f} s/epoch")
    print(f"{args.processes} processes: {sn:.2f} s/epoch   (ratio {sn / s1:.2f}, speed-up {s1 / sn:.2f}x)")
    for label, records in (("1 process:  ", one), (f"{args.processes} processes:", many)):
        print(f"training PSNR, {label} " + " ".join(f"{r['psnr']:.3f}" for r in records) + " dB")
    print(f"largest relative difference of a weight tensor: {diff:.2e} (rounding amplified by Adam; see above)")


if __name__ == "__main__":
    main()
