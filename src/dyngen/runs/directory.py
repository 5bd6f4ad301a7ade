"""Run directories: everything a training run needs to be loaded, resumed and inspected.

Layout::

    RUN/
      config.json              resolved configuration (model, training, data); loads the run
      checkpoint.safetensors   weights (model.*), latent chains (latents.*), optimizer
                               moments (optim.*), RNG state (rng.*); epoch in its metadata
      data.safetensors         the training frames as uint8 (N, T, H, W, 3), and the
                               missing-pixel mask when training on incomplete data
                               (hidden pixels are stored as 0, not their values)
      metrics.jsonl            one JSON line per epoch
      loss.png                 the training curve
      previews/epoch_NNNNN.png observed | reconstruction | synthesis frame grids
      summary.json             the final figures
      .lock                    locked while a process trains the run; its PID and host

No pickles: every tensor is stored with safetensors. The checkpoint is one
file written to a temporary name, fsynced and renamed over the previous one,
so a crash at any moment leaves either the old or the new checkpoint whole;
the one it replaces is kept as ``checkpoint.prev.safetensors``. Every tensor
file dyngen writes (checkpoint, data, latents) carries the SHA-256 of its
tensors in its own metadata (``CHECKSUM_KEY``), checked on every load, so a
damaged file is an error naming it, never a silent wrong result; ``--resume``
then falls back to the previous checkpoint. Files written before checksums
(dyngen 0.x runs without the key) load unchecked.
A crash can leave a temporary ``.NAME.tmp-PID`` file behind; ``clean_temporaries``
removes those of dead processes (resume calls it). Before a checkpoint is
written, the disk must have twice its size free, or the write is refused with
the previous checkpoint untouched. A process that trains or resumes a run holds
a lock on its ``.lock`` file; a second one is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dyngen.errors import CorruptFile, DyngenError, RunError, UsageError
from dyngen.io.atomic import TEMPORARY, atomic_write_bytes, check_writable, file_mode, make_folder
from dyngen.runs.files import atomic_save_tensors, check_free_space, load_tensors, read_tensors, tensor_bytes

log = logging.getLogger(__name__)
CONFIG = "config.json"
CHECKPOINT = "checkpoint.safetensors"
PREVIOUS = "checkpoint.prev.safetensors"  # the checkpoint before the last one, for --resume to fall back to
DATA = "data.safetensors"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
LOCK = ".lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


@dataclass
class Run:
    """A run directory on disk."""

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def previews(self) -> Path:
        return self.path / "previews"

    def exists(self) -> bool:
        return self.config_path.is_file()

    @classmethod
    def create(
        cls, path: str | os.PathLike, config: dict[str, Any], data: dict[str, torch.Tensor] | None = None
    ) -> Run:
        """Make a new run directory. A non-empty directory is refused, never overwritten.

        ``data`` (the training data) is written before ``config.json``, so a folder with
        a config always holds its data. A folder left by a crash before the config was
        written holds only ``data.safetensors`` and temporaries; it is taken over.
        """
        p = Path(path)
        for f in cls.check_new(p):  # a run that crashed before it started: start it again
            f.unlink(missing_ok=True)
        make_folder(p, error=RunError)
        run = cls(p)
        if data is not None:
            run.save_data(data)
        run.write_config(config)
        return run

    @staticmethod
    def check_new(path: str | os.PathLike) -> list[Path]:
        """Refuse (RunError), before any work, a folder a new run cannot take: a file, a non-empty folder (a run,
        or anything else), a folder that cannot be written. Returns the leftovers of a run killed before it
        started (its data and temporaries), which a new run replaces."""
        p = Path(path)
        if p.exists() and not p.is_dir():
            raise RunError(f"{p}: exists and is not a directory; choose another --out")
        leftovers: list[Path] = []
        if p.is_dir() and any(p.iterdir()):
            leftovers = [f for f in p.iterdir() if f.name == DATA or TEMPORARY.match(f.name)]
            if len(leftovers) < len(list(p.iterdir())) or (p / CONFIG).is_file():
                hint = "pass --resume to continue it" if (p / CONFIG).is_file() else "choose an empty or new folder"
                raise RunError(f"{p}: the run directory is not empty; {hint} (nothing was overwritten)")
        check_writable(p / CONFIG, error=RunError)
        return leftovers

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        """Open an existing run, or raise RunError saying why it is not one."""
        p = Path(path)
        if not p.is_dir():
            raise RunError(f"{p}: no such run directory; train one with 'dyngen train ... --out {p}'")
        if not (p / CONFIG).is_file():
            raise RunError(f"{p}: not a dyngen run (no {CONFIG}); train one with 'dyngen train ... --out {p}'")
        return cls(p)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run while training it: a second process that trains or resumes it is refused (RunError).

        An exclusive ``flock`` on the file ``.lock``, which holds the owner's PID and host for the message.
        The system releases it when the owner exits in any way (SIGKILL, a crash), so nothing stale is left
        to clean up. On a system without ``fcntl`` (Windows) there is no lock.
        """
        try:
            import fcntl
        except ImportError:
            yield
            return
        path = self.path / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
        except OSError as e:
            raise RunError(f"{path}: cannot open the run's lock ({e.strerror or e})") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                raise RunError(
                    f"{self.path}: this run is being trained by {owner}; wait for it to finish, or stop it "
                    "(Ctrl-C saves a checkpoint) and resume"
                ) from None
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            except OSError as e:
                raise RunError(f"{path}: cannot write the run's lock ({e.strerror or e})") from None
            yield
            os.ftruncate(fd, 0)  # released: no owner to name
        finally:
            os.close(fd)  # releases the lock

    def read_config(self) -> dict[str, Any]:
        try:
            config = json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RunError(f"{self.config_path}: cannot read the run's config ({e})") from None
        model = config.get("model") if isinstance(config, dict) else None
        if isinstance(model, dict) and model.get("emission") == "warp":
            model.setdefault("warp_input", "frame")  # a warp run written before the choice warped the previous frame
        return config

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_bytes(self.config_path, (json.dumps(config, indent=2) + "\n").encode())

    def checkpoints(self) -> list[Path]:
        """The checkpoint files there are: the last one and the one before it."""
        return [p for p in (self.path / CHECKPOINT, self.path / PREVIOUS) if p.is_file()]

    def has_checkpoint(self) -> bool:
        """Whether the run has a checkpoint (the last one, or the one before it)."""
        return bool(self.checkpoints())

    def save_checkpoint(self, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
        """Replace the checkpoint atomically, keeping the one it replaces as ``PREVIOUS``; refused (DyngenError)
        when the disk is nearly full."""
        check_free_space(self.path, tensor_bytes(tensors), "a checkpoint")
        meta = {k: json.dumps(v) for k, v in metadata.items()}
        atomic_save_tensors(self.path / CHECKPOINT, tensors, meta, keep=self.path / PREVIOUS)

    def clean_temporaries(self) -> list[Path]:
        """Remove temporary files (``.NAME.tmp-PID``) that a killed process left behind.

        Files of processes still alive are kept, so a concurrent writer is never disturbed.

        Returns:
            The removed paths.
        """
        removed = []
        for folder in (self.path, self.previews):
            if not folder.is_dir():
                continue
            for f in folder.iterdir():
                m = TEMPORARY.match(f.name)
                if m and f.is_file() and not _pid_alive(int(m["pid"])):
                    f.unlink(missing_ok=True)
                    removed.append(f)
        return removed

    def load_checkpoint(
        self, device: torch.device | str = "cpu", *, previous_ok: bool = False
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, metadata)`` of the last checkpoint, its checksum verified.

        Args:
            device: where the tensors go.
            previous_ok: when the last checkpoint is missing or corrupt, take the one before it
                (``checkpoint.prev.safetensors``) with a warning, as ``--resume`` does.

        Raises:
            RunError: no checkpoint; CorruptFile: it is damaged (and so is the previous one, with ``previous_ok``).
        """
        p, prev = self.path / CHECKPOINT, self.path / PREVIOUS
        if not p.is_file() and not prev.is_file():
            raise RunError(f"{self.path}: the run has no checkpoint yet; train it (or resume it) first")
        try:
            if not p.is_file():
                raise CorruptFile(f"{p}: the checkpoint is missing")
            return self._read_checkpoint(p, device)
        except CorruptFile as e:
            if not prev.is_file():
                raise CorruptFile(f"{e}; no previous checkpoint is kept, so the run must be trained again") from None
            if not previous_ok:
                raise CorruptFile(
                    f"{e}; 'dyngen train --out {self.path} --resume' continues from the previous checkpoint "
                    f"({PREVIOUS})"
                ) from None
            try:
                tensors, meta = self._read_checkpoint(prev, device)
            except CorruptFile as e2:
                raise CorruptFile(f"{e}; and the previous one: {e2}") from None
            log.warning("%s; continuing from the previous checkpoint %s (epoch %s)", e, PREVIOUS, meta.get("epoch"))
            return tensors, meta

    @staticmethod
    def _read_checkpoint(p: Path, device: torch.device | str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, raw = read_tensors(p, "checkpoint", device)
        try:
            return tensors, {k: json.loads(v) for k, v in raw.items()}
        except json.JSONDecodeError as e:
            raise CorruptFile(f"{p}: the checkpoint's metadata cannot be read ({e}); it may be corrupt") from None

    def save_data(self, tensors: dict[str, torch.Tensor]) -> None:
        check_free_space(self.path, tensor_bytes(tensors), "the training data")
        atomic_save_tensors(self.path / DATA, tensors, what="training data")

    def load_data(self) -> dict[str, torch.Tensor]:
        p = self.path / DATA
        if not p.is_file():
            raise RunError(f"{p}: the run's training data is missing")
        return load_tensors(p, "run's training data")

    def append_metrics(self, record: dict[str, Any]) -> None:
        try:
            with open(self.path / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise DyngenError(f"{self.path / METRICS}: cannot append metrics ({e.strerror or e})") from None

    def read_metrics(self) -> list[dict[str, Any]]:
        p = self.path / METRICS
        if not p.is_file():
            return []
        out = []
        for line in p.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        return out

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drop metric lines logged after ``last_epoch`` (work lost with a crash, about to be redone)."""
        kept = [r for r in self.read_metrics() if r.get("epoch", 0) <= last_epoch]
        atomic_write_bytes(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def plot_curve(self, target: Path | None = None) -> Path | None:
        """The training curve (reconstruction PSNR per epoch) as a PNG, by default ``loss.png`` in the run;
        None when fewer than two epochs are logged."""
        from dyngen.io.grid import save_curve

        rec = [r for r in self.read_metrics() if "psnr" in r]
        if len(rec) < 2:
            return None
        return save_curve(
            target or self.path / "loss.png",
            {"reconstruction PSNR (dB)": ([r["epoch"] for r in rec], [r["psnr"] for r in rec])},
            xlabel="epoch",
            ylabel="PSNR (dB), higher is better",
            title=f"{self.path.name}: training reconstruction",
        )

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_bytes(self.path / SUMMARY, (json.dumps(summary, indent=2) + "\n").encode())

    def read_summary(self) -> dict[str, Any]:
        p = self.path / SUMMARY
        return json.loads(p.read_text()) if p.is_file() else {}


@dataclass
class LoadedRun:
    """What every loaded run has, whatever its model: the directory, its config and its records."""

    run: Run
    config: dict

    @property
    def names(self) -> list[str]:
        return list(self.config["data"]["names"])

    @property
    def summary(self) -> dict:
        """The run's final figures (``summary.json``): epochs, seconds, PSNR, ..."""
        return self.run.read_summary()

    def video_index(self, key: str | int) -> int:
        """A training video by name or index; UsageError naming the allowed values otherwise."""
        names = self.names
        if isinstance(key, str) and key in names:  # a name first: clips may be called "1", "2", ...
            return names.index(key)
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            i = int(key)
            if 0 <= i < len(names):
                return i
        raise UsageError(f"no training video '{key}' in this run; allowed: {', '.join(names)} or 0..{len(names) - 1}")

    def observed_frames(self) -> torch.Tensor:
        """The training videos as uint8 ``(N, T, H, W, 3)`` (hidden pixels, if any, are 0)."""
        return self.run.load_data()["frames"]
