"""A bounded, seeded fuzz of the decoder entry point.

Small valid files (mp4, gif, avi, png, npy) are mutated (bit flips, truncation, random byte
insertion, overwritten runs) into ``INPUTS`` inputs in all; ``read_video`` must return a valid
uint8 ``(T, H, W, 3)`` array or raise ``VideoError``: never another exception, never a hang
(a watchdog ends the process after ``WATCHDOG_S`` seconds and says which input it was on).
"""

from __future__ import annotations

import faulthandler
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile

from dyngen.errors import VideoError
from dyngen.io.video import read_video, write_video

INPUTS = 300  # in all, spread over the seeds
WATCHDOG_S = 120


def seeds_files(d: Path) -> list[Path]:
    v = hostile.clip(8, 16)
    return [
        hostile.encode(d / "s.mp4", v),
        write_video(d / "s.gif", v),
        hostile.encode(d / "s.avi", v, codec="mpeg4"),
        _png(d / "s.png", v[0]),
        write_video(d / "s.npy", v),
    ]


def _png(path: Path, frame: np.ndarray) -> Path:
    Image.fromarray(frame).save(path)
    return path


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One to four random mutations of ``data``."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        kind = int(rng.integers(0, 4))
        if kind == 0 and b:  # flip bits
            for i in rng.integers(0, len(b), int(rng.integers(1, 9))):
                b[i] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1 and len(b) > 1:  # truncate
            del b[int(rng.integers(1, len(b))) :]
        elif kind == 2:  # insert random bytes
            i = int(rng.integers(0, len(b) + 1))
            b[i:i] = rng.bytes(int(rng.integers(1, 64)))
        elif b:  # overwrite a run with one value (0x00, 0xff or random)
            i, n = int(rng.integers(0, len(b))), int(rng.integers(1, 256))
            b[i : i + n] = bytes([int(rng.choice([0, 255, int(rng.integers(0, 256))]))]) * len(b[i : i + n])
    return bytes(b)


def test_mutated_files_give_frames_or_a_video_error(tmp_path):
    rng = np.random.default_rng(20240611)
    seeds = seeds_files(tmp_path)
    outcomes = {"frames": 0, "VideoError": 0}
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)  # a hang fails the run, with a traceback
    try:
        for n in range(INPUTS):
            seed = seeds[n % len(seeds)]
            path = tmp_path / f"fuzz{seed.suffix}"
            path.write_bytes(mutate(seed.read_bytes(), rng))
            try:
                a = read_video(path)
            except VideoError:
                outcomes["VideoError"] += 1
                continue
            except Exception as e:  # noqa: BLE001 - the point of the test
                (tmp_path / f"failure_{n}{seed.suffix}").write_bytes(path.read_bytes())
                pytest.fail(f"input {n} (from {seed.name}) raised {type(e).__name__}: {e}")
            assert a.dtype == np.uint8 and a.ndim == 4 and a.shape[-1] == 3 and min(a.shape) >= 1, (n, a.shape)
            outcomes["frames"] += 1
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert sum(outcomes.values()) == INPUTS
    assert outcomes["frames"] > 0 and outcomes["VideoError"] > 0, outcomes  # the fuzz reached both outcomes
