"""The memory estimate: it tracks what autograd really keeps, and too little memory is refused up front."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_configs

from dyngen import resources
from dyngen.algorithms.abptt import TrainConfig
from dyngen.cli import main
from dyngen.errors import ResourceError
from dyngen.io.video import write_video
from dyngen.models.dynamic_generator import ModelConfig
from dyngen.runs import memory
from dyngen.runs.memory import available_memory, check_training_memory, estimate_training_memory
from dyngen.runs.train import train

# A measured peak (resident set size) may exceed the estimate by this factor: the allocator, thread pools and
# library versions move RSS by several per cent. Only this side is checked: an estimate that errs high refuses
# nothing that would fit on these machines, and a better allocator must not fail a test.
SLACK = 1.25

MEASURE = """
import torch
from dyngen.algorithms.abptt import Chains, TrainConfig, abptt_epoch
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.runs.memory import estimate_training_memory
torch.set_num_threads(1)
def status(key):  # bytes; VmHWM is this process's peak (ru_maxrss would include the parent's, from fork)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key)) * 1024
def epoch(mc, tc, t):
    model = DynamicGenerator(mc).train()
    opt = torch.optim.Adam(model.parameters())
    chains = Chains.from_prior(model, 1, t, generator=torch.Generator().manual_seed(0))
    abptt_epoch(model, opt, torch.zeros(1, t, 3, mc.height, mc.width), chains, tc, generator=torch.Generator())
small = ModelConfig(height=16, width=16, state_dim=2, noise_dim=2, base_channels=4, max_channels=8)
epoch(small, TrainConfig(window=4, langevin_steps=1), 4)  # lazy imports and pools are not training memory
mc = ModelConfig(height=64, width=64, state_dim=20, noise_dim=20, base_channels=16, max_channels=128)
tc = TrainConfig(window=30, langevin_steps=1, learn_steps=1)
est = estimate_training_memory(mc, tc, videos=1, frames=30)
open("/proc/self/clear_refs", "w").write("5")  # the peak restarts from the current size
before = status("VmRSS")
epoch(mc, tc, 30)
print(status("VmHWM") - before, est.total - est.data)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs")
@pytest.mark.slow
def test_estimate_covers_the_measured_peak_of_an_epoch():
    """The peak memory of one real epoch (64x64, window 30), above what the process held before."""
    out = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, check=True)
    measured, estimate = map(int, out.stdout.split())
    assert measured <= SLACK * estimate, (measured / 2**20, estimate / 2**20)


def test_estimate_grows_with_window_batch_and_size():
    mc = ModelConfig(height=32, width=32, state_dim=10, noise_dim=10, base_channels=8, max_channels=32)
    e10 = estimate_training_memory(mc, TrainConfig(window=10), videos=4, frames=30)
    e20 = estimate_training_memory(mc, TrainConfig(window=20), videos=4, frames=30)
    assert e20.activations - e10.activations == e10.per_frame * 4 * 10  # linear in the frames of a window
    half = estimate_training_memory(mc, TrainConfig(window=10, batch_size=2), videos=4, frames=30)
    assert e10.activations - half.activations == e10.per_frame * 2 * 10
    assert estimate_training_memory(mc, TrainConfig(window=99), videos=4, frames=30).frames_in_window == 4 * 30
    big = ModelConfig(height=64, width=64, state_dim=10, noise_dim=10, base_channels=8, max_channels=32)
    assert estimate_training_memory(big, TrainConfig(window=10), videos=4, frames=30).per_frame > 3 * e10.per_frame


def test_estimate_leaves_the_global_rng_alone():
    mc = ModelConfig(height=16, width=16, state_dim=4, noise_dim=3, base_channels=8, max_channels=16)
    torch.manual_seed(3)
    a = torch.rand(3)
    torch.manual_seed(3)
    estimate_training_memory(mc, TrainConfig(window=4), videos=1, frames=8)
    assert torch.equal(torch.rand(3), a)


def test_refusal_names_a_window_that_fits():
    mc, tc = tiny_configs(window=12)
    est = estimate_training_memory(mc, tc, videos=1, frames=12)
    room = est.total - est.activations + 5 * est.per_frame  # room for 5 frames of activations
    with pytest.raises(ResourceError, match=r"use a shorter --window \(at most 5 frames would fit, now 12\)"):
        check_training_memory(mc, tc, videos=1, frames=12, available=room)
    assert check_training_memory(mc, tc, videos=1, frames=12, available=est.total) == est


def test_available_memory_is_known_on_this_machine():
    avail = available_memory("cpu")
    assert avail is None or 2**20 < avail < 2**50


def test_training_is_refused_before_anything_is_written(tmp_path, clip, monkeypatch, capsys):
    monkeypatch.setattr(memory, "available_memory", lambda device: 10_000)
    mc, tc = tiny_configs()
    with pytest.raises(ResourceError, match=r"training needs about .* of RAM"):
        train(tmp_path / "r", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    assert not (tmp_path / "r").exists()
    video = write_video(tmp_path / "c.npy", clip)
    argv = ["train", str(video), "--out", str(tmp_path / "r"), "--size", "16", "--frames", "12", "--width", "8",
            "--max-width", "16", "--state-dim", "4", "--noise-dim", "3", "--quiet"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "DYNGEN_SKIP_MEMORY_CHECK=1" in err[0] and "use a smaller --size" in err[0]
    monkeypatch.setenv("DYNGEN_SKIP_MEMORY_CHECK", "1")
    assert main([*argv, "--epochs", "1"]) == 0


SYNTHESIS = """
import torch
from dyngen.io.video import to_uint8
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.resources import synthesis_bytes
from dyngen.algorithms.synthesis import synthesize
torch.set_num_threads(1)
def status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key)) * 1024
model = DynamicGenerator(ModelConfig(height=32, width=32, state_dim=8, noise_dim=8, base_channels=8, max_channels=32))
to_uint8(synthesize(model, frames=300, generator=torch.Generator().manual_seed(0)))  # warm-up: pools, lazy imports
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
video = to_uint8(synthesize(model, frames=3000, generator=torch.Generator().manual_seed(0)))
print(status("VmHWM") - before, 3000 * 3 * 32 * 32 * synthesis_bytes())
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs")
@pytest.mark.slow
def test_synthesis_estimate_covers_its_measured_peak():
    out = subprocess.run([sys.executable, "-c", SYNTHESIS], capture_output=True, text=True, check=True)
    measured, estimate = map(int, out.stdout.split())
    assert measured <= SLACK * estimate, (measured / 2**20, estimate / 2**20)


def test_a_synthesis_too_large_for_ram_is_refused(tmp_path, clip, monkeypatch, capsys):
    mc, tc = tiny_configs(epochs=1)
    train(tmp_path / "run", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    monkeypatch.setattr(resources, "available_memory", lambda device: 3 * 16 * 16 * 10 * 2 * 50)  # 100 frames' worth
    argv = ["synthesize", str(tmp_path / "run"), "--out", str(tmp_path / "s.npy"), "--quiet"]
    assert main([*argv, "--frames", "5000", "--num", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at most 50 frames per sample or fewer samples" in err[0], err
    assert not (tmp_path / "s.npy").exists()
    assert main([*argv, "--frames", "50", "--num", "2"]) == 0
    assert np.load(tmp_path / "s.npy").shape == (2, 50, 16, 16, 3)
