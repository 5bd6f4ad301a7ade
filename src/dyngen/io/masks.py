"""Occlusion masks: reading, fitting to a video, generating and writing them.

**One convention everywhere**: a mask is a bool tensor ``missing`` of shape
``(T, H, W)``, where ``True`` means the pixel is missing (occluded, or to be
removed) and ``False`` means it is observed. This is the reference ``.mat``
convention (``1`` = occluded); every colour channel of a pixel shares its flag.

Readable sources (:func:`load_mask`), chosen by the path:

- the reference ``.mat`` file: key ``masks``, ``(H, W, T, 3)`` (also ``(H, W, T)``
  or ``(H, W)``), values 0/1; a pixel is missing where any channel is set;
- ``.npy``: bool, integer or float, of shape ``(T, H, W)``, ``(T, H, W, 3)`` or
  ``(H, W)`` (one frame);
- a mask video (``.mp4``, ``.gif``, ...), a folder of PNG frames or one image,
  read with :func:`dyngen.io.video.read_video`.

Numeric values are thresholded the same way for every source: arrays whose
maximum is at most 1 are flags (missing where ``> 0.5``), others are gray
levels 0..255 (missing where ``> 127``; for images, the mean of R, G and B).

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

import logging
import math
import os
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dyngen.errors import MaskError, UsageError
from dyngen.io.video import IMAGE_EXTS, read_video, write_video

log = logging.getLogger(__name__)

SPEC_FORMS = (
    "frames:RATIO[:contiguous]",
    "region:SIZE",
    "blocks:BLOCK[:RATIO]",
    "box:TOP,LEFT,HEIGHT,WIDTH[@START-STOP]",
)
ASPECT_TOLERANCE = 0.01


# ----------------------------------------------------------------------------- reading


def _threshold(a: np.ndarray, source: str) -> np.ndarray:
    """Numeric or bool array -> bool, with the module's threshold rule."""
    if a.dtype == np.bool_:
        return a
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise MaskError(f"{source}: mask values of dtype {a.dtype} are not numbers; use bool, uint8 or float")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise MaskError(f"{source}: the mask holds NaN or infinite values; use 0/1 values")
    return a > 0.5 if a.max(initial=0) <= 1 else a > 127


def _from_array(a: np.ndarray, source: str) -> torch.Tensor:
    """``(H, W)``, ``(T, H, W)`` or ``(T, H, W, C)`` -> bool ``(T, H, W)``."""
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 4 and a.shape[-1] in (1, 3, 4):
        a = _threshold(a[..., :3], source).any(axis=-1)
    elif a.ndim == 3:
        a = _threshold(a, source)
    else:
        raise MaskError(
            f"{source}: mask of shape {tuple(a.shape)} is not understood; expected (T, H, W), (T, H, W, 3) "
            "or (H, W) for one frame"
        )
    if 0 in a.shape:
        raise MaskError(f"{source}: the mask is empty (shape {tuple(a.shape)})")
    return torch.from_numpy(np.ascontiguousarray(a))


def _load_mat(path: Path) -> torch.Tensor:
    import scipy.io

    try:
        data = scipy.io.loadmat(str(path))
    except NotImplementedError:
        raise MaskError(
            f"{path}: MATLAB v7.3 (HDF5) files are not supported; save it with save(..., '-v7') or as .npy"
        ) from None
    except (ValueError, OSError, TypeError) as e:
        raise MaskError(f"{path}: cannot read as a .mat file ({e})") from None
    if "masks" not in data:
        keys = sorted(k for k in data if not k.startswith("__"))
        raise MaskError(f"{path}: no variable 'masks' in the .mat file (it holds {keys}); store the mask as 'masks'")
    m = np.asarray(data["masks"])
    if m.ndim in (3, 4):  # (H, W, T[, C]) -> (T, H, W[, C])
        m = np.moveaxis(m, 2, 0)
    elif m.ndim != 2:
        raise MaskError(
            f"{path}: 'masks' has shape {tuple(m.shape)}; expected (H, W, T, 3) as in the reference files, "
            "(H, W, T) or (H, W)"
        )
    if m.ndim == 4 and m.shape[-1] not in (1, 3, 4):
        raise MaskError(f"{path}: 'masks' has shape (H, W, T, C) = {tuple(data['masks'].shape)}; C must be 1 or 3")
    return _from_array(m, str(path))


def _load_npy(path: Path) -> torch.Tensor:
    try:
        a = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise MaskError(f"{path}: cannot read as a .npy array ({e})") from None
    return _from_array(a, str(path))


def _load_frames(path: Path) -> torch.Tensor:
    frames = read_video(path)  # uint8 (T, H, W, 3)
    gray = frames.astype(np.float32).mean(axis=-1)
    return torch.from_numpy(gray > 127)


def load_mask(
    path: str | os.PathLike,
    *,
    frames: int | None = None,
    size: int | tuple[int, int] | None = None,
) -> torch.Tensor:
    """Read a mask file as bool ``missing`` ``(T, H, W)`` (True = missing).

    Args:
        path: a reference ``.mat``, a ``.npy``, a mask video, a folder of PNGs or one image.
        frames: the video's frame count; ``None`` keeps the mask's. A one-frame
            mask is repeated over all frames.
        size: the video's ``(H, W)`` (or ``S`` for ``S x S``); ``None`` keeps the
            mask's. See :func:`fit_mask` for the resizing rules.

    Returns:
        bool tensor ``(T, H, W)``.

    Raises:
        MaskError: the file cannot be read as a mask, or does not fit ``frames``/``size``.
        VideoError: a mask video or image that cannot be decoded.
    """
    p = Path(path)
    if not p.exists():
        raise MaskError(f"{p}: no such mask file or folder")
    ext = p.suffix.lower()
    if ext == ".mat":
        missing = _load_mat(p)
    elif ext == ".npy":
        missing = _load_npy(p)
    else:
        missing = _load_frames(p)
    log.debug("read mask %s: %s, %.1f%% missing", p, tuple(missing.shape), 100 * missing.float().mean().item())
    if frames is None and size is None:
        return missing
    t = missing.shape[0] if frames is None else frames
    hw = tuple(missing.shape[1:]) if size is None else size
    try:
        return fit_mask(missing, t, hw)
    except MaskError as e:
        raise MaskError(f"{p}: {e}") from None


# ----------------------------------------------------------------------------- fitting


def fit_mask(missing: torch.Tensor, frames: int, size: int | tuple[int, int]) -> torch.Tensor:
    """Fit a mask to a video of ``frames`` frames of ``size``.

    Rules:

    - a one-frame mask is repeated over all ``frames``; any other difference in
      frame count is an error (no silent cropping or padding);
    - a mask of another spatial size is resized with nearest-neighbour sampling
      when its aspect ratio matches the video's within 1%; otherwise it is an error.

    Args:
        missing: bool ``(T', H', W')``.
        frames: the video's frame count ``T``.
        size: the video's ``(H, W)``, or ``S`` for ``S x S``.

    Returns:
        bool ``(T, H, W)``.

    Raises:
        MaskError: the frame counts differ or the aspect ratios do not match;
            the message gives both shapes.
    """
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if missing.ndim != 3:
        raise MaskError(f"a mask must have shape (T, H, W), got {tuple(missing.shape)}")
    missing = missing.bool()
    t0, h0, w0 = missing.shape
    want = (frames, h, w)
    if t0 != frames and t0 != 1:
        raise MaskError(
            f"the mask has {t0} frames (shape {tuple(missing.shape)}) but the video has {frames} "
            f"(shape {want}); make a mask with {frames} frames or read that many video frames"
        )
    if (h0, w0) != (h, w):
        if abs((h0 / w0) / (h / w) - 1) > ASPECT_TOLERANCE:
            raise MaskError(
                f"the mask's frames are {h0}x{w0} (shape {tuple(missing.shape)}) but the video's are {h}x{w} "
                f"(shape {want}), a different aspect ratio; resize the mask or read the video at {h0}x{w0}"
            )
        missing = F.interpolate(missing[:, None].float(), size=(h, w), mode="nearest-exact")[:, 0] > 0.5
    if t0 != frames:
        missing = missing.expand(frames, h, w)
    return missing.contiguous()


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


def resolve_mask(
    source: str | os.PathLike,
    *,
    frames: int,
    size: int | tuple[int, int],
    seed: int | None = None,
) -> torch.Tensor:
    """The ``--mask PATH_OR_SPEC`` option: an existing file is read, a spec is generated.

    Args:
        source: a mask path (see :func:`load_mask`) or a spec (see :func:`parse_mask_spec`).
        frames: the video's frame count ``T``.
        size: the video's ``(H, W)``, or ``S`` for ``S x S``.
        seed: randomness for generated masks.

    Returns:
        bool ``(T, H, W)``.
    """
    if Path(source).exists():
        return load_mask(source, frames=frames, size=size)
    text = str(source)
    if is_mask_spec(text):
        h, w = (size, size) if isinstance(size, int) else size
        return parse_mask_spec(text, frames, h, w, seed)
    raise MaskError(
        f"{text}: no such mask file, and not a mask spec; give a path (.mat, .npy, video, PNG folder, image) "
        f"or one of {', '.join(SPEC_FORMS)}"
    )


# ----------------------------------------------------------------------------- writing


def save_mask(path: str | os.PathLike, missing: torch.Tensor) -> Path:
    """Write bool ``missing`` ``(T, H, W)``; the format follows the extension.

    ``.mat`` gets the reference layout (key ``masks``, uint8 ``(H, W, T, 3)``,
    1 = missing); ``.npy`` a bool ``(T, H, W)`` array; an image extension
    (one-frame masks only) a black/white image; ``.mp4``, ``.gif`` or a folder
    path a black/white video (white = missing) via :func:`dyngen.io.video.write_video`.
    """
    p = Path(path)
    if missing.ndim != 3:
        raise MaskError(f"save_mask expects a (T, H, W) mask, got shape {tuple(missing.shape)}")
    m = missing.detach().bool().cpu().numpy()
    ext = p.suffix.lower()
    if ext in (".mat", ".npy") or ext in IMAGE_EXTS:
        p.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".mat":
        import scipy.io

        layout = np.repeat(np.moveaxis(m, 0, 2)[..., None], 3, axis=-1).astype(np.uint8)
        scipy.io.savemat(str(p), {"masks": layout}, do_compression=True)
    elif ext == ".npy":
        np.save(p, m)
    elif ext in IMAGE_EXTS:
        if m.shape[0] != 1:
            raise MaskError(f"{p}: an image holds one frame, the mask has {m.shape[0]}; use .npy, .mat or .mp4")
        from PIL import Image

        Image.fromarray(m[0].astype(np.uint8) * 255).save(p)
    else:
        write_video(p, np.repeat(m[..., None], 3, axis=-1).astype(np.uint8) * 255)
    return p
