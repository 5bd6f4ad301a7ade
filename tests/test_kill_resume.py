"""Crash safety end to end: SIGKILL or Ctrl-C a ``dyngen train`` process, resume it, compare bit for bit.

The reference is the same command run uninterrupted in this process (one thread, as in the
subprocesses), so every comparison also checks that a run does not depend on the process it ran in.
``benchmarks/kill_resume.py`` runs the same trials 20 times at random moments.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from dyngen.cli import main
from dyngen.runs.directory import Run

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "kill_resume.py"
_spec = importlib.util.spec_from_file_location("kill_resume", BENCH)
kr = importlib.util.module_from_spec(_spec)
sys.modules["kill_resume"] = kr  # dataclasses look their module up
_spec.loader.exec_module(kr)

EPOCHS = 12
pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    work = tmp_path_factory.mktemp("kill")
    video = kr.make_clip(work / "clip.npy")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", str(video), "--out", str(work / "reference"), *kr.TINY, "--epochs", str(EPOCHS)]) == 0
    finally:
        torch.set_num_threads(n)
    return work, video, kr.final_state(work / "reference")


@pytest.mark.slow
def test_ctrl_c_then_sigkill_then_resume_is_bit_identical(setup):
    """Ctrl-C saves a checkpoint and exits with 130; the resumed run is killed at a random moment; the
    run, resumed again, ends exactly as an uninterrupted one, with no temporary file left."""
    work, video, reference = setup
    rng = np.random.default_rng(0)
    kill_epoch = int(rng.integers(5, EPOCHS - 1))
    waits = [kr.after_epoch(3, 0.0), kr.after_epoch(kill_epoch, float(rng.uniform(0, 0.05)))]
    trial = kr.kill_and_resume(video, work / "run", EPOCHS, reference, waits, [signal.SIGINT, signal.SIGKILL])
    assert trial.returncodes == [130, -signal.SIGKILL]
    last = trial.stderr.strip().splitlines()[-1]
    assert last.startswith("stopped by Ctrl-C at epoch") and "--resume" in last and "Traceback" not in trial.stderr
    stopped_at = int(last.split("epoch ")[1].split(";")[0])
    assert 3 <= stopped_at < kill_epoch and trial.phases[0] == f"checkpoint at epoch {stopped_at}"
    assert trial.survived, trial.diffs


def test_sigterm_in_process_checkpoints_and_exits_143(tmp_path, monkeypatch, capsys):
    from dyngen.runs import trainer as train_mod

    video = kr.make_clip(tmp_path / "clip.npy")
    real, calls = train_mod.abptt_epoch, {"n": 0}

    def epoch_then_sigterm(*args, **kw):
        calls["n"] += 1
        out = real(*args, **kw)
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as a job scheduler would
        return out

    monkeypatch.setattr(train_mod, "abptt_epoch", epoch_then_sigterm)
    argv = ["train", str(video), "--out", str(tmp_path / "run"), *kr.TINY, "--epochs", "6", "--checkpoint-every", "5"]
    assert main(argv) == 143
    assert "stopped by SIGTERM at epoch 2" in capsys.readouterr().err
    assert Run(tmp_path / "run").load_checkpoint()[1]["epoch"] == 2  # saved although 2 is no checkpoint epoch


@pytest.mark.slow
def test_cut_metrics_line_and_stale_temporaries_do_not_break_resume(setup, tmp_path):
    """What a kill can leave: half a metrics line, a temporary checkpoint, a temporary plot."""
    _, video, reference = setup
    argv = ["train", str(video), "--out", str(tmp_path / "run"), *kr.TINY, "--epochs", str(EPOCHS)]
    assert main([*argv[:-1], "5"]) == 0
    run = Run(tmp_path / "run")
    cfg = run.read_config()
    cfg["train"]["epochs"] = EPOCHS
    run.write_config(cfg)
    with open(run.path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 6, "loss": 1.0})[:9])  # cut mid-write
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = [run.path / f".checkpoint.safetensors.tmp-{dead}", run.path / f".loss.png.tmp-{dead}.png"]
    for p in stale:
        p.write_bytes(b"partial")
    live = run.path / f".checkpoint.safetensors.tmp-{os.getppid()}"  # a live writer's file is never touched
    live.write_bytes(b"busy")
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3, 4, 5]  # the cut line is skipped
    assert main(["train", "--out", str(run.path), "--resume", "--quiet"]) == 0
    assert not any(p.exists() for p in stale) and live.exists()
    live.unlink()
    assert not kr.differences(reference, kr.final_state(run.path))
