"""A memory estimate for training, checked before anything starts.

Training holds, at its peak (one truncation window of one batch, during the
backward pass of a Langevin step or of a learning step):

- **activations**: the frame generator's layer outputs for every frame of the
  window, ``batch x window`` frames, saved for back-propagation, plus about as
  much again in gradient buffers while the backward pass runs
  (``ACTIVATION_FACTOR``);
- **weights**: the parameters, their gradients and Adam's two moments (4 copies);
- **data**: the training videos as float32 (and the observed-pixel weights);
- **latents**: s_0, xi and a for every video (small).

The layer sizes come from the model itself, built on PyTorch's ``meta`` device
(shapes only, no memory, no compute), so the estimate follows any change to
the architecture. Measured against the real peak in the tests and the report
(docs/robustness.md), it is within a factor of about 1.5 above the truth.

``check_training_memory`` compares the estimate with the memory available
(``MemAvailable`` in ``/proc/meminfo`` and any cgroup limit on the CPU,
``torch.cuda.mem_get_info`` on a GPU) and refuses with a message that says
which ``--window`` would fit. Set ``DYNGEN_SKIP_MEMORY_CHECK=1`` to skip it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from dyngen.algorithms.abptt import TrainConfig
from dyngen.errors import ResourceError
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig

log = logging.getLogger(__name__)

ACTIVATION_FACTOR = 2.0  # saved activations + gradient buffers during the backward pass
SKIP_ENV = "DYNGEN_SKIP_MEMORY_CHECK"
FLOAT = 4  # bytes per float32


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


def _frame_activation_elements(config: ModelConfig) -> tuple[int, int]:
    """``(activation elements per frame, parameter count)``, from a model built on the meta device."""
    with torch.device("meta"):
        model = DynamicGenerator(config)
        total = 0

        def count(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            nonlocal total
            if isinstance(output, torch.Tensor):
                total += output.numel()

        hooks = [m.register_forward_hook(count) for m in model.generator.modules() if not list(m.children())]
        try:
            model.generator(torch.zeros(1, config.appearance_dim + config.state_dim))
        finally:
            for h in hooks:
                h.remove()
    params = sum(p.numel() for p in model.parameters())
    return total, params


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
    per_frame_elems, params = _frame_activation_elements(config)
    batch = min(train_config.batch_size or videos, videos)
    in_window = batch * min(train_config.window, frames)
    per_frame = int(per_frame_elems * FLOAT * ACTIVATION_FACTOR)
    pixels = videos * frames * config.height * config.width
    return MemoryEstimate(
        activations=per_frame * in_window,
        weights=4 * params * FLOAT,
        data=pixels * 3 * FLOAT + (pixels * FLOAT if incomplete else 0) + pixels * 3,  # float, weights, uint8 copy
        latents=videos * (config.state_dim + frames * config.noise_dim + config.appearance_dim) * FLOAT * 3,
        per_frame=per_frame,
        frames_in_window=in_window,
    )


def _cgroup_available() -> int | None:
    """Bytes left under a cgroup (v2 or v1) memory limit, or None without one."""
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            text = Path(limit).read_text().strip()
            if text == "max" or int(text) >= 2**60:
                return None
            return max(int(text) - int(Path(usage).read_text()), 0)
        except (OSError, ValueError):
            continue
    return None


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes of memory free for a new allocation on ``device``, or None when it cannot be told."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    cgroup = _cgroup_available()
    return avail if cgroup is None else min(avail, cgroup)


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GB"


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
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        return est
    avail = available_memory(device) if available is None else available
    where = "GPU memory" if torch.device(device).type == "cuda" else "RAM"
    log.debug("memory estimate %s of %s available", _gb(est.total), "?" if avail is None else _gb(avail))
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
        f"training needs about {_gb(est.total)} of {where} (activations of {est.frames_in_window} frames per "
        f"window: {_gb(est.activations)}; weights and Adam state: {_gb(est.weights)}; data: {_gb(est.data)}), "
        f"but only {_gb(avail)} is available; {hint}, or a narrower --width. "
        f"Set {SKIP_ENV}=1 to try anyway."
    )
