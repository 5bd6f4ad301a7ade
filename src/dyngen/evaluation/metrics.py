"""Quality metrics for synthesized and recovered videos, computed from pixels alone.

Every function takes videos as float tensors ``(T, 3, H, W)`` in [-1, 1] (uint8 arrays ``(T, H, W, 3)`` are
converted with :func:`dyngen.io.video.to_tensor`). Figures in pixel units are on the 0..255 scale.

- ``appearance_distance``: sliced Wasserstein-1 distance (0..255 units) between the distributions of 7x7x3
  single-frame patches of two videos, averaged over three scales (full, 1/2, 1/4); 0 means the same local
  appearance.
- ``dynamics_distance``: the same distance on patches of frame differences ``x_{t+1} - x_t``; 0 means the same
  local motion statistics, and shuffled frames score far higher than a smooth video.
- ``motion_energy``: mean absolute frame difference ``|x_t - x_{t-1}|`` (0..255); 0 for a static video
  (``motion_energy_curve`` gives it per frame).
- ``motion_ratio``: motion energy of the synthesized video divided by that of the observed one; 1 is right,
  near 0 means frozen, far above 1 means flicker.
- ``motion_drift``: motion energy of the last quarter of the frames divided by that of the first quarter; 1 for
  a stationary video, below 1 when motion dies out, above 1 when it grows (``inf`` if the first quarter is
  static and the last is not, ``nan`` if both are static).
- ``temporal_spectrum_distance``: total-variation distance (0..1) between the normalised temporal power
  spectra of the two videos (Welch segments of a fixed length, so videos of different lengths share one
  frequency grid); a static video puts all its power at frequency 0.
- ``copying``: mean distance from each synthesized frame to its nearest training frame, divided by the mean
  distance from each training frame to its nearest other training frame; near 0 means training frames are
  replayed, around 1 or above means new frames.

Fidelity to a known video (PSNR, SSIM) is in :mod:`dyngen.evaluation.fidelity`, and the recovery metrics over
hidden pixels in :mod:`dyngen.evaluation.recovery`.

:func:`evaluate` returns all of the above for a synthesized video against the observed one, and
:func:`reference_points` evaluates two references on the same scale: the observed clip's first half against its
second half (the noise floor) and a static video (the first frame repeated).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from dyngen.errors import DyngenError
from dyngen.io.video import to_tensor

Video = torch.Tensor | np.ndarray

PIXEL = 127.5  # one unit in [-1, 1] is 127.5 grey levels on the 0..255 scale
DEFAULT_SEED = 0

# One sentence per key of :func:`evaluate`, for tables and reports (the module docstring has the details).
DESCRIPTIONS: dict[str, str] = {
    "appearance_distance": "patch distance between single frames (sliced Wasserstein, 0-255); lower is better",
    "dynamics_distance": "patch distance between frame differences x_t+1 - x_t (0-255); lower is better",
    "motion_energy": "mean |x_t - x_t-1| of the synthesized video (0-255); should match the observed one",
    "motion_energy_observed": "mean |x_t - x_t-1| of the observed video (0-255)",
    "motion_ratio": "synthesized / observed motion energy; 1 is right, near 0 frozen, far above 1 flicker",
    "motion_drift": "motion energy of the last quarter / the first quarter; 1 is stationary",
    "temporal_spectrum_distance": "total variation between temporal power spectra (0-1); lower is better",
    "copying": "distance to the nearest training frame / training frames' own spacing; near 0 = replayed frames",
}


def as_video(v: Video, name: str = "video") -> torch.Tensor:
    """Bring a video to float32 ``(T, 3, H, W)`` in [-1, 1] on the CPU; uint8 ``(T, H, W, 3)`` arrays are converted."""
    if isinstance(v, np.ndarray):
        if v.dtype != np.uint8 or v.ndim != 4 or v.shape[-1] != 3:
            raise DyngenError(f"{name}: numpy input must be uint8 (T, H, W, 3), got {v.dtype} {v.shape}")
        v = to_tensor(v)
    if not isinstance(v, torch.Tensor) or v.ndim != 4 or v.shape[1] != 3:
        shape = tuple(v.shape) if hasattr(v, "shape") else type(v).__name__
        raise DyngenError(f"{name}: expected a float tensor (T, 3, H, W) in [-1, 1], got {shape}")
    return v.detach().cpu().float()


def _generator(generator: torch.Generator | None, seed: int = DEFAULT_SEED) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(seed)


def _sample_patches(x: torch.Tensor, u: torch.Tensor, patch: int) -> torch.Tensor:
    """Gather patches of ``x`` ``(T, 3, H, W)`` at positions ``u`` ``(n, 3)`` in [0, 1)^3 -> ``(n, 3*patch^2)``."""
    t_count, _, h, w = x.shape
    t = (u[:, 0] * t_count).long()
    y = (u[:, 1] * (h - patch + 1)).long()
    z = (u[:, 2] * (w - patch + 1)).long()
    off = torch.arange(patch)
    yy = (y[:, None] + off)[:, :, None]  # (n, p, 1)
    zz = (z[:, None] + off)[:, None, :]  # (n, 1, p)
    return x[t[:, None, None], :, yy, zz].reshape(len(u), -1)  # (n, p, p, 3) -> (n, 3 p^2)


def _sliced_wasserstein(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    patch: int,
    scales: int,
    projections: int,
    max_patches: int,
    generator: torch.Generator,
) -> float:
    """Sliced W1 between patch distributions of ``a`` and ``b`` ``(T, 3, H, W)``, averaged over scales."""
    results = []
    for s in range(scales):
        xa = F.avg_pool2d(a, 2**s) if s else a
        xb = F.avg_pool2d(b, 2**s) if s else b
        if min(xa.shape[-2:] + xb.shape[-2:]) < patch:
            break  # frames at this scale are smaller than a patch
        positions = [x.shape[0] * (x.shape[2] - patch + 1) * (x.shape[3] - patch + 1) for x in (xa, xb)]
        n = min(max_patches, *positions)
        # The same uniform draws index both videos, so equal videos give exactly 0.
        u = torch.rand(n, 3, generator=generator, dtype=torch.float64)
        dirs = torch.randn(projections, 3 * patch * patch, generator=generator)
        dirs = dirs / dirs.norm(dim=1, keepdim=True)
        # (projections, n), sorted per direction; numpy's vectorised sort is far faster than torch's on CPU
        pa = np.sort((dirs @ _sample_patches(xa, u, patch).T).numpy(), axis=1)
        pb = np.sort((dirs @ _sample_patches(xb, u, patch).T).numpy(), axis=1)
        results.append(float(np.abs(pa - pb).mean(dtype=np.float64)) * PIXEL)
    if not results:
        sizes = f"{tuple(a.shape[-2:])} and {tuple(b.shape[-2:])}"
        raise DyngenError(f"frames of {sizes} are smaller than a {patch}px patch; use a smaller patch")
    return float(sum(results) / len(results))


def appearance_distance(
    a: Video,
    b: Video,
    *,
    patch: int = 7,
    scales: int = 3,
    projections: int = 128,
    max_patches: int = 4096,
    generator: torch.Generator | None = None,
) -> float:
    """Sliced Wasserstein-1 distance between the single-frame patch distributions of two videos.

    Args:
        a: video ``(T_a, 3, H_a, W_a)`` in [-1, 1].
        b: video ``(T_b, 3, H_b, W_b)`` in [-1, 1].
        patch: patch side in pixels (patches are ``patch x patch x 3``).
        scales: number of scales (full, 1/2, 1/4, ... by average pooling); scales whose frames are smaller than a
            patch are skipped.
        projections: number of random unit directions.
        max_patches: patches sampled per video and scale (the same count from both).
        generator: random source for patch positions and directions (default: seeded with 0).

    Returns:
        The distance in 0..255 grey levels; 0 for equal videos.
    """
    options = {"patch": patch, "scales": scales, "projections": projections, "max_patches": max_patches}
    return _sliced_wasserstein(as_video(a, "a"), as_video(b, "b"), **options, generator=_generator(generator))


def _differences(v: torch.Tensor, name: str) -> torch.Tensor:
    if v.shape[0] < 2:
        raise DyngenError(f"{name}: needs at least 2 frames to measure motion, got {v.shape[0]}")
    return v[1:] - v[:-1]


def dynamics_distance(
    a: Video,
    b: Video,
    *,
    patch: int = 7,
    scales: int = 3,
    projections: int = 128,
    max_patches: int = 4096,
    generator: torch.Generator | None = None,
) -> float:
    """Sliced Wasserstein-1 distance between patch distributions of the frame differences ``x_{t+1} - x_t``.

    Args and return value as for :func:`appearance_distance`; the videos need at least 2 frames.
    """
    options = {"patch": patch, "scales": scales, "projections": projections, "max_patches": max_patches}
    da, db = _differences(as_video(a, "a"), "a"), _differences(as_video(b, "b"), "b")
    return _sliced_wasserstein(da, db, **options, generator=_generator(generator))


def motion_energy_curve(v: Video) -> torch.Tensor:
    """Mean absolute frame difference per frame: ``(T, 3, H, W)`` -> ``(T-1,)`` on the 0..255 scale."""
    return _differences(as_video(v), "video").abs().mean(dim=(1, 2, 3)) * PIXEL


def motion_energy(v: Video) -> float:
    """Mean absolute frame difference of a video ``(T, 3, H, W)``, on the 0..255 scale."""
    return float(motion_energy_curve(v).mean())


def _ratio(num: float, den: float) -> float:
    """``num / den`` with ``inf`` for x/0 and ``nan`` for 0/0."""
    if den > 0:
        return num / den
    return math.nan if num == 0 else math.inf


def motion_drift(v: Video) -> float:
    """Motion energy of the last quarter of the frame differences over that of the first quarter.

    Args:
        v: video ``(T, 3, H, W)``, ``T >= 2``.

    Returns:
        1 for stationary motion; ``inf`` if the first quarter is static and the last is not; ``nan`` if both are.
    """
    curve = motion_energy_curve(v)
    q = max(1, len(curve) // 4)
    return _ratio(float(curve[-q:].mean()), float(curve[:q].mean()))


def temporal_power_spectrum(v: Video, segment: int) -> torch.Tensor:
    """Normalised temporal power spectrum by Welch's method.

    The video is cut into Hann-windowed segments of ``segment`` frames (half overlap); each pixel's segment has
    its mean removed, ``|rfft|^2`` is averaged over pixels, channels and segments, and the result is scaled to
    sum to 1. A video without temporal variation gets all its mass at frequency 0.

    Args:
        v: video ``(T, 3, H, W)`` with ``T >= segment``.
        segment: segment length in frames.

    Returns:
        ``(segment // 2 + 1,)`` spectrum over frequencies ``0 .. 0.5`` cycles per frame.
    """
    x = as_video(v).flatten(1)  # (T, D)
    if not 2 <= segment <= x.shape[0]:
        raise DyngenError(f"segment must be between 2 and the number of frames ({x.shape[0]}), got {segment}")
    segments = x.T.contiguous().unfold(1, segment, max(1, segment // 2))  # (D, n_segments, segment)
    segments = (segments - segments.mean(dim=-1, keepdim=True)) * torch.hann_window(segment, periodic=False)
    spectrum = torch.fft.rfft(segments, dim=-1)
    power = (spectrum.real.square() + spectrum.imag.square()).flatten(0, 1).double().mean(dim=0)
    total = power.sum()
    if total <= 1e-12 * float(x.square().mean()) * segment + 1e-30:  # static up to float rounding
        power = torch.zeros_like(power)
        power[0] = 1.0
        return power
    return power / total


def temporal_spectrum_distance(a: Video, b: Video, *, segment: int = 32) -> float:
    """Total-variation distance between the normalised temporal power spectra of two videos.

    Both spectra use Welch segments of ``min(segment, T_a, T_b)`` frames, so videos of any lengths share one
    frequency grid (see :func:`temporal_power_spectrum`).

    Args:
        a: video ``(T_a, 3, H_a, W_a)``.
        b: video ``(T_b, 3, H_b, W_b)``.
        segment: the longest segment length in frames.

    Returns:
        ``0.5 * sum |p_a - p_b|`` in [0, 1]; 0 for equal videos.
    """
    a, b = as_video(a, "a"), as_video(b, "b")
    length = min(segment, a.shape[0], b.shape[0])
    pa, pb = temporal_power_spectrum(a, length), temporal_power_spectrum(b, length)
    return float(0.5 * (pa - pb).abs().sum())


def copying_score(synth: Video, train: Video) -> float:
    """How close synthesized frames come to training frames, relative to the training frames' own spacing.

    Distances are per-frame RMSE on the 0..255 scale.

    Args:
        synth: synthesized video ``(T_s, 3, H, W)``.
        train: training video ``(T, 3, H, W)``, ``T >= 2``, same frame size.

    Returns:
        ``mean_s min_t d(synth_s, train_t) / mean_t min_{t' != t} d(train_t, train_t')``; near 0 when training
        frames are replayed, about 1 for new frames from the same distribution; ``inf``/``nan`` when the training
        frames are all equal (x/0, 0/0).
    """
    s, t = as_video(synth, "synth").flatten(1).double(), as_video(train, "train").flatten(1).double()
    if t.shape[0] < 2 or s.shape[1] != t.shape[1]:
        raise DyngenError(
            f"copying_score needs >= 2 training frames of the synthesized frame size; got synth {tuple(s.shape)}, "
            f"train {tuple(t.shape)} (flattened)"
        )
    scale = PIXEL / math.sqrt(s.shape[1])
    to_train = torch.cdist(s, t).min(dim=1).values.mean() * scale
    within = torch.cdist(t, t)
    within.fill_diagonal_(math.inf)
    among_train = within.min(dim=1).values.mean() * scale
    return _ratio(float(to_train), float(among_train))


def evaluate(
    synth: Video, observed: Video, *, seed: int = DEFAULT_SEED, generator: torch.Generator | None = None
) -> dict[str, float]:
    """All quality metrics of a synthesized video against the observed (training) video.

    Args:
        synth: synthesized video ``(T_s, 3, H, W)``.
        observed: observed video ``(T, 3, H, W)``.
        seed: seed of the patch sampling, used when ``generator`` is None.
        generator: random source for the patch distances (overrides ``seed``).

    Returns:
        ``appearance_distance``, ``dynamics_distance``, ``motion_energy``, ``motion_energy_observed``,
        ``motion_ratio``, ``motion_drift``, ``temporal_spectrum_distance`` and ``copying``.
    """
    synth, observed = as_video(synth, "synth"), as_video(observed, "observed")
    gen = _generator(generator, seed)
    energy, energy_obs = motion_energy(synth), motion_energy(observed)
    return {
        "appearance_distance": appearance_distance(synth, observed, generator=gen),
        "dynamics_distance": dynamics_distance(synth, observed, generator=gen),
        "motion_energy": energy,
        "motion_energy_observed": energy_obs,
        "motion_ratio": _ratio(energy, energy_obs),
        "motion_drift": motion_drift(synth),
        "temporal_spectrum_distance": temporal_spectrum_distance(synth, observed),
        "copying": copying_score(synth, observed),
    }


def reference_points(observed: Video, *, seed: int = DEFAULT_SEED) -> dict[str, dict[str, float]]:
    """Metrics of two reference videos, to read :func:`evaluate`'s numbers against.

    Args:
        observed: observed video ``(T, 3, H, W)``, ``T >= 4``.
        seed: seed of the patch sampling.

    Returns:
        ``{"observed vs itself": ..., "static": ...}``: the first half of the observed clip evaluated against its
        second half (the noise floor of every metric), and the first frame repeated ``T`` times evaluated against
        the whole clip (what a frozen synthesis scores).
    """
    v = as_video(observed, "observed")
    if v.shape[0] < 4:
        raise DyngenError(f"reference points need at least 4 observed frames, got {v.shape[0]}")
    half = v.shape[0] // 2
    static = v[:1].expand_as(v)
    return {
        "observed vs itself": evaluate(v[:half], v[half:], seed=seed),
        "static": evaluate(static, v, seed=seed),
    }
