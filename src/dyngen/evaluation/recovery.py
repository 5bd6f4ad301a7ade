"""Recovery metrics, computed over the hidden pixels only.

Both take videos ``(T, 3, H, W)`` in [-1, 1] and a bool ``missing`` ``(T, H, W)``
(True = hidden), and work on the 0..255 scale (``u = (x + 1) * 127.5``) without
rounding or clamping, so a recovery is judged on the values it produced.
``recovery_error`` is the reference code's metric: the mean absolute error
over every channel of every hidden pixel.
"""

from __future__ import annotations

import torch

from dyngen.errors import MaskError
from dyngen.evaluation.fidelity import psnr_from_mse


def _hidden_diff(recovered: torch.Tensor, truth: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """Differences ``recovered - truth`` on the 0..255 scale at the pixels where ``missing`` is True, flat
    ``(n * C,)``."""
    if recovered.shape != truth.shape or recovered.ndim != 4:
        raise MaskError(f"recovered {tuple(recovered.shape)} and truth {tuple(truth.shape)} must both be (T, C, H, W)")
    t, _, h, w = truth.shape
    if tuple(missing.shape) != (t, h, w):
        raise MaskError(
            f"the mask has shape {tuple(missing.shape)}; the videos {tuple(truth.shape)} need ({t}, {h}, {w})"
        )
    if not bool(missing.any()):
        raise MaskError("the mask hides no pixel; there is nothing to evaluate")
    diff = (recovered.detach().double() - truth.detach().double()) * 127.5
    return diff.permute(0, 2, 3, 1)[missing.to(diff.device).bool()].reshape(-1)


def mean_abs_error(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor) -> float:
    """Mean ``|a - b|`` on the 0..255 scale over the pixels (all channels) where ``where (T, H, W)`` is True."""
    return float(_hidden_diff(a, b, where).abs().mean())


def recovery_error(recovered: torch.Tensor, truth: torch.Tensor, missing: torch.Tensor) -> float:
    """Mean ``|recovered - truth|`` over the hidden pixels (all channels), on the 0..255 scale.

    Args:
        recovered: ``(T, 3, H, W)`` in [-1, 1].
        truth: ``(T, 3, H, W)`` in [-1, 1].
        missing: bool ``(T, H, W)``, True = hidden.

    Returns:
        the mean absolute error in gray levels.
    """
    return mean_abs_error(recovered, truth, missing)


def hidden_psnr(recovered: torch.Tensor, truth: torch.Tensor, missing: torch.Tensor) -> float:
    """PSNR in dB over the hidden pixels (all channels), data range 255: ``10 log10(255^2 / MSE)``.

    Args:
        recovered: ``(T, 3, H, W)`` in [-1, 1].
        truth: ``(T, 3, H, W)`` in [-1, 1].
        missing: bool ``(T, H, W)``, True = hidden.

    Returns:
        the PSNR in dB; ``inf`` for a perfect recovery.
    """
    return psnr_from_mse(float(_hidden_diff(recovered, truth, missing).pow(2).mean()), peak=255.0)


def hidden_metrics(recovered: torch.Tensor, truth: torch.Tensor, missing: torch.Tensor) -> dict[str, float]:
    """``error`` (``recovery_error``), ``psnr`` (``hidden_psnr``) and the ``hidden_fraction`` of the pixels; only
    the fraction (0) when nothing is hidden. Videos ``(T, 3, H, W)`` in [-1, 1]."""
    if not bool(missing.any()):
        return {"hidden_fraction": 0.0}
    return {
        "error": recovery_error(recovered, truth, missing),
        "psnr": hidden_psnr(recovered, truth, missing),
        "hidden_fraction": float(missing.float().mean()),
    }
