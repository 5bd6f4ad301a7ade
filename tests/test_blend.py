"""Blending fills by cross-validation on visible pixels (``recover --blend cv``)."""

import json

import numpy as np
import pytest
import torch
from conftest import tiny_configs

from dyngen.algorithms.blend import (
    CONSENSUS,
    GAP_EDGES,
    apply_blend,
    fit_blend,
    pixel_classes,
    probe_mask,
    with_consensus,
)
from dyngen.cli import main
from dyngen.errors import UsageError
from dyngen.io.masks import moving_region, save_mask
from dyngen.io.procedural import ripples
from dyngen.io.video import to_uint8, write_video
from dyngen.runs.directory import Run
from dyngen.tasks.recover import CLASSIC, recover


def frames_mask(t: int, size: int, hidden: list[int]) -> torch.Tensor:
    missing = torch.zeros(t, size, size, dtype=torch.bool)
    missing[hidden] = True
    return missing


def test_probes_are_visible_pixels_laid_like_the_hidden_ones():
    missing = frames_mask(30, 8, [3, 4, 10, 17, 18, 19, 25])
    probe = probe_mask(missing, fraction=0.2)
    assert not bool((probe & missing).any())  # only visible pixels are held out
    per_frame = probe.flatten(1).float().mean(1)
    assert set(per_frame.tolist()) <= {0.0, 1.0}  # whole frames, as the mask hides whole frames
    assert 0.15 <= float(probe.sum()) / float((~missing).sum()) <= 0.35
    assert torch.equal(probe, probe_mask(missing, fraction=0.2))  # deterministic
    region = moving_region(20, 16, 16, size=6, seed=0)
    p = probe_mask(region, fraction=0.1)
    assert not bool((p & region).any()) and 0.05 <= float(p.sum()) / float((~region).sum()) <= 0.2
    static = torch.zeros(10, 16, 16, dtype=torch.bool)
    static[:, 2:6, 2:6] = True  # a mask that does not move in time: probes moved in space
    ps = probe_mask(static, fraction=0.1)
    assert bool(ps.any()) and not bool((ps & static).any())


def test_pixel_classes_known_answer():
    missing = frames_mask(12, 4, [0, 3, 6, 7, 8])
    missing[10, 0, 0] = True  # one hidden pixel in a frame with others visible
    cls = pixel_classes(missing)
    gap, whole = cls // 2, cls % 2
    # frame 3: seen at 2 and 4 (gap 2 -> class 0); frames 6-8: seen at 5 and 9 (gap 4 -> class 2); frame 0: seen
    # only after it (open: the last class)
    assert int(gap[3, 0, 0]) == 0 and int(gap[7, 1, 1]) == 2 and int(gap[0, 2, 2]) == len(GAP_EDGES) + 1
    assert int(whole[3, 0, 0]) == 1 and int(whole[10, 0, 0]) == 0 and int(gap[10, 0, 0]) == 0


def test_the_blend_takes_each_class_from_the_fill_that_is_right_there():
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(40, 3, 16, 16, generator=g) * 2 - 1
    missing = frames_mask(40, 16, [5, 12, 13, 14, 15, 16, 30])
    probe = probe_mask(missing, fraction=0.3)
    held = missing | probe
    short = (pixel_classes(held) // 2) == 0  # pixels with a gap of one frame
    noise = lambda: torch.randn(truth.shape, generator=g) * 0.3  # noqa: E731
    # 'a' is exact on short gaps and wrong elsewhere, 'b' the other way round
    fills = {"a": torch.where(short[:, None], truth, truth + noise()),
             "b": torch.where(short[:, None], truth + noise(), truth)}  # fmt: skip
    blend = fit_blend(fills, truth, held, probe)
    assert blend["probe_error"]["blend"] < 0.2 * min(blend["probe_error"]["a"], blend["probe_error"]["b"])
    assert torch.allclose(blend["weights"].sum(1), torch.ones(len(blend["weights"]), dtype=torch.double))
    out, share = apply_blend(fills, held, blend)
    at = (short & held)[:, None].expand_as(out)
    assert bool(at.any()) and torch.allclose(out[at], truth[at], atol=0.05)
    assert share["a"] > 0 and share["b"] > 0 and abs(sum(share.values()) - 1) < 1e-9


def test_the_consensus_is_the_fills_median_and_outvotes_a_wild_fill_wherever_it_is():
    g = torch.Generator().manual_seed(2)
    truth = torch.rand(30, 3, 12, 12, generator=g) * 2 - 1
    wild = torch.rand(30, 12, 12, generator=g)
    # three fills, each far off on its own third of the pixels and exact elsewhere: no convex blend of them is
    # exact anywhere they disagree, their median is exact everywhere
    fills = {k: torch.where(((wild * 3).long() == i)[:, None], truth + 0.8, truth) for i, k in enumerate("abc")}
    fills = with_consensus(fills)
    assert list(fills) == ["a", "b", "c", CONSENSUS] and torch.equal(fills[CONSENSUS], truth)
    pair = with_consensus({"a": truth, "b": truth + 1})  # an even count: the lower middle value
    assert torch.equal(pair[CONSENSUS], truth)
    missing = frames_mask(30, 12, [4, 5, 11, 19, 20, 26])
    probe = probe_mask(missing, fraction=0.3)
    blend = fit_blend(fills, truth, missing | probe, probe)
    assert blend["probe_error"][CONSENSUS] == 0 and blend["probe_error"]["blend"] < 0.02 * blend["probe_error"]["a"]


def test_recover_with_a_blend_finds_the_fill_that_is_exact():
    # every pixel moves linearly in time: interpolation in time (and a rank-2 LDS) is exact between visible frames,
    # a hold is not; asked for a hold, the blend still gives the hidden pixels to the exact fills
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 1, 3, 8, 8, generator=g) * 0.5 - 0.25
    video = a + b * torch.linspace(-1, 1, 48)[:, None, None, None]
    missing = frames_mask(48, 8, [3, 4, 9, 14, 15, 16, 21, 27, 33, 36, 42])
    res = recover(video, missing, method="hold", blend="cv")
    report = res.info["blend"]
    assert set(report["share"]) == {*CLASSIC, CONSENSUS}
    assert report["probe_error"]["interp"] < 1e-6 and report["probe_error"]["hold"] > 0.5
    assert report["share"]["interp"] + report["share"]["lds"] > 0.9 and report["share"]["hold"] < 0.05
    assert report["probe_error"]["blend"] < 0.1 * report["probe_error"]["hold"]
    hold = recover(video, missing, method="hold")
    hidden = missing[:, None].expand_as(video)
    err = lambda r: float((r.recovered - video).abs()[hidden].mean())  # noqa: E731
    assert err(res) < 0.1 * err(hold)
    assert torch.equal(res.recovered[~hidden], video[~hidden])  # observed pixels exactly


def test_a_blended_dg_recovery_learns_without_the_probes(tmp_path):
    video = ripples(12, 16, seed=3)
    missing = moving_region(12, 16, 16, size=6, seed=0)
    mc, tc = tiny_configs(epochs=2)
    res = recover(video, missing, method="dg", blend="cv", run_dir=tmp_path / "run", model_config=mc,
                  train_config=tc, device="cpu")  # fmt: skip
    stored = Run(tmp_path / "run").load_data()["missing"][0]
    probe = probe_mask(missing)
    assert bool(probe.any()) and torch.equal(stored, missing | probe)  # the probes were hidden from learning
    assert "dg" in res.info["blend"]["share"] and res.info["blend"]["probe_fraction"] > 0
    seen = ~missing.numpy()
    assert np.array_equal(to_uint8(res.recovered)[seen], video[seen])  # observed pixels exactly
    again = recover(video, missing, method="dg", blend="cv", run_dir=tmp_path / "run", model_config=mc,
                    train_config=tc, device="cpu")  # fmt: skip
    assert again.info["reused_run"] and torch.equal(again.recovered, res.recovered)
    with pytest.raises(UsageError, match="unknown blend"):
        recover(video, missing, method="interp", blend="vote")


def test_recover_cli_blend(tmp_path, capsys):
    video = ripples(16, 16, seed=2)
    write_video(tmp_path / "v.mp4", video, fps=10)
    missing = moving_region(16, 16, 16, size=6, seed=1)
    save_mask(tmp_path / "m.npy", missing)
    args = ["recover", str(tmp_path / "v.mp4"), "--mask", str(tmp_path / "m.npy"), "--out", str(tmp_path / "r.mp4")]
    assert main([*args, "--method", "interp", "--blend", "cv", "--size", "16", "--frames", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    errors = out["blend"]["probe_error"]
    assert errors["blend"] <= 1.02 * min(v for k, v in errors.items() if k != "blend")  # no worse than any one fill
    assert abs(sum(out["blend"]["share"].values()) - 1) < 0.01 and out["error"] < 40
