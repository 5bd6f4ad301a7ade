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

Generated masks (the paper's occlusion kinds) and their command-line specs live in
:mod:`dyngen.io.mask_patterns`; they are re-exported here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dyngen.errors import MaskError
from dyngen.io.atomic import atomic_path, make_folder
from dyngen.io.decode import load_npy
from dyngen.io.mask_patterns import (  # noqa: F401 - re-exported
    SPEC_FORMS,
    box,
    is_mask_spec,
    missing_frames,
    moving_region,
    parse_mask_spec,
    salt_and_pepper,
)
from dyngen.io.resize import aspect_differs, crop_box
from dyngen.io.video import IMAGE_EXTS, read_video, write_video

log = logging.getLogger(__name__)


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
    return _from_array(np.asarray(load_npy(path, error=MaskError, mmap=False)), str(path))


def _load_frames(path: Path) -> torch.Tensor:
    frames = read_video(path)  # uint8 (T, H, W, 3)
    gray = frames.astype(np.float32).mean(axis=-1)
    return torch.from_numpy(gray > 127)


def load_mask(
    path: str | os.PathLike,
    *,
    frames: int | None = None,
    size: int | tuple[int, int] | None = None,
    start: int | None = None,
    source_size: tuple[int, int] | None = None,
    crop: str = "none",
) -> torch.Tensor:
    """Read a mask file as bool ``missing`` ``(T, H, W)`` (True = missing).

    Args:
        path: a reference ``.mat``, a ``.npy``, a mask video, a folder of PNGs or one image.
        frames: the video's frame count; ``None`` keeps the mask's. A one-frame
            mask is repeated over all frames.
        size: the video's ``(H, W)`` (or ``S`` for ``S x S``); ``None`` keeps the
            mask's. See :func:`fit_mask` for the resizing rules.
        start: the video's first frame in its source: a mask with more frames than ``frames`` is cut like the
            video, to its frames ``start .. start + frames - 1`` (None: never cut).
        source_size: the ``(H, W)`` of the video's source frames, and ``crop`` the way they were brought to ``size``
            (:data:`dyngen.io.video.CROPS`): a mask drawn on the source frames is cut and resized as they were.

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
    if start is not None and start + t <= missing.shape[0] and t < missing.shape[0]:
        log.info("%s: the mask's frames %d..%d are used, as the video's", p, start, start + t - 1)
        missing = missing[start : start + t]
    hw = tuple(missing.shape[1:]) if size is None else size
    try:
        return fit_mask(missing, t, hw, source_size=source_size, crop=crop)
    except MaskError as e:
        raise MaskError(f"{p}: {e}") from None


# ----------------------------------------------------------------------------- fitting


def fit_mask(
    missing: torch.Tensor,
    frames: int,
    size: int | tuple[int, int],
    *,
    source_size: tuple[int, int] | None = None,
    crop: str = "none",
) -> torch.Tensor:
    """Fit a mask to a video of ``frames`` frames of ``size``.

    Rules:

    - a one-frame mask is repeated over all ``frames``; any other difference in
      frame count is an error (no silent cropping or padding);
    - a mask of another spatial size is resized with nearest-neighbour sampling
      when its aspect ratio matches the video's within 1%;
    - a mask with the aspect ratio of the video's source frames (``source_size``) is cut by ``crop`` as they were, then
      resized; any other aspect ratio is an error.

    Args:
        missing: bool ``(T', H', W')``.
        frames: the video's frame count ``T``.
        size: the video's ``(H, W)``, or ``S`` for ``S x S``.
        source_size: the ``(H, W)`` of the video's frames before they were brought to ``size`` (None: unknown).
        crop: how they were (:data:`dyngen.io.video.CROPS`).

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
    as_source = source_size is not None and not aspect_differs(h0 / w0, source_size[0] / source_size[1])
    if as_source and aspect_differs(h0 / w0, h / w):  # drawn on the source frames: cut (or stretched) as they were
        top, left, h0, w0 = crop_box((h0, w0), (h, w), crop)
        missing = missing[:, top : top + h0, left : left + w0]
    if (h0, w0) != (h, w):
        if aspect_differs(h0 / w0, h / w) and not as_source:
            raise MaskError(
                f"the mask's frames are {h0}x{w0} (shape {tuple(missing.shape)}) but the video's are {h}x{w} "
                f"(shape {want}), a different aspect ratio; resize the mask or read the video at {h0}x{w0}"
            )
        missing = F.interpolate(missing[:, None].float(), size=(h, w), mode="nearest-exact")[:, 0] > 0.5
    if t0 != frames:
        missing = missing.expand(frames, h, w)
    return missing.contiguous()


def resolve_mask(
    source: str | os.PathLike,
    *,
    frames: int,
    size: int | tuple[int, int],
    seed: int | None = None,
    start: int | None = None,
    source_size: tuple[int, int] | None = None,
    crop: str = "none",
) -> torch.Tensor:
    """The ``--mask PATH_OR_SPEC`` option: an existing file is read, a spec is generated.

    Args:
        source: a mask path (see :func:`load_mask`) or a spec (see :func:`parse_mask_spec`).
        frames: the video's frame count ``T``.
        size: the video's ``(H, W)``, or ``S`` for ``S x S``.
        seed: randomness for generated masks.
        start: the video's first frame, to cut a longer mask file alike (:func:`load_mask`).
        source_size, crop: the video's source frame size and crop, to cut a mask file drawn on them alike.

    Returns:
        bool ``(T, H, W)``.
    """
    text = str(source)
    if not text.strip():
        raise MaskError("--mask is empty; give a mask file (.mat, .npy, video, PNG folder, image) or a spec: "
                        f"{', '.join(SPEC_FORMS)}")  # fmt: skip
    if Path(source).exists():
        return load_mask(source, frames=frames, size=size, start=start, source_size=source_size, crop=crop)
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
    if ext in IMAGE_EXTS and m.shape[0] != 1:
        raise MaskError(f"{p}: an image holds one frame, the mask has {m.shape[0]}; use .npy, .mat or .mp4")
    if ext not in (".mat", ".npy") and ext not in IMAGE_EXTS:
        write_video(p, np.repeat(m[..., None], 3, axis=-1).astype(np.uint8) * 255)
        return p
    make_folder(p.parent, error=MaskError)
    with atomic_path(p, what="mask", suffix=ext, error=MaskError) as tmp:
        if ext == ".mat":
            import scipy.io

            layout = np.repeat(np.moveaxis(m, 0, 2)[..., None], 3, axis=-1).astype(np.uint8)
            scipy.io.savemat(str(tmp), {"masks": layout}, do_compression=True)
        elif ext == ".npy":
            np.save(tmp, m)
        else:
            from PIL import Image

            Image.fromarray(m[0].astype(np.uint8) * 255).save(tmp)
    return p


def observed_weights(missing: torch.Tensor | None) -> torch.Tensor | None:
    """``missing (N, T, H, W)`` bool -> ``observed (N, T, 1, H, W)`` float weights."""
    return None if missing is None else (~missing).float()[:, :, None]


def occluded_view(video: np.ndarray, missing: torch.Tensor) -> np.ndarray:
    """uint8 ``(T, H, W, 3)``: the video as a model of incomplete data sees it, the hidden pixels painted black."""
    out = video.copy()
    out[missing.numpy().astype(bool)] = 0
    return out
