"""Ancestral sampling from a dynamic generator: roll the transition forward with fresh noise, render every state.

    s_0 = given or ~ N(0, I);  xi_t ~ the innovations' distribution (``dyngen.models.innovations``)
    s_t = F(s_{t-1}, xi_t);  x_t = G(s_t, a, x_{t-1})

Any number of frames (far beyond the training length) and samples. States
are unrolled in one pass (cheap); frames are rendered in chunks so memory
stays bounded for long videos, each chunk handed the last frame of the one
before. The same generator state gives the same video. The output is checked
to fit in RAM before any work (``dyngen.resources``).
"""

from __future__ import annotations

import torch

from dyngen.models.dynamic_generator import DynamicGenerator
from dyngen.models.innovations import Innovations
from dyngen.resources import check_synthesis_memory


@torch.no_grad()
def render_chunked(
    model: DynamicGenerator,
    states: torch.Tensor,
    appearance: torch.Tensor | None,
    previous: torch.Tensor | None = None,
    *,
    chunk: int = 256,
    carry: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
    """``render`` in time chunks of ``chunk`` frames: ``(B, T, d) -> (B, T, 3, H, W)``, written into one tensor;
    with ``carry``, also the ``previous`` of the frame after them (``DynamicGenerator.render_and_carry``)."""
    out = None
    for t0 in range(0, states.shape[1], chunk):
        frames, previous = model.render_and_carry(states[:, t0 : t0 + chunk], appearance, previous)
        if out is None:
            out = frames.new_empty((states.shape[0], states.shape[1], *frames.shape[2:]))
        out[:, t0 : t0 + chunk] = frames
    return (out, previous) if carry else out


def standard_normal(generator: torch.Generator | None, *shape: int, device: torch.device) -> torch.Tensor:
    """N(0, I) draws from ``generator`` on its own device, moved to ``device`` (the same seed, the same draws)."""
    return torch.randn(*shape, generator=generator, device=generator.device if generator else "cpu").to(device)


def initial_latents(
    model: DynamicGenerator,
    num: int,
    *,
    s0: torch.Tensor | None,
    appearance: torch.Tensor | None,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``s0 (num, d)`` and ``a (num, c)`` (None without appearance): the given ones expanded, or N(0, I) draws."""
    device = next(model.parameters()).device
    cfg = model.config
    s0 = standard_normal(generator, num, cfg.state_dim, device=device) if s0 is None else s0.to(device).expand(num, -1)
    a = None
    if cfg.appearance_dim:
        a = (
            standard_normal(generator, num, cfg.appearance_dim, device=device)
            if appearance is None
            else appearance.to(device).expand(num, -1)
        )
    return s0, a


@torch.no_grad()
def synthesize(
    model: DynamicGenerator,
    *,
    frames: int,
    num: int = 1,
    s0: torch.Tensor | None = None,
    appearance: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    noise_scale: float = 1.0,
    innovations: Innovations | None = None,
    previous: torch.Tensor | None = None,
) -> torch.Tensor:
    """Synthesize ``num`` new videos of ``frames`` frames.

    Args:
        model: a trained dynamic generator (put in eval mode here, and restored).
        frames: number of frames T.
        num: number of samples B.
        s0: ``(B, d)`` or ``(d,)`` initial states; None draws them from N(0, I).
        appearance: ``(B, c)`` or ``(c,)``; None draws from N(0, I) when the model has appearance.
        noise: ``(B, T, k)`` innovations to use instead of fresh draws (to share motion across rows).
        generator: the source of every random draw; the same seed gives the same video.
        noise_scale: multiplies the fresh innovations' deviation from their mean (1: the distribution itself).
        innovations: the distribution of the fresh innovations (``Trained.innovations``); None is the prior N(0, I).
        previous: ``(B, 3, H, W)`` or ``(3, H, W)``, the frame before the first, for emissions that read it
            (None: the emission starts the video itself).

    Returns:
        ``(B, T, 3, H, W)`` in [-1, 1].
    """
    device = next(model.parameters()).device
    cfg = model.config
    check_synthesis_memory(num, frames, (3, cfg.height, cfg.width))
    s0, a = initial_latents(model, num, s0=s0, appearance=appearance, generator=generator)
    if noise is None:
        innovations = innovations or Innovations.prior(cfg.noise_dim)
        xi = innovations.sample(num, frames, generator=generator, scale=noise_scale, device=device)
    else:
        xi = noise.to(device)
    if previous is not None:
        previous = previous.to(device).expand(num, -1, -1, -1)
    was_training = model.training
    model.eval()
    try:
        states = model.transition.rollout(s0, xi)
        return render_chunked(model, states, a, previous)
    finally:
        model.train(was_training)
