"""Training on a CUDA device: skipped without one (``pytest -m gpu`` selects these)."""

import pytest
import torch
from conftest import tiny_configs

from dyngen.algorithms.abptt import Chains, abptt_epoch
from dyngen.algorithms.langevin import langevin, posterior_energy, window_error
from dyngen.models.dynamic_generator import DynamicGenerator
from dyngen.runs.train import train
from dyngen.runs.trainer import make_optimizer
from dyngen.tasks.synthesize import synthesize_run

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_tiny_training_on_cuda(tmp_path, clip):
    mc, tc = tiny_configs(epochs=20, checkpoint_every=20)
    trained = train(tmp_path / "run", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cuda")
    rec = trained.run.read_metrics()
    assert rec[-1]["mse"] < 0.5 * rec[0]["mse"]
    video = synthesize_run(trained, frames=30, num=2, seed=0)
    assert video.shape == (2, 30, 3, 16, 16) and torch.isfinite(video).all()


def test_langevin_never_waits_for_the_device():
    """No host-device synchronisation inside the Langevin loop."""
    mc, _ = tiny_configs()
    model = DynamicGenerator(mc).cuda().train()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(1, 6, 3, 16, 16, device="cuda") * 2 - 1
    z = {"noise": torch.randn(1, 6, mc.noise_dim, device="cuda"), "s0": torch.randn(1, mc.state_dim, device="cuda")}
    gen = torch.Generator("cuda").manual_seed(0)

    def energy(zz):
        return posterior_energy(window_error(model, x, zz).objective, zz, sigma=1.0)

    langevin(energy, z, steps=1, step_size=0.03, generator=gen)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = langevin(energy, z, steps=5, step_size=0.03, generator=gen)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(out["noise"]).all()


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_cuda_learning_matches_the_cpu(precision):
    """With step_size 0 Langevin moves nothing, so CPU and GPU follow the same deterministic path."""
    mc, tc = tiny_configs(step_size=0.0, shuffle=True, precision=precision)
    frames = torch.rand(2, 12, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mse = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = DynamicGenerator(mc).to(device).train()
        chains = Chains.from_prior(model, 2, 12, generator=torch.Generator().manual_seed(0)).to(device)
        opt, gen = make_optimizer(model, tc), torch.Generator(device).manual_seed(0)
        mse[device] = [abptt_epoch(model, opt, frames.to(device), chains, tc, generator=gen)["mse"] for _ in range(3)]
    tol = {"fp32": 1e-3, "tf32": 0.02, "bf16": 0.05}[precision]  # TF32 and bf16 round matrix products
    assert mse["cuda"] == pytest.approx(mse["cpu"], rel=tol)


def test_compiled_transition_on_cuda_matches_eager():
    """compile_transition on CUDA (CUDA graphs): the same training as the eager unroll, several epochs running."""
    mc, tc = tiny_configs(step_size=0.0, precision="fp32")
    frames = torch.rand(1, 12, 3, 16, 16, generator=torch.Generator().manual_seed(0), device="cpu").cuda() * 2 - 1
    mse = {}
    for compiled in (False, True):
        tc.compile_transition = compiled
        torch.manual_seed(0)
        model = DynamicGenerator(mc).cuda().train()
        chains = Chains.from_prior(model, 1, 12, generator=torch.Generator().manual_seed(0)).to("cuda")
        opt, gen = make_optimizer(model, tc), torch.Generator("cuda").manual_seed(0)
        mse[compiled] = [abptt_epoch(model, opt, frames, chains, tc, generator=gen)["mse"] for _ in range(4)]
    assert mse[True] == pytest.approx(mse[False], rel=1e-4)
