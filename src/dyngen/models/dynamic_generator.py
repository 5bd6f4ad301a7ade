"""The dynamic generator: a transition F and an emission G.

    s_0 ~ N(0, I_d),  a ~ N(0, I_c),  xi_t ~ N(0, I_k)
    s_t = F_alpha(s_{t-1}, xi_t)
    x_t = G_beta(s_t, a, x_{t-1}) + eps_t,  eps_t ~ N(0, sigma^2 I)

G is any ``dyngen.models.emission.Emission``; the paper's (``"dcgan"``) reads
``[a ; s_t]`` only.

Glossary of tensor names used across dyngen:

- ``frames``: videos ``(B, T, 3, H, W)`` in [-1, 1] (x in the paper);
- ``s0``: initial states ``(B, d)`` (s_0);
- ``noise``: innovations ``(B, T, k)`` (xi_1..xi_T);
- ``states``: ``(B, T, d)`` (s_1..s_T), deterministic given s0 and noise;
- ``appearance``: ``(B, c)`` (a), one per video, or None when c = 0;
- ``previous``: ``(B, 3, H, W)`` the frame before a stretch of time (x_{t0-1}), for emissions that read it;
- ``observed``: a weight ``(B, T, 1, H, W)``, 1 where a pixel is seen, 0
  where it is missing (the complement of a mask, see ``dyngen.io.masks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from dyngen.config import NONNEGATIVE, POSITIVE_INT, WIDTH, DictConfig, Range, option
from dyngen.errors import UsageError
from dyngen.models.emission import EMISSIONS, Emission, emission_class
from dyngen.models.frame_generator import NORMS, check_size  # importing it registers the "dcgan" emission
from dyngen.models.transition import ACTIVATIONS, TRANSITIONS, Transition
from dyngen.models.warp import WARP_COMBINES, WARP_INPUTS  # importing it registers the "warp" emission


@dataclass
class ModelConfig(DictConfig):
    """Everything needed to build a ``DynamicGenerator`` (defaults: the paper's texture model)."""

    kind: ClassVar[str] = "model"

    height: int = option(64, "frame height", range=POSITIVE_INT, cli=False)
    width: int = option(64, "frame width", range=POSITIVE_INT, cli=False)
    state_dim: int = option(100, "state dimension d", range=WIDTH)
    noise_dim: int = option(100, "noise dimension k", range=WIDTH)
    appearance_dim: int = option(
        0, "appearance dimension c (0 = none)", range=Range(lo=0, hi=4096, integer=True, hi_open=False,
                                                            rule="an integer in [0, 4096]")
    )  # fmt: skip
    transition: str = option("nonlinear", "the transition F: nonlinear (residual MLP) or linear", choices=TRANSITIONS)
    transition_hidden: int = option(
        20, "width of the transition MLP's hidden layers", range=WIDTH, flag="--transition-width"
    )
    transition_activation: str = option(
        "relu", "the transition MLP's activation: relu (the paper's) or leaky_relu", choices=ACTIVATIONS
    )
    emission: str = option(
        "dcgan",
        "the emission G: how a state becomes a frame (dyngen.models.emission)",
        choices=lambda: tuple(EMISSIONS),
    )
    base_channels: int = option(
        64, "generator width: channels of the last hidden layer (paper: 64)", range=WIDTH, flag="--width"
    )
    max_channels: int = option(512, "generator width cap (paper: 512)", range=WIDTH, flag="--max-width")
    norm: str = option("batch", "the generator's normalisation: batch, group or none", choices=NORMS)
    warp_input: str = option(
        "first", "warp: what the state moves: the previous frame (frame), its trackable part, the frame less its "
        "residual (trackable: residuals do not carry over), or the video's first frame (first: nothing carries over, "
        "so long syntheses hold; docs/warp.md)", choices=WARP_INPUTS, group="warp emission",
    )  # fmt: skip
    warp_combine: str = option(
        "residual", "warp: how a frame is made of its warped image: plus a residual image (residual), or blended "
        "per pixel with a generated image by a learned visibility (blend: where the warp cannot explain the frame, "
        "the state draws it as the DCGAN emission does; docs/warp.md)", choices=WARP_COMBINES, group="warp emission",
    )  # fmt: skip
    max_displacement: float = option(
        0.0, "warp: the largest displacement per frame, in pixels (0: 2 for every 64 pixels of the frame's larger "
        "side, the same share of the frame at every size)", range=NONNEGATIVE, group="warp emission",
    )  # fmt: skip
    residual_penalty: float = option(
        0.1, "warp: weight of the residual images' squared norm against the reconstruction error",
        range=NONNEGATIVE, group="warp emission",
    )  # fmt: skip

    def check(self) -> None:
        super().check()
        check_size(self.height, self.width)  # both emissions are built on the DCGAN stack
        if self.emission == "warp" and self.warp_combine == "blend" and self.warp_input == "trackable":
            raise UsageError("--warp-combine blend has no trackable part to carry on: use --warp-input first or frame")


class DynamicGenerator(nn.Module):
    """The composed model: the transition F (``transition``) and the emission G (``generator``).

    ``forward`` does no I/O and picks no device.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.transition = Transition(
            state_dim=config.state_dim,
            noise_dim=config.noise_dim,
            kind=config.transition,
            hidden=config.transition_hidden,
            activation=config.transition_activation,
        )
        self.generator: Emission = emission_class(config.emission).from_config(config)

    @property
    def state_dim(self) -> int:
        return self.config.state_dim

    @property
    def noise_dim(self) -> int:
        return self.config.noise_dim

    @property
    def appearance_dim(self) -> int:
        return self.config.appearance_dim

    def render(
        self,
        states: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Frames from states: ``states (B, T, d)``, ``appearance (B, c)`` or None, ``previous (B, 3, H, W)``
        (the frame before the first state, for emissions that read it), and where the frames are observed
        ``observed (B, T, 3, H, W)`` with ``visible (B, T, 1, H, W)`` -> ``(B, T, 3, H, W)``."""
        return self.generator(states, appearance, previous, observed, visible)

    def render_and_carry(
        self,
        states: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``render``, and the ``previous`` of the stretch of time after these states (``Emission.render_and_carry``;
        None for an emission that does not read it)."""
        return self.generator.render_and_carry(states, appearance, previous, observed, visible)

    def forward(
        self,
        s0: torch.Tensor,
        noise: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Roll the transition from ``s0`` and render every state.

        Args:
            s0: ``(B, d)`` the state before the first frame.
            noise: ``(B, T, k)``.
            appearance: ``(B, c)`` or None.
            previous: ``(B, 3, H, W)`` the frame before the first one, or None.
            observed, visible: the observed frames ``(B, T, 3, H, W)`` and their weights ``(B, T, 1, H, W)``,
                for emissions that condition on the observed previous frame (``Emission.follow``).

        Returns:
            ``frames (B, T, 3, H, W)`` and ``states (B, T, d)``.
        """
        states = self.transition.rollout(s0, noise)
        return self.render(states, appearance, previous, observed, visible), states
