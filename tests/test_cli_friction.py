"""The friction found on the README's commands (issue 18), and the messages that must stay true (issue 19):
presets, evaluate's bounded size, recover reusing its run, masks cut with the video, renamed flags, --scale,
encode's latents file, undertrained runs, stills, read-only outputs, checks that come before the work."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from dyngen.cli import main
from dyngen.io.procedural import ripples
from dyngen.io.video import read_video, write_video

TINY = ["--size", "16", "--frames", "12", "--epochs", "1", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
        "--max-width", "16", "--window", "6", "--langevin-steps", "1", "--learn-steps", "1", "--quiet"]  # fmt: skip


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("friction")
    np.save(d / "clip.npy", ripples(12, 16, seed=1))
    (d / "two").mkdir()
    np.save(d / "two" / "a.npy", ripples(12, 16, seed=1))
    np.save(d / "two" / "b.npy", ripples(12, 16, seed=2))
    assert main(["train", str(d / "clip.npy"), "--out", str(d / "run"), *TINY]) == 0
    assert main(["train", str(d / "two"), "--out", str(d / "arun"), *TINY, "--appearance-dim", "2"]) == 0
    return d


def test_presets_lists_them_and_shows_every_value_of_one(capsys):
    code, out, _ = run_cli(["presets", "--quiet"], capsys)
    assert code == 0 and "cpu-texture" in out and "paper-removal" in out
    code, out, _ = run_cli(["presets", "cpu-recovery", "--json"], capsys)
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and summary["train"]["epochs"] == 500 and summary["model"]["base_channels"] == 16
    code, out, _ = run_cli(["presets", "cpu-recovery"], capsys)
    assert "--epochs                     500 *" in out and "--lr                         0.002\n" in out
    assert run_cli(["presets", "nope"], capsys)[0] == 2


def test_evaluate_brings_both_videos_to_one_bounded_size_and_says_so(work, capsys):
    big = write_video(work / "big.npy", np.repeat(np.repeat(ripples(40, 16, seed=4), 20, 1), 30, 2))  # 320x480
    code, out, _ = run_cli(["evaluate", str(work / "clip.npy"), str(big), "--json"], capsys)
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["size"] == [16, 16] and summary["frames"] == {"synthesized": 12, "observed": 40}
    code, out, _ = run_cli(["evaluate", str(big), str(big)], capsys)
    assert "scored at 171x256 (scaled to at most 256 a side)" in out  # 320x480 -> the longest side 256
    assert "resized from 320x480" in out


def test_evaluate_quiet_still_prints_the_metrics(work, capsys):
    code, out, err = run_cli(["evaluate", str(work / "clip.npy"), str(work / "clip.npy"), "--quiet"], capsys)
    assert code == 0 and "appearance_distance" in out and "dynamics_distance" in out and err == ""


def test_evaluate_checks_memory_before_the_metrics(work, capsys, monkeypatch):
    import dyngen.resources as resources

    monkeypatch.setattr(resources, "available_memory", lambda device="cpu": 10_000)
    code, _, err = run_cli(["evaluate", str(work / "clip.npy"), str(work / "clip.npy"), "--quiet"], capsys)
    assert code == 1 and "scoring 12 + 12 frames of 16x16 needs about" in err and "give a smaller --size" in err


def test_recover_reuses_its_run_and_refuses_another_video(work, capsys, monkeypatch):
    out = work / "rec.npy"
    argv = ["recover", str(work / "clip.npy"), "--mask", "frames:0.5", "--out", str(out), *TINY]
    assert main(argv) == 0
    first = np.load(out)
    ckpt = (work / "rec_run" / "checkpoint.safetensors").read_bytes()
    from dyngen.runs import trainer

    monkeypatch.setattr(trainer.Trainer, "fit", lambda *a, **k: pytest.fail("trained again"))
    code, stdout, _ = run_cli([*argv[:-1], "--residual", "interp"], capsys)  # --quiet dropped: the lines show
    assert code == 0 and "(reused: not trained again)" in stdout
    assert (work / "rec_run" / "checkpoint.safetensors").read_bytes() == ckpt
    assert main([*argv, "--residual", "none"]) == 0 and np.array_equal(np.load(out), first)  # the same fill again
    other = ["recover", str(work / "two" / "b.npy"), "--mask", "frames:0.5", "--out", str(out), *TINY]
    code, _, err = run_cli([*other, "--run", str(work / "rec_run")], capsys)
    assert code == 1 and "holds the recovery of another video or mask; choose another --run" in err
    code, _, err = run_cli([*argv, "--epochs", "3", "--sigma", "0.7"], capsys)
    assert code == 1 and "was trained with other settings: sigma 0.5 (asked 0.7)" in err
    assert "--resume" not in err


def test_a_longer_mask_is_cut_with_the_video(work):
    video = ripples(30, 16, seed=5)
    np.save(work / "long.npy", video)
    mask = np.zeros((30, 16, 16), bool)
    mask[np.arange(30), np.arange(30) % 16, :] = True  # row t % 16 hidden in frame t
    np.save(work / "mask30.npy", mask)
    out = work / "cut.npy"
    argv = ["recover", str(work / "long.npy"), "--mask", str(work / "mask30.npy"), "--out", str(out), "--method",
            "interp", "--size", "16", "--frames", "12", "--start", "10", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    got = np.load(out)
    assert np.array_equal(got[~mask[10:22]], video[10:22][~mask[10:22]])  # frames 10..21, and their mask rows
    assert not np.array_equal(got[mask[10:22]], video[10:22][mask[10:22]])


def test_renamed_flags_keep_working_with_a_warning(work, caplog):
    base = ["synthesize", str(work / "run"), "--frames", "4", "--quiet"]
    assert main([*base, "--s0", "random", "--out", str(work / "new.npy")]) == 0
    with caplog.at_level(logging.WARNING, logger="dyngen"):
        assert main([*base, "--start", "random", "--out", str(work / "old.npy")]) == 0
    assert "--start is deprecated; use --s0" in caplog.text
    assert np.array_equal(np.load(work / "new.npy"), np.load(work / "old.npy"))
    ipol = ["interpolate", str(work / "arun"), "--between", "0", "1", "--frames", "3", "--quiet", "--spacing",
            "uniform"]  # fmt: skip
    assert main([*ipol, "--rows", "3", "--out", str(work / "i_new.npy")]) == 0
    assert main([*ipol, "--steps", "3", "--out", str(work / "i_old.npy")]) == 0
    assert np.array_equal(np.load(work / "i_new.npy"), np.load(work / "i_old.npy"))
    assert np.load(work / "i_new.npy").shape[1] == 3 * 16 + 2 * 2  # three rows of 16 pixels, white lines between


def test_scale_enlarges_video_outputs_but_not_npy(work):
    base = ["synthesize", str(work / "run"), "--frames", "4", "--quiet", "--scale", "3"]
    assert main([*base, "--out", str(work / "big.npy")]) == 0 and np.load(work / "big.npy").shape == (4, 16, 16, 3)
    assert main([*base, "--out", str(work / "frames")]) == 0
    png = read_video(work / "frames")
    assert png.shape == (4, 48, 48, 3)
    assert np.array_equal(png[:, ::3, ::3], np.load(work / "big.npy"))  # nearest: each pixel a 3x3 block


def test_encode_keeps_its_latents_without_out(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    argv = ["encode", str(work / "arun"), str(work / "clip.npy"), "--langevin-steps", "2", "--restarts", "1"]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and (work / "clip_latents.safetensors").is_file()
    assert "latents: clip_latents.safetensors" in out and len(out.split()) < 60  # not 100 numbers
    code, _, err = run_cli(argv, capsys)  # the default is never overwritten
    assert code == 2 and "clip_latents.safetensors exists (the default output); pass --out" in err


def test_an_undertrained_run_says_so_where_its_outputs_are_written(work, capsys):
    from dyngen.runs.directory import Run

    run = work / "short"
    assert main(["train", str(work / "clip.npy"), "--out", str(run), *TINY, "--epochs", "2"]) == 0
    summary = Run(run).read_summary()
    Run(run).write_summary({**summary, "epochs": 1})  # as a stop by --time-limit leaves it
    code, _, err = run_cli(["synthesize", str(run), "--frames", "3", "--out", str(work / "u.npy"), "--quiet"], capsys)
    assert (
        code == 0 and "warning: the run stopped at epoch 1 of 2 (50%), so its model and outputs are undertrained" in err
    )


def test_animate_refuses_a_video_unless_told_which_frame(work, capsys):
    argv = ["animate", str(work / "arun"), str(work / "two" / "a.npy"), "--frames", "3", "--langevin-steps", "2",
            "--restarts", "1", "--quiet"]  # fmt: skip
    code, _, err = run_cli([*argv, "--out", str(work / "an.npy")], capsys)
    assert code == 2 and "holds more than one frame" in err and "--still-frame N" in err
    assert not (work / "an.npy").exists()
    assert main([*argv, "--out", str(work / "an.npy"), "--still-frame", "5"]) == 0
    assert np.load(work / "an.npy").shape == (3, 16, 16, 3)


def test_animate_checks_memory_and_its_output_before_inference(work, capsys, monkeypatch):
    from dyngen.algorithms import inference

    monkeypatch.setattr(inference, "infer_latents", lambda *a, **k: pytest.fail("inference ran"))
    still = work / "still.png"
    from PIL import Image

    Image.fromarray(ripples(1, 16, seed=3)[0]).save(still)
    argv = ["animate", str(work / "arun"), str(still), "--quiet"]
    code, _, err = run_cli([*argv, "--frames", "100000000", "--out", str(work / "x.npy")], capsys)
    assert code == 1 and "synthesizing 1 x 100000000 frames of 16x16 needs about" in err
    code, _, err = run_cli([*argv, "--out", str(work / "x.avi")], capsys)
    assert code == 1 and "cannot write '.avi'" in err


@pytest.mark.parametrize("command", ["synthesize", "recover", "report"])
def test_a_read_only_output_folder_is_one_line(work, capsys, monkeypatch, command):
    """EROFS, as a read-only mount gives it (root writes through a chmod), at the folder check and the write."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if "ro" in Path(p).parts else real_access(p, mode))
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **kw):
        if "ro" in self.parts:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    ro = work / "ro"
    argv = {
        "synthesize": ["synthesize", str(work / "run"), "--frames", "3", "--out", str(ro / "s.mp4")],
        "recover": [
            "recover",
            str(work / "clip.npy"),
            "--mask",
            "frames:0.5",
            "--method",
            "interp",
            "--out",
            str(ro / "r.mp4"),
            *TINY,
        ],
        "report": ["report", str(work / "run"), "--out", str(ro / "report"), "--frames", "4"],
    }[command]
    code, _, err = run_cli([*argv, "--quiet"], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "cannot write" in lines[0] and "bug in dyngen" not in err, err
    assert not ro.exists()


def test_train_refuses_a_non_empty_out_before_decoding(work, capsys, monkeypatch):
    import dyngen.io.dataset as dataset

    monkeypatch.setattr(dataset, "read_video", lambda *a, **k: pytest.fail("decoded"))
    code, _, err = run_cli(["train", str(work / "clip.npy"), "--out", str(work / "run"), *TINY], capsys)
    assert code == 1 and "the run directory is not empty" in err
