"""Choosing between fills by cross-validation on visible pixels (``recover --blend cv``).

No single fill is best everywhere: interpolation in time wins on short gaps of a smooth clip, a frame hold
where a clip switches between states, the LDS where the change is global (a flashing light), a model that moves
detail (the warping emission) where pixels are hidden for long. Which one wins at a hidden pixel is measured,
not guessed:

1. ``probe_mask``: a share of the *visible* pixels is held out, laid like the hidden ones (the mask moved in
   time, on some frames), so the probes have gaps like the hidden pixels';
2. every fill runs on the mask with the probes hidden too (a model is trained on it), and its error on the
   probes, whose truth is known, is its cross-validated error;
3. ``fit_blend``: for each class of hidden pixel (``pixel_classes``: how long the pixel's gap in time is, and
   whether its whole frame is hidden) the convex weights of the fills that minimise the mean absolute error on
   the probes of that class (the paper's metric), and the weights over all probes for a class with too few;
4. ``apply_blend``: each hidden pixel of the real mask takes its class's blend of the fills made on that mask.

Beside the fills themselves the blend can take their per-pixel median (``with_consensus``): a robust
consensus that no convex weights give (where one fill is far off at a pixel and another at the next, their median
ignores both), and, under the mean absolute error, the better guess where the fills disagree because the change
cannot be predicted (fire).

Observed pixels are never changed: a blend only fills hidden ones.
"""

from __future__ import annotations

import torch

from dyngen.baselines.interp import time_neighbours

# gap classes: the number of frames from a hidden pixel's last visible value to its next (2 = hidden one frame)
GAP_EDGES = (2, 3, 5, 9)  # classes: <= 2, 3, 4-5, 6-9, >= 10, and "open" (seen on one side in time only)
MIN_PROBES = 400  # pixels of a class below which its blend is the blend over all probes


def probe_mask(missing: torch.Tensor, fraction: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Visible pixels to hold out: the mask moved by a third of the video in time (on a square mask that does not
    move, by a quarter of the frame in space), kept on randomly chosen frames until about ``fraction`` of the
    visible pixels are held out.

    Args:
        missing: bool ``(T, H, W)``, True = hidden.
        fraction: the share of visible pixels to hold out.
        seed: which frames are chosen.

    Returns:
        bool ``(T, H, W)``, True only at visible pixels; empty when nothing is hidden.
    """
    missing = missing.cpu().bool()
    t, h, w = missing.shape
    moved = missing.roll(max(t // 3, 1), dims=0) & ~missing
    if int(moved.sum()) < fraction * int((~missing).sum()) / 4:  # the mask barely moves in time
        moved = missing.roll((h // 4, w // 4), dims=(1, 2)) & ~missing
    budget = fraction * int((~missing).sum())
    probe = torch.zeros_like(missing)
    order = torch.randperm(t, generator=torch.Generator().manual_seed(seed)).tolist()
    for i in order:
        if int(probe.sum()) >= budget:
            break
        probe[i] = moved[i]
    return probe


def pixel_classes(missing: torch.Tensor) -> torch.Tensor:
    """The class of each pixel ``(T, H, W)`` under ``missing``: ``2 * gap + whole``, where ``gap`` (0-5) is the gap
    class of ``GAP_EDGES`` (5: seen before or after it only, or never) and ``whole`` is 1 when its whole frame is
    hidden. Meaningful at hidden pixels only."""
    missing = missing.cpu().bool()
    t = missing.shape[0]
    prev, nxt, _ = time_neighbours(~missing)
    index = torch.arange(t)[:, None, None]
    span = nxt - prev
    gap = torch.bucketize(span, torch.tensor(GAP_EDGES), right=False)
    open_ = (prev > index) | (nxt < index) | (span == 0)  # no visible value on one side (or on none)
    gap = torch.where(open_, len(GAP_EDGES) + 1, gap)
    whole = missing.flatten(1).all(dim=1)[:, None, None].expand_as(missing)
    return 2 * gap + whole.long()


N_CLASSES = 2 * (len(GAP_EDGES) + 2)
CONSENSUS = "consensus"  # the name of the fills' per-pixel median among the candidates


def with_consensus(fills: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``fills`` and, as ``CONSENSUS``, their per-pixel median (of an even number of fills, the lower middle
    value), a candidate of its own for ``fit_blend``."""
    dtype = next(iter(fills.values())).dtype
    stack = torch.stack([f.detach().cpu().to(dtype) for f in fills.values()])
    return {**fills, CONSENSUS: stack.median(dim=0).values}


def _values(video: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """The values of ``video (T, 3, H, W)`` at the pixels where ``where (T, H, W)``, ``(n, 3)`` in float64."""
    return video.detach().cpu().double().permute(0, 2, 3, 1)[where]


def _l1_weights(fills: torch.Tensor, truth: torch.Tensor, steps: int = 300) -> torch.Tensor:
    """Convex weights ``w`` (``(m,)``, ``w >= 0``, ``sum w = 1``) minimising ``mean |sum_m w_m fills_m - truth|``
    (``fills (m, n)``, ``truth (n,)``): Adam on a softmax, from equal weights; deterministic."""
    logits = torch.zeros(fills.shape[0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = (torch.softmax(logits, 0) @ fills - truth).abs().mean()
        loss.backward()
        opt.step()
    return torch.softmax(logits.detach(), 0)


def fit_blend(
    probe_fills: dict[str, torch.Tensor], truth: torch.Tensor, held: torch.Tensor, probe: torch.Tensor
) -> dict:
    """Fit each pixel class's convex weights of the fills on the probes.

    Args:
        probe_fills: name -> that fill's video ``(T, 3, H, W)`` made with ``held`` hidden.
        truth: the video ``(T, 3, H, W)`` (its values at the probes are visible ones).
        held: bool ``(T, H, W)``: the mask with the probes hidden too.
        probe: bool ``(T, H, W)``: the probes.

    Returns:
        ``{"names": [...], "weights": (N_CLASSES, m) float64, "probes": (N_CLASSES,) int, "probe_error": name -> mean
        |fill - truth| at the probes (0-255), with "blend": the blend's}``. A class with fewer than ``MIN_PROBES``
        probe pixels gets the weights fitted over all probes.
    """
    names = list(probe_fills)
    y = _values(truth, probe).reshape(-1)
    f = torch.stack([_values(probe_fills[n], probe).reshape(-1) for n in names])
    cls = pixel_classes(held)[probe].repeat_interleave(3)
    overall = _l1_weights(f, y)
    weights = overall.expand(N_CLASSES, -1).clone()
    counts = torch.bincount(cls, minlength=N_CLASSES) // 3
    for c in range(N_CLASSES):
        if counts[c] >= MIN_PROBES:
            weights[c] = _l1_weights(f[:, cls == c], y[cls == c])
    blended = (weights[cls] * f.T).sum(dim=1)
    errors = {n: float((f[i] - y).abs().mean() * 127.5) for i, n in enumerate(names)}
    errors["blend"] = float((blended - y).abs().mean() * 127.5)
    return {"names": names, "weights": weights, "probes": counts, "probe_error": errors}


def apply_blend(fills: dict[str, torch.Tensor], missing: torch.Tensor, blend: dict) -> tuple[torch.Tensor, dict]:
    """Blend the fills made on ``missing`` at its hidden pixels with ``fit_blend``'s weights.

    Returns:
        the video ``(T, 3, H, W)`` (equal to ``fills``' first at visible pixels, which a caller replaces with the
        observed ones) and ``share``: name -> that fill's mean weight over the hidden pixels.
    """
    names = blend["names"]
    stack = torch.stack([fills[n].detach().cpu().double() for n in names])  # (m, T, 3, H, W)
    w = blend["weights"][pixel_classes(missing)]  # (T, H, W, m)
    out = (w.permute(3, 0, 1, 2)[:, :, None] * stack).sum(dim=0)
    hidden = w[missing.cpu().bool()]
    share = {n: float(hidden[:, i].mean()) for i, n in enumerate(names)} if len(hidden) else {}
    return out.to(fills[names[0]].dtype), share
