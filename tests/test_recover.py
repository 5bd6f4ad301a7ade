"""Recovery and removal: the harness, the outputs, the invariants."""

import json

import numpy as np
import pytest
import torch
from conftest import tiny_configs

from dyngen.algorithms.abptt import TrainConfig
from dyngen.algorithms.hidden_states import choose_hidden_frames, hidden_frame_states
from dyngen.baselines import get_baseline
from dyngen.cli import main
from dyngen.errors import MaskError, UsageError
from dyngen.evaluation.recovery import hidden_metrics
from dyngen.io.masks import moving_region, save_mask
from dyngen.io.procedural import ripples
from dyngen.io.video import to_tensor, to_uint8, write_video
from dyngen.runs.checkpoint import load_trained
from dyngen.tasks.recover import METHODS, recover, residual_corrected


@pytest.fixture
def case():
    video = ripples(12, 16, seed=3)
    missing = moving_region(12, 16, 16, size=6, seed=0)
    return video, missing


@pytest.mark.parametrize("method", METHODS)
def test_observed_pixels_are_kept_bit_exactly(tmp_path, case, method):
    video, missing = case
    mc, tc = tiny_configs(epochs=2)
    res = recover(video, missing, method=method, run_dir=tmp_path / "run", model_config=mc, train_config=tc,
                  device="cpu", lds_state_dim=4)  # fmt: skip
    seen = ~missing.numpy()
    x = to_tensor(video)
    assert res.recovered.shape == x.shape and res.recovered.dtype == torch.float32
    assert torch.equal(res.recovered.permute(0, 2, 3, 1)[~missing], x.permute(0, 2, 3, 1)[~missing])  # exactly
    rec = to_uint8(res.recovered)
    assert np.array_equal(rec[seen], video[seen])  # and so the written 8-bit video too
    assert res.recovered.abs().max() <= 1
    assert hidden_metrics(res.recovered, x, missing)["error"] < 80


def test_residual_correction_removes_an_error_that_is_linear_in_time(case):
    video, missing = case
    truth = torch.from_numpy(video).permute(0, 3, 1, 2).double() / 127.5 - 1
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 3, 16, 16, generator=g, dtype=torch.double) * 0.1
    t = torch.arange(12, dtype=torch.double)[:, None, None, None]
    estimate = truth + a + b * t  # a model whose error is linear in time at every pixel
    observed = torch.where(missing[:, None], 5.0, truth)  # hidden values must not matter
    fixed = residual_corrected(estimate, observed, missing, "interp")
    seen = (~missing).long()
    seen_before, seen_after = seen.cumsum(0) > 0, seen.flip(0).cumsum(0).flip(0) > 0
    hidden = missing[:, None].expand_as(truth)
    inner = hidden & (seen_before & seen_after)[:, None]  # hidden, with a visible frame on both sides
    assert bool(inner.any())
    assert torch.allclose(fixed[inner], truth[inner], atol=1e-12)  # between visible frames: exact
    assert (estimate - truth)[hidden].abs().mean() > 0.05  # the uncorrected error was not small
    # a reconstruction that is itself linear in time gives interp's fill between visible frames
    linear = a + b * t
    interp = get_baseline("interp")(observed, missing)
    assert torch.allclose(residual_corrected(linear, observed, missing, "interp")[inner], interp[inner])


def test_residual_option_in_recover(tmp_path, case):
    video, missing = case
    plain = recover(video, missing, method="lds", lds_state_dim=4)
    fixed = recover(video, missing, method="lds", lds_state_dim=4, residual="interp")
    seen = ~missing.numpy()
    assert np.array_equal(to_uint8(fixed.recovered)[seen], video[seen]) and fixed.info["residual"] == "interp"
    assert not torch.equal(fixed.recovered, plain.recovered)
    with pytest.raises(UsageError, match="allowed: none, interp"):
        recover(video, missing, method="lds", residual="median")
    with pytest.raises(UsageError, match="'interp' keeps every visible pixel"):
        recover(video, missing, method="interp", residual="interp")


def test_hidden_frame_states_known_answer():
    states = torch.rand(9, 2, dtype=torch.float64)
    hidden = torch.tensor([True, False, True, True, False, True, False, True, True])
    lerp = hidden_frame_states(states, hidden, "interp")
    near = hidden_frame_states(states, hidden, "nearest")
    assert torch.equal(hidden_frame_states(states, hidden, "chain"), states)
    for out in (lerp, near):
        assert torch.equal(out[~hidden], states[~hidden])  # visible frames keep their states
        assert torch.equal(out[0], states[1])  # before the first visible frame: its state
        assert torch.equal(out[7], states[6]) and torch.equal(out[8], states[6])  # after the last: its state
    assert torch.allclose(lerp[2], (2 * states[1] + states[4]) / 3)
    assert torch.allclose(lerp[3], (states[1] + 2 * states[4]) / 3)
    assert torch.allclose(lerp[5], (states[4] + states[6]) / 2)
    assert torch.equal(near[2], states[1]) and torch.equal(near[3], states[4]) and torch.equal(near[5], states[4])
    with pytest.raises(UsageError, match="allowed: chain, interp, nearest"):
        hidden_frame_states(states, hidden, "cubic")


def test_hidden_frames_render_the_chosen_states(tmp_path):
    video = ripples(12, 16, seed=3)
    missing = torch.zeros(12, 16, 16, dtype=torch.bool)
    missing[[0, 4, 5, 6]] = True
    missing[9, :4] = True  # partly visible: keeps its inferred state
    mc, tc = tiny_configs(epochs=2)
    res = recover(video, missing, run_dir=tmp_path / "run", model_config=mc, train_config=tc, device="cpu",
                  hidden_frames="nearest")  # fmt: skip
    assert res.info["hidden_frames"] == "nearest"
    tr = load_trained(res.run)
    with torch.no_grad():
        _, states = tr.model(tr.chains.s0, tr.chains.noise)
        rendered = to_uint8(tr.model.render(states)[0])
    recovered = to_uint8(res.recovered)
    for t, source in [(0, 1), (4, 3), (5, 3), (6, 7)]:
        assert np.array_equal(recovered[t], rendered[source])
    hid = missing[9].numpy()
    assert np.array_equal(recovered[9][hid], rendered[9][hid])
    with pytest.raises(UsageError, match="not for 'lds'"):
        recover(video, missing, method="lds", hidden_frames="interp")


def test_choose_hidden_frames_by_the_visible_frames():
    """With the identity as renderer (states = frames), the choice follows how the video moves."""
    t = torch.arange(12, dtype=torch.float64)
    missing = torch.zeros(12, 2, 2, dtype=torch.bool)
    missing[[1, 4, 7, 10]] = True  # visible: 0 2 3 5 6 8 9 11
    missing[6, 0, 0] = True  # a partly visible frame is scored on its visible pixels only
    ramp = (t[:, None, None, None] / 12).expand(12, 3, 2, 2).clone()
    step = (t >= 5).double()[:, None, None, None].expand(12, 3, 2, 2).clone()  # switches inside the gap 3..5
    for video, choice, scores in [(ramp, "interp", {"interp": 0.0, "nearest": 127.5 / 12}),
                                  (step, "nearest", {"interp": 127.5 * (8 / 3) / 23, "nearest": 0.0})]:  # fmt: skip
        # interp misses frames 3 and 5 by 1/3 on 4 pixels each, of 23 visible pixels in frames 2 3 5 6 8 9
        observed = video.masked_fill(missing[:, None], 99.0)  # hidden values are never used

        def render(states, shape=video.shape[1:]):
            return states.reshape(1, -1, *shape)

        got, s = choose_hidden_frames(render, video.flatten(1), observed, missing)
        assert got == choice and s == pytest.approx(scores, abs=1e-5)


def test_hidden_frames_auto_in_recover(tmp_path):
    video = ripples(12, 16, seed=3)
    missing = torch.zeros(12, 16, 16, dtype=torch.bool)
    missing[[2, 5, 6]] = True
    mc, tc = tiny_configs(epochs=2)
    res = recover(video, missing, run_dir=tmp_path / "run", model_config=mc, train_config=tc, device="cpu",
                  hidden_frames="auto")  # fmt: skip
    scores = res.info["hidden_frames_scores"]
    assert res.info["hidden_frames"] == min(scores, key=scores.get) and set(scores) == {"interp", "nearest"}
    seen = ~missing.numpy()
    assert np.array_equal(to_uint8(res.recovered)[seen], video[seen])


def test_hidden_metrics_known_values():
    truth = np.zeros((2, 2, 2, 3), np.uint8)
    rec = truth.copy()
    missing = torch.zeros(2, 2, 2, dtype=torch.bool)
    missing[0, 0, 0] = True
    rec[0, 0, 0] = 10
    rec[1, 1, 1] = 99  # visible: not counted
    m = hidden_metrics(to_tensor(rec), to_tensor(truth), missing)
    assert m["error"] == pytest.approx(10.0)
    assert m["psnr"] == pytest.approx(10 * np.log10(255**2 / 100))
    assert m["hidden_fraction"] == pytest.approx(1 / 8)


def test_bad_masks(case):
    video, missing = case
    with pytest.raises(MaskError, match="every pixel"):
        recover(video, torch.ones_like(missing), method="interp")
    with pytest.raises(MaskError, match=r"\(12, 8, 8\)"):
        recover(video, missing[:, :8, :8], method="interp")
    with pytest.raises(UsageError, match="allowed: dg, interp"):
        recover(video, missing, method="magic")


def test_recover_and_remove_cli(tmp_path, case, capsys):
    video, missing = case
    v = write_video(tmp_path / "v.npy", video)
    save_mask(tmp_path / "m.mat", missing)
    out = tmp_path / "rec.npy"
    tiny = ["--size", "16", "--frames", "12", "--epochs", "2", "--state-dim", "4", "--noise-dim", "3", "--width", "8",
            "--max-width", "16", "--window", "6", "--langevin-steps", "1", "--learn-steps", "1"]  # fmt: skip
    argv = ["recover", str(v), "--mask", str(tmp_path / "m.mat"), "--out", str(out), *tiny, "--residual", "interp",
            "--hidden-frames", "interp", "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"error", "psnr", "seconds", "run"} <= set(s) and s["residual"] == "interp"
    assert s["hidden_frames"] == "interp"
    rec = np.load(out)
    assert np.array_equal(rec[~missing.numpy()], video[~missing.numpy()])
    assert (tmp_path / "rec_compare.mp4").is_file() and (tmp_path / "rec_compare.png").is_file()
    assert (tmp_path / "rec_run" / "checkpoint.safetensors").is_file()
    argv = ["remove", str(v), "--mask", "box:2,2,6,6", "--out", str(tmp_path / "rm.npy"), "--method", "interp",
            *tiny, "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "error" not in s and (tmp_path / "rm.npy").is_file()


def test_a_run_written_before_a_setting_existed_is_reused(tmp_path, case):
    """A recovery run's config without a newer setting (here ``log``) is read with that setting's default, and
    settings that only change what is recorded do not count."""
    import json

    video, missing = case
    mc, tc = tiny_configs(epochs=2)
    recover(video, missing, run_dir=tmp_path / "run", model_config=mc, train_config=tc, device="cpu")
    cfg_path = tmp_path / "run" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    del cfg["train"]["log"]
    cfg_path.write_text(json.dumps(cfg))
    again = recover(video, missing, run_dir=tmp_path / "run", model_config=mc,
                    train_config=TrainConfig(**{**tc.to_dict(), "preview_every": 7}), device="cpu")  # fmt: skip
    assert again.info["reused_run"]
