"""Encoding: the latents (a, s_0, xi) of new videos or stills with a trained run's model frozen.

The inference itself (annealed, restarted Langevin from the nearest training
latents) is ``dyngen.algorithms.inference``; this task picks the run's
settings, and writes and reads latents files (what ``dyngen encode --out``
keeps, usable as an appearance or motion source).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from dyngen.algorithms.inference import EncodeConfig, Encoded, Progress, infer_latents
from dyngen.errors import DyngenError
from dyngen.io.atomic import make_folder
from dyngen.io.video import as_frames
from dyngen.runs.checkpoint import Trained
from dyngen.runs.files import atomic_save_tensors, load_tensors

LATENT_KEYS = ("appearance", "s0", "noise")


def default_step_size(trained: Trained, frames: int) -> float:
    """The run's Langevin step, grown as ``sqrt(T_train / T)`` for shorter sequences (at most 4x)."""
    t_train = int(trained.config["data"]["frames"])
    return trained.train_config.step_size * min(4.0, math.sqrt(max(1.0, t_train / max(1, frames))))


def encode(
    trained: Trained,
    frames: torch.Tensor | np.ndarray,
    *,
    config: EncodeConfig | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Encoded:
    """Infer the latents of new videos (or stills) with a trained run's model frozen.

    Args:
        trained: a loaded run (``dyngen.load``).
        frames: float ``(B, T, 3, H, W)`` in [-1, 1], or uint8 ``(B, T, H, W, 3)`` / ``(T, H, W, 3)``,
            at the model's frame size.
        config: inference settings; ``step_size`` and ``sigma`` default to the run's (see ``EncodeConfig``).
        seed: the seed of every random draw.
        progress: told ``(Langevin steps done, steps)`` as inference goes on.

    Returns:
        The latents, the energy and the reconstruction of every sequence.
    """
    cfg = config or EncodeConfig()
    x = as_frames(frames, ndim=5)
    sigma = cfg.sigma or trained.train_config.sigma
    step = cfg.step_size or default_step_size(trained, x.shape[1])
    device = next(trained.model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    return infer_latents(
        trained.model, x, sigma=sigma, step_size=step, config=cfg, bank=trained.chains, generator=g, progress=progress
    )


def save_latents(path: str | Path, encoded: Encoded, index: int = 0, *, metadata: dict | None = None) -> Path:
    """Write one sequence's latents (``appearance (c,)``, ``s0 (d,)``, ``noise (T, k)``) as safetensors."""
    p = Path(path)
    make_folder(p.parent)
    meta = {"energy": float(encoded.energy[index]), **(metadata or {})}
    atomic_save_tensors(p, encoded.item(index), {k: json.dumps(v) for k, v in meta.items()}, what="latents file")
    return p


def load_latents(path: str | Path) -> dict[str, torch.Tensor]:
    """Latents written by ``save_latents`` (``dyngen encode --out``): ``appearance``, ``s0``, ``noise``."""
    z = load_tensors(Path(path), "latents")
    missing = set(LATENT_KEYS) - set(z)
    if missing:
        raise DyngenError(f"{path}: not a latents file from 'dyngen encode' (no {', '.join(sorted(missing))})")
    return z
