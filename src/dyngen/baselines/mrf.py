"""Markov-random-field fills: harmonic (``mrf-l2``) and total-variation (``mrf-l1``).

The hidden pixels of a video are the unknowns; the visible pixels are fixed
(Dirichlet boundary). Pixels are linked to their 6 space-time neighbours
(previous/next frame, up/down, left/right); edges that would leave the video
are simply absent (a free, Neumann, border). Both fills minimise a sum over
the edges ``e = (i, j)`` that touch at least one hidden pixel:

    mrf-l2:  E(x) = sum_e ||x_i - x_j||^2      (the discrete Laplace equation, Delta x = 0 on hidden pixels)
    mrf-l1:  E(x) = sum_e ||x_i - x_j||_2      (total variation, anisotropic in space-time)

where ``||.||`` runs over the 3 colour channels, so the TV fill places edges
at the same place in every channel. ``mrf-l2`` is one sparse symmetric
positive-definite solve (the channels share the matrix). ``mrf-l1`` is solved
by iteratively reweighted least squares (IRLS): starting from the ``mrf-l2``
fill, repeat the weighted solve with ``w_e = 1 / sqrt(||x_i - x_j||^2 + eps^2)``,
each by a few warm-started conjugate-gradient steps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from dyngen.errors import MaskError

log = logging.getLogger(__name__)


def check_inputs(video: torch.Tensor, missing: torch.Tensor) -> None:
    """Check a ``(T, 3, H, W)`` video and a bool ``(T, H, W)`` mask that leaves some pixel visible."""
    if video.ndim != 4:
        raise MaskError(f"a fill expects a video of shape (T, C, H, W), got {tuple(video.shape)}")
    t, _, h, w = video.shape
    if tuple(missing.shape) != (t, h, w):
        raise MaskError(
            f"the mask has shape {tuple(missing.shape)} but the video {tuple(video.shape)} needs ({t}, {h}, {w}); "
            "fit the mask with dyngen.io.masks.fit_mask"
        )
    if missing.dtype != torch.bool:
        raise MaskError(f"the mask must be a bool tensor (True = missing), got {missing.dtype}")
    if bool(missing.all()):
        raise MaskError("the mask hides every pixel; a fill needs some visible pixels")


@dataclass
class _Graph:
    """The space-time graph restricted to edges that touch a hidden pixel.

    ``hidden`` holds the flat indices of the ``n`` hidden pixels; unknown ``k`` is
    pixel ``hidden[k]``. Edges between two hidden pixels join unknowns ``(hh_a,
    hh_b)``; edges between a hidden and a visible pixel join unknown ``hv_a`` and
    the flat pixel index ``hv_q``.
    """

    hidden: np.ndarray
    hh_a: np.ndarray
    hh_b: np.ndarray
    hv_a: np.ndarray
    hv_q: np.ndarray


def _graph(missing: np.ndarray) -> _Graph:
    flat = np.arange(missing.size).reshape(missing.shape)
    hidden = np.flatnonzero(missing)
    unknown = np.full(missing.size, -1, dtype=np.int64)
    unknown[hidden] = np.arange(hidden.size)
    hh_a, hh_b, hv_a, hv_q = [], [], [], []
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        p, q = flat[tuple(lo)].ravel(), flat[tuple(hi)].ravel()
        mp, mq = missing.ravel()[p], missing.ravel()[q]
        both = mp & mq
        hh_a.append(unknown[p[both]])
        hh_b.append(unknown[q[both]])
        only_p, only_q = mp & ~mq, ~mp & mq
        hv_a += [unknown[p[only_p]], unknown[q[only_q]]]
        hv_q += [q[only_p], p[only_q]]
    cat = np.concatenate
    return _Graph(hidden, cat(hh_a), cat(hh_b), cat(hv_a), cat(hv_q))


def _system(
    g: _Graph, values: np.ndarray, w_hh: np.ndarray, w_hv: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Normal equations ``A x = b`` of ``sum w_hh ||x_a - x_b||^2 + sum w_hv ||x_a - v_q||^2``.

    Returns ``A`` (sparse SPD ``(n, n)``), its diagonal ``(n,)`` and ``b`` ``(n, C)``;
    ``values`` is the video's ``(P, C)`` pixel values.
    """
    n = g.hidden.size
    diag = np.bincount(g.hh_a, w_hh, n) + np.bincount(g.hh_b, w_hh, n) + np.bincount(g.hv_a, w_hv, n)
    rows = np.concatenate([np.arange(n), g.hh_a, g.hh_b])
    cols = np.concatenate([np.arange(n), g.hh_b, g.hh_a])
    a = sp.csr_matrix((np.concatenate([diag, -w_hh, -w_hh]), (rows, cols)), shape=(n, n))
    b = np.stack([np.bincount(g.hv_a, w_hv * values[g.hv_q, c], n) for c in range(values.shape[1])], axis=1)
    return a, diag, b


def _solve(g: _Graph, values: np.ndarray, w_hh: np.ndarray, w_hv: np.ndarray) -> np.ndarray:
    """Exact weighted least-squares fill by sparse LU; returns ``(n, C)``."""
    a, _, b = _system(g, values, w_hh, w_hv)
    return spla.splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(b).reshape(b.shape)


def _pcg(a: sp.csr_matrix, diag: np.ndarray, b: np.ndarray, x: np.ndarray, iters: int, rtol: float) -> np.ndarray:
    """Jacobi-preconditioned conjugate gradients for ``A x = b``, all ``C`` columns at once, from ``x``."""
    b_norm = np.linalg.norm(b, axis=0)
    r = b - a @ x
    z = r / diag[:, None]
    p = z.copy()
    rz = (r * z).sum(0)
    for _ in range(iters):
        if (np.linalg.norm(r, axis=0) <= rtol * b_norm).all():
            break
        ap = a @ p
        alpha = rz / np.maximum((p * ap).sum(0), 1e-300)
        x = x + alpha * p
        r = r - alpha * ap
        z = r / diag[:, None]
        rz_new = (r * z).sum(0)
        p = z + (rz_new / np.maximum(rz, 1e-300)) * p
        rz = rz_new
    return x


def _flatten(video: torch.Tensor) -> np.ndarray:
    """``(T, C, H, W)`` -> float64 ``(T*H*W, C)``, pixel-major as ``missing.ravel()``."""
    return video.detach().cpu().double().permute(0, 2, 3, 1).reshape(-1, video.shape[1]).numpy()


def _compose(video: torch.Tensor, missing: torch.Tensor, hidden: np.ndarray, x: np.ndarray) -> torch.Tensor:
    """Put the ``(n, C)`` estimates ``x`` at the hidden pixels; visible pixels are kept bit-exactly."""
    t, c, h, w = video.shape
    est = np.zeros((t * h * w, c))
    est[hidden] = x
    est_t = torch.from_numpy(est).view(t, h, w, c).permute(0, 3, 1, 2).to(video.dtype, copy=True)
    return torch.where(missing[:, None].to(video.device), est_t.to(video.device), video)


def fill_l2(video: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """Harmonic (Laplace) fill of the hidden pixels, visible pixels as Dirichlet boundary.

    Args:
        video: ``(T, 3, H, W)`` in [-1, 1]; values at hidden pixels are ignored.
        missing: bool ``(T, H, W)``, True = hidden.

    Returns:
        ``(T, 3, H, W)``: visible pixels as in ``video``, hidden pixels solve
        ``Delta x = 0`` over the 6-neighbour space-time grid.
    """
    check_inputs(video, missing)
    if not bool(missing.any()):
        return video.clone()
    m = missing.cpu().numpy()
    g = _graph(m)
    x = _solve(g, _flatten(video), np.ones(g.hh_a.size), np.ones(g.hv_a.size))
    return _compose(video, missing, g.hidden, x)


def fill_l1(
    video: torch.Tensor,
    missing: torch.Tensor,
    *,
    iterations: int = 8,
    eps: float = 1e-2,
    tol: float = 1e-3,
    cg_iterations: int = 20,
) -> torch.Tensor:
    """Total-variation fill of the hidden pixels by IRLS, visible pixels fixed.

    Minimises ``sum_e sqrt(||x_i - x_j||^2 + eps^2)`` over the space-time edges,
    a smoothed total variation; as ``eps -> 0`` this is ``sum_e ||x_i - x_j||``.

    Args:
        video: ``(T, 3, H, W)`` in [-1, 1]; values at hidden pixels are ignored.
        missing: bool ``(T, H, W)``, True = hidden.
        iterations: most reweighted solves after the ``mrf-l2`` start (on the
            fountain clip at 70x64x64 the recovery error settles after about 6).
        eps: smoothing of ``|.|`` near 0, in pixel units of [-1, 1] (1e-2 is about 1.3 gray levels).
        tol: stop when the largest change of a hidden value falls below this.
        cg_iterations: conjugate-gradient steps per reweighted solve. The solves
            are warm-started from the previous iterate, so they need not be exact;
            this is about twice as fast as a sparse factorisation per iteration.

    Returns:
        ``(T, 3, H, W)``: visible pixels as in ``video``, hidden pixels filled.
    """
    check_inputs(video, missing)
    if not bool(missing.any()):
        return video.clone()
    m = missing.cpu().numpy()
    g = _graph(m)
    values = _flatten(video)
    x = _solve(g, values, np.ones(g.hh_a.size), np.ones(g.hv_a.size))
    for it in range(iterations):
        d_hh = np.linalg.norm(x[g.hh_a] - x[g.hh_b], axis=1)
        d_hv = np.linalg.norm(x[g.hv_a] - values[g.hv_q], axis=1)
        w_hh = 1.0 / np.sqrt(d_hh**2 + eps**2)
        w_hv = 1.0 / np.sqrt(d_hv**2 + eps**2)
        a, diag, b = _system(g, values, w_hh, w_hv)
        x_new = _pcg(a, diag, b, x, cg_iterations, rtol=1e-8)
        change = float(np.abs(x_new - x).max())
        x = x_new
        log.debug("mrf-l1 IRLS iteration %d: max change %.2e", it + 1, change)
        if change < tol:
            break
    return _compose(video, missing, g.hidden, x)
