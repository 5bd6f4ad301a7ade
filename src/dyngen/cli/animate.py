"""``dyngen animate``: bring still images to life with a model trained on many videos."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyngen.cli import HelpFormatter, add_common, add_noise_option, emit, progress_bar
from dyngen.cli.encode import add_encode_options, encode_config
from dyngen.cli.options import (
    FRAME_INDEX,
    FRAME_RATE,
    FRAMES,
    add_crop_option,
    add_scale_options,
    deprecated,
    number,
    path,
    scaling,
)


def read_stills(paths: list[str], size: tuple[int, int], *, crop: str, frame: int | None = None):
    """The images as uint8 ``(B, H, W, 3)`` at ``size``, another aspect ratio brought there by ``crop``
    (``dyngen.io.video.CROPS``); a video only with ``frame`` (which frame is the still)."""
    import numpy as np

    from dyngen.io.video import read_still

    return np.stack([read_still(p, frame=frame, size=size, crop=crop)[0] for p in paths])


def command(args: argparse.Namespace) -> int:
    from dyngen.device import resolve_device
    from dyngen.io.grid import save_frame_grid
    from dyngen.io.mosaic import mosaic
    from dyngen.io.resize import recorded_crop
    from dyngen.io.video import check_video_output, to_uint8, write_video, write_videos
    from dyngen.runs.checkpoint import load_trained
    from dyngen.tasks.animate import animate

    cfg = encode_config(args)
    check_video_output(args.out)  # before the inference, not after it
    trained = load_trained(args.run, resolve_device(args.device))
    mc = trained.model.config
    crop = args.crop or recorded_crop(trained.config)  # by default as the training frames were
    stills = read_stills(args.images, (mc.height, mc.width), crop=crop, frame=args.still_frame)
    with progress_bar(args.quiet, "animate") as bar:
        result = animate(trained, stills, frames=args.frames, seed=args.seed, config=cfg, noise=args.noise,
                         progress=bar)  # fmt: skip
    videos = list(to_uint8(result.videos))
    out = Path(args.out)
    written = write_videos(out, videos, fps=args.fps, **scaling(args))
    names = [Path(p).stem for p in args.images]
    stills_row = [s[None] for s in stills]
    grid_video = None
    if len(videos) > 1:  # stills on top, animations below, one column per image
        grid_video = write_video(out.with_name(out.stem + "_grid.mp4"), mosaic([stills_row, videos]), fps=args.fps,
                                 **scaling(args))  # fmt: skip
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
        "A run with --emission warp makes the still itself frame 1 and moves it; a texture run of it (no "
        "appearance vectors) animates a still too. Images of another aspect ratio than the model's are brought "
        "to its size as its training frames were (--crop).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("run", help="a run directory trained with appearance vectors (e.g. --preset cpu-action), or "
                   "with --emission warp")  # fmt: skip
    p.add_argument("images", nargs="+", type=path, help="still images (.png, .jpg, ...), or videos with --still-frame")
    p.add_argument("--still-frame", type=number(int, FRAME_INDEX), default=None,
                   help="take this frame of each input as its still (needed for a video of many frames)")  # fmt: skip
    p.add_argument("--frames", type=number(int, FRAMES), default=60, help="frames per animation")
    p.add_argument("--out", required=True, type=path,
                   help="output video (.mp4, .gif, .npy); several images: OUT_k.ext")  # fmt: skip
    p.add_argument("--fps", type=number(float, FRAME_RATE), default=25.0, help="frame rate of the written video")
    add_crop_option(p, default=None)
    deprecated(p, "--stretch", "--crop none", dest="crop", nargs=0, const="none")  # its meaning in 0.1
    add_noise_option(p)
    add_scale_options(p)
    add_encode_options(p, steps=400)
    add_common(p, memory_hint="try fewer --frames, fewer images or fewer --restarts")
    p.set_defaults(func=command)
