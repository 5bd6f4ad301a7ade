"""Reading and writing videos at the I/O boundary.

Inside dyngen a video is a float tensor ``(T, 3, H, W)`` in [-1, 1]. On disk
and in this module it is a uint8 array ``(T, H, W, 3)``. The conversion
between the two is one fixed affine map, ``x = u / 127.5 - 1``, applied to the
whole video, so brightness changes over time are preserved (the reference
code min-max normalised every frame on its own; see PAPER.md section 4).

Readable sources, chosen by the path:

- video files decoded by PyAV (its wheel bundles FFmpeg): ``.mp4 .avi .mov
  .mkv .webm .gif`` and anything else FFmpeg can demux; variable frame rates
  are resampled by timestamp; a truncated file gives the frames before the cut;
- a folder of ``.png``/``.jpg``/``.jpeg``/``.bmp``/``.tif``/``.webp`` frames, in
  natural order (``frame2`` before ``frame10``);
- a single image (one frame);
- ``.npy`` arrays of shape ``(T, H, W, 3)``, ``(T, H, W)`` or ``(H, W, 3)``,
  uint8 or float in [0, 1] (or [0, 255] for floats above 1), read memory-mapped.

Gray is repeated to RGB, an alpha channel is dropped (the colour as stored),
16-bit values are scaled to 8 bits; NaN or infinity in an array is an error.
Frames are resized one by one as they are read, so a huge source costs one
frame of memory. Anything a decoder cannot read raises ``VideoError`` (see
``dyngen.io.decode`` and docs/robustness.md).

Writable formats, chosen by the extension: ``.mp4`` (H.264), ``.gif``,
``.npy`` (uint8 ``(T, H, W, 3)``) and a folder of PNGs (a path without an
extension, or ending in ``/``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dyngen.errors import UsageError, VideoError
from dyngen.io.atomic import atomic_path, check_writable, make_folder
from dyngen.io.decode import IMAGE_EXTS, decode_video, read_folder, read_image, read_npy, too_few
from dyngen.io.resize import CROPS, Resizer, Size, check_crop, crop_box, hw_of, resize  # noqa: F401 - re-exported

log = logging.getLogger(__name__)
VIDEO_WRITE_EXTS = (".mp4", ".gif", ".webp", ".npy")
SCALE_FILTERS = ("nearest", "bicubic")  # how --scale enlarges the frames of .mp4, .gif and PNG outputs


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> float32 ``(T, 3, H, W)`` in [-1, 1], contiguous (``as_frames``'s map)."""
    return as_frames(frames, ndim=4).contiguous()


def as_frames(video: np.ndarray | torch.Tensor, *, ndim: int) -> torch.Tensor:
    """Frames in the library's layout: uint8 ``(..., H, W, 3)`` (array or tensor) is converted by ``to_tensor``'s
    map, a float tensor ``(..., 3, H, W)`` in [-1, 1] is taken as it is (as float32).

    Args:
        video: the frames.
        ndim: the number of dimensions the result must have (4 for ``(T, 3, H, W)``, 5 for ``(B, T, 3, H, W)``).
            uint8 input with one dimension fewer gets a leading dimension of 1 (one video, one still).

    Raises:
        UsageError: another shape or dtype, naming what is accepted.
    """
    if isinstance(video, np.ndarray) or video.dtype == torch.uint8:
        u = torch.as_tensor(np.asarray(video))
        if u.dtype != torch.uint8 or u.ndim not in (ndim - 1, ndim) or u.shape[-1] != 3:
            want = " or ".join(f"({', '.join(['B', 'T', 'H', 'W', '3'][5 - n :])})" for n in (ndim - 1, ndim))
            raise UsageError(f"uint8 frames must be {want}, got {u.dtype} {tuple(u.shape)}")
        u = u[None] if u.ndim == ndim - 1 else u
        return u.movedim(-1, -3).float().div(127.5).sub(1.0)
    if video.ndim != ndim or video.shape[-3] != 3 or not video.is_floating_point():
        shape = ", ".join(["B", "T", "3", "H", "W"][5 - ndim :])
        raise UsageError(f"float frames must be ({shape}) in [-1, 1], got {video.dtype} {tuple(video.shape)}")
    return video.float()


def as_uint8_videos(videos: np.ndarray | torch.Tensor) -> np.ndarray:
    """Videos as uint8 ``(N, T, H, W, 3)``, what a run stores: uint8 ``(T, H, W, 3)`` (one video) or
    ``(N, T, H, W, 3)`` as they are, float ``(T, 3, H, W)`` or ``(N, T, 3, H, W)`` in [-1, 1] by ``to_uint8``."""
    if isinstance(videos, np.ndarray) or videos.dtype == torch.uint8:
        u = np.asarray(videos)
        if u.dtype != np.uint8 or u.ndim not in (4, 5) or u.shape[-1] != 3:
            raise UsageError(f"uint8 videos must be (T, H, W, 3) or (N, T, H, W, 3), got {u.dtype} {u.shape}")
        return u[None] if u.ndim == 4 else u
    if videos.ndim not in (4, 5) or videos.shape[-3] != 3 or not videos.is_floating_point():
        raise UsageError(f"float videos must be (T, 3, H, W) or (N, T, 3, H, W), got {tuple(videos.shape)}")
    u = to_uint8(videos)
    return u[None] if u.ndim == 4 else u


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """float ``(..., T, 3, H, W)`` in [-1, 1] -> uint8 ``(..., T, H, W, 3)``."""
    x = frames.detach().to("cpu", torch.float32, copy=True).clamp_(-1, 1).add_(1).mul_(127.5).round_()  # one copy
    return x.to(torch.uint8).movedim(-3, -1).numpy()


def read_video(
    path: str | os.PathLike,
    *,
    size: Size = None,
    frames: int | None = None,
    start: int = 0,
    fps: float | None = None,
    crop: str = "none",
) -> np.ndarray:
    """Read a video as uint8 ``(T, H, W, 3)``.

    Memory stays near the size of the output: frames are resized as they are decoded,
    only the frames used are read from a folder or ``.npy``, and decoding stops once
    enough frames are in.

    Args:
        path: a video file, a folder of image frames, an image, or a ``.npy`` array.
        size: output size, ``S`` for ``S x S`` or ``(H, W)``; ``None`` keeps the source size.
        frames: number of frames to return; ``None`` returns all. Asking for more
            frames than the source has (after ``start`` and ``fps``) is an error.
        start: index of the first frame (after resampling to ``fps``).
        fps: resample time to this frame rate, by timestamp (nearest frame), so variable
            frame rates come out even; ``None`` keeps every frame. Ignored for sources
            without timing (folders, images, ``.npy``).
        crop: how frames of another aspect ratio than ``size`` get there (``CROPS``): ``"none"`` resizes
            them (changing their aspect ratio), ``"center"`` cuts their centred window of ``size``'s aspect first.

    Returns:
        uint8 array ``(T, H, W, 3)``.

    Raises:
        UsageError: ``size``, ``frames``, ``start``, ``fps`` or ``crop`` out of range.
        VideoError: the source is missing, unreadable, or too short.
    """
    p = Path(path)
    if start < 0:
        raise UsageError(f"start must be >= 0, got {start}")
    if frames is not None and frames < 1:
        raise UsageError(f"frames must be >= 1, got {frames}")
    if fps is not None and not 0 < fps < float("inf"):
        raise UsageError(f"fps must be a positive number, got {fps}")
    resizer = Resizer(hw_of(size), p, crop)
    if not p.exists():
        raise VideoError(f"{p}: no such file or folder")
    if p.is_dir():
        out = read_folder(p, resizer, frames, start, resizer.hw)
    elif not p.is_file():
        raise VideoError(f"{p}: not a regular file or folder")
    elif p.stat().st_size == 0:
        raise VideoError(f"{p}: the file is empty (0 bytes)")
    elif p.suffix.lower() == ".npy":
        out = read_npy(p, resizer, frames, start)
    elif p.suffix.lower() in IMAGE_EXTS:
        image = read_image(p, resizer.hw)[0]  # first: a damaged image says so, not "too few frames"
        if frames not in (None, 1) or start > 0:
            raise too_few(p, max(0, 1 - start), frames or 1, start, 1)
        out = [resizer(image)]
    else:
        picker = decode_video(p, resizer, frames, start, fps)
        out = picker.out
        if frames is not None and len(out) < frames:
            raise too_few(p, len(out), frames, start, picker.ticks)
    if not out:
        raise VideoError(f"{p}: no frames left after start={start}")
    return np.stack(out)


def read_still(
    path: str | os.PathLike, *, frame: int | None = None, size: Size = None, crop: str = "none"
) -> np.ndarray:
    """One still image as uint8 ``(1, H, W, 3)``: an image file, or frame ``frame`` of a video; ``size`` and
    ``crop`` as in :func:`read_video`.

    A source with more than one frame and no ``frame`` is refused (``UsageError``) rather than cut to its first
    frame without a word.
    """
    p = Path(path)
    if frame is not None:
        log.info("%s: using frame %d as the still", p, frame)
        return read_video(p, frames=1, start=frame, size=size, crop=crop)
    still = read_video(p, frames=1, size=size, crop=crop)
    if p.suffix.lower() not in IMAGE_EXTS:
        try:
            read_video(p, frames=1, start=1)
        except VideoError:
            return still  # no second frame: a still
        raise UsageError(
            f"{p} holds more than one frame, and a still is one image; give an image, or pick the frame to "
            "animate with --still-frame N (0 = the first)"
        )
    return still


def video_fps(path: str | os.PathLike, default: float = 25.0) -> float:
    """The source frame rate of a video file, or ``default`` where it has none."""
    p = Path(path)
    if p.is_dir() or p.suffix.lower() in (".npy", *IMAGE_EXTS):
        return default
    import av

    try:
        with av.open(str(p)) as c:
            r = c.streams.video[0].average_rate
            return float(r) if r else default
    except Exception:  # noqa: BLE001 - the rate is a nicety; reading reports real errors
        return default


def is_folder_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a PNG-folder output (no extension, or a trailing slash)."""
    s = str(path)
    return s.endswith(("/", os.sep)) or Path(s).suffix == ""


def check_video_output(path: str | os.PathLike) -> Path:
    """Refuse, before any work, a video output that cannot be written: an extension without a writer
    (``VIDEO_WRITE_EXTS`` or a folder path), or a folder that cannot be written (``VideoError``)."""
    p = Path(path)
    ext = p.suffix.lower()
    if not is_folder_path(p) and ext not in VIDEO_WRITE_EXTS:
        raise VideoError(f"{p}: cannot write '{ext}'; use one of {', '.join(VIDEO_WRITE_EXTS)} or a folder path")
    return check_writable(p, error=VideoError)


def upscale(frames: np.ndarray, scale: int, scale_filter: str = "nearest") -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` enlarged ``scale`` times per side: ``nearest`` (each pixel a block, exact) or
    ``bicubic`` (smooth)."""
    if scale_filter not in SCALE_FILTERS:
        raise UsageError(f"unknown scale filter '{scale_filter}'; allowed: {', '.join(SCALE_FILTERS)}")
    if scale == 1:
        return frames
    if scale_filter == "nearest":
        return np.ascontiguousarray(frames.repeat(scale, axis=1).repeat(scale, axis=2))
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    out = [F.interpolate(c, scale_factor=scale, mode="bicubic", align_corners=False) for c in x.split(64)]
    return torch.cat(out).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | torch.Tensor,
    *,
    fps: float = 25.0,
    scale: int = 1,
    scale_filter: str = "nearest",
) -> Path:
    """Write uint8 ``(T, H, W, 3)`` frames (or a float tensor ``(T, 3, H, W)``) to ``path``.

    The format follows the extension: ``.mp4`` (H.264, yuv420p; odd sizes are
    padded by one pixel), ``.gif`` (adaptive palette), ``.webp`` (animated,
    lossy, a tenth of a GIF's size), ``.npy`` (exact), or a folder of PNGs
    (exact) for a path without an extension. GIF and WebP loop for ever. Files are written
    to a temporary name and renamed, so a failure leaves nothing partial.
    ``scale`` enlarges the frames of every format but ``.npy`` (the data itself), by ``upscale``.
    """
    if isinstance(frames, torch.Tensor):
        frames = to_uint8(frames)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise VideoError(f"write_video expects uint8 (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    p = check_video_output(path)
    if p.suffix.lower() != ".npy":
        frames = upscale(frames, scale, scale_filter)
    if is_folder_path(p):
        return _write_png_folder(p, frames)
    ext = p.suffix.lower()
    make_folder(p.parent, error=VideoError)
    with atomic_path(p, what="video", error=VideoError) as tmp:
        if ext == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, frames)
        elif ext in (".gif", ".webp"):
            from PIL import Image

            ims = [Image.fromarray(fr) for fr in frames]
            options = {"quality": 80} if ext == ".webp" else {}
            ims[0].save(tmp, format=ext[1:].upper(), save_all=True, append_images=ims[1:], duration=int(1000 / fps),
                        loop=0, **options)  # fmt: skip
        else:
            _write_mp4(tmp, frames, fps)
    return p


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    import fractions

    import av

    _t, h, w, _ = frames.shape
    ph, pw = h + h % 2, w + w % 2
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fractions.Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = pw, ph, "yuv420p"
        stream.options = {"crf": "17", "preset": "medium"}
        for fr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_png_folder(path: Path, frames: np.ndarray) -> Path:
    from PIL import Image

    make_folder(path, error=VideoError)
    digits = max(4, len(str(len(frames) - 1)))
    for i, fr in enumerate(frames):
        with atomic_path(path / f"{i:0{digits}d}.png", what="frame", error=VideoError, durable=False) as tmp:
            Image.fromarray(fr).save(tmp, format="PNG")
    return path


def numbered_paths(path: str | os.PathLike, count: int) -> list[Path]:
    """``out.mp4`` -> ``out_0.mp4, out_1.mp4, ...`` (or ``[out.mp4]`` when ``count == 1``)."""
    p = Path(path)
    if count == 1:
        return [p]
    if is_folder_path(p):
        return [p / f"{k}" for k in range(count)]
    return [p.with_name(f"{p.stem}_{k}{p.suffix}") for k in range(count)]


def write_videos(
    path: str | os.PathLike, videos: Sequence[np.ndarray] | np.ndarray, *, fps: float = 25.0, **scaling
) -> list[Path]:
    """Write K videos: ``.npy`` gets one ``(K, T, H, W, 3)`` array, other formats ``stem_k.ext`` (``scaling``:
    ``scale`` and ``scale_filter`` of ``write_video``)."""
    videos = np.asarray(videos)
    p = Path(path)
    if p.suffix.lower() == ".npy" and len(videos) > 1:
        make_folder(p.parent, error=VideoError)
        with atomic_path(p, what="videos", error=VideoError) as tmp, open(tmp, "wb") as f:
            np.save(f, videos)
        return [p]
    paths = numbered_paths(p, len(videos))
    return [write_video(q, v, fps=fps, **scaling) for q, v in zip(paths, videos, strict=True)]
