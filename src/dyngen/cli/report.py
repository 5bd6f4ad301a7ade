"""``dyngen report``: a self-contained HTML page of a run (frames, motion over time, training curve, metrics)."""

from __future__ import annotations

import argparse

from dyngen.cli import HelpFormatter, add_common, emit
from dyngen.cli.options import FRAME_INDEX, FRAMES, number, path


def command(args: argparse.Namespace) -> int:
    from dyngen.device import resolve_device
    from dyngen.evaluation.table import format_table, json_safe
    from dyngen.io.resize import recorded_crop
    from dyngen.io.video import read_video
    from dyngen.runs.directory import Run
    from dyngen.tasks.report import build_report

    against = None
    if args.against:
        config = Run.open(args.run).read_config()
        against = read_video(args.against, size=tuple(config["data"]["size"]), frames=args.against_frames,
                             start=args.against_start, crop=recorded_crop(config))  # fmt: skip
    report = build_report(
        args.run, args.out, against=against, lds=args.lds, frames=args.frames, seed=args.seed,
        device=resolve_device(args.device),
    )  # fmt: skip
    lines = [f"report: {report.index}", "", *format_table(report.table, describe=False)]
    emit(args, {"report": str(report.index), "metrics": json_safe(report.table)}, lines)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report of a run (frames, motion, loss curve, metrics)",
        description="Synthesize a long video from a run (and from an LDS run with --lds) and write a self-contained "
        "HTML page: frame grids, an animated side-by-side GIF, motion energy and temporal spectra over time, the "
        "training curve and the metric table with two reference points. Open DIR/index.html in a browser.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("run", type=path, help="a run directory (dyngen train, --model dg or lds)")
    p.add_argument("--out", required=True, type=path, help="the report folder (new, empty, or an earlier report)")
    p.add_argument("--against", default=None, type=path, help="score against this video instead of the training video")
    p.add_argument(
        "--against-frames", type=number(int, FRAMES), default=None, help="frames of --against to use (default: all)"
    )
    p.add_argument("--against-start", type=number(int, FRAME_INDEX), default=0, help="first frame of --against to use")
    p.add_argument("--lds", default=None, type=path, help="an LDS run on the same clip to show beside the run")
    p.add_argument(
        "--frames",
        type=number(int, FRAMES),
        default=None,
        help="frames to synthesize (default: 4x the training length)",
    )
    add_common(p, memory_hint="try fewer --frames")
    p.set_defaults(func=command)
