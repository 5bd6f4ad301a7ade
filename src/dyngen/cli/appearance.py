"""``dyngen synthesize`` with appearance vectors: ``--appearance``, ``--motion-from``, ``--grid``, ``--grid-video``.

Not a command of its own: ``dyngen.cli.synthesize`` hands over to ``run`` when any of these options is given.
"""

from __future__ import annotations

import argparse
from typing import Any

from dyngen.cli.options import COUNT, number, path, scaling
from dyngen.errors import UsageError


def add_appearance_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("runs trained on many videos (appearance vectors)")
    g.add_argument(
        "--appearance", default=None,
        help="appearance source: a training video (name or index), 'random' (a ~ N(0, I)), a video outside the "
        "training set (encoded with the model frozen) or a latents file from 'dyngen encode'. Motion is new "
        "(--s0 random) unless --s0 inferred (s_0 of --video) or --motion-from is given",
    )  # fmt: skip
    g.add_argument(
        "--motion-from", default=None,
        help="take s_0 and the noise from this source (a training video, a video file or a latents file); "
        "the noise past its length is fresh",
    )  # fmt: skip
    g.add_argument("--grid", default=None, type=path, help="write the appearance figure here (.png): a column per "
                   "training video, rows observed / sample 1 / sample 2 (new motion with its appearance)")  # fmt: skip
    g.add_argument("--grid-video", default=None, type=path, help="the same grid as a video (.mp4, .gif)")
    g.add_argument("--grid-samples", type=number(int, COUNT), default=2, help="sample rows in the grid")


def wanted(args: argparse.Namespace) -> bool:
    """Whether any appearance option was given."""
    return any(getattr(args, k, None) is not None for k in ("appearance", "motion_from", "grid", "grid_video"))


def run(args: argparse.Namespace, trained: Any) -> tuple[dict, list[str]]:
    """Write what the appearance options ask for; returns the summary and the lines to print."""
    import torch

    from dyngen.io.mosaic import mosaic, save_mosaic_png
    from dyngen.io.video import to_uint8, write_video, write_videos
    from dyngen.runs.checkpoint import Trained
    from dyngen.tasks import appearance as tasks

    if not isinstance(trained, Trained):
        raise UsageError(
            "--appearance, --motion-from and --grid need a dynamic-generator run trained with appearance vectors; "
            f"{args.run} is a '{trained.config.get('model_type')}' run"
        )
    tasks.require_appearance(trained, "--appearance, --motion-from and --grid")
    if args.compare:
        raise UsageError("--compare works without --appearance/--motion-from/--grid; use --grid for the figure")
    if not args.out and not (args.grid or args.grid_video):
        raise UsageError("--out is required with --appearance and --motion-from")
    summary: dict = {"frames": args.frames}
    lines: list[str] = []
    if args.out:
        device = next(trained.model.parameters()).device
        g = torch.Generator(device).manual_seed(args.seed)
        key = args.video if args.appearance is None else args.appearance
        a, label = tasks.resolve_appearance(trained, key, generator=g)
        start = args.start or ("inferred" if args.appearance is None else "random")
        motion = tasks.read_source(trained, args.motion_from, seed=args.seed) if args.motion_from else None
        s0 = trained.chains.s0[trained.video_index(args.video)] if start == "inferred" and motion is None else None
        videos = tasks.synthesize_appearance(trained, a, frames=args.frames, num=args.num, seed=args.seed, s0=s0,
                                       motion=motion, noise_scale=args.noise_scale, noise=args.noise)  # fmt: skip
        paths = write_videos(args.out, to_uint8(videos), fps=args.fps, **scaling(args))
        how = f"motion from {motion.label}" if motion else f"s_0 {'of ' + args.video if s0 is not None else 'new'}"
        summary.update(outputs=[str(p) for p in paths], num=args.num, appearance=label,
                       motion=motion.label if motion else ("inferred" if s0 is not None else "new"))  # fmt: skip
        lines += [f"wrote {p} (appearance {label}, {how})" for p in paths]
    if args.grid or args.grid_video:
        rows = tasks.appearance_grid(trained, frames=args.frames, samples=args.grid_samples, seed=args.seed,
                                     noise=args.noise)  # fmt: skip
        if args.grid:
            labels = ["observed"] + [f"sample {k + 1}" for k in range(args.grid_samples)]
            png = save_mosaic_png(args.grid, rows, row_labels=labels, column_labels=trained.names,
                                  title="each column: a training video's appearance with new motion")  # fmt: skip
            summary["grid"] = str(png)
            lines.append(f"grid: {png}")
        if args.grid_video:
            video = write_video(args.grid_video, mosaic(rows), fps=args.fps, **scaling(args))
            summary["grid_video"] = str(video)
            lines.append(f"grid video: {video}")
    return summary, lines
