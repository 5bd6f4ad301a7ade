"""Appearance and motion of a model trained on many videos (PAPER.md section 3, experiment 2).

Such a model keeps one appearance vector ``a`` per training video and shares
the dynamics. A new video is any appearance combined with any motion:

- **appearance** from a training video (name or index), a random draw
  ``a ~ N(0, I)``, a video outside the training set (encoded with the model
  frozen, ``dyngen.tasks.encode``) or a latents file written by ``dyngen encode``;
- **motion** new (``s_0 ~ N(0, I)`` and fresh noise, the paper's setting), or
  taken from a training video's inferred ``(s_0, xi)``, an encoded video or a
  latents file; beyond the source's length the noise is fresh.

``appearance_grid`` makes the paper's figure: for every training video, its
observed clip and new samples with its appearance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dyngen.algorithms.inference import EncodeConfig, Progress
from dyngen.algorithms.synthesis import synthesize
from dyngen.errors import UsageError
from dyngen.models.innovations import Innovations
from dyngen.runs.checkpoint import Trained
from dyngen.tasks.encode import encode, load_latents

RANDOM = "random"


def require_appearance(trained: Trained, what: str) -> None:
    """UsageError unless the run has appearance vectors (``what`` names the feature asked for)."""
    if not trained.model.appearance_dim:
        raise UsageError(
            f"{what} needs a run trained with appearance vectors, but {trained.run.path} has appearance_dim = 0; "
            "allowed: runs trained with --appearance-dim C > 0 (for example --preset cpu-action or paper-action)"
        )


def _allowed(trained: Trained, extra: str) -> str:
    names = trained.names
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    return f"allowed: a training video ({shown} or 0..{len(names) - 1}){extra}"


def _training_index(trained: Trained, key: str | int) -> int | None:
    """A training video by name (first: the animal clips include videos named "1".."5") or index, else None."""
    if isinstance(key, str) and key in trained.names:
        return trained.names.index(key)
    try:
        return trained.video_index(key)
    except UsageError:
        return None


@dataclass
class Source:
    """Latents taken from a training video, a video file or a latents file."""

    label: str
    appearance: torch.Tensor | None  # (c,)
    s0: torch.Tensor  # (d,)
    noise: torch.Tensor  # (T, k)


def read_source(
    trained: Trained,
    key: str | int,
    *,
    config: EncodeConfig | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Source:
    """The latents of a training video (name or index), an encoded video file, or a latents file.

    A video file is read at the model's frame size, cut to the training length (shorter ones are used
    whole) and encoded with the model frozen (``progress`` is told its Langevin steps).
    """
    i = _training_index(trained, key)
    c = trained.model.appearance_dim
    if i is not None:
        ch = trained.chains
        return Source(trained.names[i], ch.appearance[i] if c else None, ch.s0[i], ch.noise[i])
    p = Path(str(key))
    if not p.exists():
        raise UsageError(f"no training video or file '{key}'; {_allowed(trained, ', or a video or latents file')}")
    if p.suffix.lower() == ".safetensors":
        z = load_latents(p)
        want = {"appearance": (c,), "s0": (trained.model.state_dim,)}
        for k, shape in want.items():
            if tuple(z[k].shape) != shape:
                raise UsageError(f"{p}: latents {k} of shape {tuple(z[k].shape)} do not fit this run (needs {shape})")
        if z["noise"].ndim != 2 or z["noise"].shape[1] != trained.model.noise_dim:
            raise UsageError(f"{p}: noise of shape {tuple(z['noise'].shape)} does not fit this run")
        device = trained.chains.s0.device
        return Source(p.stem, z["appearance"].to(device) if c else None, z["s0"].to(device), z["noise"].to(device))
    video = read_model_video(trained, p)
    e = encode(trained, video, config=config, seed=seed, progress=progress)
    return Source(p.stem, e.appearance[0] if c else None, e.s0[0], e.noise[0])


def read_model_video(trained: Trained, path: str | Path, frames: int | None = None) -> np.ndarray:
    """A video file at the model's frame size, uint8 ``(T, H, W, 3)``: ``frames`` or the training length at most;
    another aspect ratio is brought to that size as the training frames were (the run's ``crop``)."""
    from dyngen.io.resize import recorded_crop
    from dyngen.io.video import read_video

    if frames is not None and frames < 1:
        raise UsageError(f"frames must be >= 1, got {frames}")
    cfg = trained.model.config
    video = read_video(path, size=(cfg.height, cfg.width), crop=recorded_crop(trained.config))
    return video[: frames or int(trained.config["data"]["frames"])]


def resolve_appearance(
    trained: Trained,
    key: str | int,
    *,
    generator: torch.Generator,
    config: EncodeConfig | None = None,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, str]:
    """An appearance vector ``(c,)`` and a label, from a training video, ``"random"``, a video or a latents file."""
    require_appearance(trained, "an appearance")
    if str(key) == RANDOM and _training_index(trained, key) is None:
        a = torch.randn(trained.model.appearance_dim, generator=generator, device=generator.device)
        return a.to(trained.chains.s0.device), RANDOM
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    src = read_source(trained, key, config=config, seed=seed, progress=progress)
    return src.appearance, src.label


def motion_latents(
    source: Source,
    frames: int,
    *,
    num: int = 1,
    generator: torch.Generator,
    noise_scale: float = 1.0,
    innovations: Innovations | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``s0 (d,)`` and ``noise (num, frames, k)`` of a source; past its length the noise is fresh draws from
    ``innovations`` (default N(0, I); times ``noise_scale``), different for each of the ``num`` videos."""
    noise = source.noise[:frames].expand(num, -1, -1)
    if noise.shape[1] < frames:
        innovations = innovations or Innovations.prior(noise.shape[2])
        fresh = innovations.sample(num, frames - noise.shape[1], generator=generator, scale=noise_scale)
        noise = torch.cat([noise, fresh.to(noise)], dim=1)
    return source.s0, noise


def synthesize_appearance(
    trained: Trained,
    appearance: torch.Tensor,
    *,
    frames: int,
    num: int = 1,
    seed: int = 0,
    s0: torch.Tensor | None = None,
    motion: Source | None = None,
    noise_scale: float = 1.0,
    noise: str = "posterior",
) -> torch.Tensor:
    """New videos with a given appearance.

    Args:
        trained: a loaded run with appearance vectors.
        appearance: ``(c,)`` the appearance vector.
        frames: frames per video.
        num: number of videos.
        seed: the seed of every random draw.
        s0: ``(d,)`` the initial state, with fresh noise for every video; None draws s_0 ~ N(0, I) per video.
        motion: a source of both ``s_0`` and the noise (``read_source``), shared by all ``num`` videos except
            past the source's length, where the noise is fresh; it overrides ``s0``.
        noise_scale: multiplies the fresh noise.
        noise: the distribution of the fresh noise, ``"posterior"`` or ``"prior"`` (``Trained.innovations``).

    Returns:
        ``(num, frames, 3, H, W)`` in [-1, 1].
    """
    require_appearance(trained, "synthesis with an appearance")
    if frames < 1 or num < 1:
        raise UsageError(f"frames and num must be >= 1, got frames={frames}, num={num}")
    device = next(trained.model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    innovations = trained.innovations(noise)
    if motion is None:
        return synthesize(trained.model, frames=frames, num=num, s0=s0, appearance=appearance, generator=g,
                          noise_scale=noise_scale, innovations=innovations)  # fmt: skip
    s0, xi = motion_latents(motion, frames, num=num, generator=g, noise_scale=noise_scale, innovations=innovations)
    return synthesize(trained.model, frames=frames, num=num, s0=s0, appearance=appearance, noise=xi)


def appearance_grid(
    trained: Trained, *, frames: int, samples: int = 2, seed: int = 0, noise: str = "posterior"
) -> list[list[np.ndarray]]:
    """The paper's figure: for every training video, its observed clip and ``samples`` new videos with its appearance.

    Returns:
        Rows ``[observed, sample 1, ..., sample S]``, each a list over the training videos (columns) of uint8
        ``(T, H, W, 3)`` videos; samples have ``frames`` frames, new motion (s_0 ~ N(0, I), fresh noise drawn
        as ``noise`` says).
    """
    from dyngen.io.video import to_uint8

    require_appearance(trained, "the appearance grid")
    observed = trained.observed_frames().numpy()
    rows: list[list[np.ndarray]] = [list(observed)] + [[] for _ in range(samples)]
    for i in range(len(trained.names)):
        a = trained.chains.appearance[i]
        videos = synthesize_appearance(trained, a, frames=frames, num=samples, seed=seed + i, noise=noise)
        for k in range(samples):
            rows[k + 1].append(to_uint8(videos[k]))
    return rows
