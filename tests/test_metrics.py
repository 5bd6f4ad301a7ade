"""Tests of the pixel-based quality metrics against known answers."""

from __future__ import annotations

import math

import pytest
import torch

from dyngen.errors import DyngenError
from dyngen.evaluation import (
    appearance_distance,
    copying_score,
    dynamics_distance,
    evaluate,
    motion_drift,
    motion_energy,
    motion_energy_curve,
    psnr,
    reference_points,
    ssim,
    temporal_power_spectrum,
    temporal_spectrum_distance,
)
from dyngen.io.video import to_tensor, to_uint8


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny linear algebra is much slower multi-threaded on a busy machine; run these tests on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def moving_pattern(frames: int = 24, size: int = 24, *, speed: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A sinusoid translating ``speed`` pixels per frame, plus a little noise: ``(T, 3, size, size)``.

    ``speed`` may be a tensor ``(frames,)`` of per-frame displacements.
    """
    g = torch.Generator().manual_seed(seed)
    steps = torch.as_tensor(speed, dtype=torch.float32).expand(frames)
    shift = torch.cumsum(steps, 0) - steps[0]  # position of the pattern at each frame
    x = torch.arange(size, dtype=torch.float32)
    phase = 2 * math.pi * (x[None, :] - shift[:, None]) / 12  # (T, W)
    rows = torch.cos(2 * math.pi * x / 16)  # (H,)
    colour = torch.tensor([0.0, 1.0, 2.0])
    v = 0.6 * torch.sin(phase[:, None, None, :] + colour[None, :, None, None]) * rows[None, None, :, None]
    return (v + 0.02 * torch.randn(v.shape, generator=g)).clamp(-1, 1)


def smooth_frames(frames: int, size: int = 16, *, seed: int) -> torch.Tensor:
    """Independent random smooth frames: i.i.d. samples of one distribution ``(T, 3, size, size)``."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(frames, 3, 4, 4, generator=g) * 0.4
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def test_identical_videos_are_at_distance_zero():
    v = moving_pattern()
    assert appearance_distance(v, v) == pytest.approx(0.0, abs=1e-9)
    assert dynamics_distance(v, v) == pytest.approx(0.0, abs=1e-9)
    assert temporal_spectrum_distance(v, v) == pytest.approx(0.0, abs=1e-9)
    assert appearance_distance(v, moving_pattern(seed=1)) > 0


def test_patch_distances_are_deterministic_and_accept_uint8():
    a, b = moving_pattern(), moving_pattern(speed=2.0, seed=1)
    assert appearance_distance(a, b) == appearance_distance(a, b)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert dynamics_distance(a, b, generator=g1) == dynamics_distance(a, b, generator=g2)
    a8, b8 = to_uint8(a), to_uint8(b)
    assert appearance_distance(a8, b8) == pytest.approx(appearance_distance(to_tensor(a8), to_tensor(b8)))


def test_dynamics_distance_small_for_shift_large_for_shuffle():
    v = moving_pattern(frames=32)
    perm = torch.randperm(32, generator=torch.Generator().manual_seed(0))
    shifted = dynamics_distance(v[:-1], v[1:])
    shuffled = dynamics_distance(v, v[perm])
    assert shuffled > 10 * shifted
    # Appearance hardly sees the shuffle: the frames are the same set.
    assert appearance_distance(v, v[perm]) < 0.1 * shuffled


def test_motion_energy_static_and_known_value():
    static = moving_pattern()[:1].expand(10, -1, -1, -1)
    assert motion_energy(static) == 0.0
    assert math.isnan(motion_drift(static))
    # Two frames alternating with a constant offset of 0.2 in [-1, 1] units = 25.5 grey levels.
    flicker = torch.zeros(6, 3, 8, 8)
    flicker[1::2] += 0.2
    curve = motion_energy_curve(flicker)
    assert curve.shape == (5,)
    assert torch.allclose(curve, torch.full((5,), 25.5, dtype=curve.dtype), atol=1e-4)


def test_motion_drift_stationary_and_doubling():
    assert motion_drift(moving_pattern(frames=40, speed=0.5)) == pytest.approx(1.0, abs=0.05)
    speed = torch.cat([torch.full((20,), 0.5), torch.full((20,), 1.0)])
    assert motion_drift(moving_pattern(frames=40, speed=speed)) == pytest.approx(2.0, abs=0.15)


def test_temporal_spectrum_peak_and_different_lengths():
    t = torch.arange(64, dtype=torch.float32)
    flicker = (0.5 * torch.sin(2 * math.pi * t / 8))[:, None, None, None].expand(64, 3, 4, 4)
    spectrum = temporal_power_spectrum(flicker, 32)
    assert spectrum.shape == (17,)
    assert float(spectrum.sum()) == pytest.approx(1.0)
    assert int(spectrum.argmax()) == 4  # 1/8 cycle per frame = bin 32/8
    slow = (0.5 * torch.sin(2 * math.pi * t / 32))[:, None, None, None].expand(64, 3, 4, 4)
    assert temporal_spectrum_distance(flicker, slow) > 0.8
    assert temporal_spectrum_distance(flicker, flicker[:40]) < 0.1  # different lengths, same process


def test_static_spectrum_is_all_at_zero_frequency():
    static = moving_pattern(frames=1, size=8).expand(10, -1, -1, -1)
    spectrum = temporal_power_spectrum(static, 8)
    assert spectrum[0] == 1.0 and float(spectrum[1:].sum()) == 0.0


def test_psnr_known_values_and_mask():
    a = moving_pattern(frames=4, size=16) * 0.5
    assert psnr(a, a) == math.inf
    offset = 2 / 127.5  # 2 grey levels: MSE = 4
    expected = 10 * math.log10(255**2 / 4)
    assert psnr(a, a + offset) == pytest.approx(expected, abs=1e-4)
    mask = torch.zeros(4, 16, 16, dtype=torch.bool)
    mask[:, :8] = True
    b = a + torch.where(mask[:, None], offset, 10 / 127.5)
    assert psnr(a, b, mask) == pytest.approx(expected, abs=1e-4)
    assert psnr(a, b, mask[0]) == pytest.approx(expected, abs=1e-4)  # broadcast over time
    with pytest.raises(DyngenError):
        psnr(a, b, torch.ones(3, 5, dtype=torch.bool))


def test_ssim_identical_and_constant_frames():
    a = moving_pattern(frames=3, size=16)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ssim(a, -a) < 0
    # Constant frames: SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1).
    x, y = torch.full((2, 3, 12, 12), 0.0), torch.full((2, 3, 12, 12), 0.2)
    mx, my, c1 = 127.5, 1.2 * 127.5, (0.01 * 255) ** 2
    assert ssim(x, y) == pytest.approx((2 * mx * my + c1) / (mx**2 + my**2 + c1), rel=1e-5)


def test_copying_score_replay_and_independent_sample():
    train = smooth_frames(40, seed=0)
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(1))
    assert copying_score(train[perm][:20], train) == pytest.approx(0.0, abs=1e-6)
    score = copying_score(smooth_frames(40, seed=2), train)
    assert 0.8 < score < 1.25


def test_evaluate_and_reference_points():
    v = moving_pattern(frames=24)
    metrics = evaluate(v, v)
    assert set(metrics) == {
        "appearance_distance",
        "dynamics_distance",
        "motion_energy",
        "motion_energy_observed",
        "motion_ratio",
        "motion_drift",
        "temporal_spectrum_distance",
        "copying",
    }
    assert metrics["motion_ratio"] == pytest.approx(1.0) and metrics["copying"] == 0.0
    assert evaluate(v, moving_pattern(seed=3)) == evaluate(v, moving_pattern(seed=3))
    ref = reference_points(v)
    assert set(ref) == {"observed vs itself", "static"}
    assert ref["static"]["motion_ratio"] == 0.0
    assert ref["observed vs itself"]["motion_ratio"] == pytest.approx(1.0, abs=0.1)
    assert ref["static"]["dynamics_distance"] > 3 * ref["observed vs itself"]["dynamics_distance"]


def test_bad_inputs_raise():
    with pytest.raises(DyngenError, match=r"\(T, 3, H, W\)"):
        motion_energy(torch.zeros(4, 8, 8))
    with pytest.raises(DyngenError, match="at least 2 frames"):
        motion_energy(torch.zeros(1, 3, 8, 8))
    with pytest.raises(DyngenError, match="smaller than"):
        appearance_distance(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4))


def test_verdicts_name_who_scores_closest_to_the_clip_on_each_measure():
    from dyngen.evaluation.table import verdicts

    keys = ("appearance_distance", "dynamics_distance", "temporal_spectrum_distance", "copying")
    clip = {**dict.fromkeys(keys, 1.0), "motion_ratio": 1.3, "motion_drift": 0.8}
    table = {
        "dg": {"appearance_distance": 1.1, "dynamics_distance": 2.0, "temporal_spectrum_distance": 1.5,
               "copying": 0.2, "motion_ratio": 1.05, "motion_drift": 1.3},
        "lds": {"appearance_distance": 3.0, "dynamics_distance": 9.0, "temporal_spectrum_distance": 1.2,
                "copying": 0.9, "motion_ratio": 1.25, "motion_drift": 0.95},
        "observed vs itself": clip,
        "static": {"appearance_distance": 1.05, "dynamics_distance": 20.0, "temporal_spectrum_distance": 5.0,
                   "copying": 0.0, "motion_ratio": 0.0, "motion_drift": math.nan},
    }  # fmt: skip
    lines = verdicts(table, ["dg", "lds"])
    # the motion ratio and drift aim at 1, not at the clip's halves; copying at the clip's own, not at 0
    assert (
        lines["dg"] == "dg: closest to the clip on dynamics, motion (2 of 6); lds closer on drift, spectrum, "
        "copying; a frozen first frame closer on appearance"
    )
    assert lines["lds"].startswith("lds: closest to the clip on drift, spectrum, copying (3 of 6); dg closer on")
