"""Generated occlusion masks, the paper's kinds, and their command-line specs.

Same convention as :mod:`dyngen.io.masks`: bool ``missing`` ``(T, H, W)``, True = missing.

Generated masks (:func:`missing_frames`, :func:`moving_region`,
:func:`salt_and_pepper`, :func:`box`) reproduce the paper's occlusion types.
On the command line they are written as specs (:func:`parse_mask_spec`)::

    frames:RATIO[:contiguous]            round(RATIO*T) whole frames, random (or one block in the middle)
    region:SIZE                          one SIZE x SIZE square per frame, at a new random position each frame
    blocks:BLOCK[:RATIO]                 each frame tiled into BLOCK x BLOCK blocks, RATIO of them missing (0.6)
    box:TOP,LEFT,HEIGHT,WIDTH[@START-STOP]  a fixed box in frames START..STOP-1 (default: every frame)

For example ``frames:0.5``, ``frames:0.33:contiguous``, ``region:24``,
``blocks:8:0.6``, ``box:10,10,20,20@5-15``.
"""

from __future__ import annotations

import math
import re

import torch

from dyngen.errors import UsageError

SPEC_FORMS = (
    "frames:RATIO[:contiguous]",
    "region:SIZE",
    "blocks:BLOCK[:RATIO]",
    "box:TOP,LEFT,HEIGHT,WIDTH[@START-STOP]",
)


# ----------------------------------------------------------------------------- generating


def _rng(seed: int | None, generator: torch.Generator | None) -> torch.Generator | None:
    if seed is not None and generator is not None:
        raise UsageError("give a seed or a generator, not both")
    if generator is not None:
        return generator
    if seed is not None:
        return torch.Generator().manual_seed(int(seed))
    return None  # torch's global RNG


def _check_dims(t: int, h: int, w: int) -> None:
    if min(t, h, w) < 1:
        raise UsageError(f"a mask needs T, H, W >= 1, got ({t}, {h}, {w})")


def _check_ratio(ratio: float) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise UsageError(f"ratio must be in [0, 1], got {ratio}")


def missing_frames(
    T: int,
    H: int,
    W: int,
    *,
    ratio: float,
    contiguous: bool = False,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Whole frames missing: ``round(ratio * T)`` of them.

    Args:
        T, H, W: the mask's shape.
        ratio: fraction of frames missing, in [0, 1].
        contiguous: one block of frames centred in the video (the reference's
            "middle third" for ``ratio=1/3``) instead of random positions.
        seed, generator: randomness for the random positions.

    Returns:
        bool ``(T, H, W)``.
    """
    _check_dims(T, H, W)
    _check_ratio(ratio)
    n = round(ratio * T)
    hidden = torch.zeros(T, dtype=torch.bool)
    if contiguous:
        start = (T - n) // 2
        hidden[start : start + n] = True
    else:
        hidden[torch.randperm(T, generator=_rng(seed, generator))[:n]] = True
    return hidden[:, None, None].expand(T, H, W).contiguous()


def _boxes(H: int, W: int, tops: torch.Tensor, lefts: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """One box per frame: ``tops``, ``lefts`` ``(T,)`` -> bool ``(T, H, W)``."""
    rows = torch.arange(H)[None, :, None]
    cols = torch.arange(W)[None, None, :]
    top, left = tops[:, None, None], lefts[:, None, None]
    return (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)


def moving_region(
    T: int,
    H: int,
    W: int,
    *,
    size: int,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One ``size x size`` square missing per frame, at a new uniform random position each frame.

    The paper's "single region" occlusion is 60x60 at 150x150 (16% of each
    frame). Consecutive positions always differ where the frame leaves room.

    Returns:
        bool ``(T, H, W)``.
    """
    _check_dims(T, H, W)
    if not 1 <= size <= min(H, W):
        raise UsageError(f"region size must be in 1..{min(H, W)} for {H}x{W} frames, got {size}")
    g = _rng(seed, generator)
    tops = torch.randint(0, H - size + 1, (T,), generator=g)
    lefts = torch.randint(0, W - size + 1, (T,), generator=g)
    if (H - size + 1) * (W - size + 1) > 1:
        for t in range(1, T):  # redraw a position that repeats the previous frame's
            while tops[t] == tops[t - 1] and lefts[t] == lefts[t - 1]:
                tops[t] = torch.randint(0, H - size + 1, (1,), generator=g)[0]
                lefts[t] = torch.randint(0, W - size + 1, (1,), generator=g)[0]
    return _boxes(H, W, tops, lefts, size, size)


def salt_and_pepper(
    T: int,
    H: int,
    W: int,
    *,
    block: int = 16,
    ratio: float = 0.6,
    seed: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Each frame tiled into ``block x block`` blocks; ``round(ratio * blocks)`` of them missing per frame.

    Blocks at the right and bottom edges are cut when ``block`` does not divide
    ``H`` or ``W``, so the missing area can differ a little from ``ratio``.

    Returns:
        bool ``(T, H, W)``.
    """
    _check_dims(T, H, W)
    _check_ratio(ratio)
    if block < 1:
        raise UsageError(f"block must be >= 1, got {block}")
    nh, nw = math.ceil(H / block), math.ceil(W / block)
    k = round(ratio * nh * nw)
    order = torch.rand(T, nh * nw, generator=_rng(seed, generator)).argsort(dim=1)
    blocks = torch.zeros(T, nh * nw, dtype=torch.bool).scatter_(1, order[:, :k], True)
    full = blocks.view(T, nh, nw).repeat_interleave(block, 1).repeat_interleave(block, 2)
    return full[:, :H, :W].contiguous()


def box(
    T: int,
    H: int,
    W: int,
    *,
    top: int,
    left: int,
    height: int,
    width: int,
    frames: range | tuple[int, int] | None = None,
) -> torch.Tensor:
    """A fixed box missing in frames ``frames`` (a range or ``(start, stop)``, stop excluded; default all).

    Returns:
        bool ``(T, H, W)``.
    """
    _check_dims(T, H, W)
    if frames is None:
        start, stop = 0, T
    elif isinstance(frames, range):
        if frames.step != 1:
            raise UsageError(f"box frames must be a range with step 1, got {frames}")
        start, stop = frames.start, frames.stop
    else:
        start, stop = int(frames[0]), int(frames[1])
    if not 0 <= start < stop <= T:
        raise UsageError(f"box frames {start}..{stop - 1} are not inside 0..{T - 1}; need 0 <= start < stop <= T")
    if height < 1 or width < 1 or top < 0 or left < 0 or top + height > H or left + width > W:
        raise UsageError(
            f"box top={top}, left={left}, height={height}, width={width} does not fit in {H}x{W} frames; "
            "need top >= 0, left >= 0, height, width >= 1, top + height <= H, left + width <= W"
        )
    missing = torch.zeros(T, H, W, dtype=torch.bool)
    missing[start:stop, top : top + height, left : left + width] = True
    return missing


# ----------------------------------------------------------------------------- specs

_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_SPEC_RES = {
    "frames": re.compile(rf"frames:{_NUM}(:contiguous)?"),
    "region": re.compile(r"region:(\d+)"),
    "blocks": re.compile(rf"blocks:(\d+)(?::{_NUM})?"),
    "box": re.compile(r"box:(\d+),(\d+),(\d+),(\d+)(?:@(\d+)-(\d+))?"),
}


def is_mask_spec(text: str) -> bool:
    """Whether ``text`` starts like a generated-mask spec (``frames:``, ``region:``, ``blocks:``, ``box:``)."""
    return text.split(":", 1)[0] in _SPEC_RES and ":" in text


def parse_mask_spec(
    spec: str,
    T: int,
    H: int,
    W: int,
    seed: int | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Build a generated mask from a spec string (grammar in the module docstring).

    Args:
        spec: e.g. ``frames:0.5``, ``frames:0.33:contiguous``, ``region:24``,
            ``blocks:8:0.6``, ``box:10,10,20,20@5-15``.
        T, H, W: the mask's shape.
        seed, generator: randomness for the random kinds.

    Returns:
        bool ``(T, H, W)``.

    Raises:
        UsageError: the spec is not one of the allowed forms, or its values are out of range.
    """
    text = spec.strip().lower()
    kind = text.split(":", 1)[0]
    m = _SPEC_RES[kind].fullmatch(text) if kind in _SPEC_RES else None
    if m is None:
        raise UsageError(f"mask spec {spec!r} is not understood; allowed forms: {', '.join(SPEC_FORMS)}")
    g = _rng(seed, generator)
    if kind == "frames":
        return missing_frames(T, H, W, ratio=float(m[1]), contiguous=m[2] is not None, generator=g)
    if kind == "region":
        return moving_region(T, H, W, size=int(m[1]), generator=g)
    if kind == "blocks":
        ratio = 0.6 if m[2] is None else float(m[2])
        return salt_and_pepper(T, H, W, block=int(m[1]), ratio=ratio, generator=g)
    frames = None if m[5] is None else (int(m[5]), int(m[6]))
    return box(T, H, W, top=int(m[1]), left=int(m[2]), height=int(m[3]), width=int(m[4]), frames=frames)
