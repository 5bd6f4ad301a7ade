"""Starting a run from another run's weights (``train(warm_start=...)``, ``recover --backward-epochs``)."""

import json
from dataclasses import replace

import pytest
import torch
from conftest import tiny_configs

from dyngen.errors import UsageError
from dyngen.io.masks import moving_region
from dyngen.io.procedural import ripples
from dyngen.runs.directory import Run
from dyngen.runs.train import train
from dyngen.tasks.recover import recover


def first_loss(run_dir) -> float:
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])["mse"]


def test_a_warm_started_run_starts_where_the_other_ended(tmp_path):
    frames = torch.from_numpy(ripples(12, 16, seed=1))[None]
    mc, tc = tiny_configs(epochs=30)
    train(tmp_path / "a", frames, names=["v"], model_config=mc, train_config=tc, device="cpu")
    one = replace(tc, epochs=1)
    train(tmp_path / "fresh", frames.flip(1), names=["v"], model_config=mc, train_config=one, device="cpu")
    warm = train(tmp_path / "warm", frames.flip(1), names=["v"], model_config=mc, train_config=one, device="cpu",
                 warm_start=tmp_path / "a")  # fmt: skip
    assert first_loss(tmp_path / "warm") < 0.5 * first_loss(tmp_path / "fresh")  # the weights carried over
    assert Run(tmp_path / "warm").read_config()["data"]["warm_start"] == str(tmp_path / "a")
    assert warm.chains.noise.shape == (1, 12, mc.noise_dim)
    with pytest.raises(UsageError, match="another model"):
        train(tmp_path / "other", frames, names=["v"], model_config=replace(mc, state_dim=5), train_config=one,
              device="cpu", warm_start=tmp_path / "a")  # fmt: skip
    assert not (tmp_path / "other").exists()  # refused before anything was written


def test_both_ways_with_a_warm_backward_run(tmp_path):
    video = ripples(12, 16, seed=3)
    missing = moving_region(12, 16, 16, size=6, seed=0)
    mc, tc = tiny_configs(epochs=4)
    mc = replace(mc, emission="warp", warp_input="frame")
    res = recover(video, missing, method="dg", both_ways=True, backward_epochs=2, run_dir=tmp_path / "run",
                  model_config=mc, train_config=tc, device="cpu")  # fmt: skip
    back = Run(tmp_path / "run_backward")
    assert back.read_config()["data"]["warm_start"] == str(tmp_path / "run")
    assert back.read_summary()["epochs"] == 2 and Run(tmp_path / "run").read_summary()["epochs"] == 4
    seen = ~missing
    x = torch.from_numpy(video).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.allclose(res.recovered.permute(0, 2, 3, 1)[seen], x.permute(0, 2, 3, 1)[seen])
    with pytest.raises(UsageError, match="backward_epochs"):
        recover(video, missing, method="dg", backward_epochs=2, run_dir=tmp_path / "r2", model_config=mc,
                train_config=tc, device="cpu")  # fmt: skip


def test_a_time_limit_applies_to_each_run_of_a_command():
    """recover --both-ways trains two runs: the first reaching --time-limit must not cut the second to one epoch,
    and a stop that the limit did not set (Ctrl-C) stays."""
    import threading

    from dyngen.cli.train import with_time_limit

    seen = []
    stop = threading.Event()
    cb = with_time_limit(seen.append, stop, 1.0)  # one minute per run
    cb({"epoch": 1, "elapsed": 30.0})
    assert not stop.is_set()
    cb({"epoch": 2, "elapsed": 61.0})
    assert stop.is_set()  # the first run stops
    cb({"epoch": 1, "elapsed": 2.0})
    assert not stop.is_set() and len(seen) == 3  # the second run has its own minute
    stop.set()  # Ctrl-C
    cb({"epoch": 2, "elapsed": 4.0})
    assert stop.is_set()
