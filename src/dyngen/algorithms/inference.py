"""Latent inference with a frozen model: the latents of new videos (or of stills, one-frame videos).

With the weights (alpha, beta) fixed, sample the posterior of a video's latents

    (a, s_0, xi_1..xi_T) ~ p(a, s_0, xi | x) ∝ exp(-E),
    E = 1/(2 sigma^2) sum_t ||x_t - G(F^t(s_0, xi), a)||^2 + 1/2 (||xi||^2 + ||s_0||^2 + ||a||^2)

by Langevin dynamics (``dyngen.algorithms.langevin.langevin`` on the
posterior energy) over the whole sequence, gradients flowing back through
G and through the unrolled transition (PAPER.md section 3, experiment 5).

Three things make a cold start reliable where training's few steps per epoch
would not be:

- **Initialisation from the training chains** (``init="nearest"``): every
  training video and every offset t0 into it is a candidate start,
  ``s_0 = s^i_{t0-1}`` (its inferred state before frame t0), ``xi = xi^i_{t0..}``
  and ``a = a^i``, so the first rendered frames are the training
  reconstruction from t0 on. Candidates are ranked by their energy; the best
  offset of each of the ``restarts`` best training videos starts a chain.
  ``init="prior"`` starts every chain from N(0, I) instead.
- **Restarts**: the chains run side by side (one batch); the one with the
  lowest final energy wins.
- **Annealing**: a fraction ``sample_fraction`` of the steps samples the
  posterior (temperature 1); the rest lower the temperature geometrically to
  ``min_temperature``, which ends near the posterior mode, so the
  reconstruction is sharp. On the animal model (benchmarks/actions.py) a
  long sampling phase only raised the final energy (stills: half the steps
  sampling ended 5-15% higher than none), hence the default of 0.2.
  At temperature tau a step is Langevin on E / tau with step
  ``delta sqrt(tau)``: the drift ``delta^2 / 2 * dE/dz`` is unchanged and the
  injected noise shrinks.

A chain that explodes (a latent beyond ``LATENT_LIMIT``) makes the whole
schedule start again with half the step size, up to ``RETRIES`` tries.

The model is put in ``eval()`` mode (BatchNorm's fixed statistics, so chains
do not interact) and its parameters are never updated (``frozen``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from dyngen.algorithms.abptt import Chains
from dyngen.algorithms.execution import frozen
from dyngen.algorithms.langevin import LATENT_LIMIT, Latents, langevin, posterior_energy, window_error
from dyngen.config import POSITIVE, POSITIVE_INT, DictConfig, Range, option
from dyngen.errors import DyngenError, UsageError
from dyngen.models.dynamic_generator import DynamicGenerator

log = logging.getLogger(__name__)
INITS = ("nearest", "prior")
STAGES = 20  # temperature changes over a schedule
RETRIES = 4  # after a divergence the step size is halved, this many times in all


@dataclass
class EncodeConfig(DictConfig):
    """Settings of frozen-model inference.

    ``step_size`` and ``sigma`` default (None) to the run's training values; for
    a sequence shorter than the training videos, the default step grows as
    ``sqrt(T_train / T)`` (the energy's curvature grows with the number of
    frames), capped at 4x.
    """

    kind: ClassVar[str] = "inference"

    steps: int = option(300, "Langevin steps (a fifth sampling, then annealing)", range=POSITIVE_INT)
    step_size: float | None = option(None, "Langevin step delta (default: from the run)", range=POSITIVE)
    restarts: int = option(4, "chains per input; the lowest energy wins", range=POSITIVE_INT)
    min_temperature: float = option(
        1e-3, "the temperature the annealing ends at", range=Range(lo=0, hi=1, lo_open=True, hi_open=False), cli=False
    )
    sample_fraction: float = option(
        0.2, "the fraction of the steps that samples at temperature 1", range=Range(lo=0, hi=1, hi_open=False),
        cli=False,
    )  # fmt: skip
    sigma: float | None = option(None, "observation noise in the energy (default: the run's)", range=POSITIVE)
    init: str = option("nearest", "start from the nearest training latents or N(0, I)", choices=INITS)


@dataclass
class Encoded:
    """Inferred latents of B sequences of T frames, with the chosen chain's figures."""

    appearance: torch.Tensor  # (B, c); c may be 0
    s0: torch.Tensor  # (B, d)
    noise: torch.Tensor  # (B, T, k)
    energy: torch.Tensor  # (B,) posterior energy (temperature 1) of the returned latents
    reconstruction: torch.Tensor  # (B, T, 3, H, W) in [-1, 1]
    start: list[int | None]  # the training video each chain started from (None: the prior)

    def mse(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B,)`` mean squared reconstruction error against ``frames (B, T, 3, H, W)`` on the [-1, 1] scale."""
        return (self.reconstruction - frames.to(self.reconstruction)).square().flatten(1).mean(1)

    def item(self, b: int) -> dict[str, torch.Tensor]:
        """Latents of sequence ``b``: ``appearance (c,)``, ``s0 (d,)``, ``noise (T, k)``."""
        return {"appearance": self.appearance[b], "s0": self.s0[b], "noise": self.noise[b]}


def _latents(z: Latents, appearance_dim: int) -> Latents:
    return z if appearance_dim else {k: v for k, v in z.items() if k != "appearance"}


@torch.no_grad()
def item_energies(model: DynamicGenerator, frames: torch.Tensor, z: Latents, *, sigma: float) -> torch.Tensor:
    """``(B,)`` posterior energy of each sequence: ``frames (B, T, 3, H, W)``, latents batched alike."""
    out = []
    for b in range(frames.shape[0]):
        zb = {k: v[b : b + 1] for k, v in z.items()}
        out.append(posterior_energy(window_error(model, frames[b : b + 1], zb).objective, zb, sigma=sigma))
    return torch.stack(out)


@torch.no_grad()
def nearest_starts(
    model: DynamicGenerator, frames: torch.Tensor, bank: Chains, *, sigma: float, count: int, generator: torch.Generator
) -> tuple[Latents, list[list[int]]]:
    """Start latents from the training chains: the best offset into each of the ``count`` best training videos.

    Args:
        model: the frozen model, in eval mode.
        frames: ``(B, T, 3, H, W)`` the sequences to encode.
        bank: the training chains, N videos of T_train frames.
        sigma: the observation noise.
        count: starts per sequence (at most N).
        generator: draws the noise beyond the training length.

    Returns:
        Latents batched ``(B * count, ...)``, sequence-major, and the training video of each start.
    """
    b, t = frames.shape[:2]
    n, t_train = bank.noise.shape[:2]
    a = bank.appearance if model.appearance_dim else None
    states = model.transition.rollout(bank.s0, bank.noise)  # (N, T_train, d)
    before = torch.cat([bank.s0[:, None], states[:, :-1]], dim=1)  # s_{t0-1} for every t0
    offsets = list(range(0, t_train, max(1, t)))
    extra = torch.randn(n, t, bank.noise.shape[2], generator=generator, device=generator.device).to(bank.noise)
    padded = torch.cat([bank.noise, extra], dim=1)  # noise beyond the training length: fresh draws
    energies = torch.empty(b, n, len(offsets))
    for j, t0 in enumerate(offsets):
        z = {"s0": before[:, t0], "noise": padded[:, t0 : t0 + t]}
        if a is not None:
            z["appearance"] = a
        recon, _ = model(z["s0"], z["noise"], a)  # (N, T, 3, H, W)
        prior = 0.5 * sum(v.square().flatten(1).sum(1) for v in z.values())  # (N,)
        for i in range(b):
            err = (frames[i][None] - recon).square().flatten(1).sum(1)  # (N,)
            energies[i, :, j] = (err / (2 * sigma**2) + prior).cpu()
    best_energy, best_offset = energies.min(dim=2)  # (B, N)
    videos = best_energy.argsort(dim=1)[:, :count]  # (B, count)
    z_out: dict[str, list[torch.Tensor]] = {"s0": [], "noise": [], "appearance": []}
    for i in range(b):
        for v in videos[i].tolist():
            t0 = offsets[int(best_offset[i, v])]
            z_out["s0"].append(before[v, t0])
            z_out["noise"].append(padded[v, t0 : t0 + t])
            z_out["appearance"].append(bank.appearance[v])
    return {k: torch.stack(v) for k, v in z_out.items()}, videos.tolist()


def temperatures(steps: int, min_temperature: float, sample_fraction: float = 0.2) -> list[tuple[int, float]]:
    """``[(steps, tau), ...]``: ``sample_fraction`` of the steps at tau = 1, then geometric stages down to
    ``min_temperature``."""
    hot = min(steps - 1, round(steps * sample_fraction))
    stages = min(STAGES, steps - hot)
    plan = [(hot, 1.0)] if hot else []
    for j in range(stages):
        n = (steps - hot) // stages + (1 if j < (steps - hot) % stages else 0)
        plan.append((n, min_temperature ** ((j + 1) / stages)))
    return plan


def anneal(
    model: DynamicGenerator,
    frames: torch.Tensor,
    z: Latents,
    *,
    sigma: float,
    step_size: float,
    config: EncodeConfig,
    generator: torch.Generator,
) -> Latents | None:
    """Langevin through the temperature schedule (``temperatures``); None if a latent exceeds ``LATENT_LIMIT``.

    Args:
        model: the frozen model in eval mode.
        frames: ``(B, T, 3, H, W)``.
        z: start latents batched like ``frames``.
        sigma: the observation noise.
        step_size: delta at temperature 1.
        config: steps and the final temperature.
        generator: the injected noise.
    """
    for n_steps, tau in temperatures(config.steps, config.min_temperature, config.sample_fraction):

        def energy(zz: Latents, tau: float = tau) -> torch.Tensor:
            return posterior_energy(window_error(model, frames, zz).objective, zz, sigma=sigma) / tau

        z = langevin(energy, z, steps=n_steps, step_size=step_size * math.sqrt(tau), generator=generator)
        worst = max(float(v.abs().max()) if v.numel() else 0.0 for v in z.values())
        if not math.isfinite(worst) or worst > LATENT_LIMIT:
            return None
    return z


def infer_latents(
    model: DynamicGenerator,
    frames: torch.Tensor,
    *,
    sigma: float,
    step_size: float,
    config: EncodeConfig | None = None,
    bank: Chains | None = None,
    generator: torch.Generator | None = None,
) -> Encoded:
    """Infer the latents of new sequences with the model frozen (see the module docstring).

    Args:
        model: a trained dynamic generator; its parameters are left untouched.
        frames: ``(B, T, 3, H, W)`` in [-1, 1]; ``T = 1`` for a still.
        sigma: the observation noise in the energy.
        step_size: delta, the Langevin step at temperature 1.
        config: steps, restarts, annealing and initialisation (``step_size`` and ``sigma`` there are ignored).
        bank: the training chains, for ``init="nearest"`` (required there).
        generator: every random draw; the same seed gives the same latents.

    Returns:
        The best chain's latents for each sequence.
    """
    cfg = config or EncodeConfig()
    if frames.ndim != 5 or frames.shape[2] != 3 or tuple(frames.shape[3:]) != (model.config.height, model.config.width):
        raise UsageError(
            f"frames must be (B, T, 3, {model.config.height}, {model.config.width}) for this model, "
            f"got {tuple(frames.shape)}"
        )
    device = next(model.parameters()).device
    g = generator or torch.Generator(device).manual_seed(0)
    frames = frames.to(device)
    b, t = frames.shape[:2]
    was_training = model.training
    model.eval()
    try:
        with frozen(model):
            if cfg.init == "nearest":
                if bank is None:
                    raise UsageError("init='nearest' needs the training chains (bank); pass them or use init='prior'")
                count = min(cfg.restarts, bank.s0.shape[0])
                z, starts = nearest_starts(model, frames, bank.to(device), sigma=sigma, count=count, generator=g)
                if count < cfg.restarts:  # fewer training videos than restarts: the rest start from the prior
                    more = Chains.from_prior(model, b * (cfg.restarts - count), t, generator=g).to(device).tensors()
                    z = {k: torch.cat([z[k].unflatten(0, (b, count)), more[k].unflatten(0, (b, -1))], 1).flatten(0, 1)
                         for k in z}  # fmt: skip
                    starts = [row + [None] * (cfg.restarts - count) for row in starts]
            else:
                z = Chains.from_prior(model, b * cfg.restarts, t, generator=g).to(device).tensors()
                starts = [[None] * cfg.restarts for _ in range(b)]
            r = cfg.restarts
            z = _latents(z, model.appearance_dim)
            x = frames.repeat_interleave(r, dim=0)  # (B r, T, 3, H, W), sequence-major like z
            step = step_size
            for attempt in range(RETRIES):
                out = anneal(model, x, z, sigma=sigma, step_size=step, config=cfg, generator=g)
                if out is not None:
                    break
                if attempt < RETRIES - 1:
                    log.warning("Langevin inference diverged with step size %g; trying %g", step, step / 2)
                step /= 2
            else:
                raise DyngenError(
                    f"Langevin inference diverged even with step size {step * 2:g} (from {step_size:g}); "
                    f"give a smaller step size or a larger sigma (it was {sigma:g})"
                )
            z = out
            energies = item_energies(model, x, z, sigma=sigma).view(b, r)
            best = energies.argmin(dim=1)
            pick = torch.arange(b, device=best.device) * r + best
            z = {k: v[pick] for k, v in z.items()}
            with torch.no_grad():
                recon, _ = model(z["s0"], z["noise"], z.get("appearance"))
    finally:
        model.train(was_training)
    c = model.appearance_dim
    appearance = z["appearance"] if c else torch.zeros(b, 0, device=device)
    chosen = [starts[i][int(best[i])] for i in range(b)]
    log.info("encoded %d sequence(s) of %d frames: energies %s", b, t, [round(float(e), 1) for e in energies.min(1)[0]])
    return Encoded(appearance, z["s0"], z["noise"], energies.min(dim=1).values, recon, chosen)
