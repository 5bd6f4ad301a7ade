"""Many videos, one model: appearance vectors, encoding, interpolation and animation on a tiny 3-video model."""

import json

import numpy as np
import pytest
import torch

from dyngen.algorithms.abptt import TrainConfig
from dyngen.algorithms.inference import EncodeConfig
from dyngen.algorithms.synthesis import synthesize
from dyngen.cli import main
from dyngen.errors import DyngenError, UsageError
from dyngen.io.procedural import ripples
from dyngen.models.dynamic_generator import ModelConfig
from dyngen.runs.checkpoint import load_trained
from dyngen.runs.train import train
from dyngen.tasks.animate import animate
from dyngen.tasks.appearance import appearance_grid, read_source, resolve_appearance, synthesize_appearance
from dyngen.tasks.encode import encode
from dyngen.tasks.interpolate import interpolate_appearance

NAMES = ["blue", "red", "grey"]


def three_videos() -> np.ndarray:
    """Three 12-frame 16x16 clips of distinct colours, uint8 (3, T, H, W, 3)."""
    base = [ripples(12, 16, seed=s) for s in (1, 2, 3)]
    grey = base[2].mean(axis=-1, keepdims=True).repeat(3, axis=-1).astype(np.uint8)
    return np.stack([base[0], base[1][..., ::-1], 255 - grey])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    mc = ModelConfig(height=16, width=16, state_dim=2, noise_dim=3, appearance_dim=6, base_channels=8, max_channels=16)
    tc = TrainConfig(epochs=30, window=12, langevin_steps=3, learn_steps=4, step_size=0.1, checkpoint_every=30,
                     preview_every=0)  # fmt: skip
    out = tmp_path_factory.mktemp("appearance") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    train(out, three_videos(), names=NAMES, model_config=mc, train_config=tc, device="cpu")
    torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def texture_run(tmp_path_factory):
    from conftest import tiny_configs

    mc, tc = tiny_configs(epochs=1)
    out = tmp_path_factory.mktemp("texture") / "run"
    train(out, ripples(12, 16, seed=1)[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    return out


def test_appearance_vectors_per_video_restored_by_load(run):
    trained = load_trained(run)
    a = trained.chains.appearance
    assert a.shape == (3, 6) and trained.names == NAMES
    assert torch.cdist(a, a).fill_diagonal_(float("inf")).min() > 0.1  # three distinct vectors
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["names"] == NAMES and cfg["model"]["appearance_dim"] == 6
    again = load_trained(run)
    assert torch.equal(again.chains.appearance, a)
    x, _ = resolve_appearance(trained, "red", generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, a[1])
    trained.config["data"]["names"] = ["2", "0", "x"]  # names that look like indices win over indices
    pick = [resolve_appearance(trained, k, generator=torch.Generator())[0] for k in ("0", "2", "1", 1)]
    assert [int((a == p).all(dim=1).nonzero()) for p in pick] == [1, 0, 1, 1]


def test_new_motion_keeps_the_appearance_colour(run):
    trained = load_trained(run)
    observed = torch.from_numpy(three_videos()).float().mean(dim=(1, 2, 3))  # (3, 3) mean colour per video
    for i in range(3):
        v = synthesize_appearance(trained, trained.chains.appearance[i], frames=24, num=2, seed=i)
        assert v.shape == (2, 24, 3, 16, 16)
        colour = (v.mean(dim=(0, 1, 3, 4)) + 1) * 127.5
        assert int((observed - colour).norm(dim=1).argmin()) == i


def test_interpolation_endpoints_exact_and_motion_shared(run):
    trained = load_trained(run)
    result = interpolate_appearance(trained, "blue", 2, steps=4, frames=10, seed=5)
    assert result.rhos[0] == 0.0 and result.rhos[-1] == 1.0 and result.videos.shape == (4, 10, 3, 16, 16)
    a = trained.chains.appearance
    assert torch.equal(result.appearances[0], a[0]) and torch.equal(result.appearances[-1], a[2])
    for row, ai in ((0, a[0]), (3, a[2])):
        alone = synthesize(trained.model, frames=10, s0=result.s0, appearance=ai, noise=result.noise[None])[0]
        assert torch.equal(result.videos[row], alone)
    mid = interpolate_appearance(trained, "blue", 2, steps=3, frames=10, seed=5)
    assert torch.equal(mid.noise, result.noise) and torch.equal(mid.videos[0], result.videos[0])


def test_even_spacing_makes_equal_steps(run):
    trained = load_trained(run)

    def steps(result):
        v = result.videos
        return [float((v[k + 1] - v[k]).square().mean().sqrt()) for k in range(len(v) - 1)]

    uniform = interpolate_appearance(trained, "blue", 2, steps=5, frames=6, seed=5, spacing="uniform")
    even = interpolate_appearance(trained, "blue", 2, steps=5, frames=6, seed=5, spacing="even", probes=129)
    assert uniform.rhos == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert even.rhos[0] == 0.0 and even.rhos[-1] == 1.0 and all(a < b for a, b in zip(even.rhos, even.rhos[1:]))
    s_even, s_uniform = steps(even), steps(uniform)
    assert max(s_even) / min(s_even) < 1.1
    assert max(s_even) / min(s_even) <= max(s_uniform) / min(s_uniform)
    assert sum(s_even) == pytest.approx(sum(s_uniform), rel=0.05)  # the same path, cut differently
    with pytest.raises(UsageError, match="allowed: even, uniform"):
        interpolate_appearance(trained, "blue", 2, steps=3, frames=2, spacing="log")


def test_animate_freezes_parameters_and_fits_the_still(run):
    trained = load_trained(run)
    before = {k: v.clone() for k, v in trained.model.state_dict().items()}
    stills = three_videos()[:, 5]  # (3, 16, 16, 3)
    result = animate(trained, stills, frames=8, seed=0, config=EncodeConfig(steps=60, restarts=2))
    for k, v in trained.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.requires_grad for p in trained.model.parameters())
    assert result.videos.shape == (3, 8, 3, 16, 16)
    assert min(result.first_frame_psnr) > 15
    assert result.videos[:, 1:].sub(result.videos[:, :1]).abs().mean() > 0  # it moves


def test_encode_recovers_the_own_appearance(run):
    trained = load_trained(run)
    videos = torch.from_numpy(three_videos())
    cfg = EncodeConfig(steps=150, restarts=3, init="prior")
    enc = encode(trained, videos, config=cfg, seed=1)
    dist = torch.cdist(enc.appearance, trained.chains.appearance)  # (3 encoded, 3 training)
    assert dist.argmin(dim=1).tolist() == [0, 1, 2]


def test_motion_from_shares_motion_across_appearances(run, tmp_path):
    trained = load_trained(run)
    src = read_source(trained, "grey")
    a = [synthesize_appearance(trained, trained.chains.appearance[i], frames=12, motion=src) for i in (0, 1)]
    same = synthesize_appearance(trained, trained.chains.appearance[2], frames=12, motion=src)[0]
    recon, _ = trained.model(trained.chains.s0[2:], trained.chains.noise[2:], trained.chains.appearance[2:])
    assert torch.allclose(same, recon[0], atol=1e-5)  # grey's own motion and appearance: its reconstruction
    assert not torch.equal(a[0], a[1])


def test_errors_name_the_allowed_values(run, texture_run, tmp_path):
    trained = load_trained(run)
    with pytest.raises(UsageError, match=r"allowed: .*blue, red, grey"):
        resolve_appearance(trained, "zebra", generator=torch.Generator())
    with pytest.raises(UsageError, match=r"stills must be 16x16 .*crop="):
        animate(trained, np.zeros((16, 32, 3), np.uint8), frames=2)
    texture = load_trained(texture_run)
    for call in (
        lambda: resolve_appearance(texture, 0, generator=torch.Generator()),
        lambda: interpolate_appearance(texture, 0, 0, steps=2, frames=2),
        lambda: animate(texture, np.zeros((16, 16, 3), np.uint8), frames=2),
    ):
        with pytest.raises(UsageError, match="appearance_dim = 0; allowed: runs trained with --appearance-dim"):
            call()
    assert len(appearance_grid(trained, frames=6, samples=2)) == 3
    with pytest.raises(DyngenError, match=r"diverged even with step size 6\.25 \(from 50\)"):
        encode(trained, three_videos()[:1, :1], config=EncodeConfig(steps=8, restarts=1, step_size=50.0))


def _json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_synthesize_appearance_and_grid(run, tmp_path, capsys):
    out, grid = tmp_path / "s.npy", tmp_path / "grid.png"
    argv = ["synthesize", str(run), "--appearance", "red", "--frames", "10", "--num", "2", "--out", str(out),
            "--grid", str(grid), "--grid-video", str(tmp_path / "grid.mp4"), "--json", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    s = _json(capsys)
    assert np.load(out).shape == (2, 10, 16, 16, 3) and s["appearance"] == "red" and s["motion"] == "new"
    assert grid.is_file() and (tmp_path / "grid.mp4").is_file()
    argv = ["synthesize", str(run), "--frames", "4", "--out", str(tmp_path / "t.npy"), "--start", "random", "--quiet"]
    assert main(argv) == 0  # the plain path still works with an appearance run


def test_cli_encode_then_use_as_appearance_and_motion(run, tmp_path, capsys):
    from dyngen.io.video import read_video, write_video

    video = write_video(tmp_path / "new.npy", three_videos()[1])
    lat = tmp_path / "lat.safetensors"
    argv = ["encode", str(run), str(video), "--out", str(lat), "--reconstruct", str(tmp_path / "r.npy"),
            "--steps", "30", "--json", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    s = _json(capsys)
    assert len(s["appearance"]) == 6 and next(iter(s["nearest"])) == "red" and s["psnr"] > 15
    assert read_video(tmp_path / "r.npy").shape == (12, 16, 16, 3)
    argv = ["synthesize", str(run), "--appearance", str(lat), "--motion-from", "blue", "--frames", "15",
            "--out", str(tmp_path / "m.npy"), "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0 and _json(capsys)["motion"] == "blue"
    argv = ["interpolate", str(run), "--between", "blue", str(video), "--steps", "3", "--frames", "6",
            "--out", str(tmp_path / "i.mp4"), "--encode-steps", "20", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert read_video(tmp_path / "i.mp4").shape == (6, 3 * 16 + 2 * 2, 16, 3) and (tmp_path / "i.png").is_file()


def test_cli_animate_and_its_errors(run, texture_run, tmp_path, capsys):
    from PIL import Image

    stills = three_videos()[:, 0]
    paths = []
    for name, im in zip(("a.png", "b.png"), stills):
        Image.fromarray(im).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(tmp_path / "wide.png")
    argv = ["animate", str(run), *paths, "--frames", "6", "--steps", "20", "--out", str(tmp_path / "an.npy"), "--json"]
    assert main([*argv, "--quiet"]) == 0
    s = _json(capsys)
    assert np.load(tmp_path / "an.npy").shape == (2, 6, 16, 16, 3) and min(s["first_frame_psnr"].values()) > 15
    for crop in ("none", "center"):  # another aspect ratio: brought to the model's size (run's crop: none)
        wide = ["animate", str(run), str(tmp_path / "wide.png"), "--frames", "2", "--langevin-steps", "2",
                "--out", str(tmp_path / f"w_{crop}.npy"), "--crop", crop, "--quiet"]  # fmt: skip
        assert main(wide) == 0 and np.load(tmp_path / f"w_{crop}.npy").shape == (2, 16, 16, 3)
    bad = [
        (["synthesize", str(run), "--appearance", "zebra", "--frames", "3", "--out", str(tmp_path / "z.npy")],
         "allowed: a training video (blue, red, grey or 0..2)"),
        (["interpolate", str(texture_run), "--between", "0", "0", "--out", str(tmp_path / "z.mp4")],
         "appearance_dim = 0; allowed"),
        (["animate", str(texture_run), paths[0], "--out", str(tmp_path / "z.npy")], "appearance_dim = 0; allowed"),
    ]  # fmt: skip
    for argv, match in bad:
        assert main([*argv, "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0], err
    assert not any((tmp_path / f).exists() for f in ("z.npy", "z.mp4"))


@pytest.mark.parametrize("steps", [1, 2, 7, 300])
def test_annealing_schedule_spends_every_step_and_ends_cold(steps):
    from dyngen.algorithms.inference import temperatures

    plan = temperatures(steps, 1e-3, 0.2)
    assert sum(n for n, _ in plan) == steps and plan[-1][1] == pytest.approx(1e-3)
    taus = [t for _, t in plan]
    assert taus == sorted(taus, reverse=True) and taus[0] <= 1.0
