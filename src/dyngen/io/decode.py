"""Decoding each kind of source into uint8 frames: images (PIL), ``.npy`` arrays, folders of
images, and video files (PyAV). ``dyngen.io.video.read_video`` picks the reader.

Readers take a ``resize_frame`` function and apply it to each frame as it is read,
so a long or huge source never sits in memory at full size. A damaged file raises
``VideoError``, whatever the decoder underneath raised: PIL, numpy and FFmpeg each
have many kinds of exception for hostile input, and all of them mean "cannot read".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dyngen.errors import DyngenError, VideoError

log = logging.getLogger(__name__)
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MAX_PIXELS = 2**27  # per frame (16384 x 8192); a larger claim comes from a damaged header
Resize = Callable[[np.ndarray], np.ndarray]  # uint8 (H, W, 3) -> uint8 (h, w, 3)


def _reason(e: BaseException) -> str:
    """A decoder's error in a few words: FFmpeg's ``strerror`` without its errno and path, else the message."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return f"{type(e).__name__}: {text}" if type(e).__name__ not in text else text


def check_pixels(h: int, w: int, source: object) -> None:
    if h < 1 or w < 1 or h * w > MAX_PIXELS:
        raise VideoError(
            f"{source}: frames of {h}x{w} pixels cannot be read (at most {MAX_PIXELS} pixels a frame); "
            "is the file corrupt?"
        )


def video_view(a: np.ndarray, source: str) -> np.ndarray:
    """An accepted array layout as a ``(T, H, W, C)`` view, C in 1..4; no data is read or converted yet."""
    if a.dtype.kind not in "biuf":
        raise VideoError(f"{source}: arrays of dtype {a.dtype} are not images; use uint8, uint16, float or bool")
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 3:
        a = a[None] if a.shape[-1] in (3, 4) and a.shape[0] > 4 else a[..., None]
    if a.ndim == 5 and a.shape[-1] in (1, 3, 4):
        raise VideoError(
            f"{source}: the array holds {a.shape[0]} videos (shape {tuple(a.shape)}, (K, T, H, W, C)); "
            "give one video: save np.load(...)[k] on its own"
        )
    if a.ndim != 4 or a.shape[-1] not in (1, 2, 3, 4):
        raise VideoError(
            f"{source}: array of shape {tuple(a.shape)} is not a video; expected (T, H, W, 3), (T, H, W) or (H, W, 3)"
        )
    if 0 in a.shape:
        raise VideoError(f"{source}: the array is empty (shape {tuple(a.shape)})")
    check_pixels(a.shape[1], a.shape[2], source)
    return a


def as_rgb_uint8(a: np.ndarray, source: str) -> np.ndarray:
    """Bring an array to uint8 ``(T, H, W, 3)``: gray is repeated, alpha dropped, 16-bit scaled.

    Floats in [0, 1] are scaled by 255, other floats are taken as 0..255 and clipped;
    NaN or infinity is an error.
    """
    a = np.array(video_view(a, source))  # a copy: read from a mapped file, and writable
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.shape[-1] in (1, 2):  # gray (+ alpha)
        a = np.repeat(a[..., :1], 3, axis=-1)
    a = a[..., :3]
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise VideoError(f"{source}: array contains NaN or infinite values; clean it before use")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        a = np.clip(a.astype(np.float64) * scale, 0, 255).round().astype(np.uint8)
    elif a.dtype == np.uint16:
        a = (a.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    elif a.dtype != np.uint8:
        if a.min(initial=0) < 0 or a.max(initial=0) > 255:
            raise VideoError(f"{source}: integer values outside 0..255 (dtype {a.dtype}); rescale to uint8")
        a = a.astype(np.uint8)
    return np.ascontiguousarray(a)


def read_image(path: Path, target: tuple[int, int] | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """One image as uint8 ``(H, W, 3)`` (gray repeated, alpha dropped, 16-bit and float scaled), and its
    size on disk. With a ``target`` size far smaller, the image is first box-reduced by an integer factor
    to at least twice the target, which spares the memory and time of resizing a huge image in floats."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            check_pixels(im.height, im.width, path)
            size = (im.height, im.width)
            k = min(im.height // (2 * target[0]), im.width // (2 * target[1])) if target else 1
            if k >= 2 and im.mode in ("RGB", "RGBA", "L", "LA", "RGBX", "CMYK", "YCbCr"):
                im = im.reduce(k)
            if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                a = np.clip(np.asarray(im, dtype=np.int64), 0, 65535).astype(np.uint16)
                return as_rgb_uint8(a[None], str(path))[0], size
            if im.mode == "F":
                return as_rgb_uint8(np.asarray(im, dtype=np.float32)[None], str(path))[0], size
            return np.array(im.convert("RGB"), dtype=np.uint8), size  # writable (asarray is read-only)
    except VideoError:
        raise
    except Exception as e:  # noqa: BLE001 - PIL raises many kinds of exception on a damaged file
        raise VideoError(f"{path}: cannot read image ({_reason(e)}); is it a valid image file?") from None


def natural_key(path: Path) -> list:
    """``frame2.png`` before ``frame10.png``."""
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name)]


def too_few(source: Path, got: int, frames: int, start: int, total: int) -> VideoError:
    return VideoError(
        f"{source}: asked for {frames} frames from frame {start}, but the source has only {got} "
        f"(of {total} in total); ask for fewer frames (--frames) or an earlier start"
    )


def read_folder(
    p: Path, resize_frame: Resize, frames: int | None, start: int, target: tuple[int, int] | None = None
) -> list[np.ndarray]:
    files = sorted((f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS and f.is_file()), key=natural_key)
    if not files:
        raise VideoError(f"{p}: the folder holds no image frames ({', '.join(IMAGE_EXTS)})")
    picked = files[start : None if frames is None else start + frames]
    if frames is not None and len(picked) < frames:
        raise too_few(p, len(picked), frames, start, len(files))
    out, first = [], None
    for f in picked:
        im, size = read_image(f, target)
        first = first or (f, size)
        if size != first[1]:
            raise VideoError(
                f"{p}: frame {f.name} is {size[0]}x{size[1]} but {first[0].name} is "
                f"{first[1][0]}x{first[1][1]}; all frames must match"
            )
        out.append(resize_frame(im))
    return out


def load_npy(p: Path, *, error: type[DyngenError] = VideoError, mmap: bool = True) -> np.ndarray:
    """A ``.npy`` array (memory-mapped: only the parts used are read); never a pickle.

    Raises:
        ``error``: a damaged header, a file that is not a ``.npy`` at all, or an array of Python objects; numpy's
        own message for the last two suggests loading the pickle, which dyngen never does, so it is not passed on.
    """
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy raises many kinds of exception on a damaged header
        text = str(e)
        if "Object arrays" in text or "Python objects" in text:
            raise error(f"{p}: the array holds Python objects (a pickle); only numeric arrays are read") from None
        if "pickled" in text:
            raise error(f"{p}: not a .npy array (no NumPy header; the file is damaged or of another kind)") from None
        raise error(f"{p}: cannot read as a .npy array ({_reason(e)})") from None


def read_npy(p: Path, resize_frame: Resize, frames: int | None, start: int) -> list[np.ndarray]:
    v = video_view(load_npy(p), str(p))
    picked = v[start : None if frames is None else start + frames]
    if frames is not None and len(picked) < frames:
        raise too_few(p, len(picked), frames, start, len(v))
    try:
        return [resize_frame(f) for f in as_rgb_uint8(picked, str(p))]
    except (OSError, ValueError) as e:  # the mapped data cannot be read
        raise VideoError(f"{p}: cannot read the array's data ({e})") from None


class Picker:
    """Chooses the output frames among decoded ones, then skips ``start`` and stops after ``frames``.

    Without ``fps`` every frame is taken. With ``fps`` the output has a frame at each tick
    ``t_0 + i / fps``: the decoded frame whose timestamp is nearest (ties go to the later one),
    so a variable frame rate is resampled by time, not by frame count. Ticks run to half a
    frame past the last frame's timestamp.
    """

    def __init__(self, source: Path, resize_frame: Resize, start: int, frames: int | None, fps: float | None) -> None:
        self.source = source
        self.resize_frame, self.start, self.frames, self.fps = resize_frame, start, frames, fps
        self.out: list[np.ndarray] = []
        self.ticks = 0  # output frames so far, those before ``start`` included
        self.t0: float | None = None
        self.prev: tuple[np.ndarray, float] | None = None
        self.last_emitted: tuple[int, np.ndarray] | None = None

    @property
    def done(self) -> bool:
        return self.frames is not None and len(self.out) >= self.frames

    def _emit(self, rgb: np.ndarray) -> None:
        if self.ticks >= self.start:
            if self.last_emitted is None or self.last_emitted[0] != id(rgb):  # a repeated frame is resized once
                self.last_emitted = (id(rgb), self.resize_frame(rgb))
            frame = self.last_emitted[1]
            if self.out and frame.shape != self.out[0].shape:
                raise VideoError(
                    f"{self.source}: the frame size changes from {self.out[0].shape[:2]} to {frame.shape[:2]} "
                    "within the video; give a size to resize all frames alike"
                )
            self.out.append(frame)
        self.ticks += 1

    def _tick(self) -> float:
        return self.t0 + self.ticks / self.fps

    def add(self, rgb: np.ndarray, t: float | None) -> None:
        if self.fps is None or t is None:
            self._emit(rgb)
            return
        if self.prev is None:
            self.t0 = t
        else:
            t = max(t, self.prev[1])  # timestamps of a damaged file may go backwards
            while not self.done and self._tick() < (self.prev[1] + t) / 2:
                self._emit(self.prev[0])
        self.prev = (rgb, t)

    def finish(self, duration: float) -> None:
        if self.prev is not None:
            while not self.done and self._tick() < self.prev[1] + duration / 2:
                self._emit(self.prev[0])


def decode_video(path: Path, resize_frame: Resize, frames: int | None, start: int, fps: float | None) -> Picker:
    import av

    try:
        container = av.open(str(path))
    except Exception as e:  # noqa: BLE001 - FFmpeg's errors on a file that is not a video come in many kinds
        raise VideoError(
            f"{path}: cannot open as a video ({_reason(e)}): not a video, or damaged (an .mp4 cut short "
            "loses its index and cannot be read)"
        ) from None
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate) if stream.average_rate else None
        picker = Picker(path, resize_frame, start, frames, fps)
        decoded, it = 0, container.decode(stream)
        while not picker.done:
            try:
                frame = next(it)
                check_pixels(frame.height, frame.width, path)
                rgb = frame.to_ndarray(format="rgb24")
                t = frame.time if frame.time is not None else (decoded / rate if rate else None)
            except StopIteration:
                break
            except VideoError:
                raise
            except Exception as e:  # noqa: BLE001 - a damaged or truncated stream
                if not decoded:
                    raise VideoError(
                        f"{path}: cannot decode any frame ({_reason(e)}); the file may be damaged"
                    ) from None
                log.warning("%s: decoding stopped after %d frames (%s); using those", path, decoded, _reason(e))
                break
            picker.add(rgb, t)
            decoded += 1
    if not decoded:
        raise VideoError(f"{path}: the video has no decodable frames")
    picker.finish(1 / rate if rate else 1 / fps if fps else 0.0)
    return picker
