"""Comparisons for the eye: side-by-side videos and PNG frame grids.

All inputs are uint8 videos ``(T, H, W, 3)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dyngen.errors import DyngenError
from dyngen.io.atomic import atomic_path, make_folder


def _fit_height(v: np.ndarray, h: int) -> np.ndarray:
    if v.shape[1] == h:
        return v
    from dyngen.io.video import resize

    w = max(1, round(v.shape[2] * h / v.shape[1]))
    return resize(v, (h, w))


def side_by_side(videos: Sequence[np.ndarray], *, pad: int = 2, length: int | None = None) -> np.ndarray:
    """Place videos left to right in one video ``(T, H, W_total, 3)``.

    Videos shorter than ``length`` (default: the longest) are looped; heights are matched
    to the first video's.
    """
    if not videos:
        raise DyngenError("side_by_side needs at least one video")
    h = videos[0].shape[1]
    t = length or max(v.shape[0] for v in videos)
    cols = []
    for i, v in enumerate(videos):
        v = _fit_height(np.asarray(v), h)
        cols.append(v[np.arange(t) % v.shape[0]])
        if pad and i < len(videos) - 1:
            cols.append(np.full((t, h, pad, 3), 255, np.uint8))
    return np.concatenate(cols, axis=2)


def labelled_side_by_side(
    videos: Sequence[np.ndarray], labels: Sequence[str], *, height: int = 256, pad: int = 6, length: int | None = None
) -> np.ndarray:
    """Videos left to right, each enlarged (nearest, by a whole factor) to about ``height`` pixels and named
    above in a white strip: uint8 ``(T, H', W', 3)`` to watch (``side_by_side``'s looping and length rule)."""
    from PIL import Image, ImageDraw, ImageFont

    if len(labels) != len(videos):
        raise DyngenError(f"{len(labels)} labels for {len(videos)} videos")
    h = videos[0].shape[1]
    scale = max(1, round(height / h))
    big = [np.asarray(_fit_height(np.asarray(v), h)).repeat(scale, axis=1).repeat(scale, axis=2) for v in videos]
    font = ImageFont.load_default(size=max(12, min(24, h * scale // 12)))
    strip_h = int(font.size * 1.8)
    body = side_by_side(big, pad=pad, length=length)
    strip = Image.new("RGB", (body.shape[2], strip_h), "white")
    draw, x = ImageDraw.Draw(strip), 0
    for v, label in zip(big, labels):
        width = draw.textlength(label, font=font)
        draw.text((x + max(0, (v.shape[2] - width) / 2), strip_h * 0.2), label, fill=(20, 20, 20), font=font)
        x += v.shape[2] + pad
    return np.concatenate([np.broadcast_to(np.asarray(strip), (body.shape[0], *np.asarray(strip).shape)), body],
                          axis=1)  # fmt: skip


def stack_rows(videos: Sequence[np.ndarray], *, pad: int = 2, length: int | None = None) -> np.ndarray:
    """Place videos top to bottom in one video ``(T, H_total, W, 3)`` (shorter ones looped)."""
    t = length or max(v.shape[0] for v in videos)
    w = videos[0].shape[2]
    rows = []
    for i, v in enumerate(videos):
        if v.shape[2] != w:
            raise DyngenError(f"stack_rows: widths differ ({v.shape[2]} vs {w})")
        rows.append(v[np.arange(t) % v.shape[0]])
        if pad and i < len(videos) - 1:
            rows.append(np.full((t, pad, w, 3), 255, np.uint8))
    return np.concatenate(rows, axis=1)


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as a PNG atomically (temporary file, rename) and close it."""
    import matplotlib.pyplot as plt

    p = Path(path)
    make_folder(p.parent)
    try:
        with atomic_path(p, what="image", suffix=".png", durable=False) as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return p


def save_frame_grid(
    path: str | os.PathLike,
    videos: Sequence[np.ndarray],
    *,
    labels: Sequence[str] | None = None,
    columns: int = 8,
    frame_indices: Sequence[int] | None = None,
    title: str | None = None,
) -> Path:
    """Save a PNG with one row per video and ``columns`` frames evenly spaced in time per row.

    Args:
        path: the PNG to write.
        videos: uint8 ``(T, H, W, 3)`` each; lengths may differ (each row spans its own video).
        labels: one label per row.
        columns: frames shown per row.
        frame_indices: explicit frame indices, used for every row (clipped to its length).
        title: a figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(videos)
    if frame_indices is None:
        columns = min(columns, max(v.shape[0] for v in videos))  # a short video: each frame once, not repeated
    fig, axes = plt.subplots(n, columns, figsize=(1.2 * columns + 1.2, 1.25 * n + 0.4), squeeze=False)
    for r, v in enumerate(videos):
        t = v.shape[0]
        idx = (
            [min(i, t - 1) for i in frame_indices]
            if frame_indices is not None
            else np.linspace(0, t - 1, columns).round().astype(int).tolist()
        )
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c < len(idx):
                ax.imshow(v[idx[c]], interpolation="nearest")
                if r == n - 1 or frame_indices is None:
                    ax.set_xlabel(f"t={idx[c]}", fontsize=7, labelpad=1)
        if labels is not None:
            axes[r, 0].set_ylabel(labels[r], fontsize=8, rotation=0, ha="right", va="center")
    top = 1.0
    if title:
        fig.suptitle(title, fontsize=9)
        top -= 0.3 / fig.get_figheight()  # room for the title above the first row
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, top))
    return save_figure(fig, path)


def save_curve(
    path: str | os.PathLike,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    logy: bool = False,
    logx: bool = False,
) -> Path:
    """Save a line plot of named ``(x, y)`` series as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name, lw=1.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    if title:
        ax.set_title(title, fontsize=10)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def flow_to_rgb(flow: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Displacement fields ``(T, 2, H, W)`` (pixels, x then y) as colour frames uint8 ``(T, H, W, 3)``: the hue is
    the direction, the saturation the length relative to ``scale`` (default: the longest), white is no motion."""
    from matplotlib.colors import hsv_to_rgb

    f = np.asarray(flow, dtype=np.float64)
    length = np.hypot(f[:, 0], f[:, 1])
    scale = scale or max(float(length.max()), 1e-6)
    hue = (np.arctan2(f[:, 1], f[:, 0]) + np.pi) / (2 * np.pi)
    hsv = np.stack([hue, np.clip(length / scale, 0, 1), np.ones_like(hue)], axis=-1)
    return (hsv_to_rgb(hsv) * 255).round().astype(np.uint8)
