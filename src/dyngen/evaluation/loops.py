"""How seamless a loop is: the frame change across its seam against the changes inside it.

A video played in a loop shows frame T-1 followed by frame 0. ``loop_seam`` measures that step, mean
``|x_0 - x_{T-1}|`` on the 0..255 scale (as ``motion_energy_curve`` measures the steps inside), and where it
falls among the T-1 steps inside the video. The target of ``dyngen synthesize --loop``: the seam is within the
90th percentile of the inside steps (``seam_percentile <= 90``); docs/loops.md has the figures.
"""

from __future__ import annotations

import torch

from dyngen.errors import UsageError
from dyngen.evaluation.metrics import PIXEL, Video, as_video, motion_energy_curve


def loop_seam(video: Video) -> dict[str, float]:
    """The seam of a video played in a loop.

    Args:
        video: ``(T, 3, H, W)`` in [-1, 1] or uint8 ``(T, H, W, 3)``, T >= 3.

    Returns:
        ``seam``: mean |x_0 - x_{T-1}| (0-255); ``inside_median`` and ``inside_p90``: the median and 90th
        percentile of mean |x_t - x_{t-1}| inside the video; ``seam_ratio``: seam / inside_median;
        ``seam_percentile``: the share (0-100) of inside steps smaller than the seam.
    """
    v = as_video(video)
    if v.shape[0] < 3:
        raise UsageError(f"a loop's seam needs at least 3 frames, got {v.shape[0]}")
    inside = motion_energy_curve(v).double()
    seam = float((v[0] - v[-1]).abs().mean()) * PIXEL
    median = float(inside.median())
    return {
        "seam": seam,
        "inside_median": median,
        "inside_p90": float(torch.quantile(inside, 0.9)),
        "seam_ratio": seam / median if median > 0 else float("inf"),
        "seam_percentile": 100.0 * float((inside < seam).double().mean()),
    }
