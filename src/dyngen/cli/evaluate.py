"""``dyngen evaluate``: score a synthesized video against the observed one, beside two reference points."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dyngen.cli import HelpFormatter, add_common, emit
from dyngen.cli.options import FRAME_INDEX, FRAMES, number, parse_size, path
from dyngen.errors import UsageError, VideoError
from dyngen.io.decode import load_npy

REFERENCE_HELP = (
    "Reference points, on the same scale: 'observed vs itself' scores the observed clip's first half against its\n"
    "second half (what a perfect synthesis can hope for), 'static' scores its first frame repeated (a frozen\n"
    "synthesis). With --json, non-finite values (0/0, x/0) are null.\n\nmetrics:\n"
)


class _Formatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """Keep the description's line breaks (one metric per line) and show the defaults."""


MAX_SIDE = 256  # the longest side of the common size, by default
MAX_FRAMES = 600  # frames of each video scored, by default
EVALUATION_BYTES = 32  # RAM per value (frame x pixel x channel) of both videos, measured ~27-30 on the metrics


def _frame_size(path: Path, sample: int) -> tuple[int, int]:
    """The frame size of a video source (one frame is read), a run directory's training video or a 5-D .npy."""
    from dyngen.io.video import read_video
    from dyngen.runs.directory import CONFIG, Run

    if path.is_dir() and (path / CONFIG).is_file():
        h, w = Run.open(path).read_config()["data"]["size"]
        return int(h), int(w)
    if path.suffix.lower() == ".npy" and path.is_file():
        a = load_npy(path)
        if a.ndim == 5:
            return int(a.shape[2]), int(a.shape[3])
    return tuple(read_video(path, frames=1).shape[1:3])  # type: ignore[return-value]


def common_size(a: tuple[int, int], b: tuple[int, int], max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The size both videos are scored at: the smaller one's (by area), its longest side at most ``max_side``."""
    h, w = min(a, b, key=lambda s: s[0] * s[1])
    k = min(1.0, max_side / max(h, w))
    return max(1, round(h * k)), max(1, round(w * k))


def read_synthesized(path: str | Path, sample: int, *, size, frames: int) -> np.ndarray:
    """A synthesized video as uint8 ``(T, H, W, 3)`` at ``size``, its first ``frames`` frames at most; ``sample``
    picks one from a ``(K, T, H, W, 3)`` .npy."""
    from dyngen.io.video import read_video, resize

    p = Path(path)
    if p.suffix.lower() == ".npy" and p.is_file():
        a = load_npy(p)
        if a.ndim == 5:
            if not sample < len(a):
                raise UsageError(f"--sample {sample}: {p} holds {len(a)} videos; allowed: 0..{len(a) - 1}")
            if a.dtype != np.uint8 or a.shape[-1] != 3:
                raise VideoError(f"{p}: expected uint8 (K, T, H, W, 3), got {a.dtype} {tuple(a.shape)}")
            return resize(np.array(a[sample, :frames]), size)  # a writable copy out of the memory map
    video = read_video(p, size=size, frames=None)
    return video[:frames]


def read_observed(path: str | Path, *, size, frames: int | None, start: int, limit: int) -> np.ndarray:
    """The observed video as uint8 ``(T, H, W, 3)`` at ``size``: a video source, or a run directory's training
    video; ``frames`` of them (an error if there are fewer), else all up to ``limit``."""
    from dyngen.io.video import read_video, resize
    from dyngen.runs.directory import CONFIG, Run

    p = Path(path)
    if p.is_dir() and (p / CONFIG).is_file():
        v = Run.open(p).load_data()["frames"][0].numpy()[start:]
        if len(v) == 0 or (frames and len(v) < frames):
            raise UsageError(f"{p}: the run's training video has too few frames for --start {start} --frames {frames}")
        return resize(v[: frames or limit], size)
    if frames:
        return read_video(p, size=size, frames=frames, start=start)
    return read_video(p, size=size, start=start)[:limit]


def command(args: argparse.Namespace) -> int:
    from dyngen.evaluation.table import compare, format_table, json_safe
    from dyngen.resources import check_memory

    synth_path, obs_path = Path(args.synthesized), Path(args.observed)
    synth_hw, obs_hw = _frame_size(synth_path, args.sample), _frame_size(obs_path, args.sample)
    if args.size is None:
        size = common_size(synth_hw, obs_hw)
        how = "the smaller video's size" if size in (synth_hw, obs_hw) else f"scaled to at most {MAX_SIDE} a side"
    else:
        size, how = ((args.size, args.size) if isinstance(args.size, int) else args.size), "--size"
    limit = args.frames or MAX_FRAMES
    synth = read_synthesized(synth_path, args.sample, size=size, frames=limit)
    observed = read_observed(obs_path, size=size, frames=args.frames, start=args.start, limit=limit)
    if len(synth) < 2 or len(observed) < 4:
        raise UsageError(f"need at least 2 synthesized and 4 observed frames, got {len(synth)} and {len(observed)}")
    h, w = size
    check_memory(
        (len(synth) + len(observed)) * h * w * 3 * EVALUATION_BYTES,
        f"scoring {len(synth)} + {len(observed)} frames of {h}x{w}",
        "give a smaller --size or fewer --frames",
    )
    table = compare({"synthesized": synth}, observed, seed=args.seed)

    def described(name: str, hw: tuple[int, int], t: int) -> str:
        resized = "" if hw == (h, w) else f", resized from {hw[0]}x{hw[1]}"
        cut = f", cut to the first {limit} (--frames)" if t == limit and not args.frames else ""
        return f"{name} ({t} frames{cut}, {h}x{w}{resized})"

    lines = [
        f"synthesized: {described(str(args.synthesized), synth_hw, len(synth))}",
        f"observed:    {described(str(args.observed), obs_hw, len(observed))}, motion energy "
        f"{table['synthesized']['motion_energy_observed']:.3f}",
        f"scored at {h}x{w} ({how})",
        "",
    ]
    summary = {
        "synthesized": str(args.synthesized),
        "observed": str(args.observed),
        "frames": {"synthesized": len(synth), "observed": len(observed)},
        "size": [h, w],
        "metrics": table["synthesized"],
        "reference": {k: v for k, v in table.items() if k != "synthesized"},
    }
    emit(args, json_safe(summary), lines, result=format_table(table))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from dyngen.evaluation.metrics import DESCRIPTIONS

    p = sub.add_parser(
        "evaluate",
        help="score a synthesized video against the observed one",
        description="Score a synthesized video against the observed (training) video with pixel metrics.\n"
        + REFERENCE_HELP
        + "\n".join(f"  {k}: {v}" for k, v in DESCRIPTIONS.items()),
        formatter_class=_Formatter,
    )
    p.add_argument(
        "synthesized", type=path, help="the synthesized video (any readable format; .npy may hold (K, T, H, W, 3))"
    )
    p.add_argument("observed", type=path, help="the observed video, or a run directory (its training video)")
    p.add_argument(
        "--size", type=parse_size, default=None,
        help=f"score both videos at S or HxW (default: the smaller one's size, at most {MAX_SIDE} a side)",
    )  # fmt: skip
    p.add_argument("--frames", type=number(int, FRAMES), default=None,
                   help=f"score this many observed frames, and at most this many synthesized ones (default: all, "
                   f"at most {MAX_FRAMES} of each)")  # fmt: skip
    p.add_argument("--start", type=number(int, FRAME_INDEX), default=0, help="first observed frame to use")
    p.add_argument("--sample", type=number(int, FRAME_INDEX), default=0,
                   help="which video of a (K, T, H, W, 3) .npy to score")  # fmt: skip
    add_common(p, device=False, memory_hint="try a smaller --size or fewer --frames")
    p.set_defaults(func=command)
