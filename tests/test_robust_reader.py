"""Hostile and odd input files through ``read_video``: frames, or one VideoError that says what is wrong.

The same files go through every command in ``test_robust_inputs.py`` (and docs/robustness.md's table).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hostile
import numpy as np
import pytest

from dyngen.errors import VideoError
from dyngen.io.video import read_video

# input -> frames read at 16x16, or the words its VideoError must hold
READER = {
    "good.mp4": 12,
    "zero-byte .mp4": "empty (0 bytes)",
    "text file named .mp4": "cannot open as a video",
    "random bytes .mp4": "cannot open as a video",
    "mp4 truncated to 50%": "not a video, or damaged",
    "mp4 truncated to 1 KB": "not a video, or damaged",
    "mp4 with 400 corrupt bytes": "cannot decode any frame",
    "PNG renamed .mp4": 1,
    "audio-only file (.wav)": "no video stream",
    "1-frame mp4": 1,
    "5-frame mp4 (fewer than --frames 12)": 5,
    "variable frame rate mp4": 12,
    "odd size 33x47 video (ffv1)": 6,
    "grayscale PNG": 1,
    "gray + alpha PNG": 1,
    "RGBA PNG": 1,
    "palette PNG": 1,
    "1-bit PNG": 1,
    "16-bit gray PNG": 1,
    "16-bit RGB PNG": 1,
    "CMYK JPEG": 1,
    "float32 TIFF": 1,
    "1x1 PNG": 1,
    "2x2 PNG": 1,
    "4000x3000 PNG": 1,
    "odd size 33x47 .npy": 12,
    ".npy with a NaN": "NaN",
    ".npy with inf": "NaN or infinite",
    ".npy complex": "dtype complex64 are not images",
    ".npy strings": "are not images",
    ".npy of objects (pickle)": "Python objects",
    ".npy 5-D (K, T, H, W, 3)": "holds 2 videos",
    ".npy empty (0, 16, 16, 3)": "empty",
    ".npy int64 out of 0..255": "outside 0..255",
    ".npy truncated": "cannot read as a .npy",
    ".npy bool": 12,
    ".npy float16 (T, H, W) gray": 12,
    "empty folder": "holds no image frames",
    "folder of frames of mixed sizes": "all frames must match",
    "path with spaces and unicode": 12,
    "folder of frames numbered 1..12 unpadded": 12,
    "PNG truncated to half": "cannot read image",
    "random bytes .npy": "not a .npy array (no NumPy header",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return hostile.make_all(tmp_path_factory.mktemp("inputs"))


def test_every_hostile_input_is_covered(files):
    assert set(files) == set(READER)


@pytest.mark.parametrize("name", list(READER))
def test_reader_gives_frames_or_a_video_error(files, name):
    want = READER[name]
    if isinstance(want, int):
        a = read_video(files[name], size=16)
        assert a.shape == (want, 16, 16, 3) and a.dtype == np.uint8
    else:
        with pytest.raises(VideoError, match=want.replace("(", r"\(").replace(")", r"\)")) as e:
            read_video(files[name], size=16)
        assert "allow_pickle" not in str(e.value)  # never advise loading a pickle


def test_odd_formats_keep_their_values(files):
    v = hostile.clip()[0]
    assert np.array_equal(read_video(files["grayscale PNG"])[0], np.repeat(v[..., :1], 3, -1))
    assert np.array_equal(read_video(files["RGBA PNG"])[0], v)  # alpha dropped, colour as stored
    assert np.array_equal(read_video(files["16-bit RGB PNG"])[0], v)
    assert np.array_equal(read_video(files["16-bit gray PNG"])[0, ..., 1], v[..., 0])
    assert read_video(files["odd size 33x47 .npy"]).shape == (12, 33, 47, 3)
    assert np.array_equal(read_video(files["folder of frames numbered 1..12 unpadded"]), hostile.clip())  # 2 < 10


def test_variable_frame_rate_is_resampled_by_time(files):
    """Frames at 0, 10, 20, 100, 110, 200, 210, 300, 400, 410, 420, 500 ms; at 10 fps the ticks
    0, 100, ..., 500 ms take the frames at those times, not every 2.5th frame."""
    every = read_video(files["variable frame rate mp4"])
    at10 = read_video(files["variable frame rate mp4"], fps=10)
    assert at10.shape[0] == 6
    for tick, index in enumerate([0, 3, 5, 7, 8, 11]):
        assert np.array_equal(at10[tick], every[index]), tick
    assert np.array_equal(read_video(files["variable frame rate mp4"], fps=10, start=2, frames=3), at10[2:5])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs")
@pytest.mark.slow
def test_huge_image_is_read_in_bounded_memory(files):
    code = (
        "import sys; from dyngen.io.video import read_video\n"
        "def status(key):\n"
        "    return next(int(s.split()[1]) for s in open('/proc/self/status') if s.startswith(key)) / 1024\n"
        "open('/proc/self/clear_refs', 'w').write('5')  # VmHWM, the peak, restarts from here\n"
        "before = status('VmRSS'); a = read_video(sys.argv[1], size=64)\n"
        "print(a.shape, status('VmHWM') - before)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(files["4000x3000 PNG"])], capture_output=True, text=True)
    shape, mb = out.stdout.rsplit(")", 1)
    assert shape == "(1, 64, 64, 3" and 30 < float(mb) < 100  # the 4000x3000 frame in floats alone is 144 MB
