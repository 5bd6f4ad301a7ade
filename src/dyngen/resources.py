"""What the machine has: the memory available for a job, and the check that a synthesis fits in RAM.

``available_memory`` reads ``MemAvailable`` in ``/proc/meminfo`` and any cgroup
limit on the CPU, ``torch.cuda.mem_get_info`` on a GPU. ``check_synthesis_memory``
refuses, before any work, a synthesis whose output (every frame of every sample,
as float32 and then as uint8) would not fit in RAM, saying how many frames
would. Set ``DYNGEN_SKIP_MEMORY_CHECK=1`` to skip the checks (here and in
``dyngen.runs.memory``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from dyngen.errors import ResourceError

SKIP_ENV = "DYNGEN_SKIP_MEMORY_CHECK"
FLOAT = 4  # bytes per float32


def skipped() -> bool:
    """Whether the user turned the memory checks off (``DYNGEN_SKIP_MEMORY_CHECK=1``)."""
    return os.environ.get(SKIP_ENV, "") not in ("", "0")


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


def gigabytes(n: float) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"


def synthesis_bytes(itemsize: int = FLOAT) -> int:
    """Peak RAM per synthesized value: the output and one copy at its precision, and the uint8 frames.

    Measured 9.2 bytes for float32 (the dynamic generator); an LDS computes in float64.
    """
    return 2 * itemsize + 2


def check_memory(need: int, what: str, hint: str, *, available: int | None = None) -> None:
    """Refuse a job that needs ``need`` bytes of RAM when less is available (ResourceError naming ``what`` and
    ``hint``, what to shrink), before any work; nothing when the system cannot tell or the checks are off."""
    if skipped():
        return
    avail = available_memory("cpu") if available is None else available
    if avail is None or need <= avail:
        return
    raise ResourceError(
        f"{what} needs about {gigabytes(need)} of RAM, but only {gigabytes(avail)} is available; {hint}. "
        f"Set {SKIP_ENV}=1 to try anyway."
    )


def check_synthesis_memory(
    num: int, frames: int, frame_shape: tuple[int, ...], *, itemsize: int = FLOAT, available: int | None = None
) -> None:
    """Refuse a synthesis whose output would not fit in RAM (ResourceError), before any work.

    Args:
        num, frames: the samples and frames per sample asked for.
        frame_shape: ``(3, H, W)``.
        itemsize: bytes per value of the model's output (4 for float32, 8 for an LDS's float64).
        available: bytes available (default: asked from the system).
    """
    if skipped():
        return
    per_frame = math.prod(frame_shape) * synthesis_bytes(itemsize)
    need = num * frames * per_frame
    avail = available_memory("cpu") if available is None else available
    if avail is None or need <= avail:
        return
    fits = avail // (num * per_frame)
    if fits >= 1:
        hint = f"ask for at most {fits} frames per sample" + (" or fewer samples (--num)" if num > 1 else "")
    else:
        hint = f"ask for at most {avail // (frames * per_frame)} samples of {frames} frames, or fewer frames"
    what = f"synthesizing {num} x {frames} frames of {'x'.join(map(str, frame_shape[1:]))}"
    check_memory(need, what, hint, available=avail)
