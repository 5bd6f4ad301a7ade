"""The states rendered for frames with no visible pixel, in recovery.

``"chain"`` (the paper's) renders the inferred chain: the transition driven by
the inferred innovations. ``"interp"`` renders, for each wholly hidden frame,
the states of the nearest frames before and after it with visible pixels,
interpolated linearly in time; ``"nearest"`` renders the nearer of the two
(ties: the earlier), as the ``interp`` and ``hold`` baselines do with pixels.
Frames with any visible pixel keep their inferred states. Between two visible
frames the chain can pass through states the generator never had to render
(on a clip whose light switches it renders noise there); interpolating the
states avoids that. ``choose_hidden_frames`` picks ``interp`` or ``nearest`` by
cross-validation on the visible frames (docs/recovery.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dyngen.baselines.interp import time_neighbours
from dyngen.errors import UsageError
from dyngen.evaluation.recovery import mean_abs_error

STATE_FILLS = ("chain", "interp", "nearest")


def hidden_frame_states(states: torch.Tensor, hidden: torch.Tensor, how: str) -> torch.Tensor:
    """The states to render for the frames with no visible pixel.

    Args:
        states: ``(T, d)`` the inferred states.
        hidden: bool ``(T,)``, True where a frame has no visible pixel; some frame must be visible.
        how: ``chain`` (keep ``states``), ``interp`` or ``nearest``.

    Returns:
        ``(T, d)``: ``states`` at the visible frames, and at a hidden frame t between visible frames p < t < n,
        ``((n - t) s_p + (t - p) s_n) / (n - p)`` (``interp``) or the nearer one's state (``nearest``); before the
        first or after the last visible frame, that frame's state.
    """
    if how not in STATE_FILLS:
        raise UsageError(f"unknown hidden-frame states '{how}'; allowed: {', '.join(STATE_FILLS)}")
    if how == "chain" or not bool(hidden.any()):
        return states
    prev, nxt, w = (v.to(states.device) for v in time_neighbours(~hidden.cpu(), nearest=how == "nearest"))
    w = w.to(states.dtype)[:, None]
    return (1 - w) * states[prev] + w * states[nxt]


def choose_hidden_frames(
    render: Callable[[torch.Tensor], torch.Tensor], states: torch.Tensor, video: torch.Tensor, missing: torch.Tensor
) -> tuple[str, dict[str, float]]:
    """``interp`` or ``nearest``: the one that renders the visible frames better from their neighbours' states.

    Every frame with visible pixels that has such frames on both sides is treated in turn as a hidden frame: its
    state is taken from its nearest visible neighbours both ways (:func:`hidden_frame_states`), rendered, and
    compared with its visible pixels. Ties go to ``interp``.

    Args:
        render: ``(1, N, d) -> (1, N, 3, H, W)``, the model's ``render``.
        states: ``(T, d)`` the inferred states.
        video: ``(T, 3, H, W)`` in [-1, 1]; only its visible pixels are used.
        missing: bool ``(T, H, W)``, True = hidden.

    Returns:
        The choice, and the mean absolute error (0-255) of each way over those frames' visible pixels (empty
        when fewer than three frames have visible pixels; the choice is then ``interp``).
    """
    whole = missing.flatten(1).all(dim=1)
    inner = (~whole).nonzero().flatten()[1:-1].tolist()
    if not inner:
        return "interp", {}
    scores = {}
    for how in ("interp", "nearest"):
        picked = []
        for t in inner:
            held_out = whole.clone()
            held_out[t] = True
            picked.append(hidden_frame_states(states, held_out, how)[t])
        rendered = render(torch.stack(picked)[None])[0].to(video)
        scores[how] = mean_abs_error(rendered, video[inner], ~missing[inner])
    return ("nearest" if scores["nearest"] < scores["interp"] else "interp"), scores
