"""Reading and writing videos at the I/O boundary.

Inside dyngen a video is a float tensor ``(T, 3, H, W)`` in [-1, 1]. On disk
and in this module it is a uint8 array ``(T, H, W, 3)``. The conversion
between the two is one fixed affine map, ``x = u / 127.5 - 1``, applied to the
whole video, so brightness changes over time are preserved (the reference
code min-max normalised every frame on its own; see PAPER.md section 4).

Readable sources, chosen by the path:

- video files decoded by PyAV (its wheel bundles FFmpeg): ``.mp4 .avi .mov
  .mkv .webm .gif`` and anything else FFmpeg can demux;
- a folder of ``.png``/``.jpg``/``.jpeg``/``.bmp`` frames, in sorted order;
- a single image (one frame);
- ``.npy`` arrays of shape ``(T, H, W, 3)``, ``(T, H, W)`` or ``(H, W, 3)``,
  uint8 or float in [0, 1] (or [0, 255] for floats above 1).

Writable formats, chosen by the extension: ``.mp4`` (H.264), ``.gif``,
``.npy`` (uint8 ``(T, H, W, 3)``) and a folder of PNGs (a path without an
extension, or ending in ``/``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dyngen.errors import VideoError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_WRITE_EXTS = (".mp4", ".gif", ".npy")

Size = int | tuple[int, int] | None


def _hw(size: Size) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> float32 ``(T, 3, H, W)`` in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float()
    return x.permute(0, 3, 1, 2).div(127.5).sub(1.0).contiguous()


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """float ``(..., T, 3, H, W)`` in [-1, 1] -> uint8 ``(..., T, H, W, 3)``."""
    x = frames.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round()
    return x.to(torch.uint8).movedim(-3, -1).numpy()


def resize(frames: np.ndarray, size: Size) -> np.ndarray:
    """Resize uint8 ``(T, H, W, 3)`` frames to ``size`` with antialiased bilinear filtering."""
    hw = _hw(size)
    if hw is None or frames.shape[1:3] == hw:
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    out = []
    for chunk in x.split(64):  # bounded memory for long, large videos
        out.append(F.interpolate(chunk, size=hw, mode="bilinear", antialias=True, align_corners=False))
    y = torch.cat(out).round().clamp(0, 255).to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous().numpy()


def _as_rgb_uint8(a: np.ndarray, source: str) -> np.ndarray:
    """Bring an array to uint8 ``(T, H, W, 3)``: gray is repeated, alpha dropped, 16-bit scaled."""
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 3:
        a = a[None] if a.shape[-1] in (3, 4) and a.shape[0] > 4 else a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 2, 3, 4):
        raise VideoError(
            f"{source}: array of shape {tuple(a.shape)} is not a video; expected (T, H, W, 3), (T, H, W) or (H, W, 3)"
        )
    if a.shape[-1] in (1, 2):  # gray (+ alpha)
        a = np.repeat(a[..., :1], 3, axis=-1)
    a = a[..., :3]
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise VideoError(f"{source}: array contains NaN or infinite values; clean it before use")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(a * scale, 0, 255).round().astype(np.uint8)
    elif a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    elif a.dtype != np.uint8:
        if a.min(initial=0) < 0 or a.max(initial=0) > 255:
            raise VideoError(f"{source}: integer values outside 0..255 (dtype {a.dtype}); rescale to uint8")
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.uint16 if mode.startswith("I;16") else np.int64)
                if a.dtype != np.uint16:
                    a = (np.clip(a, 0, 65535)).astype(np.uint16)
                return _as_rgb_uint8(a, str(path))[0]
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise VideoError(f"{path}: cannot read image ({e}); is it a valid PNG/JPG file?") from None


def _select(frames_all: list[np.ndarray], src_fps: float | None, fps: float | None, start: int) -> list[np.ndarray]:
    step = 1.0 if (fps is None or not src_fps) else src_fps / fps
    n = len(frames_all)
    out, i = [], 0
    while True:
        j = start + round(i * step)
        if j >= n:
            return out
        out.append(frames_all[j])
        i += 1


def _decode(path: Path, need: int | None) -> tuple[list[np.ndarray], float | None]:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise VideoError(
            f"{path}: cannot open as a video ({e.__class__.__name__}: {e}); is the file a video?"
        ) from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        src_fps = float(stream.average_rate) if stream.average_rate else None
        frames: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if need is not None and len(frames) >= need:
                    break
        except (av.FFmpegError, ValueError) as e:
            if not frames:
                raise VideoError(
                    f"{path}: cannot decode any frame ({e}); the file may be corrupt or truncated"
                ) from None
            # A truncated file: keep the frames that decoded.
    if not frames:
        raise VideoError(f"{path}: the video has no decodable frames")
    return frames, src_fps


def read_video(
    path: str | os.PathLike,
    *,
    size: Size = None,
    frames: int | None = None,
    start: int = 0,
    fps: float | None = None,
) -> np.ndarray:
    """Read a video as uint8 ``(T, H, W, 3)``.

    Args:
        path: a video file, a folder of image frames, an image, or a ``.npy`` array.
        size: output size, ``S`` for ``S x S`` or ``(H, W)``; ``None`` keeps the source size.
        frames: number of frames to return; ``None`` returns all. Asking for more
            frames than the source has (after ``start`` and ``fps``) is an error.
        start: index of the first frame (after resampling to ``fps``).
        fps: resample time to this frame rate by picking the nearest source
            frames; ``None`` keeps every frame. Ignored for sources without a rate.

    Returns:
        uint8 array ``(T, H, W, 3)``.

    Raises:
        VideoError: the source is missing, unreadable, or too short.
    """
    p = Path(path)
    if start < 0:
        raise VideoError(f"start must be >= 0, got {start}")
    if frames is not None and frames < 1:
        raise VideoError(f"frames must be >= 1, got {frames}")
    if not p.exists():
        raise VideoError(f"{p}: no such file or folder")
    src_fps: float | None = None
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise VideoError(f"{p}: the folder holds no image frames ({', '.join(IMAGE_EXTS)})")
        imgs = [_read_image(f) for f in files]
        shapes = {im.shape for im in imgs}
        if len(shapes) > 1:
            raise VideoError(f"{p}: the frames have different sizes {sorted(shapes)}; all frames must match")
        all_frames = list(np.stack(imgs))
    elif p.suffix.lower() == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise VideoError(f"{p}: cannot read as a .npy array ({e})") from None
        all_frames = list(_as_rgb_uint8(a, str(p)))
    elif p.suffix.lower() in IMAGE_EXTS:
        all_frames = [_read_image(p)]
    else:
        if p.stat().st_size == 0:
            raise VideoError(f"{p}: the file is empty (0 bytes)")
        need = None if (frames is None or fps is not None) else start + frames
        all_frames, src_fps = _decode(p, need)
    picked = _select(all_frames, src_fps, fps, start)
    if frames is not None:
        if len(picked) < frames:
            raise VideoError(
                f"{p}: asked for {frames} frames from frame {start}, but the source has only {len(picked)} "
                f"(of {len(all_frames)} in total); ask for fewer frames (--frames) or an earlier start"
            )
        picked = picked[:frames]
    if not picked:
        raise VideoError(f"{p}: no frames left after start={start}")
    out = np.stack(picked)
    return resize(out, size)


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


def _atomic_target(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_video(path: str | os.PathLike, frames: np.ndarray | torch.Tensor, *, fps: float = 25.0) -> Path:
    """Write uint8 ``(T, H, W, 3)`` frames (or a float tensor ``(T, 3, H, W)``) to ``path``.

    The format follows the extension: ``.mp4`` (H.264, yuv420p; odd sizes are
    padded by one pixel), ``.gif`` (adaptive palette), ``.npy`` (exact), or a
    folder of PNGs (exact) for a path without an extension. Files are written
    to a temporary name and renamed, so a failure leaves nothing partial.
    """
    if isinstance(frames, torch.Tensor):
        frames = to_uint8(frames)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise VideoError(f"write_video expects uint8 (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    p = Path(path)
    if is_folder_path(p):
        return _write_png_folder(p, frames)
    ext = p.suffix.lower()
    if ext not in VIDEO_WRITE_EXTS:
        raise VideoError(f"{p}: cannot write '{ext}'; use one of {', '.join(VIDEO_WRITE_EXTS)} or a folder path")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_target(p)
    try:
        if ext == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, frames)
        elif ext == ".gif":
            from PIL import Image

            ims = [Image.fromarray(fr) for fr in frames]
            ims[0].save(tmp, format="GIF", save_all=True, append_images=ims[1:], duration=int(1000 / fps), loop=0)
        else:
            _write_mp4(tmp, frames, fps)
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise VideoError(
            f"{p}: cannot write ({e.strerror or e}); check the folder is writable and the disk has space"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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

    path.mkdir(parents=True, exist_ok=True)
    digits = max(4, len(str(len(frames) - 1)))
    try:
        for i, fr in enumerate(frames):
            target = path / f"{i:0{digits}d}.png"
            tmp = _atomic_target(target)
            Image.fromarray(fr).save(tmp, format="PNG")
            os.replace(tmp, target)
    except OSError as e:
        raise VideoError(
            f"{path}: cannot write frames ({e.strerror or e}); check the folder is writable and the disk has space"
        ) from None
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
    path: str | os.PathLike, videos: Sequence[np.ndarray] | np.ndarray, *, fps: float = 25.0
) -> list[Path]:
    """Write K videos: ``.npy`` gets one ``(K, T, H, W, 3)`` array, other formats ``stem_k.ext``."""
    videos = np.asarray(videos)
    p = Path(path)
    if p.suffix.lower() == ".npy" and len(videos) > 1:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = _atomic_target(p)
        try:
            with open(tmp, "wb") as f:
                np.save(f, videos)
            os.replace(tmp, p)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise VideoError(f"{p}: cannot write ({e.strerror or e})") from None
        return [p]
    return [write_video(q, v, fps=fps) for q, v in zip(numbered_paths(p, len(videos)), videos, strict=True)]
