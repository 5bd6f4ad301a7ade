"""The benchmarks' own arithmetic (their figures go into the docs)."""

import pytest
from conftest import load_benchmark

from dyngen.algorithms.abptt import psnr_from_mse


def test_time_to_quality_smooths_the_mse_over_trailing_windows():
    ttq = load_benchmark("time_to_quality")
    records = [{"mse": m} for m in (0.04, 0.01, 0.0001, 0.0001)]
    smooth = ttq.smoothed_psnr(records, 2)
    expected = [0.04, (0.04 + 0.01) / 2, (0.01 + 0.0001) / 2, 0.0001]
    assert smooth == pytest.approx([psnr_from_mse(m) for m in expected])
    # a mean of squared errors, not of PSNRs: one bad epoch weighs more than one good one
    assert smooth[2] < (psnr_from_mse(0.01) + psnr_from_mse(0.0001)) / 2


def test_time_to_quality_overrides_find_the_group_and_type():
    ttq = load_benchmark("time_to_quality")
    cfg = ttq.overrides({"train": {}, "model": {}}, ["spike_factor=10", "base_channels=32", "fuse_learning=true"])
    assert cfg == {"train": {"spike_factor": 10.0, "fuse_learning": True}, "model": {"base_channels": 32}}
    with pytest.raises(SystemExit, match="not a training or model setting"):
        ttq.overrides({"train": {}, "model": {}}, ["colour=red"])
