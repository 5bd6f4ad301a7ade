"""``dyngen evaluate``: score a synthesized video against the observed one, beside two reference points."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dyngen.cli import HelpFormatter, add_common, emit, parse_size
from dyngen.errors import UsageError, VideoError

REFERENCE_HELP = (
    "Reference points, on the same scale: 'observed vs itself' scores the observed clip's first half against its\n"
    "second half (what a perfect synthesis can hope for), 'static' scores its first frame repeated (a frozen\n"
    "synthesis). With --json, non-finite values (0/0, x/0) are null.\n\nmetrics:\n"
)


class _Formatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """Keep the description's line breaks (one metric per line) and show the defaults."""


def read_synthesized(path: str | Path, sample: int) -> np.ndarray:
    """A synthesized video as uint8 ``(T, H, W, 3)``; ``sample`` picks one from a ``(K, T, H, W, 3)`` .npy."""
    from dyngen.io.video import read_video

    p = Path(path)
    if p.suffix.lower() == ".npy" and p.is_file():
        try:
            a = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as e:
            raise VideoError(f"{p}: cannot read as a .npy array ({e})") from None
        if a.ndim == 5:
            if not -len(a) <= sample < len(a):
                raise UsageError(f"--sample {sample}: {p} holds {len(a)} videos; allowed: 0..{len(a) - 1}")
            if a.dtype != np.uint8 or a.shape[-1] != 3:
                raise VideoError(f"{p}: expected uint8 (K, T, H, W, 3), got {a.dtype} {tuple(a.shape)}")
            return np.array(a[sample])  # a writable copy out of the memory map
    return read_video(p)


def read_observed(path: str | Path, *, size, frames: int | None, start: int) -> np.ndarray:
    """The observed video as uint8 ``(T, H, W, 3)``: a video source, or a run directory's training video."""
    from dyngen.io.video import read_video, resize
    from dyngen.runs.directory import CONFIG, Run

    p = Path(path)
    if p.is_dir() and (p / CONFIG).is_file():
        v = Run.open(p).load_data()["frames"][0].numpy()[start:]
        if len(v) == 0 or (frames and len(v) < frames):
            raise UsageError(f"{p}: the run's training video has too few frames for --start {start} --frames {frames}")
        v = v[:frames] if frames else v
        return resize(v, size)
    return read_video(p, size=size, frames=frames, start=start)


def command(args: argparse.Namespace) -> int:
    from dyngen.evaluation.table import compare, format_table, json_safe
    from dyngen.io.video import resize

    observed = read_observed(args.observed, size=args.size, frames=args.frames, start=args.start)
    raw = read_synthesized(args.synthesized, args.sample)
    synth = resize(raw, observed.shape[1:3])
    if len(synth) < 2 or len(observed) < 4:
        raise UsageError(f"need at least 2 synthesized and 4 observed frames, got {len(synth)} and {len(observed)}")
    table = compare({"synthesized": synth}, observed, seed=args.seed)
    h, w = observed.shape[1:3]
    resized = "" if raw.shape[1:3] == (h, w) else f", resized from {raw.shape[1]}x{raw.shape[2]}"
    lines = [
        f"synthesized: {args.synthesized} ({len(synth)} frames{resized})",
        f"observed:    {args.observed} ({len(observed)} frames, {h}x{w}), motion energy "
        f"{table['synthesized']['motion_energy_observed']:.3f}",
        "",
        *format_table(table),
    ]
    summary = {
        "synthesized": str(args.synthesized),
        "observed": str(args.observed),
        "frames": {"synthesized": len(synth), "observed": len(observed)},
        "size": [h, w],
        "metrics": table.pop("synthesized"),
        "reference": table,
    }
    emit(args, json_safe(summary), lines)
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
    p.add_argument("synthesized", help="the synthesized video (any readable format; .npy may hold (K, T, H, W, 3))")
    p.add_argument("observed", help="the observed video, or a run directory (its training video)")
    p.add_argument(
        "--size", type=parse_size, default=None, help="resize the observed video to S or HxW (default: keep)"
    )
    p.add_argument("--frames", type=int, default=None, help="use this many observed frames (default: all)")
    p.add_argument("--start", type=int, default=0, help="first observed frame to use")
    p.add_argument("--sample", type=int, default=0, help="which video of a (K, T, H, W, 3) .npy to score")
    add_common(p, device=False)
    p.set_defaults(func=command)
