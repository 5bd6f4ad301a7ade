"""Property-based tests of the video reader and the mask loader on arrays of odd shapes and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from dyngen.errors import MaskError, UsageError, VideoError
from dyngen.io.masks import load_mask
from dyngen.io.video import read_video

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DTYPES = st.sampled_from(["uint8", "uint16", "int16", "int64", "float16", "float32", "float64", "bool", "complex64"])


def shapes(max_dims: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    return hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=6)


@st.composite
def arrays(draw, max_dims: int = 5) -> np.ndarray:
    dtype = draw(DTYPES)
    elements = None
    if dtype.startswith("float"):  # all floats, NaN and infinity included
        elements = st.floats(width=int(dtype[5:]), allow_nan=True, allow_infinity=True)
    return draw(hnp.arrays(dtype=dtype, shape=shapes(max_dims), elements=elements))


def expected_layout(a: np.ndarray) -> tuple[int, int, int] | None:
    """``(T, H, W)`` that the reader documents for ``a``'s shape, or None when it is no video."""
    s = a.shape
    if a.ndim == 2:
        s = (1, *s, 1)
    elif a.ndim == 3:
        s = (1, *s) if s[-1] in (3, 4) and s[0] > 4 else (*s, 1)
    if len(s) != 4 or s[-1] not in (1, 2, 3, 4) or 0 in s:
        return None
    return s[:3]


@FUZZ
@given(a=arrays())
def test_npy_gives_the_documented_frames_or_a_video_error(tmp_path, a):
    np.save(tmp_path / "a.npy", a)
    layout = expected_layout(a)
    try:
        v = read_video(tmp_path / "a.npy")
    except VideoError as e:
        bad_values = a.dtype.kind == "c" or (a.dtype.kind == "f" and not np.isfinite(a).all())
        out_of_range = a.dtype.kind == "i" and a.size and (a.min() < 0 or a.max() > 255)
        assert layout is None or bad_values or out_of_range, (a.dtype, a.shape, e)
        return
    assert layout is not None and v.dtype == np.uint8 and v.shape == (*layout, 3)
    if a.dtype == np.uint8 and a.ndim == 4 and a.shape[-1] == 3:
        assert np.array_equal(v, a)  # exact for the native layout


@FUZZ
@given(
    frame=hnp.arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 3, 4]))),
    size=st.one_of(st.none(), st.integers(1, 12), st.tuples(st.integers(1, 12), st.integers(1, 12))),
)
def test_png_round_trip(tmp_path, frame, size):
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[frame.shape[-1]]
    Image.fromarray(frame[..., 0] if mode == "L" else frame, mode).save(tmp_path / "f.png")
    v = read_video(tmp_path / "f.png", size=size)
    rgb = np.repeat(frame[..., :1], 3, -1) if mode == "L" else frame[..., :3]
    if size is None:
        assert np.array_equal(v[0], rgb)
    else:
        hw = (size, size) if isinstance(size, int) else size
        assert v.shape == (1, *hw, 3)
        assert rgb.min() <= v.min() and v.max() <= rgb.max()  # antialiased resizing never overshoots


@FUZZ
@given(frames=st.integers(-2, 8), start=st.integers(-2, 8), fps=st.one_of(st.none(), st.floats(-1, 60)))
def test_frame_selection_arguments(tmp_path, frames, start, fps):
    clip = np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)
    np.save(tmp_path / "c.npy", clip)
    try:
        v = read_video(tmp_path / "c.npy", frames=frames, start=start, fps=fps)
    except UsageError:
        assert frames < 1 or start < 0 or (fps is not None and not fps > 0)
        return
    except VideoError:
        assert start + frames > 5
        return
    assert np.array_equal(v, clip[start : start + frames])  # fps is ignored for arrays without timing


@FUZZ
@given(a=arrays(max_dims=4), t=st.integers(1, 4), hw=st.sampled_from([(4, 4), (8, 8), (4, 8)]))
def test_mask_loader_gives_a_fitting_mask_or_a_mask_error(tmp_path, a, t, hw):
    np.save(tmp_path / "m.npy", a)
    try:
        m = load_mask(tmp_path / "m.npy", frames=t, size=hw)
    except (MaskError, UsageError):
        return
    assert m.dtype == torch.bool and tuple(m.shape) == (t, *hw)


def test_mask_loader_rejects_what_it_must(tmp_path):
    np.save(tmp_path / "nan.npy", np.full((2, 4, 4), np.nan))
    with pytest.raises(MaskError, match="NaN"):
        load_mask(tmp_path / "nan.npy")
    np.save(tmp_path / "s.npy", np.array(["a"]))
    with pytest.raises(MaskError):
        load_mask(tmp_path / "s.npy")
