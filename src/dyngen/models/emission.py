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

An emission whose ``uses_previous`` is True reads ``previous``; the callers
then carry the last rendered frame from one chunk of time to the next
(truncation windows, synthesis chunks), as they carry the last state.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from dyngen.errors import UsageError


class Emission(nn.Module):
    """``G``: frames from states. Subclasses implement ``forward`` and build from a ``ModelConfig``.

    Args (of ``forward``):
        states: ``(B, T, d)``.
        appearance: ``(B, c)``, or None when the model has no appearance vectors.
        previous: ``(B, 3, H, W)``, the frame before ``states[:, 0]``, or None at the start of a video.

    Returns (of ``forward``):
        ``(B, T, 3, H, W)`` in [-1, 1].
    """

    uses_previous: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config) -> Emission:
        """Build from a ``dyngen.models.dynamic_generator.ModelConfig``."""
        raise NotImplementedError

    def forward(
        self, states: torch.Tensor, appearance: torch.Tensor | None = None, previous: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError


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
