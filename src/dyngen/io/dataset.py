"""A set of training videos: gathered from files and folders, in sorted order, cut and resized alike."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dyngen.errors import VideoError
from dyngen.io.video import IMAGE_EXTS, Size, read_video

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".npy")


def gather_videos(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand the arguments into a list of videos.

    A file is one video. A folder holding video files stands for all of them,
    in sorted order (never the file system's order); a folder holding only
    image frames is one video.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            vids = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_EXTS)
            if vids:
                out.extend(vids)
            elif any(f.suffix.lower() in IMAGE_EXTS for f in p.iterdir()):
                out.append(p)
            else:
                raise VideoError(f"{p}: the folder holds no videos ({', '.join(VIDEO_EXTS)}) and no image frames")
        elif p.exists():
            out.append(p)
        else:
            raise VideoError(f"{p}: no such file or folder")
    return out


def video_names(paths: Sequence[Path]) -> list[str]:
    """Names for the videos: their stems, made unique with their parents where they clash."""
    stems = [p.stem or p.name for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{p.parent.name}/{s}" if stems.count(s) > 1 else s for p, s in zip(paths, stems)]


def load_videos(
    paths: Sequence[str | os.PathLike],
    *,
    size: Size,
    frames: int,
    start: int = 0,
    fps: float | None = None,
    crop: str = "none",
) -> tuple[np.ndarray, list[str]]:
    """Read every video at one size and length (``crop``: see :func:`dyngen.io.video.read_video`).

    Returns:
        uint8 ``(N, T, H, W, 3)`` and the N names.
    """
    files = gather_videos(paths)
    if not files:
        raise VideoError("no videos given")
    videos = [read_video(f, size=size, frames=frames, start=start, fps=fps, crop=crop) for f in files]
    shapes = {v.shape for v in videos}
    if len(shapes) > 1:
        raise VideoError(f"the videos have different shapes {sorted(shapes)}; pass --size to resize them alike")
    return np.stack(videos), video_names(files)
