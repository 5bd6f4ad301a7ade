"""Seamless loops: N frames whose last frame flows into the first, for any emission.

A synthesis of N frames ends wherever its chain has wandered, so a player that repeats it jumps at the seam.
``synthesize_loop`` makes a chain that returns to its start, working on the states only (the emission is only
asked to render, through ``DynamicGenerator.render``):

1. **Search**: roll the transition from s_0 with fresh innovations for ``search`` x N steps and take the start t0
   whose state comes back nearest N steps later: ``argmin_t0 |s_{t0+N} - s_t0|``.
2. **Bridge**: change that stretch's innovations xi_{t0+1..t0+N} as little as needed for the chain to return to
   its start, ``s_{t0+N} = s_t0``: L-BFGS on ``|s_{t0+N}(z) - s_t0|^2`` over the standardised innovations z
   (``xi = mean + L z``, ``Innovations.transform``), started from the drawn z. A descent from the draw stays in
   the span of the gradients around it, so it ends near the nearest solution: the stretch keeps the motion
   that was drawn, spread over all N steps rather than squeezed into the last ones.
3. **Render** s_{t0+1..t0+N}. As s_{t0+N} = s_t0, the step from the last frame to the first is the step from
   x_t0 to x_{t0+1} of the chain itself: played in a loop, the frames form a cycle with no jump. An emission that
   reads the previous frame (``uses_previous``) renders the stretch again with what its last frame carries on as
   the frame before the first (``PASSES`` times), so the step from the last frame to the first is one it makes
   itself (with ``warp_input="first"`` the carry is the first frame itself: the loop closes at once).
   That closes the frames where the emission forgets its past (a fixed point of rendering in a circle); one
   that carries the previous frame on and adds to it (the warping emission, ``x_t = W(x_{t-1}, d_t) + r_t``)
   can keep changing round after round, and such a loop is reported open (``frame_gap``).
4. **Cut** the closed cycle after its smallest step: the file starts there (a rotation of the N frames; played
   in a loop, it is the same video). The closing step is a step of the chain like any other, as likely as any
   to be one of its largest; the cut puts the file's seam, which a player that stops at the end or a viewer of
   the first and last frames sees, at its stillest moment. A loop left open (a state or frame gap above
   ``OPEN``) is not cut, so its jump stays at the seam, where it is measured and warned about, not inside.

The returned gaps, ``|s_{t0+N} - s_t0|`` over the chain's median one-step change ``|s_t - s_{t-1}|``, say how
closed each loop is (0 is closed; 1 is a jump as large as a typical frame's step). The seam is measured on the
frames by ``dyngen.evaluation.loops.loop_seam``; the figures on the texture clips are in docs/loops.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from dyngen.algorithms.synthesis import initial_latents, render_chunked, standard_normal
from dyngen.errors import UsageError
from dyngen.models.dynamic_generator import DynamicGenerator
from dyngen.models.innovations import Innovations
from dyngen.models.transition import Transition
from dyngen.resources import check_synthesis_memory

log = logging.getLogger(__name__)
SEARCH = 8  # candidate chain length, in loop lengths
BRIDGE_STEPS = 100  # L-BFGS iterations of the bridge
TOLERANCE = 1e-3  # a loop is closed when its gap is below this share of a typical step
OPEN = 0.5  # a loop whose gap stays above this share of a typical step is warned about
PASSES = 3  # renders of a loop by an emission that reads the previous frame


@dataclass
class Loop:
    """Looping videos and how closed they are.

    Attributes:
        frames: ``(B, N, 3, H, W)`` in [-1, 1]; frame N-1 is followed by frame 0.
        states: ``(B, N, d)`` the states s_{t0+1..t0+N} they render (the last one is s_t0 again).
        start: ``(B,)`` the start t0 picked in the candidate chain.
        searched_gap: ``(B,)`` ``|s_{t0+N} - s_t0|`` of the chain as drawn, over its median one-step change.
        gap: ``(B,)`` the same after the bridge.
        shift: ``(B,)`` the cut: frame k of the file is frame (k + shift) mod N of the rendered cycle.
        frame_gap: ``(B,)`` for an emission that reads the previous frame, how much its last render of the cycle
            still changed the frames (mean, over the median step): 0 is a fixed point, the frames close as the
            states do; 0 for other emissions.
    """

    frames: torch.Tensor
    states: torch.Tensor
    start: torch.Tensor
    searched_gap: torch.Tensor
    gap: torch.Tensor
    shift: torch.Tensor
    frame_gap: torch.Tensor


def cyclic_steps(video: torch.Tensor) -> torch.Tensor:
    """``(B, N, 3, H, W) -> (B, N)``: mean ``|x_{k+1} - x_k|`` of frames played in a loop (the last, to frame 0)."""
    return (video.roll(-1, dims=1) - video).abs().mean(dim=(2, 3, 4))


def best_start(states: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The start of the stretch of ``length`` steps that comes back nearest to where it began.

    Args:
        states: ``(B, L + 1, d)``, s_0..s_L of a chain.
        length: N, the loop's length (1 <= N <= L).

    Returns:
        ``t0 (B,)`` minimising ``|s_{t0+N} - s_t0|``, and that distance ``(B,)``.
    """
    gaps = (states[:, length:] - states[:, :-length]).norm(dim=-1)  # (B, L + 1 - N): gaps[:, t] = |s_{t+N} - s_t|
    gap, t0 = gaps.min(dim=1)
    return t0, gap


def bridge(
    transition: Transition,
    start: torch.Tensor,
    z: torch.Tensor,
    innovations: Innovations,
    *,
    scale: float = 1.0,
    steps: int = BRIDGE_STEPS,
    tolerance: float = 0.0,
) -> torch.Tensor:
    """Standardised innovations near ``z`` whose chain returns to its start: ``s_N(z') = s_0``.

    Args:
        transition: F, frozen (only z changes).
        start: ``(B, d)`` the state s_0 the chain starts from and must return to.
        z: ``(B, N, k)`` the drawn standardised innovations (``xi = innovations.transform(z, scale)``).
        innovations: the distribution the innovations come from.
        scale: the noise scale.
        steps: L-BFGS iterations at most.
        tolerance: stop once every ``|s_N - s_0|`` is below this.

    Returns:
        ``(B, N, k)`` the bridged z.
    """
    return torch.cat([_bridge_one(transition, start[b : b + 1], z[b : b + 1], innovations, scale=scale, steps=steps,
                                  tolerance=tolerance) for b in range(len(z))])  # fmt: skip


def _bridge_one(
    transition: Transition, start: torch.Tensor, z: torch.Tensor, innovations: Innovations, *, scale: float,
    steps: int, tolerance: float,
) -> torch.Tensor:  # fmt: skip
    """``bridge`` of one chain (each has its own L-BFGS: one chain's line search does not hold another back)."""
    z = z.detach().clone().requires_grad_(True)
    if steps < 1:
        return z.detach()
    opt = torch.optim.LBFGS([z], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-12, tolerance_change=1e-14)  # fmt: skip

    def gap() -> torch.Tensor:
        end = transition.rollout(start, innovations.transform(z, scale=scale))[:, -1]
        return (end - start).square().sum()

    def closure() -> torch.Tensor:
        loss = gap()
        (z.grad,) = torch.autograd.grad(loss, z)
        return loss

    with torch.enable_grad():
        if gap().sqrt() > tolerance:
            opt.step(closure)
    return z.detach()


@torch.no_grad()
def synthesize_loop(
    model: DynamicGenerator,
    *,
    frames: int,
    num: int = 1,
    s0: torch.Tensor | None = None,
    appearance: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    noise_scale: float = 1.0,
    innovations: Innovations | None = None,
    search: int = SEARCH,
    steps: int = BRIDGE_STEPS,
) -> Loop:
    """Synthesize ``num`` looping videos of ``frames`` frames (module docstring).

    Args:
        model: a trained dynamic generator (put in eval mode here, and restored).
        frames: N, the loop's length (>= 2).
        num: number of loops B.
        s0: ``(B, d)`` or ``(d,)`` the candidate chain's initial state; None draws it from N(0, I).
        appearance: ``(B, c)`` or ``(c,)``; None draws from N(0, I) when the model has appearance.
        generator: the source of every random draw; the same seed gives the same loops.
        noise_scale: multiplies the innovations' deviation from their mean.
        innovations: their distribution (``Trained.innovations``); None is the prior N(0, I).
        search: the candidate chain's length in loop lengths (>= 1).
        steps: the bridge's L-BFGS iterations at most.

    Returns:
        The loops, with their starts and gaps (``Loop``).
    """
    if frames < 2:
        raise UsageError(f"a loop needs at least 2 frames, got {frames}")
    if search < 1:
        raise UsageError(f"search must be >= 1 loop length, got {search}")
    device = next(model.parameters()).device
    cfg = model.config
    check_synthesis_memory(num, frames, (3, cfg.height, cfg.width))
    innovations = innovations or Innovations.prior(cfg.noise_dim)
    s0, a = initial_latents(model, num, s0=s0, appearance=appearance, generator=generator)
    was_training = model.training
    model.eval()
    try:
        z = standard_normal(generator, num, search * frames, cfg.noise_dim, device=device)
        chain = model.transition.rollout(s0, innovations.transform(z, scale=noise_scale))
        chain = torch.cat([s0[:, None], chain], dim=1)  # (B, L + 1, d): s_0..s_L
        step = (chain[:, 1:] - chain[:, :-1]).norm(dim=-1).median(dim=1).values.clamp(min=1e-12)  # (B,)
        t0, searched = best_start(chain, frames)
        rows = torch.arange(num, device=device)
        start = chain[rows, t0]  # (B, d)
        segment = z[rows[:, None], t0[:, None] + torch.arange(frames, device=device)]  # xi_{t0+1..t0+N}: (B, N, k)
        segment = bridge(model.transition, start, segment, innovations, scale=noise_scale, steps=steps,
                         tolerance=TOLERANCE * float(step.min()))  # fmt: skip
        states = model.transition.rollout(start, innovations.transform(segment, scale=noise_scale))
        gap = (states[:, -1] - start).norm(dim=-1) / step
        video, previous = render_chunked(model, states, a, carry=True)
        drift = torch.zeros(num, device=device)
        for _ in range(PASSES if model.generator.uses_previous else 0):
            before, (video, previous) = video, render_chunked(model, states, a, previous, carry=True)
            drift = (video - before).abs().mean(dim=(1, 2, 3, 4))
        frame_gap = drift / cyclic_steps(video).median(dim=1).values.clamp(min=1e-12)
        closed = (gap <= OPEN) & (frame_gap <= OPEN)
        shift = torch.where(closed, (cyclic_steps(video).argmin(dim=1) + 1) % frames, 0)
        video = torch.stack([v.roll(-int(k), dims=0) for v, k in zip(video, shift)])
        states = torch.stack([v.roll(-int(k), dims=0) for v, k in zip(states, shift)])
        log.info("loops of %d frames: gaps %s before the bridge, %s after (in typical steps)", frames,
                 _fmt(searched / step), _fmt(gap))  # fmt: skip
        if (gap > OPEN).any():
            log.warning("%d of %d loops stay open by more than %g of a typical step (gaps %s): the transition "
                        "cannot bring the chain back to its start; their seam may show", int((gap > OPEN).sum()),
                        num, OPEN, _fmt(gap))  # fmt: skip
        if (frame_gap > OPEN).any():
            log.warning("%d of %d loops: the states return to their start but the frames do not (they change by %s "
                        "typical steps per round): this emission carries the previous frame on without forgetting "
                        "it; their seam may show", int((frame_gap > OPEN).sum()), num, _fmt(frame_gap))  # fmt: skip
        return Loop(video, states, t0, searched / step, gap, shift, frame_gap)
    finally:
        model.train(was_training)


def _fmt(x: torch.Tensor) -> str:
    return ", ".join(f"{v:.3g}" for v in x.tolist())
