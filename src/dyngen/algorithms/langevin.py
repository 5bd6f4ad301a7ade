"""Langevin dynamics for the posterior of the latent variables.

For latents z (any of xi, s_0, a) and an energy E(z) = -log p(z | x) + const,
each step is

    z <- z - (delta^2 / 2) * dE/dz + delta * N(0, I)

The dynamic generator's posterior energy over one window is

    E = 1/(2 sigma^2) sum_{t, observed pixels} (x_t - G(s_t, a))^2
        + 1/2 ||xi||^2 + 1/2 ||s_0||^2 + 1/2 ||a||^2

with the states s_t unrolled through the learned transition F (gradients flow
back through G and through time). This is the true posterior: the likelihood
is a plain sum over observed values, not a mean (PAPER.md section 4, item 2).
An optional ``energy_scale`` multiplies the likelihood term; 1 is the posterior.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dyngen.models.dynamic_generator import DynamicGenerator

Latents = dict[str, torch.Tensor]
Noise = Callable[[torch.Tensor], torch.Tensor]  # like -> N(0, I) of its shape


def langevin(
    energy: Callable[[Latents], torch.Tensor],
    z: Latents,
    *,
    steps: int,
    step_size: float,
    generator: torch.Generator | None = None,
    randn: Noise | None = None,
    backward: bool = False,
) -> Latents:
    """Run ``steps`` Langevin steps on the latents ``z`` under ``energy``.

    Args:
        energy: maps latents to a scalar energy (the negative log posterior).
        z: named latent tensors; only these receive gradients.
        steps: number of Langevin steps (l in the paper).
        step_size: delta in the paper.
        generator: source of the injected noise; the same state gives the same chain.
        randn: draws the injected noise for a tensor like the one given (default: from ``generator``);
            data-parallel training passes ``Shard.randn``.
        backward: differentiate with ``energy.backward()`` instead of with respect to the latents only, so
            that every parameter that requires a gradient also accumulates ``dE/dparam`` at each step's
            starting latents (ABPTT's ``fuse_learning`` runs its last step so).

    Returns:
        The updated latents, detached.
    """
    names = list(z)
    for _ in range(steps):
        leaves = {k: z[k].detach().requires_grad_(True) for k in names}
        if backward:
            energy(leaves).backward()
            grads = [leaves[k].grad for k in names]
        else:
            grads = torch.autograd.grad(energy(leaves), [leaves[k] for k in names])
        z = {}
        for k, g in zip(names, grads):
            v = leaves[k].detach()
            if randn is None:
                eps = torch.randn(v.shape, generator=generator, device=v.device, dtype=v.dtype)
            else:
                eps = randn(v)
            z[k] = v - 0.5 * step_size**2 * g + step_size * eps
    return {k: v.detach() for k, v in z.items()}


def reconstruction_error(
    frames: torch.Tensor, recon: torch.Tensor, observed: torch.Tensor | None = None
) -> torch.Tensor:
    """``sum over observed values of (x - x_hat)^2``, a scalar. Shapes ``(B, T, 3, H, W)``."""
    diff = (frames - recon).square()
    if observed is not None:
        diff = diff * observed
    return diff.sum()


def posterior_energy(
    model: DynamicGenerator,
    frames: torch.Tensor,
    z: Latents,
    *,
    sigma: float,
    s_prev: torch.Tensor | None = None,
    appearance: torch.Tensor | None = None,
    observed: torch.Tensor | None = None,
    energy_scale: float = 1.0,
    record: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The energy of one window's latents.

    Args:
        model: the dynamic generator.
        frames: ``(B, T, 3, H, W)`` the window's observed frames.
        z: latents being sampled: ``noise (B, T, k)`` always, ``s0 (B, d)`` in the
            first window, ``appearance (B, c)`` when the model has it.
        sigma: the observation noise's standard deviation.
        s_prev: ``(B, d)`` the carried state when ``s0`` is not in ``z`` (a constant).
        appearance: ``(B, c)`` a fixed appearance when it is not in ``z``.
        observed: ``(B, T, 1, H, W)`` weights, 1 = observed.
        energy_scale: multiplies the likelihood term (1 = the true posterior).
        record: when given, receives ``"error"``, the reconstruction error (``reconstruction_error``).

    Returns:
        The scalar energy.
    """
    s0 = z.get("s0", s_prev)
    a = z.get("appearance", appearance)
    recon, _ = model(s0, z["noise"], a)
    error = reconstruction_error(frames, recon, observed)
    if record is not None:
        record["error"] = error
    energy = energy_scale / (2 * sigma**2) * error
    for v in z.values():
        energy = energy + 0.5 * v.square().sum()
    return energy
