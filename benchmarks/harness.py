"""What every benchmark shares: the data root, training for a budget, reuse of a finished run, JSON-lines results.

- ``DATA`` is ``../shared/data`` beside the repository (the licensed clips; never copied into it), and
  ``data_path`` refuses clearly when a file is not there.
- ``train_or_reuse`` trains a preset (with overrides) into a run directory for at most a number of epochs and of
  minutes; a run already there is reused when it is done, continued (``--resume``) when it is not, and refused
  when it holds another recipe, naming the settings that differ.
- ``Results`` prints one JSON line per record and appends it to a ``results.jsonl``, so a long benchmark that is
  stopped keeps what it measured.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dyngen.algorithms.abptt import TrainConfig
from dyngen.cli.train import with_time_limit
from dyngen.evaluation.table import json_safe
from dyngen.models.dynamic_generator import ModelConfig
from dyngen.presets import resolve_config
from dyngen.runs.checkpoint import load
from dyngen.runs.directory import CONFIG, Run
from dyngen.runs.train import resume, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NO_LIMIT = 10**6  # the epoch cap of a run that a time budget stops


def data_path(*parts: str) -> Path:
    """A file or folder under ``DATA``; SystemExit saying where it was looked for when it is missing."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        raise SystemExit(f"{p}: not found; the benchmarks read the clips from {DATA} (../shared/data)")
    return p


def budget(minutes: float | None, stop: threading.Event, *, label: str = "", log_every: int = 0) -> Callable:
    """An epoch callback that sets ``stop`` after ``minutes`` of training of each run (None: never;
    ``dyngen.cli.train.with_time_limit``) and logs progress."""

    def callback(record: dict) -> None:
        if log_every and record["epoch"] % log_every == 0:
            logging.info("%s epoch %d: %.2f dB, %.0f s", label, record["epoch"], record["psnr"], record["elapsed"])

    return with_time_limit(callback, stop, minutes)


def _differences(held: dict, wanted: dict) -> list[str]:
    """The model and training settings (but ``TrainConfig.RECORDING``) where a run's config differs from the
    one wanted; a setting the run predates counts as its default, so a new option does not orphan old runs."""
    held = {
        "model": ModelConfig.from_dict(held["model"]).to_dict(),
        "train": TrainConfig.from_dict(held["train"]).to_dict(),
    }
    return [f"{g}.{k}={held[g].get(k)} (wanted {v})" for g in ("model", "train")
            for k, v in wanted[g].items() if k not in TrainConfig.RECORDING and held[g].get(k) != v]  # fmt: skip


def train_or_reuse(
    out: Path,
    frames: torch.Tensor | np.ndarray,
    names: list[str],
    *,
    preset: str,
    overrides: dict[str, Any] | None = None,
    epochs: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    device: str = "auto",
    info: dict[str, Any] | None = None,
    log_every: int = 0,
):
    """Train ``preset`` on uint8 ``frames (N, T, H, W, 3)`` into ``out``, or reuse or continue the run there.

    Args:
        out: the run directory.
        frames, names: the training videos and their names.
        preset: the preset; ``overrides`` are model or training fields (``dyngen.presets.resolve_config``).
        epochs: the run's epochs (default: the preset's; ``NO_LIMIT`` to let ``minutes`` decide).
        minutes: the run's training budget (its training seconds in all, over every call; None: none).
        seed: the training seed.
        device: where to train.
        info: recorded in the run's config (``data``).
        log_every: log the PSNR every this many epochs (0: never).

    Returns:
        The trained run, loaded (``dyngen.load``).
    """
    frames = torch.as_tensor(np.asarray(frames))
    settings = {"preview_every": 0, "seed": seed, **(overrides or {})}
    if epochs is not None:
        settings["epochs"] = epochs
    cfg = resolve_config(preset, size=tuple(frames.shape[2:4]), frames=frames.shape[1], overrides=settings)
    stop = threading.Event()
    callback = budget(minutes, stop, label=f"{out.name} ({preset})", log_every=log_every)
    if (out / CONFIG).is_file():
        run = Run.open(out)
        other = _differences(run.read_config(), cfg.to_dict())
        if other:
            raise SystemExit(f"{out} holds a run of another recipe ({', '.join(other)}); delete it or pick another "
                             "output folder")  # fmt: skip
        done = run.read_metrics()[-1:] or [{"epoch": 0, "elapsed": 0.0}]
        spent = minutes is not None and done[0]["elapsed"] >= 60 * minutes
        if done[0]["epoch"] >= cfg.train.epochs or spent:
            logging.info("reusing %s (%d epochs)", out, done[0]["epoch"])
            return load(out, device)
        return resume(out, epochs=cfg.train.epochs, device=device, callback=callback, stop=stop)
    return train(out, frames, names=names, model_config=cfg.model, train_config=cfg.train, device=device,
                 data_info={**(info or {}), "preset": preset}, callback=callback, stop=stop)  # fmt: skip


class Results:
    """JSON lines: each record is printed and appended to ``path`` as it is measured."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.records: list[dict] = []

    def add(self, record: dict, *, echo: bool = True) -> dict:
        line = json.dumps(json_safe(record))
        with open(self.path, "a") as f:
            f.write(line + "\n")
        if echo:
            print(line, flush=True)
        self.records.append(record)
        return record
