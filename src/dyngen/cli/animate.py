"""``dyngen animate``: bring still images to life with a model trained on many videos."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyngen.cli import HelpFormatter, add_common, add_noise_option, emit
from dyngen.cli.encode import add_encode_options, encode_config


def read_stills(paths: list[str], size: tuple[int, int], *, stretch: bool):
    """The images as uint8 ``(B, H, W, 3)`` at ``size``; another aspect ratio is refused unless ``stretch``."""
    import numpy as np

    from dyngen.io.video import read_video, resize
    from dyngen.tasks.animate import check_aspect

    out = []
    for p in paths:
        image = read_video(p, frames=1)
        if not stretch:
            check_aspect(image.shape[1:3], size, p)
        out.append(resize(image, size)[0])
    return np.stack(out)


def command(args: argparse.Namespace) -> int:
    from dyngen.device import resolve_device
    from dyngen.io.grid import save_frame_grid
    from dyngen.io.mosaic import mosaic
    from dyngen.io.video import to_uint8, write_video, write_videos
    from dyngen.runs.checkpoint import load_trained
    from dyngen.tasks.animate import animate

    cfg = encode_config(args)
    trained = load_trained(args.run, resolve_device(args.device))
    mc = trained.model.config
    stills = read_stills(args.images, (mc.height, mc.width), stretch=args.stretch)
    result = animate(trained, stills, frames=args.frames, seed=args.seed, config=cfg, noise=args.noise)
    videos = list(to_uint8(result.videos))
    out = Path(args.out)
    written = write_videos(out, videos, fps=args.fps)
    names = [Path(p).stem for p in args.images]
    stills_row = [s[None] for s in stills]
    grid_video = None
    if len(videos) > 1:  # stills on top, animations below, one column per image
        grid_video = write_video(out.with_name(out.stem + "_grid.mp4"), mosaic([stills_row, videos]), fps=args.fps)
    png = out.with_name(out.stem + "_grid.png")
    labels = [f"{n} ({p:.1f} dB)" for n, p in zip(names, result.first_frame_psnr)]
    grid = save_frame_grid(png, videos, labels=labels, title="animated stills (first frame: the still's fit)")
    summary: dict = {"outputs": [str(p) for p in written], "grid": str(grid),
                     "first_frame_psnr": dict(zip(names, [round(p, 3) for p in result.first_frame_psnr]))}  # fmt: skip
    lines = [f"wrote {p}" for p in written] + [f"grid: {grid}"]
    if grid_video is not None:
        summary["grid_video"] = str(grid_video)
        lines.append(f"grid video: {grid_video}")
    lines += [f"{n}: first frame fits the still at {p:.2f} dB PSNR" for n, p in zip(names, result.first_frame_psnr)]
    emit(args, summary, lines)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "animate",
        help="animate still images with a run trained on many videos (appearance vectors)",
        description="With the model frozen, infer each still's appearance a, s_0 and xi_1 by annealed Langevin "
        "on a one-frame video (restarts from the nearest training frames; the lowest energy wins), then roll "
        "the transition forward with fresh noise. Frame 1 of each animation is the still's reconstruction. "
        "Images must have the model's aspect ratio (they are resized to its size).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("run", help="a run directory trained with appearance vectors (e.g. --preset cpu-action)")
    p.add_argument("images", nargs="+", help="still images (.png, .jpg, ...) or one-frame videos")
    p.add_argument("--frames", type=int, default=60, help="frames per animation")
    p.add_argument("--out", required=True, help="output video (.mp4, .gif, .npy); several images: OUT_k.ext")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of the written video")
    p.add_argument("--stretch", action="store_true", help="resize images of another aspect ratio anyway")
    add_noise_option(p)
    add_encode_options(p, steps=400)
    add_common(p)
    p.set_defaults(func=command)
