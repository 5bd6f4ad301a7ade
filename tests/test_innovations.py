"""The distribution of fresh innovations at synthesis: the prior N(0, I) or a Gaussian fitted to the inferred ones."""

from __future__ import annotations

import pytest
import torch

from dyngen.errors import UsageError
from dyngen.models.innovations import SHRINK, Innovations


def test_prior_draws_are_torch_randn():
    a = Innovations.prior(5).sample(3, 4, generator=torch.Generator().manual_seed(7), scale=0.5)
    assert torch.equal(a, torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(7)) * 0.5)


def test_fit_is_the_shrunk_sample_covariance():
    g = torch.Generator().manual_seed(0)
    k = 6
    mix = torch.randn(k, k, generator=g)
    noise = 2.0 + torch.randn(2, 50, k, generator=g) @ mix.T  # (N, T, k), pooled over both videos
    fit = Innovations.fitted(noise)
    x = noise.reshape(-1, k).double()
    cov = torch.cov(x.T)
    expected = (1 - SHRINK) * cov + SHRINK * cov.diagonal().mean() * torch.eye(k, dtype=torch.float64)
    got = fit.tril.double() @ fit.tril.double().T
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fit.mean, x.mean(0).float())
    assert torch.equal(fit.tril, torch.tril(fit.tril))
    # the draws follow it: sample mean and covariance of many draws
    draws = fit.sample(40000, generator=torch.Generator().manual_seed(1)).double()
    torch.testing.assert_close(draws.mean(0), x.mean(0), atol=0.1, rtol=0)
    assert (torch.cov(draws.T) - expected).abs().max() < 0.05 * expected.abs().max()
    # scale shrinks the spread around the mean, not the mean
    half = fit.sample(40000, generator=torch.Generator().manual_seed(1), scale=0.5).double()
    torch.testing.assert_close(half - x.mean(0).float(), 0.5 * (draws - x.mean(0).float()), atol=1e-4, rtol=1e-4)


def test_fewer_frames_than_dimensions_still_give_a_full_rank_fit():
    noise = torch.randn(1, 5, 20, generator=torch.Generator().manual_seed(0))  # 5 frames, k = 20
    fit = Innovations.fitted(noise)
    assert torch.isfinite(fit.tril).all() and (fit.tril.diagonal() > 0).all()
    assert Innovations.fitted(noise[:, :1]).tril is None  # one frame: no covariance, the prior


def test_unknown_kind_and_bad_shrink_are_usage_errors():
    with pytest.raises(UsageError, match="allowed: posterior, prior"):
        Innovations.of("gaussian", torch.zeros(1, 4, 3))
    with pytest.raises(UsageError, match="shrink"):
        Innovations.fitted(torch.zeros(1, 4, 3), shrink=0.0)
