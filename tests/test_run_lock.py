"""One process trains a run at a time: the run directory's lock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from conftest import tiny_configs

from dyngen.errors import RunError
from dyngen.run import LOCK, Run
from dyngen.tasks.train import resume, train


@pytest.fixture
def run(tmp_path, clip):
    mc, tc = tiny_configs(epochs=2)
    train(tmp_path / "run", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    return Run.open(tmp_path / "run")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_training_releases_the_lock(run):
    assert not (run.path / LOCK).exists()
    with run.lock():
        assert (run.path / LOCK).read_text().split() == [str(os.getpid()), socket.gethostname()]
    assert not (run.path / LOCK).exists()


def test_a_second_process_is_refused_and_changes_nothing(run):
    (run.path / LOCK).write_text(f"{os.getppid()} {socket.gethostname()}\n")  # a live process holds the run
    before = {f.name: f.read_bytes() for f in run.path.iterdir() if f.is_file()}
    with pytest.raises(RunError, match=rf"another process \(pid {os.getppid()} .*delete .*\.lock"):
        resume(run.path, epochs=4, device="cpu")
    assert {f.name: f.read_bytes() for f in run.path.iterdir() if f.is_file()} == before


def test_a_lock_from_another_host_is_respected(run):
    (run.path / LOCK).write_text(f"{_dead_pid()} some-other-machine\n")
    with pytest.raises(RunError, match="some-other-machine"):
        resume(run.path, epochs=4, device="cpu")


@pytest.mark.parametrize("content", ["dead", "", "garbage"])
def test_a_lock_left_by_a_dead_process_is_taken_over(run, content):
    text = {"dead": f"{_dead_pid()} {socket.gethostname()}\n", "": "", "garbage": "not a pid"}[content]
    (run.path / LOCK).write_text(text)
    resume(run.path, epochs=4, device="cpu")
    assert run.read_metrics()[-1]["epoch"] == 4
    assert not (run.path / LOCK).exists()
