"""LDS runs: fitted into a run directory by ``dyngen train --model lds``, loaded, synthesized like a DG run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dyngen.cli import main
from dyngen.errors import RunError, UsageError
from dyngen.io.procedural import ripples
from dyngen.io.video import to_uint8, write_video
from dyngen.runs.checkpoint import load, load_trained
from dyngen.runs.lds import TrainedLDS, default_state_dim, load_lds, train_lds
from dyngen.tasks.synthesize import synthesize_run


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def rotating_video(radius: float, frames: int = 30, size: int = 8) -> torch.Tensor:
    """uint8 ``(1, T, size, size, 3)`` frames of a noise-free 2-d system ``s_t = radius R(0.4) s_{t-1}``."""
    g = torch.Generator().manual_seed(0)
    c, _ = torch.linalg.qr(torch.randn(3 * size * size, 2, generator=g, dtype=torch.float64))
    a = radius * torch.tensor([[math.cos(0.4), -math.sin(0.4)], [math.sin(0.4), math.cos(0.4)]], dtype=torch.float64)
    s, states = torch.tensor([1.0, 0.0], dtype=torch.float64) * (4.0 if radius < 1 else 1.0), []
    for _ in range(frames):
        states.append(s)
        s = a @ s
    x = (torch.stack(states) @ c.T).reshape(frames, 3, size, size)  # values within about [-1, 1]
    return torch.from_numpy(to_uint8(x.float().clamp(-1, 1)))[None]


def test_cli_round_trip_train_synthesize(tmp_path, capsys):
    clip = write_video(tmp_path / "clip.npy", ripples(24, 16, seed=2))
    run = tmp_path / "lds"
    assert main(["train", str(clip), "--model", "lds", "--out", str(run), "--size", "16", "--frames", "24",
                 "--quiet", "--json"]) == 0  # fmt: skip
    s = _json(capsys)
    assert s["model_type"] == "lds" and s["state_dim"] == default_state_dim(24) == 12
    assert s["spectral_radius"] == pytest.approx(load_lds(run).model.spectral_radius)
    assert json.loads((run / "config.json").read_text())["model_type"] == "lds"
    keys = load_file(run / "checkpoint.safetensors").keys()
    assert {"model.A", "model.C", "model.mean", "model.states"} <= set(keys)
    assert load_file(run / "data.safetensors")["frames"].shape == (1, 24, 16, 16, 3)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    out = tmp_path / "s.npy"
    argv = ["synthesize", str(run), "--frames", "40", "--num", "2", "--seed", "3", "--quiet", "--json"]
    assert main([*argv, "--out", str(out), "--compare", str(tmp_path / "cmp.mp4")]) == 0
    arr = np.load(out)
    assert arr.shape == (2, 40, 16, 16, 3) and arr.dtype == np.uint8
    assert (tmp_path / "cmp.png").is_file()
    assert main([*argv, "--out", str(tmp_path / "again.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "again.npy"), arr)  # same seed, same videos
    assert not np.array_equal(arr[0], arr[1])  # independent samples


def test_state_dim_option_and_refusals(tmp_path, capsys):
    clip = write_video(tmp_path / "clip.npy", ripples(24, 16, seed=2))
    base = ["train", str(clip), "--model", "lds", "--size", "16", "--frames", "24", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "d3"), "--state-dim", "3", "--json"]) == 0
    assert _json(capsys)["rank"] == 3
    assert main([*base, "--out", str(tmp_path / "bad"), "--state-dim", "0"]) == 2
    assert "argument --state-dim: must be an integer in [1, 4096], got '0'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["train", "--model", "lds", "--out", str(tmp_path / "d3"), "--resume", "--quiet"]) == 2
    assert "cannot be resumed" in capsys.readouterr().err


def test_load_dispatch_and_synthesis_options(tmp_path):
    trained = train_lds(tmp_path / "r", torch.from_numpy(ripples(20, 8, seed=0))[None], names=["rip"], state_dim=4)
    loaded = load(tmp_path / "r")
    assert isinstance(loaded, TrainedLDS)
    for k, v in trained.model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k]), k
    with pytest.raises(RunError, match="not a dynamic-generator run"):
        load_trained(tmp_path / "r")
    a = synthesize_run(loaded, frames=12, num=2, seed=1)
    assert torch.equal(a, synthesize_run(trained, frames=12, num=2, seed=1))
    assert torch.allclose(a[:, 0], trained.model.reconstruct()[0], atol=1e-5)  # starts at the first fitted frame
    r = synthesize_run(loaded, frames=12, num=2, seed=1, start="random")
    assert not torch.allclose(r[0, 0], r[1, 0])  # different random initial states
    calm = synthesize_run(loaded, frames=12, num=1, seed=1, noise_scale=0.0)
    mean_step = lambda v: float((v[:, 1:] - v[:, :-1]).abs().mean())  # noqa: E731
    assert mean_step(calm) < mean_step(a[:1])
    with pytest.raises(UsageError, match="allowed: rip or 0"):
        synthesize_run(loaded, frames=5, video="other")
    with pytest.raises(UsageError, match="fitted residual covariance"):
        synthesize_run(loaded, frames=5, noise="prior")
    with pytest.raises(UsageError, match="one video per run"):
        train_lds(tmp_path / "two", torch.zeros(2, 5, 8, 8, 3, dtype=torch.uint8), names=["a", "b"])
    assert not (tmp_path / "two").exists()


def test_spectral_radius_recorded_with_a_warning_above_one(tmp_path):
    grow = train_lds(tmp_path / "grow", rotating_video(1.05), names=["grow"], state_dim=2)
    s = grow.run.read_summary()
    assert s["spectral_radius"] == pytest.approx(1.05, abs=0.02)  # uint8 rounding and the PCA mean bias it a little
    assert f"spectral radius {s['spectral_radius']:.4f} > 1" in s["warning"]
    decay = train_lds(tmp_path / "decay", rotating_video(0.95), names=["decay"], state_dim=2)
    s = decay.run.read_summary()
    assert s["spectral_radius"] == pytest.approx(0.95, abs=0.02)
    assert "warning" not in s
