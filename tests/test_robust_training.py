"""Numerical guards: a Langevin explosion is rolled back like a NaN; training gives up in one clear line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import tiny_configs

from dyngen.algorithms.abptt import TrainConfig
from dyngen.cli import main
from dyngen.errors import TrainingDiverged, UsageError
from dyngen.io.video import write_video
from dyngen.runs import guards
from dyngen.runs import trainer as train_mod
from dyngen.runs.directory import Run
from dyngen.runs.guards import LATENT_LIMIT, MAX_RECOVERIES
from dyngen.runs.train import train


def _sabotage(monkeypatch, bad_calls, how):
    """Run the real epoch, then wreck the latents (``how``) on the calls in ``bad_calls``; record each lr."""
    real, seen = train_mod.abptt_epoch, []

    def epoch(model, optimizer, frames, chains, config, **kw):
        seen.append((config.lr, config.step_size))
        out = real(model, optimizer, frames, chains, config, **kw)
        if len(seen) in bad_calls:
            how(chains, out)
        return out

    monkeypatch.setattr(train_mod, "abptt_epoch", epoch)
    return seen


def _explode(chains, out):
    chains.noise[0, 3] *= 1e6  # finite, but far outside any N(0, I) sample


def test_langevin_explosion_rolls_back_and_halves_the_rates(tmp_path, clip, monkeypatch, caplog):
    seen = _sabotage(monkeypatch, {2}, _explode)
    mc, tc = tiny_configs(epochs=3)
    trained = train(tmp_path / "r", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    assert "Langevin explosion (max |noise|" in caplog.text
    assert [s[0] for s in seen] == [tc.lr, tc.lr, tc.lr / 2, tc.lr / 2]  # epoch 2 was tried twice
    assert seen[2][1] == tc.step_size / 2
    assert trained.run.read_summary()["recoveries"] == 1
    assert [r["epoch"] for r in trained.run.read_metrics()] == [1, 2, 3]
    assert float(trained.chains.noise.abs().max()) < LATENT_LIMIT


def test_nonfinite_energy_is_caught_through_the_loss(tmp_path, clip, monkeypatch):
    def inf_loss(chains, out):
        out["loss"] = math.inf

    seen = _sabotage(monkeypatch, {1}, inf_loss)
    mc, tc = tiny_configs(epochs=2)
    trained = train(tmp_path / "r", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    assert len(seen) == 3 and trained.run.read_summary()["recoveries"] == 1


def test_gives_up_after_max_recoveries_keeping_the_last_good_checkpoint(tmp_path, clip, monkeypatch):
    seen = _sabotage(monkeypatch, set(range(2, 100)), _explode)  # epoch 1 is fine, then it always explodes
    mc, tc = tiny_configs(epochs=5, checkpoint_every=1)
    with pytest.raises(TrainingDiverged) as e:
        train(tmp_path / "r", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    assert len(seen) == 1 + MAX_RECOVERIES + 1
    assert seen[-1][0] == pytest.approx(tc.lr / 2**MAX_RECOVERIES)
    msg = str(e.value)
    assert "Langevin explosion" in msg and "the last good checkpoint (epoch 1) is kept" in msg and "\n" not in msg
    assert Run(tmp_path / "r").load_checkpoint()[1]["epoch"] == 1


def test_cli_divergence_is_one_line_and_exit_code_1(tmp_path, clip, monkeypatch, capsys):
    _sabotage(monkeypatch, set(range(1, 100)), _explode)
    video = write_video(tmp_path / "c.npy", clip)
    tiny = ["--size", "16", "--frames", "12", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
            "--max-width", "16", "--window", "6", "--langevin-steps", "1", "--learn-steps", "1", "--quiet"]  # fmt: skip
    assert main(["train", str(video), "--out", str(tmp_path / "r"), *tiny, "--epochs", "3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: training diverged") and "no checkpoint had been written yet" in err[-1]
    assert not any("Traceback" in line for line in err)


@pytest.mark.parametrize(
    "key,value",
    [("epochs", 0), ("window", 0), ("learn_steps", 0), ("checkpoint_every", 0), ("batch_size", -1),
     ("langevin_steps", -2), ("preview_every", -1), ("sigma", 0.0), ("sigma", math.nan), ("lr", -1e-3),
     ("lr", math.inf), ("step_size", -0.1), ("energy_scale", math.nan), ("beta1", 1.0), ("seed", -5),
     ("epochs", 2.5)],
)  # fmt: skip
def test_impossible_training_settings_are_usage_errors(key, value):
    with pytest.raises(UsageError, match=rf"{key} \(--{key.replace('_', '-')}\) must be"):
        (TrainConfig(**{key: value}))


def test_paper_and_edge_settings_pass():
    (TrainConfig())
    (TrainConfig(langevin_steps=0, step_size=0.0, energy_scale=0.0, batch_size=0, preview_every=0))


def test_diagnose_names_the_problem():
    from dyngen.algorithms.abptt import Chains

    model = torch.nn.Linear(2, 2)
    ok = Chains(torch.zeros(1, 2), torch.randn(1, 5, 3), torch.zeros(1, 0))
    assert guards.diagnose(0.5, ok, model) is None
    assert "non-finite loss" in guards.diagnose(float("nan"), ok, model)
    nan = Chains(torch.full((1, 2), np.nan), ok.noise, ok.appearance)
    assert "non-finite latents (s0)" in guards.diagnose(0.5, nan, model)
    big = Chains(ok.s0, ok.noise * 0 + 2e3, ok.appearance)
    assert "Langevin explosion (max |noise| = 2e+03" in guards.diagnose(0.5, big, model)
    history = [1.0, 2.0, 3.0] * 7  # 21 epochs, median 2
    assert guards.spike(19.9, history, 10.0) is None
    assert guards.spike(20.1, history, 10.0) == "a loss spike (loss 20.1, 10x the median of the last 21 epochs)"
    assert guards.spike(20.1, history, 0.0) is None  # off
    assert guards.spike(20.1, history[:19], 10.0) is None  # too little history to judge
    with torch.no_grad():
        model.weight[0, 0] = math.inf
    assert guards.diagnose(0.5, ok, model) == "non-finite weights"


def _spike(chains, out):
    out["loss"] *= 100  # finite, healthy latents: only the loss jumped


@pytest.mark.parametrize(("spike_factor", "bad_call", "rolled_back"), [(10.0, 22, True), (0.0, 22, False),
                                                                       (10.0, 15, False)])  # fmt: skip
def test_a_loss_spike_rolls_back_and_halves_the_rates(tmp_path, clip, monkeypatch, caplog, spike_factor,
                                                                   bad_call, rolled_back):  # fmt: skip
    """After 20 accepted epochs a 10x loss is rolled back and the rates halved; 0 = off; too little history."""
    seen = _sabotage(monkeypatch, {bad_call}, _spike)
    mc, tc = tiny_configs(epochs=23, checkpoint_every=50, spike_factor=spike_factor)
    trained = train(tmp_path / "r", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    losses = [r["loss"] for r in trained.run.read_metrics()]
    summary = trained.run.read_summary()
    assert len(losses) == 23 and summary["recoveries"] == 0  # a spike is not a numerical failure
    assert summary["spikes"] == int(rolled_back)
    assert len(seen) == 23 + int(rolled_back)
    if rolled_back:
        assert "a loss spike (loss" in caplog.text and "x the median of the last 21 epochs" in caplog.text
        assert seen[bad_call] == seen[-1] == (tc.lr / 2, tc.step_size / 2)  # the retry and the rest of the run
        assert max(losses) < 10 * np.median(losses[:21])  # the spike never reached the record
    else:  # kept as it came
        assert losses[bad_call - 1] > 10 * np.median(losses[: bad_call - 1])


def test_an_epoch_that_spikes_every_time_gives_up_in_one_line(tmp_path, clip, monkeypatch):
    seen = _sabotage(monkeypatch, set(range(22, 100)), _spike)
    mc, tc = tiny_configs(epochs=30, checkpoint_every=10, spike_factor=10.0)
    with pytest.raises(TrainingDiverged) as e:
        train(tmp_path / "r", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    assert len(seen) == 21 + 1 + MAX_RECOVERIES  # the first try and 5 retries of epoch 22
    assert seen[-1][0] == pytest.approx(tc.lr / 2**MAX_RECOVERIES)
    msg = str(e.value)
    assert "a loss spike" in msg and "spike 6 in a row at this epoch; 5 are retried" in msg and "\n" not in msg
    assert "the last good checkpoint (epoch 20) is kept" in msg


def test_spike_factor_must_be_zero_or_above_one():
    with pytest.raises(UsageError, match=r"spike_factor \(--spike-factor\) must be 0 \(off\) or > 1"):
        (TrainConfig(spike_factor=0.5))
