"""The speed switches compute the same thing: fast_deconv, precision, and the optimized epoch against the plain loop."""

import pytest
import torch
from conftest import load_benchmark, tiny_configs
from torch import nn

from dyngen.algorithms.abptt import Chains, TrainConfig, abptt_epoch
from dyngen.algorithms.execution import frozen
from dyngen.algorithms.langevin import langevin, posterior_energy, reconstruction_error, window_error
from dyngen.errors import UsageError
from dyngen.models import frame_generator
from dyngen.models.dynamic_generator import DynamicGenerator
from dyngen.models.frame_generator import FrameGenerator, conv_transpose_gemm
from dyngen.runs.trainer import make_optimizer


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "bias"),
    [((1, 1), (2, 2), 1, 0, False), ((2, 2), (4, 4), 2, 1, False), ((3, 4), (4, 4), 2, 1, True),
     ((4, 4), (5, 5), 3, 1, True), ((2, 3), (3, 2), 2, 0, False)],
)  # fmt: skip
def test_conv_transpose_gemm_matches_conv_transpose(size, kernel, stride, padding, bias):
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(5, 7, kernel, stride, padding, bias=bias).double()
    x = torch.randn(3, 5, *size, dtype=torch.float64, requires_grad=True)
    y_ref, y = conv(x), conv_transpose_gemm(x, conv)
    assert y.shape == y_ref.shape
    assert torch.allclose(y, y_ref, atol=1e-12)
    g = torch.randn_like(y)
    params = [x, *conv.parameters()]
    for a, b in zip(torch.autograd.grad(y, params, g), torch.autograd.grad(y_ref, params, g)):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize(("size", "gemm_layers"), [((64, 64), 3), ((150, 150), 3), ((48, 64), 2)])
def test_fast_deconv_routes_the_small_layers_and_keeps_the_output(size, gemm_layers, monkeypatch):
    torch.manual_seed(0)
    g = FrameGenerator(in_dim=6, size=size, base_channels=4, max_channels=16).train()
    calls = []
    real = frame_generator.conv_transpose_gemm
    monkeypatch.setattr(frame_generator, "conv_transpose_gemm", lambda x, c: calls.append(x.shape) or real(x, c))
    z = torch.randn(5, 6)
    fast = g.decode(z)
    assert len(calls) == gemm_layers and all(s[2] * s[3] <= 16 for s in calls)
    g.fast_deconv = False
    plain = g.decode(z)
    assert len(calls) == gemm_layers  # the plain path never calls it
    assert torch.allclose(fast, plain, atol=1e-5)


def test_fast_deconv_computes_a_wide_rgb_layer_without_onednn(monkeypatch):
    torch.manual_seed(0)
    g = FrameGenerator(in_dim=6, size=(16, 16), base_channels=64, max_channels=64).train()
    assert FrameGenerator(in_dim=6, size=(16, 16), base_channels=32, max_channels=64)._native_layer is None
    calls = []
    real = frame_generator.conv_transpose_native
    monkeypatch.setattr(frame_generator, "conv_transpose_native", lambda x, c: calls.append(c) or real(x, c))
    z = torch.randn(5, 6, requires_grad=True)
    fast = g.decode(z)
    assert calls == [g.net[-2]]  # the output layer, once
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g.decode(z)
    assert len(calls) == 1  # not under autocast
    g.fast_deconv = False
    plain = g.decode(z)
    assert len(calls) == 1
    assert torch.allclose(fast, plain, atol=1e-5)
    params = [z, *g.parameters()]
    grad = torch.randn_like(fast)
    for a, b in zip(torch.autograd.grad(fast, params, grad), torch.autograd.grad(plain, params, grad)):
        assert torch.allclose(a, b, atol=1e-4 * (1 + b.abs().max().item()))


def _tiny_model() -> DynamicGenerator:
    torch.manual_seed(0)
    return DynamicGenerator(tiny_configs()[0]).train()


def _epochs(epochs: int = 2, **switches) -> tuple[list[dict], DynamicGenerator, Chains]:
    model = _tiny_model()
    tc = TrainConfig(window=4, langevin_steps=3, learn_steps=2, **switches)
    frames = torch.rand(2, 8, 3, 16, 16) * 2 - 1
    chains = Chains.from_prior(model, 2, 8, generator=torch.Generator().manual_seed(0))
    opt, gen = make_optimizer(model, tc), torch.Generator().manual_seed(1)
    metrics = [abptt_epoch(model, opt, frames, chains, tc, generator=gen) for _ in range(epochs)]
    return metrics, model, chains


def _same_training(switch: str, atol: float) -> DynamicGenerator:
    """Train with ``switch`` on and off: the same error, latents (within 10 atol) and weights (atol)."""
    on, m_on, c_on = _epochs(**{switch: True})
    off, m_off, c_off = _epochs(**{switch: False})
    assert on[-1]["mse"] == pytest.approx(off[-1]["mse"], rel=10 * atol)
    assert torch.allclose(c_on.noise, c_off.noise, atol=10 * atol)
    for a, b in zip(m_on.parameters(), m_off.parameters()):
        assert torch.allclose(a, b, atol=atol)
    return m_on


def test_fast_deconv_training_matches_the_plain_layers():
    model = _same_training("fast_deconv", atol=1e-5)
    assert model.generator.fast_deconv  # the epoch restored the model's own setting


def test_activation_checkpointing_computes_the_same_and_recomputes_each_block(monkeypatch):
    model = _same_training("checkpoint_activations", atol=1e-6)
    assert not model.generator.checkpoint  # the epoch restored the model's own setting
    # with checkpointing, every block runs twice when gradients flow: once forward, once in backward
    g = _tiny_model().generator
    calls = []
    monkeypatch.setattr(type(g), "run_block", lambda self, y, a, b: calls.append(a) or g.net[a:b](y))
    z = torch.randn(3, g.in_dim, requires_grad=True)
    g.checkpoint = True
    g.decode(z).sum().backward()
    assert len(calls) == 2 * len(g.blocks)


@pytest.mark.slow
def test_compiled_transition_trains_the_same(monkeypatch):
    """compile_transition: the unroll runs through torch.compile, and training computes the same."""
    from torch._dynamo.utils import counters

    from dyngen.models import transition

    compiled_before = counters["stats"]["unique_graphs"]
    graphs = []
    real = transition._compiled_unroll
    monkeypatch.setattr(transition, "_compiled_unroll", lambda device: graphs.append(device) or real(device))
    model = _same_training("compile_transition", atol=1e-5)
    assert graphs and set(graphs) == {"cpu"}  # the compiled unroll ran
    assert counters["stats"]["unique_graphs"] > compiled_before  # as compiled graphs, not a fallback to eager
    assert not model.transition.compiled  # the epoch restored the model's own setting
    s0, noise = torch.randn(2, 4), torch.randn(2, 5, 3)
    model.transition.compiled = True
    assert torch.allclose(model.transition.rollout(s0, noise), transition._unroll(model.transition, s0, noise))


def test_bf16_trains_to_a_close_error():
    fp32, _, _ = _epochs(epochs=4, precision="fp32")
    bf16, _, _ = _epochs(epochs=4, precision="bf16")
    assert all(torch.isfinite(torch.tensor(m["mse"])) for m in bf16)
    assert bf16[-1]["mse"] == pytest.approx(fp32[-1]["mse"], rel=0.05)
    assert bf16[-1]["mse"] != fp32[-1]["mse"]  # the switch did change the arithmetic


def test_tf32_is_float32_on_the_cpu():
    a, m_a, _ = _epochs(precision="tf32")
    b, m_b, _ = _epochs(precision="fp32")
    assert a == b
    assert all(torch.equal(p, q) for p, q in zip(m_a.parameters(), m_b.parameters()))


def test_unknown_precision_names_the_allowed_values():
    with pytest.raises(UsageError, match="allowed: tf32, fp32, bf16"):
        TrainConfig(precision="fp16")


def test_abptt_epoch_equals_the_plain_loop_of_the_benchmark():
    """The optimized epoch (frozen weights in Langevin, matrix-product layers, one read-back) is the paper's loop."""
    speed = load_benchmark("speed")
    model = _tiny_model()
    plain = speed.PlainModel(model).train()
    tc = TrainConfig(window=5, langevin_steps=4, learn_steps=1)
    frames = torch.rand(1, 10, 3, 16, 16) * 2 - 1
    chains = Chains.from_prior(model, 1, 10, generator=torch.Generator().manual_seed(0))
    c_plain = Chains(chains.s0.clone(), chains.noise.clone(), chains.appearance.clone())
    opt, opt_plain = make_optimizer(model, tc), make_optimizer(plain, tc)
    g, g_plain = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for _ in range(3):
        m = abptt_epoch(model, opt, frames, chains, tc, generator=g)
        m_plain = speed.plain_epoch(plain, opt_plain, frames, c_plain, tc, g_plain)
    assert m["mse"] == pytest.approx(m_plain["mse"], rel=1e-5)  # measured: equal to 1e-7
    assert torch.allclose(chains.noise, c_plain.noise, atol=1e-5)
    assert torch.allclose(chains.s0, c_plain.s0, atol=1e-5)
    for a, b in zip(model.generator.net.parameters(), plain.gen.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("learn_steps", [1, 2])
def test_fused_learning_learns_from_the_latents_one_langevin_step_earlier(learn_steps):
    """fuse_learning's first Adam step takes its gradient from the last Langevin step's pass (at z_{l-1}, theta)."""
    tc = TrainConfig(window=6, langevin_steps=3, learn_steps=learn_steps, sigma=0.7, fuse_learning=True)
    frames = torch.rand(1, 6, 3, 16, 16) * 2 - 1
    chains = Chains.from_prior(_tiny_model(), 1, 6, generator=torch.Generator().manual_seed(0))
    z0 = {"noise": chains.noise.clone(), "s0": chains.s0.clone()}

    model = _tiny_model()
    m = abptt_epoch(model, make_optimizer(model, tc), frames, chains, tc, generator=torch.Generator().manual_seed(1))

    # the same, written out: l - 1 Langevin steps, the learning gradient at z_{l-1}, the last Langevin step
    # with the weights before that Adam step, then the remaining learning steps at z_l
    ref = _tiny_model()
    opt, g = make_optimizer(ref, tc), torch.Generator().manual_seed(1)

    def energy(zz):
        return posterior_energy(window_error(ref, frames, zz).objective, zz, sigma=tc.sigma)

    def learn(z):
        opt.zero_grad()
        err = reconstruction_error(frames, ref(z["s0"], z["noise"], None)[0])
        (err / (2 * tc.sigma**2 * 6)).backward()
        return err

    with frozen(ref):
        z = langevin(energy, z0, steps=2, step_size=tc.step_size, generator=g)
    err = learn(z)
    with frozen(ref):
        z = langevin(energy, z, steps=1, step_size=tc.step_size, generator=g)
    opt.step()
    for _ in range(learn_steps - 1):
        err = learn(z)
        opt.step()

    assert torch.allclose(chains.noise, z["noise"], atol=1e-6) and torch.allclose(chains.s0, z["s0"], atol=1e-6)
    for a, b in zip(model.parameters(), ref.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert m["mse"] == pytest.approx(err.item() / frames.numel(), rel=1e-5)
    # and it is not the exact algorithm: the weights differ from an unfused epoch's
    exact = _tiny_model()
    tc.fuse_learning = False
    chains = Chains.from_prior(exact, 1, 6, generator=torch.Generator().manual_seed(0))
    abptt_epoch(exact, make_optimizer(exact, tc), frames, chains, tc, generator=torch.Generator().manual_seed(1))
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(model.parameters(), exact.parameters()))


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_without_bfloat16_instructions_warns(tmp_path, clip, caplog, monkeypatch, native):
    from dyngen.runs import trainer as train_task
    from dyngen.runs.train import train

    monkeypatch.setattr(train_task, "cpu_has_bf16", lambda: native)
    mc, tc = tiny_configs(epochs=1, precision="bf16")
    with caplog.at_level("WARNING", logger="dyngen.runs.trainer"):
        train(tmp_path / "run", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    warned = [r.getMessage() for r in caplog.records if "bfloat16 instructions" in r.getMessage()]
    assert len(warned) == (0 if native else 1)
    assert all("--precision fp32" in m for m in warned)


@pytest.mark.parametrize("baseline", ["plain", "dyngen"])
def test_the_speed_benchmark_gives_each_implementation_its_own_chains(baseline):
    """Both contenders update their latents in place; shared chains would mix their training."""
    import argparse

    speed = load_benchmark("speed")
    args = argparse.Namespace(
        set=[], window=3, sigma=1.0, langevin_steps=1, learn_steps=1, seed=0, size=16, frames=6, clip=None,
        base_channels=4, max_channels=8, baseline=baseline,
    )  # fmt: skip
    state = speed.setup(args, torch.device("cpu"))
    a, b = state["dyngen"][2], state["baseline"][2]
    assert torch.equal(a.noise, b.noise) and a.noise.data_ptr() != b.noise.data_ptr()
    assert a.s0.data_ptr() != b.s0.data_ptr()
    speed.run_epoch("dyngen", state)
    assert not torch.equal(a.noise, b.noise)  # the baseline's chains did not move with dyngen's


def test_config_parse_types_text_like_the_option():
    tc = TrainConfig()
    assert tc.parse("fuse_learning", "true") is True and tc.parse("fuse_learning", "0") is False
    assert tc.parse("lr", "0.001") == 0.001 and tc.parse("epochs", "7") == 7 and tc.parse("precision", "fp32") == "fp32"
