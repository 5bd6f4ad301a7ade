"""The dynamic generator: a transition F and a frame generator G.

    s_0 ~ N(0, I_d),  a ~ N(0, I_c),  xi_t ~ N(0, I_k)
    s_t = F_alpha(s_{t-1}, xi_t)
    x_t = G_beta([a ; s_t]) + eps_t,  eps_t ~ N(0, sigma^2 I)

Glossary of tensor names used across dyngen:

- ``frames``: videos ``(B, T, 3, H, W)`` in [-1, 1] (x in the paper);
- ``s0``: initial states ``(B, d)`` (s_0);
- ``noise``: innovations ``(B, T, k)`` (xi_1..xi_T);
- ``states``: ``(B, T, d)`` (s_1..s_T), deterministic given s0 and noise;
- ``appearance``: ``(B, c)`` (a), one per video, or None when c = 0;
- ``observed``: a weight ``(B, T, 1, H, W)``, 1 where a pixel is seen, 0
  where it is missing (the complement of a mask, see ``dyngen.io.masks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from dyngen.config import DictConfig
from dyngen.errors import UsageError
from dyngen.models.frame_generator import FrameGenerator
from dyngen.models.transition import Transition


@dataclass
class ModelConfig(DictConfig):
    """Everything needed to build a ``DynamicGenerator``."""

    kind: ClassVar[str] = "model"

    height: int = 64
    width: int = 64
    state_dim: int = 100  # d
    noise_dim: int = 100  # k
    appearance_dim: int = 0  # c; 0 disables appearance vectors
    transition: str = "nonlinear"
    transition_hidden: int = 20
    transition_activation: str = "relu"  # the paper's; the CPU presets use "leaky_relu" (see models/transition.py)
    base_channels: int = 64
    max_channels: int = 512
    norm: str = "batch"


class DynamicGenerator(nn.Module):
    """The composed model. ``forward`` does no I/O and picks no device."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.state_dim < 1 or config.noise_dim < 1 or config.appearance_dim < 0:
            raise UsageError("state_dim and noise_dim must be >= 1 and appearance_dim >= 0")
        self.config = config
        self.transition = Transition(
            state_dim=config.state_dim,
            noise_dim=config.noise_dim,
            kind=config.transition,
            hidden=config.transition_hidden,
            activation=config.transition_activation,
        )
        self.generator = FrameGenerator(
            in_dim=config.appearance_dim + config.state_dim,
            size=(config.height, config.width),
            base_channels=config.base_channels,
            max_channels=config.max_channels,
            norm=config.norm,
        )

    @property
    def state_dim(self) -> int:
        return self.config.state_dim

    @property
    def noise_dim(self) -> int:
        return self.config.noise_dim

    @property
    def appearance_dim(self) -> int:
        return self.config.appearance_dim

    def render(self, states: torch.Tensor, appearance: torch.Tensor | None = None) -> torch.Tensor:
        """Frames from states, every frame independently, batched over all of them.

        Args:
            states: ``(B, T, d)``.
            appearance: ``(B, c)`` or None.

        Returns:
            ``(B, T, 3, H, W)`` in [-1, 1].
        """
        b, t, _ = states.shape
        z = states
        if self.appearance_dim:
            if appearance is None:
                raise ValueError("this model has appearance vectors: pass appearance (B, c)")
            z = torch.cat([appearance[:, None].expand(b, t, -1), states], dim=-1)
        frames = self.generator(z.reshape(b * t, -1))
        return frames.reshape(b, t, *frames.shape[1:])

    def forward(
        self, s0: torch.Tensor, noise: torch.Tensor, appearance: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Roll the transition from ``s0`` and render every state.

        Args:
            s0: ``(B, d)`` the state before the first frame.
            noise: ``(B, T, k)``.
            appearance: ``(B, c)`` or None.

        Returns:
            ``frames (B, T, 3, H, W)`` and ``states (B, T, d)``.
        """
        states = self.transition.rollout(s0, noise)
        return self.render(states, appearance), states
