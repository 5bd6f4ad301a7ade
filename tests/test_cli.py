"""The command line, end to end at tiny size."""

import json
import re

import numpy as np
import pytest

from dyngen.cli import main
from dyngen.io.procedural import ripples
from dyngen.io.video import write_video

TINY = ["--size", "16", "--frames", "12", "--epochs", "3", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
        "--max-width", "16", "--window", "6", "--langevin-steps", "2", "--learn-steps", "1", "--quiet"]  # fmt: skip


@pytest.fixture
def video(tmp_path):
    return write_video(tmp_path / "clip.npy", ripples(12, 16, seed=2))


def _json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_synthesize_end_to_end(tmp_path, video, capsys):
    run = tmp_path / "run"
    assert main(["train", str(video), "--out", str(run), *TINY, "--json"]) == 0
    s = _json(capsys)
    assert s["epochs"] == 3 and s["run"] == str(run)
    out = tmp_path / "s.npy"
    argv = ["synthesize", str(run), "--frames", "20", "--num", "2", "--out", str(out), "--json", "--quiet"]
    assert main([*argv, "--compare", str(tmp_path / "cmp.mp4")]) == 0
    s = _json(capsys)
    arr = np.load(out)
    assert arr.shape == (2, 20, 16, 16, 3) and arr.dtype == np.uint8
    assert (tmp_path / "cmp.mp4").is_file() and (tmp_path / "cmp.png").is_file()
    assert main([*argv[:-4], "--out", str(tmp_path / "p.npy"), "--noise", "prior", "--quiet"]) == 0
    prior = np.load(tmp_path / "p.npy")
    assert prior.shape == arr.shape and not np.array_equal(prior, arr)  # the default is the fitted noise
    assert (
        main(["synthesize", str(run), "--frames", "8", "--num", "2", "--out", str(tmp_path / "v.mp4"), "--quiet"]) == 0
    )
    assert (tmp_path / "v_0.mp4").is_file() and (tmp_path / "v_1.mp4").is_file()
    # resume to more epochs
    assert main(["train", "--out", str(run), "--resume", "--epochs", "5", "--quiet", "--json"]) == 0
    assert _json(capsys)["epochs"] == 5


def test_demo_runs_small(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--epochs", "2", "--size", "16", "--frames", "8", "--quiet", "--json"]
    assert main(argv) == 0
    s = _json(capsys)
    for key in ("observed", "synthesized", "side_by_side", "grid", "loss_curve"):
        assert (out / s[key].split(str(out) + "/")[-1]).exists(), key
    from dyngen.io.video import read_video

    assert read_video(s["synthesized"]).shape[0] == 32  # 4x the training length


@pytest.mark.parametrize(
    "argv,code,match",
    [
        (["train", "{missing}", "--out", "{out}"], 1, "no such file"),
        (["train", "{garbage}", "--out", "{out}"], 1, "cannot"),
        (["train", "{video}", "--out", "{out}", "--frames", "50"], 1, "only 12"),
        (["train", "{video}", "--out", "{out}", "--preset", "nope"], 2, "invalid choice: 'nope'"),
        (["train", "{video}", "--out", "{out}", "--size", "100"], 2, "cannot make 100x100"),
        (["synthesize", "{tmp}", "--frames", "5", "--out", "{tmp}/x.mp4"], 1, "not a dyngen run"),
    ],
)
def test_bad_input_one_line_and_nothing_written(tmp_path, video, capsys, argv, code, match):
    (tmp_path / "garbage.mp4").write_text("garbage" * 100)
    subs = {"missing": tmp_path / "nope.mp4", "garbage": tmp_path / "garbage.mp4", "video": video,
            "out": tmp_path / "run", "tmp": tmp_path}  # fmt: skip
    argv = [a.format(**subs) for a in argv]
    assert main([*argv, "--quiet"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and match in err[0]
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "x.mp4").exists()


def test_help_shows_defaults(capsys):
    assert main(["synthesize", "--help"]) == 0
    assert "(default: 1)" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["train", "recover", "synthesize", "demo"])
def test_help_tells_each_default_once_and_never_none(capsys, command):
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default: None)" not in out
    assert re.search(r"\(default: [^)]*\) \(default:", out) is None  # no default told twice
    preset = {"train": "cpu-texture: 800", "recover": "cpu-recovery: 500", "demo": "demo: 450"}
    if command in preset:  # each setting shows the value the command's default preset gives it
        assert f"training epochs ({preset[command]})" in out
        assert "(default: from the preset)" not in out
