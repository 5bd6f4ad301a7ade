"""Tests of the linear dynamic system baseline against systems with known answers."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from dyngen.baselines.lds import LinearDynamicSystem
from dyngen.errors import DyngenError, UsageError

SHAPE = (3, 8, 8)
D = math.prod(SHAPE)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny linear algebra is much slower multi-threaded on a busy machine; run these tests on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def rotation(angle: float, radius: float = 1.0) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return radius * torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def linear_video(
    a: torch.Tensor, frames: int, *, noise: float = 0.0, amplitude: float = 0.15, seed: int = 0
) -> torch.Tensor:
    """Frames ``C s_t + mean`` of ``s_t = A s_{t-1} + noise v_t`` with random orthonormal C: ``(T, 3, 8, 8)``."""
    g = torch.Generator().manual_seed(seed)
    d = a.shape[0]
    c, _ = torch.linalg.qr(torch.randn(D, d, generator=g, dtype=torch.float64))
    mean = 0.3 * torch.rand(D, generator=g, dtype=torch.float64) - 0.15
    s = torch.randn(d, generator=g, dtype=torch.float64)
    states = []
    for _ in range(frames):
        states.append(s)
        s = a @ s + noise * torch.randn(d, generator=g, dtype=torch.float64)
    y = amplitude * torch.stack(states) @ c.T + mean
    return y.reshape(frames, *SHAPE).float()


def periodic_system() -> torch.Tensor:
    """Two rotations whose periods divide T = 50, so the states have zero temporal mean (the PCA mean is exact)."""
    a = torch.zeros(4, 4, dtype=torch.float64)
    a[:2, :2] = rotation(2 * math.pi * 3 / 50)
    a[2:, 2:] = rotation(2 * math.pi * 7 / 50)
    return a


def test_noise_free_system_is_recovered_up_to_similarity():
    a_true = periodic_system()
    frames = linear_video(a_true, 50)
    lds = LinearDynamicSystem(frame_shape=SHAPE, state_dim=4).fit(frames)
    assert int(lds.rank) == 4
    # The eigenvalues are invariant to the similarity transform between true and fitted states.
    eig_fit = torch.linalg.eigvals(lds.A.double())
    eig_true = torch.linalg.eigvals(a_true)
    key = lambda z: (round(z.real.item(), 4), round(z.imag.item(), 4))  # noqa: E731
    for zf, zt in zip(sorted(eig_fit, key=key), sorted(eig_true, key=key)):
        assert abs(zf - zt) < 1e-4
    assert lds.spectral_radius == pytest.approx(1.0, abs=1e-4)
    # One-step prediction is exact: C A s_t = y_{t+1} - mean.
    y = frames.flatten(1)
    pred = lds.states[:-1] @ lds.A.T @ lds.C.T
    assert torch.allclose(pred, y[1:] - lds.mean, atol=1e-4)
    assert torch.allclose(lds.reconstruct(), frames, atol=1e-4)
    assert lds.B.abs().max() < 1e-4  # no driving noise in the data


def test_state_dim_is_capped_at_the_rank():
    frames = linear_video(periodic_system(), 50)
    lds = LinearDynamicSystem(frame_shape=SHAPE, state_dim=10).fit(frames)
    assert int(lds.rank) == 4
    assert lds.A[4:].abs().max() == 0 and lds.C[:, 4:].abs().max() == 0
    short = LinearDynamicSystem(frame_shape=SHAPE, state_dim=10).fit(frames[:3])
    assert int(short.rank) == 2  # at most T - 1


def test_spectral_radius_of_a_damped_noisy_system():
    a_true = torch.zeros(4, 4, dtype=torch.float64)
    a_true[:2, :2] = rotation(0.3, 0.9)
    a_true[2:, 2:] = rotation(0.8, 0.7)
    frames = linear_video(a_true, 400, noise=1.0, amplitude=0.05)
    lds = LinearDynamicSystem(frame_shape=SHAPE, state_dim=4).fit(frames)
    assert lds.spectral_radius == pytest.approx(0.9, abs=0.04)
    assert lds.B.abs().max() > 0


def test_synthesize_shape_determinism_and_s0():
    frames = linear_video(periodic_system(), 50, noise=0.2)
    lds = LinearDynamicSystem(frame_shape=SHAPE, state_dim=4).fit(frames)
    out = lds.synthesize(30, num=2, generator=torch.Generator().manual_seed(3))
    assert out.shape == (2, 30, *SHAPE)
    assert out.abs().max() <= 1
    again = lds.synthesize(30, num=2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    assert not torch.equal(out[0], out[1])  # independent noise per video
    assert torch.allclose(out[:, 0], lds.reconstruct()[0].expand(2, -1, -1, -1), atol=1e-5)
    zero = lds.synthesize(5, s0=torch.zeros(4), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(zero[0, 0], lds.mean.reshape(SHAPE).clamp(-1, 1))
    with pytest.raises(UsageError, match="positive"):
        lds.synthesize(0)
    with pytest.raises(DyngenError, match="s0"):
        lds.synthesize(3, s0=torch.zeros(5))


def test_state_dict_round_trip_through_safetensors(tmp_path):
    frames = linear_video(periodic_system(), 50, noise=0.2)
    lds = LinearDynamicSystem(frame_shape=SHAPE, state_dim=6).fit(frames)
    save_file(lds.state_dict(), tmp_path / "lds.safetensors")
    loaded = LinearDynamicSystem(frame_shape=SHAPE, state_dim=6)
    assert not loaded.is_fitted
    loaded.load_state_dict(load_file(tmp_path / "lds.safetensors"))
    assert loaded.is_fitted and int(loaded.rank) == int(lds.rank)
    assert torch.equal(loaded.reconstruct(), lds.reconstruct())
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    assert torch.equal(loaded.synthesize(8, generator=gen()), lds.synthesize(8, generator=gen()))


def test_masked_fit_recovers_hidden_pixels_of_a_low_rank_video():
    a_true = torch.zeros(4, 4, dtype=torch.float64)
    a_true[:2, :2] = rotation(0.3, 0.95)
    a_true[2:, 2:] = rotation(0.7, 0.95)
    frames = linear_video(a_true, 60, noise=0.3, amplitude=0.1)
    g = torch.Generator().manual_seed(1)
    missing = torch.rand(60, 8, 8, generator=g) < 0.3
    missing[20] = True  # one whole frame hidden: only the dynamics can fill it
    observed = torch.where(missing[:, None], torch.zeros_like(frames), frames)  # hidden values must not matter
    lds = LinearDynamicSystem(frame_shape=SHAPE, state_dim=4).fit(observed, missing=missing, iterations=20)
    recovered = lds.fill_missing(observed, missing)
    hidden = missing[:, None].expand_as(frames)
    assert torch.equal(recovered[~hidden], frames[~hidden])  # visible pixels kept exactly
    # Error of the initialisation: each pixel's temporal mean over its visible values.
    vis = (~missing[:, None]).float()
    pixel_mean = (frames * vis).sum(0) / vis.sum(0)
    init_err = (pixel_mean.expand_as(frames) - frames)[hidden].abs().mean()
    err = (recovered - frames)[hidden].abs().mean()
    assert err < 0.03 * init_err
    frame_err = (recovered[20] - frames[20]).abs().mean()
    assert frame_err < 0.4 * (pixel_mean - frames[20]).abs().mean()


def test_bad_inputs_raise():
    with pytest.raises(UsageError, match="state_dim"):
        LinearDynamicSystem(frame_shape=SHAPE, state_dim=0)
    lds = LinearDynamicSystem(frame_shape=SHAPE, state_dim=2)
    with pytest.raises(DyngenError, match="not fitted"):
        lds.synthesize(3)
    with pytest.raises(DyngenError, match="frames must be"):
        lds.fit(torch.zeros(5, 3, 4, 4))
    with pytest.raises(DyngenError, match="missing must be"):
        lds.fit(torch.zeros(5, *SHAPE), missing=torch.zeros(5, 4, 4, dtype=torch.bool))
    with pytest.raises(UsageError, match="iterations"):
        lds.fit(torch.zeros(5, *SHAPE), missing=torch.zeros(5, 8, 8, dtype=torch.bool), iterations=0)
