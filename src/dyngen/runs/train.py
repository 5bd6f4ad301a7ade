"""Training a dynamic generator into a run directory: ``train`` a new run, ``resume`` one from its checkpoint.

Before anything is written, the settings are checked, and so is the memory training will need
(``dyngen.runs.memory``); the run directory is created with its data and config, locked, and handed to the
``Trainer`` (``dyngen.runs.trainer``), which runs the epochs with checkpoints and rollbacks.

Data-parallel training (``distributed=True``, launched by ``torchrun``; see
``dyngen.algorithms.shard``): every process trains on its share of the
videos and keeps their chains; rank 0 alone writes the run directory, with
all chains gathered, so the run is the same as a one-process run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

import torch

from dyngen import __version__
from dyngen.algorithms.abptt import TrainConfig
from dyngen.algorithms.shard import Shard
from dyngen.device import resolve_device
from dyngen.errors import RunError, UsageError
from dyngen.io.atomic import nearest_existing
from dyngen.io.video import as_uint8_videos
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.runs.checkpoint import Trained, checkpoint_bytes, load_trained
from dyngen.runs.directory import Run
from dyngen.runs.files import check_free_space, tensor_bytes
from dyngen.runs.fixed_norm import fixed_norm_psnr
from dyngen.runs.memory import check_training_memory
from dyngen.runs.trainer import PREVIEW_BYTES, Callback, Trainer

log = logging.getLogger(__name__)


def train(
    out: str | Path,
    frames: torch.Tensor,
    *,
    names: list[str],
    model_config: ModelConfig,
    train_config: TrainConfig,
    missing: torch.Tensor | None = None,
    data_info: dict[str, Any] | None = None,
    device: str | torch.device = "auto",
    callback: Callback | None = None,
    stop: threading.Event | None = None,
    distributed: bool = False,
    warm_start: str | Path | None = None,
) -> Trained:
    """Train a dynamic generator on videos into a new run directory.

    Args:
        out: the run directory (new or empty; a non-empty one is refused).
        frames: uint8 ``(N, T, H, W, 3)``, N videos of T frames (or ``dyngen.io.video.as_uint8_videos``'s inputs).
        names: one name per video (appearance vectors are named after them).
        model_config: the model's configuration; its size must match the frames.
        train_config: ABPTT's hyperparameters.
        missing: ``(N, T, H, W)`` bool, True = missing pixel, for incomplete data.
        data_info: where the frames came from (recorded in config.json).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        callback: called with each epoch's metrics record.
        stop: when set, training saves a checkpoint after the current epoch and returns.
        distributed: train data-parallel over the initialised default process group (``torchrun``):
            every process passes the same arguments and trains on its share of the videos.
        warm_start: a run of the same model whose last weights this one starts from (its latents start from the
            prior, its emission's data-dependent start, ``Emission.initialise``, from these frames); recorded in
            the config as ``data.warm_start``.

    Returns:
        The trained run, loaded.
    """
    frames = torch.from_numpy(as_uint8_videos(frames))
    n, t, h, w, _ = frames.shape
    if (h, w) != (model_config.height, model_config.width):
        raise UsageError(f"frames are {h}x{w} but the model makes {model_config.height}x{model_config.width}")
    if len(names) != n:
        raise UsageError(f"{len(names)} names for {n} videos")
    if missing is not None and tuple(missing.shape) != (n, t, h, w):
        raise UsageError(f"missing mask has shape {tuple(missing.shape)}, expected {(n, t, h, w)}")
    model = DynamicGenerator(model_config)  # validate before anything is written
    train_config.check()
    dev = resolve_device(str(device))
    if t < 2:
        log.warning("training on a single frame: there is no motion to learn, only its appearance")
    if train_config.window > t:
        log.info("the window (%d frames) is longer than the videos (%d): one window of %d", train_config.window, t, t)
    shard = _shard(n, distributed, train_config, dev)
    check_training_memory(
        model_config, train_config, videos=shard.hi - shard.lo, frames=t, device=dev, incomplete=missing is not None
    )  # fmt: skip
    config = {
        "dyngen": __version__,
        "model_type": "dg",
        "model": model_config.to_dict(),
        "train": train_config.to_dict(),
        "data": {**(data_info or {}), "names": list(names), "videos": n, "frames": t, "size": [h, w]},
    }
    warm = None if warm_start is None else _warm_run(warm_start, model_config)
    if warm is not None:
        config["data"]["warm_start"] = str(warm.path)
    data = {"frames": frames.contiguous()}
    if missing is not None:  # the hidden pixels' values are not kept: the run holds only what training may see
        data["missing"] = missing.bool().contiguous()
        data["frames"] = frames.masked_fill(data["missing"][..., None], 0)
    if shard.is_main:
        Run.check_new(out)
        check_run_space(out, train_config, tensor_bytes(data), checkpoint_bytes(model, n, t), existing=0, done=0)
        Run.create(out, config, data=data)  # data first: a run with a config always has its data
    shard.barrier()
    run = Run.open(out)
    with run.lock() if shard.is_main else contextlib.nullcontext():
        trainer = Trainer(run, config, dev, shard)
        trainer.start_fresh(warm)
        trainer.fit(train_config.epochs, callback, stop)
        return _finish(trainer)


def resume(
    path: str | Path,
    *,
    epochs: int | None = None,
    device: str | torch.device = "auto",
    callback: Callback | None = None,
    stop: threading.Event | None = None,
    distributed: bool = False,
) -> Trained:
    """Continue a run from its last checkpoint (up to ``epochs`` in total, default: its configured epochs)."""
    run = Run.open(path)
    config = run.read_config()
    if config.get("model_type", "dg") != "dg":
        raise RunError(f"{path}: only dynamic-generator runs can be resumed")
    if epochs is not None:
        TrainConfig.from_dict({**config["train"], "epochs": epochs})  # validates
        config["train"]["epochs"] = epochs
    dev = resolve_device(str(device))
    shard = _shard(int(config["data"]["videos"]), distributed, TrainConfig.from_dict(config["train"]), dev)
    check_training_memory(
        ModelConfig.from_dict(config["model"]), TrainConfig.from_dict(config["train"]), videos=shard.hi - shard.lo,
        frames=int(config["data"]["frames"]), device=dev,
    )  # fmt: skip
    if shard.is_main and run.has_checkpoint():
        files = run.checkpoints()
        size = max(f.stat().st_size for f in files)
        tc = TrainConfig.from_dict(config["train"])
        check_run_space(run.path, tc, 0, size, existing=len(files), done=_epochs_done(run))
    with run.lock() if shard.is_main else contextlib.nullcontext():
        if shard.is_main:
            for f in run.clean_temporaries():
                log.info("removed %s, left by an interrupted write", f.name)
        shard.barrier()
        trainer = Trainer(run, config, dev, shard)  # reads the data and the checkpoint (checksums) before any write
        if run.has_checkpoint():
            trainer.load()
        else:
            trainer.start_fresh()
        if shard.is_main:
            if epochs is not None:
                run.write_config(config)
            run.truncate_metrics(trainer.epoch)
        trainer.fit(int(config["train"]["epochs"]), callback, stop)
        return _finish(trainer)


CHECKPOINT_FILES = 3  # at the peak of a save: the checkpoint, the one kept before it, and the new one's temporary


def _warm_run(path: str | Path, model_config: ModelConfig) -> Run:
    """The run a new one starts from: it must hold a checkpoint of the same model."""
    run = Run.open(path)
    if not run.has_checkpoint():
        raise RunError(f"{run.path}: has no checkpoint to start from; train it first, or start without --warm-start")
    theirs = ModelConfig.from_dict(run.read_config()["model"]).to_dict()
    differ = [f"{k} {v} (here {model_config.to_dict().get(k)})" for k, v in theirs.items()
              if model_config.to_dict().get(k) != v]  # fmt: skip
    if differ:
        raise UsageError(f"{run.path}: holds another model ({', '.join(differ[:4])}); it cannot start this one")
    return run


def check_run_space(out: str | Path, tc: TrainConfig, data: int, checkpoint: int, *, existing: int, done: int) -> None:
    """Refuse, before training, a run the disk cannot hold: its data, the checkpoint files still to appear (three
    at the peak of a save, less the ``existing`` ones) and the previews still to come (``check_free_space``:
    twice that must be free)."""
    previews = max((tc.epochs // tc.preview_every - done // tc.preview_every + 1) if tc.preview_every else 0, 0)
    copies = max(CHECKPOINT_FILES - existing, 1)
    check_free_space(
        nearest_existing(Path(out) / "config.json"), data + copies * checkpoint + previews * PREVIEW_BYTES,
        f"the run ({_mb(data)} of data, {copies} checkpoint files of {_mb(checkpoint)}, {previews} previews)",
        "free some space or use another --out; nothing was written or trained",
    )  # fmt: skip


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def _epochs_done(run: Run) -> int:
    metrics = run.read_metrics()
    return int(metrics[-1]["epoch"]) if metrics else 0


def _shard(videos: int, distributed: bool, tc: TrainConfig, device: torch.device) -> Shard:
    """This process's share of the videos: all of them, or its rank's part of the default process group."""
    if not distributed:
        return Shard.single(videos)
    if not torch.distributed.is_initialized():
        raise UsageError("distributed training needs an initialised process group: launch with torchrun")
    if tc.batch_size or tc.shuffle:
        raise UsageError("distributed training takes all videos in one batch: drop --batch-size")
    return Shard.of_world(videos, device)


def _finish(trainer: Trainer) -> Trained:
    trainer.shard.barrier()
    trained = load_trained(trainer.run.path, trainer.device)
    if trainer.shard.is_main:
        rec = trainer.run.read_metrics()
        last = rec[-1] if rec else {}
        trainer.run.write_summary(
            {
                "epochs": trainer.epoch,
                "train_seconds": round(trainer.elapsed, 2),
                "psnr": last.get("psnr"),
                "psnr_fixed_norm": fixed_norm_psnr(trained),
                "mse": last.get("mse"),
                "recoveries": trainer.recoveries,
                "spikes": trainer.spikes,
                "processes": trainer.shard.world,
            }
        )
    trainer.shard.barrier()
    return trained
