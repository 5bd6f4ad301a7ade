"""The distribution that synthesis draws the innovations xi_t from.

The model's prior is xi_t ~ N(0, I) (``"prior"``, the paper's synthesis). But
the innovations that inference finds for the training frames need not fill
that prior (their covariance can be far from I), so fresh N(0, I) noise
drives the transition in directions it never learned from. ``"posterior"``
(the default) fits a Gaussian to the inferred innovations of all training
frames instead, shrunk towards an isotropic one of the same total variance,
as the LDS baseline draws its driving noise from its residuals' covariance:
a fitted density on the inferred latents, the standard remedy for the "prior
hole" of latent variable models (ex-post density estimation). Measured in the
README, "Where dyngen departs".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dyngen.errors import UsageError

NOISE_CHOICES = ("posterior", "prior")
SHRINK = 0.2  # weight of the isotropic target (0.1-0.3 measured alike)


@dataclass
class Innovations:
    """xi_t ~ N(mean, L L^T), independent over time and videos; ``tril`` None is the identity (the prior)."""

    mean: torch.Tensor  # (k,)
    tril: torch.Tensor | None = None  # (k, k) lower triangular

    @classmethod
    def prior(cls, noise_dim: int, device: torch.device | str = "cpu") -> Innovations:
        return cls(torch.zeros(noise_dim, device=device))

    @classmethod
    def fitted(cls, noise: torch.Tensor, shrink: float = SHRINK) -> Innovations:
        """Fit to inferred innovations ``(..., k)``: their mean, and their covariance shrunk towards ``v I``.

        ``v`` is the mean variance, so the total variance is kept; ``shrink`` in (0, 1] keeps the covariance
        full rank when there are fewer frames than dimensions. Fewer than 2 frames give the prior.
        """
        x = noise.reshape(-1, noise.shape[-1]).double()
        k = x.shape[1]
        if x.shape[0] < 2:
            return cls.prior(k, noise.device)
        if not 0 < shrink <= 1:
            raise UsageError(f"shrink must be in (0, 1], got {shrink}")
        cov = torch.cov(x.T).reshape(k, k)
        target = cov.diagonal().mean() * torch.eye(k, dtype=x.dtype, device=x.device)
        tril = torch.linalg.cholesky((1 - shrink) * cov + shrink * target)
        return cls(x.mean(0).to(noise.dtype), tril.to(noise.dtype))

    @classmethod
    def of(cls, kind: str, noise: torch.Tensor) -> Innovations:
        """``"posterior"``: fitted to the inferred innovations ``noise`` ``(N, T, k)``; ``"prior"``: N(0, I)."""
        if kind not in NOISE_CHOICES:
            raise UsageError(f"unknown noise '{kind}'; allowed: {', '.join(NOISE_CHOICES)}")
        return cls.fitted(noise) if kind == "posterior" else cls.prior(noise.shape[-1], noise.device)

    def sample(
        self, *shape: int, generator: torch.Generator | None = None, scale: float = 1.0, device=None
    ) -> torch.Tensor:
        """``(*shape, k)`` draws; ``scale`` multiplies the deviation from the mean (1 is the distribution itself).

        The standard normal draws come from ``generator`` on its own device and move to ``device`` (default: the
        mean's), so a seed gives the same video on any device; the prior's draws are those of ``torch.randn``.
        """
        device = self.mean.device if device is None else device
        z = torch.randn(*shape, len(self.mean), generator=generator, device=generator.device if generator else "cpu")
        return self.transform(z.to(device), scale=scale)

    def transform(self, z: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
        """Innovations ``(..., k)`` from standard normal ``z`` ``(..., k)``: ``mean + scale L z`` (differentiable)."""
        if self.tril is None:
            return z * scale
        return self.mean.to(z.device) + scale * (z @ self.tril.to(z.device).T)
