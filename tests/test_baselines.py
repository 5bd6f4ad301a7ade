"""Classic recovery fills: known answers, visible pixels kept, and the recovery metrics."""

from __future__ import annotations

import math

import pytest
import torch

from dyngen.baselines import BASELINES, get_baseline, interp, median, mrf
from dyngen.errors import MaskError, UsageError
from dyngen.evaluation.recovery import hidden_psnr, recovery_error


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _grid(t: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Coordinates ``(T, 1, H, W)`` each, broadcastable against ``(T, 3, H, W)``."""
    tt, yy, xx = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return tt[:, None].double(), yy[:, None].double(), xx[:, None].double()


def _interior_mask(t: int, h: int, w: int, p: float, seed: int) -> torch.Tensor:
    """Random hidden pixels that never touch the video's border in t, y or x."""
    m = torch.rand(t, h, w, generator=_gen(seed)) < p
    m[0], m[-1], m[:, 0], m[:, -1], m[:, :, 0], m[:, :, -1] = False, False, False, False, False, False
    return m


def test_interp_exact_on_video_linear_in_time() -> None:
    t, h, w = 12, 5, 6
    a = torch.rand(1, 3, h, w, generator=_gen(0)) - 0.5
    b = (torch.rand(1, 3, h, w, generator=_gen(1)) - 0.5) / t
    video = a + b * torch.arange(t).view(t, 1, 1, 1)
    missing = torch.rand(t, h, w, generator=_gen(2)) < 0.6
    missing[[3, 4, 5, 8]] = True  # whole interior frames as well
    missing[0], missing[-1] = False, False
    garbage = torch.where(missing[:, None], torch.full_like(video, 9.0), video)
    out = interp.fill(garbage, missing)
    torch.testing.assert_close(out, video, atol=1e-6, rtol=0)


def test_interp_extrapolates_constant_at_the_ends() -> None:
    video = torch.rand(6, 3, 2, 2, generator=_gen(0)) * 2 - 1
    missing = torch.zeros(6, 2, 2, dtype=torch.bool)
    missing[:2], missing[4:] = True, True
    out = interp.fill(video, missing)
    assert torch.equal(out[0], video[2]) and torch.equal(out[1], video[2])
    assert torch.equal(out[4], video[3]) and torch.equal(out[5], video[3])


def test_hold_takes_the_nearest_visible_value_per_pixel() -> None:
    video = torch.rand(7, 3, 2, 2, generator=_gen(0)) * 2 - 1
    missing = torch.zeros(7, 2, 2, dtype=torch.bool)
    missing[[0, 2, 3, 4]] = True
    missing[5, 0, 0] = True  # this pixel is visible in frames 1 and 6 only
    garbage = torch.where(missing[:, None], torch.full_like(video, 9.0), video)
    out = get_baseline("hold")(garbage, missing)
    expected = video.clone()
    expected[[0, 2, 3]] = video[1]  # before the first visible frame; nearer to 1; a tie (1 and 5) goes to the earlier
    expected[4] = video[5]
    expected[4:6, :, 0, 0] = video[6, :, 0, 0]  # nearer to 6 than to 1
    assert torch.equal(out, expected)


def test_median_takes_the_median_of_visible_values_in_its_window() -> None:
    t = 11
    series = torch.tensor([0.9, -0.5, 0.1, 0.7, 0.0, -0.3, 0.4, -0.9, 0.2, 0.8, -0.1])
    video = series.view(t, 1, 1, 1).expand(t, 3, 2, 2).contiguous()
    video[:, 1] *= -1  # each channel on its own
    missing = torch.zeros(t, 2, 2, dtype=torch.bool)
    missing[4, 0, 0] = True  # window 2 sees frames 2, 3, 5, 6: 0.1, 0.7, -0.3, 0.4
    missing[:, 1, 1] = True
    missing[[0, 10], 1, 1] = False  # seen at frames 0 and 10 only: nothing within 2 frames of frame 5
    garbage = torch.where(missing[:, None], torch.full_like(video, 9.0), video)
    out = median.fill(garbage, missing, window=2)
    # torch's median of an even count is the lower middle value
    assert out[4, 0, 0, 0] == series[2] and out[4, 1, 0, 0] == -series[6]  # the lower middle of 4 values, per channel
    assert (
        out[5, 0, 1, 1] == series[10] and out[5, 1, 1, 1] == -series[0]
    )  # all its visible values (0.9, -0.1): the lower
    assert out[1, 0, 1, 1] == series[0]  # frames 0-3 are within the window of frame 0 only
    visible = ~missing[:, None].expand_as(video)
    assert torch.equal(out[visible], video[visible])


def test_median_is_exact_on_a_video_constant_in_time_in_chunks(monkeypatch) -> None:
    monkeypatch.setattr(median, "_CHUNK", 200)  # several chunks of pixels
    video = (torch.rand(1, 3, 6, 7, generator=_gen(0)) * 2 - 1).expand(9, 3, 6, 7).contiguous()
    missing = torch.rand(9, 6, 7, generator=_gen(1)) < 0.7
    missing[:, 2:4, 3] = True  # never seen: filled in space
    out = median.fill(video, missing)
    seen = ~missing.all(dim=0)
    torch.testing.assert_close(out[:, :, seen], video[:, :, seen], atol=0, rtol=0)
    assert torch.isfinite(out).all()


def test_interp_fills_always_hidden_pixels_in_space() -> None:
    t, h, w = 4, 8, 9
    _, yy, xx = _grid(t, h, w)
    video = (0.05 * yy - 0.03 * xx + torch.tensor([0.1, -0.2, 0.3]).view(1, 3, 1, 1).double()).float()
    video = video.expand(t, 3, h, w).contiguous()
    missing = torch.zeros(t, h, w, dtype=torch.bool)
    missing[:, 3:5, 2:6] = True  # hidden in every frame: no value in time
    torch.testing.assert_close(interp.fill(video, missing), video, atol=1e-5, rtol=0)


def test_mrf_l2_exact_on_harmonic_video() -> None:
    t, h, w = 8, 9, 10
    tt, yy, xx = _grid(t, h, w)
    offset = torch.tensor([0.1, -0.2, 0.0]).view(1, 3, 1, 1).double()
    video = (offset + 0.04 * tt - 0.03 * yy + 0.05 * xx * torch.tensor([1.0, -1.0, 0.5]).view(1, 3, 1, 1)).float()
    missing = _interior_mask(t, h, w, 0.5, seed=3)
    missing[2:6, 2:7, 2:8] = True  # and a solid interior box
    out = mrf.fill_l2(torch.where(missing[:, None], torch.zeros_like(video), video), missing)
    torch.testing.assert_close(out, video, atol=1e-5, rtol=0)


def _step_video() -> tuple[torch.Tensor, torch.Tensor]:
    """Colour A left of column 5, colour B right of it, in every frame; a box straddling the edge is hidden."""
    t, h, w = 9, 8, 10
    color_a = torch.tensor([-0.8, 0.2, 0.5]).view(1, 3, 1, 1)
    color_b = torch.tensor([0.6, -0.4, 0.1]).view(1, 3, 1, 1)
    video = torch.where(torch.arange(w).view(1, 1, 1, w) < 5, color_a, color_b).expand(t, 3, h, w).contiguous()
    missing = torch.zeros(t, h, w, dtype=torch.bool)
    missing[3:6, 2:6, 2:8] = True
    return video, missing


def test_mrf_l1_keeps_a_sharp_edge_that_l2_blurs() -> None:
    # The TV minimiser is unique here: every time line through the hole must stay
    # constant, so the true step is the only fill of least total variation.
    video, missing = _step_video()
    l1 = mrf.fill_l1(video, missing, eps=1e-4, iterations=50, tol=1e-8)
    l2 = mrf.fill_l2(video, missing)
    assert (l1 - video).abs().max() < 1e-3  # the error shrinks with the smoothing eps
    assert (l2 - video).abs().max() > 0.05


def test_mrf_l1_constant_video_with_a_hole() -> None:
    video = torch.full((6, 3, 7, 7), 0.25)
    missing = torch.zeros(6, 7, 7, dtype=torch.bool)
    missing[1:5, 2:6, 1:4] = True
    torch.testing.assert_close(mrf.fill_l1(video, missing), video, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_visible_pixels_kept_bit_exactly(name: str) -> None:
    video = torch.rand(6, 3, 8, 8, generator=_gen(0)) * 2 - 1
    missing = torch.rand(6, 8, 8, generator=_gen(1)) < 0.4
    out = get_baseline(name)(video, missing)
    assert out.shape == video.shape and out.dtype == video.dtype
    visible = ~missing[:, None].expand_as(video)
    assert torch.equal(out[visible], video[visible])
    assert torch.isfinite(out).all() and not torch.equal(out[~visible], video[~visible])


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_nothing_hidden_returns_the_video(name: str) -> None:
    video = torch.rand(3, 3, 4, 4, generator=_gen(0))
    assert torch.equal(get_baseline(name)(video, torch.zeros(3, 4, 4, dtype=torch.bool)), video)


def test_bad_inputs_are_reported() -> None:
    video = torch.zeros(3, 3, 4, 4)
    with pytest.raises(MaskError, match=r"\(3, 4, 5\).*\(3, 4, 4\)"):
        mrf.fill_l2(video, torch.zeros(3, 4, 5, dtype=torch.bool))
    with pytest.raises(MaskError, match="every pixel"):
        interp.fill(video, torch.ones(3, 4, 4, dtype=torch.bool))
    with pytest.raises(UsageError, match="interp, mrf-l2, mrf-l1"):
        get_baseline("nearest")


def test_recovery_error_and_psnr_known_values() -> None:
    truth = torch.zeros(2, 3, 4, 4)
    missing = torch.zeros(2, 4, 4, dtype=torch.bool)
    missing[0, 1, 1] = missing[1, 2, 3] = True
    recovered = torch.full_like(truth, 0.9)  # visible pixels are wrong but do not count
    recovered[0, :, 1, 1] = 2 / 127.5  # +2 gray levels in all channels
    recovered[1, :, 2, 3] = torch.tensor([-4, 4, -4]) / 127.5  # 4 gray levels
    assert recovery_error(recovered, truth, missing) == pytest.approx(3.0)
    mse = (3 * 4 + 3 * 16) / 6
    assert hidden_psnr(recovered, truth, missing) == pytest.approx(10 * math.log10(255**2 / mse))
    assert hidden_psnr(truth, truth, missing) == math.inf
    with pytest.raises(MaskError, match="hides no pixel"):
        recovery_error(truth, truth, torch.zeros_like(missing))
