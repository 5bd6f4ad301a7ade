"""Synthesis: roll the learned transition forward with fresh noise and render every state.

    s_0 = inferred (a training video's) or ~ N(0, I);  xi_t ~ the innovations' distribution
    s_t = F(s_{t-1}, xi_t);  x_t = G([a ; s_t])

Any number of frames (far beyond the training length) and samples. States
are unrolled in one pass (cheap); frames are rendered in chunks so memory
stays bounded for long videos. The same generator seed gives the same video.
"""

from __future__ import annotations

import torch

from dyngen.errors import UsageError
from dyngen.models.dynamic_generator import DynamicGenerator
from dyngen.models.innovations import Innovations
from dyngen.tasks.checkpoint import Trained
from dyngen.tasks.memory import check_synthesis_memory

START_CHOICES = ("inferred", "random")


@torch.no_grad()
def render_chunked(
    model: DynamicGenerator, states: torch.Tensor, appearance: torch.Tensor | None, *, chunk: int = 256
) -> torch.Tensor:
    """``render`` in time chunks of ``chunk`` frames: ``(B, T, d) -> (B, T, 3, H, W)``, written into one tensor."""
    out = None
    for t0 in range(0, states.shape[1], chunk):
        frames = model.render(states[:, t0 : t0 + chunk], appearance)
        if out is None:
            out = frames.new_empty((states.shape[0], states.shape[1], *frames.shape[2:]))
        out[:, t0 : t0 + chunk] = frames
    return out


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

    Returns:
        ``(B, T, 3, H, W)`` in [-1, 1].
    """
    device = next(model.parameters()).device
    cfg = model.config
    check_synthesis_memory(num, frames, (3, cfg.height, cfg.width))

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, device=generator.device if generator else "cpu").to(device)

    s0 = randn(num, cfg.state_dim) if s0 is None else s0.to(device).expand(num, -1)
    a = None
    if cfg.appearance_dim:
        a = randn(num, cfg.appearance_dim) if appearance is None else appearance.to(device).expand(num, -1)
    if noise is None:
        innovations = innovations or Innovations.prior(cfg.noise_dim)
        xi = innovations.sample(num, frames, generator=generator, scale=noise_scale, device=device)
    else:
        xi = noise.to(device)
    was_training = model.training
    model.eval()
    try:
        states = model.transition.rollout(s0, xi)
        return render_chunked(model, states, a)
    finally:
        model.train(was_training)


def synthesize_run(
    trained: Trained,
    *,
    frames: int,
    num: int = 1,
    seed: int = 0,
    start: str = "inferred",
    video: str | int = 0,
    noise_scale: float = 1.0,
    noise: str = "posterior",
) -> torch.Tensor:
    """Synthesize from a trained run.

    Args:
        trained: a loaded run (``dyngen.tasks.checkpoint.load_trained``).
        frames: frames per video.
        num: number of samples.
        seed: the seed of every random draw.
        start: ``"inferred"`` starts from the training video's inferred s_0,
            ``"random"`` from s_0 ~ N(0, I).
        video: which training video (name or index) gives s_0 and the appearance.
        noise_scale: multiplies the fresh innovations.
        noise: ``"posterior"`` draws the innovations from a Gaussian fitted to the inferred ones, ``"prior"`` from
            N(0, I) (the paper's synthesis); see ``dyngen.models.innovations``.

    Returns:
        ``(num, frames, 3, H, W)`` in [-1, 1].
    """
    if start not in START_CHOICES:
        raise UsageError(f"unknown start '{start}'; allowed: {', '.join(START_CHOICES)}")
    if frames < 1 or num < 1:
        raise UsageError(f"frames and num must be >= 1, got frames={frames}, num={num}")
    i = trained.video_index(video)
    device = next(trained.model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    s0 = trained.chains.s0[i] if start == "inferred" else None
    a = trained.chains.appearance[i] if trained.model.appearance_dim else None
    innovations = trained.innovations(noise)
    return synthesize(trained.model, frames=frames, num=num, s0=s0, appearance=a, generator=g, noise_scale=noise_scale,
                      innovations=innovations)  # fmt: skip
