"""One aspect-ratio rule everywhere (``--crop none|center``): the window cut, videos and stills read through it,
masks drawn on the source frames cut alike, and a run that remembers how its frames were made."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dyngen.cli import main
from dyngen.cli.animate import read_stills
from dyngen.errors import MaskError, UsageError
from dyngen.io.masks import fit_mask
from dyngen.io.video import crop_box, read_video, resize
from dyngen.runs.checkpoint import load_trained
from dyngen.tasks.appearance import read_model_video

TINY = ["--size", "16", "--frames", "6", "--epochs", "1", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
        "--max-width", "16", "--window", "6", "--langevin-steps", "1", "--learn-steps", "1", "--quiet"]  # fmt: skip


def wide_clip(frames: int = 6) -> np.ndarray:
    """uint8 ``(T, 16, 32, 3)``: a textured centre 16x16 between two pure red bands of 8 columns."""
    rng = np.random.default_rng(0)
    v = rng.integers(0, 120, (frames, 16, 32, 3), dtype=np.uint8)
    v[:, :, :8] = v[:, :, 24:] = (255, 0, 0)
    return v


def test_the_window_is_the_largest_centred_one_of_the_asked_aspect():
    assert crop_box((288, 352), (64, 64), "center") == (0, 32, 288, 288)
    assert crop_box((720, 1280), (64, 64), "center") == (0, 280, 720, 720)
    assert crop_box((100, 50), (8, 8), "center") == (25, 0, 50, 50)
    assert crop_box((90, 160), (9, 32), "center") == (22, 0, 45, 160)  # wider target: rows cut
    assert crop_box((288, 352), (64, 64), "none") == (0, 0, 288, 352)
    assert crop_box((64, 64), (16, 16), "center") == (0, 0, 64, 64)  # the same aspect: nothing cut
    with pytest.raises(UsageError, match="crop must be one of none, center"):
        crop_box((4, 4), (2, 2), "left")


def test_center_keeps_the_middle_and_none_squashes_it_all(tmp_path):
    v = wide_clip()
    np.save(tmp_path / "wide.npy", v)
    centre = read_video(tmp_path / "wide.npy", size=8, crop="center")
    squashed = read_video(tmp_path / "wide.npy", size=8, crop="none")
    assert centre.shape == squashed.shape == (6, 8, 8, 3)
    np.testing.assert_array_equal(centre, resize(v[:, :, 8:24], 8))  # exactly the middle, resized
    red = (centre[..., 0] == 255) & (centre[..., 1] == 0)
    assert not red.any()  # none of the bands
    assert ((squashed[..., 0] > 200) & (squashed[..., 1] < 30))[:, :, [0, -1]].all()  # both bands, squeezed in
    still = read_stills([str(tmp_path / "wide.npy")], (8, 8), crop="center", frame=2)
    np.testing.assert_array_equal(still[0], centre[2])


def test_a_mask_drawn_on_the_source_frames_is_cut_as_they_were():
    m = torch.zeros(1, 16, 32, dtype=torch.bool)
    m[0, 4:8, 10:14] = True  # inside the centre window (columns 8..23)
    m[0, :, 28:] = True  # in the right band, which center cuts away
    centre = fit_mask(m, 3, (8, 8), source_size=(16, 32), crop="center")
    expected = torch.zeros(8, 8, dtype=torch.bool)
    expected[2:4, 1:3] = True
    assert centre.shape == (3, 8, 8) and torch.equal(centre[0], expected) and torch.equal(centre[2], expected)
    squashed = fit_mask(m, 1, (8, 8), source_size=(16, 32), crop="none")
    assert squashed[0, :, -1].all() and squashed[0, 2:4, 2].all() and squashed.sum() == 8 + 2  # nearest samples
    same_aspect = fit_mask(torch.ones(1, 4, 4, dtype=torch.bool), 1, (8, 8), source_size=(16, 32), crop="center")
    assert same_aspect.all()  # drawn at the model's aspect: only resized
    with pytest.raises(MaskError, match=r"12x20 .* 8x8"):  # neither the frames' aspect nor the source's
        fit_mask(torch.zeros(1, 12, 20, dtype=torch.bool), 1, (8, 8), source_size=(16, 32), crop="center")
    with pytest.raises(MaskError, match="different aspect ratio"):  # the source's size unknown: as before
        fit_mask(m, 1, (8, 8))


def test_a_run_remembers_its_crop_and_reads_new_videos_alike(tmp_path, capsys):
    torch.set_num_threads(1)
    np.save(tmp_path / "wide.npy", wide_clip())
    run = tmp_path / "run"
    assert main(["train", str(tmp_path / "wide.npy"), "--out", str(run), *TINY, "--crop", "center"]) == 0
    data = json.loads((run / "config.json").read_text())["data"]
    assert data["crop"] == "center"
    trained = load_trained(run)
    centre = read_video(tmp_path / "wide.npy", size=16, crop="center")
    np.testing.assert_array_equal(read_model_video(trained, tmp_path / "wide.npy"), centre)
    assert main(["train", str(tmp_path / "wide.npy"), "--out", str(tmp_path / "plain"), *TINY]) == 0
    assert json.loads((tmp_path / "plain" / "config.json").read_text())["data"]["crop"] == "none"


def test_recover_cuts_a_source_sized_mask_with_the_video(tmp_path, capsys):
    torch.set_num_threads(1)
    np.save(tmp_path / "wide.npy", wide_clip())
    mask = np.zeros((6, 16, 32), bool)
    mask[:, 4:12, 12:20] = True  # the middle of the centre window
    np.save(tmp_path / "mask.npy", mask)
    out = tmp_path / "rec.npy"
    argv = ["recover", str(tmp_path / "wide.npy"), "--mask", str(tmp_path / "mask.npy"), "--out", str(out),
            "--method", "interp", "--crop", "center", "--size", "16", "--frames", "6", "--json"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["hidden_fraction"] == pytest.approx(8 * 8 / (16 * 16))
    recovered = np.load(out)
    centre = read_video(tmp_path / "wide.npy", size=16, crop="center")
    visible = np.ones((6, 16, 16), bool)
    visible[:, 4:12, 4:12] = False
    np.testing.assert_array_equal(recovered[visible], centre[visible])  # observed pixels kept exactly


def test_animate_crops_as_its_run_unless_told_and_stretch_is_crop_none():
    from dyngen.cli import _parser

    parse = _parser().parse_args
    assert parse(["animate", "run", "a.png", "--out", "x.mp4"]).crop is None  # None: the run's own crop
    assert parse(["animate", "run", "a.png", "--out", "x.mp4", "--crop", "center"]).crop == "center"
    assert parse(["animate", "run", "a.png", "--out", "x.mp4", "--stretch"]).crop == "none"
