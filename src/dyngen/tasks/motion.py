"""Trackable and intrackable change in a run with the warping emission (Xie et al., AAAI 2020).

Each frame of such a model is ``x_t = W(p_{t-1}, d_t) + r_t``: the previous frame moved by the displacement
field ``d_t`` (the trackable part of the change) plus the residual image ``r_t`` (the intrackable part). The
**intrackability** of a frame is the share of its change that the residual carries,

    i_t = ||r_t||^2 / (||W(p_{t-1}, d_t) - p_{t-1}||^2 + ||r_t||^2)   in [0, 1],

0 when warping explains the whole change (a rigid translation), 1 when nothing moves and the frame is redrawn
(a flashing light). ``motion_parts`` decomposes the run's reconstruction of its training video (the observed
previous frames followed where they are seen), or a synthesis; ``dyngen report`` shows both as figures, and
``dyngen synthesize --flow`` writes the displacement fields as a colour video (``dyngen.io.grid.flow_to_rgb``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dyngen.errors import UsageError
from dyngen.io.masks import observed_weights
from dyngen.io.video import to_tensor
from dyngen.runs.checkpoint import Trained


@dataclass
class MotionParts:
    """The parts of B videos of T frames, each ``(B, T, ., H, W)``, and the intrackability ``(B, T)`` (NaN for a
    video's first frame, which is not made by warping)."""

    frames: torch.Tensor
    warped: torch.Tensor
    previous: torch.Tensor
    displacement: torch.Tensor  # pixels, x then y
    residual: torch.Tensor
    intrackability: torch.Tensor

    @property
    def mean_intrackability(self) -> float:
        """The mean over the frames made by warping."""
        return float(self.intrackability.nanmean())


def require_warping(trained: Trained) -> None:
    if not hasattr(trained.model.generator, "decompose"):
        raise UsageError(
            f"{trained.run.path} has the '{trained.model.config.emission}' emission, which redraws every frame; "
            "trackable and intrackable change need a run trained with --emission warp"
        )


def intrackability(parts: dict[str, torch.Tensor]) -> torch.Tensor:
    """``(B, T)``: the residual's share of each frame's change (see the module docstring)."""
    moved = (parts["warped"] - parts["previous"]).square().flatten(2).sum(-1)
    redrawn = parts["residual"].square().flatten(2).sum(-1)
    share = redrawn / (moved + redrawn).clamp(min=1e-12)
    return torch.where(parts["warps"][None], share, torch.nan)


@torch.no_grad()
def motion_parts(
    trained: Trained,
    *,
    video: str | int = 0,
    frames: int | None = None,
    seed: int = 0,
    start: str = "inferred",
    noise: str = "posterior",
    noise_scale: float = 1.0,
) -> MotionParts:
    """Decompose a video of the run into the emission's parts.

    Args:
        trained: a run with the warping emission.
        video: the training video (name or index).
        frames: None decomposes the reconstruction of that training video (the observed previous frames followed
            where they are seen); a number decomposes the synthesis ``dyngen.synthesize(trained, frames=frames,
            seed=seed, start=start, noise=noise, noise_scale=noise_scale, video=video)`` makes (one sample).
        seed, start, noise, noise_scale: as for synthesis.

    Returns:
        The parts of one video (B = 1).
    """
    require_warping(trained)
    model, ch = trained.model, trained.chains
    i = trained.video_index(video)
    g = model.generator
    device = ch.s0.device
    was_training = model.training
    model.eval()
    try:
        a = ch.appearance[i : i + 1] if model.appearance_dim else None
        if frames is None:
            data = trained.run.load_data()
            x = to_tensor(data["frames"][i].numpy())[None].to(device)
            seen = observed_weights(None if data.get("missing") is None else data["missing"][i : i + 1])
            states = model.transition.rollout(ch.s0[i : i + 1], ch.noise[i : i + 1])
            parts = g.decompose(states, a, None, x, None if seen is None else seen.to(device))
        else:  # the draws of dyngen.algorithms.synthesis.synthesize, in its order
            gen = torch.Generator(device).manual_seed(seed)
            s0 = ch.s0[i : i + 1]
            if start == "random":
                s0 = torch.randn(1, model.state_dim, generator=gen, device=gen.device).to(device)
            xi = trained.innovations(noise).sample(1, frames, generator=gen, scale=noise_scale, device=device)
            parts = g.decompose(model.transition.rollout(s0, xi), a)
    finally:
        model.train(was_training)
    return MotionParts(parts["frames"], parts["warped"], parts["previous"], parts["displacement"], parts["residual"],
                       intrackability(parts))  # fmt: skip
