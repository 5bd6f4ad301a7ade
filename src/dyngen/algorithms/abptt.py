"""Alternating back-propagation through time (ABPTT), the paper's learning algorithm.

Every training video keeps persistent latent chains (s_0, xi_1..xi_T, a),
warm-started from the previous epoch and never re-initialised. One epoch, for
each batch of videos and each truncation window of ``window`` frames:

1. **Inference**: ``langevin_steps`` Langevin steps on the window's xi, on a,
   and on s_0 in the first window, under the posterior energy with the
   current weights (one set of weights, shared with learning).
2. **Learning**: ``learn_steps`` Adam steps on the weights (alpha, beta) to
   minimise ``1/(2 sigma^2) sum (x - G(s_t, a))^2`` with the inferred latents
   held fixed (the paper: one step).
3. **Carry**: the window's last state, recomputed with the new weights and
   detached, is the next window's initial state, so gradients stop at window
   boundaries.

A video whose length is not a multiple of ``window`` ends with a shorter
window; no frame is dropped.

Speed switches in ``TrainConfig`` (measured in docs/performance.md) change how
the same computation runs, never the algorithm: ``fast_deconv`` (the
generator's small-input layers as matrix products, on by default) and
``precision`` (``"tf32"`` by default: float32, with TF32 tensor cores on CUDA;
``"fp32"``: strict float32; ``"bf16"``: bfloat16 autocast of the forward
passes), ``compile_transition`` (the transition's unroll through
``torch.compile``, CUDA graphs on a GPU). ``checkpoint_activations`` trades
compute for memory: the generator recomputes its blocks in the backward pass.
Langevin never computes parameter gradients (``frozen``), and the loop reads results back
from the device once per epoch, not per step.

One switch changes the algorithm slightly, and is off by default (the
``paper-*`` presets keep it off): ``fuse_learning`` runs the last Langevin
step of a window with parameter gradients, and the first Adam step uses
them. That saves one forward and backward pass per window, and learning then
sees the latents one Langevin step before the end of inference (z_{l-1}
instead of z_l; between two learning steps the chain still takes l steps).
Measured effects are in docs/performance.md.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch

from dyngen.algorithms.langevin import langevin, posterior_energy, reconstruction_error
from dyngen.algorithms.shard import Shard
from dyngen.config import DictConfig
from dyngen.errors import UsageError
from dyngen.models.dynamic_generator import DynamicGenerator

PRECISIONS = ("tf32", "fp32", "bf16")


@dataclass
class TrainConfig(DictConfig):
    """Hyperparameters of ABPTT (defaults: the paper's texture settings)."""

    kind: ClassVar[str] = "training"

    epochs: int = 3000
    window: int = 30  # T_c, frames per truncation window
    batch_size: int = 0  # videos per batch; 0 = all
    sigma: float = 1.0
    langevin_steps: int = 15
    step_size: float = 0.03  # delta
    learn_steps: int = 1
    lr: float = 0.002
    # the lr at the last epoch, as a fraction of lr (cosine decay; 1 = constant, the paper's); the schedule spans
    # the run's epochs, so a stopped run resumes on it exactly, and resuming to more epochs stretches it
    lr_final: float = 1.0
    beta1: float = 0.5
    energy_scale: float = 1.0  # multiplies the likelihood in Langevin; 1 = the true posterior
    # an epoch whose loss is above this many times the median of the recent epochs' is rolled back like a NaN,
    # with halved rates (dyngen.tasks.train); 0 = off, the default (10 in the cpu-texture preset;
    # docs/robustness.md: it helps a texture's fit and hurt a recovery)
    spike_factor: float = 0.0
    shuffle: bool = False
    seed: int = 0
    checkpoint_every: int = 25  # epochs
    preview_every: int = 100  # epochs; 0 disables previews
    # speed switches (docs/performance.md); they change how, not what, is computed
    fast_deconv: bool = True  # the generator's small-input layers as matrix products (equal up to rounding)
    precision: str = "tf32"  # "tf32" (fp32; TF32 tensor cores on CUDA), "fp32" (strict), "bf16" (autocast)
    checkpoint_activations: bool = False  # recompute the generator's blocks in backward: less memory, more time
    # the last Langevin step's backward pass also gives the first learning step's gradient: one pass fewer per
    # window; learning then sees the latents one Langevin step earlier (not exact; docs/performance.md)
    fuse_learning: bool = False
    # the transition's unroll through torch.compile (CUDA graphs on a GPU); compiles each graph once per run
    compile_transition: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision '{self.precision}'; allowed: {', '.join(PRECISIONS)}")
        if not 0 < self.lr_final <= 1:
            raise UsageError(f"lr_final must be in (0, 1] (a fraction of lr), got {self.lr_final}")

    def lr_factor(self, epoch: int, epochs: int) -> float:
        """The multiplier of ``lr`` in epoch ``epoch`` (0-based) of ``epochs``: cosine from 1 to ``lr_final``."""
        progress = min(epoch / max(epochs - 1, 1), 1.0)
        return self.lr_final + (1 - self.lr_final) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class Chains:
    """Persistent latents of N training videos of T frames."""

    s0: torch.Tensor  # (N, d)
    noise: torch.Tensor  # (N, T, k)
    appearance: torch.Tensor  # (N, c); c may be 0

    @classmethod
    def from_prior(cls, model: DynamicGenerator, n: int, t: int, *, generator: torch.Generator) -> Chains:
        """Draw fresh chains from the prior N(0, I)."""
        c = model.config

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator)

        return cls(randn(n, c.state_dim), randn(n, t, c.noise_dim), randn(n, c.appearance_dim))

    def select(self, rows: slice) -> Chains:
        """The chains of the videos in ``rows``."""
        return Chains(self.s0[rows], self.noise[rows], self.appearance[rows])

    def to(self, device: torch.device | str) -> Chains:
        return Chains(self.s0.to(device), self.noise.to(device), self.appearance.to(device))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"s0": self.s0, "noise": self.noise, "appearance": self.appearance}


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


@contextlib.contextmanager
def speed_settings(model: DynamicGenerator, config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Apply ``config``'s speed switches for the duration of an epoch, then restore what was there."""
    fast, ckpt, tf32 = model.generator.fast_deconv, model.generator.checkpoint, torch.backends.cuda.matmul.allow_tf32
    cudnn_tf32, compiled = torch.backends.cudnn.allow_tf32, model.transition.compiled
    model.generator.fast_deconv, model.generator.checkpoint = config.fast_deconv, config.checkpoint_activations
    model.transition.compiled = config.compile_transition
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = config.precision != "fp32"
    try:
        yield
    finally:
        model.generator.fast_deconv, model.generator.checkpoint = fast, ckpt
        model.transition.compiled = compiled
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32, cudnn_tf32


def autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast of the forward passes when ``config.precision == "bf16"`` (energies stay float32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")


def windows(t: int, window: int) -> list[tuple[int, int]]:
    """``[(t0, t1), ...]`` covering ``range(t)`` in windows of ``window`` frames (the last may be shorter)."""
    if window < 1:
        raise UsageError(f"window must be >= 1, got {window}")
    return [(t0, min(t0 + window, t)) for t0 in range(0, t, window)]


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error measured on the [-1, 1] scale (peak-to-peak 2)."""
    return 10 * math.log10(4.0 / mse) if mse > 0 else float("inf")


def abptt_epoch(
    model: DynamicGenerator,
    optimizer: torch.optim.Optimizer,
    frames: torch.Tensor,
    chains: Chains,
    config: TrainConfig,
    *,
    observed: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    shard: Shard | None = None,
) -> dict[str, float]:
    """One epoch of ABPTT over all videos. Updates ``chains`` in place and the weights by ``optimizer``.

    Args:
        model: the dynamic generator, in training mode.
        optimizer: over the model's parameters.
        frames: ``(N, T, 3, H, W)`` training videos in [-1, 1].
        chains: the persistent latents (on the same device as ``frames``).
        config: the hyperparameters.
        observed: ``(N, T, 1, H, W)`` weights, 1 = observed, or None for complete data.
        generator: source of Langevin noise and of the batch order.
        shard: in data-parallel training (``dyngen.algorithms.shard``), this process's share of the
            videos: ``frames``, ``observed`` and ``chains`` hold only those rows. Needs ``batch_size`` 0 and no
            ``shuffle`` (one batch of all videos), which ``dyngen.tasks.train`` checks.

    Returns:
        ``loss`` (the learning objective per frame), ``mse`` (per observed value, on the
        [-1, 1] scale) and ``psnr`` (dB), from the last learning step of each window, over all videos.
    """
    shard = shard or Shard.single(frames.shape[0])
    with speed_settings(model, config, frames.device):
        sq_sum = _epoch(model, optimizer, frames, chains, config, observed, generator, shard)
    count = frames.numel() if observed is None else observed.sum() * frames.shape[2]
    totals = torch.stack([torch.as_tensor(count, dtype=torch.float64, device=frames.device), sq_sum])
    count, sq_sum = shard.sum_(totals).tolist()  # summed over processes; one read-back
    mse = sq_sum / max(count, 1.0)
    loss = sq_sum / (2 * config.sigma**2 * shard.total * frames.shape[1])  # the learning objective per frame
    return {"loss": loss, "mse": mse, "psnr": psnr_from_mse(mse)}


def _epoch(
    model: DynamicGenerator,
    optimizer: torch.optim.Optimizer,
    frames: torch.Tensor,
    chains: Chains,
    config: TrainConfig,
    observed: torch.Tensor | None,
    generator: torch.Generator | None,
    shard: Shard,
) -> torch.Tensor:
    """The body of ``abptt_epoch``; returns the summed squared error of the windows' last learning steps."""
    n, t = frames.shape[:2]
    bs = config.batch_size or n
    if config.shuffle:
        order = torch.randperm(n, generator=generator, device=generator.device if generator else "cpu").tolist()
    else:
        order = list(range(n))
    sq_sum = torch.zeros((), dtype=torch.float64, device=frames.device)
    for b0 in range(0, n, bs):
        idx = torch.tensor(order[b0 : b0 + bs], device=frames.device)
        s_prev: torch.Tensor | None = None
        a_fixed = chains.appearance[idx] if model.appearance_dim else None
        for t0, t1 in windows(t, config.window):
            x = frames[idx, t0:t1]
            obs = None if observed is None else observed[idx, t0:t1]
            z = {"noise": chains.noise[idx, t0:t1]}
            if s_prev is None:
                z["s0"] = chains.s0[idx]
            if model.appearance_dim:
                z["appearance"] = a_fixed

            last: dict[str, torch.Tensor] = {}

            def energy(zz: dict[str, torch.Tensor], x=x, obs=obs, s_prev=s_prev, last=last) -> torch.Tensor:
                with autocast(config, frames.device):
                    return posterior_energy(
                        model, x, zz, sigma=config.sigma, s_prev=s_prev, observed=obs,
                        energy_scale=config.energy_scale, record=last,
                    )  # fmt: skip

            frames_in_window = (shard.total if shard.distributed else x.shape[0]) * x.shape[1]
            fuse = config.fuse_learning and config.langevin_steps > 0 and config.learn_steps > 0
            sample = functools.partial(
                langevin, energy, step_size=config.step_size, generator=generator,
                randn=functools.partial(shard.randn, generator=generator) if shard.distributed else None,
            )  # fmt: skip
            with frozen(model):
                z = sample(z, steps=config.langevin_steps - fuse)
            if fuse:  # the last Langevin step's backward pass is also the first learning step's
                optimizer.zero_grad(set_to_none=True)
                z = sample(z, steps=1, backward=True)
                for p in model.parameters():  # d energy / d param -> d loss / d param
                    if p.grad is not None:
                        p.grad.div_(config.energy_scale * frames_in_window)
                shard.sum_grads(model)
                optimizer.step()
                err = last["error"]
            chains.noise[idx, t0:t1] = z["noise"]
            s_start = z.get("s0", s_prev)
            if "s0" in z:
                chains.s0[idx] = z["s0"]
            if model.appearance_dim:
                a_fixed = z["appearance"]
                chains.appearance[idx] = a_fixed

            for _ in range(config.learn_steps - fuse):
                optimizer.zero_grad(set_to_none=True)
                with autocast(config, frames.device):
                    recon, _ = model(s_start, z["noise"], a_fixed)
                err = reconstruction_error(x, recon.float(), obs)
                loss = err / (2 * config.sigma**2 * frames_in_window)
                loss.backward()
                shard.sum_grads(model)
                optimizer.step()
            sq_sum += err.detach()
            with torch.no_grad():
                s_prev = model.transition.rollout(s_start, z["noise"])[:, -1]
    return sq_sum
