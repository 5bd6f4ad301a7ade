"""The public verbs, ``import dyngen; dyngen.train(...)``: each one a thin call into the layers below.

Videos go in as uint8 arrays ``(T, H, W, 3)`` (what ``read_video`` returns) or as float tensors
``(T, 3, H, W)`` in [-1, 1]; results come back as float tensors ``(..., T, 3, H, W)`` in [-1, 1], which
``write_video`` writes. A run is a directory (``load`` reads any kind) or the loaded run itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from dyngen.algorithms.inference import EncodeConfig, Encoded
from dyngen.evaluation.metrics import evaluate as _evaluate
from dyngen.io.video import as_uint8_videos, check_crop
from dyngen.presets import resolve_config
from dyngen.runs.checkpoint import Trained, load
from dyngen.runs.lds import TrainedLDS
from dyngen.runs.train import resume
from dyngen.runs.train import train as _train
from dyngen.tasks.animate import Animation
from dyngen.tasks.animate import animate as _animate
from dyngen.tasks.encode import encode as _encode
from dyngen.tasks.interpolate import Interpolation, interpolate_appearance
from dyngen.tasks.recover import Recovery
from dyngen.tasks.recover import recover as _recover
from dyngen.tasks.synthesize import synthesize_run

Video = np.ndarray | torch.Tensor
RunLike = Trained | TrainedLDS | str | os.PathLike

__all__ = ["animate", "encode", "evaluate", "interpolate", "load", "recover", "remove", "resume", "synthesize", "train"]


def _run(run: RunLike, device: str = "auto") -> Trained | TrainedLDS:
    from dyngen.device import resolve_device

    return run if isinstance(run, (Trained, TrainedLDS)) else load(run, resolve_device(device))


def train(
    out: str | os.PathLike,
    videos: Video,
    *,
    preset: str = "cpu-texture",
    names: Sequence[str] | None = None,
    device: str = "auto",
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
    crop: str = "none",
    **settings: Any,
) -> Trained:
    """Learn a dynamic generator of one video, or of several with an appearance vector each, into a new run.

    Args:
        out: the run directory (new or empty).
        videos: one video ``(T, H, W, 3)`` uint8 / ``(T, 3, H, W)`` float, or several ``(N, ...)``; the frame
            size becomes the model's.
        preset: the settings to start from (``dyngen.presets.PRESETS``).
        names: one per video (default ``video``, ``video1``, ...).
        device: ``auto``, ``cpu``, ``cuda``.
        callback: called with each epoch's metrics record; ``stop``: set it to checkpoint and stop.
        crop: how the videos were brought to their size (``read_video``'s ``crop``); the run records it, and
            videos and stills read for it later (encode, animate, synthesize from a video) are brought alike.
        **settings: any ``ModelConfig`` or ``TrainConfig`` field over the preset (``epochs=200``, ``state_dim=20``).

    Returns:
        The trained run, loaded.
    """
    frames = torch.from_numpy(as_uint8_videos(videos))
    n, t, h, w = frames.shape[:4]
    cfg = resolve_config(preset, size=(h, w), frames=t, overrides=settings)
    names = list(names) if names is not None else [f"video{i or ''}" for i in range(n)]
    return _train(out, frames, names=names, model_config=cfg.model, train_config=cfg.train, device=device,
                  callback=callback, stop=stop, data_info={"preset": preset, "crop": check_crop(crop)})  # fmt: skip


def synthesize(
    run: RunLike,
    *,
    frames: int,
    num: int = 1,
    seed: int = 0,
    start: str = "inferred",
    video: str | int = 0,
    noise: str = "posterior",
    noise_scale: float = 1.0,
    loop: bool = False,
    device: str = "auto",
) -> torch.Tensor:
    """New videos from a run (dynamic generator or LDS), of any length: ``(num, frames, 3, H, W)`` in [-1, 1].

    ``start``: ``inferred`` (the training video's s_0) or ``random``; ``video``: which training video (name or
    index); ``noise``: ``posterior`` (fitted to the inferred innovations) or ``prior`` (the paper's N(0, I));
    ``loop``: seamless loops, the last frame flowing into the first (``dyngen.algorithms.loop``).
    """
    return synthesize_run(_run(run, device), frames=frames, num=num, seed=seed, start=start, video=video,
                          noise=noise, noise_scale=noise_scale, loop=loop)  # fmt: skip


def recover(
    video: Video,
    missing: torch.Tensor,
    *,
    method: str = "dg",
    run_dir: str | os.PathLike | None = None,
    preset: str = "cpu-recovery",
    residual: str = "none",
    hidden_frames: str = "chain",
    both_ways: bool = False,
    backward_epochs: int | None = None,
    blend: str = "none",
    device: str = "auto",
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
    **settings: Any,
) -> Recovery:
    """Fill the hidden pixels (``missing``: bool ``(T, H, W)``, True = hidden) of a video.

    The dynamic generator (``method="dg"``, trained into ``run_dir`` from the visible pixels only, with
    ``preset`` and ``settings``) or a baseline (``interp``, ``mrf-l2``, ``mrf-l1``, ``lds``, ``hold``, ``median``). The
    result keeps every observed pixel exactly (``Recovery.recovered``, ``(T, 3, H, W)`` in [-1, 1]).
    ``blend="cv"`` blends the method's fill with the classic ones by their errors on held-out visible pixels
    (``Recovery.info["blend"]``: each fill's held-out error and its share of the hidden pixels).
    """
    from dyngen.io.video import as_frames

    x = as_frames(video, ndim=4)
    cfg = resolve_config(preset, size=tuple(x.shape[2:]), frames=x.shape[0], overrides=settings)
    return _recover(x, missing, method=method, run_dir=run_dir, model_config=cfg.model, train_config=cfg.train,
                    residual=residual, hidden_frames=hidden_frames, both_ways=both_ways,
                    backward_epochs=backward_epochs, blend=blend, device=device,
                    callback=callback, stop=stop)  # fmt: skip


def remove(video: Video, mask: torch.Tensor, **kwargs: Any) -> Recovery:
    """Content removal: the object in ``mask`` (True = remove) is declared missing and filled with the
    background the model learns from the rest; the arguments are ``recover``'s."""
    return recover(video, mask, **kwargs)


def encode(run: RunLike, video: Video, *, seed: int = 0, device: str = "auto", **settings: Any) -> Encoded:
    """The latents (a, s_0, xi) of a new video or still with the run's model frozen (``settings``: fields of
    ``dyngen.algorithms.inference.EncodeConfig``: ``steps``, ``restarts``, ...)."""
    return _encode(_run(run, device), video, config=EncodeConfig.from_dict(settings), seed=seed)


def animate(
    run: RunLike, stills: Video, *, frames: int, seed: int = 0, noise: str = "posterior", device: str = "auto",
    **settings: Any,
) -> Animation:  # fmt: skip
    """Bring stills (``(H, W, 3)`` uint8, or several) to life with a run trained with appearance vectors;
    ``Animation.videos`` is ``(B, frames, 3, H, W)``. ``settings``: the inference's (``EncodeConfig``)."""
    return _animate(
        _run(run, device), stills, frames=frames, seed=seed, config=EncodeConfig.from_dict(settings), noise=noise
    )


def interpolate(
    run: RunLike,
    start: str | int | torch.Tensor,
    end: str | int | torch.Tensor,
    *,
    steps: int = 5,
    frames: int = 30,
    seed: int = 0,
    spacing: str = "even",
    noise: str = "posterior",
    device: str = "auto",
) -> Interpolation:
    """Videos along the line between two appearances (training videos by name or index, video or latents
    files, or vectors), the same motion in every row: ``Interpolation.videos`` is ``(steps, frames, 3, H, W)``."""
    return interpolate_appearance(_run(run, device), start, end, steps=steps, frames=frames, seed=seed,
                                  spacing=spacing, noise=noise)  # fmt: skip


def evaluate(synthesized: Video, observed: Video, *, seed: int = 0) -> dict[str, float]:
    """Pixel metrics of a synthesized video against the observed one (``dyngen.evaluation.metrics``): appearance
    and dynamics distances, motion energy, its ratio and drift, the temporal spectrum distance, copying."""
    return _evaluate(synthesized, observed, seed=seed)
