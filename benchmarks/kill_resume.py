"""Crash safety: SIGKILL ``dyngen train`` at random moments, resume it, and compare with an uninterrupted run.

Each trial starts ``python -m dyngen.cli train`` on a tiny clip (checkpoint every
epoch), kills it with SIGKILL after a random (seeded) delay, then continues it
the way a user would: ``dyngen train --out RUN --resume`` when the run exists,
or the original command again when the kill came before the run was created.
The trial survives when the final checkpoint's tensors are bit-identical to an
uninterrupted run's and the metrics (without wall-clock times) are equal.

Usage::

    python benchmarks/kill_resume.py [--kills 20] [--epochs 100] [--seed 0] [--keep DIR]

It prints one line per trial (when it was killed, what the kill left behind)
and the count of kills survived with the identical result.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TINY = ["--size", "16", "--frames", "12", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
        "--max-width", "16", "--window", "6", "--langevin-steps", "2", "--learn-steps", "1",
        "--checkpoint-every", "1", "--preview-every", "0", "--quiet"]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def train_cmd(video: Path, run: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "dyngen.cli", "train", str(video), "--out", str(run), *TINY, "--epochs", str(epochs)]


def resume_cmd(run: Path) -> list[str]:
    return [sys.executable, "-m", "dyngen.cli", "train", "--out", str(run), "--resume", "--quiet"]


def run_to_end(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)


def final_state(run: Path) -> tuple[dict, dict, list]:
    """``(tensors, metadata without wall-clock, metrics without wall-clock)`` of a finished run."""
    from dyngen.runs.directory import Run

    tensors, meta = Run(run).load_checkpoint()
    meta.pop("elapsed", None)
    metrics = [{k: v for k, v in r.items() if k != "elapsed"} for r in Run(run).read_metrics()]
    return tensors, meta, metrics


def differences(a: tuple[dict, dict, list], b: tuple[dict, dict, list]) -> list[str]:
    """What differs between two final states (empty when bit-identical)."""
    import torch

    ta, ma, ra = a
    tb, mb, rb = b
    out = [f"keys {sorted(set(ta) ^ set(tb))}"] if set(ta) != set(tb) else []
    out += [f"tensor {k}" for k in sorted(set(ta) & set(tb)) if not torch.equal(ta[k], tb[k])]
    if ma != mb:
        out.append(f"metadata {ma} != {mb}")
    if ra != rb:
        out.append(f"metrics ({len(ra)} vs {len(rb)} records)")
    return out


@dataclass
class Reference:
    state: tuple[dict, dict, list]
    created_s: float  # when the run directory appeared
    total_s: float  # when the process ended


def reference_run(video: Path, run: Path, epochs: int) -> Reference:
    """An uninterrupted run, timed: when its run directory appeared and when it ended."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(train_cmd(video, run, epochs), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    created = None
    while proc.poll() is None:
        if created is None and run.exists():
            created = time.perf_counter() - t0
        time.sleep(0.01)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"reference run failed ({proc.returncode}): {proc.stderr.read().decode()}")
    return Reference(final_state(run), created or total, total)


@dataclass
class Trial:
    delays: list[float]  # seconds from each process's start to its signal
    phases: list[str]  # what each signal interrupted: "startup", "before the first checkpoint", "checkpoint at epoch N"
    leftovers: list[str]  # temporary files the signals left behind
    returncodes: list[int]  # of the interrupted processes (negative: killed by that signal)
    stderr: str  # of the interrupted processes
    diffs: list[str]  # what differs from the reference; empty when bit-identical

    @property
    def killed(self) -> int:
        return len(self.delays)

    @property
    def survived(self) -> bool:
        return not self.diffs


def after_delay(delay: float) -> Callable[[subprocess.Popen, Path], None]:
    """A kill moment: ``delay`` seconds after the start."""

    def wait(proc: subprocess.Popen, run: Path) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=delay)

    return wait


def after_epoch(epoch: int, delay: float) -> Callable[[subprocess.Popen, Path], None]:
    """A kill moment: ``delay`` seconds after ``epoch`` epochs are logged."""

    def wait(proc: subprocess.Popen, run: Path) -> None:
        metrics = run / "metrics.jsonl"
        while proc.poll() is None and not (metrics.exists() and metrics.read_text().count("\n") >= epoch):
            time.sleep(0.005)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=delay)

    return wait


def _phase(run: Path) -> str:
    from dyngen.runs.directory import Run

    if not run.exists():
        return "startup"
    if not (run / "checkpoint.safetensors").exists():
        return "before the first checkpoint"
    return f"checkpoint at epoch {Run(run).load_checkpoint()[1]['epoch']}"


def kill_and_resume(
    video: Path,
    run: Path,
    epochs: int,
    reference: tuple[dict, dict, list],
    waits: list[Callable[[subprocess.Popen, Path], None]],
    signals: list[int] | None = None,
) -> Trial:
    """Train, send ``signals[0]`` (default SIGKILL) when ``waits[0](proc, run)`` returns, continue (and signal
    again at ``waits[1]``, ...), continue to the end, and compare the result with ``reference``.

    A process is continued as a user would: ``--resume`` when the run has its config, else the
    original command again. A process that ends before its moment is not signalled.
    """
    trial = Trial([], [], [], [], "", [])
    for i in range(len(waits) + 1):
        cmd = resume_cmd(run) if (run / "config.json").exists() else train_cmd(video, run, epochs)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if i < len(waits):
            waits[i](proc, run)
        if i < len(waits) and proc.poll() is None:
            trial.delays.append(time.perf_counter() - t0)
            proc.send_signal(signals[i] if signals else signal.SIGKILL)
            trial.stderr += proc.communicate()[1].decode()
            trial.returncodes.append(proc.returncode)
            trial.phases.append(_phase(run))
            trial.leftovers += sorted(str(p.relative_to(run)) for p in run.rglob(".*.tmp-*")) if run.exists() else []
            continue
        err = proc.communicate()[1].decode()
        if proc.returncode != 0:
            trial.diffs.append(f"{' '.join(cmd[3:])} failed ({proc.returncode}): {err.strip()}")
            return trial
        break
    trial.diffs += differences(reference, final_state(run))
    stale = list(run.rglob(".*.tmp-*"))
    if stale:
        trial.diffs.append(f"temporary files left: {stale}")
    return trial


def make_clip(path: Path) -> Path:
    from dyngen.io.procedural import ripples
    from dyngen.io.video import write_video

    return write_video(path, ripples(12, 16, seed=2))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--kills",
        type=int,
        default=20,
        help="trials that end in a kill (a trial whose run ends first is counted apart and another is drawn)",
    )
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temporary one)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        video = make_clip(work / "clip.npy")
        ref = reference_run(video, work / "reference", a.epochs)
        print(
            f"reference: {a.epochs} epochs, run directory after {ref.created_s:.2f} s, done after {ref.total_s:.2f} s"
        )
        rng = np.random.default_rng(a.seed)
        trials = []
        i = 0
        while sum(t.killed for t in trials) < a.kills and i < 3 * a.kills:
            delay = float(rng.uniform(0.8 * ref.created_s, ref.total_s))  # some kills while the run is made
            t = kill_and_resume(video, work / f"trial{i:02d}", a.epochs, ref.state, [after_delay(delay)])
            trials.append(t)
            verdict = "identical" if t.survived else "DIFFERENT: " + "; ".join(t.diffs)
            what = f"killed at {t.delays[0]:5.2f} s ({t.phases[0]})" if t.killed else f"finished before {delay:.2f} s"
            left = f", left {', '.join(t.leftovers)}" if t.leftovers else ""
            print(f"trial {i:2d}: {what}{left}; {verdict}", flush=True)
            i += 1
        killed = [t for t in trials if t.killed]
        ok = sum(t.survived for t in killed)
        print(f"survived {ok} of {len(killed)} kills with a bit-identical result ({len(trials)} trials)")
        return 0 if all(t.survived for t in trials) else 1


if __name__ == "__main__":
    sys.exit(main())
