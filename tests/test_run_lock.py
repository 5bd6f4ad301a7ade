"""One process trains a run at a time: the run directory's lock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from conftest import tiny_configs

from dyngen.errors import RunError
from dyngen.runs.directory import LOCK, Run
from dyngen.runs.train import resume, train

pytest.importorskip("fcntl")


@pytest.fixture
def run(tmp_path, clip):
    mc, tc = tiny_configs(epochs=2)
    train(tmp_path / "run", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    return Run.open(tmp_path / "run")


def test_the_lock_names_its_owner_while_held(run):
    with run.lock():
        assert (run.path / LOCK).read_text() == f"pid {os.getpid()} on {socket.gethostname()}\n"
    assert (run.path / LOCK).read_text() == ""  # released


def test_a_second_trainer_is_refused_and_changes_nothing(run):
    before = {f.name: f.read_bytes() for f in run.path.iterdir() if f.is_file()}
    with run.lock():  # as if another process were training it
        with pytest.raises(RunError, match=rf"being trained by pid {os.getpid()} on .*wait for it"):
            resume(run.path, epochs=4, device="cpu")
        with pytest.raises(RunError, match="being trained by"):
            with Run.open(run.path).lock():  # a second lock, even in the same process
                pass
    assert {f.name: f.read_bytes() for f in run.path.iterdir() if f.is_file()} == before
    resume(run.path, epochs=4, device="cpu")  # free again
    assert run.read_metrics()[-1]["epoch"] == 4


@pytest.mark.slow
def test_a_killed_owner_leaves_no_lock_behind(run):
    holder = (
        "import os, signal; from dyngen.runs.directory import Run; "
        f"Run.open({str(run.path)!r}).lock().__enter__(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    assert subprocess.run([sys.executable, "-c", holder]).returncode == -9
    assert "pid" in (run.path / LOCK).read_text()  # its name is still in the file, but the lock died with it
    resume(run.path, epochs=4, device="cpu")
    assert run.read_metrics()[-1]["epoch"] == 4
