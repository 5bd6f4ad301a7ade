"""Grids of videos: a table of clips played together as one video, and its PNG snapshot.

All videos are uint8 ``(T, H, W, 3)`` of one frame size; shorter ones loop.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dyngen.errors import DyngenError
from dyngen.io.grid import save_figure, side_by_side, stack_rows


def mosaic(rows: Sequence[Sequence[np.ndarray]], *, pad: int = 2, length: int | None = None) -> np.ndarray:
    """One video ``(T, H_total, W_total, 3)`` holding ``rows[r][c]`` at row r, column c.

    Args:
        rows: equally long rows of uint8 ``(T_i, H, W, 3)`` videos.
        pad: white pixels between cells.
        length: frames of the result (default: the longest video); shorter videos loop.
    """
    if not rows or not rows[0] or len({len(r) for r in rows}) != 1:
        raise DyngenError(f"mosaic needs equally long, non-empty rows; got lengths {[len(r) for r in rows]}")
    t = length or max(v.shape[0] for r in rows for v in r)
    return stack_rows([side_by_side(list(r), pad=pad, length=t) for r in rows], pad=pad, length=t)


def save_mosaic_png(
    path: str | os.PathLike,
    rows: Sequence[Sequence[np.ndarray]],
    *,
    times: Sequence[int] | None = None,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Snapshots of a mosaic at a few times, one panel per time, stacked top to bottom.

    Args:
        path: the PNG to write.
        rows: as for :func:`mosaic`.
        times: frame indices of the panels (default: 4 evenly spaced over the longest video).
        row_labels: one label per row.
        column_labels: one label per column (shown under the last panel).
        title: a figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    video = mosaic(rows)
    t = video.shape[0]
    times = list(times) if times is not None else np.linspace(0, t - 1, min(4, t)).round().astype(int).tolist()
    h, w = rows[0][0].shape[1:3]
    pad = 2
    height, width = video.shape[1:3]
    scale = 1.5 / 100  # inches per video pixel: 1.5 image pixels at 100 dpi
    across = width <= height  # narrow mosaics: panels side by side; wide ones: stacked
    n = len(times)
    shape = (1, n) if across else (n, 1)
    fig_w = (n if across else 1) * (width * scale + 0.1) + 1.5
    fig_h = (1 if across else n) * (height * scale + 0.35) + 0.5 + (1.0 if column_labels else 0)
    fig, axes = plt.subplots(*shape, figsize=(fig_w, fig_h), squeeze=False)
    for k, ti in enumerate(times):
        ax = axes.flat[k]
        ax.imshow(video[min(ti, t - 1)], interpolation="nearest")
        ax.set_title(f"t = {ti}", fontsize=8, pad=2)
        ax.set_xticks([])
        centres = [r * (h + pad) + h / 2 for r in range(len(rows))]
        ax.set_yticks(centres if row_labels and (k == 0 or not across) else [])
        if row_labels and (k == 0 or not across):
            ax.set_yticklabels(row_labels, fontsize=7)
        if column_labels and (across or k == n - 1):
            ax.set_xticks([c * (w + pad) + w / 2 for c in range(len(rows[0]))])
            ax.set_xticklabels(column_labels, fontsize=6, rotation=90)
        for s in ax.spines.values():
            s.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 0.97) if title else None)
    return save_figure(fig, path)
