import torch

from dyngen.algorithms.langevin import langevin, posterior_energy, window_error
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig


def test_langevin_matches_linear_gaussian_posterior():
    """x = W z + eps, z ~ N(0, I): the posterior is N(mu, S), S = (W^T W / s^2 + I)^-1, mu = S W^T x / s^2."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 3, generator=g, dtype=torch.float64)
    x = torch.randn(6, generator=g, dtype=torch.float64)
    sigma = 0.8
    cov = torch.linalg.inv(w.T @ w / sigma**2 + torch.eye(3, dtype=torch.float64))
    mean = cov @ w.T @ x / sigma**2

    def energy(z):
        r = x - z["z"] @ w.T  # (chains, 6)
        return r.square().sum() / (2 * sigma**2) + 0.5 * z["z"].square().sum()

    z = {"z": torch.zeros(4000, 3, dtype=torch.float64)}
    z = langevin(energy, z, steps=400, step_size=0.1, generator=g)
    samples = z["z"]
    assert torch.allclose(samples.mean(0), mean, atol=0.05)
    emp_cov = torch.cov(samples.T)
    # a step of 0.1 biases the stationary variance by a few percent
    assert torch.allclose(emp_cov.diagonal(), cov.diagonal(), rtol=0.12)


def test_langevin_same_seed_same_chain():
    def energy(z):
        return 0.5 * z["a"].square().sum()

    out = [langevin(energy, {"a": torch.ones(3)}, steps=5, step_size=0.3, generator=torch.Generator().manual_seed(7))
           for _ in range(2)]  # fmt: skip
    assert torch.equal(out[0]["a"], out[1]["a"])


def test_latent_gradients_match_finite_differences():
    torch.manual_seed(0)
    m = DynamicGenerator(
        ModelConfig(height=16, width=16, state_dim=3, noise_dim=2, appearance_dim=2, base_channels=4, norm="group")
    ).double()
    for p in m.parameters():
        p.data.normal_(0, 0.3)
    x = torch.rand(1, 4, 3, 16, 16, dtype=torch.float64) * 2 - 1
    obs = (torch.rand(1, 4, 1, 16, 16) > 0.3).double()
    z = {
        "noise": torch.randn(1, 4, 2, dtype=torch.float64),
        "s0": torch.randn(1, 3, dtype=torch.float64),
        "appearance": torch.randn(1, 2, dtype=torch.float64),
    }

    def energy(zz):
        return posterior_energy(window_error(m, x, zz, observed=obs).objective, zz, sigma=0.5)

    leaves = {k: v.clone().requires_grad_(True) for k, v in z.items()}
    grads = torch.autograd.grad(energy(leaves), list(leaves.values()))
    eps = 1e-6
    for (k, v), g in zip(z.items(), grads):
        for i in range(v.numel()):
            up, dn = {kk: vv.clone() for kk, vv in z.items()}, {kk: vv.clone() for kk, vv in z.items()}
            up[k].view(-1)[i] += eps
            dn[k].view(-1)[i] -= eps
            fd = (energy(up) - energy(dn)) / (2 * eps)
            assert abs(fd.item() - g.view(-1)[i].item()) < 1e-5 * max(1.0, abs(fd.item())), (k, i)


def test_hidden_pixels_do_not_change_the_energy():
    torch.manual_seed(0)
    m = DynamicGenerator(ModelConfig(height=16, width=16, state_dim=3, noise_dim=2, base_channels=4))
    x = torch.rand(1, 3, 3, 16, 16) * 2 - 1
    obs = (torch.rand(1, 3, 1, 16, 16) > 0.5).float()
    z = {"noise": torch.randn(1, 3, 2), "s0": torch.randn(1, 3)}
    x2 = torch.where(obs.bool(), x, torch.rand_like(x))
    e1 = posterior_energy(window_error(m, x, z, observed=obs).objective, z, sigma=1.0)
    e2 = posterior_energy(window_error(m, x2, z, observed=obs).objective, z, sigma=1.0)
    assert torch.equal(e1, e2)
