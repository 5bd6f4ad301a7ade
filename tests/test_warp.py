"""The warping emission: known answers for the warp, and the guarantees of training, recovery and animation."""

import math

import numpy as np
import pytest
import torch

from dyngen.algorithms.abptt import TrainConfig
from dyngen.cli import main
from dyngen.errors import UsageError
from dyngen.io.video import to_tensor, to_uint8, write_video
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.models.warp import identity_grid, warp
from dyngen.runs.checkpoint import load
from dyngen.runs.directory import Run
from dyngen.runs.train import resume, train
from dyngen.tasks.animate import animate
from dyngen.tasks.motion import motion_parts
from dyngen.tasks.recover import recover
from dyngen.tasks.synthesize import synthesize_run


def configs(**model):
    mc = ModelConfig(**{"height": 16, "width": 16, "state_dim": 4, "noise_dim": 3, "base_channels": 8,
                        "max_channels": 16, "transition_hidden": 8, "transition_activation": "leaky_relu",
                        "emission": "warp", **model})  # fmt: skip
    tc = TrainConfig(epochs=4, window=6, langevin_steps=2, learn_steps=2, checkpoint_every=2, preview_every=0)
    return mc, tc


def translating(frames: int = 12, size: int = 16) -> np.ndarray:
    """A pattern moving one pixel to the right per frame: uint8 ``(T, H, W, 3)``."""
    x = torch.arange(size).float()
    out = []
    for t in range(frames):
        img = 0.6 * torch.sin((x[None, :] - t) * 2 * math.pi / 8) * torch.cos(x[:, None] * 2 * math.pi / 16)
        out.append(img.expand(3, size, size) * torch.tensor([1.0, 0.7, 0.4])[:, None, None])
    return to_uint8(torch.stack(out))


def test_zero_displacement_is_the_identity():
    image = torch.rand(2, 3, 9, 7)
    assert torch.allclose(warp(image, torch.zeros(2, 2, 9, 7), identity_grid(9, 7)), image, atol=1e-6)


def test_a_one_pixel_displacement_shifts_by_one_pixel_away_from_the_border():
    image = torch.rand(1, 3, 8, 10)
    grid = identity_grid(8, 10)
    right = torch.zeros(1, 2, 8, 10)
    right[:, 0] = 1.0  # sample at u + (1, 0): the frame moves one pixel left
    out = warp(image, right, grid)
    assert torch.allclose(out[..., :-1], image[..., 1:], atol=1e-5)
    assert torch.allclose(out[..., -1], image[..., -1], atol=1e-5)  # the border repeats
    down = torch.zeros(1, 2, 8, 10)
    down[:, 1] = -1.0
    assert torch.allclose(warp(image, down, grid)[..., 1:, :], image[..., :-1, :], atol=1e-5)


def test_gradients_through_the_warp_match_finite_differences():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 2, 5, 6, dtype=torch.double, generator=g).requires_grad_(True)
    flow = (0.3 + 0.4 * torch.rand(1, 2, 5, 6, dtype=torch.double, generator=g)).requires_grad_(True)
    grid = identity_grid(5, 6).double()
    assert torch.autograd.gradcheck(lambda i, f: warp(i, f, grid), (image, flow), eps=1e-6, atol=1e-5)


@pytest.mark.slow
def test_a_translating_pattern_is_reproduced_better_than_by_the_dcgan_emission(tmp_path):
    clip = translating()
    psnr = {}
    for emission in ("warp", "dcgan"):
        mc, _ = configs(emission=emission, residual_penalty=0.0, warp_input="frame", max_displacement=2.0)
        tc = TrainConfig(epochs=40, window=12, langevin_steps=2, learn_steps=4, lr=0.01, sigma=0.1,
                         checkpoint_every=40, preview_every=0)  # fmt: skip
        run = train(tmp_path / emission, clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
        psnr[emission] = run.summary["psnr"]
    assert psnr["warp"] > 40 and psnr["warp"] > psnr["dcgan"] + 4, psnr


BLEND = {"warp_combine": "blend"}
WARPS = [{"warp_input": "frame"}, {"warp_input": "trackable"}, {"warp_input": "first"},
         {"warp_input": "frame", **BLEND}, {"warp_input": "first", **BLEND}]  # fmt: skip


@pytest.mark.parametrize("warp", WARPS)
def test_hidden_pixels_have_no_influence_and_observed_ones_are_kept(tmp_path, warp):
    clip = translating()
    missing = torch.zeros(12, 16, 16, dtype=torch.bool)
    missing[:, 3:9, 5:11] = True
    missing[4] = True  # and a whole frame
    other = clip.copy()
    other[missing.numpy()] = 255 - other[missing.numpy()]  # the hidden pixels changed
    mc, tc = configs(**warp)
    a = recover(clip, missing, run_dir=tmp_path / "a", model_config=mc, train_config=tc, device="cpu")
    b = recover(other, missing, run_dir=tmp_path / "b", model_config=mc, train_config=tc, device="cpu")
    assert torch.equal(a.recovered[:, :, 0, 0], b.recovered[:, :, 0, 0])
    assert torch.equal(a.recovered.permute(0, 2, 3, 1)[missing], b.recovered.permute(0, 2, 3, 1)[missing])
    ta, tb = (Run(r.run).load_checkpoint()[0] for r in (a, b))
    assert all(torch.equal(ta[k], tb[k]) for k in ta if k.startswith(("model.", "latents.")))
    seen = ~missing.numpy()
    assert np.array_equal(to_uint8(a.recovered)[seen], clip[seen])


@pytest.mark.parametrize("warp", WARPS)
def test_resume_of_a_warp_run_is_bit_identical(tmp_path, clip, warp):
    mc, tc = configs(**warp)
    whole = train(tmp_path / "a", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    short = TrainConfig(**{**tc.to_dict(), "epochs": 2})
    train(tmp_path / "b", clip[None], names=["c"], model_config=mc, train_config=short, device="cpu")
    resumed = resume(tmp_path / "b", epochs=4, device="cpu")
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert torch.equal(whole.chains.noise, resumed.chains.noise)


def test_a_visibility_blend_is_the_warp_where_visible_and_the_drawn_image_where_not():
    model = DynamicGenerator(configs(warp_combine="blend")[0]).generator
    g = torch.Generator().manual_seed(0)
    warped, image = torch.rand(2, 1, 2, 3, 16, 16, generator=g) * 2 - 1
    logit = torch.full((1, 2, 1, 16, 16), 30.0)
    logit[..., :8] = -30.0  # the left half hidden from the warp
    frame = model.combine(warped, torch.cat([image, logit], dim=2))
    assert torch.allclose(frame[..., 8:], warped[..., 8:], atol=1e-6)
    assert torch.allclose(frame[..., :8], torch.tanh(image[..., :8]), atol=1e-6)
    half = model.combine(warped, torch.cat([image, torch.zeros_like(logit)], dim=2))
    assert torch.allclose(half, (warped + torch.tanh(image)) / 2)
    parts = model.decompose(torch.randn(1, 3, 4, generator=g))
    assert torch.allclose(parts["residual"], parts["frames"] - parts["warped"])  # what the warp does not explain
    with pytest.raises(UsageError, match="trackable"):
        ModelConfig(emission="warp", warp_combine="blend", warp_input="trackable").check()


def test_the_first_image_starts_from_the_data(clip):
    model = DynamicGenerator(configs()[0])
    frames = to_tensor(clip)
    seen = torch.ones(12, 1, 16, 16)
    seen[0, :, :4, :4] = 0  # hidden in frame 0, seen in frame 1
    model.generator.initialise(frames, seen)
    assert torch.equal(model.generator.first_image[0, :, 4:, 4:], frames[0, :, 4:, 4:])
    assert torch.equal(model.generator.first_image[0, :, :4, :4], frames[1, :, :4, :4])


@pytest.mark.parametrize(("appearance_dim", "warp_input"), [(0, "frame"), (2, "frame"), (0, "first"), (2, "trackable")])
def test_animate_starts_from_the_still_itself(tmp_path, clip, appearance_dim, warp_input):
    mc, tc = configs(appearance_dim=appearance_dim, warp_input=warp_input)
    clips = np.stack([clip, clip[::-1].copy()])[: 1 + bool(appearance_dim)]
    run = train(tmp_path / "run", clips, names=["a", "b"][: len(clips)], model_config=mc, train_config=tc,
                device="cpu")  # fmt: skip
    still = translating()[5]
    from dyngen.algorithms.inference import EncodeConfig

    result = animate(run, still, frames=20, config=EncodeConfig(steps=4, restarts=1))
    assert torch.equal(result.videos[0, 0], to_tensor(still[None])[0])  # frame 0 is the still, exactly
    assert np.array_equal(to_uint8(result.videos[0, 0]), still) and result.first_frame_psnr[0] == math.inf
    assert not torch.equal(result.videos[0, 1], result.videos[0, 0])  # and it moves on
    assert (result.latents is None) == (appearance_dim == 0)


def test_motion_parts_decompose_what_synthesis_renders(tmp_path, clip):
    mc, tc = configs()
    run = train(tmp_path / "run", clip[None], names=["c"], model_config=mc, train_config=tc, device="cpu")
    parts = motion_parts(run, frames=30, seed=3)
    videos = synthesize_run(run, frames=30, seed=3)
    assert torch.allclose(parts.frames, videos, atol=1e-6)
    i = parts.intrackability[0]
    assert torch.isnan(i[0]) and bool(((i[1:] >= 0) & (i[1:] <= 1)).all())
    x = parts.warped + parts.residual
    assert torch.allclose(x[:, 1:].clamp(-1, 1), parts.frames[:, 1:], atol=1e-6)  # frame = warped + residual
    recon = motion_parts(run)
    assert recon.frames.shape == (1, 12, 3, 16, 16) and 0 <= recon.mean_intrackability <= 1


def test_cli_trains_synthesizes_with_flow_and_reports(tmp_path, clip):
    video = write_video(tmp_path / "c.npy", clip)
    tiny = ["--size", "16", "--frames", "12", "--state-dim", "4", "--noise-dim", "3", "--width", "8", "--max-width",
            "16", "--window", "6", "--langevin-steps", "1", "--learn-steps", "1", "--quiet"]  # fmt: skip
    run = tmp_path / "run"
    assert main(["train", str(video), "--out", str(run), "--emission", "warp", "--epochs", "2", *tiny]) == 0
    assert load(run).config["model"]["emission"] == "warp"
    flow = tmp_path / "flow.npy"
    assert main(["synthesize", str(run), "--frames", "9", "--out", str(tmp_path / "s.npy"), "--flow", str(flow),
                 "--quiet"]) == 0  # fmt: skip
    assert np.load(flow).shape == (9, 16, 16, 3)
    assert main(["report", str(run), "--out", str(tmp_path / "report"), "--frames", "24", "--quiet"]) == 0
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Trackable and intrackable change" in page and (tmp_path / "report" / "intrackability.png").is_file()


def test_both_ways_blends_the_two_fills_by_the_distance_in_time():
    from dyngen.tasks.recover import _blend_in_time

    missing = torch.zeros(7, 1, 2, dtype=torch.bool)
    missing[1:4, 0, 0] = True  # hidden at t = 1, 2, 3 between visible 0 and 4
    missing[5:, 0, 1] = True  # hidden at the end: only the forward fill knows it
    missing[:2, 0, 1] = True  # and at the start: only the backward one
    fwd, bwd = torch.zeros(7, 3, 1, 2), torch.ones(7, 3, 1, 2)
    w = _blend_in_time(fwd, bwd, missing)[:, 0]
    assert torch.allclose(w[1:4, 0, 0], torch.tensor([0.25, 0.5, 0.75], dtype=w.dtype))
    assert torch.equal(w[5:, 0, 1], torch.zeros(2)) and torch.equal(w[:2, 0, 1], torch.ones(2))


def test_recover_both_ways_keeps_the_observed_pixels(tmp_path):
    clip = translating()
    missing = torch.zeros(12, 16, 16, dtype=torch.bool)
    missing[[3, 4, 8]] = True
    mc, tc = configs()
    res = recover(clip, missing, run_dir=tmp_path / "run", model_config=mc, train_config=tc, device="cpu",
                  both_ways=True)  # fmt: skip
    assert (tmp_path / "run_backward" / "checkpoint.safetensors").is_file()
    assert torch.equal(res.recovered[~missing[:, None].expand(-1, 3, -1, -1)],
                       to_tensor(clip)[~missing[:, None].expand(-1, 3, -1, -1)])  # fmt: skip
    one_way = recover(clip, missing, run_dir=tmp_path / "run", model_config=mc, train_config=tc, device="cpu")
    assert not torch.equal(one_way.recovered, res.recovered)  # the backward fill did change the hidden frames


@pytest.mark.parametrize("warp_input", ["frame", "trackable"])
@pytest.mark.parametrize("with_previous", [False, True])
def test_complete_data_warps_in_one_batch_what_the_frame_by_frame_chain_warps(with_previous, warp_input):
    torch.manual_seed(0)
    model = DynamicGenerator(configs(warp_input=warp_input)[0])
    for p in model.parameters():
        p.data.normal_(0, 0.1)
    states, observed = torch.randn(2, 7, 4), torch.rand(2, 7, 3, 16, 16) * 2 - 1
    previous = torch.rand(2, 3, 16, 16) if with_previous else None
    batched = model.generator.decompose(states, None, previous, observed)
    chain = model.generator.decompose(states, None, previous, observed, torch.ones(2, 7, 1, 16, 16))
    for k in ("frames", "warped", "previous", "residual", "carry"):
        assert torch.allclose(batched[k], chain[k], atol=1e-6), k


def random_warp_model(**model) -> DynamicGenerator:
    torch.manual_seed(0)
    m = DynamicGenerator(configs(**model)[0]).eval()
    for p in m.parameters():
        p.data.normal_(0, 0.1)
    return m


def test_a_trackable_chain_does_not_carry_its_residuals():
    """With no displacement, the frame chain adds up its residuals; the trackable one adds each to the first
    frame alone (x_t = x_1 + r_t), which is what keeps a long synthesis from drifting."""
    states = torch.randn(1, 6, 4)
    first = torch.rand(1, 3, 16, 16) * 0.2
    parts = {}
    for mode in ("frame", "trackable"):
        model = random_warp_model(warp_input=mode)
        model.generator.first_image.data.copy_(first)
        model.generator.max_displacement = 1e-12  # no displacement: the warp is the identity
        parts[mode] = model.generator.decompose(states)
    r = parts["frame"]["residual"][0]
    assert torch.allclose(parts["trackable"]["residual"][0], r)  # the same weights and states
    sums = first[0] + torch.cat([torch.zeros_like(r[:1]), r[1:]]).cumsum(0)
    assert torch.allclose(parts["frame"]["warped"][0, 1:], sums[:-1].clamp(-1, 1), atol=1e-5)  # carried on
    assert torch.allclose(parts["trackable"]["warped"][0], first.expand(6, -1, -1, -1), atol=1e-5)  # not carried
    assert torch.allclose(parts["trackable"]["frames"][0, 1:], (first + r[1:]).clamp(-1, 1), atol=1e-5)


@pytest.mark.parametrize("warp_input", ["frame", "trackable", "first"])
@pytest.mark.parametrize("observed", [False, True])
def test_rendering_in_two_stretches_with_the_carry_is_rendering_at_once(warp_input, observed):
    model = random_warp_model(warp_input=warp_input)
    states = torch.randn(2, 9, 4)
    x = torch.rand(2, 9, 3, 16, 16) * 2 - 1 if observed else None
    seen = (torch.rand(2, 9, 1, 16, 16) > 0.3).float() if observed else None
    whole, end = model.render_and_carry(states, None, None, x, seen)
    cut = lambda v, a, b: None if v is None else v[:, a:b]  # noqa: E731
    head, carry = model.render_and_carry(states[:, :4], None, None, cut(x, 0, 4), cut(seen, 0, 4))
    tail, end2 = model.render_and_carry(states[:, 4:], None, carry, cut(x, 4, 9), cut(seen, 4, 9))
    assert torch.allclose(torch.cat([head, tail], 1), whole, atol=1e-6)
    assert torch.allclose(end, end2, atol=1e-6)
    if warp_input == "trackable" and observed:  # the carry: the last frame less its residual, seen or rendered
        r = model.generator.motion_maps(states[:, -1:])[1][:, 0]
        assert torch.allclose(end, torch.where(seen[:, -1] > 0, x[:, -1], whole[:, -1]) - r, atol=1e-5)


def test_a_free_trackable_chain_samples_its_first_image_once():
    """Four warps of half a pixel are one shift of two pixels, exactly (the image sampled once, not blurred)."""
    model = random_warp_model(warp_input="trackable")
    g = model.generator
    half = torch.zeros(1, 5, 2, 16, 16)
    half[:, :, 0] = 0.5  # x displacement of half a pixel, in every frame
    g.motion_maps = lambda states, appearance=None: (
        half[:, : states.shape[1]],
        torch.zeros(1, states.shape[1], 3, 16, 16),
    )
    still = torch.rand(1, 3, 16, 16) * 2 - 1
    parts = g.decompose(torch.zeros(1, 4, 4), previous=still)
    assert torch.allclose(parts["warped"][0, 3, :, :, :-2], still[0, :, :, 2:], atol=1e-5)  # moved two pixels left
    _, carry = g.render_and_carry(torch.zeros(1, 2, 4), previous=still)
    one = torch.stack([torch.ones(16, 16), torch.zeros(16, 16)])[None]  # the displacement since: (1, 0) pixels
    assert carry.shape == (1, 5, 16, 16) and torch.allclose(carry[:, 3:], one) and torch.equal(carry[:, :3], still)


def test_warping_the_first_frame_carries_nothing_from_frame_to_frame():
    """With warp_input="first" a frame depends on its own state and the first frame only: the frames of states
    in another order are the same frames in that order, and the carry is the first frame itself."""
    g = random_warp_model(warp_input="first").generator
    still, states = torch.rand(1, 3, 16, 16) * 2 - 1, torch.randn(1, 7, 4)
    order = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    frames, carry = g.render_and_carry(states, previous=still)
    shuffled = g.render_and_carry(states[:, order], previous=still)[0]
    assert torch.allclose(shuffled, frames[:, order], atol=1e-6) and torch.equal(carry, still)
    assert not torch.allclose(frames[:, 0], frames[:, 1])  # and it does move


def test_a_warp_run_written_before_the_choice_of_what_is_warped_keeps_warping_the_frame(tmp_path):
    import json

    old = {k: v for k, v in configs()[0].to_dict().items() if k != "warp_input"}
    (tmp_path / "config.json").write_text(json.dumps({"model": old, "train": {}, "data": {}}))
    assert Run(tmp_path).read_config()["model"]["warp_input"] == "frame"
    # a new warp model, from the CLI, a preset or the API, warps the first frame
    from dyngen.presets import resolve_config

    assert resolve_config("cpu-texture", overrides={"emission": "warp"}).model.warp_input == "first"
    assert resolve_config("cpu-recovery", overrides={"emission": "warp"}).model.warp_input == "frame"
    assert ModelConfig(emission="warp").warp_input == "first"
