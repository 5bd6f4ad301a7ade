"""Animating a still image (PAPER.md section 3, experiment 5).

With the model frozen, the still is the first frame of a one-frame video,
``x_1 = G(F(s_0, xi_1), a)``. Its latents (a, s_0, xi_1) are inferred by
Langevin (``dyngen.algorithms.inference``: annealed, restarted, started from the
nearest training frames), then the transition rolls forward with fresh noise:

    s_1 = F(s_0, xi_1);  s_t = F(s_{t-1}, xi_t), xi_t ~ N(0, I) for t >= 2;  x_t = G([a ; s_t])

so the first frame of the animation is the still's reconstruction.

With an emission that follows the previous frame (``--emission warp``) the
still itself is the first frame, exactly, and the animation moves it:
``x_1 = still``, ``x_t = G(s_t, a, x_{t-1})``. A model of many videos infers
the still's appearance and state as above; a texture model (no appearance
vectors) needs nothing from the still but its pixels, and starts from its
training video's inferred state. The model's parameters and buffers are
checked to be bit-identical afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dyngen.algorithms.inference import EncodeConfig, Encoded, Progress
from dyngen.algorithms.synthesis import synthesize
from dyngen.errors import UsageError
from dyngen.evaluation.fidelity import psnr_from_mse
from dyngen.io.video import as_frames
from dyngen.resources import check_synthesis_memory
from dyngen.runs.checkpoint import Trained
from dyngen.tasks.appearance import require_appearance
from dyngen.tasks.encode import encode


@dataclass
class Animation:
    """Animated stills: the videos and the stills' inferred latents."""

    videos: torch.Tensor  # (B, T, 3, H, W) in [-1, 1]; frame 0 is the still or its reconstruction
    latents: Encoded | None  # appearance (B, c), s0 (B, d), noise (B, 1, k); None when nothing was inferred
    first_frame_psnr: list[float]  # dB (peak-to-peak 2 on [-1, 1], i.e. 255 on 0..255); inf: the still itself


def state_snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: torch.nn.Module, snapshot: dict[str, torch.Tensor]) -> None:
    """RuntimeError (a bug) unless every parameter and buffer equals the snapshot bit for bit."""
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, snapshot[k])]
    if changed:
        raise RuntimeError(f"bug: the frozen model changed during animation ({', '.join(changed[:5])})")


def animate(
    trained: Trained,
    stills: torch.Tensor | np.ndarray,
    *,
    frames: int,
    seed: int = 0,
    config: EncodeConfig | None = None,
    noise: str = "posterior",
    progress: Progress | None = None,
) -> Animation:
    """Animate still images with a trained model of many videos, its parameters frozen.

    Args:
        trained: a loaded run with appearance vectors.
        stills: uint8 ``(B, H, W, 3)`` / ``(H, W, 3)`` or float ``(B, 3, H, W)`` in [-1, 1], at the model's size.
        frames: frames per animation (the first is the still's reconstruction).
        seed: the seed of the inference and of the fresh noise.
        config: the inference settings (``dyngen.algorithms.inference.EncodeConfig``).
        noise: the distribution of the fresh noise, ``"posterior"`` or ``"prior"`` (``Trained.innovations``).
        progress: told ``(Langevin steps done, steps)`` while the stills are encoded.

    Returns:
        The animations, the inferred latents and the first frames' PSNR against the stills.
    """
    follows = trained.model.generator.uses_previous
    if not (follows and not trained.model.appearance_dim):
        require_appearance(trained, "animating a still")
    if frames < 1:
        raise UsageError(f"frames must be >= 1, got {frames}")
    x = as_frames(stills, ndim=4)
    mc = trained.model.config
    if tuple(x.shape[2:]) != (mc.height, mc.width):
        raise UsageError(
            f"stills must be {mc.height}x{mc.width} (the model's size), got {tuple(x.shape[2:])}; read them with "
            f"dyngen.read_video(path, size=({mc.height}, {mc.width}), crop='center' or 'none')"
        )
    check_synthesis_memory(x.shape[0], frames, tuple(x.shape[1:]))  # before the inference, not after it
    model = trained.model
    snapshot = state_snapshot(model)
    device = next(model.parameters()).device
    b = x.shape[0]
    latents = None
    if model.appearance_dim:
        latents = encode(trained, x[:, None], config=config, seed=seed, progress=progress)
        s0, a = latents.s0, latents.appearance
    else:  # a texture model: the still moves as the training video's first state would move it
        s0, a = trained.chains.s0[:1].expand(b, -1), None
    g = torch.Generator(device).manual_seed(seed + 1)
    if follows:  # the still is frame 0; the rest follow it
        still = x.to(device)
        if latents is not None:
            s0 = model.transition(latents.s0, latents.noise[:, 0])  # the state of the still's frame
        fresh = trained.innovations(noise).sample(b, frames - 1, generator=g, device=device)
        rest = synthesize(model, frames=frames - 1, num=b, s0=s0, appearance=a, noise=fresh, previous=still)
        videos = torch.cat([still[:, None], rest], dim=1) if frames > 1 else still[:, None]
    else:
        fresh = trained.innovations(noise).sample(b, frames - 1, generator=g, device=device)
        xi = torch.cat([latents.noise[:, :1], fresh], dim=1)
        videos = synthesize(model, frames=frames, num=b, s0=s0, appearance=a, noise=xi)
    assert_unchanged(model, snapshot)
    psnr = [psnr_from_mse(float((videos[i, 0] - x[i].to(videos)).square().mean())) for i in range(b)]
    return Animation(videos, latents, psnr)
