"""Hostile and odd inputs through the commands: each gets one clear line and an exit code, never a traceback
(what ``read_video`` makes of each file: ``test_robust_reader.py``).

``python tests/test_robust_inputs.py`` prints the table of docs/robustness.md (every input through
``dyngen train``, then each command's own hostile cases).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile

from dyngen.cli import main
from dyngen.errors import VideoError
from dyngen.io.video import read_video

RUN = ["--epochs", "2", "--checkpoint-every", "1"]  # the run of the cases: a checkpoint and the one before it
TINY = ["--size", "16", "--frames", "12", "--epochs", "1", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
        "--max-width", "16", "--window", "6", "--langevin-steps", "1", "--learn-steps", "1", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """One folder for the inputs (``inputs/``), the run (``run/``) and the outputs, as in docs/robustness.md."""
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="module")
def files(work) -> dict[str, Path]:
    return hostile.make_all(work / "inputs")


@pytest.fixture(scope="module")
def run_dir(work, files) -> Path:
    torch.set_num_threads(1)
    assert main(["train", str(files["good.mp4"]), "--out", str(work / "run"), *TINY, *RUN]) == 0
    return work / "run"


def _copy_run(run: Path, to: Path, *, damage: tuple[str, ...] = ()) -> Path:
    if not to.exists():
        shutil.copytree(run, to)
        for name in damage:
            hostile.damage_tensors(to / name)
    return to


def cli_cases(files: dict[str, Path], run: Path, tmp: Path) -> list[tuple[str, list[str], int, str]]:
    """``(what, argv, exit code, words the error line must hold)`` for each command's hostile cases."""
    out = str(tmp / "out")
    broken = tmp / "broken_run"
    if not broken.exists():
        broken.mkdir()
        for f in ("config.json", "data.safetensors"):
            (broken / f).write_bytes((run / f).read_bytes())
        (broken / "checkpoint.safetensors").write_bytes((run / "checkpoint.safetensors").read_bytes()[:500])
    badjson = tmp / "badjson_run"
    if not badjson.exists():
        badjson.mkdir()
        (badjson / "config.json").write_text("{not json")
    good, npy = str(files["good.mp4"]), str(files["odd size 33x47 .npy"])
    hide_all, hide_none = tmp / "all.npy", tmp / "none.npy"
    np.save(hide_all, np.ones((12, 16, 16), bool))
    np.save(hide_none, np.zeros((12, 16, 16), bool))
    rec = ["recover", good, "--out", str(tmp / "rec.mp4"), "--method", "interp", *TINY]
    flipped = _copy_run(run, tmp / "flipped_run", damage=("checkpoint.safetensors",))
    both = _copy_run(run, tmp / "flipped_both_run", damage=("checkpoint.safetensors", "checkpoint.prev.safetensors"))
    bad_data = _copy_run(run, tmp / "flipped_data_run", damage=("data.safetensors",))
    syn = ["synthesize", str(run), "--frames", "5", "--out", out + ".npy"]
    return [
        ("train: video shorter than --frames", ["train", str(files["1-frame mp4"]), "--out", out, *TINY], 1, "only 1"),
        ("train: --frames 0", ["train", good, "--out", out, *TINY, "--frames", "0"], 2, "argument --frames: must be"),
        ("train: --size 0", ["train", good, "--out", out, *TINY, "--size", "0"], 2, "size must be S or HxW"),
        ("train: --size 33x47", ["train", good, "--out", out, *TINY, "--size", "33x47"], 2, "cannot make 33x47"),
        ("train: --sigma 0", ["train", good, "--out", out, *TINY, "--sigma", "0"], 2, "--sigma: must be a positive"),
        ("train: --lr nan", ["train", good, "--out", out, *TINY, "--lr", "nan"], 2, "--lr: must be a positive"),
        ("train: --epochs -1", ["train", good, "--out", out, *TINY, "--epochs", "-1"], 2, "--epochs: must be"),
        ("train: --window 0", ["train", good, "--out", out, *TINY, "--window", "0"], 2, "--window: must be"),
        ("train: --width 0", ["train", good, "--out", out, *TINY, "--width", "0"], 2, "--width: must be"),
        (
            "train: --transition-width 0",
            ["train", good, "--out", out, *TINY, "--transition-width", "0"],
            2,
            "--transition-width: must be",
        ),
        ("train: --fps 0", ["train", good, "--out", out, *TINY, "--fps", "0"], 2, "--fps: must be a frame rate"),
        ("train: --start -3", ["train", good, "--out", out, *TINY, "--start", "-3"], 2, "--start: must be an"),
        ("train: --seed -1", ["train", good, "--out", out, *TINY, "--seed", "-1"], 2, "--seed: must be an integer"),
        ("train: --epochs abc", ["train", good, "--out", out, *TINY, "--epochs", "abc"], 2, "not an integer"),
        (
            "train: damaged PNG",
            ["train", str(files["PNG truncated to half"]), "--out", out, *TINY],
            1,
            "cannot read image",
        ),
        (
            "train: random bytes .npy",
            ["train", str(files["random bytes .npy"]), "--out", out, *TINY],
            1,
            "not a .npy array",
        ),
        ("train: --device tpu", ["train", good, "--out", out, *TINY, "--device", "tpu"], 2, "unknown device"),
        ("train: --out is a file", ["train", good, "--out", good, *TINY], 1, "not a directory"),
        ("train: --out is a finished run", ["train", good, "--out", str(run), *TINY], 1, "pass --resume"),
        ("train --resume: not a run", ["train", "--out", str(tmp), "--resume"], 1, "not a dyngen run"),
        ("train --resume: corrupt checkpoint", ["train", "--out", str(broken), "--resume"], 1, "may be corrupt"),
        (
            "train --resume: flipped checkpoint and previous",
            ["train", "--out", str(both), "--resume"],
            1,
            "is corrupt: its contents do not match",
        ),
        (
            "train --resume: flipped training data",
            ["train", "--out", str(bad_data), "--resume"],
            1,
            "training data is corrupt",
        ),
        ("train --resume: config not JSON", ["train", "--out", str(badjson), "--resume"], 1, "cannot read the run's"),
        ("train: no command", ["frobnicate"], 2, "invalid choice"),
        (
            "synthesize: --frames 0",
            ["synthesize", str(run), "--frames", "0", "--out", out + ".mp4"],
            2,
            "--frames: must be",
        ),
        (
            "synthesize: --num -2",
            ["synthesize", str(run), "--frames", "5", "--num", "-2", "--out", out + ".mp4"],
            2,
            ">= 1",
        ),
        (
            "synthesize: --out .avi",
            ["synthesize", str(run), "--frames", "5", "--out", out + ".avi"],
            1,
            "cannot write '.avi'",
        ),
        (
            "synthesize: --video 7",
            ["synthesize", str(run), "--frames", "5", "--video", "7", "--out", out + ".npy"],
            2,
            "video",
        ),
        (
            "synthesize: corrupt checkpoint",
            ["synthesize", str(broken), "--frames", "5", "--out", out + ".npy"],
            1,
            "may be corrupt",
        ),
        ("synthesize: not a run", ["synthesize", good, "--frames", "5", "--out", out + ".npy"], 1, "no such run"),
        (
            "synthesize: flipped checkpoint",
            ["synthesize", str(flipped), "--frames", "5", "--out", out + ".npy"],
            1,
            "continues from the previous checkpoint",
        ),
        ("synthesize: --noise-scale nan", [*syn, "--noise-scale", "nan"], 2, "--noise-scale: must be"),
        ("synthesize: --noise-scale -1", [*syn, "--noise-scale", "-1"], 2, "--noise-scale: must be"),
        ("synthesize: --video -1", [*syn, "--video", "-1"], 2, "no training video '-1'"),
        ("synthesize: --fps nan", [*syn, "--fps", "nan"], 2, "--fps: must be a frame rate"),
        ("synthesize: --fps 0", [*syn, "--fps", "0"], 2, "--fps: must be a frame rate"),
        ("synthesize: --out ''", [*syn[:-2], "--out", ""], 2, "an empty path"),
        ("demo: --size 30", ["demo", "--out", out, "--size", "30"], 2, "cannot make 30x30"),
        ("demo: --epochs 0", ["demo", "--out", out, "--epochs", "0"], 2, "--epochs: must be"),
        ("recover: mask hides everything", [*rec, "--mask", str(hide_all)], 1, "nothing is observed"),
        ("recover: mask of another size", [*rec, "--mask", npy], 1, "mask"),
        ("recover: bad mask spec", [*rec, "--mask", "blocks:0"], 2, "block must be >= 1"),
        ("recover: --mask ''", [*rec, "--mask", ""], 2, "an empty path"),
        ("recover: --width 0", [*rec, "--mask", "frames:0.5", "--width", "0"], 2, "--width: must be"),
        ("recover: --max-width 0", [*rec, "--mask", "frames:0.5", "--max-width", "0"], 2, "--max-width: must be"),
        ("recover: random bytes .npy mask", [*rec, "--mask", str(files["random bytes .npy"])], 1, "not a .npy"),
        (
            "recover: NaN video",
            [
                "recover",
                str(files[".npy with a NaN"]),
                "--mask",
                "frames:0.5",
                "--out",
                out + ".mp4",
                "--method",
                "interp",
                *TINY,
            ],
            1,
            "NaN",
        ),
        ("evaluate: corrupt video", ["evaluate", str(files["mp4 with 400 corrupt bytes"]), good], 1, "cannot decode"),
        ("evaluate: empty file", ["evaluate", good, str(files["zero-byte .mp4"])], 1, "empty (0 bytes)"),
        ("report: not a run", ["report", good, "--out", out], 1, "no such run"),
        ("encode: zero-byte video", ["encode", str(run), str(files["zero-byte .mp4"])], 1, "empty (0 bytes)"),
        ("encode: --langevin-steps 0", ["encode", str(run), good, "--langevin-steps", "0"], 2, "must be an integer"),
        ("evaluate: --sample -1", ["evaluate", good, good, "--sample", "-1"], 2, "--sample: must be"),
        ("animate: --fps nan", ["animate", str(run), good, "--out", out + ".mp4", "--fps", "nan"], 2, "--fps: must"),
        (
            "animate: text file as image",
            ["animate", str(run), str(files["text file named .mp4"]), "--out", out + ".mp4"],
            1,
            "cannot open",
        ),
        (
            "interpolate: run without appearances",
            ["interpolate", str(run), "--between", "0", "0", "--out", out + ".mp4"],
            2,
            "needs a run trained with appearance vectors",
        ),
    ]


def run_cli(argv: list[str]) -> tuple[int, str]:
    """Exit code and stderr of ``dyngen argv``, usage errors (SystemExit) included."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, err.getvalue()


def test_cli_hostile_cases_one_line_each(files, run_dir, work):
    """Each case: its exit code and one error line with its words; nothing written; and its row in
    docs/robustness.md is the message it gets (the table cannot go stale)."""
    logging.getLogger("dyngen").setLevel(logging.ERROR)  # warnings are not errors; this test reads error lines
    docs = (Path(__file__).resolve().parents[1] / "docs" / "robustness.md").read_text()
    try:
        for what, argv, code, words in cli_cases(files, run_dir, work):
            got, err = run_cli([*argv, "--quiet"])
            lines = err.strip().splitlines()
            assert got == code, (what, got, err)
            assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (what, err)
            assert not (work / "out").exists() and not (work / "out.mp4").exists(), what
            assert not (work / "out.npy").exists(), what
            assert case_row(what, got, lines[0], work) in docs, (
                f"docs/robustness.md: no row {case_row(what, got, lines[0], work)}"
            )
    finally:
        logging.getLogger("dyngen").setLevel(logging.NOTSET)


def test_recover_mask_hiding_nothing_warns_and_keeps_the_input(files, tmp_path, caplog):
    np.save(tmp_path / "none.npy", np.zeros((12, 16, 16), bool))
    out = tmp_path / "rec.npy"
    argv = ["recover", str(files["good.mp4"]), "--mask", str(tmp_path / "none.npy"), "--out", str(out)]
    with caplog.at_level(logging.WARNING):
        assert main([*argv, "--method", "interp", *TINY]) == 0
    assert "hides no pixel" in caplog.text
    assert np.array_equal(np.load(out), read_video(files["good.mp4"], size=16))


def test_window_longer_than_the_video_is_one_window_with_a_note(files, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="dyngen"):
        argv = ["train", str(files["good.mp4"]), "--out", str(tmp_path / "r"), *TINY, "--window", "50", "--json"]
        assert main(argv) == 0
    assert "longer than the videos (12): one window of 12" in caplog.text


def test_a_single_frame_trains_with_a_warning(files, tmp_path, caplog, capsys):
    with caplog.at_level(logging.WARNING, logger="dyngen"):
        argv = ["train", str(files["1x1 PNG"]), "--out", str(tmp_path / "r"), *TINY, "--frames", "1", "--json"]
        assert main(argv) == 0
    assert "single frame" in caplog.text and "upscaled" in caplog.text
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["epochs"] == 1


def test_debug_shows_the_traceback(files, tmp_path):
    with pytest.raises(VideoError):
        main(["train", str(files["zero-byte .mp4"]), "--out", str(tmp_path / "r"), *TINY, "--debug"])


def clean(text: str, work: Path) -> str:
    """A message with the work folder's paths made relative (``DIR`` for the folder itself), for the docs."""
    return text.replace(str(work) + "/", "").replace(str(work), "DIR").replace("|", "/")


def case_row(what: str, code: int, line: str, work: Path) -> str:
    cmd, _, case = what.partition(": ")
    return f"| {cmd} | {case} | {code}: {clean(line, work)} |"


def table(work: Path) -> str:
    """The markdown tables of docs/robustness.md: every input through ``read_video`` and ``dyngen train``
    (``--frames 12``), then each command's own hostile cases."""
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    files = hostile.make_all(work / "inputs")
    rows = ["| input | read_video(size=16) | dyngen train (exit code: message) |", "|---|---|---|"]
    for name, path in files.items():
        try:
            read = f"frames: {read_video(path, size=16).shape[0]}"
        except VideoError:
            read = "VideoError"
        code, err = run_cli(["train", str(path), "--out", str(work / "runs" / str(len(rows))), *TINY])
        msg = err.strip().splitlines()[-1] if code else "trains"
        rows.append(f"| {name} | {read} | {code}: {clean(msg, work)} |")
    run = work / "run"
    assert run_cli(["train", str(files["good.mp4"]), "--out", str(run), *TINY, *RUN])[0] == 0
    rows += ["", "| command | case | exit code: message |", "|---|---|---|"]
    for what, argv, _, _ in cli_cases(files, run, work):
        code, err = run_cli([*argv, "--quiet"])
        rows.append(case_row(what, code, err.strip().splitlines()[-1], work))
    return "\n".join(rows)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(table(Path(tmp)))
