"""Alternating back-propagation through time (ABPTT), the paper's learning algorithm.

Every training video keeps persistent latent chains (s_0, xi_1..xi_T, a),
warm-started from the previous epoch and never re-initialised. One epoch
runs ``window_step`` for each batch of videos and each truncation window of
``window`` frames; a video whose length is not a multiple of ``window`` ends
with a shorter window, so no frame is dropped.

How the steps run (precision, fused learning, a compiled transition, the
collectives of data-parallel training) is the business of
``dyngen.algorithms.execution``; this module says what is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from dyngen.algorithms.execution import PRECISIONS, Execution
from dyngen.algorithms.langevin import Latents, WindowFit, window_error
from dyngen.algorithms.shard import Shard
from dyngen.config import NONNEGATIVE, NONNEGATIVE_INT, POSITIVE, POSITIVE_INT, SEED, DictConfig, Range, option
from dyngen.errors import UsageError
from dyngen.evaluation.fidelity import psnr_from_mse
from dyngen.models.dynamic_generator import DynamicGenerator

LOGS = ("jsonl", "tensorboard")  # metrics.jsonl is always written; tensorboard adds event files beside it
Carry = tuple[torch.Tensor | None, torch.Tensor | None]  # (s_{t0-1}, x_{t0-1}) handed from a window to the next


@dataclass
class TrainConfig(DictConfig):
    """Hyperparameters of ABPTT (defaults: the paper's texture settings)."""

    kind: ClassVar[str] = "training"

    epochs: int = option(3000, "training epochs", range=POSITIVE_INT)
    window: int = option(30, "frames per truncation window (T_c)", range=POSITIVE_INT)
    batch_size: int = option(0, "videos per batch (0 = all)", range=NONNEGATIVE_INT)
    sigma: float = option(1.0, "observation noise sigma", range=POSITIVE)
    langevin_steps: int = option(15, "Langevin steps per window (l)", range=NONNEGATIVE_INT)
    step_size: float = option(0.03, "Langevin step size (delta)", range=NONNEGATIVE)
    learn_steps: int = option(1, "Adam steps per window (the paper: 1)", range=POSITIVE_INT)
    lr: float = option(0.002, "Adam learning rate", range=POSITIVE)
    # the schedule spans the run's epochs, so a stopped run resumes on it exactly
    lr_final: float = option(
        1.0, "lr at the last epoch as a fraction of --lr (cosine; 1 = constant)",
        range=Range(lo=0, hi=1, lo_open=True, hi_open=False),
    )  # fmt: skip
    beta1: float = option(0.5, "Adam's beta1", range=Range(lo=0, hi=1), cli=False)
    energy_scale: float = option(1.0, "multiplier of the likelihood in Langevin (1 = the posterior)", range=NONNEGATIVE)
    spike_factor: float = option(
        0.0, "roll back an epoch whose loss jumps this many times the recent median (0 = off)",
        range=Range(lo=1, lo_open=True, off=0),
    )  # fmt: skip
    shuffle: bool = option(False, "visit the batches in a random order", cli=False)
    seed: int = option(0, "seed of the initial weights, latents and every draw", range=SEED, cli=False)
    checkpoint_every: int = option(25, "epochs between checkpoints", range=POSITIVE_INT)
    preview_every: int = option(100, "epochs between preview grids (0 = none)", range=NONNEGATIVE_INT)
    log: str = option("jsonl", "training logs: jsonl (metrics.jsonl) or tensorboard (also TensorBoard event files "
                      "in RUN/tensorboard, with the previews)", choices=LOGS)  # fmt: skip
    # speed switches (dyngen.algorithms.execution, docs/performance.md); they change how, not what, is computed
    fast_deconv: bool = option(True, "the generator's small-input layers as matrix products", cli=False)
    precision: str = option("tf32", "tf32, fp32 or bf16 (docs/performance.md)", choices=PRECISIONS, group="speed")
    checkpoint_activations: bool = option(
        False, "recompute generator blocks in backward: less memory, more time", group="speed"
    )
    fuse_learning: bool = option(False, "the last Langevin pass also learns (faster, not exact)", group="speed")
    compile_transition: bool = option(
        False, "torch.compile the transition's unroll (CUDA graphs on a GPU)", group="speed"
    )

    # settings that change what a run records, or how long it trains, not what it learns in an epoch: two runs
    # that differ only in these are the same recipe (a recovery run is reused, a benchmark run continued)
    RECORDING: ClassVar[tuple[str, ...]] = ("epochs", "log", "checkpoint_every", "preview_every")

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
        """Draw fresh chains from the prior N(0, I), on the generator's device (s_0, then xi, then a)."""
        c = model.config

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, device=generator.device)

        return cls(randn(n, c.state_dim), randn(n, t, c.noise_dim), randn(n, c.appearance_dim))

    def select(self, rows: slice) -> Chains:
        """The chains of the videos in ``rows``."""
        return Chains(self.s0[rows], self.noise[rows], self.appearance[rows])

    def to(self, device: torch.device | str) -> Chains:
        return Chains(self.s0.to(device), self.noise.to(device), self.appearance.to(device))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"s0": self.s0, "noise": self.noise, "appearance": self.appearance}


def windows(t: int, window: int) -> list[tuple[int, int]]:
    """``[(t0, t1), ...]`` covering ``range(t)`` in windows of ``window`` frames (the last may be shorter)."""
    if window < 1:
        raise UsageError(f"window must be >= 1, got {window}")
    return [(t0, min(t0 + window, t)) for t0 in range(0, t, window)]


def window_step(
    model: DynamicGenerator, x: torch.Tensor, z: Latents, carry: Carry, observed: torch.Tensor | None, exe: Execution
) -> tuple[Latents, Carry, torch.Tensor]:
    """One truncation window of ABPTT, the paper's algorithm box.

    1. **infer**: l Langevin steps on the window's latents z = (xi, s_0 in the first window, a),
       ``z <- z - delta^2 / 2 dE/dz + delta N(0, I)``, with
       ``E = 1/(2 sigma^2) sum_observed (x - G(F(s, xi), a))^2 + ||z||^2 / 2``, back-propagated through G and
       the transition unrolled over the window;
    2. **learn**: Adam steps on (alpha, beta) to minimise ``1/(2 sigma^2 n) sum_observed (x - G(F(s, xi), a))^2``
       (n frames) with z held fixed;
    3. **carry**: the window's last state (and frame), recomputed with the new weights and detached, starts the
       next window, so gradients stop at window boundaries.

    Args:
        model: the dynamic generator, in training mode.
        x: ``(B, T_c, 3, H, W)`` the window's frames.
        z: ``noise (B, T_c, k)``, ``s0 (B, d)`` in the first window, ``appearance (B, c)`` when c > 0.
        carry: ``(s_prev, previous)`` from the window before (``(None, None)`` in the first).
        observed: ``(B, T_c, 1, H, W)`` weights, 1 = observed, or None.
        exe: how the steps run (``Execution``).

    Returns:
        The inferred latents, the carry for the next window, and the summed squared error of the last learning step.
    """
    s_prev, previous = carry

    def error(zz: Latents) -> WindowFit:  # sum over observed values of (x - x_hat)^2, and the objective
        with exe.autocast():
            return window_error(model, x, zz, s_prev=s_prev, previous=previous, observed=observed)

    z, err = exe.infer(model, error, z, window=x.shape[:2])  # 1. infer
    for _ in range(exe.learn_steps):  # 2. learn
        err = exe.learn(model, error(z), window=x.shape[:2])
    with torch.no_grad():  # 3. carry
        states = model.transition.rollout(z.get("s0", s_prev), z["noise"])
        last = None
        if model.generator.uses_previous:  # the frame the next window follows: the observed one where it is seen
            last = model.render_and_carry(states, z.get("appearance"), previous, x, observed)[1]
    return z, (states[:, -1], last), err


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
            ``shuffle`` (one batch of all videos), which ``dyngen.runs.trainer`` checks.

    Returns:
        ``loss`` (the learning objective per frame), ``mse`` (per observed value, on the
        [-1, 1] scale) and ``psnr`` (dB), from the last learning step of each window, over all videos.
    """
    shard = shard or Shard.single(frames.shape[0])
    exe = Execution(config, optimizer, generator, shard)
    n, t = frames.shape[:2]
    bs = config.batch_size or n
    order = list(range(n))
    if config.shuffle:
        order = torch.randperm(n, generator=generator, device=generator.device if generator else "cpu").tolist()
    sq_sum = torch.zeros((), dtype=torch.float64, device=frames.device)
    with exe.settings(model, frames.device):
        for b0 in range(0, n, bs):
            idx = torch.tensor(order[b0 : b0 + bs], device=frames.device)
            carry: Carry = (None, None)
            for t0, t1 in windows(t, config.window):
                z = {"noise": chains.noise[idx, t0:t1]}
                if carry[0] is None:
                    z["s0"] = chains.s0[idx]
                if model.appearance_dim:
                    z["appearance"] = chains.appearance[idx]
                obs = None if observed is None else observed[idx, t0:t1]
                z, carry, err = window_step(model, frames[idx, t0:t1], z, carry, obs, exe)
                chains.noise[idx, t0:t1] = z["noise"]  # the chains persist: the next epoch starts here
                for k in ("s0", "appearance"):
                    if k in z:
                        getattr(chains, k)[idx] = z[k]
                sq_sum += err.detach()
    count = frames.numel() if observed is None else observed.sum() * frames.shape[2]
    totals = torch.stack([torch.as_tensor(count, dtype=torch.float64, device=frames.device), sq_sum])
    count, sq_sum = shard.sum_(totals).tolist()  # summed over processes; one read-back
    mse = sq_sum / max(count, 1.0)
    loss = sq_sum / (2 * config.sigma**2 * shard.total * t)  # the learning objective per frame
    return {"loss": loss, "mse": mse, "psnr": psnr_from_mse(mse)}
