"""Masks: every source reads to the same bool (T, H, W); generated masks are sized and seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from dyngen.errors import MaskError, UsageError
from dyngen.io.masks import (
    box,
    fit_mask,
    load_mask,
    missing_frames,
    moving_region,
    parse_mask_spec,
    resolve_mask,
    salt_and_pepper,
    save_mask,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared test data not found at {DATA}")


def _blocky(t: int = 4, h: int = 32, w: int = 48) -> torch.Tensor:
    """A mask made of 8x8 blocks, so lossy codecs still threshold it exactly."""
    coarse = torch.rand(t, h // 8, w // 8, generator=torch.Generator().manual_seed(0)) > 0.5
    coarse[:, 0, 0], coarse[:, -1, -1] = True, False  # never all-equal
    return coarse.repeat_interleave(8, 1).repeat_interleave(8, 2)


@pytest.mark.parametrize("name", ["m.mat", "m.npy", "m.mp4", "m.gif", "frames"])
def test_every_source_reads_the_same_mask(tmp_path: Path, name: str) -> None:
    missing = _blocky()
    path = save_mask(tmp_path / name, missing)
    got = load_mask(path)
    assert got.dtype == torch.bool
    assert torch.equal(got, missing)


def test_mat_has_reference_layout(tmp_path: Path) -> None:
    missing = _blocky()
    save_mask(tmp_path / "m.mat", missing)
    raw = scipy.io.loadmat(tmp_path / "m.mat")["masks"]
    assert raw.dtype == np.uint8 and raw.shape == (32, 48, 4, 3)
    assert np.array_equal(raw[:, :, 2, 1].astype(bool), missing[2].numpy())


def test_single_png_is_broadcast_to_every_frame(tmp_path: Path) -> None:
    one = _blocky(t=1)
    path = save_mask(tmp_path / "m.png", one)
    got = load_mask(path, frames=5)
    assert got.shape == (5, 32, 48)
    assert torch.equal(got, one.expand(5, 32, 48))


@pytest.mark.parametrize(
    "array",
    [
        lambda m: m.numpy(),  # bool (T, H, W)
        lambda m: m.numpy().astype(np.uint8),  # 0/1
        lambda m: m.numpy().astype(np.uint8) * 255,  # 0/255
        lambda m: m.numpy().astype(np.float32),  # 0.0/1.0
        lambda m: np.repeat(m.numpy()[..., None], 3, axis=-1).astype(np.uint8),  # (T, H, W, 3)
    ],
)
def test_npy_dtypes_and_layouts(tmp_path: Path, array) -> None:
    missing = _blocky()
    np.save(tmp_path / "m.npy", array(missing))
    assert torch.equal(load_mask(tmp_path / "m.npy"), missing)


def test_npy_single_frame_hw(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", _blocky(t=1)[0].numpy())
    assert load_mask(tmp_path / "m.npy", frames=3).shape == (3, 32, 48)


def test_mat_errors_are_clear(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "nokey.mat", {"mask": np.zeros((4, 4, 2, 3), np.uint8)})
    with pytest.raises(MaskError, match=r"no variable 'masks'.*'mask'"):
        load_mask(tmp_path / "nokey.mat")
    scipy.io.savemat(tmp_path / "dims.mat", {"masks": np.zeros((2, 4, 4, 2, 3), np.uint8)})
    with pytest.raises(MaskError, match=r"\(H, W, T, 3\)"):
        load_mask(tmp_path / "dims.mat")
    with pytest.raises(MaskError, match="no such mask"):
        load_mask(tmp_path / "absent.mat")


def test_nearest_resize_of_matching_aspect() -> None:
    missing = _blocky(h=32, w=48)
    got = fit_mask(missing, 4, (16, 24))
    assert torch.equal(got, missing[:, ::2, ::2])
    assert torch.equal(fit_mask(got, 4, (32, 48)), missing)  # blocks survive the round trip


def test_shape_errors_mention_both_shapes() -> None:
    missing = _blocky(t=4, h=32, w=48)
    with pytest.raises(MaskError, match=r"\(4, 32, 48\).*\(6, 32, 48\)"):
        fit_mask(missing, 6, (32, 48))
    with pytest.raises(MaskError, match=r"\(4, 32, 48\).*\(4, 32, 32\)"):
        fit_mask(missing, 4, (32, 32))


def test_load_mask_fits_and_names_the_file(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.npy", _blocky())
    assert load_mask(path, frames=4, size=(16, 24)).shape == (4, 16, 24)
    with pytest.raises(MaskError, match=r"m\.npy"):
        load_mask(path, frames=5)


def test_missing_frames_ratio_and_layout() -> None:
    m = missing_frames(70, 6, 5, ratio=0.5, seed=1)
    per_frame = m.float().mean(dim=(1, 2))
    assert set(per_frame.tolist()) == {0.0, 1.0}  # whole frames
    assert int(per_frame.sum()) == 35
    mid = missing_frames(69, 2, 2, ratio=1 / 3, contiguous=True)
    hidden = mid[:, 0, 0].nonzero().squeeze(1).tolist()
    assert hidden == list(range(23, 46))  # the middle third


def test_moving_region_size_and_motion() -> None:
    m = moving_region(20, 30, 30, size=12, seed=0)
    assert (m.sum(dim=(1, 2)) == 144).all()
    rows = m.any(dim=2).float().argmax(dim=1)
    cols = m.any(dim=1).float().argmax(dim=1)
    pos = torch.stack([rows, cols], 1)
    assert (pos[1:] != pos[:-1]).any(dim=1).all()  # moves every frame


def test_salt_and_pepper_ratio_per_frame() -> None:
    m = salt_and_pepper(3, 32, 48, block=8, ratio=0.6, seed=0)
    assert torch.allclose(m.float().mean(dim=(1, 2)), torch.full((3,), round(0.6 * 24) / 24))
    assert torch.equal(m[:, ::8, ::8].repeat_interleave(8, 1).repeat_interleave(8, 2), m)  # whole blocks


def test_box() -> None:
    m = box(20, 30, 40, top=10, left=5, height=4, width=6, frames=range(5, 15))
    assert m.sum() == 10 * 24
    assert m[5:15, 10:14, 5:11].all()
    with pytest.raises(UsageError, match="does not fit"):
        box(2, 10, 10, top=8, left=0, height=4, width=1)


@pytest.mark.parametrize(
    "make",
    [
        lambda s: missing_frames(20, 4, 4, ratio=0.5, seed=s),
        lambda s: moving_region(20, 16, 16, size=4, seed=s),
        lambda s: salt_and_pepper(4, 32, 32, block=4, seed=s),
    ],
)
def test_generated_masks_are_seeded(make) -> None:
    assert torch.equal(make(3), make(3))
    assert not torch.equal(make(3), make(4))


def test_generator_argument_matches_seed() -> None:
    a = moving_region(8, 16, 16, size=4, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, moving_region(8, 16, 16, size=4, seed=7))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("frames:0.5", lambda: missing_frames(10, 8, 8, ratio=0.5, seed=2)),
        ("frames:0.33:contiguous", lambda: missing_frames(10, 8, 8, ratio=0.33, contiguous=True)),
        ("region:3", lambda: moving_region(10, 8, 8, size=3, seed=2)),
        ("blocks:4:0.5", lambda: salt_and_pepper(10, 8, 8, block=4, ratio=0.5, seed=2)),
        ("blocks:4", lambda: salt_and_pepper(10, 8, 8, block=4, ratio=0.6, seed=2)),
        ("box:1,2,3,4@5-7", lambda: box(10, 8, 8, top=1, left=2, height=3, width=4, frames=(5, 7))),
        ("box:1,2,3,4", lambda: box(10, 8, 8, top=1, left=2, height=3, width=4)),
    ],
)
def test_parse_mask_spec(spec: str, expected) -> None:
    assert torch.equal(parse_mask_spec(spec, 10, 8, 8, seed=2), expected())


@pytest.mark.parametrize("spec", ["frames", "frames:x", "region:3:4", "blob:3", "box:1,2,3@4-5"])
def test_bad_spec_names_allowed_forms(spec: str) -> None:
    with pytest.raises(UsageError, match=r"frames:RATIO\[:contiguous\].*box:"):
        parse_mask_spec(spec, 10, 8, 8)


def test_resolve_mask_takes_paths_and_specs(tmp_path: Path) -> None:
    path = save_mask(tmp_path / "m.npy", _blocky())
    assert torch.equal(resolve_mask(str(path), frames=4, size=(32, 48)), _blocky())
    assert resolve_mask("region:4", frames=3, size=8, seed=0).shape == (3, 8, 8)
    with pytest.raises(MaskError, match="not a mask spec"):
        resolve_mask(tmp_path / "nothing.mat", frames=3, size=8)


@needs_data
@pytest.mark.data
@pytest.mark.parametrize(
    ("rel", "shape", "ratio"),
    [
        ("recovery/masks/fountain_missing_frames.mat", (70, 150, 150), 0.5),
        ("recovery/masks/fountain_region.mat", (70, 150, 150), 0.16),
        ("removal/boats_mask.mat", (150, 128, 128), None),
    ],
)
def test_reference_mat_files(rel: str, shape: tuple[int, int, int], ratio: float | None) -> None:
    m = load_mask(DATA / rel)
    assert m.shape == shape and m.dtype == torch.bool
    if ratio is not None:
        assert m.float().mean().item() == pytest.approx(ratio, abs=1e-6)
    if "region" in rel:
        assert (m.sum(dim=(1, 2)) == 3600).all()  # one 60x60 square per frame
    if "missing_frames" in rel:
        assert set(m.float().mean(dim=(1, 2)).tolist()) == {0.0, 1.0}
