"""The warping emission: the state moves the previous frame and adds what motion cannot explain.

After Xie, Gao, Zheng, Zhu, Wu, "Motion-Based Generator Model" (AAAI 2020):

    d_t = D_max tanh(Dhat(a, s_t))          displacement field (2, H, W), in pixels: the trackable change
    r_t = R(a, s_t)                         residual image (3, H, W): the intrackable change
    x_t = W(p_{t-1}, d_t) + r_t + eps_t     W(p, d)(u) = p(u + d(u)), a bilinear backward warp (grid_sample)

``Dhat`` and ``R`` are one DCGAN decoder of ``[a ; s_t]`` with 5 linear output maps (dyngen's frame generator
stack). The first frame of a video, which has no previous one, is a learned full-resolution image when the
model has no appearance vectors (a texture), and the DCGAN rendering of ``[a ; s_1]`` when it has (a set of
videos); animation gives the still instead (``previous``).

What is warped, ``p_{t-1}`` (``Emission.follow``): where frames are observed (learning, recovery, encoding),
the observed frame t-1 at its visible pixels and the emission's own rendering at its hidden ones, so detail
moves along the motion from observed pixels into hidden ones and a hidden pixel is never read; in synthesis,
the emission's own previous frame (clamped to [-1, 1]), the generative chain. The energy adds a penalty on the
residuals, ``residual_penalty * sum_t ||r_t||^2`` (in squared-error units, so it is divided by 2 sigma^2 like the
data term), so that change is explained by warping where it can be. Measured choices: docs/warp.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dyngen.models.emission import Emission, register_emission
from dyngen.models.frame_generator import FrameGenerator


def warp(image: torch.Tensor, flow: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``W(image, flow)``: ``image (N, C, H, W)`` sampled at ``u + flow(u)`` (``flow (N, 2, H, W)`` in pixels, x then
    y), bilinear, the border repeated outside; ``grid`` is ``identity_grid(H, W)``."""
    h, w = image.shape[-2:]
    scale = torch.tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)], dtype=flow.dtype, device=flow.device)
    where = grid + flow.permute(0, 2, 3, 1) * scale
    return F.grid_sample(image, where, mode="bilinear", padding_mode="border", align_corners=True)


def identity_grid(h: int, w: int) -> torch.Tensor:
    """``(H, W, 2)`` sampling coordinates in [-1, 1] (x first) that make ``grid_sample`` the identity."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return torch.stack([xs, ys], dim=-1)


class WarpEmission(Emission):
    """``x_t = W(p_{t-1}, d(a, s_t)) + r(a, s_t)`` (see the module docstring).

    Args:
        state_dim, appearance_dim: d and c.
        size: ``(H, W)``.
        base_channels, max_channels, norm: the decoders' widths and normalisation (as the DCGAN emission's).
        max_displacement: D_max, the largest displacement per frame, in pixels.
        residual_penalty: lambda, the weight of ``sum ||r_t||^2`` against the squared reconstruction error.
    """

    uses_previous = True

    def __init__(
        self,
        *,
        state_dim: int,
        appearance_dim: int = 0,
        size: tuple[int, int] = (64, 64),
        base_channels: int = 16,
        max_channels: int = 128,
        norm: str = "batch",
        max_displacement: float = 2.0,
        residual_penalty: float = 0.1,
    ) -> None:
        super().__init__()
        self.size, self.appearance_dim = tuple(size), appearance_dim
        self.max_displacement, self.residual_penalty = max_displacement, residual_penalty
        widths = {"size": self.size, "base_channels": base_channels, "max_channels": max_channels, "norm": norm}
        in_dim = appearance_dim + state_dim
        self.motion = FrameGenerator(in_dim=in_dim, appearance_dim=appearance_dim, out_channels=5, out_tanh=False,
                                     **widths)  # fmt: skip
        if appearance_dim:
            self.first = FrameGenerator(in_dim=in_dim, appearance_dim=appearance_dim, **widths)
        else:
            self.first_image = nn.Parameter(torch.zeros(1, 3, *self.size))
        self.register_buffer("grid", identity_grid(*self.size), persistent=False)

    @classmethod
    def from_config(cls, config) -> WarpEmission:
        return cls(
            state_dim=config.state_dim,
            appearance_dim=config.appearance_dim,
            size=(config.height, config.width),
            base_channels=config.base_channels,
            max_channels=config.max_channels,
            norm=config.norm,
            max_displacement=config.max_displacement,
            residual_penalty=config.residual_penalty,
        )

    # the DCGAN stacks' speed switches (dyngen.algorithms.execution sets them for an epoch)
    @property
    def fast_deconv(self) -> bool:
        return self.motion.fast_deconv

    @fast_deconv.setter
    def fast_deconv(self, on: bool) -> None:
        for g in self._stacks():
            g.fast_deconv = on

    @property
    def checkpoint(self) -> bool:
        return self.motion.checkpoint

    @checkpoint.setter
    def checkpoint(self, on: bool) -> None:
        for g in self._stacks():
            g.checkpoint = on

    def _stacks(self) -> list[FrameGenerator]:
        return [self.motion, *([self.first] if self.appearance_dim else [])]

    @torch.no_grad()
    def initialise(self, frames: torch.Tensor, visible: torch.Tensor | None = None) -> None:
        """The learned first image starts as the first training frame, each hidden pixel taken from the first
        frame where it is seen (a frame hold back in time)."""
        if self.appearance_dim:
            return
        first = frames[:1]
        if visible is not None:
            seen = visible[:, 0] > 0  # (T, H, W)
            when = seen.float().argmax(dim=0)  # the first frame in which each pixel is seen (0 if never)
            first = frames.gather(0, when[None, None].expand(1, 3, *when.shape))
        self.first_image.copy_(first)

    def first_frame(self, state: torch.Tensor, appearance: torch.Tensor | None) -> torch.Tensor:
        """The first frame of a video ``(B, 3, H, W)``, from the state ``(B, d)`` of that frame."""
        if self.appearance_dim:
            return self.first(state[:, None], appearance)[:, 0]
        return self.first_image.expand(state.shape[0], -1, -1, -1)

    def motion_maps(
        self, states: torch.Tensor, appearance: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``displacement (B, T, 2, H, W)`` in pixels and ``residual (B, T, 3, H, W)`` of states ``(B, T, d)``."""
        maps = self.motion(states, appearance)
        return self.max_displacement * torch.tanh(maps[:, :, :2]), maps[:, :, 2:]

    def decompose(
        self,
        states: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The frames and their parts: ``frames``, ``warped`` (``W(p_{t-1}, d_t)``), ``previous`` (``p_{t-1}``),
        ``displacement`` and ``residual``, each ``(B, T, ., H, W)``; ``warps`` (bool ``(T,)``): which frames were
        made by warping (not a video's first frame)."""
        flow, residual = self.motion_maps(states, appearance)
        t = states.shape[1]
        warps = torch.ones(t, dtype=torch.bool, device=states.device)
        warps[0] = previous is not None
        if observed is not None and visible is None:  # every previous frame is known: all the warps in one batch
            return self._teacher_forced(states, appearance, previous, observed, flow, residual, warps)
        free = observed is None  # synthesis: the chain feeds itself, kept in range
        frames, warped, before = [], [], []
        prev = previous
        for i in range(t):
            if prev is None:
                x = self.first_frame(states[:, i], appearance)
                w = x
            else:
                w = warp(prev, flow[:, i], self.grid)
                x = w + residual[:, i]
            if free:
                x = x.clamp(-1, 1)
            frames.append(x)
            warped.append(w)
            before.append(x if prev is None else prev)
            prev = self.follow(x, None if free else observed[:, i], None if visible is None else visible[:, i])
        return {"frames": torch.stack(frames, 1), "warped": torch.stack(warped, 1), "previous": torch.stack(before, 1),
                "displacement": flow, "residual": residual, "warps": warps}  # fmt: skip

    def _teacher_forced(self, states, appearance, previous, observed, flow, residual, warps) -> dict[str, torch.Tensor]:
        """``decompose`` where every frame is observed: frame t warps the observed frame t-1 (``previous`` for the
        first, or the first frame itself when there is none), all in one batch."""
        b = states.shape[0]
        first = self.first_frame(states[:, 0], appearance) if previous is None else previous
        before = torch.cat([first[:, None], observed[:, :-1]], dim=1)  # p_{t-1} for every t
        start = int(previous is None)  # the first frame of a video is not warped
        moved = warp(before[:, start:].flatten(0, 1), flow[:, start:].flatten(0, 1), self.grid).unflatten(0, (b, -1))
        warped = torch.cat([first[:, None], moved], dim=1) if start else moved
        frames = torch.cat([first[:, None], moved + residual[:, start:]], dim=1) if start else moved + residual
        return {"frames": frames, "warped": warped, "previous": before, "displacement": flow, "residual": residual,
                "warps": warps}  # fmt: skip

    def forward(self, states, appearance=None, previous=None, observed=None, visible=None) -> torch.Tensor:
        return self.decompose(states, appearance, previous, observed, visible)["frames"]

    def terms(self, states, appearance=None, previous=None, observed=None, visible=None):
        parts = self.decompose(states, appearance, previous, observed, visible)
        penalty = self.residual_penalty * parts["residual"][:, parts["warps"]].square().sum()
        return parts["frames"], penalty


register_emission("warp", WarpEmission)
