import itertools
import json
import threading

import numpy as np
import pytest
import torch
from conftest import tiny_configs

from dyngen.algorithms.synthesis import synthesize
from dyngen.errors import RunError, UsageError
from dyngen.io.video import to_uint8
from dyngen.models.innovations import Innovations
from dyngen.runs.checkpoint import load_trained
from dyngen.runs.directory import Run
from dyngen.runs.train import resume, train
from dyngen.tasks.synthesize import synthesize_run


def _train(tmp_path, clip, name="run", missing=None, **kw):
    mc, tc = tiny_configs(**kw)
    return train(tmp_path / name, clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu",
                 missing=missing)  # fmt: skip


def test_training_lowers_reconstruction_error(tmp_path, clip):
    trained = _train(tmp_path, clip, epochs=40, checkpoint_every=40)
    rec = trained.run.read_metrics()
    assert len(rec) == 40
    assert rec[-1]["mse"] < 0.3 * rec[0]["mse"]
    assert (trained.run.path / "loss.png").is_file()


def test_run_directory_contents_and_no_overwrite(tmp_path, clip):
    trained = _train(tmp_path, clip)
    p = trained.run.path
    for f in ("config.json", "checkpoint.safetensors", "data.safetensors", "metrics.jsonl", "summary.json"):
        assert (p / f).is_file(), f
    cfg = json.loads((p / "config.json").read_text())
    assert cfg["model"]["state_dim"] == 4 and cfg["data"]["names"] == ["clip"]
    with pytest.raises(RunError, match="not empty"):
        _train(tmp_path, clip)
    assert Run(p).read_metrics()[-1]["epoch"] == 4  # untouched


def test_save_load_synthesize_identical(tmp_path, clip):
    trained = _train(tmp_path, clip)
    a = synthesize_run(trained, frames=30, num=2, seed=3)
    b = synthesize_run(load_trained(trained.run.path), frames=30, num=2, seed=3)
    assert torch.equal(a, b)


def test_resume_equals_uninterrupted(tmp_path, clip):
    full = _train(tmp_path, clip, "full", epochs=6)
    _train(tmp_path, clip, "part", epochs=2)
    resumed = resume(tmp_path / "part", epochs=6, device="cpu")
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert torch.equal(full.chains.noise, resumed.chains.noise)
    assert [r["mse"] for r in Run(tmp_path / "full").read_metrics()] == [
        r["mse"] for r in Run(tmp_path / "part").read_metrics()
    ]


def test_synthesis_is_bounded_moving_and_seeded(tmp_path, clip):
    trained = _train(tmp_path, clip, epochs=10)
    a = synthesize_run(trained, frames=50, num=2, seed=1)  # longer than training
    assert a.shape == (2, 50, 3, 16, 16)
    assert torch.isfinite(a).all() and a.abs().max() <= 1
    assert (a[:, 1:] - a[:, :-1]).abs().mean() > 1e-4  # frames differ from frame to frame
    assert not torch.equal(a, synthesize_run(trained, frames=50, num=2, seed=2))
    assert torch.equal(a, synthesize_run(trained, frames=50, num=2, seed=1))
    r = synthesize_run(trained, frames=5, start="random", seed=1)
    assert not torch.equal(r[0], a[0, :5])


def test_posterior_noise_is_drawn_from_the_fit_of_the_inferred_innovations(tmp_path, clip):
    trained = _train(tmp_path, clip)
    s0 = trained.chains.s0[0]
    xi = Innovations.fitted(trained.chains.noise).sample(2, 20, generator=torch.Generator().manual_seed(3))
    posterior = synthesize_run(trained, frames=20, num=2, seed=3)  # the default
    assert torch.equal(posterior, synthesize(trained.model, frames=20, num=2, s0=s0, noise=xi))
    prior = synthesize_run(trained, frames=20, num=2, seed=3, noise="prior")  # the paper's N(0, I)
    g = torch.Generator().manual_seed(3)
    assert torch.equal(prior, synthesize(trained.model, frames=20, num=2, s0=s0, generator=g))
    assert not torch.equal(prior, posterior)


def test_hidden_pixels_have_no_influence(tmp_path, clip):
    rng = np.random.default_rng(0)
    missing = torch.from_numpy(rng.random((1, *clip.shape[:3])) < 0.3)
    other = clip.copy()
    other[missing[0].numpy()] = rng.integers(0, 256, (int(missing.sum()), 3), dtype=np.uint8)
    a = _train(tmp_path, clip, "a", missing=missing)
    b = _train(tmp_path, other, "b", missing=missing)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    stored = a.run.load_data()  # the run keeps the visible pixels and the mask, not the hidden values
    assert torch.equal(stored["missing"], missing)
    assert torch.equal(stored["frames"], b.run.load_data()["frames"])
    assert int(stored["frames"][missing].abs().sum()) == 0
    assert torch.equal(stored["frames"][~missing], torch.from_numpy(clip)[None][~missing])


def test_nonfinite_values_roll_back_and_lower_the_rates(tmp_path, clip, monkeypatch):
    from dyngen.runs import trainer as train_mod

    real = train_mod.abptt_epoch
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        out = real(*args, **kw)
        if calls["n"] == 2:
            out["loss"] = float("nan")
        return out

    monkeypatch.setattr(train_mod, "abptt_epoch", flaky)
    trained = _train(tmp_path, clip, epochs=3)
    assert trained.run.read_summary()["recoveries"] == 1
    assert len(trained.run.read_metrics()) == 3
    assert all(np.isfinite(r["loss"]) for r in trained.run.read_metrics())


def test_reconstruction_matches_the_clip(tmp_path, clip):
    trained = _train(tmp_path, clip, epochs=30, checkpoint_every=30)
    with torch.no_grad():
        trained.model.train()
        recon, _ = trained.model(trained.chains.s0, trained.chains.noise)
    err = np.abs(to_uint8(recon[0]).astype(int) - clip.astype(int)).mean()
    assert err < 25  # on 0-255; an untrained model is about 60 off


def test_fixed_norm_psnr_is_the_training_fit_with_one_window(tmp_path, clip):
    from dyngen.evaluation.fidelity import psnr_from_mse
    from dyngen.io.video import to_tensor

    one = _train(tmp_path, clip, name="one", epochs=30, checkpoint_every=30, window=12)  # the whole 12-frame clip
    with torch.no_grad():
        one.model.train()  # batch statistics, as in learning
        recon, _ = one.model(one.chains.s0, one.chains.noise)
        one.model.eval()
    batch_stats = psnr_from_mse(float((recon[0] - to_tensor(clip)).square().mean()))
    summary = one.run.read_summary()
    assert summary["psnr_fixed_norm"] == pytest.approx(batch_stats, abs=0.05)
    assert summary["psnr_fixed_norm"] > 15  # and it is a fit, not noise


def test_cosine_lr_schedule_runs_from_lr_to_lr_final(tmp_path, clip):
    from dyngen.algorithms.abptt import TrainConfig

    tc = TrainConfig(lr_final=0.1)
    factors = [tc.lr_factor(e, 5) for e in range(5)]
    assert factors[0] == 1.0 and factors[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in itertools.pairwise(factors))
    assert factors[2] == pytest.approx(0.55)  # half way: the mean of 1 and 0.1
    assert TrainConfig().lr_factor(3, 5) == 1.0  # the default is the paper's constant lr
    with pytest.raises(UsageError, match="lr_final"):
        TrainConfig(lr_final=0.0)
    # it reaches the optimizer: the same run with a decaying lr ends with other weights
    const, decayed = _train(tmp_path, clip, name="c"), _train(tmp_path, clip, name="d", lr_final=0.1)
    w = [dict(t.model.named_parameters()) for t in (const, decayed)]
    assert w[0].keys() == w[1].keys() and any(not torch.equal(w[0][k], w[1][k]) for k in w[0])


def test_a_stopped_run_resumes_on_the_same_lr_schedule(tmp_path, clip):
    full = _train(tmp_path, clip, "full", epochs=6, lr_final=0.2)
    stop = threading.Event()
    mc, tc = tiny_configs(epochs=6, lr_final=0.2)
    train(tmp_path / "part", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu",
          callback=lambda r: stop.set() if r["epoch"] == 3 else None, stop=stop)  # fmt: skip
    assert len(Run(tmp_path / "part").read_metrics()) == 3
    resumed = resume(tmp_path / "part", device="cpu")
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
