"""The benchmarks' own arithmetic and harness (their figures go into the docs)."""

import json

import numpy as np
import pytest
import torch
from conftest import load_benchmark, tiny_configs

from dyngen.evaluation.fidelity import psnr_from_mse
from dyngen.models.dynamic_generator import DynamicGenerator


def test_time_to_quality_smooths_the_mse_over_trailing_windows():
    ttq = load_benchmark("time_to_quality")
    records = [{"mse": m} for m in (0.04, 0.01, 0.0001, 0.0001)]
    smooth = ttq.smoothed_psnr(records, 2)
    expected = [0.04, (0.04 + 0.01) / 2, (0.01 + 0.0001) / 2, 0.0001]
    assert smooth == pytest.approx([psnr_from_mse(m) for m in expected])
    # a mean of squared errors, not of PSNRs: one bad epoch weighs more than one good one
    assert smooth[2] < (psnr_from_mse(0.01) + psnr_from_mse(0.0001)) / 2


TINY = {"state_dim": 4, "noise_dim": 3, "base_channels": 8, "max_channels": 16, "window": 6, "langevin_steps": 1,
        "learn_steps": 1, "transition_hidden": 8, "checkpoint_every": 1}  # fmt: skip


def test_harness_trains_reuses_and_continues_a_run(tmp_path, clip):
    harness = load_benchmark("harness")
    run = tmp_path / "run"
    first = harness.train_or_reuse(run, clip[None], ["clip"], preset="demo", overrides=TINY, epochs=2, device="cpu")
    assert first.epoch == 2 and first.config["data"]["preset"] == "demo"
    before = (run / "metrics.jsonl").read_text()
    again = harness.train_or_reuse(run, clip[None], ["clip"], preset="demo", overrides=TINY, epochs=2, device="cpu")
    assert again.epoch == 2 and (run / "metrics.jsonl").read_text() == before  # reused, not trained again
    more = harness.train_or_reuse(run, clip[None], ["clip"], preset="demo", overrides=TINY, epochs=3, device="cpu")
    assert more.epoch == 3 and (run / "metrics.jsonl").read_text().startswith(before)  # continued


def test_harness_reuses_a_run_that_predates_a_setting_at_its_default(tmp_path, clip):
    harness = load_benchmark("harness")
    run = tmp_path / "run"
    harness.train_or_reuse(run, clip[None], ["clip"], preset="demo", overrides=TINY, epochs=2, device="cpu")
    config = json.loads((run / "config.json").read_text())
    del config["model"]["residual_penalty"], config["train"]["spike_factor"]  # as a run written before they existed
    (run / "config.json").write_text(json.dumps(config))
    before = (run / "metrics.jsonl").read_text()
    again = harness.train_or_reuse(run, clip[None], ["clip"], preset="demo", overrides=TINY, epochs=2, device="cpu")
    assert again.epoch == 2 and (run / "metrics.jsonl").read_text() == before  # reused, not refused or retrained


def test_harness_refuses_to_resume_another_recipe(tmp_path, clip):
    from dyngen.runs.train import train

    harness = load_benchmark("harness")
    mc, tc = tiny_configs(epochs=1)
    train(tmp_path / "fast", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    with pytest.raises(SystemExit, match=r"another recipe \(model.state_dim=4 \(wanted 100\), .*spike_factor=0.0"):
        harness.train_or_reuse(tmp_path / "fast", clip[None], ["clip"], preset="cpu-texture", minutes=1.0)


def test_harness_results_are_json_lines(tmp_path, capsys):
    harness = load_benchmark("harness")
    results = harness.Results(tmp_path / "out" / "results.jsonl")
    results.add({"case": "a", "error": 1.5})
    results.add({"case": "b", "error": float("nan")})
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [{"case": "a", "error": 1.5}, {"case": "b", "error": None}]
    assert capsys.readouterr().out.splitlines() == lines


def test_recovery_fills_repredicts_only_the_hidden_frames():
    fills = load_benchmark("recovery_fills")
    model = DynamicGenerator(tiny_configs()[0]).eval()
    g = torch.Generator().manual_seed(0)
    for p in model.transition.parameters():  # the initial weights are too small for the innovations to show
        torch.nn.init.normal_(p, std=0.5, generator=g)
    s0, noise = torch.randn(1, 4, generator=g), torch.randn(1, 5, 3, generator=g)
    with torch.no_grad():
        frames, states = model(s0, noise)
        assert torch.equal(fills.predicted(model, s0, noise, states, [False] * 5), frames[0])
        out = fills.predicted(model, s0, noise, states, [False, True, True, False, False])
        s1 = model.transition(states[:, 0], torch.zeros(1, 3))
        s2 = model.transition(s1, torch.zeros(1, 3))
        expected = model.render(torch.stack([states[:, 0], s1, s2, states[:, 3], states[:, 4]], 1))[0]
    assert torch.allclose(out, expected, atol=1e-6)
    assert not torch.allclose(s1, states[:, 1], atol=1e-3)  # the hidden frames' states did change


def test_time_to_quality_scores_syntheses_by_seed(tmp_path, clip):
    from dyngen.evaluation import evaluate
    from dyngen.io.video import to_uint8
    from dyngen.runs.train import train
    from dyngen.tasks.synthesize import synthesize_run

    ttq = load_benchmark("time_to_quality")
    mc, tc = tiny_configs()
    trained = train(tmp_path / "run", clip[None], names=["clip"], model_config=mc, train_config=tc, device="cpu")
    scores = ttq.synthesis_scores(tmp_path / "run", clip, 2, "cpu")
    each = [evaluate(to_uint8(synthesize_run(trained, frames=8 * len(clip), seed=s)[0]), clip) for s in (0, 1)]
    assert each[0]["dynamics_distance"] != each[1]["dynamics_distance"]  # two seeds, two syntheses
    for key in ("appearance_distance", "dynamics_distance", "motion_ratio"):
        assert scores[key] == pytest.approx((each[0][key] + each[1][key]) / 2, rel=1e-6)


def test_speed_pairs_the_epochs_that_ran_back_to_back():
    speed = load_benchmark("speed")
    # dyngen half as slow under every load, but one slow stretch hit 3 baseline epochs and 2 of dyngen's
    dyngen, baseline = [1.0, 1.0, 5.0, 5.0, 1.0], [2.0, 10.0, 10.0, 10.0, 2.0]
    assert speed.paired_ratio(dyngen, baseline) == pytest.approx(0.5)
    assert float(np.median(dyngen)) / float(np.median(baseline)) == pytest.approx(0.1)  # what medians would say
    assert speed.paired_ratio([1.0, 1.0, 3.0], [2.0, 4.0, 4.0]) == pytest.approx(0.5)  # 0.5, 0.25, 0.75
    with pytest.raises(ValueError):
        speed.paired_ratio([1.0], [1.0, 2.0])
