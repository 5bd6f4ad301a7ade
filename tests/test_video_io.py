import fractions

import av
import numpy as np
import pytest
from PIL import Image

from dyngen.errors import VideoError
from dyngen.io.dataset import gather_videos, load_videos
from dyngen.io.grid import save_frame_grid, side_by_side
from dyngen.io.video import read_video, to_tensor, to_uint8, write_video, write_videos


def _blocky(t=6, h=32, w=32):
    """Flat 8x8 blocks survive lossy codecs almost exactly."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (t, h // 8, w // 8, 3), dtype=np.uint8)
    return small.repeat(8, 1).repeat(8, 2)


@pytest.mark.parametrize("ext,tol", [(".npy", 0), ("", 0), (".mp4", 6), (".gif", 12)])
def test_round_trip(tmp_path, ext, tol):
    v = _blocky()
    p = write_video(tmp_path / f"v{ext}", v)
    back = read_video(p)
    assert back.shape == v.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - v).mean() <= tol


def _write_with_pyav(path, frames, codec, fmt=None):
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=fractions.Fraction(25))
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for fr in frames:
            for pk in s.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)


@pytest.mark.parametrize("name,codec", [("v.webm", "libvpx-vp9"), ("v.avi", "mpeg4")])
def test_reads_webm_and_avi(tmp_path, name, codec):
    v = _blocky()
    _write_with_pyav(tmp_path / name, v, codec)
    back = read_video(tmp_path / name)
    assert back.shape == v.shape
    assert np.abs(back.astype(int) - v).mean() < 12


def test_png_folder_single_image_and_options(tmp_path):
    v = _blocky(t=10)
    write_video(tmp_path / "frames", v)
    assert np.array_equal(read_video(tmp_path / "frames", frames=4, start=3), v[3:7])
    Image.fromarray(v[0]).save(tmp_path / "one.png")
    assert read_video(tmp_path / "one.png").shape == (1, 32, 32, 3)
    assert read_video(tmp_path / "frames", size=16).shape == (10, 16, 16, 3)
    assert read_video(tmp_path / "frames", size=(8, 16)).shape == (10, 8, 16, 3)


def test_fps_resampling(tmp_path):
    v = _blocky(t=20)
    write_video(tmp_path / "v.mp4", v, fps=20)
    assert read_video(tmp_path / "v.mp4", fps=10).shape[0] == 10


def test_consistent_scaling_keeps_brightness_changes():
    v = np.zeros((2, 4, 4, 3), np.uint8)
    v[0] += 20
    v[1] += 200  # a flash: per-frame min-max would map both frames to the same values
    x = to_tensor(v)
    assert x[0].mean() < -0.8 and x[1].mean() > 0.5
    assert np.array_equal(to_uint8(x), v)


def test_gray_alpha_16bit_and_float_npy(tmp_path):
    g = np.random.default_rng(0).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "g.npy", g)
    assert np.array_equal(read_video(tmp_path / "g.npy")[..., 1], g)
    rgba = np.dstack([_blocky(1)[0], np.full((32, 32), 9, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert read_video(tmp_path / "a.png").shape == (1, 32, 32, 3)
    np.save(tmp_path / "w.npy", (g.astype(np.uint16) * 257))
    assert np.array_equal(read_video(tmp_path / "w.npy")[..., 0], g)
    np.save(tmp_path / "f.npy", g.astype(np.float32) / 255)
    assert np.abs(read_video(tmp_path / "f.npy")[..., 0].astype(int) - g).max() <= 1


def test_many_samples_naming(tmp_path):
    vids = np.stack([_blocky(), _blocky()])
    paths = write_videos(tmp_path / "s.mp4", vids)
    assert [p.name for p in paths] == ["s_0.mp4", "s_1.mp4"]
    (p,) = write_videos(tmp_path / "s.npy", vids)
    assert np.load(p).shape == (2, 6, 32, 32, 3)


def test_side_by_side_and_grid(tmp_path):
    a, b = _blocky(t=3), _blocky(t=6)
    s = side_by_side([a, b], pad=2)
    assert s.shape == (6, 32, 66, 3)
    assert np.array_equal(s[4, :, :32], a[1])  # the shorter video loops
    p = save_frame_grid(tmp_path / "g.png", [a, b], labels=["a", "b"], columns=4)
    assert Image.open(p).size[0] > 100


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("not a video at all" * 50), "cannot"),
    ],
)
def test_bad_videos_raise_clear_errors(tmp_path, make, match):
    p = tmp_path / "bad.mp4"
    make(p)
    with pytest.raises(VideoError, match=match):
        read_video(p)


def test_too_few_frames(tmp_path):
    write_video(tmp_path / "v.npy", _blocky(t=5))
    with pytest.raises(VideoError, match="only 5"):
        read_video(tmp_path / "v.npy", frames=8)


def test_nan_npy_is_rejected(tmp_path):
    a = np.zeros((2, 4, 4, 3), np.float32)
    a[0, 0, 0, 0] = np.nan
    np.save(tmp_path / "n.npy", a)
    with pytest.raises(VideoError, match="NaN"):
        read_video(tmp_path / "n.npy")


def test_folder_of_videos_is_sorted(tmp_path):
    for name in ("b", "a", "c"):
        write_video(tmp_path / f"{name}.npy", _blocky(t=4))
    assert [p.name for p in gather_videos([tmp_path])] == ["a.npy", "b.npy", "c.npy"]
    frames, names = load_videos([tmp_path], size=16, frames=3)
    assert frames.shape == (3, 3, 16, 16, 3) and names == ["a", "b", "c"]


def test_webp_and_gif_are_written_animated_and_looping(tmp_path):
    from PIL import Image

    from dyngen.io.grid import labelled_side_by_side
    from dyngen.io.procedural import ripples

    clip = ripples(6, 16, seed=0)
    for ext in (".gif", ".webp"):
        with Image.open(write_video(tmp_path / f"v{ext}", clip)) as im:
            assert im.n_frames == 6 and im.size == (16, 16) and im.info.get("loop") == 0
    shown = labelled_side_by_side([clip, clip[:3]], ["observed", "dg"], height=64)
    assert shown.shape[0] == 6 and shown.shape[2] == 2 * 64 + 6 and shown.shape[1] > 64  # a strip above
    assert (shown[:, : shown.shape[1] - 64] > 200).mean() > 0.8  # the strip is white, but for the names
    assert (shown[:, : shown.shape[1] - 64] < 100).any()
