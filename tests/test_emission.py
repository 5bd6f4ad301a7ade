"""The emission interface: a second, trivial emission trains, synthesizes, recovers and reloads through the same
code paths as the DCGAN one, and an emission that reads the previous frame gets it across windows and chunks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dyngen.algorithms.abptt import TrainConfig
from dyngen.algorithms.synthesis import render_chunked
from dyngen.errors import UsageError
from dyngen.io.video import to_tensor, to_uint8
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.models.emission import EMISSIONS, Emission, register_emission
from dyngen.runs.checkpoint import load
from dyngen.runs.train import resume, train
from dyngen.tasks.recover import recover
from dyngen.tasks.synthesize import synthesize_run


class LinearEmission(Emission):
    """``x_t = tanh(W [a ; s_t] + b)``: the simplest emission there is."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.shape = (3, config.height, config.width)
        self.appearance_dim = config.appearance_dim
        self.linear = nn.Linear(config.appearance_dim + config.state_dim, 3 * config.height * config.width)

    @classmethod
    def from_config(cls, config: ModelConfig) -> LinearEmission:
        return cls(config)

    def forward(self, states, appearance=None, previous=None, observed=None, visible=None):
        z = states
        if self.appearance_dim:
            z = torch.cat([appearance[:, None].expand(-1, states.shape[1], -1), states], dim=-1)
        return torch.tanh(self.linear(z)).unflatten(-1, self.shape)


class DecayEmission(LinearEmission):
    """``x_t = (p_{t-1} + tanh(W s_t + b)) / 2`` (``p_0 = 0``; ``p`` the observed frame where seen, ``follow``):
    an emission that reads the previous frame."""

    uses_previous = True

    def forward(self, states, appearance=None, previous=None, observed=None, visible=None):
        fresh = super().forward(states, appearance)
        p = torch.zeros_like(fresh[:, 0]) if previous is None else previous
        frames = []
        for t in range(states.shape[1]):
            x = 0.5 * (p + fresh[:, t])
            frames.append(x)
            p = self.follow(x, None if observed is None else observed[:, t], None if visible is None else visible[:, t])
        return torch.stack(frames, dim=1)


register_emission("test-linear", LinearEmission)
register_emission("test-decay", DecayEmission)


def configs(emission: str, **train):
    mc = ModelConfig(height=8, width=8, state_dim=4, noise_dim=3, emission=emission)
    tc = TrainConfig(**{"epochs": 30, "window": 6, "langevin_steps": 2, "learn_steps": 3, "lr": 0.01,
                        "checkpoint_every": 10, "preview_every": 0, **train})  # fmt: skip
    return mc, tc


@pytest.fixture
def clip8():
    from dyngen.io.procedural import ripples

    return ripples(12, 8, seed=1)


@pytest.mark.parametrize("emission", ["test-linear", "test-decay"])
def test_a_second_emission_trains_synthesizes_recovers_and_reloads(tmp_path, clip8, emission):
    mc, tc = configs(emission)
    trained = train(tmp_path / "run", clip8[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    assert (
        type(trained.model.generator).__name__
        == {"test-linear": "LinearEmission", "test-decay": "DecayEmission"}[emission]
    )
    psnr = [r["psnr"] for r in trained.run.read_metrics()]
    assert psnr[-1] > psnr[0] + 3  # the loss falls
    assert load(tmp_path / "run").config["model"]["emission"] == emission  # the run format names it
    videos = synthesize_run(trained, frames=40, num=2, seed=0)
    assert videos.shape == (2, 40, 3, 8, 8) and torch.isfinite(videos).all()
    assert not torch.equal(videos[0], videos[1])
    missing = torch.zeros(12, 8, 8, dtype=torch.bool)
    missing[:, 2:5, 2:5] = True
    short = configs(emission, epochs=4)[1]
    res = recover(clip8, missing, run_dir=tmp_path / "rec", model_config=mc, train_config=short, device="cpu")
    seen, recovered = ~missing.numpy(), to_uint8(res.recovered)
    assert np.array_equal(recovered[seen], clip8[seen])  # observed pixels kept exactly
    fit = load(res.run)
    with torch.no_grad():
        rendering = to_uint8(fit.model(fit.chains.s0, fit.chains.noise)[0][0])
    assert np.array_equal(recovered[~seen], rendering[~seen])  # hidden ones: the model's rendering


def test_resume_with_another_emission_is_bit_identical(tmp_path, clip8):
    mc, tc = configs("test-decay", epochs=10, checkpoint_every=4)
    whole = train(tmp_path / "a", clip8[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    train(tmp_path / "b", clip8[None], names=["c"], model_config=mc, train_config=configs("test-decay", epochs=4)[1],
          device="cpu")  # fmt: skip
    resumed = resume(tmp_path / "b", epochs=10, device="cpu")
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(whole.chains.noise, resumed.chains.noise)


def test_the_previous_frame_is_carried_across_chunks_and_windows():
    torch.manual_seed(0)
    mc = ModelConfig(height=8, width=8, state_dim=4, noise_dim=3, emission="test-decay")
    model = DynamicGenerator(mc)
    states = torch.randn(2, 11, 4)
    whole = model.render(states)
    assert torch.allclose(render_chunked(model, states, None, chunk=3), whole, atol=1e-6)  # chunked synthesis
    halves = [model.render(states[:, :5]), None]
    halves[1] = model.render(states[:, 5:], previous=halves[0][:, -1])
    assert torch.allclose(torch.cat(halves, 1), whole, atol=1e-6)


def test_an_unknown_emission_names_the_allowed_ones():
    with pytest.raises(UsageError, match="allowed: dcgan"):
        ModelConfig(emission="pixelcnn")
    assert {"dcgan", "test-linear", "test-decay"} <= set(EMISSIONS)


def test_training_windows_hand_the_last_frame_on(clip8):
    """One window or three give the same fit for an emission that reads x_{t-1} when nothing is learned."""
    from dyngen.algorithms.abptt import Chains, abptt_epoch

    frames = to_tensor(clip8)[None]
    results = []
    for window in (12, 4):
        torch.manual_seed(0)
        model = DynamicGenerator(configs("test-decay")[0])
        chains = Chains.from_prior(model, 1, 12, generator=torch.Generator().manual_seed(0))
        tc = TrainConfig(window=window, langevin_steps=0, learn_steps=1)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        results.append(abptt_epoch(model, opt, frames, chains, tc)["mse"])
    assert results[0] == pytest.approx(results[1], rel=1e-6)
