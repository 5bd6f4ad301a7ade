"""Makers of hostile and odd input files, shared by the robustness and fuzz tests.

Every maker writes one file (or folder) under a given folder and returns its path.
``python tests/test_robust_inputs.py`` prints the table in docs/robustness.md from them.
"""

from __future__ import annotations

import fractions
import struct
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image

from dyngen.io.procedural import ripples
from dyngen.io.video import write_video


def damage_tensors(path: Path, count: int = 50, seed: int = 0) -> None:
    """Flip ``count`` bytes of a safetensors file after its header: the tensors' data, which the format does not
    check."""
    b = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(b[:8], "little")
    for j in np.random.default_rng(seed).integers(start, len(b), count):
        b[j] ^= 0xFF
    path.write_bytes(bytes(b))


def clip(t: int = 12, size: int = 16, seed: int = 2) -> np.ndarray:
    """A small procedural texture, uint8 (T, H, W, 3)."""
    return ripples(t, size, seed=seed)


def encode(path: Path, frames: np.ndarray, *, codec: str = "libx264", pix_fmt: str = "yuv420p",
           pts: list[int] | None = None, rate: int = 25, fmt: str | None = None) -> Path:  # fmt: skip
    """Write frames with PyAV; ``pts`` (in 1/1000 s) makes a variable frame rate."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=fractions.Fraction(rate))
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if pts is not None:
            s.time_base = s.codec_context.time_base = fractions.Fraction(1, 1000)
        for i, fr in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(fr, format="rgb24")
            if pts is not None:
                vf.pts, vf.time_base = pts[i], fractions.Fraction(1, 1000)
            for pk in s.encode(vf):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    return path


def png16_rgb(path: Path, a: np.ndarray) -> Path:
    """A 16-bit RGB PNG (PIL cannot write one), from uint16 (H, W, 3)."""
    h, w, _ = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


def make_all(d: Path) -> dict[str, Path]:
    """Every hostile or odd input, by name."""
    d.mkdir(parents=True, exist_ok=True)
    v = clip()
    out: dict[str, Path] = {}

    def put(name: str, path: Path) -> None:
        out[name] = path

    good = encode(d / "good.mp4", v)
    put("good.mp4", good)
    data = good.read_bytes()
    put("zero-byte .mp4", _write(d / "zero.mp4", b""))
    put("text file named .mp4", _write(d / "text.mp4", b"this is not a video\n" * 40))
    put("random bytes .mp4", _write(d / "random.mp4", np.random.default_rng(0).bytes(4000)))
    put("mp4 truncated to 50%", _write(d / "half.mp4", data[: len(data) // 2]))
    put("mp4 truncated to 1 KB", _write(d / "head.mp4", data[:1024]))
    bad = bytearray(data)
    bad[len(bad) // 3 : len(bad) // 3 + 400] = np.random.default_rng(1).bytes(400)
    put("mp4 with 400 corrupt bytes", _write(d / "corrupt.mp4", bytes(bad)))
    put("PNG renamed .mp4", _save(Image.fromarray(v[0]), d / "image.mp4", "PNG"))
    put("audio-only file (.wav)", _wav(d / "sound.wav"))
    put("1-frame mp4", encode(d / "one.mp4", v[:1]))
    put("5-frame mp4 (fewer than --frames 12)", encode(d / "five.mp4", v[:5]))
    put(
        "variable frame rate mp4",
        encode(d / "vfr.mp4", v, pts=[0, 10, 20, 100, 110, 200, 210, 300, 400, 410, 420, 500]),
    )
    put("odd size 33x47 video (ffv1)", encode(d / "odd.mkv", clip(6, 48)[:, :33, :47], codec="ffv1", pix_fmt="bgr0"))
    put("grayscale PNG", _save(Image.fromarray(v[0, ..., 0]), d / "gray.png"))
    put("gray + alpha PNG", _save(Image.fromarray(np.dstack([v[0, ..., 0]] * 2), "LA"), d / "la.png"))
    put("RGBA PNG", _save(Image.fromarray(np.dstack([v[0], v[0, ..., :1]]), "RGBA"), d / "rgba.png"))
    put("palette PNG", _save(Image.fromarray(v[0]).convert("P"), d / "palette.png"))
    put("1-bit PNG", _save(Image.fromarray(v[0, ..., 0] > 128), d / "bits.png"))
    put("16-bit gray PNG", _save(Image.fromarray(v[0, ..., 0].astype(np.uint16) * 257), d / "gray16.png"))
    put("16-bit RGB PNG", png16_rgb(d / "rgb16.png", v[0].astype(np.uint16) * 257))
    put("CMYK JPEG", _save(Image.fromarray(v[0]).convert("CMYK"), d / "cmyk.jpg"))
    put("float32 TIFF", _save(Image.fromarray(v[0, ..., 0].astype(np.float32) / 255), d / "float.tif"))
    put("1x1 PNG", _save(Image.fromarray(v[0, :1, :1]), d / "tiny1.png"))
    put("2x2 PNG", _save(Image.fromarray(v[0, :2, :2]), d / "tiny2.png"))
    put("4000x3000 PNG", _save(Image.fromarray(np.zeros((3000, 4000, 3), np.uint8) + 90), d / "huge.png"))
    put("odd size 33x47 .npy", _npy(d / "odd.npy", clip(12, 48)[:, :33, :47]))
    put(".npy with a NaN", _npy(d / "nan.npy", np.where(np.arange(12)[:, None, None, None] == 3, np.nan, v / 255.0)))
    put(".npy with inf", _npy(d / "inf.npy", np.full((12, 16, 16, 3), np.inf, np.float32)))
    put(".npy complex", _npy(d / "complex.npy", v.astype(np.complex64)))
    put(".npy strings", _npy(d / "strings.npy", np.array([["a", "b"], ["c", "d"]])))
    put(".npy of objects (pickle)", _pickle_npy(d / "object.npy"))
    put(".npy 5-D (K, T, H, W, 3)", _npy(d / "five_d.npy", np.stack([v, v])))
    put(".npy empty (0, 16, 16, 3)", _npy(d / "empty.npy", v[:0]))
    put(".npy int64 out of 0..255", _npy(d / "int.npy", v.astype(np.int64) * 4 - 200))
    put(".npy truncated", _write(d / "cut.npy", (d / "odd.npy").read_bytes()[:300]))
    put(".npy bool", _npy(d / "bool.npy", v[..., 0] > 128))
    put(".npy float16 (T, H, W) gray", _npy(d / "half.npy", (v[..., 0] / 255).astype(np.float16)))
    put("empty folder", _mkdir(d / "empty_dir"))
    put("folder of frames of mixed sizes", _mixed_folder(d / "mixed", v))
    put("path with spaces and unicode", encode(d / "my clip ü 视频.mp4", v))
    put("folder of frames numbered 1..12 unpadded", _unpadded_folder(d / "unpadded", v))
    png = _save(Image.fromarray(v[0]), d / "whole.png").read_bytes()
    put("PNG truncated to half", _write(d / "cut.png", png[: len(png) // 2]))
    put("random bytes .npy", _write(d / "random.npy", np.random.default_rng(2).bytes(4000)))
    return out


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _save(im: Image.Image, path: Path, fmt: str | None = None) -> Path:
    im.save(path, format=fmt)
    return path


def _npy(path: Path, a: np.ndarray) -> Path:
    np.save(path, a)
    return path


def _pickle_npy(path: Path) -> Path:
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def _mixed_folder(path: Path, v: np.ndarray) -> Path:
    path.mkdir(exist_ok=True)
    for i in range(12):
        Image.fromarray(v[i] if i != 5 else v[i, :8]).save(path / f"{i:02d}.png")
    return path


def _unpadded_folder(path: Path, v: np.ndarray) -> Path:
    path.mkdir(exist_ok=True)
    for i in range(12):
        Image.fromarray(v[i]).save(path / f"frame{i + 1}.png")
    return path


def _wav(path: Path) -> Path:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.zeros(800, np.int16).tobytes())
    return path


def write_npy_clip(path: Path) -> Path:
    return write_video(path, clip())
