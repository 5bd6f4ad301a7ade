import pytest
import torch

from dyngen.errors import UsageError
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.models.frame_generator import FrameGenerator, check_size
from dyngen.models.transition import Transition


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (128, 128), (150, 150), (48, 64)])
def test_frame_generator_sizes(size):
    g = FrameGenerator(in_dim=5, size=size, base_channels=4, max_channels=16)
    x = g.decode(torch.randn(2, 5))
    assert x.shape == (2, 3, *size)
    assert x.abs().max() <= 1
    # as an emission: every frame of (B, T) states, with the appearance in front of the state
    e = FrameGenerator(in_dim=5, appearance_dim=2, size=size, base_channels=4, max_channels=16)
    states, a = torch.randn(2, 3, 3), torch.randn(2, 2)
    frames = e(states, a)
    assert frames.shape == (2, 3, 3, *size)
    flat = torch.cat([a[:, None].expand(2, 3, 2), states], dim=-1).reshape(6, 5)
    assert torch.allclose(frames.reshape(6, 3, *size), e.decode(flat), atol=1e-6)
    with pytest.raises(ValueError, match="pass appearance"):
        e(states)


def test_paper_widths():
    assert FrameGenerator(in_dim=100, size=(64, 64)).widths == [512, 512, 256, 128, 64, 3]
    assert FrameGenerator(in_dim=100, size=(128, 128)).widths == [512, 512, 512, 256, 128, 64, 3]
    assert FrameGenerator(in_dim=100, size=(150, 150)).widths == [512, 512, 256, 128, 64, 64, 3]


def test_bad_size_names_allowed_sizes():
    with pytest.raises(UsageError, match="allowed sizes"):
        check_size(100, 100)


@pytest.mark.parametrize("kind", ["nonlinear", "linear"])
def test_transition_bounded_and_residual(kind):
    f = Transition(state_dim=4, noise_dim=3, kind=kind)
    states = f.rollout(torch.randn(5, 4), torch.randn(5, 200, 3) * 10)
    assert states.shape == (5, 200, 4)
    assert states.abs().max() < 1  # tanh keeps states bounded
    # with the paper's tiny initial weights the step is close to tanh(s_{t-1})
    s = torch.randn(5, 4)
    assert torch.allclose(f(s, torch.randn(5, 3)), torch.tanh(s), atol=0.01)


def test_truncated_windows_carry_the_state():
    """Two windows of 5 with the carried state equal one window of 10."""
    torch.manual_seed(0)
    m = DynamicGenerator(ModelConfig(height=16, width=16, state_dim=4, noise_dim=3, base_channels=4))
    for p in m.transition.parameters():  # make the dynamics non-trivial
        p.data.normal_(0, 0.5)
    s0, xi = torch.randn(2, 4), torch.randn(2, 10, 3)
    full = m.transition.rollout(s0, xi)
    first = m.transition.rollout(s0, xi[:, :5])
    second = m.transition.rollout(first[:, -1], xi[:, 5:])
    assert torch.equal(torch.cat([first, second], 1), full)


def test_appearance_enters_the_frames():
    torch.manual_seed(0)
    m = DynamicGenerator(ModelConfig(height=16, width=16, state_dim=2, noise_dim=2, appearance_dim=3, base_channels=4))
    for p in m.parameters():
        p.data.normal_(0, 0.3)
    m.eval()
    s0, xi = torch.zeros(1, 2), torch.zeros(1, 4, 2)
    f1, _ = m(s0, xi, torch.zeros(1, 3))
    f2, _ = m(s0, xi, torch.ones(1, 3))
    assert (f1 - f2).abs().max() > 1e-6
    with pytest.raises(ValueError, match="appearance"):
        m(s0, xi)


def test_unknown_options_name_allowed_values():
    with pytest.raises(UsageError, match="allowed"):
        ModelConfig.from_dict({"colour": 3})
    with pytest.raises(UsageError, match="batch, group, none"):
        FrameGenerator(in_dim=2, size=(16, 16), norm="layer")


@pytest.mark.parametrize("activation, noise_matters", [("relu", False), ("leaky_relu", True)])
def test_dead_relu_units_cut_the_noise_out_of_the_transition(activation, noise_matters):
    torch.manual_seed(0)
    f = Transition(state_dim=3, noise_dim=4, hidden=5, activation=activation, init_std=0.5)
    with torch.no_grad():  # what learning did on boiling_water: the second hidden layer's biases went negative
        f.net[2].bias.fill_(-100.0)
    s = torch.zeros(8, 3)
    a, b = f(s, torch.randn(8, 4)), f(s, torch.randn(8, 4))
    assert (not torch.allclose(a, b, atol=1e-6)) == noise_matters
    with pytest.raises(UsageError, match="allowed: relu, leaky_relu"):
        Transition(state_dim=3, noise_dim=4, activation="gelu")
