"""The linear dynamic system baseline as a run: fit into a run directory, load it, synthesize from it.

An LDS run has the layout of a dynamic-generator run (see ``dyngen.runs.directory``), so ``dyngen synthesize``,
``dyngen report`` and the benchmarks treat both alike (``dyngen.load`` loads either)::

    RUN/
      config.json              {"model_type": "lds", "model": {"frame_shape", "state_dim"}, "data": {...}}
      checkpoint.safetensors   the fitted buffers (model.mean, model.C, model.A, model.B, model.states, ...)
      data.safetensors         the training frames as uint8 (1, T, H, W, 3)
      metrics.jsonl            one line: the fit's reconstruction PSNR, spectral radius and time
      summary.json             the final figures, with a "warning" when the spectral radius exceeds 1

The fit is closed-form (``LinearDynamicSystem.fit``), so there is no training curve and nothing to resume.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dyngen import __version__
from dyngen.baselines.lds import LinearDynamicSystem
from dyngen.errors import RunError, UsageError
from dyngen.evaluation.fidelity import psnr_from_mse
from dyngen.io.video import as_uint8_videos, to_tensor
from dyngen.runs.directory import LoadedRun, Run

log = logging.getLogger(__name__)
MAX_DEFAULT_STATE_DIM = 50  # Doretto et al.'s typical order, and NOTES.md's LDS baseline


def default_state_dim(frames: int) -> int:
    """The default LDS state dimension for a clip of ``frames`` frames: ``min(50, T // 2)`` (at least 1).

    Well below ``T - 1``, where the AR(1) fit would interpolate the training states and synthesis would replay
    the clip.
    """
    return max(1, min(MAX_DEFAULT_STATE_DIM, frames // 2))


def radius_warning(radius: float) -> str | None:
    """The warning recorded in an LDS run's summary when the spectral radius exceeds 1, else None."""
    if radius <= 1 + 1e-6:
        return None
    return (
        f"spectral radius {radius:.4f} > 1: the fitted dynamics are unstable, so long syntheses grow until the "
        "frames saturate (clamped to black/white); compare only short syntheses, or use a smaller --state-dim"
    )


@dataclass
class TrainedLDS(LoadedRun):
    """A fitted LDS run, loaded; the same interface as ``dyngen.runs.checkpoint.Trained`` where it applies."""

    model: LinearDynamicSystem

    def video_index(self, key: str | int) -> int:
        """The training video by name or index (an LDS run has exactly one); UsageError otherwise."""
        name = self.names[0]
        if str(key) in ("0", "-1", name):
            return 0
        raise UsageError(f"no training video '{key}' in this LDS run; allowed: {name} or 0")


def train_lds(
    out: str | Path,
    frames: torch.Tensor,
    *,
    names: list[str],
    state_dim: int | None = None,
    data_info: dict[str, Any] | None = None,
) -> TrainedLDS:
    """Fit a linear dynamic system to one video into a new run directory.

    Args:
        out: the run directory (new or empty; a non-empty one is refused).
        frames: uint8 ``(1, T, H, W, 3)``, one video of ``T >= 2`` frames.
        names: the video's name, in a one-element list.
        state_dim: d; default ``min(50, T // 2)`` (see :func:`default_state_dim`). The fit may use fewer
            dimensions (at most ``T - 1`` and the data's rank; recorded as ``rank``).
        data_info: where the frames came from (recorded in config.json).

    Returns:
        The fitted run, loaded.
    """
    frames = torch.from_numpy(as_uint8_videos(frames))
    n, t, h, w, _ = frames.shape
    if n != 1:
        raise UsageError(f"the LDS baseline models one video per run, got {n}; train one run per video")
    if t < 2:
        raise UsageError(f"fitting dynamics needs at least 2 frames, got {t}")
    if len(names) != 1:
        raise UsageError(f"{len(names)} names for 1 video")
    d = default_state_dim(t) if state_dim is None else state_dim
    model = LinearDynamicSystem(frame_shape=(3, h, w), state_dim=d)  # validates d before anything is written
    config = {
        "dyngen": __version__,
        "model_type": "lds",
        "model": {"frame_shape": [3, h, w], "state_dim": d},
        "data": {**(data_info or {}), "names": list(names), "videos": 1, "frames": t, "size": [h, w]},
    }
    run = Run.create(out, config)
    run.save_data({"frames": frames.contiguous()})
    x = to_tensor(frames[0].numpy())
    t0 = time.perf_counter()
    model.fit(x)
    seconds = time.perf_counter() - t0
    mse = float((model.reconstruct() - x).square().mean())
    radius = model.spectral_radius
    run.save_checkpoint({f"model.{k}": v for k, v in model.state_dict().items()}, {"dyngen": __version__})
    record = {"epoch": 1, "mse": mse, "psnr": psnr_from_mse(mse), "spectral_radius": radius, "elapsed": seconds}
    run.append_metrics(record)
    summary: dict[str, Any] = {
        "model_type": "lds",
        "state_dim": d,
        "rank": int(model.rank),
        "spectral_radius": radius,
        "psnr": record["psnr"],
        "mse": mse,
        "train_seconds": round(seconds, 3),
    }
    warning = radius_warning(radius)
    if warning:
        summary["warning"] = warning
    run.write_summary(summary)
    return TrainedLDS(run, config, model)


def load_lds(path: str | Path) -> TrainedLDS:
    """Load a fitted LDS run (CPU; the model is tiny)."""
    run = Run.open(path)
    config = run.read_config()
    if config.get("model_type") != "lds":
        raise RunError(f"{path}: a '{config.get('model_type', 'dg')}' run, not an LDS run")
    m = config["model"]
    model = LinearDynamicSystem(frame_shape=tuple(m["frame_shape"]), state_dim=int(m["state_dim"]))
    tensors, _ = run.load_checkpoint()
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    except RuntimeError as e:
        raise RunError(f"{path}: the checkpoint does not match the run's config ({e})") from None
    return TrainedLDS(run, config, model)
