"""Appearance interpolation (PAPER.md section 3, experiment 2).

    a_rho = (1 - rho) a_A + rho a_B,   rho in [0, 1] on ``steps`` points

Where the points lie (``spacing``):

- ``"even"`` (default): the rows are equally far apart in pixels (RMSE, the
  same motion in every row). The generator does not change at a uniform rate
  along the line, so a uniform grid can look like "A, A, A, switch, B, B"
  (README, "Measured results"). Even spacing follows the path's arc length,
  measured on a dense probe of rho, and gives a morph; the rho of each row is
  reported and printed on the grid.
- ``"uniform"``: rho = 0, 1/(K-1), ..., 1.

Every row shares one s_0 and one noise sequence xi, so only the appearance
changes down the rows (the paper's melting and blooming sequences). At
rho = 0 and rho = 1 the rows are exactly the videos of a_A and a_B with that
motion: each row is rendered on its own, so no row depends on the others.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from dyngen.algorithms.inference import EncodeConfig, Progress
from dyngen.algorithms.synthesis import synthesize
from dyngen.errors import UsageError
from dyngen.resources import check_synthesis_memory
from dyngen.runs.checkpoint import Trained
from dyngen.tasks.appearance import require_appearance, resolve_appearance

SPACINGS = ("even", "uniform")


@dataclass
class Interpolation:
    """The rows of an interpolation and what made them."""

    rhos: list[float]
    videos: torch.Tensor  # (K, T, 3, H, W) in [-1, 1], one row per rho
    appearances: torch.Tensor  # (K, c)
    s0: torch.Tensor  # (d,)
    noise: torch.Tensor  # (T, k)
    labels: tuple[str, str]


def interpolate_appearance(
    trained: Trained,
    start: str | int | torch.Tensor,
    end: str | int | torch.Tensor,
    *,
    steps: int,
    frames: int,
    seed: int = 0,
    encode_config: EncodeConfig | None = None,
    spacing: str = "even",
    probes: int = 33,
    noise: str = "posterior",
    progress: Progress | None = None,
) -> Interpolation:
    """Videos along the straight line between two appearances, with the same motion in every row.

    Args:
        trained: a loaded run with appearance vectors.
        start: a_A: a training video (name or index), a video or latents file, or a vector ``(c,)``.
        end: a_B, likewise.
        steps: K >= 2 points rho = 0, 1/(K-1), ..., 1.
        frames: frames per video.
        seed: draws s_0 ~ N(0, I) and the noise (and seeds the encoding of video files).
        encode_config: how video files are encoded.
        spacing: ``"even"`` (rows equally far apart in pixels) or ``"uniform"`` (equal steps of rho).
        probes: for ``"even"``, the number of rho values on which the path's length is measured.
        noise: the distribution of the shared noise, ``"posterior"`` or ``"prior"`` (``Trained.innovations``).
        progress: told ``(done, total)``: the Langevin steps of each video file encoded, then the rows rendered.

    Returns:
        The K videos with their rho, appearances and the shared s_0 and noise.
    """
    require_appearance(trained, "interpolation")
    if steps < 2 or frames < 1:
        raise UsageError(f"steps must be >= 2 and frames >= 1, got steps={steps}, frames={frames}")
    if spacing not in SPACINGS:
        raise UsageError(f"unknown spacing '{spacing}'; allowed: {', '.join(SPACINGS)}")
    model = trained.model
    rendered = (max(probes, steps) if spacing == "even" else 0) + steps  # rows made (and kept) in all
    check_synthesis_memory(rendered, frames, (3, model.config.height, model.config.width))  # before any work
    device = next(model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)

    def vector(key: str | int | torch.Tensor) -> tuple[torch.Tensor, str]:
        if isinstance(key, torch.Tensor):
            if tuple(key.shape) != (model.appearance_dim,):
                raise UsageError(f"appearance vectors have shape ({model.appearance_dim},), got {tuple(key.shape)}")
            return key.to(device), "vector"
        return resolve_appearance(trained, key, generator=g, config=encode_config, progress=progress)

    (a_start, label_a), (a_end, label_b) = vector(start), vector(end)
    s0 = torch.randn(model.state_dim, generator=g, device=device)
    xi = trained.innovations(noise).sample(frames, generator=g, device=device)

    done = 0

    def row(rho: float) -> torch.Tensor:
        nonlocal done
        a = (1 - rho) * a_start + rho * a_end
        video = synthesize(model, frames=frames, s0=s0, appearance=a, noise=xi[None])[0]
        done += 1
        if progress is not None:
            progress(done, rendered)
        return video

    rhos = np.linspace(0, 1, steps)
    if spacing == "even":
        dense = np.linspace(0, 1, max(probes, steps))
        videos = [row(float(r)) for r in dense]
        length = np.cumsum([0.0] + [float((b - a).square().mean().sqrt()) for a, b in itertools.pairwise(videos)])
        if length[-1] > 0:  # rho at equal arc length; the ends stay exactly 0 and 1
            rhos = np.interp(np.linspace(0, length[-1], steps), length, dense)
    rhos = [float(r) for r in rhos]
    vectors = torch.stack([(1 - r) * a_start + r * a_end for r in rhos])
    rows = torch.stack([row(r) for r in rhos])
    return Interpolation(rhos, rows, vectors, s0, xi, (label_a, label_b))
