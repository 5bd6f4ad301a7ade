"""A full disk or a read-only folder: one clear error, and the previous checkpoint stays byte for byte."""

from __future__ import annotations

import errno
import os
import shutil

import pytest
from conftest import tiny_configs

from dyngen.cli import main
from dyngen.errors import DyngenError, ResourceError
from dyngen.runs.directory import CHECKPOINT, Run
from dyngen.runs.train import resume, train


@pytest.fixture
def run(tmp_path, clip):
    """A tiny run checkpointed at epoch 2 of 4."""
    mc, tc = tiny_configs(epochs=2, checkpoint_every=1)
    train(tmp_path / "run", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    return tmp_path / "run"


def _fail_checkpoint_writes(monkeypatch, code, *, partial=False):
    """Make writing the checkpoint fail with ``code``: at the rename, or (``partial``) half-way through the data."""
    import dyngen.runs.files as run_mod

    if partial:
        real = run_mod.save_file

        def save_file(tensors, path, metadata=None):
            real(tensors, path, metadata=metadata)
            with open(path, "r+b") as f:  # the disk filled up half-way
                f.truncate(os.path.getsize(path) // 2)
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(run_mod, "save_file", save_file)
    else:
        real_replace = os.replace

        def replace(src, dst, *a, **kw):
            if str(dst).endswith(CHECKPOINT):
                raise OSError(code, os.strerror(code))
            return real_replace(src, dst, *a, **kw)

        monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("partial", [False, True])
def test_failed_checkpoint_write_keeps_the_previous_one(run, monkeypatch, code, partial):
    before = (run / CHECKPOINT).read_bytes()
    _fail_checkpoint_writes(monkeypatch, code, partial=partial)
    with pytest.raises(DyngenError, match=f"cannot write \\({os.strerror(code)}\\).*previous checkpoint is unchanged"):
        resume(run, epochs=4, device="cpu")
    assert (run / CHECKPOINT).read_bytes() == before
    assert not list(run.glob(".*.tmp-*"))  # no partial temporary left behind
    monkeypatch.undo()
    assert resume(run, epochs=4, device="cpu").epoch == 4  # once there is space again, it goes on


def test_cli_full_disk_is_one_line_exit_1(run, monkeypatch, capsys):
    before = (run / CHECKPOINT).read_bytes()
    _fail_checkpoint_writes(monkeypatch, errno.ENOSPC)
    assert main(["train", "--out", str(run), "--resume", "--epochs", "4", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "No space left on device" in err[0]
    assert (run / CHECKPOINT).read_bytes() == before


def test_low_free_space_is_refused_before_writing(run, monkeypatch):
    before = (run / CHECKPOINT).read_bytes()
    checkpoint_size = len(before)
    real = shutil.disk_usage
    monkeypatch.setattr(
        "dyngen.runs.files.shutil.disk_usage", lambda p: real(p)._replace(free=int(1.5 * checkpoint_size))
    )  # less than twice the checkpoint
    metrics = (run / "metrics.jsonl").read_bytes()
    with pytest.raises(ResourceError, match=r"not enough free disk space to write the run \(.*\): .* MB free"):
        resume(run, epochs=4, device="cpu")  # refused before training: the checkpoint of epoch 3 would not fit
    assert (run / CHECKPOINT).read_bytes() == before and (run / "metrics.jsonl").read_bytes() == metrics
    monkeypatch.setattr("dyngen.runs.files.shutil.disk_usage", lambda p: real(p)._replace(free=3 * checkpoint_size))
    assert resume(run, epochs=3, device="cpu").epoch == 3


def test_new_run_on_a_full_disk_writes_nothing(tmp_path, clip, monkeypatch):
    """Refused before training, from the size of what the run will write (data, checkpoints, previews)."""
    real = shutil.disk_usage
    free = 400_000  # more than the data and one checkpoint (~0.1 MB), less than twice the run
    monkeypatch.setattr("dyngen.runs.files.shutil.disk_usage", lambda p: real(p)._replace(free=free))
    mc, tc = tiny_configs()
    with pytest.raises(ResourceError, match=r"to write the run \(0.0 MB of data, 3 checkpoint files of 0.1 MB, 0 "
                       r"previews\): .*; free some space or use another --out; nothing was written"):  # fmt: skip
        train(tmp_path / "r", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    assert not (tmp_path / "r").exists()
    monkeypatch.undo()  # and the empty folder can be used once there is space
    train(tmp_path / "r", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_read_only_run_folder(run):
    before = (run / CHECKPOINT).read_bytes()
    run.chmod(0o555)
    try:
        with pytest.raises(DyngenError, match="Permission denied"):
            resume(run, epochs=4, device="cpu")
    finally:
        run.chmod(0o755)
    assert (run / CHECKPOINT).read_bytes() == before


def test_files_get_the_umask_mode(run):
    umask = os.umask(0)
    os.umask(umask)
    for name in (CHECKPOINT, "data.safetensors", "config.json"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_leftovers_of_a_run_killed_before_it_started_are_taken_over(tmp_path, clip):
    d = tmp_path / "r"
    d.mkdir()
    (d / "data.safetensors").write_bytes(b"half")
    (d / f".data.safetensors.tmp-{2**22 + 7}").write_bytes(b"half")
    mc, tc = tiny_configs(epochs=1)
    assert train(d, clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu").epoch == 1
    assert not list(d.glob(".*.tmp-*"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(DyngenError, match="not empty; choose an empty or new folder"):
        train(tmp_path / "other", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    assert Run(d).read_metrics()[-1]["epoch"] == 1
