"""How an ABPTT window step runs: precision, fused learning, a compiled transition and the data-parallel
collectives. None of them changes what ``dyngen.algorithms.abptt.window_step`` computes, with one exception,
``fuse_learning``, which is off by default and in every ``paper-*`` preset.

- ``precision``: ``"tf32"`` (the default: float32, with TF32 tensor cores on CUDA), ``"fp32"`` (strict float32)
  or ``"bf16"`` (bfloat16 autocast of the forward passes; the energies stay float32).
- ``fast_deconv``, ``checkpoint_activations`` (the generator's switches) and ``compile_transition`` (the
  transition's unroll through ``torch.compile``, CUDA graphs on a GPU) are set for the epoch and restored.
- ``fuse_learning``: the last Langevin step of a window is taken with parameter gradients, and the first Adam
  step uses them, which saves one forward and backward pass per window; learning then sees the latents one
  Langevin step before the end of inference (z_{l-1} instead of z_l).
- Data-parallel training (``dyngen.algorithms.shard``): the Langevin noise of every video is drawn as one
  process would draw it, and the weight gradients are summed over the processes before each Adam step.

Langevin never computes parameter gradients (``frozen``). Measured effects: docs/performance.md.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from dyngen.algorithms.langevin import (
    Latents,
    Noise,
    WindowFit,
    gaussian_noise,
    langevin,
    langevin_update,
    posterior_energy,
)
from dyngen.algorithms.shard import Shard

if TYPE_CHECKING:
    from dyngen.algorithms.abptt import TrainConfig
    from dyngen.models.dynamic_generator import DynamicGenerator

PRECISIONS = ("tf32", "fp32", "bf16")
Error = Callable[[Latents], WindowFit]  # latents -> the window's summed squared error and objective


@contextlib.contextmanager
def frozen(model: torch.nn.Module) -> Iterator[None]:
    """Turn off parameter gradients, so Langevin differentiates with respect to the latents only."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


@dataclass
class Execution:
    """The optimizer, the random source and the processes of one epoch, and the switches of ``config``."""

    config: TrainConfig
    optimizer: torch.optim.Optimizer
    generator: torch.Generator | None
    shard: Shard
    device_type: str = "cpu"

    @property
    def fused(self) -> bool:
        return self.config.fuse_learning and self.config.langevin_steps > 0

    @property
    def learn_steps(self) -> int:
        """The Adam steps left after inference (one fewer when the last Langevin step took the first)."""
        return self.config.learn_steps - self.fused

    @property
    def noise(self) -> Noise:
        if self.shard.distributed:
            return functools.partial(self.shard.randn, generator=self.generator)
        return gaussian_noise(self.generator)

    @contextlib.contextmanager
    def settings(self, model: DynamicGenerator, device: torch.device) -> Iterator[None]:
        """Apply the speed switches for the duration of an epoch, then restore what was there."""
        c, g, cuda = self.config, model.generator, torch.backends.cuda
        saved = (
            getattr(g, "fast_deconv", None), getattr(g, "checkpoint", None), model.transition.compiled,
            cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
        )  # fmt: skip
        if hasattr(g, "fast_deconv"):
            g.fast_deconv, g.checkpoint = c.fast_deconv, c.checkpoint_activations
        model.transition.compiled = c.compile_transition
        if device.type == "cuda":
            cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = c.precision != "fp32"
        self.device_type = device.type
        try:
            yield
        finally:
            if hasattr(g, "fast_deconv"):
                g.fast_deconv, g.checkpoint = saved[0], saved[1]
            model.transition.compiled = saved[2]
            cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[3], saved[4]

    def autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast of the forward passes when ``precision == "bf16"``."""
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    def frames_in_window(self, videos: int, frames: int) -> int:
        """The frames that one learning step's loss is normalised by: those of every process."""
        return (self.shard.total if self.shard.distributed else videos) * frames

    def energy(self, error: Error) -> Callable[[Latents], torch.Tensor]:
        c = self.config
        return lambda z: posterior_energy(error(z).objective, z, sigma=c.sigma, energy_scale=c.energy_scale)

    def infer(
        self, model: DynamicGenerator, error: Error, z: Latents, *, window: tuple[int, int]
    ) -> tuple[Latents, torch.Tensor | None]:
        """ABPTT's step 1: Langevin on ``z`` (``window``: videos and frames of the window). With ``fuse_learning``
        the last step also takes the first Adam step, and its reconstruction error is returned (else None)."""
        c = self.config
        with frozen(model):
            z = langevin(self.energy(error), z, steps=c.langevin_steps - self.fused, step_size=c.step_size,
                         noise=self.noise)  # fmt: skip
        if not self.fused:
            return z, None
        self.optimizer.zero_grad(set_to_none=True)
        leaves = {k: v.detach().requires_grad_(True) for k, v in z.items()}
        fit = error(leaves)
        params = [p for p in model.parameters() if p.requires_grad]
        energy = posterior_energy(fit.objective, leaves, sigma=c.sigma, energy_scale=c.energy_scale)
        grads = torch.autograd.grad(energy, [*leaves.values(), *params], allow_unused=True)
        z = langevin_update(leaves, grads[: len(leaves)], step_size=c.step_size, noise=self.noise)
        scale = c.energy_scale * self.frames_in_window(*window)
        for p, g in zip(params, grads[len(leaves) :]):  # d energy / d param -> d loss / d param
            p.grad = None if g is None else g.div_(scale)
        self._step(model)
        return {k: v.detach() for k, v in z.items()}, fit.error

    def learn(self, model: DynamicGenerator, fit: WindowFit, *, window: tuple[int, int]) -> torch.Tensor:
        """ABPTT's step 2: one Adam step on ``objective / (2 sigma^2 n)`` (n frames of every process); returns the
        reconstruction error."""
        self.optimizer.zero_grad(set_to_none=True)
        (fit.objective / (2 * self.config.sigma**2 * self.frames_in_window(*window))).backward()
        self._step(model)
        return fit.error

    def _step(self, model: DynamicGenerator) -> None:
        self.shard.sum_grads(model)
        self.optimizer.step()
