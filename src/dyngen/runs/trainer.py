"""The epochs of a training run: checkpoints, previews, resume, and the rollback of bad epochs.

``Trainer`` holds one process's state over a run directory (see ``dyngen.runs.directory``) and runs
``abptt_epoch`` until the run's epochs are done or it is asked to stop. It checkpoints atomically every
``checkpoint_every`` epochs and when asked to stop, resumes bit-identically on the CPU, and guards against
numerical blow-ups: after a non-finite loss, latent or weight, a Langevin explosion or a loss spike
(``dyngen.runs.guards``) it rolls back to the last good epoch, halves the learning rate and the Langevin step
size, and tries again, up to ``MAX_RECOVERIES`` times in a run. ``dyngen.runs.train`` makes the runs it works on.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dyngen import __version__
from dyngen.algorithms.abptt import Chains, TrainConfig, abptt_epoch
from dyngen.algorithms.shard import Shard
from dyngen.algorithms.synthesis import synthesize
from dyngen.device import cpu_has_bf16
from dyngen.errors import TrainingDiverged
from dyngen.io.grid import save_frame_grid
from dyngen.io.masks import observed_weights
from dyngen.io.video import to_tensor, to_uint8
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.models.global_norm import use_global_norm
from dyngen.models.innovations import Innovations
from dyngen.runs.checkpoint import pack, unpack_chains, unpack_model, unpack_optimizer
from dyngen.runs.directory import Run
from dyngen.runs.files import check_free_space
from dyngen.runs.fixed_norm import recalibrate_norm
from dyngen.runs.guards import MAX_RECOVERIES, SPIKE_HISTORY, diagnose, spike
from dyngen.runs.tensorboard import TENSORBOARD, EventWriter

log = logging.getLogger(__name__)
PLOT_EVERY_S = 30.0  # the loss curve is redrawn at a checkpoint at most this often, and always at the end
PREVIEW_BYTES = 2**21  # a preview PNG at most (its figure is about 1080x420 RGBA before compression)
Callback = Callable[[dict[str, Any]], None]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(model.parameters(), lr=config.lr, betas=(config.beta1, 0.999))


class Trainer:
    """State of one training process over a run directory."""

    def __init__(self, run: Run, config: dict, device: torch.device, shard: Shard) -> None:
        self.run, self.config, self.device, self.shard = run, config, device, shard
        self.tc = TrainConfig.from_dict(config["train"])
        if self.tc.precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
            log.warning(
                "precision bf16 on a CPU without bfloat16 instructions (%s) runs its matrix products in software, "
                "about 35x slower than float32 (measured on an AVX2 CPU); use --precision fp32 here",
                torch.backends.cpu.get_cpu_capability(),
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.tc.seed)  # weight initialisation, without touching the global RNG
            self.model = DynamicGenerator(ModelConfig.from_dict(config["model"])).to(device)
        if shard.distributed:
            use_global_norm(self.model, shard.group)
        data = {k: v[shard.rows] for k, v in run.load_data().items()}  # this process's videos
        self.frames = to_tensor(data["frames"].flatten(0, 1).numpy()).unflatten(0, data["frames"].shape[:2])
        self.frames = self.frames.to(device)
        self.observed = observed_weights(data.get("missing"))
        if self.observed is not None:
            self.observed = self.observed.to(device)
            self.frames = self.frames * self.observed  # hidden pixels can never leak into training
        self.optimizer = make_optimizer(self.model, self.tc)
        self.generator = torch.Generator(device=device)
        self.epoch, self.elapsed, self.recoveries, self.spikes = 0, 0.0, 0, 0
        self.saved_epoch: int | None = None  # the epoch of the checkpoint on disk
        self.lr, self.step_size = self.tc.lr, self.tc.step_size
        self.plotted = -math.inf
        tensorboard = self.tc.log == "tensorboard" and shard.is_main
        self.events = EventWriter(run.path / TENSORBOARD) if tensorboard else None

    def start_fresh(self, warm: Run | None = None) -> None:
        """Epoch 0: latents from the prior, and the weights as initialised or as ``warm``'s last checkpoint has them
        (the same model's run); then the emission's data-dependent start."""
        self.generator.manual_seed(self.tc.seed)
        n, t = self.shard.total, self.frames.shape[1]
        self.chains = Chains.from_prior(self.model, n, t, generator=torch.Generator().manual_seed(self.tc.seed))
        self.chains = self.chains.select(self.shard.rows).to(self.device)
        if warm is not None:
            unpack_model(warm.load_checkpoint(self.device, previous_ok=True)[0], self.model)
        if self.shard.lo == 0:  # the emission's data-dependent start, from the first video (the first process's)
            self.model.generator.initialise(self.frames[0], None if self.observed is None else self.observed[0])
        if self.shard.distributed:  # every process takes the first process's weights
            for p in self.model.generator.parameters():
                p.data.copy_(self.shard.sum_(p.detach() * float(self.shard.lo == 0)))

    def load(self) -> None:
        tensors, meta = self.run.load_checkpoint(self.device, previous_ok=True)
        unpack_model(tensors, self.model)
        self.chains = unpack_chains(tensors).select(self.shard.rows)
        unpack_optimizer(tensors, self.optimizer)
        self.generator.set_state(tensors["rng.state"].cpu())
        self.epoch, self.elapsed = int(meta["epoch"]), float(meta.get("elapsed", 0.0))
        self.saved_epoch = self.epoch
        self.lr, self.step_size = float(meta.get("lr", self.tc.lr)), float(meta.get("step_size", self.tc.step_size))
        self.recoveries, self.spikes = int(meta.get("recoveries", 0)), int(meta.get("spikes", 0))
        self._apply_rates()

    def _apply_rates(self) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr

    def snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in pack(self.model, self.chains, self.optimizer, self.generator).items()}

    def restore(self, snap: dict[str, torch.Tensor]) -> None:
        unpack_model(snap, self.model)
        self.chains = unpack_chains({k: v.clone() for k, v in snap.items() if k.startswith("latents.")})
        unpack_optimizer(snap, self.optimizer)
        self.generator.set_state(snap["rng.state"])
        self._apply_rates()

    def save(self, final: bool = False) -> None:
        recalibrate_norm(self.model, self.chains, self.tc.window)
        chains = Chains(*(self.shard.gather(t) for t in self.chains.tensors().values()))
        if not self.shard.is_main:
            return
        meta = {
            "epoch": self.epoch,
            "elapsed": self.elapsed,
            "lr": self.lr,
            "step_size": self.step_size,
            "recoveries": self.recoveries,
            "spikes": self.spikes,
            "dyngen": __version__,
        }
        self.run.save_checkpoint(pack(self.model, chains, self.optimizer, self.generator), meta)
        self.saved_epoch = self.epoch
        if final or time.monotonic() - self.plotted >= PLOT_EVERY_S:  # a plot costs ~0.3 s
            self.run.plot_curve()
            self.plotted = time.monotonic()

    def preview(self) -> Path:
        check_free_space(self.run.path, PREVIEW_BYTES, "a preview")
        self.model.eval()
        with torch.no_grad():
            a = self.chains.appearance[:1] if self.model.appearance_dim else None
            recon, _ = self.model(self.chains.s0[:1], self.chains.noise[:1], a)
            t = self.frames.shape[1]
            synth = synthesize(
                self.model,
                frames=2 * t,
                s0=self.chains.s0[0],
                appearance=None if a is None else a[0],
                generator=torch.Generator(self.device).manual_seed(0),
                innovations=Innovations.fitted(self.chains.noise),
            )
        self.model.train()
        obs = to_uint8(self.frames[0])
        path = self.run.previews / f"epoch_{self.epoch:05d}.png"
        return save_frame_grid(
            path,
            [obs, to_uint8(recon[0]), to_uint8(synth[0])],
            labels=["observed", "reconstructed", "synthesized"],
            title=f"epoch {self.epoch}",
        )

    def fit(self, epochs: int, callback: Callback | None, stop: threading.Event | None) -> None:
        self.model.train()
        snap = self.snapshot()
        recent: collections.deque[float] = collections.deque(maxlen=SPIKE_HISTORY[1])  # accepted epochs' losses
        retry = 0  # spikes in a row at this epoch
        while self.epoch < epochs:
            t_start = time.perf_counter()
            for g in self.optimizer.param_groups:  # self.lr (halved by rollbacks) on the cosine schedule
                g["lr"] = self.lr * self.tc.lr_factor(self.epoch, epochs)
            cfg = TrainConfig.from_dict({**self.tc.to_dict(), "step_size": self.step_size, "lr": self.lr})
            metrics = abptt_epoch(
                self.model, self.optimizer, self.frames, self.chains, cfg, observed=self.observed,
                generator=self.generator, shard=self.shard,
            )  # fmt: skip
            problem = diagnose(float(metrics["loss"]), self.chains, self.model)
            spiked = problem is None and spike(float(metrics["loss"]), recent, self.tc.spike_factor)
            if self.shard.any(problem is not None or bool(spiked)):
                problem = problem or spiked or "a failure in another process"
                if spiked:
                    retry, self.spikes = retry + 1, self.spikes + 1
                else:
                    self.recoveries += 1
                if self.recoveries > MAX_RECOVERIES or retry > MAX_RECOVERIES:
                    kept = (
                        f"the last good checkpoint (epoch {self.saved_epoch}) is kept"
                        if self.saved_epoch is not None
                        else "no checkpoint had been written yet"
                    )
                    count = (
                        f"spike {retry} in a row at this epoch; {MAX_RECOVERIES} are retried"
                        if spiked
                        else f"failure {self.recoveries} in this run; {MAX_RECOVERIES} are recovered"
                    )
                    raise TrainingDiverged(
                        f"training diverged: {problem} at epoch {self.epoch + 1} ({count}), even after lowering the "
                        f"rates to lr={self.lr:g}, step_size={self.step_size:g}; try a smaller --lr and "
                        f"--step-size, or a larger --sigma; {kept}"
                    )
                self.lr, self.step_size = self.lr / 2, self.step_size / 2  # for the rest of the run
                log.warning(
                    "%s at epoch %d: rolled back to the last good epoch, lr -> %g, step_size -> %g",
                    problem, self.epoch + 1, self.lr, self.step_size,
                )  # fmt: skip
                self.restore(snap)
                continue
            retry = 0
            self.epoch += 1
            recent.append(float(metrics["loss"]))
            self.elapsed += time.perf_counter() - t_start
            record = {"epoch": self.epoch, **metrics, "elapsed": round(self.elapsed, 3)}
            if self.shard.is_main:
                self.run.append_metrics(record)
                if self.events:
                    self.events.scalars(self.epoch, {k: v for k, v in record.items() if k != "epoch"}, prefix="train/")
                if callback:
                    callback(record)
            stopping = self.shard.any(stop is not None and stop.is_set())
            if self.epoch % self.tc.checkpoint_every == 0 or self.epoch == epochs or stopping:
                self.save(final=self.epoch == epochs or stopping)
            preview = self.tc.preview_every and (self.epoch % self.tc.preview_every == 0 or self.epoch == epochs)
            if preview and self.shard.is_main:
                grid = self.preview()
                if self.events:
                    self.events.image(self.epoch, "preview", grid.read_bytes())
            if stopping:
                log.info("stopped at epoch %d; checkpoint saved", self.epoch)
                break
            snap = self.snapshot()
