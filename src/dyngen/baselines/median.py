"""The running median in time (``median``): a robust fill for change that cannot be tracked.

Every hidden pixel takes the median of the same pixel's visible values within ``window`` frames before and after
it (``2 window + 1`` frames); where none of them is visible, the median of all its visible values in time; a pixel
hidden in every frame is filled in space as ``interp`` fills it (the harmonic ``mrf-l2`` fill).

Alone it is a poor fill (it ignores how near in time a visible value is, so it blurs motion; every other classic
fill beats it on most of the reproduction cases). It exists for ``recover --blend cv``: where change is
intrackable (fire) a sharp fill is sharp and wrong, and under the paper's metric, the mean absolute error, the
best guess of a value that cannot be predicted is a median of the values it takes nearby, which no other fill
gives. The window, 8 frames, was chosen across the 8 reproduction cases (``docs/warp.md``).
"""

from __future__ import annotations

import torch

from dyngen.baselines.mrf import check_inputs, fill_l2

WINDOW = 8  # frames on each side
_CHUNK = 2**24  # elements of the stacked neighbours held at once


def _medians(x: torch.Tensor, visible: torch.Tensor, window: int) -> torch.Tensor:
    """Per pixel of ``x (T, P)``, the median of its visible values within ``window`` frames (NaN where none)."""
    t = x.shape[0]
    v = torch.where(visible, x, torch.nan)
    pad = torch.full((window, v.shape[1]), torch.nan, dtype=v.dtype)
    padded = torch.cat([pad, v, pad])
    stack = torch.stack([padded[o : o + t] for o in range(2 * window + 1)])  # (2w+1, T, P)
    return stack.nanmedian(dim=0).values


def fill(video: torch.Tensor, missing: torch.Tensor, *, window: int = WINDOW) -> torch.Tensor:
    """Fill hidden pixels with the running median in time of their visible values.

    Args:
        video: ``(T, 3, H, W)`` in [-1, 1]; values at hidden pixels are ignored.
        missing: bool ``(T, H, W)``, True = hidden.
        window: frames on each side of a hidden pixel whose visible values it takes the median of.

    Returns:
        ``(T, 3, H, W)``: visible pixels as in ``video`` (bit-exactly), hidden ones filled.
    """
    check_inputs(video, missing)
    if not bool(missing.any()):
        return video.clone()
    t, c, h, w = video.shape
    x = video.detach().cpu().float().permute(1, 0, 2, 3).reshape(c, t, h * w)
    visible = ~missing.cpu().reshape(t, h * w)
    est = torch.empty_like(x)
    step = max(1, _CHUNK // ((2 * window + 1) * t))  # pixels per chunk
    for ch in range(c):
        for p in range(0, h * w, step):
            xs, vs = x[ch, :, p : p + step], visible[:, p : p + step]
            near = _medians(xs, vs, window)
            whole = torch.where(vs, xs, torch.nan).nanmedian(dim=0).values  # every visible value in time
            est[ch, :, p : p + step] = torch.where(torch.isnan(near), whole, near)
    est = est.reshape(c, t, h, w).permute(1, 0, 2, 3).nan_to_num(0.0).to(video.dtype).to(video.device)
    out = torch.where(missing[:, None], est, video)
    never = missing.cpu().all(dim=0)
    if bool(never.any()):
        out = fill_l2(out, never.expand_as(missing.cpu()).to(missing.device))
    return out
