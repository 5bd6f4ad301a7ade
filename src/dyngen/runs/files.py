"""Tensor files and the disk: safetensors written atomically with a checksum, verified when read, and the
free-space check made before anything is written.

Every tensor file a run writes (checkpoint, data, latents) stores a SHA-256 of its tensors in its own metadata
(``CHECKSUM_KEY``); ``read_tensors`` recomputes it and refuses a file whose contents changed (``CorruptFile``,
naming the file). Files written before checksums existed load unchecked.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from dyngen.errors import CorruptFile, ResourceError
from dyngen.io.atomic import atomic_path

CHECKSUM_KEY = "dyngen.sha256"  # metadata key of a tensor file's checksum (tensors_digest)
FREE_SPACE_FACTOR = 2  # a write needs this many times its size free on the disk


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 (hex) of the tensors: every name, dtype, shape and byte, in name order (any device, any layout)."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].detach().to("cpu").contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def atomic_save_tensors(
    path: Path,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, str] | None = None,
    *,
    what: str = "checkpoint",
    keep: Path | None = None,
) -> None:
    """``safetensors.save_file`` made atomic (temporary file, fsync, rename), with the tensors' checksum in the
    file's metadata (``CHECKSUM_KEY``); ``keep``: where the file it replaces is kept."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {**(metadata or {}), CHECKSUM_KEY: tensors_digest(tensors)}
    with atomic_path(path, what=what, errors=(SafetensorError,), keep=keep) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_tensors(
    path: Path, what: str, device: torch.device | str = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Every tensor of a safetensors file and its metadata (without the checksum), the checksum verified.

    Raises:
        CorruptFile: the file cannot be parsed, or its tensors do not match the checksum stored in it (a file
            without a checksum, written before dyngen stored them, is read unchecked).
    """
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError, ValueError, RuntimeError) as e:
        raise CorruptFile(f"{path}: the {what} cannot be read ({e}); it may be corrupt") from None
    stored = meta.pop(CHECKSUM_KEY, None)
    if stored is not None and tensors_digest(tensors) != stored:
        raise CorruptFile(
            f"{path}: the {what} is corrupt: its contents do not match the SHA-256 checksum stored in it "
            "(the file was damaged after it was written)"
        )
    return tensors, meta


def load_tensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file, its checksum verified (``read_tensors``)."""
    return read_tensors(path, what)[0]


def _megabytes(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


RESUME_HINT = (
    "free some space (the run can be resumed with --resume) or use another --out. The previous files are unchanged."
)


def check_free_space(folder: Path, needed: int, what: str, hint: str = RESUME_HINT) -> None:
    """Refuse to write ``needed`` bytes into ``folder`` unless its disk has ``FREE_SPACE_FACTOR`` times that free
    (``hint``: what the message tells the user to do).

    Raises:
        ResourceError: not enough free space; the message gives both figures.
    """
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # the disk cannot be asked; the write itself will report a failure
    if free < FREE_SPACE_FACTOR * needed:
        raise ResourceError(
            f"{folder}: not enough free disk space to write {what}: {_megabytes(free)} free, "
            f"{_megabytes(FREE_SPACE_FACTOR * needed)} wanted ({FREE_SPACE_FACTOR}x its size); {hint}"
        )


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> int:
    """The bytes ``tensors`` take in a safetensors file (data; the header is small)."""
    return sum(t.numel() * t.element_size() for t in tensors.values()) + 64 * len(tensors)
