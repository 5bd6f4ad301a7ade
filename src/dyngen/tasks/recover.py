"""Learning from incomplete video: recovery of hidden pixels, and content removal.

The dynamic generator (``method="dg"``) learns from the visible pixels only:
the posterior energy and the learning loss sum over observed values, and the
hidden pixels are zeroed before training, so they cannot influence it. The
recovered video keeps every observed pixel exactly (bit for bit) and takes the
model's reconstruction where pixels are hidden.

Classic baselines run through the same function, so every comparison uses one
harness: ``interp`` (linear in time), ``mrf-l2`` (space-time Laplace),
``mrf-l1`` (total variation), ``lds`` (PCA + AR(1) fitted to the visible data)
and ``hold`` (the nearest visible value in time, a frame repetition).

``residual`` (off by default, which is the paper's fill) corrects a model's
reconstruction G with its own error on the visible pixels: the hidden pixels
get ``G + fill(x - G)``, where ``fill`` is one of the baselines applied to the
residual ``x - G`` of the visible pixels. Where G is linear in time between
visible frames, ``residual="interp"`` gives exactly the ``interp`` fill; where
G models more, the correction keeps that and removes the model's slowly
varying error. Measured on the reproduction set it lowered dg's error on all
eight cases (by 0.2 to 1.1 grey levels; docs/recovery.md).

``hidden_frames`` chooses the states rendered for frames with no visible
pixel. ``"chain"`` (the default, the paper's) renders the inferred chain: the
transition driven by the inferred innovations. ``"interp"`` renders, for each
such frame, the states of the nearest frames before and after it with visible
pixels, interpolated linearly in time; ``"nearest"`` renders the nearer of the
two (ties: the earlier), as the ``interp`` and ``hold`` baselines do with
pixels; ``"auto"`` picks one of these two by cross-validation on the visible
frames (:func:`choose_hidden_frames`). Frames with any visible pixel keep
their inferred states. Between two visible frames the chain can pass through
states the generator never had to render, and on a clip whose light switches
it renders noise there; interpolating the states avoids that
(docs/recovery.md).

Metrics on hidden pixels (when the truth is known): the recovery error
``mean |recovered - truth|`` on a 0-255 scale (the paper's metric) and PSNR.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dyngen.algorithms.abptt import TrainConfig
from dyngen.errors import MaskError, UsageError
from dyngen.io.video import to_tensor, to_uint8
from dyngen.models.dynamic_generator import ModelConfig

log = logging.getLogger(__name__)

METHODS = ("dg", "interp", "mrf-l2", "mrf-l1", "lds", "hold")
MODELS = ("dg", "lds")  # the methods that reconstruct every pixel (and so have a residual on the visible ones)
RESIDUALS = ("none", "interp", "mrf-l2", "mrf-l1")
STATE_FILLS = ("chain", "interp", "nearest")
HIDDEN_FRAMES = (*STATE_FILLS, "auto")


@dataclass
class Recovery:
    """The result of a recovery: the video, how long it took, and the run directory (dg only)."""

    recovered: np.ndarray  # uint8 (T, H, W, 3)
    seconds: float
    run: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


def hidden_metrics(recovered: np.ndarray, truth: np.ndarray, missing: torch.Tensor) -> dict[str, float]:
    """Recovery error (mean abs, 0-255) and PSNR over the hidden pixels only, for uint8 videos."""
    from dyngen.evaluate.recovery import hidden_psnr, recovery_error

    if not bool(missing.any()):
        return {"hidden_fraction": 0.0}
    rec, tru = to_tensor(recovered).double(), to_tensor(truth).double()
    return {
        "error": recovery_error(rec, tru, missing),
        "psnr": hidden_psnr(rec, tru, missing),
        "hidden_fraction": float(missing.float().mean()),
    }


def occluded_view(video: np.ndarray, missing: torch.Tensor) -> np.ndarray:
    """The input as the model sees it: hidden pixels painted black."""
    out = video.copy()
    out[missing.numpy().astype(bool)] = 0
    return out


def residual_corrected(
    estimate: torch.Tensor, observed: torch.Tensor, missing: torch.Tensor, fill: str
) -> torch.Tensor:
    """``estimate + fill(observed - estimate)``: a reconstruction corrected by the fill of its visible residual.

    Args:
        estimate: a model's reconstruction ``(T, 3, H, W)`` in [-1, 1].
        observed: the video ``(T, 3, H, W)``; its hidden pixels are ignored.
        missing: bool ``(T, H, W)``, True = hidden.
        fill: a baseline name (``interp``, ``mrf-l2``, ``mrf-l1``) that fills the residual's hidden pixels.

    Returns:
        ``(T, 3, H, W)``, equal to ``observed`` at the visible pixels (up to float rounding).
    """
    from dyngen.baselines import get_baseline

    residual = torch.where(missing[:, None], torch.zeros((), dtype=estimate.dtype), observed.to(estimate) - estimate)
    return estimate + get_baseline(fill)(residual, missing)


def hidden_frame_states(states: torch.Tensor, hidden: torch.Tensor, how: str) -> torch.Tensor:
    """The states to render for the frames with no visible pixel (see the module docstring).

    Args:
        states: ``(T, d)`` the inferred states.
        hidden: bool ``(T,)``, True where a frame has no visible pixel; some frame must be visible.
        how: ``chain`` (keep ``states``), ``interp`` or ``nearest``.

    Returns:
        ``(T, d)``: ``states`` at the visible frames, and at a hidden frame t between visible frames p < t < n,
        ``((n - t) s_p + (t - p) s_n) / (n - p)`` (``interp``) or the nearer one's state (``nearest``); before the
        first or after the last visible frame, that frame's state.
    """
    if how not in STATE_FILLS:
        raise UsageError(f"unknown hidden-frame states '{how}'; allowed: {', '.join(STATE_FILLS)}")
    if how == "chain" or not bool(hidden.any()):
        return states
    from dyngen.baselines.interp import time_neighbours

    prev, nxt, w = (v.to(states.device) for v in time_neighbours(~hidden.cpu(), nearest=how == "nearest"))
    w = w.to(states.dtype)[:, None]
    return (1 - w) * states[prev] + w * states[nxt]


def choose_hidden_frames(
    render: Callable[[torch.Tensor], torch.Tensor], states: torch.Tensor, video: torch.Tensor, missing: torch.Tensor
) -> tuple[str, dict[str, float]]:
    """``interp`` or ``nearest``: the one that renders the visible frames better from their neighbours' states.

    Every frame with visible pixels that has such frames on both sides is treated in turn as a hidden frame: its
    state is taken from its nearest visible neighbours both ways (:func:`hidden_frame_states`), rendered, and
    compared with its visible pixels. Ties go to ``interp``.

    Args:
        render: ``(1, N, d) -> (1, N, 3, H, W)``, the model's ``render``.
        states: ``(T, d)`` the inferred states.
        video: ``(T, 3, H, W)`` in [-1, 1]; only its visible pixels are used.
        missing: bool ``(T, H, W)``, True = hidden.

    Returns:
        The choice, and the mean absolute error (0-255) of each way over those frames' visible pixels (empty
        when fewer than three frames have visible pixels; the choice is then ``interp``).
    """
    whole = missing.flatten(1).all(dim=1)
    inner = (~whole).nonzero().flatten()[1:-1].tolist()
    if not inner:
        return "interp", {}
    seen = (~missing[inner])[:, None].to(video.dtype)
    scores = {}
    for how in ("interp", "nearest"):
        picked = []
        for t in inner:
            held_out = whole.clone()
            held_out[t] = True
            picked.append(hidden_frame_states(states, held_out, how)[t])
        rendered = render(torch.stack(picked)[None])[0].to(video)
        scores[how] = float(((rendered - video[inner]).abs() * seen).sum() / (3 * seen.sum())) * 127.5
    return ("nearest" if scores["nearest"] < scores["interp"] else "interp"), scores


def check_mask(video: np.ndarray, missing: torch.Tensor) -> None:
    """A mask must match the video and leave something to learn from."""
    if tuple(missing.shape) != video.shape[:3]:
        raise MaskError(f"the mask has shape {tuple(missing.shape)} but the video is {video.shape[:3]} (T, H, W)")
    if bool(missing.all()):
        raise MaskError("the mask hides every pixel: nothing is observed, so nothing can be learned")
    if not bool(missing.any()):
        log.warning("the mask hides no pixel: the output is the input")


def recover(
    video: np.ndarray,
    missing: torch.Tensor,
    *,
    method: str = "dg",
    run_dir: str | Path | None = None,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    lds_state_dim: int | None = None,
    residual: str = "none",
    hidden_frames: str = "chain",
    device: str = "auto",
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
) -> Recovery:
    """Fill the hidden pixels of ``video``.

    Args:
        video: uint8 ``(T, H, W, 3)``; its hidden pixels are never used.
        missing: bool ``(T, H, W)``, True = hidden.
        method: one of ``dg``, ``interp``, ``mrf-l2``, ``mrf-l1``, ``lds``, ``hold``.
        run_dir: the run directory for ``dg`` (kept afterwards).
        model_config, train_config: settings for ``dg``.
        lds_state_dim: state dimension for ``lds`` (default ``min(50, T // 2)``).
        residual: ``none`` (the paper's fill) or a baseline that fills the visible residual of the
            ``dg`` or ``lds`` reconstruction (see :func:`residual_corrected`); only for those two methods.
        hidden_frames: for ``dg``, the states rendered for frames with no visible pixel: ``chain`` (the
            paper's), ``interp`` or ``nearest`` (:func:`hidden_frame_states`), or ``auto`` (one of the two,
            by :func:`choose_hidden_frames`).
        device: for ``dg``.
        callback, stop: passed to training (progress, Ctrl-C).

    Returns:
        The recovered video (observed pixels bit-exact) and timing.
    """
    if method not in METHODS:
        raise UsageError(f"unknown method '{method}'; allowed: {', '.join(METHODS)}")
    if residual not in RESIDUALS:
        raise UsageError(f"unknown residual fill '{residual}'; allowed: {', '.join(RESIDUALS)}")
    if residual != "none" and method not in MODELS:
        raise UsageError(
            f"a residual fill corrects a model's reconstruction ({' or '.join(MODELS)}); '{method}' keeps every "
            "visible pixel, so it has no residual to fill"
        )
    if hidden_frames not in HIDDEN_FRAMES:
        raise UsageError(f"unknown hidden-frame states '{hidden_frames}'; allowed: {', '.join(HIDDEN_FRAMES)}")
    if hidden_frames != "chain" and method != "dg":
        raise UsageError(f"hidden-frame states choose what the dynamic generator renders; not for '{method}'")
    check_mask(video, missing)
    hidden = missing.numpy().astype(bool)
    t0 = time.perf_counter()
    x = to_tensor(np.where(hidden[..., None], 0, video).astype(np.uint8))
    info: dict[str, Any] = {}
    run = None
    if method == "dg":
        if run_dir is None or model_config is None or train_config is None:
            raise UsageError("method 'dg' needs run_dir, model_config and train_config")
        from dyngen.tasks.train import train

        trained = train(
            run_dir, torch.from_numpy(video)[None], names=["video"], model_config=model_config,
            train_config=train_config, missing=missing[None], device=device, callback=callback, stop=stop,
            data_info={"task": "recover"},
        )  # fmt: skip
        with torch.no_grad():
            states = trained.model.transition.rollout(trained.chains.s0, trained.chains.noise)
            whole = missing.flatten(1).all(dim=1)
            if hidden_frames == "auto" and not bool(whole.any()):
                hidden_frames = "chain"  # no frame is wholly hidden: nothing to choose
            if hidden_frames == "auto":
                hidden_frames, info["hidden_frames_scores"] = choose_hidden_frames(
                    trained.model.render, states[0], x, missing
                )
            recon = trained.model.render(hidden_frame_states(states[0], whole, hidden_frames)[None])
        estimate = recon[0].cpu()
        if hidden_frames != "chain":
            info["hidden_frames"] = hidden_frames
        run = trained.run.path
        info["train_psnr_visible"] = trained.run.read_summary().get("psnr")
    elif method == "lds":
        from dyngen.models.lds import LinearDynamicSystem

        d = lds_state_dim or min(50, video.shape[0] // 2)
        lds = LinearDynamicSystem(frame_shape=tuple(x.shape[1:]), state_dim=d).fit(x, missing=missing)
        estimate = lds.reconstruct().to(x)
        info["spectral_radius"] = lds.spectral_radius
    else:
        from dyngen.baselines import get_baseline

        estimate = get_baseline(method)(x, missing)
    if residual != "none":
        estimate = residual_corrected(estimate, x, missing, residual)
        info["residual"] = residual
    recovered = np.where(hidden[..., None], to_uint8(estimate), video).astype(np.uint8)
    return Recovery(recovered, time.perf_counter() - t0, run, info)
