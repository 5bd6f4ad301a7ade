"""The warping emission: the state moves a frame and adds what motion cannot explain.

After Xie, Gao, Zheng, Zhu, Wu, "Motion-Based Generator Model" (AAAI 2020):

    d_t = D_max tanh(Dhat(a, s_t))          displacement field (2, H, W), in pixels: the trackable change
    r_t = R(a, s_t)                         residual image (3, H, W): the intrackable change
    x_t = W(p_{t-1}, d_t) + r_t + eps_t     W(p, d)(u) = p(u + d(u)), a bilinear backward warp (grid_sample)

``Dhat`` and ``R`` are one DCGAN decoder of ``[a ; s_t]`` with 5 linear output maps (dyngen's frame generator
stack). The first frame of a video, which has no previous one, is a learned full-resolution image when the
model has no appearance vectors (a texture), and the DCGAN rendering of ``[a ; s_1]`` when it has (a set of
videos); animation gives the still instead (``previous``).

What is warped, ``p_{t-1}``, is ``warp_input``:

- ``"first"`` (the default): the video's first frame, ``x_t = W(x_1, d_t) + r_t``; nothing is carried from frame
  to frame, so a synthesis of any length is as stationary as the state chain;
- ``"frame"`` (the recovery presets'): the previous frame (``Emission.follow``): where frames are observed
  (learning, recovery, encoding), the observed frame t-1 at its visible pixels and the emission's own rendering
  at its hidden ones, so detail moves along the motion from observed pixels into hidden ones and a hidden pixel
  is never read; in synthesis, the emission's own previous frame (clamped to [-1, 1]), whose residuals add up;
- ``"trackable"``: the previous frame less its residual, so residuals are not carried on; a free chain of it
  samples its first image once per frame along the composed displacement.

In every case a first frame observed where it is seen is followed, and a hidden pixel is never read. The
energy adds a penalty on the
residuals, ``residual_penalty * sum_t ||r_t||^2`` (in squared-error units, so it is divided by 2 sigma^2 like the
data term), so that change is explained by warping where it can be. Measured choices: docs/warp.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dyngen.models.emission import Emission, register_emission
from dyngen.models.frame_generator import FrameGenerator

WARP_INPUTS = ("frame", "trackable", "first")
WARP_COMBINES = ("residual", "blend")


def scaled_displacement(h: int, w: int) -> float:
    """The default largest displacement per frame: 2 pixels for every 64 of the frame's larger side (fountain
    moves up to 2 pixels per frame at 64x64 and 5 at 150x150, the 90th percentile of block matches)."""
    return 2.0 * max(h, w) / 64


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
        warp_input: what is warped, ``"frame"``: ``p_{t-1}`` (the previous frame), or ``"trackable"``:
            ``p_{t-1} - r_{t-1}``, its trackable part (a video's first frame is all trackable), so that a residual
            explains the change of its own frame only and is not carried on; or ``"first"``: the video's first
            frame (the still, in animation), moved by a displacement from it, so nothing is carried from frame to
            frame (``x_t = W(x_1, d_t) + r_t``: stationary).
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
        warp_input: str = "first",
        warp_combine: str = "residual",
    ) -> None:
        super().__init__()
        if warp_input not in WARP_INPUTS:
            raise ValueError(f"warp_input must be one of {WARP_INPUTS}, got {warp_input!r}")
        if warp_combine not in WARP_COMBINES:
            raise ValueError(f"warp_combine must be one of {WARP_COMBINES}, got {warp_combine!r}")
        if warp_combine == "blend" and warp_input == "trackable":
            raise ValueError("warp_combine 'blend' has no trackable part to carry: use warp_input 'frame' or 'first'")
        self.trackable, self.anchored = warp_input == "trackable", warp_input == "first"
        self.blended = warp_combine == "blend"
        self.size, self.appearance_dim = tuple(size), appearance_dim
        self.max_displacement, self.residual_penalty = max_displacement, residual_penalty
        widths = {"size": self.size, "base_channels": base_channels, "max_channels": max_channels, "norm": norm}
        in_dim = appearance_dim + state_dim
        channels = 6 if self.blended else 5  # displacement, residual (or image), visibility
        self.motion = FrameGenerator(in_dim=in_dim, appearance_dim=appearance_dim, out_channels=channels,
                                     out_tanh=False, **widths)  # fmt: skip
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
            max_displacement=config.max_displacement or scaled_displacement(config.height, config.width),
            residual_penalty=config.residual_penalty,
            warp_input=config.warp_input,
            warp_combine=config.warp_combine,
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
        """``displacement (B, T, 2, H, W)`` in pixels and the maps that make a frame of the warped image
        (``combine``): ``residual (B, T, 3, H, W)``, or with ``warp_combine="blend"`` an image and a visibility logit
        ``(B, T, 4, H, W)``, of states ``(B, T, d)``."""
        maps = self.motion(states, appearance)
        return self.max_displacement * torch.tanh(maps[:, :, :2]), maps[:, :, 2:]

    def combine(self, warped: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """A frame from its warped image and ``maps`` (``motion_maps``'): ``warped + residual``, or with
        ``warp_combine="blend"`` ``v warped + (1 - v) tanh(image)``, ``v = sigmoid(logit)`` (1: the warp is seen)."""
        if not self.blended:
            return warped + maps
        v = torch.sigmoid(maps[..., 3:, :, :])
        return v * warped + (1 - v) * torch.tanh(maps[..., :3, :, :])

    def decompose(
        self,
        states: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The frames and their parts: ``frames``, ``warped`` (``W(p_{t-1}, d_t)``), ``previous`` (``p_{t-1}``, what
        was warped), ``displacement`` and ``residual``, each ``(B, T, ., H, W)``; ``warps`` (bool ``(T,)``): which
        frames were made by warping (not a video's first frame); ``carry``: the ``previous`` of the frame after these
        (``(B, 3, H, W)``, or ``(B, 5, H, W)`` for a free trackable chain: its image and the displacement since)."""
        flow, maps = self.motion_maps(states, appearance)
        t = states.shape[1]
        warps = torch.ones(t, dtype=torch.bool, device=states.device)
        warps[0] = previous is not None
        if self.anchored:
            parts = self._anchored(states, appearance, previous, observed, visible, flow, maps, warps)
        elif observed is not None and visible is None:  # every previous frame is known: all the warps in one batch
            parts = self._teacher_forced(states, appearance, previous, observed, flow, maps, warps)
        else:
            parts = self._chain(states, appearance, previous, observed, visible, flow, maps, warps)
        if self.blended:  # what the warp does not explain
            parts["residual"] = parts["frames"] - parts["warped"]
        return parts

    def _chain(self, states, appearance, previous, observed, visible, flow, residual, warps) -> dict[str, torch.Tensor]:
        """``decompose`` frame by frame: each frame warps the one before (``frame``, ``trackable``)."""
        t = states.shape[1]
        free = observed is None  # synthesis: the chain feeds itself, kept in range
        # A free trackable chain is warps only, y_t = W(y_{t-1}, d_t): it keeps the image it started from and the
        # displacement composed since, D_t = d_t + W(D_{t-1}, d_t), and samples that image once per frame
        # (y_t = W(y_0, D_t)), so repeated bilinear resampling never blurs it.
        compose = self.trackable and free
        prev, field = self._split(previous, compose)
        frames, warped, before = [], [], []
        for i in range(t):
            seen = None if free else observed[:, i]
            vis = None if visible is None else visible[:, i]
            if prev is None:
                x = self.first_frame(states[:, i], appearance)
                w = p = x
            else:
                p = warped[-1] if compose and warped else self._image(prev, field)  # p_{t-1}, the image warped
                if compose:
                    field = flow[:, i] if field is None else flow[:, i] + warp(field, flow[:, i], self.grid)
                    w = warp(prev, field, self.grid)
                else:
                    w = warp(prev, flow[:, i], self.grid)
                x = self.combine(w, residual[:, i])
            if free:
                x = x.clamp(-1, 1)
            frames.append(x)
            before.append(p)
            warped.append(w)
            if prev is None or not self.trackable:
                prev = self.follow(x, seen, vis)
            elif not compose:  # the frame less its residual: what it tracked (a composing chain keeps its image)
                prev = self.follow(w, seen - residual[:, i], vis)
        carry = prev if field is None else torch.cat([prev, field], dim=1)
        return {"frames": torch.stack(frames, 1), "warped": torch.stack(warped, 1), "previous": torch.stack(before, 1),
                "displacement": flow, "residual": residual, "warps": warps, "carry": carry}  # fmt: skip

    def _anchored(self, states, appearance, previous, observed, visible, flow, residual, warps):
        """``decompose`` with ``warp_input="first"``: every frame warps the video's first frame (``previous``, or the
        first frame itself, observed where it is seen), all in one batch; the carry is that frame, unchanged."""
        b, t = states.shape[:2]
        free = observed is None
        start = int(previous is None)  # the first frame of a video is not warped
        first = previous
        if start:
            rendered = self.first_frame(states[:, 0], appearance)
            rendered = rendered.clamp(-1, 1) if free else rendered
            first = self.follow(rendered, None if free else observed[:, 0], None if visible is None else visible[:, 0])
        anchor = first[:, None].expand(-1, t - start, -1, -1, -1)
        moved = warp(anchor.flatten(0, 1), flow[:, start:].flatten(0, 1), self.grid).unflatten(0, (b, -1))
        x = self.combine(moved, residual[:, start:])
        x = x.clamp(-1, 1) if free else x
        frames = torch.cat([rendered[:, None], x], dim=1) if start else x
        warped = torch.cat([rendered[:, None], moved], dim=1) if start else moved
        return {"frames": frames, "warped": warped, "previous": first[:, None].expand(-1, t, -1, -1, -1),
                "displacement": flow, "residual": residual, "warps": warps, "carry": first}  # fmt: skip

    def _split(self, previous: torch.Tensor | None, compose: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``previous`` as ``(image, displacement since it)``: a free trackable chain carries both (5 channels); any
        other ``previous`` is an image (the displacement None), and a carried pair is resolved into its image."""
        if previous is None or previous.shape[1] == 3:
            return previous, None
        image, field = previous[:, :3], previous[:, 3:]
        return (image, field) if compose else (self._image(image, field), None)

    def _image(self, image: torch.Tensor, field: torch.Tensor | None) -> torch.Tensor:
        return image if field is None else warp(image, field, self.grid)

    def _teacher_forced(self, states, appearance, previous, observed, flow, residual, warps) -> dict[str, torch.Tensor]:
        """``decompose`` where every frame is observed: frame t warps the observed frame t-1 (``previous`` for the
        first, or the first frame itself when there is none), all in one batch."""
        b = states.shape[0]
        previous = self._split(previous, False)[0]
        first = self.first_frame(states[:, 0], appearance) if previous is None else previous
        follows = observed
        if self.trackable:  # the observed frames less their residuals (a video's first frame has none)
            follows = observed - residual * warps.to(residual.dtype)[None, :, None, None, None]
        before = torch.cat([first[:, None], follows[:, :-1]], dim=1)  # p_{t-1} for every t
        start = int(previous is None)  # the first frame of a video is not warped
        moved = warp(before[:, start:].flatten(0, 1), flow[:, start:].flatten(0, 1), self.grid).unflatten(0, (b, -1))
        warped = torch.cat([first[:, None], moved], dim=1) if start else moved
        made = self.combine(moved, residual[:, start:])
        frames = torch.cat([first[:, None], made], dim=1) if start else made
        return {"frames": frames, "warped": warped, "previous": before, "displacement": flow, "residual": residual,
                "warps": warps, "carry": follows[:, -1]}  # fmt: skip

    def forward(self, states, appearance=None, previous=None, observed=None, visible=None) -> torch.Tensor:
        return self.decompose(states, appearance, previous, observed, visible)["frames"]

    def render_and_carry(self, states, appearance=None, previous=None, observed=None, visible=None):
        parts = self.decompose(states, appearance, previous, observed, visible)
        return parts["frames"], parts["carry"]

    def terms(self, states, appearance=None, previous=None, observed=None, visible=None):
        parts = self.decompose(states, appearance, previous, observed, visible)
        penalty = self.residual_penalty * parts["residual"][:, parts["warps"]].square().sum()
        return parts["frames"], penalty


register_emission("warp", WarpEmission)
