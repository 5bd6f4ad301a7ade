"""The emission interface: how a state becomes a frame, ``x_t = G_beta(s_t, a, x_{t-1}) + eps_t``.

An emission renders a sequence of states, with the video's appearance vector
when the model has one and the frame before the sequence when it reads the
previous frame. Everything above the models (ABPTT, Langevin, synthesis,
recovery, animation, the run format) calls emissions through this interface
only, so a new emission is one class and one line in ``EMISSIONS``; the
trainer does not change.

Implementations:

- ``"dcgan"`` (``dyngen.models.frame_generator.FrameGenerator``, the paper's
  and the default): transposed convolutions of ``[a ; s_t]``, every frame
  independently, ``previous`` ignored.

- ``"warp"`` (``dyngen.models.warp.WarpEmission``): the state moves the
  previous frame by a displacement field and adds a residual image.

An emission whose ``uses_previous`` is True reads ``previous``; the callers
then carry the frame before each chunk of time (truncation windows,
synthesis chunks) as they carry the last state. Where the frames are
observed (learning, recovery, encoding) the callers also pass them,
``observed`` with their ``visible`` weights: such an emission conditions
frame t on the observed frame t-1 where it is visible and on its own
rendering where it is hidden, ``follow`` (p(x_t | x_{t-1}, s_t), with hidden
pixels never read).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from dyngen.errors import UsageError


class Emission(nn.Module):
    """``G``: frames from states. Subclasses implement ``forward`` and build from a ``ModelConfig``.

    Args (of ``forward`` and ``terms``):
        states: ``(B, T, d)``.
        appearance: ``(B, c)``, or None when the model has no appearance vectors.
        previous: ``(B, 3, H, W)``, the frame before ``states[:, 0]``, or None at the start of a video.
        observed: ``(B, T, 3, H, W)``, the observed frames the output frames stand for, or None (synthesis).
        visible: ``(B, T, 1, H, W)`` weights of ``observed``, 1 = seen, or None (all seen).

    Returns (of ``forward``):
        ``(B, T, 3, H, W)``; in [-1, 1] where nothing is observed.
    """

    uses_previous: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config) -> Emission:
        """Build from a ``dyngen.models.dynamic_generator.ModelConfig``."""
        raise NotImplementedError

    def forward(
        self,
        states: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError

    def terms(
        self,
        states: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The frames and the emission's own penalty, in squared-error units (added to the reconstruction error
        in the energy and the learning loss), or None when it has none."""
        return self(states, appearance, previous, observed, visible), None

    def render_and_carry(
        self,
        states: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The frames and what the next stretch of time reads as its ``previous`` (None unless ``uses_previous``):
        by default the last frame as ``follow`` sees it."""
        frames = self(states, appearance, previous, observed, visible)
        if not self.uses_previous:
            return frames, None
        last = None if observed is None else observed[:, -1]
        return frames, self.follow(frames[:, -1], last, None if visible is None else visible[:, -1])

    def initialise(self, frames: torch.Tensor, visible: torch.Tensor | None = None) -> None:
        """Set data-dependent starting weights from the first training video, ``frames (T, 3, H, W)`` with
        ``visible (T, 1, H, W)`` (None: all seen); called once, before training starts. Default: nothing."""

    @staticmethod
    def follow(
        rendered: torch.Tensor, observed: torch.Tensor | None = None, visible: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The frame the next one is conditioned on: the observed one where it is visible, the rendering where not
        (shapes ``(B, 3, H, W)`` and ``(B, 1, H, W)``)."""
        if observed is None:
            return rendered
        if visible is None:
            return observed
        return torch.where(visible > 0, observed, rendered)  # a hidden value is never read, whatever it holds


EMISSIONS: dict[str, type[Emission]] = {}


def register_emission(name: str, cls: type[Emission]) -> type[Emission]:
    """Make ``cls`` available as ``ModelConfig(emission=name)``; returns it (usable as a decorator's body)."""
    EMISSIONS[name] = cls
    return cls


def emission_class(name: str) -> type[Emission]:
    """The class registered as ``name``; UsageError naming the allowed ones otherwise."""
    if name not in EMISSIONS:
        raise UsageError(f"unknown emission '{name}'; allowed: {', '.join(EMISSIONS)}")
    return EMISSIONS[name]
