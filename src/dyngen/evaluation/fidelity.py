"""Fidelity of a video to a known one: PSNR (optionally over a pixel mask) and SSIM, on the 0..255 scale.

- ``psnr``: peak signal-to-noise ratio in dB (data range 255); ``inf`` for equal videos. ``psnr_from_mse`` is
  the one formula, for any data range (2 on the [-1, 1] scale the model works on).
- ``ssim``: structural similarity (Gaussian window 11x11, sigma 1.5, on 0..255), averaged over frames and
  channels; 1 for equal videos.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dyngen.errors import DyngenError
from dyngen.evaluation.metrics import PIXEL, Video, as_video


def _pixel_mask(mask: torch.Tensor | np.ndarray, shape: torch.Size) -> torch.Tensor:
    """A bool mask broadcast to ``(T, H, W)`` of a video of ``shape`` ``(T, 3, H, W)``; it must select something."""
    m = torch.as_tensor(mask).bool()
    t, _, h, w = shape
    try:
        m = m.broadcast_to((t, h, w))
    except RuntimeError:
        raise DyngenError(f"mask of shape {tuple(m.shape)} does not broadcast to (T, H, W) = {(t, h, w)}") from None
    if not m.any():
        raise DyngenError("mask selects no pixels")
    return m


def psnr_from_mse(mse: float, peak: float = 2.0) -> float:
    """PSNR in dB of a mean squared error, for data of range ``peak`` (2 on the [-1, 1] scale, 255 on 0..255)."""
    return 10 * math.log10(peak**2 / mse) if mse > 0 else math.inf


def psnr(a: Video, b: Video, mask: torch.Tensor | np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB on the 0..255 scale (data range 255).

    Args:
        a: video ``(T, 3, H, W)``.
        b: video ``(T, 3, H, W)``.
        mask: optional bool, broadcastable to ``(T, H, W)``; True selects the pixels (all 3 channels) to compare.

    Returns:
        ``10 log10(255^2 / MSE)``; ``inf`` when the selected pixels are equal.
    """
    a, b = as_video(a, "a"), as_video(b, "b")
    if a.shape != b.shape:
        raise DyngenError(f"psnr needs videos of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    err = ((a.double() - b.double()) * PIXEL).square()
    if mask is not None:
        err = err.permute(0, 2, 3, 1)[_pixel_mask(mask, a.shape)]  # (n, 3)
    return psnr_from_mse(float(err.mean()), peak=255.0)


def _gaussian_band(n: int, size: int, sigma: float) -> torch.Tensor:
    """``(n - size + 1, n)`` matrix whose rows are a normalised Gaussian window at each valid offset."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    band = torch.zeros(n - size + 1, n, dtype=torch.float64)
    for i in range(n - size + 1):
        band[i, i : i + size] = g / g.sum()
    return band


def ssim(a: Video, b: Video) -> float:
    """Structural similarity (Wang et al. 2004) on the 0..255 scale, averaged over frames and channels.

    Gaussian window 11x11 with sigma 1.5 (shrunk to the frame for frames under 11 pixels), valid filtering,
    ``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``.

    Args:
        a: video ``(T, 3, H, W)``.
        b: video ``(T, 3, H, W)``.

    Returns:
        Mean SSIM; 1 for equal videos.
    """
    a, b = as_video(a, "a"), as_video(b, "b")
    if a.shape != b.shape:
        raise DyngenError(f"ssim needs videos of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    x, y = (a.double() + 1) * PIXEL, (b.double() + 1) * PIXEL  # float64: variances of values up to 255
    size = min(11, *x.shape[-2:])
    gh, gw = _gaussian_band(x.shape[-2], size, 1.5), _gaussian_band(x.shape[-1], size, 1.5)

    def blur(z: torch.Tensor) -> torch.Tensor:  # separable valid filtering as two matrix products
        return gh @ z @ gw.T

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())
