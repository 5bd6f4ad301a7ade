"""Learning from incomplete video: recovery of hidden pixels, and content removal.

The dynamic generator (``method="dg"``) learns from the visible pixels only:
the posterior energy and the learning loss sum over observed values, and the
hidden pixels are zeroed before training, so they cannot influence it. The
recovered video keeps every observed pixel exactly and takes the model's
reconstruction where pixels are hidden.

Classic baselines run through the same function, so every comparison uses one
harness: ``interp`` (linear in time), ``mrf-l2`` (space-time Laplace),
``mrf-l1`` (total variation), ``lds`` (PCA + AR(1) fitted to the visible data),
``hold`` (the nearest visible value in time, a frame repetition) and ``median``
(the running median in time of a pixel's visible values).

``residual`` (off by default, which is the paper's fill) corrects a model's
reconstruction G with its own error on the visible pixels: the hidden pixels
get ``G + fill(x - G)``, where ``fill`` is one of the baselines applied to the
residual ``x - G`` of the visible pixels. Where G is linear in time between
visible frames, ``residual="interp"`` gives exactly the ``interp`` fill; where
G models more, the correction keeps that and removes the model's slowly
varying error (docs/recovery.md).

``hidden_frames`` chooses the states rendered for frames with no visible pixel
(``dyngen.algorithms.hidden_states``).

``blend="cv"`` fills each hidden pixel with a blend of the method's fill and every classic one, weighted by
their errors on held-out visible pixels (``dyngen.algorithms.blend``): the method is then trained (or fitted)
with those probes hidden too, and each fill is made twice, on that mask (to score it) and on the real one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dyngen.algorithms.abptt import TrainConfig
from dyngen.algorithms.blend import apply_blend, fit_blend, probe_mask, with_consensus
from dyngen.algorithms.hidden_states import STATE_FILLS, choose_hidden_frames, hidden_frame_states
from dyngen.baselines import get_baseline
from dyngen.baselines.interp import time_neighbours
from dyngen.baselines.lds import LinearDynamicSystem
from dyngen.errors import MaskError, RunError, UsageError
from dyngen.io.video import as_frames, to_uint8
from dyngen.models.dynamic_generator import ModelConfig
from dyngen.models.emission import emission_class
from dyngen.runs.checkpoint import Trained, load_trained
from dyngen.runs.directory import Run
from dyngen.runs.lds import default_state_dim
from dyngen.runs.train import resume, train

log = logging.getLogger(__name__)

METHODS = ("dg", "interp", "mrf-l2", "mrf-l1", "lds", "hold", "median")
MODELS = ("dg", "lds")  # the methods that reconstruct every pixel (and so have a residual on the visible ones)
RESIDUALS = ("none", "interp", "mrf-l2", "mrf-l1")
HIDDEN_FRAMES = (*STATE_FILLS, "auto")
BLENDS = ("none", "cv")
CLASSIC = ("interp", "hold", "mrf-l1", "mrf-l2", "lds", "median")  # the fills a cross-validated blend chooses among


@dataclass
class Recovery:
    """The result of a recovery: the video, how long it took, and the run directory (dg only)."""

    recovered: torch.Tensor  # (T, 3, H, W) in [-1, 1]; the observed pixels are the input's, exactly
    seconds: float
    run: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


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
    residual = torch.where(missing[:, None], torch.zeros((), dtype=estimate.dtype), observed.to(estimate) - estimate)
    return estimate + get_baseline(fill)(residual, missing)


def check_mask(video: torch.Tensor, missing: torch.Tensor) -> None:
    """A mask ``(T, H, W)`` must match the video ``(T, 3, H, W)`` and leave something to learn from."""
    t, _, h, w = video.shape
    if tuple(missing.shape) != (t, h, w):
        raise MaskError(f"the mask has shape {tuple(missing.shape)} but the video is {(t, h, w)} (T, H, W)")
    if bool(missing.all()):
        raise MaskError("the mask hides every pixel: nothing is observed, so nothing can be learned")
    if not bool(missing.any()):
        log.warning("the mask hides no pixel: the output is the input")


def check_options(
    method: str,
    *,
    residual: str = "none",
    hidden_frames: str = "chain",
    model_config: ModelConfig | None = None,
    blend: str = "none",
    both_ways: bool = False,
    backward_epochs: int | None = None,
) -> None:
    """Refuse (UsageError) a combination of ``recover``'s options that cannot run, before anything is done."""
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
    if hidden_frames == "auto" and model_config is not None and emission_class(model_config.emission).uses_previous:
        raise UsageError(
            f"--hidden-frames auto scores frames rendered on their own, which the '{model_config.emission}' emission "
            "cannot do (it follows the previous frame); choose chain, interp or nearest"
        )
    if blend not in BLENDS:
        raise UsageError(f"unknown blend '{blend}'; allowed: {', '.join(BLENDS)}")
    if both_ways and method != "dg":
        raise UsageError(f"both ways in time learns the dynamic generator (method dg), not {method}")
    if backward_epochs is not None and (not both_ways or backward_epochs < 1):
        raise UsageError(f"backward_epochs ({backward_epochs}) is the backward run's length: a positive number, with "
                         "both_ways")  # fmt: skip


def recover(
    video: torch.Tensor | np.ndarray,
    missing: torch.Tensor,
    *,
    method: str = "dg",
    run_dir: str | Path | None = None,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    lds_state_dim: int | None = None,
    residual: str = "none",
    hidden_frames: str = "chain",
    both_ways: bool = False,
    backward_epochs: int | None = None,
    blend: str = "none",
    device: str = "auto",
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
) -> Recovery:
    """Fill the hidden pixels of ``video``.

    Args:
        video: ``(T, 3, H, W)`` in [-1, 1] (or uint8 ``(T, H, W, 3)``); its hidden pixels are never used.
        missing: bool ``(T, H, W)``, True = hidden.
        method: one of ``dg``, ``interp``, ``mrf-l2``, ``mrf-l1``, ``lds``, ``hold``, ``median``.
        run_dir: the run directory for ``dg`` (kept afterwards; the run of an earlier recovery of the same video,
            mask and settings is reused without training: ``trained_recovery``).
        model_config, train_config: settings for ``dg``.
        lds_state_dim: state dimension for ``lds`` (default ``min(50, T // 2)``).
        residual: ``none`` (the paper's fill) or a baseline that fills the visible residual of the
            ``dg`` or ``lds`` reconstruction (see :func:`residual_corrected`); only for those two methods.
        hidden_frames: for ``dg``, the states rendered for frames with no visible pixel: ``chain`` (the
            paper's), ``interp`` or ``nearest`` (``dyngen.algorithms.hidden_states``), or ``auto`` (one of the
            two, by cross-validation on the visible frames).
        both_ways: for ``dg``, also learn the video backwards in time (a second run, ``run_dir`` + ``_backward``)
            and blend the two fills at each hidden pixel by its distance in time to the nearest visible value
            before and after it: a model that follows the previous frame carries detail from both sides then.
        backward_epochs: with ``both_ways``, the backward run starts from the forward run's weights and trains this
            many epochs (None: from scratch, for the forward run's epochs).
        blend: ``none``, or ``cv``: blend the method's fill with the classic fills (``CLASSIC``) per class of hidden
            pixel, by convex weights fitted on held-out visible pixels (``dyngen.algorithms.blend``); the method
            learns without those pixels. ``info["blend"]`` holds each fill's error on them and its share.
        device: for ``dg``.
        callback, stop: passed to training (progress, Ctrl-C).

    Returns:
        The recovered video (observed pixels exactly the input's) and timing.
    """
    check_options(method, residual=residual, hidden_frames=hidden_frames, model_config=model_config, blend=blend,
                  both_ways=both_ways, backward_epochs=backward_epochs)  # fmt: skip
    video = as_frames(video, ndim=4)
    check_mask(video, missing)
    t0 = time.perf_counter()
    probe = probe_mask(missing) if blend == "cv" else None
    # the masks a fill is made on: the real one, and with the probes hidden too (the model learns on the last)
    masks = [missing] if probe is None else [missing, missing | probe]
    xs = [torch.where(m[:, None], -1.0, video) for m in masks]  # what a method may see: the hidden pixels black
    info: dict[str, Any] = {}
    run = None
    if method == "dg":
        estimates, run, info = _dg_estimate(video, xs, masks, run_dir, model_config, train_config, hidden_frames,
                                            device, callback, stop)  # fmt: skip
        if both_ways:
            warm = None if backward_epochs is None else run
            back_config = train_config if warm is None else replace(train_config, epochs=backward_epochs)
            back, _, _ = _dg_estimate(video.flip(0), [x.flip(0) for x in xs], [m.flip(0) for m in masks],
                                      f"{run_dir}_backward", model_config, back_config, hidden_frames, device,
                                      callback, stop, warm)  # fmt: skip
            estimates = [_blend_in_time(e, b.flip(0).to(e), m) for e, b, m in zip(estimates, back, masks)]
            info["backward_run"] = str(Path(f"{run_dir}_backward"))
    else:
        estimates = [_classic_fill(method, x, m, lds_state_dim, info) for x, m in zip(xs, masks)]
    if residual != "none":
        estimates = [residual_corrected(e, x, m, residual) for e, x, m in zip(estimates, xs, masks)]
        info["residual"] = residual
    estimate = estimates[0]
    if probe is not None:
        name = model_config.emission if method == "dg" and model_config.emission != "dcgan" else method
        estimate, info["blend"] = _cv_blend(name, estimates, video, xs, masks, probe, lds_state_dim)
    recovered = torch.where(missing[:, None], estimate.to(video).clamp(-1, 1), video)
    return Recovery(recovered, time.perf_counter() - t0, run, info)


def _classic_fill(method: str, x: torch.Tensor, missing: torch.Tensor, lds_state_dim: int | None, info: dict):
    """A classic fill of ``x`` (its hidden pixels ignored); the LDS records its spectral radius in ``info``."""
    if method != "lds":
        return get_baseline(method)(x, missing)
    d = lds_state_dim or default_state_dim(x.shape[0])
    lds = LinearDynamicSystem(frame_shape=tuple(x.shape[1:]), state_dim=d).fit(x, missing=missing)
    info["spectral_radius"] = lds.spectral_radius
    return lds.reconstruct().to(x)


def _cv_blend(name, estimates, video, xs, masks, probe, lds_state_dim) -> tuple[torch.Tensor, dict]:
    """The method's fill (``estimates``: on the real mask, then with the probes hidden) blended with every other
    classic fill and the fills' consensus (their per-pixel median) by weights fitted on the probes: the video and
    what the blend reports."""
    fills = [{name: e} for e in estimates]  # per mask: name -> fill
    for other in CLASSIC:
        if other != name:
            for f, x, m in zip(fills, xs, masks):
                f[other] = _classic_fill(other, x, m, lds_state_dim, {})
    fills = [with_consensus(f) for f in fills]
    fitted = fit_blend(fills[1], video, masks[1], probe)
    estimate, share = apply_blend(fills[0], masks[0], fitted)
    report = {"share": {k: round(v, 3) for k, v in share.items()},
              "probe_error": {k: round(v, 3) for k, v in fitted["probe_error"].items()},
              "probe_fraction": round(float(probe.sum()) / float((~masks[0]).sum()), 4)}  # fmt: skip
    log.info("blend of fills by cross-validation: share %s; error on held-out pixels %s", report["share"],
             report["probe_error"])  # fmt: skip
    return estimate, report


def _blend_in_time(forward: torch.Tensor, backward: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """The two directions' fills blended at each hidden pixel by its distance in time to the nearest visible value
    before (``p``) and after (``n``) it: ``(1 - w) forward + w backward`` with ``w = (t - p) / (n - p)``; before
    a pixel's first visible value only the backward fill knows it, after its last only the forward one."""
    prev, _, w = time_neighbours(~missing.cpu())
    t = torch.arange(missing.shape[0])[:, None, None]
    w = torch.where(prev > t, 1.0, w).to(forward.dtype)[:, None]  # (T, 1, H, W)
    return (1 - w) * forward + w * backward


def trained_recovery(
    run_dir: str | Path,
    video: torch.Tensor,
    missing: torch.Tensor,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    device: str = "auto",
    callback: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
    warm_start: str | Path | None = None,
) -> tuple[Trained, bool]:
    """The dynamic generator of a recovery: trained into ``run_dir``, or, when ``run_dir`` already holds the
    recovery run of this video, mask and settings, that run reused without training (continued if it stopped
    before its epochs). Returns the run and whether it was reused. A new run starts from ``warm_start``'s weights
    when it is given (``dyngen.runs.train.train``).

    Raises:
        RunError: ``run_dir`` holds something else (another video or mask, other settings, not a recovery run).
    """
    frames = torch.from_numpy(to_uint8(video))[None]
    run = Run(Path(run_dir))
    if not run.exists():
        trained = train(
            run_dir, frames, names=["video"], model_config=model_config, train_config=train_config,
            missing=missing[None], device=device, callback=callback, stop=stop, data_info={"task": "recover"},
            warm_start=warm_start,
        )  # fmt: skip
        return trained, False
    config = run.read_config()
    fix = f"choose another --run, or delete {run.path} to train again"
    if config.get("data", {}).get("task") != "recover":
        raise RunError(f"{run.path}: a run, but not one made by 'dyngen recover' or 'remove'; {fix}")
    data = run.load_data()
    stored_missing = data.get("missing")
    same = stored_missing is not None and torch.equal(stored_missing, missing[None].bool())
    if not same or not torch.equal(data["frames"], frames.masked_fill(missing[None][..., None], 0)):
        raise RunError(f"{run.path}: holds the recovery of another video or mask; {fix}")
    asked = {**model_config.to_dict(), **train_config.to_dict()}
    # a run written before a setting existed has its default: read the stored configs through their classes
    stored = {**ModelConfig.from_dict(config["model"]).to_dict(), **TrainConfig.from_dict(config["train"]).to_dict()}
    differ = [k for k in asked if k not in TrainConfig.RECORDING and asked[k] != stored.get(k)]
    if differ:
        shown = ", ".join(f"{k} {stored.get(k)} (asked {asked[k]})" for k in differ[:4])
        raise RunError(f"{run.path}: was trained with other settings: {shown}; {fix}")
    done = int(run.read_summary().get("epochs") or 0)
    if train_config.epochs < done:
        raise RunError(f"{run.path}: was trained for {done} epochs, {train_config.epochs} asked; {fix}")
    if done < train_config.epochs:
        log.info("%s: continuing the recovery run from epoch %d to %d", run.path, done, train_config.epochs)
        return resume(run.path, epochs=train_config.epochs, device=device, callback=callback, stop=stop), True
    log.info("%s: reusing the trained recovery run (epoch %d); no training", run.path, done)
    return load_trained(run.path, device), True


def _dg_estimate(video, xs, masks, run_dir, model_config, train_config, hidden_frames, device, callback, stop,
                 warm_start=None):  # fmt: skip
    """Train the dynamic generator on the visible pixels of the last of ``masks`` (or reuse its run) and render its
    fill for each mask (``xs``: the video with that mask's pixels black): ``(estimates, run, info)``."""
    if run_dir is None or model_config is None or train_config is None:
        raise UsageError("method 'dg' needs run_dir, model_config and train_config")
    trained, reused = trained_recovery(run_dir, video, masks[-1], model_config, train_config, device=device,
                                       callback=callback, stop=stop, warm_start=warm_start)  # fmt: skip
    info: dict[str, Any] = {"reused_run": reused} if reused else {}
    model = trained.model
    estimates = []
    with torch.no_grad():
        states = model.transition.rollout(trained.chains.s0, trained.chains.noise)
        learned = masks[-1].flatten(1).all(dim=1)  # the frames the model saw nothing of
        if hidden_frames == "auto" and not bool(learned.any()):
            hidden_frames = "chain"  # no frame is wholly hidden: nothing to choose
        if hidden_frames == "auto":
            hidden_frames, info["hidden_frames_scores"] = choose_hidden_frames(model.render, states[0], xs[-1],
                                                                               masks[-1])  # fmt: skip
        states = hidden_frame_states(states[0], learned, hidden_frames)[None]
        for x, missing in zip(xs, masks):
            # an emission that reads the previous frame follows the observed one where it is visible
            seen = (~missing).float()[None, :, None].to(x.device)
            estimates.append(model.render(states, None, None, x[None], seen)[0].cpu())
    if hidden_frames != "chain":
        info["hidden_frames"] = hidden_frames
    info["train_psnr_visible"] = trained.run.read_summary().get("psnr")
    return estimates, trained.run.path, info
