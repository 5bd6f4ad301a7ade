"""The embedded default: a procedurally generated dynamic texture ("ripples").

No file and no download: the demo's training video is made here. It is a
genuine dynamic texture in Doretto's sense, a stationary stochastic process:
a field of low-frequency Fourier modes, each rotating at its own frequency
and driven by a little noise (a complex AR(1) per mode), rendered through a
water-like colour map with a moving highlight. Same seed, same video.
"""

from __future__ import annotations

import math

import numpy as np


def ripples(frames: int = 60, size: int | tuple[int, int] = 32, *, seed: int = 0, modes: int = 24) -> np.ndarray:
    """Generate the demo texture.

    Args:
        frames: number of frames T.
        size: ``S`` or ``(H, W)``.
        seed: random seed.
        modes: number of Fourier modes.

    Returns:
        uint8 ``(T, H, W, 3)``.
    """
    h, w = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    ky = rng.integers(-3, 4, modes)
    kx = rng.integers(1, 4, modes) * rng.choice([-1, 1], modes)
    amp = 1.0 / np.sqrt(kx**2 + ky**2)
    omega = rng.uniform(0.15, 0.45, modes) * rng.choice([-1, 1], modes)  # radians per frame
    coef = amp * np.exp(2j * math.pi * rng.random(modes))
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    basis = np.exp(2j * math.pi * (ky[:, None, None] * yy + kx[:, None, None] * xx))  # (modes, H, W)
    out = np.empty((frames, h, w, 3), np.uint8)
    rho = 0.97  # per-mode memory; the kicks keep each mode's variance at amp^2
    deep = np.array([10, 50, 110], float)
    light = np.array([120, 200, 235], float)
    for t in range(frames):
        kick = rng.normal(size=modes) + 1j * rng.normal(size=modes)
        coef = rho * coef * np.exp(1j * omega) + math.sqrt((1 - rho**2) / 2) * amp * kick
        field = np.real(np.tensordot(coef, basis, axes=1))
        field = field / (np.abs(amp).sum() * 0.35)
        v = 1 / (1 + np.exp(-2.5 * field))  # in (0, 1)
        glint = np.clip(field - 0.9, 0, None) ** 2 * 1.5
        rgb = deep + (light - deep) * v[..., None] + 255 * glint[..., None]
        out[t] = np.clip(rgb, 0, 255).round().astype(np.uint8)
    return out
