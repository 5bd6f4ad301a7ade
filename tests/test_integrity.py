"""Checksums of every tensor file a run writes: a damaged file is an error naming it, never a wrong result, and
``--resume`` falls back to the previous checkpoint (``checkpoint.prev.safetensors``) bit for bit."""

from __future__ import annotations

import logging

import pytest
import torch
from conftest import tiny_configs
from hostile import damage_tensors as flip
from safetensors import safe_open
from safetensors.torch import save_file

from dyngen.cli import main
from dyngen.errors import CorruptFile
from dyngen.runs.checkpoint import load_trained
from dyngen.runs.directory import CHECKPOINT, DATA, PREVIOUS, Run
from dyngen.runs.files import CHECKSUM_KEY, load_tensors, tensors_digest
from dyngen.runs.train import resume, train
from dyngen.tasks.encode import load_latents, save_latents


def tensors_of(path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


@pytest.fixture
def run(tmp_path, clip):
    """A tiny run of 3 epochs, checkpointed every epoch: the checkpoint is epoch 3's, the previous one epoch 2's."""
    mc, tc = tiny_configs(epochs=3, checkpoint_every=1)
    train(tmp_path / "run", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    return tmp_path / "run"


def test_every_tensor_file_carries_the_checksum_of_its_tensors(run):
    for name in (CHECKPOINT, PREVIOUS, DATA):
        with safe_open(str(run / name), "pt") as f:
            stored = f.metadata()[CHECKSUM_KEY]
        assert stored == tensors_digest(tensors_of(run / name)), name
    assert Run(run).load_checkpoint()[1]["epoch"] == 3
    assert Run(run)._read_checkpoint(run / PREVIOUS, "cpu")[1]["epoch"] == 2


def test_the_digest_sees_one_flipped_bit_and_every_dtype():
    t = {"a": torch.arange(6, dtype=torch.float32), "b": torch.ones(2, 3, dtype=torch.bool), "c": torch.tensor(1.5)}
    d = tensors_digest(t)
    t["a"][3] = torch.tensor(3.0000002)  # the next float32 after 3.0
    assert tensors_digest(t) != d
    assert tensors_digest({"a": torch.zeros(2, dtype=torch.bfloat16)}) != tensors_digest({"a": torch.zeros(2)})


def test_a_flipped_checkpoint_is_an_error_naming_it_and_writes_nothing(run, tmp_path, capsys):
    flip(run / CHECKPOINT)
    with pytest.raises(CorruptFile, match=r"checkpoint\.safetensors: the checkpoint is corrupt"):
        load_trained(run)
    out = tmp_path / "s.npy"
    assert main(["synthesize", str(run), "--frames", "4", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint.safetensors: the checkpoint is corrupt" in err[0], err
    assert f"dyngen train --out {run} --resume' continues from the previous checkpoint" in err[0]
    assert not out.exists()


def test_resume_falls_back_to_the_previous_checkpoint_bit_for_bit(run, tmp_path, clip, caplog):
    """The checkpoint of epoch 3 is damaged: resume continues from epoch 2's, and its epoch 4 is exactly an
    uninterrupted run's."""
    mc, tc = tiny_configs(epochs=4, checkpoint_every=1)
    whole = train(tmp_path / "whole", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    flip(run / CHECKPOINT)
    with caplog.at_level(logging.WARNING, logger="dyngen"):
        resumed = resume(run, epochs=4, device="cpu")
    assert "continuing from the previous checkpoint checkpoint.prev.safetensors (epoch 2)" in caplog.text
    assert resumed.epoch == 4
    a, b = tensors_of(whole.run.path / CHECKPOINT), tensors_of(run / CHECKPOINT)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in Run(run).read_metrics()] == [1, 2, 3, 4]  # epoch 3 redone, logged once


def test_both_checkpoints_flipped_is_one_clear_error(run, capsys):
    flip(run / CHECKPOINT)
    flip(run / PREVIOUS, seed=1)
    before = (run / "metrics.jsonl").read_bytes()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "5", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint.safetensors: the checkpoint is corrupt" in err[0]
    assert "and the previous one: " in err[0] and "checkpoint.prev.safetensors: the checkpoint is corrupt" in err[0]
    assert (run / "metrics.jsonl").read_bytes() == before


def test_flipped_training_data_is_an_error_naming_it(run, capsys):
    flip(run / DATA)
    assert main(["train", "--out", str(run), "--resume", "--epochs", "5", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "data.safetensors: the run's training data is corrupt" in err


def test_a_run_written_before_checksums_still_loads(run):
    for name in (CHECKPOINT, DATA):
        with safe_open(str(run / name), "pt") as f:
            meta = {k: v for k, v in (f.metadata() or {}).items() if k != CHECKSUM_KEY}
        save_file(tensors_of(run / name), str(run / name), metadata=meta)
    (run / PREVIOUS).unlink()
    assert load_trained(run).epoch == 3
    assert resume(run, epochs=4, device="cpu").epoch == 4
    assert (run / PREVIOUS).is_file()  # and from now on the previous checkpoint is kept


def test_a_missing_checkpoint_resumes_from_the_previous_one(run):
    """A crash between the two renames of a save cannot lose the run: the previous checkpoint is taken."""
    (run / CHECKPOINT).unlink()
    with pytest.raises(CorruptFile, match="the checkpoint is missing"):
        load_trained(run)
    assert resume(run, epochs=3, device="cpu").epoch == 3


def test_a_flipped_latents_file_is_an_error(run, tmp_path):
    trained = load_trained(run)
    from dyngen.tasks.encode import encode

    enc = encode(trained, trained.observed_frames()[0].numpy()[:4], seed=0)
    path = save_latents(tmp_path / "z.safetensors", enc)
    assert torch.equal(load_latents(path)["s0"], enc.s0[0].cpu())
    flip(path, count=4)
    with pytest.raises(CorruptFile, match=r"z\.safetensors: the latents is corrupt"):
        load_tensors(path, "latents")
