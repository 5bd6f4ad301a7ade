"""``dyngen interpolate``: videos along a line between two appearances, with the same motion in every row."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyngen.cli import HelpFormatter, add_common, add_noise_option, emit, progress_bar
from dyngen.cli.encode import add_encode_options, encode_config
from dyngen.cli.options import FRAME_RATE, FRAMES, ROWS, add_scale_options, deprecated, number, path, scaling


def command(args: argparse.Namespace) -> int:
    from dyngen.device import resolve_device
    from dyngen.io.grid import save_frame_grid, stack_rows
    from dyngen.io.video import check_video_output, to_uint8, write_video
    from dyngen.runs.checkpoint import load_trained
    from dyngen.tasks.interpolate import interpolate_appearance

    cfg = encode_config(args)
    check_video_output(args.out)
    trained = load_trained(args.run, resolve_device(args.device))
    a, b = args.between
    with progress_bar(args.quiet, "interpolate") as bar:
        result = interpolate_appearance(
            trained, a, b, steps=args.rows, frames=args.frames, seed=args.seed, encode_config=cfg,
            spacing=args.spacing, noise=args.noise, progress=bar,
        )  # fmt: skip
    rows = list(to_uint8(result.videos))
    out = Path(args.out)
    video = write_video(out, stack_rows(rows), fps=args.fps, **scaling(args))
    png = out.with_suffix(".png") if out.suffix else out.with_name(out.name + ".png")
    labels = [f"rho={r:.2f}" for r in result.rhos]
    grid = save_frame_grid(png, rows, labels=labels, title=f"{result.labels[0]} -> {result.labels[1]}")
    summary = {"video": str(video), "grid": str(grid), "rhos": result.rhos, "frames": args.frames,
               "between": list(result.labels)}  # fmt: skip
    emit(args, summary, [f"wrote {video} (rho down the rows)", f"grid: {grid}"])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate",
        help="interpolate between two appearances of a run trained on many videos",
        description="Render a_rho = (1 - rho) a_A + rho a_B for --rows values of rho in [0, 1] (spaced so the "
        "rows are equally far apart, or uniformly: --spacing), every row with "
        "the same s_0 ~ N(0, I) and noise (from --seed), into one video with rho down the rows, and a PNG grid "
        "(time across). A and B are training videos (name or index), 'random', video files outside the "
        "training set (encoded with the model frozen) or latents files from 'dyngen encode'.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("run", type=path, help="a run directory trained with appearance vectors (e.g. --preset cpu-action)")
    p.add_argument("--between", nargs=2, required=True, metavar=("A", "B"), help="the two appearances")
    p.add_argument("--rows", type=number(int, ROWS), default=5, help="number of rho values, one row each (>= 2)")
    deprecated(p, "--steps", "--rows", dest="rows", type=number(int, ROWS))  # its name in 0.1
    p.add_argument(
        "--spacing", choices=["even", "uniform"], default="even",
        help="even: rows equally far apart in pixels (a morph; rho is printed per row); uniform: equal steps of rho",
    )  # fmt: skip
    p.add_argument("--frames", type=number(int, FRAMES), default=30, help="frames per video")
    p.add_argument("--out", required=True, type=path, help="the grid video (.mp4, .gif, .npy); the PNG goes beside it")
    p.add_argument("--fps", type=number(float, FRAME_RATE), default=25.0, help="frame rate of the written video")
    add_noise_option(p)
    add_scale_options(p)
    add_encode_options(p, old_steps_flag="--encode-steps")  # --steps counted the rho values here
    add_common(p, memory_hint="try fewer --frames or --rows")
    p.set_defaults(func=command)
