"""``dyngen synthesize``: new videos from a trained run, as long and as many as asked."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyngen.cli import HelpFormatter, add_common, add_noise_option, appearance, emit
from dyngen.cli.options import (
    COUNT,
    FRAME_RATE,
    FRAMES,
    NOISE_SCALE,
    add_scale_options,
    deprecated,
    number,
    path,
    scaling,
)
from dyngen.errors import UsageError


def write_comparison(path: str | Path, observed, videos, *, labels: list[str], fps: float, **scaling) -> list[Path]:
    """A side-by-side video at ``path`` and its frame grid at ``path`` with ``.png``."""
    from dyngen.io.grid import save_frame_grid, side_by_side
    from dyngen.io.video import write_video

    p = Path(path)
    out = [write_video(p, side_by_side([observed, *videos]), fps=fps, **scaling)]
    grid = p.with_suffix(".png") if p.suffix else p.with_name(p.name + ".png")
    out.append(save_frame_grid(grid, [observed, *videos], labels=labels))
    return out


def command(args: argparse.Namespace) -> int:
    from dyngen.cli.train import undertrained
    from dyngen.device import resolve_device
    from dyngen.io.video import check_video_output, to_uint8, write_video, write_videos
    from dyngen.runs.checkpoint import load
    from dyngen.tasks.synthesize import synthesize_run

    for out in (args.out, args.compare, args.grid_video, args.flow):  # before any work
        if out is not None:
            check_video_output(out)
    if args.flow and args.num != 1:
        raise UsageError("--flow shows one synthesis: use --num 1")
    trained = load(args.run, resolve_device(args.device))  # a dynamic generator's or an LDS run
    if args.flow:
        from dyngen.tasks.motion import require_warping

        require_warping(trained)
    if appearance.wanted(args):  # --appearance, --motion-from, --grid, --grid-video
        if args.loop:
            raise UsageError("--loop makes plain syntheses; drop --appearance, --motion-from, --grid and --grid-video")
        emit(args, *appearance.run(args, trained))
        return 0
    if args.out is None:
        raise UsageError("--out is required (--grid and --grid-video alone need a run with appearance vectors)")
    videos = synthesize_run(
        trained, frames=args.frames, num=args.num, seed=args.seed, start=args.start or "inferred", video=args.video,
        noise_scale=args.noise_scale, noise=args.noise, loop=args.loop,
    )  # fmt: skip
    frames = to_uint8(videos)
    if args.compare:  # read (and check) the training video before anything is written
        observed = trained.observed_frames()[trained.video_index(args.video)].numpy()
    paths = write_videos(args.out, frames, fps=args.fps, **scaling(args))
    lines = [f"wrote {p}" for p in paths]
    summary: dict = {"outputs": [str(p) for p in paths], "frames": args.frames, "num": args.num}
    if args.compare:
        cmp = write_comparison(
            args.compare, observed, list(frames), labels=["observed"] + [f"sample {k}" for k in range(args.num)],
            fps=args.fps, **scaling(args),
        )  # fmt: skip
        lines += [f"comparison: {p}" for p in cmp]
        summary["comparison"] = [str(p) for p in cmp]
    if args.flow:
        from dyngen.io.grid import flow_to_rgb
        from dyngen.tasks.motion import motion_parts

        how = {"start": args.start or "inferred", "noise": args.noise, "noise_scale": args.noise_scale}
        parts = motion_parts(trained, video=args.video, frames=args.frames, seed=args.seed, **how)
        path = write_video(args.flow, flow_to_rgb(parts.displacement[0].cpu().numpy()), fps=args.fps)
        summary.update(flow=str(path), intrackability=round(parts.mean_intrackability, 4))
        lines.append(f"displacement fields: {path} (mean intrackability {parts.mean_intrackability:.3f})")
    emit(args, summary, lines, warnings=[undertrained(trained.run.path)])
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synthesize",
        help="synthesize new videos from a trained run",
        description="Roll the learned transition forward with fresh noise and render every frame. "
        "With --num K > 1 a video format writes OUT_stem_k.ext and .npy writes one (K, T, H, W, 3) array.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("run", type=path, help="a run directory made by 'dyngen train' (--model dg or lds)")
    p.add_argument("--out", default=None, type=path, help="output: .mp4, .gif, .npy, or a folder for PNG frames "
                   "(required unless --grid or --grid-video is given)")  # fmt: skip
    p.add_argument(
        "--frames", type=number(int, FRAMES), required=True, help="frames per synthesized video (any length)"
    )
    p.add_argument("--num", type=number(int, COUNT), default=1, help="number of videos")
    p.add_argument("--s0", dest="start", default=None, choices=["inferred", "random"],
                   help="initial state s_0 (default: inferred, or random with --appearance)")  # fmt: skip
    deprecated(p, "--start", "--s0", dest="start", choices=["inferred", "random"])  # --start is a frame in train
    p.add_argument("--video", default="0", help="training video (name or index) whose s_0 (and appearance) to use")
    p.add_argument("--noise-scale", type=number(float, NOISE_SCALE), default=1.0,
                   help="scale of the fresh noise xi around its mean (1 = the distribution itself)")  # fmt: skip
    add_noise_option(p)
    p.add_argument("--loop", action="store_true", help="seamless loops: the last frame flows into the first "
                   "(the chain is bridged back to its start; docs/loops.md)")  # fmt: skip
    p.add_argument("--fps", type=number(float, FRAME_RATE), default=25.0, help="frame rate of the written video")
    p.add_argument(
        "--compare", default=None, type=path, help="also write observed | samples side by side here (+ a .png grid)"
    )
    p.add_argument(
        "--flow", default=None, type=path,
        help="warp runs: also write the synthesis's displacement fields here as a colour video (hue = direction, "
        "saturation = length) and print its intrackability",
    )  # fmt: skip
    appearance.add_appearance_options(p)
    add_scale_options(p)
    add_common(p)
    p.set_defaults(func=command)
