"""Langevin dynamics for the posterior of the latent variables.

For latents z (any of xi, s_0, a) and an energy E(z) = -log p(z | x) + const,
each step is

    z <- z - (delta^2 / 2) * dE/dz + delta * N(0, I)

The dynamic generator's posterior energy over one window is

    E = 1/(2 sigma^2) sum_{t, observed pixels} (x_t - G(s_t, a, x_{t-1}))^2
        + 1/2 ||xi||^2 + 1/2 ||s_0||^2 + 1/2 ||a||^2

with the states s_t unrolled through the learned transition F (gradients flow
back through G and through time). This is the true posterior: the likelihood
is a plain sum over observed values, not a mean (PAPER.md section 4, item 2).
An optional ``energy_scale`` multiplies the likelihood term; 1 is the posterior.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from dyngen.models.dynamic_generator import DynamicGenerator

Latents = dict[str, torch.Tensor]
Noise = Callable[[torch.Tensor], torch.Tensor]  # like -> N(0, I) of its shape
LATENT_LIMIT = 1e3  # |latent| above this is a Langevin explosion (the prior is N(0, I))


def gaussian_noise(generator: torch.Generator | None = None) -> Noise:
    """Draws N(0, I) shaped like a given tensor, from ``generator``."""
    return lambda v: torch.randn(v.shape, generator=generator, device=v.device, dtype=v.dtype)


def langevin_update(z: Latents, grads: Sequence[torch.Tensor], *, step_size: float, noise: Noise) -> Latents:
    """One Langevin move of every latent: ``z - delta^2 / 2 * dE/dz + delta * eps`` (``grads`` in ``z``'s order)."""
    out = {}
    for (k, v), g in zip(z.items(), grads, strict=True):
        v = v.detach()
        out[k] = v - 0.5 * step_size**2 * g + step_size * noise(v)
    return out


def langevin(
    energy: Callable[[Latents], torch.Tensor],
    z: Latents,
    *,
    steps: int,
    step_size: float,
    noise: Noise | None = None,
    generator: torch.Generator | None = None,
) -> Latents:
    """Run ``steps`` Langevin steps on the latents ``z`` under ``energy``.

    Args:
        energy: maps latents to a scalar energy (the negative log posterior).
        z: named latent tensors; only these are differentiated (nothing else accumulates a gradient).
        steps: number of Langevin steps (l in the paper).
        step_size: delta in the paper.
        noise: draws the injected N(0, I) for a tensor like the one given (default: from ``generator``);
            data-parallel training passes ``Shard.randn``.
        generator: the source of the default noise; the same state gives the same chain.

    Returns:
        The updated latents, detached.
    """
    noise = noise or gaussian_noise(generator)
    for _ in range(steps):
        leaves = {k: v.detach().requires_grad_(True) for k, v in z.items()}
        grads = torch.autograd.grad(energy(leaves), list(leaves.values()))
        z = langevin_update(leaves, grads, step_size=step_size, noise=noise)
    return {k: v.detach() for k, v in z.items()}


def reconstruction_error(
    frames: torch.Tensor, recon: torch.Tensor, observed: torch.Tensor | None = None
) -> torch.Tensor:
    """``sum over observed values of (x - x_hat)^2``, a scalar. Shapes ``(B, T, 3, H, W)``."""
    diff = (frames - recon).square()
    if observed is not None:
        diff = diff * observed
    return diff.sum()


def posterior_energy(error: torch.Tensor, z: Latents, *, sigma: float, energy_scale: float = 1.0) -> torch.Tensor:
    """``energy_scale / (2 sigma^2) * error + 1/2 sum ||z||^2``: the energy of latents ``z`` whose rendering has
    the reconstruction ``error`` (``reconstruction_error``)."""
    energy = energy_scale / (2 * sigma**2) * error
    for v in z.values():
        energy = energy + 0.5 * v.square().sum()
    return energy


class WindowFit(NamedTuple):
    """A window's reconstruction ``error`` (sum of squares over observed values) and the ``objective`` that the
    energy and the learning loss use: the error plus the emission's penalty (the error itself when it has none)."""

    error: torch.Tensor
    objective: torch.Tensor


def window_error(
    model: DynamicGenerator,
    frames: torch.Tensor,
    z: Latents,
    *,
    s_prev: torch.Tensor | None = None,
    previous: torch.Tensor | None = None,
    appearance: torch.Tensor | None = None,
    observed: torch.Tensor | None = None,
) -> WindowFit:
    """The reconstruction error of one window's latents, and the objective (the error plus the emission's penalty).

    Args:
        model: the dynamic generator.
        frames: ``(B, T, 3, H, W)`` the window's observed frames.
        z: ``noise (B, T, k)`` always, ``s0 (B, d)`` in the first window, ``appearance (B, c)`` when sampled.
        s_prev: ``(B, d)`` the carried state when ``s0`` is not in ``z`` (a constant).
        previous: ``(B, 3, H, W)`` the frame before the window, for emissions that read it (a constant).
        appearance: ``(B, c)`` a fixed appearance when it is not in ``z``.
        observed: ``(B, T, 1, H, W)`` weights, 1 = observed.

    Returns:
        ``error``, the scalar ``sum over observed values of (x - G(F(s, xi), a))^2``, and ``objective``, that plus
        the emission's penalty (``Emission.terms``).
    """
    states = model.transition.rollout(z.get("s0", s_prev), z["noise"])
    recon, penalty = model.generator.terms(states, z.get("appearance", appearance), previous, frames, observed)
    error = reconstruction_error(frames, recon.to(frames.dtype), observed)
    return WindowFit(error, error if penalty is None else error + penalty.to(error.dtype))
