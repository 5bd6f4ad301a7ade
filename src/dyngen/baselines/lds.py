"""The linear dynamic system baseline: "Dynamic Textures" (Doretto, Chiuso, Wu, Soatto, IJCV 2003).

The dynamic generator model generalises this model; with a linear transition and a linear (PCA) emission it
is this model. Symbols follow Doretto et al.:

    s_t = A s_{t-1} + B v_t,   v_t ~ N(0, I_d)       (state dynamics, AR(1))
    y_t = C s_t + mean + w_t                         (emission; w_t is ignored when synthesizing)

Glossary: ``frames`` y ``(T, 3, H, W)`` in [-1, 1]; ``mean`` the mean frame; ``C`` ``(D, d)`` the emission
(orthonormal PCA basis, D = 3 H W); ``A`` ``(d, d)`` the transition; ``B`` ``(d, d)`` the driving-noise factor
with ``B B^T = Q``; ``states`` ``(T, d)`` the fitted states of the training frames; ``s0`` the state of the first
training frame.

Fitting is Doretto's closed-form suboptimal solution: ``C`` from the SVD of the centred data matrix, ``states =
C^T (y - mean)``, ``A`` by least squares on consecutive states, ``Q`` the covariance of the residuals. The state
dimension is capped at ``T - 1`` and at the numerical rank of the data; the effective value is ``rank`` (the
unused rows and columns of ``A``, ``B``, ``C`` are zero, so every buffer keeps its shape and the model saves and
loads through ``state_dict``).

With missing pixels the fit alternates (an EM-like hard imputation): fill the hidden pixels (first with each
pixel's temporal mean over its visible values), fit the model on the filled video, estimate the states from the
visible pixels alone with a Kalman filter and Rauch-Tung-Striebel smoother under the fitted model (so frames
with few or no visible pixels are interpolated by the dynamics rather than left at the mean), and refill the
hidden pixels with ``C s_t + mean``. Visible pixels are never changed. The state dimension grows linearly from
``d / iterations`` to ``d`` over the iterations: a full-rank first fit would explain the mean-filled values
exactly and the alternation would stay there.

Pick ``state_dim`` well below ``T``: at ``T - 1`` the AR(1) fit interpolates the training states exactly, the
driving noise is zero, and synthesis replays the training video (a warning is logged).
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from dyngen.errors import DyngenError, UsageError

logger = logging.getLogger(__name__)

RANK_TOL = 1e-6  # singular values below RANK_TOL * the largest are treated as zero
MIN_OBS_VAR = 1e-6  # floor of the observation noise variance in the smoother ([-1, 1] units; below uint8 rounding)


def _pca(frames: torch.Tensor, state_dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of ``(T, D)`` float64 data -> ``mean (D,)``, ``C (D, r)``, ``states (T, r)`` with ``r <= state_dim``.

    Uses the eigendecomposition of the ``T x T`` Gram matrix when ``T <= D`` (much faster than an SVD of a wide
    matrix), the SVD otherwise.
    """
    mean = frames.mean(dim=0)
    centred = frames - mean
    if centred.shape[0] <= centred.shape[1]:
        lam, u = torch.linalg.eigh(centred @ centred.T)
        sv, u = lam.flip(0).clamp(min=0).sqrt(), u.flip(1)
    else:
        u, sv, _ = torch.linalg.svd(centred, full_matrices=False)
    numerical_rank = int((sv > RANK_TOL * sv[0]).sum()) if sv[0] > 0 else 0
    r = min(state_dim, frames.shape[0] - 1, numerical_rank)
    c = centred.T @ (u[:, :r] / sv[:r])  # right singular vectors
    return mean, c, u[:, :r] * sv[:r]


def _ar1(states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares AR(1) fit ``s_t ~ A s_{t-1}`` of ``(T, r)`` states -> ``A (r, r)``, residual cov ``Q``."""
    prev, nxt = states[:-1], states[1:]
    a = (torch.linalg.pinv(prev) @ nxt).T
    resid = nxt - prev @ a.T
    return a, resid.T @ resid / max(len(resid), 1)


def covariance_factor(q: torch.Tensor) -> torch.Tensor:
    """A factor ``B`` with ``B B^T = Q`` (symmetric square root by eigh; robust to singular ``Q``)."""
    if q.numel() == 0:
        return q.clone()
    lam, u = torch.linalg.eigh(0.5 * (q + q.T))
    return u * lam.clamp(min=0).sqrt()


def _smooth_states(
    centred: torch.Tensor,
    visible: torch.Tensor,
    c: torch.Tensor,
    a: torch.Tensor,
    q: torch.Tensor,
    obs_var: float,
    prior: torch.Tensor,
) -> torch.Tensor:
    """Kalman filter + RTS smoother of the state means from the visible pixels only.

    Args:
        centred: ``(T, D)`` frames minus the mean frame (values at hidden pixels are ignored).
        visible: ``(T, D)`` bool, True where a value is observed.
        c: ``(D, r)`` orthonormal emission.
        a: ``(r, r)`` transition.
        q: ``(r, r)`` driving-noise covariance.
        obs_var: observation noise variance.
        prior: ``(T, r)`` states whose mean and covariance give the prior of the first state.

    Returns:
        ``(T, r)`` smoothed state means E[s_t | visible pixels].
    """
    steps, r = prior.shape
    eye = torch.eye(r, dtype=c.dtype)
    qj = q + (1e-6 * float(q.trace()) / r + 1e-10) * eye  # keeps predicted covariances invertible
    gram = c.T @ c
    info = (centred * visible) @ c / obs_var  # (T, r): C_V^T y_V / R
    m_pred, p_pred = prior.mean(dim=0), torch.cov(prior.T).reshape(r, r) + qj
    means, covs, m_preds, p_preds = [], [], [], []
    for t in range(steps):
        if t > 0:
            m_pred, p_pred = a @ means[-1], a @ covs[-1] @ a.T + qj
        vis = visible[t]
        hidden = ~vis
        if int(hidden.sum()) <= int(vis.sum()):  # C_V^T C_V from the smaller pixel set
            ch = c[hidden]
            prec = (gram - ch.T @ ch) / obs_var
        else:
            cv = c[vis]
            prec = cv.T @ cv / obs_var
        # Information-form update: P = (P_pred^-1 + J)^-1 = (I + P_pred J)^-1 P_pred, m = m_pred + P (h - J m_pred)
        p = torch.linalg.solve(eye + p_pred @ prec, p_pred)
        p = 0.5 * (p + p.T)
        means.append(m_pred + p @ (info[t] - prec @ m_pred))
        covs.append(p)
        m_preds.append(m_pred)
        p_preds.append(p_pred)
    smoothed = [means[-1]]
    for t in range(steps - 2, -1, -1):  # RTS: m_s,t = m_t + G_t (m_s,t+1 - m_pred,t+1), G_t = P_t A^T P_pred,t+1^-1
        gain = torch.linalg.solve(p_preds[t + 1], a @ covs[t]).T
        smoothed.append(means[t] + gain @ (smoothed[-1] - m_preds[t + 1]))
    return torch.stack(smoothed[::-1])


class LinearDynamicSystem(nn.Module):
    """Doretto et al.'s dynamic texture model, fitted in closed form; the state lives in buffers.

    Args:
        frame_shape: ``(3, H, W)``, the shape of one frame.
        state_dim: d, the largest state dimension to use (the fit may use fewer; see ``rank``).
    """

    def __init__(self, *, frame_shape: tuple[int, int, int], state_dim: int) -> None:
        super().__init__()
        if len(frame_shape) != 3 or min(frame_shape) < 1:
            raise UsageError(f"frame_shape must be (channels, height, width) of positive sizes, got {frame_shape}")
        if state_dim < 1:
            raise UsageError(f"state_dim must be a positive integer, got {state_dim}")
        self.frame_shape = tuple(int(n) for n in frame_shape)
        self.state_dim = int(state_dim)
        dim = math.prod(self.frame_shape)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("C", torch.zeros(dim, state_dim))
        self.register_buffer("A", torch.zeros(state_dim, state_dim))
        self.register_buffer("B", torch.zeros(state_dim, state_dim))
        self.register_buffer("s0", torch.zeros(state_dim))
        self.register_buffer("s_last", torch.zeros(state_dim))
        self.register_buffer("states", torch.zeros(0, state_dim))  # (T, d) after fit; resized on load
        self.register_buffer("rank", torch.zeros((), dtype=torch.long))
        self.register_buffer("obs_var", torch.zeros(()))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "states"
        if key in state_dict:  # the number of fitted frames is only known from the saved tensor
            self.states = torch.empty_like(state_dict[key], device=self.states.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def is_fitted(self) -> bool:
        """Whether ``fit`` has run (or fitted buffers were loaded)."""
        return self.states.shape[0] > 0

    @property
    def spectral_radius(self) -> float:
        """The largest ``|eigenvalue|`` of ``A``; below 1 means synthesized motion settles, above 1 that it grows."""
        r = int(self.rank)
        if r == 0:
            return 0.0
        return float(torch.linalg.eigvals(self.A[:r, :r].double()).abs().max())

    def _check_frames(self, frames: torch.Tensor) -> None:
        if frames.ndim != 4 or tuple(frames.shape[1:]) != self.frame_shape:
            raise DyngenError(f"frames must be (T, *{self.frame_shape}), got {tuple(frames.shape)}")
        if frames.shape[0] < 2:
            raise DyngenError(f"fitting dynamics needs at least 2 frames, got {frames.shape[0]}")

    def _store(
        self, mean: torch.Tensor, c: torch.Tensor, a: torch.Tensor, q: torch.Tensor, states: torch.Tensor
    ) -> None:
        """Write float64 fit results into the buffers, zero-padding the state dimension from ``r`` to ``d``."""
        r, d = c.shape[1], self.state_dim
        pad = torch.zeros(states.shape[0], d, dtype=states.dtype)
        pad[:, :r] = states
        with torch.no_grad():
            self.mean.copy_(mean)
            for buf in (self.C, self.A, self.B):
                buf.zero_()
            self.C[:, :r] = c
            self.A[:r, :r] = a
            self.B[:r, :r] = covariance_factor(q)
            self.states = pad.to(self.mean)
            self.s0.copy_(pad[0])
            self.s_last.copy_(pad[-1])
            self.rank.fill_(r)

    def fit(
        self, frames: torch.Tensor, *, missing: torch.Tensor | None = None, iterations: int = 20
    ) -> LinearDynamicSystem:
        """Fit mean, C, A and B to one video.

        Args:
            frames: ``(T, 3, H, W)`` in [-1, 1], ``T >= 2``; values at hidden pixels are ignored.
            missing: optional bool ``(T, H, W)``, True where a pixel (all channels) is hidden.
            iterations: alternations of fitting and refilling when ``missing`` is given (at least 1).

        Returns:
            self, fitted.
        """
        self._check_frames(frames)
        y = frames.detach().cpu().double().flatten(1)  # (T, D)
        if missing is None:
            mean, c, states = _pca(y, self.state_dim)
            a, q = _ar1(states)
            self._store(mean, c, a, q, states)
            self.obs_var.fill_(float((y - mean - states @ c.T).square().mean()))
        else:
            self._fit_missing(y, self._visible(frames, missing), iterations)
        radius = self.spectral_radius
        logger.info("LDS fit: %d frames, state dim %d, spectral radius %.4f", len(y), int(self.rank), radius)
        if int(self.rank) > 0 and int(self.rank) >= len(y) - 1:
            logger.warning(
                "LDS state dim %d = T - 1: A interpolates the training states and synthesis replays the training "
                "video; use a state_dim well below the number of frames",
                int(self.rank),
            )
        if radius > 1 + 1e-6:
            logger.warning("LDS spectral radius %.4f > 1: long syntheses grow until clamped", radius)
        return self

    def _visible(self, frames: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        t, (ch, h, w) = frames.shape[0], self.frame_shape
        if tuple(missing.shape) != (t, h, w):
            raise DyngenError(f"missing must be a bool mask (T, H, W) = {(t, h, w)}, got {tuple(missing.shape)}")
        visible = ~missing.detach().cpu().bool()[:, None].expand(t, ch, h, w).reshape(t, -1)
        if not visible.any():
            raise DyngenError("every pixel is missing; at least some must be visible to fit")
        return visible

    def _fit_missing(self, y: torch.Tensor, visible: torch.Tensor, iterations: int) -> None:
        if iterations < 1:
            raise UsageError(f"iterations must be at least 1 when pixels are missing, got {iterations}")
        count = visible.sum(dim=0)
        fallback = y[visible].mean()
        pixel_mean = torch.where(count > 0, (y * visible).sum(dim=0) / count.clamp(min=1), fallback)
        filled = torch.where(visible, y, pixel_mean)
        for it in range(iterations):
            mean, c, states = _pca(filled, math.ceil(self.state_dim * (it + 1) / iterations))  # rank schedule
            a, q = _ar1(states)
            resid = (filled - mean - states @ c.T)[visible]
            obs_var = max(float(resid.square().mean()), MIN_OBS_VAR)
            if c.shape[1] > 0:
                states = _smooth_states(y - mean, visible, c, a, q, obs_var, states)
            new = torch.where(visible, y, states @ c.T + mean)
            change = float((new - filled).abs().max())
            filled = new
            logger.debug("LDS masked fit iteration %d: max change %.3g", it + 1, change)
        self._store(mean, c, a, q, states)
        self.obs_var.fill_(obs_var)

    def reconstruct(self) -> torch.Tensor:
        """The fitted training video ``C s_t + mean``, clamped: ``(T, 3, H, W)``."""
        self._require_fitted()
        return (self.states @ self.C.T + self.mean).reshape(-1, *self.frame_shape).clamp(-1, 1)

    def fill_missing(self, frames: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        """The recovered video: ``frames`` at visible pixels, the reconstruction at hidden ones.

        Args:
            frames: the fitted video ``(T, 3, H, W)``.
            missing: bool ``(T, H, W)``, True where a pixel is hidden.

        Returns:
            ``(T, 3, H, W)``.
        """
        recon = self.reconstruct().to(frames)
        if recon.shape != frames.shape or tuple(missing.shape) != (recon.shape[0], *recon.shape[2:]):
            raise DyngenError(
                f"frames {tuple(frames.shape)} and missing {tuple(missing.shape)} do not match the fitted video "
                f"{tuple(recon.shape)} and its mask (T, H, W)"
            )
        return torch.where(missing.to(frames.device).bool()[:, None], recon, frames)

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise DyngenError("the linear dynamic system is not fitted; call fit(frames) or load a fitted state_dict")

    @torch.no_grad()
    def synthesize(
        self,
        frames: int,
        *,
        num: int = 1,
        generator: torch.Generator | None = None,
        s0: torch.Tensor | None = None,
        noise_scale: float = 1.0,
    ) -> torch.Tensor:
        """Roll ``s_t = A s_{t-1} + B v_t`` forward and render ``C s_t + mean``.

        Args:
            frames: number of frames to synthesize; the first is rendered from ``s0``.
            num: number of independent videos.
            generator: random source of the driving noise v_t (same seed, same videos).
            s0: ``(d,)`` or ``(num, d)`` state of the first frame (default: the fitted first state).
            noise_scale: multiplies the driving noise v_t (1 is the fitted model).

        Returns:
            ``(num, frames, 3, H, W)`` in [-1, 1].
        """
        self._require_fitted()
        if frames < 1 or num < 1:
            raise UsageError(f"frames and num must be positive integers, got frames={frames}, num={num}")
        d = self.state_dim
        if s0 is not None and tuple(s0.shape) not in ((d,), (1, d), (num, d)):
            raise DyngenError(f"s0 must have shape ({d},) or ({num}, {d}), got {tuple(s0.shape)}")
        state = (self.s0 if s0 is None else s0.to(self.A)).expand(num, d)
        noise = torch.randn(num, frames - 1, d, generator=generator, dtype=self.A.dtype).to(self.A.device)
        noise = noise * noise_scale
        states = [state]
        for t in range(frames - 1):
            states.append(states[-1] @ self.A.T + noise[:, t] @ self.B.T)
        out = torch.stack(states, dim=1) @ self.C.T + self.mean  # (num, frames, D)
        return out.reshape(num, frames, *self.frame_shape).clamp(-1, 1)
