"""Temporal interpolation fill (``interp``) and the frame hold (``hold``).

Every hidden pixel ``x_t`` is interpolated linearly in time between the same
pixel in the nearest earlier frame ``p`` and the nearest later frame ``n``
where it is visible:

    x_t = x_p + (t - p) / (n - p) * (x_n - x_p)

Before the first visible frame and after the last one the nearest visible
value is repeated (constant extrapolation). A pixel hidden in every frame has
no value in time to use; those pixels are filled in space by the harmonic
``mrf-l2`` fill (:func:`dyngen.baselines.mrf.fill_l2`) of the interpolated
video, with every other pixel as boundary.

``hold`` (``fill(..., nearest=True)``) takes instead the value of the nearer
of ``p`` and ``n`` (ties: the earlier), the frame repetition that video codecs
and players use for a lost frame: where a clip switches abruptly between two
states (a flashing light), it beats linear interpolation, which blends them.
"""

from __future__ import annotations

import torch

from dyngen.baselines.mrf import check_inputs, fill_l2


def _nearest_visible(visible: torch.Tensor, reverse: bool) -> torch.Tensor:
    """For each ``(t, ...)``, the index of the nearest visible frame at or before ``t`` (after, if ``reverse``).

    Args:
        visible: bool ``(T, ...)``.
        reverse: search later frames instead of earlier ones.

    Returns:
        int64, shaped like ``visible``; ``-1`` (or ``T`` when ``reverse``) where there is none.
    """
    t_len = visible.shape[0]
    out = torch.empty(visible.shape, dtype=torch.long)
    last = torch.full(visible.shape[1:], t_len if reverse else -1, dtype=torch.long)
    for t in range(t_len - 1, -1, -1) if reverse else range(t_len):
        last = torch.where(visible[t], t, last)
        out[t] = last
    return out


def time_neighbours(visible: torch.Tensor, *, nearest: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The nearest visible frames in time, and the weight that interpolates between them.

    Args:
        visible: bool ``(T, ...)`` on the CPU: per frame (``(T,)``) or per pixel (``(T, H, W)``).
        nearest: weights 0 or 1, for the nearer frame (ties: the earlier) instead of linear ones.

    Returns:
        int64 ``prev`` and ``nxt`` and float64 ``w``, each shaped like ``visible``: at ``t``, the nearest visible
        frames ``p <= t <= n`` and ``w = (t - p) / (n - p)``, so that ``(1 - w) x_p + w x_n`` interpolates.
        Before the first and after the last visible frame both are that frame (constant extrapolation,
        ``w = 0``); where no frame is visible they are clamped to ``[0, T - 1]``.
    """
    t_len = visible.shape[0]
    prev = _nearest_visible(visible, reverse=False)
    nxt = _nearest_visible(visible, reverse=True)
    has_prev, has_next = prev >= 0, nxt < t_len
    prev = torch.where(has_prev, prev, nxt).clamp(0, t_len - 1)  # constant extrapolation at the ends
    nxt = torch.where(has_next, nxt, prev).clamp(0, t_len - 1)
    t = torch.arange(t_len, dtype=torch.double).view(-1, *[1] * (visible.dim() - 1))
    span = (nxt - prev).double()
    w = torch.where(span > 0, (t - prev) / span.clamp(min=1), torch.zeros((), dtype=torch.double))
    if nearest:
        w = (w > 0.5).double()
    return prev, nxt, w


def fill(video: torch.Tensor, missing: torch.Tensor, *, nearest: bool = False) -> torch.Tensor:
    """Fill hidden pixels by linear interpolation in time.

    Args:
        video: ``(T, 3, H, W)`` in [-1, 1]; values at hidden pixels are ignored.
        missing: bool ``(T, H, W)``, True = hidden.
        nearest: take the nearer visible value instead of interpolating (``hold``; ties: the earlier).

    Returns:
        ``(T, 3, H, W)``: visible pixels as in ``video`` (bit-exactly), hidden
        pixels interpolated in time (see the module docstring for the ends and
        for pixels hidden in every frame).
    """
    check_inputs(video, missing)
    if not bool(missing.any()):
        return video.clone()
    m = missing.cpu()
    x = video.detach().cpu().double()
    prev, nxt, w = time_neighbours(~m, nearest=nearest)
    x_prev = x.gather(0, prev[:, None].expand_as(x))
    x_next = x.gather(0, nxt[:, None].expand_as(x))
    est = (x_prev + w[:, None] * (x_next - x_prev)).to(video.dtype).to(video.device)
    out = torch.where(missing[:, None], est, video)
    never = m.all(dim=0)  # hidden in every frame: fill in space
    if bool(never.any()):
        out = fill_l2(out, never.expand_as(m).to(missing.device))
    return out


def hold(video: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """The frame hold: every hidden pixel takes its value in the nearest frame where it is visible."""
    return fill(video, missing, nearest=True)
