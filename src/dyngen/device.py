"""Choosing the device: ``"auto"`` is CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from dyngen.errors import UsageError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else the CPU; ``"cpu"``/``"cuda"``/``"cuda:N"`` as given."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but no CUDA device is available; use --device cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise UsageError(f"unknown device '{name}'; allowed: auto, cpu, cuda, cuda:N")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX-512 BF16 or AMX)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
