"""Synthesis from a trained run, of either model type (a dynamic generator or the LDS baseline).

The dynamic generator's sampling is ``dyngen.algorithms.synthesis.synthesize``; this task picks the run's
inferred s_0 (or a random one), its appearance vector and the distribution of the fresh noise. With ``loop``
the videos are seamless loops (``dyngen.algorithms.loop``: the last frame flows into the first). The same seed
gives the same video.
"""

from __future__ import annotations

import torch

from dyngen.algorithms.loop import Loop, synthesize_loop
from dyngen.algorithms.synthesis import synthesize
from dyngen.baselines.lds import covariance_factor
from dyngen.errors import UsageError
from dyngen.resources import check_synthesis_memory
from dyngen.runs.checkpoint import Trained
from dyngen.runs.lds import TrainedLDS

START_CHOICES = ("inferred", "random")


def synthesize_run(
    trained: Trained | TrainedLDS,
    *,
    frames: int,
    num: int = 1,
    seed: int = 0,
    start: str = "inferred",
    video: str | int = 0,
    noise_scale: float = 1.0,
    noise: str = "posterior",
    loop: bool = False,
) -> torch.Tensor:
    """Synthesize from a trained run of either model type (``dyngen.load``).

    Args:
        trained: a loaded run: a dynamic generator or an LDS.
        frames: frames per video.
        num: number of samples.
        seed: the seed of every random draw.
        start: ``"inferred"`` starts from the training video's inferred s_0, ``"random"`` from s_0 ~ N(0, I)
            (an LDS: from a Gaussian with the mean and covariance of its fitted states).
        video: which training video (name or index) gives s_0 and the appearance.
        noise_scale: multiplies the fresh innovations.
        noise: ``"posterior"`` draws the innovations from a Gaussian fitted to the inferred ones, ``"prior"`` from
            N(0, I) (the paper's synthesis); see ``dyngen.models.innovations``. An LDS has only ``"posterior"``:
            it draws its driving noise from its residuals' covariance.
        loop: make each video a seamless loop: its last frame flows into its first (dynamic generators only).

    Returns:
        ``(num, frames, 3, H, W)`` in [-1, 1].
    """
    _check(start, frames, num)
    if isinstance(trained, TrainedLDS):
        if loop:
            raise UsageError("loop is for dynamic-generator runs; an LDS run synthesizes without it")
        trained.video_index(video)
        return _synthesize_lds(trained, frames=frames, num=num, seed=seed, start=start, noise_scale=noise_scale,
                               noise=noise)  # fmt: skip
    if loop:
        return synthesize_loop_run(trained, frames=frames, num=num, seed=seed, start=start, video=video,
                                   noise_scale=noise_scale, noise=noise).frames  # fmt: skip
    return synthesize(trained.model, frames=frames, num=num, noise_scale=noise_scale,
                      **_latents(trained, seed=seed, start=start, video=video, noise=noise))  # fmt: skip


def synthesize_loop_run(
    trained: Trained,
    *,
    frames: int,
    num: int = 1,
    seed: int = 0,
    start: str = "inferred",
    video: str | int = 0,
    noise_scale: float = 1.0,
    noise: str = "posterior",
) -> Loop:
    """``synthesize_run(..., loop=True)`` with what the loop search found (``dyngen.algorithms.loop.Loop``)."""
    _check(start, frames, num)
    if isinstance(trained, TrainedLDS):
        raise UsageError("loop is for dynamic-generator runs; an LDS run synthesizes without it")
    return synthesize_loop(trained.model, frames=frames, num=num, noise_scale=noise_scale,
                           **_latents(trained, seed=seed, start=start, video=video, noise=noise))  # fmt: skip


def _check(start: str, frames: int, num: int) -> None:
    if start not in START_CHOICES:
        raise UsageError(f"unknown start '{start}'; allowed: {', '.join(START_CHOICES)}")
    if frames < 1 or num < 1:
        raise UsageError(f"frames and num must be >= 1, got frames={frames}, num={num}")


def _latents(trained: Trained, *, seed: int, start: str, video: str | int, noise: str) -> dict:
    """What a synthesis of a dynamic generator starts from: the seeded generator, s_0, a, the innovations."""
    i = trained.video_index(video)
    device = next(trained.model.parameters()).device
    return {
        "generator": torch.Generator(device).manual_seed(seed),
        "s0": trained.chains.s0[i] if start == "inferred" else None,
        "appearance": trained.chains.appearance[i] if trained.model.appearance_dim else None,
        "innovations": trained.innovations(noise),
    }


def _synthesize_lds(
    trained: TrainedLDS, *, frames: int, num: int, seed: int, start: str, noise_scale: float, noise: str
) -> torch.Tensor:
    if noise != "posterior":
        raise UsageError(f"noise '{noise}' is for dynamic-generator runs; an LDS draws its driving noise from its "
                         "fitted residual covariance (noise 'posterior')")  # fmt: skip
    model = trained.model
    check_synthesis_memory(num, frames, model.frame_shape, itemsize=model.A.element_size())
    g = torch.Generator().manual_seed(seed)
    s0 = None
    if start == "random":
        states = model.states.double()
        cov = torch.cov(states.T).reshape(model.state_dim, model.state_dim)
        draw = torch.randn(num, model.state_dim, generator=g, dtype=torch.float64)
        s0 = (states.mean(dim=0) + draw @ covariance_factor(cov).T).to(model.A)
    return model.synthesize(frames, num=num, generator=g, s0=s0, noise_scale=noise_scale)
