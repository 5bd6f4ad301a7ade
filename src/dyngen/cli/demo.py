"""``dyngen demo``: the embedded default, end to end, with nothing to download.

It generates a dynamic texture procedurally (``dyngen.io.procedural``), trains
the ``demo`` preset on it (a few minutes on 2 CPU cores), synthesizes a video
4x longer than the training clip, and writes everything under ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dyngen.cli import HelpFormatter, add_common, emit
from dyngen.cli.options import path
from dyngen.cli.train import add_train_options, run_training, undertrained


def command(args: argparse.Namespace) -> int:
    from dyngen.cli.synthesize import write_comparison
    from dyngen.cli.train import resolve
    from dyngen.io.procedural import ripples
    from dyngen.io.video import to_uint8, write_video
    from dyngen.tasks.synthesize import synthesize_run

    out = Path(args.out)
    cfg = resolve(args)
    t0 = time.perf_counter()
    observed = ripples(cfg.data["frames"], cfg.data["size"], seed=args.seed)
    args.out = out / "run"
    trained = run_training(args, observed[None], ["ripples"], data_info={"source": "procedural ripples"}, desc="demo")
    t = observed.shape[0]
    synth = to_uint8(synthesize_run(trained, frames=4 * t, num=1, seed=args.seed)[0])
    paths = {
        "observed": write_video(out / "observed.mp4", observed),
        "synthesized": write_video(out / "synthesized.mp4", synth),
    }
    cmp = write_comparison(out / "side_by_side.mp4", observed, [synth], labels=["observed", "synthesized"], fps=25)
    paths["side_by_side"], paths["grid"] = cmp
    paths["loss_curve"] = trained.run.path / "loss.png"
    paths["run"] = trained.run.path
    summary = {k: str(v) for k, v in paths.items()}
    summary.update(trained.run.read_summary())
    summary["total_seconds"] = round(time.perf_counter() - t0, 1)
    lines = [f"{k:>12}: {v}" for k, v in paths.items()]
    lines.append(f"training reconstruction PSNR {summary['psnr']:.2f} dB in {summary['train_seconds']:.0f} s")
    emit(args, summary, ["demo written:", *lines], warnings=[undertrained(trained.run.path)])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train and synthesize on a built-in procedural texture (no download)",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument("--out", default="dyngen-demo", type=path, help="output folder (must be new or empty)")
    add_train_options(p, default_preset="demo")
    add_common(p)
    p.set_defaults(func=command)
