"""A memory estimate for training, checked before anything starts.

Training holds, at its peak (one truncation window of one batch, during the
backward pass of a Langevin step or of a learning step):

- **activations**: the emission's layer outputs for every frame of the
  window, ``batch x window`` frames, saved for back-propagation, plus about as
  much again in gradient buffers while the backward pass runs
  (``ACTIVATION_FACTOR``);
- **weights**: the parameters, their gradients and Adam's two moments (4 copies);
- **data**: the training videos as float32 (and the observed-pixel weights);
- **latents**: s_0, xi and a for every video (small).

The activations come from the model itself: the bytes autograd saves in a
real forward pass of one and of two frames (on the CPU, a fraction of a
second), so the estimate follows any change to the architecture or to how a
layer is computed. ``ACTIVATION_FACTOR`` and ``WORKSPACE`` cover the
gradient buffers and workspaces of the backward pass; they were calibrated
against the measured peak memory of one epoch of the presets, which the
estimate meets or exceeds by up to 1.5x (docs/robustness.md).

``check_training_memory`` compares the estimate with the memory available
(``dyngen.resources.available_memory``) and refuses with a message that says
which ``--window`` would fit. Set ``DYNGEN_SKIP_MEMORY_CHECK=1`` to skip it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from dyngen.algorithms.abptt import TrainConfig
from dyngen.errors import ResourceError
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.resources import FLOAT, SKIP_ENV, available_memory, gigabytes, skipped

log = logging.getLogger(__name__)

ACTIVATION_FACTOR = 3.0  # peak / saved activations: gradient buffers and workspaces of backward (measured)
WORKSPACE = 32 * 2**20  # bytes of allocator and kernel workspace on top (measured on small presets)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes that training needs, by kind."""

    activations: int  # one window of one batch, with backward buffers
    weights: int  # parameters, gradients, Adam moments
    data: int  # frames (float32) and observed weights
    latents: int
    per_frame: int  # activation bytes per frame of a window (for suggestions)
    frames_in_window: int  # batch x window

    @property
    def total(self) -> int:
        return self.activations + self.weights + self.data + self.latents


def _saved_bytes(model: DynamicGenerator, frames: int) -> int:
    """Bytes autograd keeps for the backward pass of the emission on ``frames`` frames (weights apart)."""
    seen = {p.untyped_storage().data_ptr() for p in model.parameters()}
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:  # a tensor saved by two operations is kept once
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    c = model.config
    states = torch.zeros(1, frames, c.state_dim, requires_grad=True)
    appearance = torch.zeros(1, c.appearance_dim) if c.appearance_dim else None
    previous = torch.zeros(1, 3, c.height, c.width) if model.generator.uses_previous else None
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.render(states, appearance, previous)
    return total


def _per_frame_and_fixed(config: ModelConfig) -> tuple[int, int, int]:
    """``(saved bytes per frame, saved bytes independent of the frame count, parameter count)``.

    Measured on the CPU with a real forward pass of 1 and 2 frames, so the estimate follows the
    model's actual implementation, whatever it computes with.
    """
    with torch.random.fork_rng(devices=[]):  # building the model draws weights: leave the global RNG alone
        model = DynamicGenerator(config).train()
    one, two = _saved_bytes(model, 1), _saved_bytes(model, 2)
    per_frame = max(two - one, 1)
    return per_frame, max(one - per_frame, 0), sum(p.numel() for p in model.parameters())


def estimate_training_memory(
    config: ModelConfig, train_config: TrainConfig, *, videos: int, frames: int, incomplete: bool = False
) -> MemoryEstimate:
    """Estimate the peak memory of training.

    Args:
        config: the model.
        train_config: ``window`` and ``batch_size`` matter.
        videos: N, the number of training videos.
        frames: T, frames per video.
        incomplete: whether a missing-pixel mask is used (one more float per pixel).

    Returns:
        The estimate, by kind, in bytes.
    """
    saved_per_frame, saved_fixed, params = _per_frame_and_fixed(config)
    batch = min(train_config.batch_size or videos, videos)
    in_window = batch * min(train_config.window, frames)
    frame_bytes = 3 * config.height * config.width * FLOAT
    per_frame = int(ACTIVATION_FACTOR * saved_per_frame + 2 * frame_bytes)  # + the energy's residual and square
    pixels = videos * frames * config.height * config.width
    return MemoryEstimate(
        activations=per_frame * in_window + int(ACTIVATION_FACTOR * saved_fixed) + WORKSPACE,
        weights=4 * params * FLOAT,
        data=pixels * 3 * FLOAT + (pixels * FLOAT if incomplete else 0) + pixels * 3,  # float, weights, uint8 copy
        latents=videos * (config.state_dim + frames * config.noise_dim + config.appearance_dim) * FLOAT * 3,
        per_frame=per_frame,
        frames_in_window=in_window,
    )


def check_training_memory(
    config: ModelConfig,
    train_config: TrainConfig,
    *,
    videos: int,
    frames: int,
    device: torch.device | str = "cpu",
    incomplete: bool = False,
    available: int | None = None,
) -> MemoryEstimate:
    """Refuse to train when the estimate exceeds the memory available on ``device``.

    Args:
        config, train_config, videos, frames, incomplete: as for :func:`estimate_training_memory`.
        device: where training runs.
        available: bytes available (default: asked from the system).

    Returns:
        The estimate.

    Raises:
        ResourceError: the estimate exceeds what is available; the message says
            which window would fit and what else to shrink.
    """
    est = estimate_training_memory(config, train_config, videos=videos, frames=frames, incomplete=incomplete)
    if skipped():
        return est
    avail = available_memory(device) if available is None else available
    where = "GPU memory" if torch.device(device).type == "cuda" else "RAM"
    log.debug("memory estimate %s of %s available", gigabytes(est.total), "?" if avail is None else gigabytes(avail))
    if avail is None or est.total <= avail:
        return est
    batch = est.frames_in_window // max(min(train_config.window, frames), 1)
    room = avail - (est.total - est.activations)
    fits = room // max(est.per_frame * batch, 1)
    window = min(train_config.window, frames)
    hint = (
        f"use a shorter --window (at most {int(fits)} frames would fit, now {window})"
        if 1 <= fits < window
        else "use a smaller --size or fewer --frames"
    )
    if batch > 1:
        hint += f", a smaller --batch-size (now {batch})"
    raise ResourceError(
        f"training needs about {gigabytes(est.total)} of {where} (activations of {est.frames_in_window} frames per "
        f"window: {gigabytes(est.activations)}; weights and Adam state: {gigabytes(est.weights)}; "
        f"data: {gigabytes(est.data)}), "
        f"but only {gigabytes(avail)} is available; {hint}, or a narrower --width. "
        f"Set {SKIP_ENV}=1 to try anyway."
    )
